//! Sharded stages (issue 12): `shard=i/N` nodes and `pipeline.shards = N` merges give the bytes
//! of an unsharded run; shard processes run side by side on one store; `seqsynth plan` lists
//! what an engine schedules. Uses the tiny T5 on the CPU (the project's Python environment).

mod common;
use common::*;
use std::path::PathBuf;
use std::process::Stdio;

use common::artifact_files as files;

fn key(p: &Project, node: &str) -> String {
    p.manifest(node)["key"].as_str().unwrap().to_string()
}

/// Removes an artifact by hand (the test wants it rebuilt).
fn forget(p: &Project, node: &str) -> PathBuf {
    let dir = p.artifact(node);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_file(p.store().join("refs").join(node)).unwrap();
    dir
}

#[test]
fn sharded_search_and_verify_equal_unsharded_and_shards_run_side_by_side() {
    setup_script("scripts/setup-python.sh").expect("the train stage's Python environment");
    let p = Project::new(&loop_config());
    p.ok(&["--quiet", "run", "stage=verify", "iter=1"]);
    let (search, verify) = (files(&p, "search@1"), files(&p, "verify@1"));
    let (search_key, verify_key) = (key(&p, "search@1"), key(&p, "verify@1"));
    assert!(!search.is_empty() && !verify.is_empty());

    // synth by draw ranges: 3 shards, merged in draw order, give the unsharded pairs
    let (synth, synth_key) = (files(&p, "synth"), key(&p, "synth"));
    let counters = p.manifest("synth")["counters"].clone();
    forget(&p, "synth");
    let out = p.ok(&["--quiet", "run", "stage=synth", "pipeline.shards=3"]);
    assert_eq!(
        built(&out),
        vec!["synth#0/3", "synth#1/3", "synth#2/3", "synth"],
        "{out}"
    );
    assert_eq!(key(&p, "synth"), synth_key);
    assert_eq!(
        files(&p, "synth"),
        synth,
        "synth: merged bytes = unsharded bytes"
    );
    // and the same counts: draws consumed, accepted, each rejection reason
    let mut merged = p.manifest("synth")["counters"].clone();
    merged.as_object_mut().unwrap().remove("shards");
    assert_eq!(merged, counters);

    // enumerate: every shard computes the stored levels and its third of the last level's
    // jobs and of the inverse step's targets; the merge gives the unsharded candidates
    let (enumerate, enumerate_key) = (files(&p, "enumerate"), key(&p, "enumerate"));
    assert!(enumerate.contains_key("candidates-00000.parquet"));
    let whole = p.manifest("enumerate")["counters"].clone();
    forget(&p, "enumerate");
    let out = p.ok(&["--quiet", "run", "stage=enumerate", "pipeline.shards=3"]);
    assert_eq!(
        built(&out),
        vec![
            "enumerate#0/3",
            "enumerate#1/3",
            "enumerate#2/3",
            "enumerate"
        ],
        "{out}"
    );
    assert_eq!(key(&p, "enumerate"), enumerate_key);
    assert_eq!(
        files(&p, "enumerate"),
        enumerate,
        "enumerate: merged bytes = unsharded bytes"
    );
    let merged = p.manifest("enumerate")["counters"].clone();
    for c in [
        "solved_window",
        "solved_all_terms",
        "distinct_vectors",
        "completed_size",
    ] {
        assert_eq!(merged[c], whole[c], "{c}");
    }
    // each shard computed a third of the last level
    let last = whole["levels"].as_array().unwrap().last().unwrap().clone();
    let parts: Vec<u64> = (0..3)
        .map(|i| {
            let m = p.manifest(&format!("enumerate#{i}of3"));
            assert_eq!(m["counters"]["matched_size"], last["size"]);
            m["counters"]["evaluated"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(
        parts.iter().sum::<u64>(),
        last["evaluated"].as_u64().unwrap()
    );
    assert!(parts.iter().all(|&e| e > 0), "{parts:?}");

    // the same nodes built as 3 shards each, merged: the same keys and the same bytes
    forget(&p, "verify@1");
    forget(&p, "search@1");
    let out = p.ok(&[
        "--quiet",
        "run",
        "stage=verify",
        "iter=1",
        "pipeline.shards=3",
    ]);
    let b = built(&out);
    for n in [
        "search@1#0/3",
        "search@1#1/3",
        "search@1#2/3",
        "search@1",
        "verify@1#0/3",
        "verify@1#2/3",
        "verify@1",
    ] {
        assert!(b.contains(&n.to_string()), "{n} built: {out}");
    }
    assert_eq!(key(&p, "search@1"), search_key);
    assert_eq!(key(&p, "verify@1"), verify_key);
    assert_eq!(
        files(&p, "search@1"),
        search,
        "search: merged bytes = unsharded bytes"
    );
    assert_eq!(
        files(&p, "verify@1"),
        verify,
        "verify: merged bytes = unsharded bytes"
    );
    // a shard holds its own part: 37 targets in batches of 4 = 10 batches, cut 3/3/4
    let m = p.manifest("search@1#1of3");
    assert_eq!(m["counters"]["shard_targets"], "12..24");
    assert_eq!(m["counters"]["targets"], 12);

    // 4 shard processes at once on one store (and a fifth that duplicates shard 2), then the
    // merge: nothing is built twice and the bytes are the same
    forget(&p, "verify@1");
    forget(&p, "search@1");
    let procs: Vec<_> = [0, 1, 2, 3, 2]
        .iter()
        .map(|i| {
            p.cmd(&[
                "--quiet",
                "run",
                "stage=search",
                "iter=1",
                &format!("shard={i}/4"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut shard_builds = 0;
    for c in procs {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        shard_builds += built(&String::from_utf8_lossy(&out.stdout))
            .iter()
            .filter(|n| n.starts_with("search@1#"))
            .count();
    }
    assert_eq!(
        shard_builds, 4,
        "each shard built once, the duplicate found it done"
    );
    let out = p.ok(&[
        "--quiet",
        "run",
        "stage=search",
        "iter=1",
        "pipeline.shards=4",
    ]);
    assert_eq!(built(&out), vec!["search@1"], "only the merge: {out}");
    assert_eq!(files(&p, "search@1"), search);
    assert_eq!(key(&p, "search@1"), search_key);
    // downstream of the merged node: the same key as before, so verify@1 (removed above) is
    // rebuilt from the merged search with the same bytes
    let out = p.ok(&["--quiet", "run", "stage=verify", "iter=1"]);
    assert_eq!(built(&out), vec!["verify@1"], "{out}");
    assert_eq!(files(&p, "verify@1"), verify);
    assert_eq!(key(&p, "verify@1"), verify_key);

    // shard artifacts are parts of reached nodes: gc keeps them; and with nodes of the config
    // not built yet (buffer@1, report), gc --force refuses rather than guess
    let dry = p.ok(&["gc"]);
    assert!(!dry.contains("search@1#"), "{dry}");
    let e = p.fails(&["gc", "--force"]);
    assert!(e.contains("refused") && e.contains("buffer@1"), "{e}");
    // SQL over every artifact counts each candidate once (shards are in `runs` only)
    let n = |extra: &[&str]| {
        let mut a = vec![
            "query",
            "SELECT count(*) AS n FROM candidates WHERE source = 'search'",
            "--format",
            "csv",
        ];
        a.extend_from_slice(extra);
        p.ok(&a).lines().nth(1).unwrap().to_string()
    };
    assert_eq!(n(&["--all"]), n(&[]));
    let runs = p.ok(&[
        "query",
        "SELECT node FROM runs WHERE node LIKE 'search@1#%' ORDER BY node",
        "--all",
        "--format",
        "csv",
    ]);
    assert!(
        runs.contains("search@1#0/4") && runs.contains("search@1#2/3"),
        "{runs}"
    );

    // bad shard arguments are clear errors
    let e = p.fails(&["run", "stage=search", "iter=1", "shard=4/4"]);
    assert!(e.contains("0 <= i < N"), "{e}");
    let e = p.fails(&["run", "stage=ingest", "shard=0/2"]);
    assert!(
        e.contains("does not split")
            && e.contains("synth, search, enumerate")
            && e.contains("verify"),
        "{e}"
    );
    // synth splits its random draws only
    let e = p.fails(&["run", "stage=synth", "shard=0/2", "synth.source=enumerate"]);
    assert!(e.contains("does not split"), "{e}");
    let e = p.fails(&["run", "shard=0/2"]);
    assert!(e.contains("shard= needs stage="), "{e}");
    let e = p.fails(&["run", "pipeline.shards=0"]);
    assert!(e.contains("pipeline.shards"), "{e}");
}

#[test]
fn plan_lists_nodes_in_order_with_keys_inputs_and_commands() {
    let p = Project::new(&config(&shared_oeis().display().to_string(), ""));
    let plan: serde_json::Value =
        serde_json::from_str(&p.ok(&["plan", "ingest.limit=50"])).unwrap();
    let nodes = plan["nodes"].as_array().unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n["node"].as_str().unwrap()).collect();
    assert_eq!(names, ["ingest", "synth"]);
    assert_eq!(nodes[0]["state"], "to_run");
    assert_eq!(nodes[0]["key"].as_str().unwrap().len(), 64);
    assert_eq!(
        nodes[0]["args"],
        serde_json::json!(["run", "stage=ingest", "ingest.limit=50"])
    );
    // the units the engines schedule: here one per node, synth after nothing (no input)
    let units = plan["units"].as_array().unwrap();
    let unit_names: Vec<&str> = units.iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(unit_names, ["ingest", "synth"]);
    assert_eq!(units[1]["args"], nodes[1]["args"]);
    assert_eq!(units[1]["after"], serde_json::json!([]));
    assert!(!p.store().exists(), "plan never creates the store");
    // after the run, the same plan says cached, with the same keys
    p.ok(&["--quiet", "run", "ingest.limit=50"]);
    let again: serde_json::Value =
        serde_json::from_str(&p.ok(&["plan", "ingest.limit=50"])).unwrap();
    assert_eq!(again["nodes"][0]["state"], "cached");
    assert_eq!(again["nodes"][0]["key"], nodes[0]["key"]);
    assert_eq!(again["nodes"][1]["key"], nodes[1]["key"]);
}
