//! `verify`, `buffer` and `report` on fabricated candidates whose outputs are known, so that every
//! path must produce its row: a direct solve, a hindsight solve, a solve by terms 26..35 that fails
//! on the later known terms, a direct label that does not depend on the order of candidates, and
//! `verify.hindsight = false` (ablation 4), which changes the buffer and never the solved table.
//!
//! The real ingest, verify, buffer and report stages run through the real runner and store; only
//! `search` is replaced by a stage that writes the fabricated candidates (no model needed).

use arrow_array::{Array, BooleanArray, StringArray, UInt32Array};
use seqsynth::pipeline::config::{self, Loaded};
use seqsynth::pipeline::dag::Node;
use seqsynth::pipeline::runner::Runner;
use seqsynth::pipeline::store::{Artifact, Store};
use seqsynth::stages::search::Candidates;
use seqsynth::stages::{self, Ctx, Stage};
use seqsynth::tables::io::column;
use std::collections::BTreeSet;
use std::path::Path;

const SQUARES: &str = "lambda [ #0 ] ( map ( lambda [ #1 ] ( * ( #1 #1 ) ) #0 ) )";
const IDENTITY: &str = "lambda [ #0 ] ( #0 )";
const DOUBLE: &str = "lambda [ #0 ] ( map ( lambda [ #1 ] ( + ( #1 #1 ) ) #0 ) )";
const BROKEN: &str = "lambda [ #0 ] ( map ( lambda [ #1 ] ( / ( #1 0 ) ) #0 ) )";

/// (A-number, terms) of the fabricated targets.
fn targets() -> Vec<(u32, Vec<i64>)> {
    let squares = |n: i64| (1..=n).map(|i| i * i).collect::<Vec<_>>();
    let mut almost = squares(45);
    almost[39] += 1; // equals n² on terms 1..39, not on term 40
    vec![
        (1, squares(60)),                       // solved directly by SQUARES
        (2, squares(45)),                       // the same sequence: a hindsight solve
        (3, almost),                            // terms 26..35 match, the 40th does not
        (4, (1..=50).collect()),                // identity: proposed for A5 first, then for A4
        (5, (1..=50).map(|i| 3 * i).collect()), // nobody solves it
        (6, (1..=40).map(|i| 2 * i).collect()), // solved by DOUBLE, proposed only for A5
    ]
}

/// The candidates of the fake search: (searched for, rank, program), in the order written.
fn candidates() -> Vec<(&'static str, u32, &'static str)> {
    vec![
        ("A000005", 0, IDENTITY), // solves A4 by hindsight, before A4's own candidate
        ("A000005", 1, DOUBLE),   // solves A6 by hindsight only
        ("A000005", 2, BROKEN),   // an error: no output, no solve
        ("A000001", 0, SQUARES),  // direct for A1; hindsight for A2 and A3
        ("A000004", 3, IDENTITY), // direct for A4: the row must say so
    ]
}

struct FakeSearch;

impl Stage for FakeSearch {
    fn name(&self) -> &'static str {
        "search"
    }
    fn version(&self) -> u32 {
        1
    }
    fn iterated(&self, _: &Loaded) -> bool {
        true
    }
    fn first_iter(&self) -> u32 {
        1
    }
    fn params(&self, _: &Loaded, _: &Node) -> serde_json::Value {
        serde_json::Value::Null
    }
    fn inputs(&self, _: &Loaded, _: &Node) -> Vec<Node> {
        vec![Node::new("ingest", None)]
    }
    fn run(&self, ctx: &mut Ctx) -> anyhow::Result<()> {
        let mut rows = Candidates::default();
        for (id, rank, program) in candidates() {
            rows.push(id, rank, program, -1.0, program.split(' ').count() as u32);
        }
        ctx.write_table("candidates", &rows.batch()?)
    }
}

/// The real stages with `search` replaced.
fn registry() -> Vec<Box<dyn Stage>> {
    stages::registry()
        .into_iter()
        .map(|s| -> Box<dyn Stage> {
            if s.name() == "search" {
                Box::new(FakeSearch)
            } else {
                s
            }
        })
        .collect()
}

fn write_oeis(dir: &Path) {
    let mut stripped = String::new();
    let mut names = String::new();
    for (a, terms) in targets() {
        let t: Vec<String> = terms.iter().map(|x| x.to_string()).collect();
        stripped.push_str(&format!("A{a:06} ,{},\n", t.join(",")));
        names.push_str(&format!("A{a:06} Fabricated sequence {a}\n"));
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("stripped"), stripped).unwrap();
    std::fs::write(dir.join("names"), names).unwrap();
}

struct Run {
    verify: Artifact,
    buffer: Artifact,
    report: Artifact,
}

fn run(root: &Path, overrides: &[(&str, &str)]) -> Run {
    write_oeis(&root.join("oeis"));
    let toml = format!(
        "[ingest]\nsource = \"{}\"\nlimit = 0\n\n[verify]\nenumerate = false\n\n[loop]\niterations = 1\n",
        root.join("oeis").display()
    );
    std::fs::write(root.join("pipeline.toml"), toml).unwrap();
    let ov: Vec<(String, String)> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let loaded = config::load(&root.join("pipeline.toml"), true, &ov).unwrap();
    let store = Store::open(&root.join("store")).unwrap();
    let stages = registry();
    let mut r = Runner::new(&loaded, &store, &stages);
    let verify = r.ensure(&Node::new("verify", Some(1))).unwrap();
    let buffer = r.ensure(&Node::new("buffer", Some(1))).unwrap();
    let report = r.ensure(&Node::new("report", None)).unwrap();
    Run {
        verify,
        buffer,
        report,
    }
}

/// The solved rows as (id, program, searched_for, rank, hindsight, all_terms, checked_terms).
type Row = (String, String, String, u32, bool, bool, u32);

fn solved(a: &Artifact) -> Vec<Row> {
    let mut out = Vec::new();
    for b in a.read_table("solved").unwrap() {
        let s = |n: &str| column::<StringArray>(&b, n).unwrap().clone();
        let (id, program, searched) = (s("id"), s("program"), s("searched_for"));
        let rank = column::<UInt32Array>(&b, "rank").unwrap();
        let hind = column::<BooleanArray>(&b, "hindsight").unwrap();
        let all = column::<BooleanArray>(&b, "all_terms").unwrap();
        let checked = column::<UInt32Array>(&b, "checked_terms").unwrap();
        for i in 0..b.num_rows() {
            out.push((
                id.value(i).to_string(),
                program.value(i).to_string(),
                searched.value(i).to_string(),
                rank.value(i),
                hind.value(i),
                all.value(i),
                checked.value(i),
            ));
        }
    }
    out.sort();
    out
}

fn row(id: &str, p: &str, by: &str, rank: u32, hind: bool, all: bool, n: u32) -> Row {
    (id.into(), p.into(), by.into(), rank, hind, all, n)
}

/// A column of the first row of a report's `curve.csv`.
fn curve_value(dir: &Path, name: &str) -> String {
    let csv = std::fs::read_to_string(dir.join("curve.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let values: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    values[header.iter().position(|h| *h == name).unwrap()].to_string()
}

fn counter(a: &Artifact, name: &str) -> serde_json::Value {
    a.manifest.counters.get(name).cloned().unwrap_or_default()
}

#[test]
fn every_solve_path_produces_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &[]);
    assert_eq!(
        solved(&r.verify),
        vec![
            // direct, checked on all 60 known terms
            row("A000001", SQUARES, "A000001", 0, false, true, 60),
            // hindsight: another target's candidate, right on all 45 terms
            row("A000002", SQUARES, "A000001", 0, true, true, 45),
            // terms 26..35 match (the paper's rule) but the 40th known term does not
            row("A000003", SQUARES, "A000001", 0, true, false, 45),
            // first seen as a hindsight match of A5's candidate, then proposed for A4: direct
            row("A000004", IDENTITY, "A000004", 3, false, true, 50),
            row("A000006", DOUBLE, "A000005", 1, true, true, 40),
        ]
    );
    // the figures, by both rules, over all 6 targets and the 3 searched ones
    let v = &r.verify;
    assert_eq!(counter(v, "targets"), 6);
    assert_eq!(counter(v, "targets_searched"), 3);
    assert_eq!(counter(v, "targets_solved"), 5);
    assert_eq!(counter(v, "targets_solved_all_terms"), 4);
    assert_eq!(counter(v, "targets_solved_directly"), 2);
    assert_eq!(counter(v, "targets_solved_directly_all_terms"), 2);
    // searched: A1 and A4 solved (A5 not), by both rules
    assert_eq!(counter(v, "searched_solved"), 2);
    assert_eq!(counter(v, "searched_solved_all_terms"), 2);
    assert_eq!(counter(v, "errors_div_by_zero"), 1);

    // the report computes the same figures from the verify tables
    let rep = &r.report;
    assert_eq!(counter(rep, "solved"), 5);
    assert_eq!(counter(rep, "solved_all_terms"), 4);
    assert_eq!(counter(rep, "searched"), 3);
    let get = |name: &str| curve_value(&rep.dir, name);
    assert_eq!(get("cumulative"), "5");
    assert_eq!(get("cumulative_all_terms"), "4");
    assert_eq!(get("cumulative_searched_all_terms"), "2");
    assert_eq!(get("rate_all_terms"), format!("{:.6}", 4.0 / 6.0));
    assert_eq!(get("searched_rate_all_terms"), format!("{:.6}", 2.0 / 3.0));
    let solutions = std::fs::read_to_string(rep.dir.join("solutions.csv")).unwrap();
    assert!(
        solutions
            .lines()
            .any(|l| l.starts_with("A000003,") && l.ends_with(",search,hindsight,false,45,")),
        "{solutions}"
    );

    // the headline's program is named beside the row
    assert!(
        solutions
            .lines()
            .any(|l| l.starts_with("A000001,") && l.ends_with(&format!(",true,60,{SQUARES}"))),
        "{solutions}"
    );

    // the buffer holds the hindsight entries (target A2, A3, A6 at fraction 1)
    let targets = buffer_targets(&r.buffer);
    assert!(targets.contains(&("A000002".into(), SQUARES.into())));
    assert!(targets.contains(&("A000006".into(), DOUBLE.into())));
    assert_eq!(counter(&r.buffer, "hindsight_entries_added"), 3);
}

fn buffer_targets(a: &Artifact) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for b in a.read_table("entries").unwrap() {
        let t = column::<StringArray>(&b, "target").unwrap();
        let p = column::<StringArray>(&b, "program").unwrap();
        for i in 0..b.num_rows() {
            assert!(t.is_valid(i));
            out.insert((t.value(i).to_string(), p.value(i).to_string()));
        }
    }
    out
}

#[test]
fn without_hindsight_only_the_buffer_changes() {
    let with = tempfile::tempdir().unwrap();
    let without = tempfile::tempdir().unwrap();
    let a = run(with.path(), &[]);
    let b = run(without.path(), &[("verify.hindsight", "false")]);
    // what counts as solved is the same, byte for byte
    assert_eq!(a.verify.manifest.digest, b.verify.manifest.digest);
    assert_eq!(solved(&a.verify), solved(&b.verify));
    assert_eq!(
        std::fs::read(a.report.dir.join("curve.csv")).unwrap(),
        std::fs::read(b.report.dir.join("curve.csv")).unwrap()
    );
    // the buffer has only the executions' own entries
    let ta = buffer_targets(&a.buffer);
    let tb = buffer_targets(&b.buffer);
    assert!(tb.is_subset(&ta) && tb.len() < ta.len());
    assert!(!tb.iter().any(|(t, _)| t == "A000002" || t == "A000006"));
    assert_eq!(counter(&b.buffer, "hindsight_entries_added"), 0);
}

#[test]
fn a_cap_below_the_window_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_oeis(&dir.path().join("oeis"));
    let toml = format!(
        "[ingest]\nsource = \"{}\"\nlimit = 0\n\n[verify]\nmax_terms = 20\nenumerate = false\n",
        dir.path().join("oeis").display()
    );
    std::fs::write(dir.path().join("pipeline.toml"), toml).unwrap();
    let loaded = config::load(&dir.path().join("pipeline.toml"), true, &[]).unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let stages = registry();
    let mut r = Runner::new(&loaded, &store, &stages);
    let e = r.ensure(&Node::new("verify", Some(1))).unwrap_err();
    assert!(format!("{e:#}").contains("verify.max_terms = 20"), "{e:#}");
}

/// The enumerator's programs of at most 2 nodes solve only A4 (`#1`): its solution enters the
/// buffer with priority 1 beside the search's, the solved rows say which source proposed each
/// program, and the report counts the targets the search solves beyond enumeration, by both
/// rules.
#[test]
fn the_seeded_buffer_holds_the_enumerators_solutions_and_the_report_counts_what_search_adds() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(
        dir.path(),
        &[
            ("verify.enumerate", "true"),
            ("enumerate.max_size", "2"),
            ("enumerate.inverse_size", "0"),
            // the loops dialect's families would solve more of the fake targets
            ("enumerate.loops.loop_body", "0"),
            ("enumerate.loops.loop2_body", "0"),
            ("enumerate.loops.nth_expr", "0"),
            ("enumerate.loops.linrec_order", "0"),
            ("enumerate.loops.hyper_degree", "0"),
            ("enumerate.loops.precur_degree", "0"),
            ("enumerate.loops.quasi_period", "0"),
        ],
    );
    let enumerated = "lambda [ #0 ] ( map ( lambda [ #1 ] ( #1 ) #0 ) )";
    // the enumerator's solution of A4, with its source
    let mut by = Vec::new();
    for b in r.verify.read_table("solved").unwrap() {
        let id = column::<StringArray>(&b, "id").unwrap();
        let program = column::<StringArray>(&b, "program").unwrap();
        let s = column::<BooleanArray>(&b, "by_search").unwrap();
        let e = column::<BooleanArray>(&b, "by_enumerate").unwrap();
        for i in 0..b.num_rows() {
            by.push((
                id.value(i).to_string(),
                program.value(i).to_string(),
                s.value(i),
                e.value(i),
            ));
        }
    }
    assert!(
        by.contains(&("A000004".into(), enumerated.into(), false, true)),
        "{by:?}"
    );
    assert!(
        by.contains(&("A000004".into(), IDENTITY.into(), true, false)),
        "{by:?}"
    );
    assert!(
        !by.iter().any(|(id, _, _, e)| id != "A000004" && *e),
        "{by:?}"
    );
    // in the buffer, as an entry of A4 with priority 1 (fraction 1, found in this iteration)
    assert!(buffer_targets(&r.buffer).contains(&("A000004".into(), enumerated.into())));
    let mut priority = None;
    for b in r.buffer.read_table("programs").unwrap() {
        let p = column::<StringArray>(&b, "program").unwrap();
        let w = column::<arrow_array::Float64Array>(&b, "priority").unwrap();
        for i in 0..b.num_rows() {
            if p.value(i) == enumerated {
                priority = Some(w.value(i));
            }
        }
    }
    assert_eq!(priority, Some(1.0));
    // the search solves A1, A2, A3, A4, A6 (A3 only by the paper's rule); enumeration only A4
    assert_eq!(counter(&r.report, "search_solved"), 5);
    assert_eq!(counter(&r.report, "search_solved_all_terms"), 4);
    assert_eq!(counter(&r.report, "beyond_enumeration"), 4);
    assert_eq!(counter(&r.report, "beyond_enumeration_all_terms"), 3);
    let get = |name: &str| curve_value(&r.report.dir, name);
    assert_eq!(get("beyond_enumeration"), "4");
    assert_eq!(get("distinct_programs"), "4");
}

#[test]
fn without_enumeration_the_report_leaves_beyond_enumeration_empty() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &[]);
    assert_eq!(counter(&r.report, "search_solved"), 5);
    assert_eq!(
        counter(&r.report, "beyond_enumeration"),
        serde_json::Value::Null
    );
    let get = |name: &str| curve_value(&r.report.dir, name);
    assert_eq!(get("beyond_enumeration"), "");
}
