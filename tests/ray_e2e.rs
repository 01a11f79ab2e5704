//! The Ray driver (issue 12): `stages/ray/driver.py` runs the whole loop, with search and verify
//! in 2 shards, as Ray tasks on a local Ray cluster of 2 CPUs, with one task's worker killed
//! (SIGKILL) while it builds; Ray retries it, and every artifact has the key and the bytes of a
//! plain local `seqsynth run` of the same config.
//!
//! Needs Ray in its own environment (`stages/ray/setup.sh`, from PyPI). Where it cannot be
//! installed the test says so and skips.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn setup(script: &str) -> Option<PathBuf> {
    let s = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let out = Command::new("bash").arg(&s).output().unwrap();
    if !out.status.success() {
        eprintln!(
            "SKIPPED: {script} failed, so Ray cannot start here:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()))
}

fn config() -> String {
    format!(
        "[synth]\npairs = 120\nvalidation = 20\n\n[train]\nepochs = 1\nbatch_size = 16\nthreads = 1\nstage_dir = \"{}\"\n\n\
         [ingest]\nsource = \"{}\"\nlimit = 200\n\n[search]\nbeams = 3\nlimit = 37\nbatch = 4\nmax_len = 30\nthreads = 1\n\n\
         [sample]\nsize = 50\n\n[enumerate]\nmax_size = 5\ninverse_size = 2\n\n[loop]\niterations = 1\n",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("stages/train")
            .display(),
        shared_oeis().display()
    )
}

/// node → (key, files of its artifact other than the manifest and key.json).
fn artifacts(p: &Project) -> BTreeMap<String, (String, BTreeMap<String, Vec<u8>>)> {
    let mut out = BTreeMap::new();
    for r in std::fs::read_dir(p.store().join("refs")).unwrap() {
        let node = r.unwrap().file_name().to_string_lossy().into_owned();
        if node.contains('#') {
            continue; // shards exist only in the sharded run
        }
        let dir = p.artifact(&node);
        let key = dir.file_name().unwrap().to_string_lossy().into_owned();
        let files = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| !["manifest.json", "key.json"].contains(&&*e.file_name().to_string_lossy()))
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        out.insert(node, (key, files));
    }
    out
}

#[test]
fn the_loop_on_ray_with_a_killed_worker_equals_a_local_run() {
    if setup("scripts/setup-python.sh").is_none() {
        panic!("the train stage's Python environment is needed");
    }
    let Some(ray) = setup("stages/ray/setup.sh") else {
        return;
    };
    let local = Project::new(&config());
    local.ok(&["--quiet", "run"]);
    let want = artifacts(&local);
    assert!(want.contains_key("train@1") && want.contains_key("report"));

    let p = Project::new(&config());
    let marker = p.path().join("killed-once");
    let out = Command::new(ray.join("bin/python"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("stages/ray/driver.py"))
        .args(["--seqsynth", bin().to_str().unwrap(), "--num-cpus", "2"])
        .args([
            "--cwd",
            p.path().to_str().unwrap(),
            "--",
            "pipeline.shards=2",
        ])
        .env(
            "SEQSYNTH_RAY_FAULT",
            format!("search@1#1/2:{}", marker.display()),
        )
        .env("RAY_AUTH_MODE", "disabled")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(marker.exists(), "the fault was injected");
    // the first worker killed itself while building; Ray ran the task again on another worker
    let attempts = std::fs::read_to_string(p.path().join("killed-once.attempts")).unwrap();
    let pids: Vec<&str> = attempts.lines().collect();
    assert_eq!(pids.len(), 2, "two attempts: {attempts}");
    assert_ne!(pids[0], pids[1], "on two workers");
    for n in [
        "search@1#0/2",
        "search@1#1/2",
        "verify@1#1/2",
        "search@1",
        "report",
    ] {
        assert!(stdout.contains(n), "{n} ran as a task:\n{stdout}");
    }
    let got = artifacts(&p);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (node, (key, files)) in &want {
        assert_eq!(&got[node].0, key, "{node}: the key of the local run");
        assert!(got[node].1 == *files, "{node}: the bytes of the local run");
    }
}
