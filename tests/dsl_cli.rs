//! `seqsynth dsl ...` on bad input: every line gets an answer, limits are validated, nothing
//! panics or aborts (a closed pipe, a non-UTF-8 line, a huge line, deep nesting).

mod common;
use common::bin;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

/// Runs `seqsynth args` with `stdin`; returns (exit code, stdout, stderr).
fn run(args: &[&str], stdin: &[u8]) -> (Option<i32>, String, String) {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_stdin_line_gets_its_answer() {
    let deep = format!(
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( {}#1{} ) #0 ) )",
        "+ ( 1 ".repeat(5000),
        " )".repeat(5000)
    );
    let huge = "x".repeat(1 << 20);
    let mut input = Vec::new();
    input.extend_from_slice(b"lambda [ #0 ] ( #0 )\n");
    input.extend_from_slice(b"\xff\xfe not utf-8\n");
    input.extend_from_slice(deep.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(huge.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(b"lambda [#0](map(sqrt #0))\n");
    let (code, out, err) = run(&["dsl", "eval", "-", "--len", "4"], &input);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(lines[0], "1,2,3,4");
    assert!(lines[1].contains("line 2 is not UTF-8"), "{}", lines[1]);
    assert!(lines[2].contains("nested deeper than 100"), "{}", lines[2]);
    assert!(lines[3].contains("line 4") && lines[3].contains("longer than the limit"));
    assert_eq!(lines[4], "1,1,1,2");
    // deep nesting given directly is a parse error too, not a stack overflow
    let (code, _, err) = run(&["dsl", "eval", &deep], b"");
    assert_eq!(code, Some(2));
    assert!(err.contains("nested deeper"), "{err}");
}

#[test]
fn limits_out_of_range_are_errors() {
    for args in [
        ["--len", "1000000000"],
        ["--len", "9223372036854775808"],
        ["--len", "0"],
        ["--max-abs-exp", "4000000000"],
    ] {
        let mut a = vec!["dsl", "eval", "lambda [ #0 ] ( #0 )"];
        a.extend(args);
        let (code, out, err) = run(&a, b"");
        assert_eq!(code, Some(2), "{args:?}: {out}");
        assert!(err.contains("out of range"), "{args:?}: {err}");
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.toml"), "[dsl]\nmax_abs_exp = 99999999\n").unwrap();
    let out = Command::new(bin())
        .current_dir(dir.path())
        .args(["status", "--config", "p.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("p.toml") && err.contains("max_abs_exp"),
        "{err}"
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let mut child = Command::new(bin())
        .args(["dsl", "sample", "1000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take()); // the reader goes away, like `| head -1`
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
