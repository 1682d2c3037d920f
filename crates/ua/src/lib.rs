//! # `ua`: Dialtone's softphone SDK
//!
//! Work in progress (issue 6).

pub mod media;
