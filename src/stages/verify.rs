//! `verify`: runs every candidate program of `search@k` and decides what it solves.
//!
//! A program's output x̂ is its value on `#0 = [1..L]` (L = `dsl.input_len`), computed by the DSL's
//! exact evaluator with the configured limits. The verification window is terms
//! `train.input_terms + 1 ..= dsl.input_len` (the paper: 26..35), compared by position; OEIS
//! offsets are ignored (DESIGN.md section 1).
//!
//! - A candidate *solves* its own target when x̂ equals the target on the whole window.
//! - Hindsight: a candidate also solves every other target whose window equals x̂'s window
//!   (`verify.hindsight`, on by default; off is the paper's ablation 4).
//! - `matched` counts the window positions where x̂ equals its own target: the buffer's priority
//!   uses it as "the fraction of the target's terms the program reproduces".
//!
//! A program does not depend on its target, so each distinct program is evaluated once, in
//! parallel; rows are written in candidate order, so the output is the same for any thread count.

use super::{Ctx, Stage};
use crate::dsl::{Evaluator, Program};
use crate::pipeline::config::Loaded;
use crate::pipeline::dag::Node;
use crate::stages::ingest::read_targets;
use crate::table::{column, string_lists};
use anyhow::{Context, Result};
use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use rayon::prelude::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

pub struct Verify;

impl Stage for Verify {
    fn name(&self) -> &'static str {
        "verify"
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
    fn params(&self, loaded: &Loaded, _: &Node) -> serde_json::Value {
        let c = &loaded.config;
        json!({
            "hindsight": c.verify.hindsight,
            "enumerate": c.verify.enumerate,
            "window": window(loaded),
            "dsl.limits": c.dsl.limits_key(),
        })
    }
    fn inputs(&self, loaded: &Loaded, node: &Node) -> Vec<Node> {
        let k = node.iter.unwrap_or(1).max(1);
        let mut v = vec![Node::new("ingest", None), Node::new("search", Some(k))];
        if loaded.config.verify.enumerate {
            v.push(Node::new("enumerate", None));
        }
        v
    }
    fn run(&self, ctx: &mut Ctx) -> Result<()> {
        let k = ctx.node.iter.unwrap_or(1);
        let (first, last) = window(ctx.loaded);
        let targets = read_targets(ctx.input("ingest")?)?;
        let target_terms: Vec<Vec<String>> = targets.iter().map(|t| t.terms.to_vec()).collect();
        let ids: Vec<String> = targets
            .iter()
            .map(|t| format!("A{:06}", t.number))
            .collect();
        let index: HashMap<&str, usize> = ids
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect();
        let windows = WindowIndex::new(&target_terms, first, last);
        let mut cands = read_candidates(ctx.input(&format!("search@{k}"))?)?;
        if ctx.loaded.config.verify.enumerate {
            cands.extend(read_candidates(ctx.input("enumerate")?)?);
        }

        // evaluate each distinct program once
        let distinct: BTreeSet<&str> = cands.iter().map(|c| c.program.as_str()).collect();
        let distinct: Vec<&str> = distinct.into_iter().collect();
        let ev = Evaluator::new(ctx.loaded.config.dsl.limits());
        let results: Vec<Outcome> = distinct
            .par_iter()
            .map(|p| evaluate(&ev, p))
            .collect::<Result<_>>()?;
        let by_program: HashMap<&str, &Outcome> =
            distinct.iter().copied().zip(results.iter()).collect();

        let hindsight = ctx.loaded.config.verify.hindsight;
        let mut ex = Executions::default();
        let mut solved = Solved::default();
        let mut seen: BTreeSet<(usize, &str)> = BTreeSet::new();
        let mut errors: BTreeMap<String, u64> = BTreeMap::new();
        let mut direct_targets: BTreeSet<&str> = BTreeSet::new();
        for c in &cands {
            let out = by_program[c.program.as_str()];
            let own = index.get(c.id.as_str()).copied();
            let (matched, positions) = match (own, &out.terms) {
                (Some(t), Ok(terms)) => window_match(&target_terms[t], terms, first, last),
                (Some(t), Err(_)) => (0, window_len(&target_terms[t], first, last)),
                (None, _) => (0, 0),
            };
            let mut solves_own = false;
            if let Ok(terms) = &out.terms {
                for &j in windows.lookup(terms) {
                    let direct = Some(j) == own;
                    solves_own |= direct;
                    if (direct || hindsight) && seen.insert((j, c.program.as_str())) {
                        solved.push(&ids[j], &c.program, &c.id, c.rank, !direct);
                    }
                }
            } else if let Err(kind) = &out.terms {
                *errors.entry(format!("errors_{kind}")).or_default() += 1;
            }
            if solves_own {
                direct_targets.insert(c.id.as_str());
            }
            ex.push(c, out, matched, positions, solves_own);
        }
        let solved_targets: BTreeSet<&str> = solved.id.iter().map(|s| s.as_str()).collect();
        let searched: BTreeSet<&str> = cands.iter().map(|c| c.id.as_str()).collect();
        ctx.count("candidates", cands.len());
        ctx.count("distinct_programs", distinct.len());
        ctx.count("targets", targets.len());
        ctx.count("targets_searched", searched.len());
        ctx.count("targets_solved", solved_targets.len());
        ctx.count("targets_solved_directly", direct_targets.len());
        ctx.count(
            "solve_rate",
            solved_targets.len() as f64 / targets.len().max(1) as f64,
        );
        for (k, v) in errors {
            ctx.count(&k, v);
        }
        eprintln!(
            "verify@{k}: {} of {} targets solved ({} directly), {} candidates, {} distinct programs",
            solved_targets.len(),
            targets.len(),
            direct_targets.len(),
            cands.len(),
            distinct.len()
        );
        ctx.write_table("executions", &ex.batch()?)?;
        ctx.write_table("solved", &solved.batch()?)
    }
}

/// The verification window as 0-based `[first, last)`: terms `input_terms + 1 ..= input_len`.
pub fn window(loaded: &Loaded) -> (usize, usize) {
    let c = &loaded.config;
    (
        c.train.input_terms,
        c.dsl.input_len.max(c.train.input_terms),
    )
}

/// Window positions that exist in the target.
fn window_len(target: &[String], first: usize, last: usize) -> u32 {
    target.len().min(last).saturating_sub(first) as u32
}

/// (positions where `output` equals `target`, positions that exist in the target) over the
/// window `[first, last)`.
pub fn window_match(target: &[String], output: &[String], first: usize, last: usize) -> (u32, u32) {
    let n = window_len(target, first, last);
    let m = (first..first + n as usize)
        .filter(|&i| output.get(i) == target.get(i))
        .count();
    (m as u32, n)
}

/// Targets by their window, for hindsight: which targets does an output solve?
pub struct WindowIndex {
    map: HashMap<String, Vec<usize>>,
    first: usize,
    last: usize,
}

impl WindowIndex {
    /// Indexes the targets that have the whole window.
    pub fn new(targets: &[Vec<String>], first: usize, last: usize) -> WindowIndex {
        let mut map: HashMap<String, Vec<usize>> = HashMap::new();
        if last > first {
            for (i, t) in targets.iter().enumerate() {
                if t.len() >= last {
                    map.entry(t[first..last].join(",")).or_default().push(i);
                }
            }
        }
        WindowIndex { map, first, last }
    }

    /// The targets whose window equals `output`'s (none when the output is shorter).
    pub fn lookup(&self, output: &[String]) -> &[usize] {
        if self.last <= self.first || output.len() < self.last {
            return &[];
        }
        self.map
            .get(&output[self.first..self.last].join(","))
            .map_or(&[], |v| v.as_slice())
    }
}

/// A candidate row of `search@k` (or `enumerate`).
pub struct Candidate {
    pub id: String,
    pub rank: u32,
    pub program: String,
    pub score: f64,
}

/// Reads a `candidates` table.
pub fn read_candidates(a: &crate::pipeline::store::Artifact) -> Result<Vec<Candidate>> {
    let mut out = Vec::new();
    for b in a.read_table("candidates")? {
        let id = column::<StringArray>(&b, "id")?;
        let rank = column::<UInt32Array>(&b, "rank")?;
        let program = column::<StringArray>(&b, "program")?;
        let score = column::<Float64Array>(&b, "score")?;
        for i in 0..b.num_rows() {
            out.push(Candidate {
                id: id.value(i).to_string(),
                rank: rank.value(i),
                program: program.value(i).to_string(),
                score: score.value(i),
            });
        }
    }
    Ok(out)
}

/// A program's output, or the kind of error that stopped it.
pub struct Outcome {
    pub terms: std::result::Result<Vec<String>, crate::dsl::ErrorKind>,
}

fn evaluate(ev: &Evaluator, program: &str) -> Result<Outcome> {
    let p = Program::parse(program).with_context(|| format!("candidate {program:?}"))?;
    Ok(Outcome {
        terms: ev
            .eval(&p)
            .map(|t| t.iter().map(|n| n.to_string()).collect())
            .map_err(|e| e.kind),
    })
}

/// The `executions` table: one row per candidate, in candidate order.
#[derive(Default)]
struct Executions {
    id: Vec<String>,
    rank: Vec<u32>,
    program: Vec<String>,
    error: Vec<Option<&'static str>>,
    terms: Vec<Vec<String>>,
    matched: Vec<u32>,
    positions: Vec<u32>,
    solved: Vec<bool>,
}

impl Executions {
    fn push(&mut self, c: &Candidate, out: &Outcome, matched: u32, positions: u32, solved: bool) {
        self.id.push(c.id.clone());
        self.rank.push(c.rank);
        self.program.push(c.program.clone());
        match &out.terms {
            Ok(t) => {
                self.error.push(None);
                self.terms.push(t.clone());
            }
            Err(k) => {
                self.error.push(Some(k.name()));
                self.terms.push(Vec::new());
            }
        }
        self.matched.push(matched);
        self.positions.push(positions);
        self.solved.push(solved);
    }

    fn batch(self) -> Result<RecordBatch> {
        let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
        let schema = Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("rank", DataType::UInt32, false),
            Field::new("program", DataType::Utf8, false),
            Field::new("error", DataType::Utf8, true),
            Field::new("n_terms", DataType::UInt32, false),
            Field::new("terms", list, false),
            Field::new("matched", DataType::UInt32, false),
            Field::new("positions", DataType::UInt32, false),
            Field::new("solved", DataType::Boolean, false),
        ]);
        let n_terms: Vec<u32> = self.terms.iter().map(|t| t.len() as u32).collect();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(self.id)),
            Arc::new(UInt32Array::from(self.rank)),
            Arc::new(StringArray::from_iter_values(self.program)),
            Arc::new(StringArray::from(self.error)),
            Arc::new(UInt32Array::from(n_terms)),
            Arc::new(string_lists(self.terms.iter().map(|t| t.iter()))),
            Arc::new(UInt32Array::from(self.matched)),
            Arc::new(UInt32Array::from(self.positions)),
            Arc::new(BooleanArray::from(self.solved)),
        ];
        Ok(RecordBatch::try_new(Arc::new(schema), cols)?)
    }
}

/// A row of the `solved` table.
#[derive(Clone, Debug, PartialEq)]
pub struct Solve {
    /// The target solved.
    pub id: String,
    pub program: String,
    /// The target whose search proposed the program.
    pub searched_for: String,
    pub rank: u32,
    pub hindsight: bool,
}

/// Reads the `solved` table of a verify artifact.
pub fn read_solved(a: &crate::pipeline::store::Artifact) -> Result<Vec<Solve>> {
    let mut out = Vec::new();
    for b in a.read_table("solved")? {
        let id = column::<StringArray>(&b, "id")?;
        let program = column::<StringArray>(&b, "program")?;
        let searched = column::<StringArray>(&b, "searched_for")?;
        let rank = column::<UInt32Array>(&b, "rank")?;
        let hindsight = column::<BooleanArray>(&b, "hindsight")?;
        for i in 0..b.num_rows() {
            out.push(Solve {
                id: id.value(i).to_string(),
                program: program.value(i).to_string(),
                searched_for: searched.value(i).to_string(),
                rank: rank.value(i),
                hindsight: hindsight.value(i),
            });
        }
    }
    Ok(out)
}

/// The `solved` table as written: one row per (solved target, program).
#[derive(Default)]
struct Solved {
    id: Vec<String>,
    program: Vec<String>,
    searched_for: Vec<String>,
    rank: Vec<u32>,
    hindsight: Vec<bool>,
}

impl Solved {
    fn push(&mut self, id: &str, program: &str, searched_for: &str, rank: u32, hindsight: bool) {
        self.id.push(id.to_string());
        self.program.push(program.to_string());
        self.searched_for.push(searched_for.to_string());
        self.rank.push(rank);
        self.hindsight.push(hindsight);
    }

    fn batch(self) -> Result<RecordBatch> {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("program", DataType::Utf8, false),
            Field::new("searched_for", DataType::Utf8, false),
            Field::new("rank", DataType::UInt32, false),
            Field::new("hindsight", DataType::Boolean, false),
        ]);
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(self.id)),
            Arc::new(StringArray::from_iter_values(self.program)),
            Arc::new(StringArray::from_iter_values(self.searched_for)),
            Arc::new(UInt32Array::from(self.rank)),
            Arc::new(BooleanArray::from(self.hindsight)),
        ];
        Ok(RecordBatch::try_new(Arc::new(schema), cols)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(v: &[i64]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn window_match_is_positional() {
        let target = terms(&[1, 2, 3, 4, 5, 6]);
        // window = terms 3..=5 (0-based [2, 5))
        assert_eq!(
            window_match(&target, &terms(&[9, 9, 3, 4, 5]), 2, 5),
            (3, 3)
        );
        assert_eq!(
            window_match(&target, &terms(&[9, 9, 3, 0, 5]), 2, 5),
            (2, 3)
        );
        // a shorter output matches only where it has terms
        assert_eq!(window_match(&target, &terms(&[1, 2, 3]), 2, 5), (1, 3));
        // a shorter target has fewer positions
        assert_eq!(
            window_match(&terms(&[1, 2, 3, 4]), &terms(&[1, 2, 3, 4]), 2, 5),
            (2, 2)
        );
        // shifted outputs do not match (offsets are ignored, positions are not)
        assert_eq!(
            window_match(&target, &terms(&[2, 3, 4, 5, 6, 7]), 2, 5),
            (0, 3)
        );
    }

    #[test]
    fn hindsight_index_finds_every_target_with_the_window() {
        let targets = vec![
            terms(&[1, 2, 3, 4, 5]),
            terms(&[0, 0, 3, 4, 5]),
            terms(&[1, 2, 3, 4, 6]),
            terms(&[1, 2, 3, 4]), // too short to be solved
        ];
        let idx = WindowIndex::new(&targets, 2, 5);
        assert_eq!(idx.lookup(&terms(&[7, 7, 3, 4, 5, 99])), &[0, 1]);
        assert_eq!(idx.lookup(&terms(&[7, 7, 3, 4, 6])), &[2]);
        assert!(idx.lookup(&terms(&[1, 2, 3, 4])).is_empty());
        assert!(idx.lookup(&terms(&[1, 2, 3, 4, 7])).is_empty());
    }
}
