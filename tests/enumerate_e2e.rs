//! The `enumerate` stage through the real binary: candidates from exhaustive enumeration of short
//! programs, matched to targets on the terms the policy sees; deterministic and cached.

mod common;
use arrow_array::{Float64Array, StringArray, UInt32Array};
use common::*;
use seqsynth::dsl::{Evaluator, Limits, Program};
use seqsynth::table::column;
use std::collections::HashMap;
use std::fs;

fn config() -> String {
    format!(
        "[ingest]\nsource = \"{}\"\nlimit = 150\n\n[enumerate]\nmax_len = 24\nper_target = 3\n",
        shared_oeis().display()
    )
}

#[test]
fn enumerated_candidates_reproduce_the_terms_the_policy_sees() {
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
    assert_eq!(
        m["counters"]["programs"], 5494,
        "every program of at most 24 tokens"
    );

    let targets =
        seqsynth::table::read_parquet(&p.artifact("ingest").join("targets-00000.parquet")).unwrap();
    let t = &targets[0];
    let tid = column::<StringArray>(t, "id").unwrap();
    let tterms = column::<arrow_array::ListArray>(t, "terms").unwrap();
    let terms: HashMap<String, Vec<String>> = (0..t.num_rows())
        .map(|i| {
            (
                tid.value(i).to_string(),
                seqsynth::table::list_strings(tterms, i),
            )
        })
        .collect();

    let file = p.artifact("enumerate").join("candidates-00000.parquet");
    let b = &seqsynth::table::read_parquet(&file).unwrap()[0];
    let id = column::<StringArray>(b, "id").unwrap();
    let rank = column::<UInt32Array>(b, "rank").unwrap();
    let prog = column::<StringArray>(b, "program").unwrap();
    let score = column::<Float64Array>(b, "score").unwrap();
    assert!(b.num_rows() > 0);
    let ev = Evaluator::new(Limits::default());
    let mut found = Vec::new();
    for r in 0..b.num_rows() {
        let out = ev.eval(&Program::parse(prog.value(r)).unwrap()).unwrap();
        let out: Vec<String> = out.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            out[..25],
            terms[id.value(r)][..25],
            "{} for {}",
            prog.value(r),
            id.value(r)
        );
        assert!(rank.value(r) < 3);
        if rank.value(r) > 0 {
            assert_eq!(id.value(r), id.value(r - 1));
            assert!(score.value(r) <= score.value(r - 1), "shortest first");
        }
        found.push((id.value(r).to_string(), prog.value(r).to_string()));
    }
    // the all-ones sequence (A000012) by one of the shortest programs
    let ones = "lambda [ #0 ] ( map ( lambda [ #1 ] ( 1 ) #0 ) )";
    assert!(
        found.contains(&("A000012".into(), ones.into())),
        "{found:?}"
    );

    // the same bytes with more threads, and cached on a second run
    let q = Project::new(&config());
    let out = q
        .cmd(&["run", "stage=enumerate"])
        .env("RAYON_NUM_THREADS", "3")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        fs::read(q.artifact("enumerate").join("candidates-00000.parquet")).unwrap(),
        fs::read(&file).unwrap()
    );
    assert!(built(&p.ok(&["run", "stage=enumerate"])).is_empty());
    let e = p.fails(&["run", "stage=enumerate", "enumerate.per_target=0"]);
    assert!(e.contains("enumerate.per_target"), "{e}");
}
