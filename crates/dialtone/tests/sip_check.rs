//! `dialtone sip-check` as an admin runs it: the real binary over the RFC 4475
//! and RFC 5118 corpora in `../shared/conformance` (skipped with a message if
//! absent), standard input, usage errors, and mutated messages that must never
//! crash it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_dialtone"))
}

fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: ../shared/conformance not found");
        None
    }
}

/// (path, expected verdict as sip-check prints it) for every manifest entry.
fn manifest_cases(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    for (corpus, sub) in [("rfc4475", ""), ("rfc5118", "wire/")] {
        let manifest = std::fs::read_to_string(dir.join(corpus).join("manifest.tsv")).unwrap();
        for line in manifest.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let want = if cols[3] == "invalid" {
                "invalid"
            } else {
                "valid"
            };
            out.push((dir.join(corpus).join(format!("{sub}{}.dat", cols[0])), want));
        }
    }
    out
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn every_corpus_message_gets_its_manifest_verdict() {
    let Some(dir) = corpus() else { return };
    let cases = manifest_cases(&dir);
    assert_eq!(cases.len(), 61, "49 RFC 4475 + 12 RFC 5118 messages");
    let out = bin()
        .arg("sip-check")
        .args(cases.iter().map(|(p, _)| p))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "some messages are invalid, so exit 1"
    );
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), cases.len());
    for ((path, want), line) in cases.iter().zip(&lines) {
        assert_eq!(line["file"], path.to_string_lossy().as_ref());
        assert_eq!(line["verdict"], *want, "{}: {line}", path.display());
        if *want == "invalid" {
            assert!(
                line["reason"].as_str().is_some_and(|r| !r.is_empty()),
                "{line}"
            );
            assert!(
                line["status_code"]
                    .as_u64()
                    .is_some_and(|c| (400..700).contains(&c)),
                "{line}"
            );
        } else {
            assert!(
                line["reason"].is_null() && line["status_code"].is_null(),
                "{line}"
            );
            assert!(line["call_id"].is_string(), "{line}");
            assert!(
                line["method"].is_string() ^ line["response_code"].is_u64(),
                "{line}"
            );
        }
    }
}

#[test]
fn exit_status_zero_when_all_valid_and_reads_stdin() {
    let Some(dir) = corpus() else { return };
    let out = bin()
        .args(["sip-check"])
        .arg(dir.join("rfc4475/wsinv.dat"))
        .arg(dir.join("rfc4475/unkscm.dat"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines[0]["method"], "INVITE");
    assert_eq!(lines[0]["call_id"], "wsinv.ndaksdj@192.0.2.1");
    assert!(lines[1]["notes"][0].as_str().unwrap().contains("416"));

    let mut child = bin()
        .args(["sip-check", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(dir.join("rfc4475/badvers.dat")).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = &json_lines(&out.stdout)[0];
    assert_eq!(line["file"], "-");
    assert_eq!(line["status_code"], 505);
    assert_eq!(line["method"], "OPTIONS");
}

#[test]
fn usage_errors_exit_two() {
    let out = bin().arg("sip-check").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin()
        .args(["sip-check", "--no-such-flag", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin()
        .args(["sip-check", "/nonexistent/file.sip"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unreadable file is reported, not a usage error"
    );
    assert!(json_lines(&out.stdout)[0]["reason"]
        .as_str()
        .unwrap()
        .contains("cannot read"));
}

/// xorshift64*: deterministic mutations without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn mutated_messages_never_crash_it() {
    let Some(dir) = corpus() else { return };
    let seeds: Vec<Vec<u8>> = manifest_cases(&dir)
        .iter()
        .map(|(p, _)| std::fs::read(p).unwrap())
        .collect();
    let tmp = std::env::temp_dir().join(format!("dialtone-sip-check-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut files = Vec::new();
    for i in 0..1500 {
        let mut m = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(8) {
            if m.is_empty() {
                break;
            }
            let at = rng.below(m.len());
            match rng.below(5) {
                0 => m[at] = rng.next() as u8,
                1 => m.truncate(at),
                2 => m.insert(at, b"\r\n:;,<>\"%@[]\\ \t"[rng.below(15)]),
                3 => {
                    m.remove(at);
                }
                _ => {
                    let from = rng.below(m.len());
                    let chunk: Vec<u8> = m[from..m.len().min(from + 16)].to_vec();
                    m.splice(at..at, chunk);
                }
            }
        }
        let path = tmp.join(format!("{i}.sip"));
        std::fs::write(&path, &m).unwrap();
        files.push(path);
    }
    let out = bin().arg("sip-check").args(&files).output().unwrap();
    std::fs::remove_dir_all(&tmp).ok();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "sip-check crashed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), files.len());
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "a panic was caught: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(lines
        .iter()
        .all(|l| l["reason"] != "internal error while parsing (please report this message)"));
}
