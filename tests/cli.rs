//! The `ecq fetch` / `ecq generate` command line as a user runs it.

mod common;

use std::process::Command;

fn ecq() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ecq"))
}

#[test]
fn generate_without_the_model_says_how_to_fetch_it() {
    let empty = std::env::temp_dir().join(format!("ecq-empty-cache-{}", std::process::id()));
    let out = ecq().env("ECQ_CACHE", &empty).args(["generate", "smollm2", "--prompt", "Hi"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ecq fetch smollm2") && err.contains(&*empty.to_string_lossy()), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn generate_streams_paris_and_reports_tokens_per_second() {
    let cache = common::smollm2_path().parent().unwrap().parent().unwrap().to_path_buf();
    let out = ecq()
        .env("ECQ_CACHE", &cache)
        .args(["generate", "smollm2", "--prompt", "The capital of France is", "--max-tokens", "3"])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("Paris"), "stdout {stdout:?}");
    assert!(stderr.contains("prefill 5 tokens") && stderr.contains("decode 2 tokens"), "{stderr}");
    assert!(stderr.contains("tokens/s"), "{stderr}");
}
