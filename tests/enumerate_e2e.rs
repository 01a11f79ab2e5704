//! The `enumerate` stage through the real binary: candidates from bottom-up enumeration, matched
//! to every target on all terms, the window or the prefix; deterministic and cached.

mod common;
use arrow_array::{Float64Array, StringArray, UInt32Array};
use common::*;
use seqsynth::dsl::{Evaluator, Limits, Program};
use seqsynth::tables::io::column;
use std::collections::HashMap;
use std::fs;

fn config() -> String {
    format!(
        "[ingest]\nsource = \"{}\"\nlimit = 150\n\n[enumerate]\nmax_size = 6\ninverse_size = 3\nper_target = 2\n\n[enumerate.loops]\nloop_body = 3\nloop2_body = 3\nloop2_pair = 4\ninit_max = 2\npair_init_max = 1\nnth_expr = 3\n\n",
        shared_oeis().display()
    )
}

#[test]
fn enumerated_candidates_match_their_targets_and_the_bytes_do_not_depend_on_threads() {
    let p = Project::new(&config());
    let out = p
        .cmd(&["run", "stage=enumerate"])
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        built(&String::from_utf8(out.stdout).unwrap()),
        vec!["ingest", "enumerate"]
    );
    let m = p.manifest("enumerate");
    let c = &m["counters"];
    assert_eq!(c["stop"], "max_size");
    assert_eq!(c["completed_size"], 6);
    let levels = c["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 6, "{levels:?}");
    assert_eq!(levels[5]["mode"], "matched");
    assert!(levels.iter().all(|l| l["seconds"].is_number()));
    assert!(c["solved_window"].as_u64().unwrap() >= c["solved_all_terms"].as_u64().unwrap());
    assert!(c["solved_all_terms"].as_u64().unwrap() > 10, "{c}");
    let lv =
        &seqsynth::tables::io::read_parquet(&p.artifact("enumerate").join("levels-00000.parquet"))
            .unwrap()[0];
    assert_eq!(lv.num_rows(), 6);

    let targets =
        seqsynth::tables::io::read_parquet(&p.artifact("ingest").join("targets-00000.parquet"))
            .unwrap();
    let t = &targets[0];
    let tid = column::<StringArray>(t, "id").unwrap();
    let tterms = column::<arrow_array::ListArray>(t, "terms").unwrap();
    let terms: HashMap<String, Vec<String>> = (0..t.num_rows())
        .map(|i| {
            (
                tid.value(i).to_string(),
                seqsynth::tables::io::list_strings(tterms, i),
            )
        })
        .collect();

    let file = p.artifact("enumerate").join("candidates-00000.parquet");
    let b = &seqsynth::tables::io::read_parquet(&file).unwrap()[0];
    let id = column::<StringArray>(b, "id").unwrap();
    let rank = column::<UInt32Array>(b, "rank").unwrap();
    let prog = column::<StringArray>(b, "program").unwrap();
    let score = column::<Float64Array>(b, "score").unwrap();
    assert!(b.num_rows() > 0);
    // the loops dialect's budget, which the enumerator's candidates are built under
    let ev = Evaluator::new(Limits {
        max_steps: 2_000_000,
        ..Limits::default()
    });
    let mut found = Vec::new();
    for r in 0..b.num_rows() {
        let out = ev.eval(&Program::parse(prog.value(r)).unwrap()).unwrap();
        let out: Vec<String> = out.iter().map(|n| n.to_string()).collect();
        let t = &terms[id.value(r)];
        // every candidate matches its target on the prefix the policy sees or on the window
        assert!(
            out[..25] == t[..25] || out[25..35] == t[25..35],
            "{} for {}",
            prog.value(r),
            id.value(r)
        );
        // two per kind of match, and beside them the fitted families' (linrec, hyper, precur,
        // quasi: the target's own fit, and rarely one from a target with the same vector)
        assert!(
            rank.value(r) < 6 + 8,
            "two per kind of match, and the fitted ones"
        );
        if rank.value(r) > 0 {
            assert_eq!(id.value(r), id.value(r - 1));
        }
        assert!(score.value(r) < 0.0);
        found.push((id.value(r).to_string(), prog.value(r).to_string()));
    }
    // the all-ones sequence (A000012) by its shortest program
    let ones = "lambda [ #0 ] ( map ( lambda [ #1 ] ( 1 ) #0 ) )";
    assert!(
        found.contains(&("A000012".into(), ones.into())),
        "{found:?}"
    );
    // the number of divisors (A000005) through a fold over the divisors
    assert!(found
        .iter()
        .any(|(t, p)| t == "A000005" && p.contains("== ( % ( #1 #2 ) 0 )")));

    // the same bytes with more threads, and cached on a second run
    let q = Project::new(&config());
    let out = q
        .cmd(&["run", "stage=enumerate"])
        .env("RAYON_NUM_THREADS", "2")
        .output()
        .unwrap();
    assert!(out.status.success());
    for table in ["candidates-00000.parquet", "levels-00000.parquet"] {
        assert_eq!(
            fs::read(q.artifact("enumerate").join(table)).unwrap(),
            fs::read(p.artifact("enumerate").join(table)).unwrap(),
            "{table}"
        );
    }
    assert!(built(&p.ok(&["run", "stage=enumerate"])).is_empty());
    let e = p.fails(&["run", "stage=enumerate", "enumerate.per_target=0"]);
    assert!(e.contains("enumerate.per_target"), "{e}");
    let e = p.fails(&["run", "stage=enumerate", "enumerate.ops=[\"+\",\"<\"]"]);
    assert!(e.contains("enumerate.ops") && e.contains("\"<\""), "{e}");
    let e = p.fails(&["run", "stage=enumerate", "enumerate.folds=[\"odd\"]"]);
    assert!(e.contains("enumerate.folds") && e.contains("prefix"), "{e}");
    let e = p.fails(&["run", "stage=enumerate", "enumerate.max_len=30"]);
    assert!(e.contains("enumerate.max_size"), "{e}");
    let e = p.fails(&["run", "stage=enumerate", "enumerate.max_seconds=-1"]);
    assert!(e.contains("enumerate.max_seconds"), "{e}");
}
