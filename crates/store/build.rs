//! `sqlx::migrate!` embeds the files that exist when the crate compiles and
//! cannot ask the compiler to watch the directory: a new migration must
//! rebuild the crate.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
