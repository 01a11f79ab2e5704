//! End-to-end tests of the synth stage (issue 5) through the real binary.

mod common;
use arrow_array::{Array, ListArray, StringArray, UInt32Array, UInt64Array};
use common::*;
use seqsynth::dsl::{format_terms, Evaluator, Limits, Num, Program};
use seqsynth::tables::io::{column, list_strings, read_parquet};
use std::collections::HashSet;
use std::fs;

const CFG: &str = "[synth]\npairs = 400\nvalidation = 40\nseed = 3\n";

struct Pair {
    program: String,
    tokens: Vec<String>,
    terms: Vec<String>,
    hash: String,
}

fn pairs(p: &Project, table: &str) -> Vec<Pair> {
    pairs_at(p, "synth", table)
}

/// The pairs of `table` in the artifact of `node` (synth, or sample in its `fresh` mode).
fn pairs_at(p: &Project, node: &str, table: &str) -> Vec<Pair> {
    let mut out = Vec::new();
    let path = p.artifact(node).join(format!("{table}-00000.parquet"));
    for b in read_parquet(&path).unwrap() {
        let prog = column::<StringArray>(&b, "program").unwrap();
        let toks = column::<ListArray>(&b, "tokens").unwrap();
        let len = column::<UInt32Array>(&b, "length").unwrap();
        let terms = column::<ListArray>(&b, "terms").unwrap();
        let n = column::<UInt32Array>(&b, "n_terms").unwrap();
        let hash = column::<StringArray>(&b, "output_hash").unwrap();
        let draw = column::<UInt64Array>(&b, "draw").unwrap();
        for i in 0..b.num_rows() {
            let t = list_strings(toks, i);
            let terms_i = list_strings(terms, i);
            assert_eq!(len.value(i) as usize, t.len());
            assert_eq!(n.value(i) as usize, terms_i.len());
            assert!(!draw.is_null(i));
            out.push(Pair {
                program: prog.value(i).to_string(),
                tokens: t,
                terms: terms_i,
                hash: hash.value(i).to_string(),
            });
        }
    }
    out
}

#[test]
fn stored_pairs_satisfy_every_constraint() {
    let p = Project::new(CFG);
    let out = p.ok(&["run", "stage=synth"]);
    assert_eq!(built(&out), vec!["synth"]);
    let train = pairs(&p, "train");
    let val = pairs(&p, "validation");
    assert_eq!((train.len(), val.len()), (360, 40));
    let ev = Evaluator::new(Limits::default());
    let bound: Num = format!("1{}", "0".repeat(50)).parse().unwrap();
    let mut hashes = HashSet::new();
    let mut outputs = HashSet::new();
    for pair in train.iter().chain(&val) {
        let prog = Program::parse(&pair.program).unwrap();
        assert_eq!(prog.to_string(), pair.program, "canonical text");
        assert_eq!(pair.tokens.join(" "), pair.program);
        // re-evaluates to the stored terms, exactly
        let terms = ev.eval(&prog).unwrap();
        assert_eq!(format_terms(&terms), pair.terms.join(","));
        assert!(terms.len() >= 3);
        assert!(terms.iter().all(|t| t.abs_cmp(&bound.to_big()).is_le()));
        assert_eq!(
            pair.hash,
            hex::encode(seqsynth::stages::synth::output_hash(&terms))
        );
        assert!(hashes.insert(pair.hash.clone()), "duplicate hash");
        assert!(outputs.insert(pair.terms.clone()), "duplicate output");
        // past max_len (48) the sampler closed the program as fast as possible
        let tokens = prog.tokens();
        if tokens.len() > 48 {
            let mut st = seqsynth::dsl::State::new();
            for &t in &tokens[..48] {
                st.push(t).unwrap();
            }
            assert_eq!(tokens.len(), 48 + st.min_completion(), "{}", pair.program);
        }
    }
    // rejection counts add up to the draws
    let m = p.manifest("synth");
    let c = m["counters"].as_object().unwrap();
    let rejected: u64 = c
        .iter()
        .filter(|(k, _)| k.starts_with("rejected_"))
        .map(|(_, v)| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        rejected + c["accepted"].as_u64().unwrap(),
        c["draws"].as_u64().unwrap()
    );
    assert_eq!(c["accepted"], 400);
    assert!(c["rejected_duplicate_output"].as_u64().unwrap() > 0);
    // cached on the second run
    assert!(built(&p.ok(&["run", "stage=synth"])).is_empty());
}

#[test]
fn same_seed_same_bytes_whatever_the_thread_count() {
    let a = Project::new(CFG);
    let b = Project::new(CFG);
    let out = a
        .cmd(&["run", "stage=synth"])
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = b
        .cmd(&["run", "stage=synth"])
        .env("RAYON_NUM_THREADS", "3")
        .output()
        .unwrap();
    assert!(out.status.success());
    for f in ["train-00000.parquet", "validation-00000.parquet"] {
        assert_eq!(
            fs::read(a.artifact("synth").join(f)).unwrap(),
            fs::read(b.artifact("synth").join(f)).unwrap(),
            "{f}"
        );
    }
    // another seed gives other pairs
    let c = Project::new(&CFG.replace("seed = 3", "seed = 4"));
    c.ok(&["run", "stage=synth"]);
    assert_ne!(
        fs::read(a.artifact("synth").join("train-00000.parquet")).unwrap(),
        fs::read(c.artifact("synth").join("train-00000.parquet")).unwrap()
    );
}

#[test]
fn ablation_one_has_one_switch_and_give_up_limits_stay_out_of_the_key() {
    // `synth.flavour` is gone: `sample.mode = "fresh"` is the one switch for ablation 1
    let p = Project::new(&format!("{CFG}flavour = \"baseline\"\n"));
    let e = p.fails(&["run", "stage=synth"]);
    assert!(
        e.contains("synth.flavour") && e.contains("sample.mode = \"fresh\""),
        "{e}"
    );
    let e = Project::new(CFG).fails(&["run", "stage=synth", "synth.flavour=baseline"]);
    assert!(e.contains("sample.mode"), "{e}");
    // max_draws_factor only decides when to give up: editing it reruns nothing
    let p = Project::new(CFG);
    assert_eq!(built(&p.ok(&["run", "stage=synth"])), vec!["synth"]);
    assert!(built(&p.ok(&["run", "stage=synth", "synth.max_draws_factor=77"])).is_empty());
}

#[test]
fn bad_settings_are_clear_errors() {
    let p = Project::new("[synth]\npairs = 10\nvalidation = 20\n");
    let e = p.fails(&["run", "stage=synth"]);
    assert!(
        e.contains("synth.validation (20) must be below synth.pairs (10)"),
        "{e}"
    );
    let p =
        Project::new("[synth]\npairs = 50\nvalidation = 0\nmin_terms = 36\nmax_draws_factor = 2\n");
    let e = p.fails(&["run", "stage=synth"]);
    // (more terms than any program has: refused before synth draws at all)
    assert!(
        e.contains("pipeline.toml:")
            && e.contains("synth.min_terms = 36 is more terms than a program has"),
        "{e}"
    );
}

#[test]
fn fresh_sample_mode_draws_new_unconstrained_pairs_each_iteration() {
    // ablation 1: sample@k needs no buffer (and so no model): fresh DSL samples per iteration
    let p = Project::new(&format!("{CFG}\n[sample]\nmode = \"fresh\"\nsize = 150\n"));
    assert_eq!(
        built(&p.ok(&["run", "stage=sample", "iter=1"])),
        vec!["sample@1"]
    );
    assert_eq!(
        built(&p.ok(&["run", "stage=sample", "iter=2"])),
        vec!["sample@2"]
    );
    let ev = Evaluator::new(Limits::default());
    let one = pairs_at(&p, "sample@1", "train");
    let two = pairs_at(&p, "sample@2", "train");
    assert_eq!((one.len(), two.len()), (150, 150));
    for pair in one.iter().chain(&two) {
        let terms = ev.eval(&Program::parse(&pair.program).unwrap()).unwrap();
        assert_eq!(format_terms(&terms), pair.terms.join(","));
        assert!(terms.len() >= 3);
    }
    let progs = |v: &[Pair]| v.iter().map(|x| x.program.clone()).collect::<Vec<_>>();
    assert_ne!(progs(&one), progs(&two), "a new draw at each iteration");
    let m = p.manifest("sample@1");
    assert_eq!(m["counters"]["pairs"], 150);
    assert!(built(&p.ok(&["run", "stage=sample", "iter=1"])).is_empty());
}
