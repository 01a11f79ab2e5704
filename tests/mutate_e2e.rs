//! `mutate@k` end to end (the learning-loop issue): a two-iteration loop on 200 targets with the
//! tiny T5, then checks of what mutation proposed against what verify decided, of the report's
//! per-source columns, and of the output's independence of the thread count.

mod common;
use common::*;
use seqsynth::dsl::{Evaluator, Limits, Program};
use seqsynth::tables::io::{column, list_strings};
use std::collections::{BTreeMap, BTreeSet};

fn read(p: &Project, node: &str, table: &str) -> Vec<arrow_array::RecordBatch> {
    seqsynth::tables::io::read_parquet(&p.artifact(node).join(format!("{table}-00000.parquet")))
        .unwrap()
}

fn strings(b: &arrow_array::RecordBatch, name: &str) -> Vec<String> {
    column::<arrow_array::StringArray>(b, name)
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect()
}

const MUTATE: [&str; 4] = [
    "loop.iterations=2",
    "mutate.parents=40",
    "mutate.per_parent=20",
    "mutate.rounds=2",
];

#[test]
fn mutation_candidates_are_verified_counted_and_independent_of_threads() {
    setup_script("scripts/setup-python.sh").expect("the train stage's Python environment");
    let p = Project::new(&loop_config());
    let mut args = vec!["--quiet", "run"];
    args.extend(MUTATE);
    let out = p.ok(&args);
    let b = built(&out);
    for n in ["mutate@2", "verify@2", "report"] {
        assert!(b.contains(&n.to_string()), "{n} built: {out}");
    }
    assert!(
        !b.contains(&"mutate@1".to_string()),
        "mutation starts at iteration 2"
    );

    // the targets' terms
    let t = &read(&p, "ingest", "targets")[0];
    let ids = strings(t, "id");
    let terms_col = column::<arrow_array::ListArray>(t, "terms").unwrap();
    let terms: BTreeMap<String, Vec<String>> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), list_strings(terms_col, i)))
        .collect();

    // what mutate@2 proposed: each program gives its target's first 35 terms; a score of 1
    // claims all known terms
    let cands = &read(&p, "mutate@2", "candidates")[0];
    let (cid, cprog) = (strings(cands, "id"), strings(cands, "program"));
    let score = column::<arrow_array::Float64Array>(cands, "score").unwrap();
    assert!(!cid.is_empty(), "mutation found nothing on 200 targets");
    let ev = Evaluator::new(Limits {
        max_steps: 2_000_000,
        ..Limits::default()
    });
    for (id, prog) in cid.iter().zip(&cprog) {
        let out = ev.eval(&Program::parse(prog).unwrap()).unwrap();
        let out: Vec<String> = out.iter().map(|n| n.to_string()).collect();
        assert_eq!(out[..35], terms[id][..35], "{prog} for {id}");
    }

    // verify@2 ran every one of them (source = mutate) and agrees with each all-terms claim
    let ex = &read(&p, "verify@2", "executions")[0];
    let n_mutate = strings(ex, "source")
        .iter()
        .filter(|s| *s == "mutate")
        .count();
    assert_eq!(n_mutate, cid.len());
    let solved = &read(&p, "verify@2", "solved")[0];
    let all_terms = column::<arrow_array::BooleanArray>(solved, "all_terms").unwrap();
    let strict: BTreeSet<(String, String)> = strings(solved, "id")
        .into_iter()
        .zip(strings(solved, "program"))
        .enumerate()
        .filter(|(i, _)| all_terms.value(*i))
        .map(|(_, x)| x)
        .collect();
    for (i, (id, prog)) in cid.iter().zip(&cprog).enumerate() {
        if score.value(i) == 1.0 {
            assert!(
                strict.contains(&(id.clone(), prog.clone())),
                "verify@2 does not confirm {prog} for {id} on all known terms"
            );
        }
    }

    // the report counts them per iteration, cumulatively
    let curve = &read(&p, "report", "curve")[0];
    let col = |name: &str| {
        column::<arrow_array::UInt32Array>(curve, name)
            .unwrap()
            .values()
            .to_vec()
    };
    let (cum, mutated) = (col("cumulative_all_terms"), col("mutate_solved_all_terms"));
    assert_eq!(cum.len(), 2);
    assert!(cum[1] >= cum[0]);
    assert_eq!(mutated[0], 0, "no mutation at iteration 1");
    // ... as the targets of verify@2's rows whose program only mutation proposed
    let source = strings(solved, "source");
    let mutate_strict: BTreeSet<String> = strings(solved, "id")
        .into_iter()
        .enumerate()
        .filter(|(i, _)| all_terms.value(*i) && source[*i] == "mutate")
        .map(|(_, id)| id)
        .collect();
    assert_eq!(mutated[1] as usize, mutate_strict.len());

    // the same bytes with one thread
    let before = artifact_files(&p, "mutate@2");
    let dir = p.artifact("mutate@2");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_file(p.store().join("refs").join("mutate@2")).unwrap();
    let mut args = vec!["--quiet", "run", "stage=mutate", "iter=2"];
    args.extend(MUTATE);
    let out = p.cmd(&args).env("RAYON_NUM_THREADS", "1").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        artifact_files(&p, "mutate@2"),
        before,
        "one thread, the same bytes"
    );
}
