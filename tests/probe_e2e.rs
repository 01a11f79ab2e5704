//! Defects of the latest probe (issue 20), each through the real binary: shell injection through
//! `seqsynth slurm` options, settings checked only after stages ran, foreign files deleted for
//! their names, `gc` making a store, whole programs echoed in errors, a warning printed twice,
//! and a trainer that outlives its killed parent.

mod common;
use common::*;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

fn fixture_project(extra: &str) -> Project {
    let p = Project::new("");
    flat_fixture(&p.path().join("oeis"), 30);
    fs::write(
        p.path().join("pipeline.toml"),
        config(&p.path().join("oeis").display().to_string(), extra),
    )
    .unwrap();
    p
}

#[test]
fn slurm_options_cannot_inject_shell_commands() {
    let p = fixture_project("");
    let dir = p.path().join("slurm");
    let dir_s = dir.display().to_string();
    for (flag, value) in [
        ("--partition", "gpu\ntouch PWNED"),
        ("--time", "1:00:00\ntouch PWNED"),
        ("--mem", "4G\ntouch PWNED"),
        ("--gres", "gpu:1\ntouch PWNED"),
        ("--partition", "gpu$(touch PWNED)"),
    ] {
        let err = p.fails(&["slurm", "--dir", &dir_s, flag, value]);
        assert!(err.contains(flag) && err.contains("Slurm syntax"), "{err}");
        assert!(!dir.exists(), "{flag}: no script may be written");
    }
    assert!(!p.path().join("PWNED").exists());
    // valid values make scripts whose #SBATCH lines hold them
    p.ok(&[
        "slurm",
        "--dir",
        &dir_s,
        "--partition",
        "debug",
        "--time",
        "0-01:00:00",
        "--mem",
        "2G",
    ]);
    let text = fs::read_to_string(dir.join("level-00.sbatch")).unwrap();
    assert!(text.contains("#SBATCH --partition=debug\n"), "{text}");
    assert!(text.contains("#SBATCH --mem=2G\n"), "{text}");
}

#[cfg(unix)]
#[test]
fn slurm_refuses_a_store_path_that_is_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let p = fixture_project("");
    let store = std::ffi::OsStr::from_bytes(b"st\xffore");
    let out = p
        .cmd(&["slurm", "--dir", "slurm"])
        .arg("--store")
        .arg(store)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not UTF-8"), "{err}");
    assert!(!p.path().join("slurm").exists());
}

/// Runs `args` expecting a refusal before any stage ran: exit 2, every `needles` in stderr, and
/// no artifact in the store.
fn refused_before_any_stage(p: &Project, args: &[&str], needles: &[&str]) {
    let out = p.run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: {n:?} not in {err}");
    }
    assert!(
        !err.contains("running "),
        "{args:?}: a stage ran before the refusal: {err}"
    );
    assert!(p.objects().is_empty(), "{args:?}: {:?}", p.objects());
}

#[test]
fn every_setting_is_checked_before_any_stage_runs() {
    let p = fixture_project("");
    for (setting, key) in [
        ("train.batch_size=0", "train.batch_size"),
        ("train.size=huge", "train.size"),
        ("train.lr=-1", "train.lr"),
        ("train.lr=nan", "train.lr"),
        ("train.dropout=1.5", "train.dropout"),
        ("train.validate_every=0", "train.validate_every"),
        ("train.epochs=0", "train.epochs"),
        ("train.max_program_len=0", "train.max_program_len"),
        ("train.input_terms=40", "train.input_terms"),
        ("sample.size=0", "sample.size"),
        ("search.beams=0", "search.beams"),
        ("buffer.decay=2", "buffer.decay"),
        ("verify.max_terms=3", "verify.max_terms"),
        ("enumerate.ops=[\"frob\"]", "enumerate.ops"),
        ("synth.validation=60", "synth.validation"),
        ("dsl.max_steps=0", "dsl.max_steps"),
        ("pipeline.shards=0", "pipeline.shards"),
        ("loop.iterations=100001", "loop.iterations"),
    ] {
        // the error names the override, not a file
        refused_before_any_stage(
            &p,
            &["run", setting],
            &[key, &format!("override {setting}")],
        );
        refused_before_any_stage(&p, &["status", setting], &[key]);
    }
    // with no pipeline.toml, an override's error does not blame one
    let bare = Project::new("");
    fs::remove_file(bare.path().join("pipeline.toml")).unwrap();
    let err = bare.fails(&["status", "pipeline.shards=0"]);
    assert!(
        err.contains("override pipeline.shards=0") && !err.contains("pipeline.toml"),
        "{err}"
    );
    // a bad value in the file names its line and its key
    let f = fixture_project("[train]\nbatch_size = 0\n");
    refused_before_any_stage(&f, &["run"], &["pipeline.toml:", "train.batch_size"]);
    let big = fixture_project("");
    let text = fs::read_to_string(big.path().join("pipeline.toml"))
        .unwrap()
        .replace("limit = 0", "limit = 99999999999999999999");
    fs::write(big.path().join("pipeline.toml"), text).unwrap();
    refused_before_any_stage(&big, &["run"], &["pipeline.toml:", "ingest.limit"]);
}

#[test]
fn foreign_files_in_the_store_survive_runs_and_gc() {
    let p = fixture_project("");
    p.ok(&["run"]);
    let store = p.store();
    let dead = 4_194_305; // past the kernel's default pid_max: no such process
    let foreign = [
        "tmp/home-work.2023.final".to_string(),
        format!("tmp/{}.{dead}.0", "a".repeat(64)),
        format!("downloads/0123abcd.tmp.{dead}"),
    ];
    for d in &foreign {
        fs::create_dir_all(store.join(d)).unwrap();
        fs::write(store.join(d).join("thesis.tex"), "years of work").unwrap();
    }
    fs::write(store.join(format!("refs/.x.{dead}")), "notes").unwrap();
    fs::create_dir_all(store.join("objects/my-backup")).unwrap();
    fs::write(store.join("objects/my-backup/notes.txt"), "keep").unwrap();
    let out = p.run(&["run", "stage=ingest"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("leaving") && err.contains("home-work.2023.final"),
        "{err}"
    );
    let out = p.run(&["gc", "--force"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for d in &foreign {
        assert!(
            store.join(d).join("thesis.tex").is_file(),
            "{d} was deleted"
        );
    }
    assert!(store.join(format!("refs/.x.{dead}")).is_file());
    assert!(store.join("objects/my-backup/notes.txt").is_file());
    // what a killed run of ours left is still cleaned
    let mine = store.join(format!("tmp/{}.{dead}.1", "b".repeat(64)));
    fs::create_dir_all(&mine).unwrap();
    fs::write(
        mine.join(".seqsynth-made"),
        format!("{{\"made_by\": \"seqsynth\", \"pid\": {dead}}}"),
    )
    .unwrap();
    let out = p.run(&["run", "stage=ingest"]);
    assert!(out.status.success());
    assert!(
        !mine.exists(),
        "a dead run's marked staging directory stays"
    );
}

#[test]
fn gc_on_a_mistyped_store_creates_nothing() {
    let p = fixture_project("");
    let err = p.fails(&["gc", "--store", "typo"]);
    assert!(err.contains("not a seqsynth store"), "{err}");
    let err = p.fails(&["gc", "--force", "--store", "typo"]);
    assert!(err.contains("not a seqsynth store"), "{err}");
    assert!(!p.path().join("typo").exists());
}

#[test]
fn a_parse_error_does_not_echo_a_long_program() {
    let p = Project::new("");
    let program = format!("lambda [ #0 ] ( {} )", "( + 1 ".repeat(8000));
    let err = p.fails(&["dsl", "eval", &program]);
    assert!(err.len() < 1000, "{} bytes of error", err.len());
    assert!(err.contains("bytes in all"), "{err}");
}

#[test]
fn a_corrupt_artifact_is_reported_once() {
    let p = fixture_project("");
    p.ok(&["run", "stage=ingest"]);
    let file = p.artifact("ingest").join("targets-00000.parquet");
    let mut bytes = fs::read(&file).unwrap();
    bytes.truncate(bytes.len() - 1);
    fs::write(&file, bytes).unwrap();
    let out = p.run(&["run", "stage=ingest"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(err.matches("is corrupt").count(), 1, "{err}");
}

/// The state letter of `/proc/<pid>/stat`, None when the process is gone.
fn proc_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// The pids whose command line contains `needle` and whose parent is `parent`.
fn children_running(parent: u32, needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, r)| r.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(parent) && String::from_utf8_lossy(&cmdline).contains(needle) {
            out.push(pid);
        }
    }
    out
}

#[cfg(target_os = "linux")]
#[test]
fn the_trainer_dies_with_a_killed_parent() {
    setup_script("scripts/setup-python.sh").expect("the train stage's Python environment");
    // t5-small on 1,900 pairs: the first epoch is a minute of silence (no progress line before
    // step 200), so the trainer writes nothing a closed pipe could stop it with
    let p = fixture_project(&format!(
        "[train]\nsize = \"t5-small\"\nepochs = 5\nbatch_size = 16\nthreads = 1\nstage_dir = \"{}\"\n",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("stages/train")
            .display()
    ));
    let mut child = p
        .cmd(&[
            "--quiet",
            "run",
            "stage=train",
            "synth.pairs=2000",
            "synth.validation=100",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let trainer = loop {
        if let Some(&pid) = children_running(child.id(), "train.py").first() {
            break pid;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "seqsynth ended before the trainer started"
        );
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no trainer started"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // past its imports and into the first epoch, then its parent is killed outright
    std::thread::sleep(Duration::from_secs(15));
    assert!(
        proc_state(trainer).is_some_and(|s| s != 'Z'),
        "the trainer ended by itself"
    );
    let helpers = children_running(trainer, "dsl");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let killed = Instant::now();
    for pid in std::iter::once(trainer).chain(helpers) {
        while matches!(proc_state(pid), Some(s) if s != 'Z') {
            assert!(
                killed.elapsed() < Duration::from_secs(10),
                "{pid} (train.py {trainer} or its helper) still runs {:?} after seqsynth was killed",
                killed.elapsed()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn quiet_silences_the_libraries_progress_bars() {
    setup_script("scripts/setup-python.sh").expect("the train stage's Python environment");
    let p = fixture_project(&format!(
        "[train]\nepochs = 1\nbatch_size = 16\nthreads = 1\nstage_dir = \"{}\"\n",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("stages/train")
            .display()
    ));
    let out = p.run(&["--quiet", "run", "stage=train"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // (save_pretrained draws "Writing model shards: 100%|...| 1/1 [00:00<00:00, 139.67it/s]")
    assert!(!err.contains("it/s]") && !err.contains("[train]"), "{err}");
}
