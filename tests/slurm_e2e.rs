//! Slurm (issue 12): `seqsynth slurm --submit` writes the plan as job arrays chained with
//! `--dependency=afterok` and submits them to a real single-node Slurm cluster (Debian's
//! slurm-wlm and munge, started on this machine by `scripts/setup-slurm.sh`); with synth,
//! search, enumerate and verify in 2 shards, every artifact has the key and the bytes of a plain
//! local run.
//!
//! Where Slurm cannot be installed or started (no root, no apt) the test says why and skips.

mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn the_loop_as_slurm_job_arrays_equals_a_local_run() {
    setup_script("scripts/setup-python.sh").expect("the train stage's Python environment");
    let Some(conf) = setup_script("scripts/setup-slurm.sh") else {
        eprintln!(
            "SKIPPED: a local Slurm cluster cannot start here (scripts/setup-slurm.sh failed)"
        );
        return;
    };
    let local = Project::new(&loop_config());
    local.ok(&["--quiet", "run"]);

    let p = Project::new(&loop_config());
    let out = p
        .cmd(&[
            "slurm",
            "--submit",
            "--cpus-per-task",
            "1",
            "pipeline.shards=2",
        ])
        .env("SLURM_CONF", &conf)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Vec<String> = stdout
        .lines()
        .find_map(|l| l.strip_prefix("submitted: "))
        .expect("job ids")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert!(ids.len() >= 5, "one job array per level: {stdout}");
    let level = std::fs::read_to_string(p.path().join("exports/slurm/level-00.sbatch")).unwrap();
    assert!(level.contains("#SBATCH --array=0-"), "{level}");

    // wait until none of the jobs is queued or running
    let start = Instant::now();
    loop {
        let q = Command::new("squeue")
            .args(["-h", "-o", "%i %T %r", "-j", &ids.join(",")])
            .env("SLURM_CONF", &conf)
            .output()
            .unwrap();
        let q = String::from_utf8_lossy(&q.stdout).into_owned();
        if q.trim().is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(900),
            "jobs still queued after 15 minutes:\n{q}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    let logs = p.path().join("exports/slurm/logs");
    let mut all_logs = String::new();
    for e in std::fs::read_dir(&logs).unwrap() {
        let e = e.unwrap();
        all_logs.push_str(&format!(
            "== {}\n{}",
            e.file_name().to_string_lossy(),
            std::fs::read_to_string(e.path()).unwrap_or_default()
        ));
    }
    assert!(
        p.store().join("refs/report").exists(),
        "the last level ran; the jobs' logs:\n{all_logs}"
    );
    // the shards ran as array tasks of their own
    for n in [
        "search@1#0of2",
        "search@1#1of2",
        "verify@1#0of2",
        "verify@1#1of2",
        "enumerate#0of2",
        "enumerate#1of2",
        "synth#1of2",
    ] {
        assert!(p.store().join("refs").join(n).exists(), "{n}\n{all_logs}");
    }
    assert_same_artifacts(&p, &local);
}
