//! End-to-end tests of the pipeline engine through the real binary (issue 3): caching, reruns
//! after edits, kill -9 safety, concurrent runs, corruption detection.

mod common;
use common::*;
use std::fs;
use std::time::{Duration, Instant};

fn project() -> Project {
    let p = Project::new(&config("oeis", ""));
    flat_fixture(&p.path().join("oeis"), 30);
    p
}

#[test]
fn second_run_executes_nothing() {
    let p = project();
    let first = p.ok(&["run"]);
    assert_eq!(built(&first), vec!["ingest", "synth"]);
    let manifests: Vec<Vec<u8>> = ["ingest", "synth"]
        .iter()
        .map(|n| fs::read(p.artifact(n).join("manifest.json")).unwrap())
        .collect();
    let second = p.ok(&["run"]);
    assert!(built(&second).is_empty(), "{second}");
    assert!(second.contains("0 built, 2 cached"), "{second}");
    for (n, m) in ["ingest", "synth"].iter().zip(manifests) {
        assert_eq!(fs::read(p.artifact(n).join("manifest.json")).unwrap(), m);
    }
    let status = p.ok(&["status"]);
    for line in status.lines().skip(1) {
        assert!(line.contains("cached"), "{status}");
    }
}

#[test]
fn an_edit_reruns_exactly_the_dependent_stages() {
    let p = project();
    p.ok(&["run"]);
    // an override touching only synth
    assert_eq!(built(&p.ok(&["run", "synth.seed=7"])), vec!["synth"]);
    // status explains why a stage is stale
    let status = p.ok(&["status", "synth.seed=8"]);
    assert!(status.contains("synth.seed 7 → 8"), "{status}");
    assert!(p
        .ok(&["status"])
        .lines()
        .skip(1)
        .all(|l| l.contains("cached")));
    // editing the file: only ingest depends on ingest.min_terms
    let cfg = fs::read_to_string(p.path().join("pipeline.toml")).unwrap();
    fs::write(
        p.path().join("pipeline.toml"),
        cfg.replace("min_terms = 36", "min_terms = 30"),
    )
    .unwrap();
    let out = p.ok(&["run"]);
    assert_eq!(built(&out), vec!["ingest"], "{out}");
    // going back to an old config is free (content-addressed store)
    fs::write(p.path().join("pipeline.toml"), cfg).unwrap();
    assert!(built(&p.ok(&["run"])).is_empty());
    // a DSL limit is part of synth's key
    assert_eq!(built(&p.ok(&["run", "dsl.max_steps=5000"])), vec!["synth"]);
}

#[test]
fn stage_selection_and_errors() {
    let p = project();
    assert_eq!(built(&p.ok(&["run", "stage=ingest"])), vec!["ingest"]);
    let e = p.fails(&["run", "stage=search", "iter=0"]);
    assert!(e.contains("stage search starts at iter=1"), "{e}");
    let e = p.fails(&["run", "pipeline.stages=[\"ingest\", \"serch\"]"]);
    assert!(e.contains("pipeline.stages") && e.contains("serch"), "{e}");
    let e = p.fails(&["run", "stage=frobnicate"]);
    assert!(e.contains("unknown stage \"frobnicate\""), "{e}");
    let e = p.fails(&["run", "synth.pairz=3"]);
    assert!(e.contains("synth.pairz") || e.contains("pairz"), "{e}");
    let e = p.fails(&["run", "--config", "missing.toml"]);
    assert!(e.contains("missing.toml"), "{e}");
    fs::write(p.path().join("bad.toml"), "[synth]\npairs = -3\n").unwrap();
    let e = p.fails(&["run", "--config", "bad.toml"]);
    assert!(e.contains("bad.toml:2") && e.contains("synth.pairs"), "{e}");
    // a deep DAG resolves without recursion (this overflowed the stack), and a node beyond the
    // largest meta-iteration is a clear error, not an abort
    let out = p.ok(&["status", "stage=search", "iter=10000"]);
    assert!(
        out.contains("search@10000") && out.contains("train@9999"),
        "{out}"
    );
    let e = p.fails(&["status", "stage=search", "iter=100001"]);
    assert!(e.contains("iter=100001 is beyond"), "{e}");
    let e = p.fails(&["status", "loop.iterations=100001"]);
    assert!(e.contains("loop.iterations = 100001"), "{e}");
    // nothing computed before is lost by failed runs
    assert!(built(&p.ok(&["run", "stage=ingest"])).is_empty());
}

#[test]
fn kill_minus_nine_leaves_nothing_trusted() {
    let p = project();
    p.ok(&["run", "stage=ingest"]);
    let before = p.objects();
    let mut child = p
        .cmd(&["run"])
        .env("SEQSYNTH_FAULT_PAUSE", "synth")
        .stderr(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // wait until synth has written its outputs into staging
    let tmp = p.store().join("tmp");
    let start = Instant::now();
    loop {
        let staged = fs::read_dir(&tmp)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .any(|e| e.path().join("train-00000.parquet").exists())
            })
            .unwrap_or(false);
        if staged {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "synth never staged"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(p.objects(), before, "no artifact was committed");
    assert!(!p.store().join("refs/synth").exists());
    // the rerun cleans the staging dir and completes
    let err = p.run(&["run"]);
    assert!(err.status.success());
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(
        stderr.contains("removed 1 unfinished staging dir"),
        "{stderr}"
    );
    assert_eq!(built(&String::from_utf8_lossy(&err.stdout)), vec!["synth"]);
    assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
}

#[test]
fn concurrent_runs_leave_the_store_consistent() {
    let p = project();
    let children: Vec<_> = (0..3)
        .map(|_| {
            p.cmd(&["run"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut total_built = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        total_built += built(&String::from_utf8_lossy(&out.stdout)).len();
    }
    // each node was built exactly once; the others waited and found it cached
    assert_eq!(total_built, 2);
    assert_eq!(p.objects().len(), 2);
    assert!(built(&p.ok(&["run"])).is_empty());
    // --no-wait fails clearly while the lock is held
    let lock = fs::OpenOptions::new()
        .write(true)
        .open(p.store().join("lock"))
        .unwrap();
    fs2::FileExt::lock_exclusive(&lock).unwrap();
    let e = p.fails(&["run", "--no-wait"]);
    assert!(e.contains("locked by another seqsynth run"), "{e}");
    // and names the way out that exists (there is no --wait flag)
    assert!(
        e.contains("without --no-wait") && !e.contains("pass --wait"),
        "{e}"
    );
}

#[test]
fn corrupted_artifacts_are_detected_and_recomputed() {
    let p = project();
    p.ok(&["run"]);
    let dir = p.artifact("ingest");
    let file = dir.join("targets-00000.parquet");
    let original = fs::read(&file).unwrap();
    let digest_before = p.manifest("ingest")["digest"].clone();
    // truncate
    fs::write(&file, &original[..original.len() / 2]).unwrap();
    let out = p.run(&["run"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is corrupt"), "{stderr}");
    assert!(
        stderr.contains("running ingest") && stderr.contains("its artifact was corrupt"),
        "{stderr}"
    );
    assert_eq!(built(&String::from_utf8_lossy(&out.stdout)), vec!["ingest"]);
    assert_eq!(fs::read(&file).unwrap(), original, "recomputed identically");
    assert_eq!(p.manifest("ingest")["digest"], digest_before);
    // flip one byte without changing the size
    let mut altered = original.clone();
    altered[100] ^= 1;
    fs::write(&file, &altered).unwrap();
    let out = p.ok(&["run"]);
    assert_eq!(built(&out), vec!["ingest"]);
    // the corrupt copies are kept aside, not silently deleted
    assert_eq!(fs::read_dir(p.store().join("trash")).unwrap().count(), 2);
}

#[test]
fn outputs_are_deterministic_across_thread_counts() {
    let a = project();
    let b = project();
    a.cmd(&["run"])
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    b.cmd(&["run"])
        .env("RAYON_NUM_THREADS", "4")
        .output()
        .unwrap();
    for node in ["ingest", "synth"] {
        assert_eq!(
            a.manifest(node)["digest"],
            b.manifest(node)["digest"],
            "{node}"
        );
        assert_eq!(a.manifest(node)["key"], b.manifest(node)["key"], "{node}");
    }
}

#[test]
fn status_is_read_only_and_verify_finds_what_the_fast_check_cannot() {
    let p = project();
    // status on a store that does not exist yet creates nothing
    let out = p.ok(&["status"]);
    assert!(out.contains("never built"), "{out}");
    assert!(!p.store().exists(), "status created the store");
    p.ok(&["run"]);
    let file = p.artifact("ingest").join("targets-00000.parquet");
    // a flipped byte with the mtime put back: the fast check (size, mtime) cannot see it ...
    let mtime = fs::metadata(&file).unwrap().modified().unwrap();
    let mut bytes = fs::read(&file).unwrap();
    bytes[100] ^= 1;
    fs::write(&file, &bytes).unwrap();
    fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    assert!(p.ok(&["status"]).lines().nth(1).unwrap().contains("cached"));
    // ... --verify re-hashes, reports it and exits 1, without touching the store
    let out = p.run(&["status", "--verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("corrupt") && text.contains("targets-00000.parquet"),
        "{text}"
    );
    assert_eq!(fs::read(&file).unwrap(), bytes);
    assert_eq!(fs::read_dir(p.store().join("trash")).unwrap().count(), 0);
    // run --verify recomputes it
    assert_eq!(built(&p.ok(&["run", "--verify"])), vec!["ingest"]);
    assert!(p
        .ok(&["status", "--verify"])
        .lines()
        .skip(1)
        .all(|l| l.contains("cached")));
    // an edited manifest (a row count) is corrupt too, on the fast path
    let m = p.artifact("synth").join("manifest.json");
    let text = fs::read_to_string(&m).unwrap();
    let edited = text.replacen("\"rows\": ", "\"rows\": 1", 1);
    assert_ne!(text, edited);
    fs::write(&m, edited).unwrap();
    let out = p.run(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("manifest.json does not match"));
    // an edited key.json as well
    assert_eq!(built(&p.ok(&["run"])), vec!["synth"]);
    let k = p.artifact("synth").join("key.json");
    let text = fs::read_to_string(&k).unwrap();
    fs::write(&k, text.replacen("\"synth\"", "\"synthX\"", 1)).unwrap();
    assert!(String::from_utf8_lossy(&p.run(&["status"]).stdout).contains("key.json"));
}

#[test]
fn the_store_never_touches_what_is_not_its_own() {
    let p = project();
    // a directory that is not a store (here: the project itself, store.dir = "") is refused
    let e = p.fails(&["run", "store.dir=\"\""]);
    assert!(e.contains("store.dir"), "{e}");
    let e = p.fails(&["run", "store.dir=\".\""]);
    assert!(e.contains("is not a seqsynth store"), "{e}");
    assert!(p.path().join("pipeline.toml").is_file());
    assert!(!p.path().join("objects").exists() && !p.path().join("tmp").exists());
    // what seqsynth did not make under tmp/ is left alone, and does not fail the run
    p.ok(&["run", "stage=ingest"]);
    let tmp = p.store().join("tmp");
    fs::write(tmp.join("notes.txt"), "mine").unwrap();
    fs::create_dir_all(tmp.join("my-dir")).unwrap();
    fs::write(tmp.join("my-dir/data"), "mine").unwrap();
    // what a dead seqsynth process left (marked as seqsynth's when it was made) is removed
    let dead = 4_194_305; // above the largest pid Linux allows
    let stale = tmp.join(format!("{}.{dead}.0", "c".repeat(64)));
    fs::create_dir_all(&stale).unwrap();
    fs::write(
        stale.join(".seqsynth-made"),
        format!("{{\"made_by\": \"seqsynth\", \"pid\": {dead}}}"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        std::path::Path::new("..")
            .join("objects")
            .join("d".repeat(64)),
        p.store().join(format!("refs/.synth.{dead}")),
    )
    .unwrap();
    let out = p.run(&["run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read_to_string(tmp.join("notes.txt")).unwrap(), "mine");
    assert_eq!(fs::read_to_string(tmp.join("my-dir/data")).unwrap(), "mine");
    assert!(!stale.exists());
    assert!(fs::symlink_metadata(p.store().join(format!("refs/.synth.{dead}"))).is_err());
    assert!(p.store().join("seqsynth-store.json").is_file());
}
