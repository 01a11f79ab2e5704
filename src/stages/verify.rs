//! `verify`: runs every candidate program of `search@k` and decides what it solves.
//!
//! A program's output x̂ is its value on `#0 = [1..L]` (L = `dsl.input_len`), computed by the DSL's
//! exact evaluator with the configured limits. The verification window is terms
//! `train.input_terms + 1 ..= dsl.input_len` (the paper: 26..35), compared by position; OEIS
//! offsets are ignored (DESIGN.md section 1).
//!
//! - A candidate *solves* its own target when x̂ equals the target on the whole window.
//! - Hindsight: a candidate also solves every other target whose window equals x̂'s window. Those
//!   rows are always recorded (what counts as solved never depends on a setting); a row is
//!   `hindsight = false` (direct) when any candidate proposed the program for that very target.
//!   `verify.hindsight = false` (the paper's ablation 4) is read by `buffer`, which then leaves
//!   the hindsight rows out of the training data.
//! - The all-known-terms rule (the headline, DESIGN.md section 6): every solving program is
//!   evaluated again on `#0 = [1..n]`, n = the target's known terms capped at
//!   `verify.max_terms`, and must equal all n of them (`all_terms`, `checked_terms`).
//! - `matched` counts the window positions where x̂ equals its own target: the buffer's priority
//!   uses it as "the fraction of the target's terms the program reproduces".
//!
//! A program does not depend on its target, so each distinct program is evaluated once, in
//! parallel; rows are written in candidate order, so the output is the same for any thread count.

use super::{Ctx, Stage};
use crate::dsl::{Evaluator, Program};
use crate::pipeline::config::Loaded;
use crate::pipeline::dag::Node;
use crate::pipeline::store::Artifact;
use crate::tables::io::string_lists;
use crate::tables::targets::read as read_targets;
use anyhow::{bail, Context, Result};
use arrow_array::{ArrayRef, BooleanArray, RecordBatch, StringArray, UInt32Array};
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
        3
    }
    fn check(&self, loaded: &Loaded) -> Result<()> {
        let c = &loaded.config;
        loaded.require(
            c.verify.max_terms >= c.dsl.input_len,
            &["verify.max_terms", "dsl.input_len"],
            format!(
                "verify.max_terms = {} is below dsl.input_len = {}: the all-known-terms rule must \
                 check at least the terms the paper's rule checks",
                c.verify.max_terms, c.dsl.input_len
            ),
        )
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
            "enumerate": c.verify.enumerate,
            "max_terms": c.verify.max_terms,
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
        if k >= 2 && super::mutate::enabled(loaded) {
            v.push(Node::new("mutate", Some(k)));
        }
        v
    }
    fn shardable(&self, _: &Loaded) -> bool {
        true
    }
    /// The shards' outcomes, together one per distinct program, then the same assembly as an
    /// unsharded run: the same bytes.
    fn merge(&self, ctx: &mut Ctx, shards: &[Artifact]) -> Result<()> {
        let g = Gathered::read(ctx)?;
        let mut by_program: HashMap<String, Outcome> = HashMap::new();
        for a in shards {
            read_outcomes(a, &mut by_program)?;
        }
        for (c, _) in &g.cands {
            if !by_program.contains_key(&c.program) {
                bail!(
                    "the {} shards hold no outcome for {:?} (shards of other candidates?)",
                    shards.len(),
                    c.program
                );
            }
        }
        ctx.count("shards", shards.len());
        assemble(ctx, &g, &|p| &by_program[p])
    }
    fn run(&self, ctx: &mut Ctx) -> Result<()> {
        let g = Gathered::read(ctx)?;
        // evaluate each distinct program once
        let ev = Evaluator::new(ctx.loaded.config.dsl.limits());
        if let Some(sh) = ctx.node.shard {
            // a shard: its part of the distinct programs, in sorted order, evaluated
            let distinct: Vec<&str> = g
                .cands
                .iter()
                .map(|(c, _)| c.program.as_str())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let r = sh.range(distinct.len(), 1);
            let part = &distinct[r.clone()];
            let by_program = evaluate_distinct(&ev, part.iter().copied())?;
            ctx.count("shard", sh.to_string());
            ctx.count("shard_programs", format!("{}..{}", r.start, r.end));
            ctx.count("distinct_programs", distinct.len());
            return ctx.write_table("outcomes", &outcomes_batch(part, &by_program)?);
        }
        let by_program = evaluate_distinct(&ev, g.cands.iter().map(|(c, _)| c.program.as_str()))?;
        assemble(ctx, &g, &|p| &by_program[p])
    }
}

/// What verify reads: the targets, their windows, and the candidates (search's, then the
/// enumerator's).
struct Gathered {
    k: u32,
    first: usize,
    last: usize,
    max_terms: usize,
    n_targets: usize,
    target_terms: Vec<Vec<String>>,
    ids: Vec<String>,
    cands: Vec<(Candidate, &'static str)>,
}

impl Gathered {
    fn read(ctx: &Ctx) -> Result<Gathered> {
        let k = ctx.node.iter.unwrap_or(1);
        let (first, last) = window(ctx.loaded);
        let max_terms = ctx.loaded.config.verify.max_terms;
        if max_terms < last {
            bail!(
                "verify.max_terms = {max_terms} is below dsl.input_len = {last}: the all-known-terms \
                 rule must check at least the terms the paper's rule checks"
            );
        }
        let targets = read_targets(ctx.input("ingest")?)?;
        let target_terms: Vec<Vec<String>> = targets.iter().map(|t| t.terms.to_vec()).collect();
        let ids: Vec<String> = targets
            .iter()
            .map(|t| format!("A{:06}", t.number))
            .collect();
        let mut cands: Vec<(Candidate, &'static str)> =
            read_candidates(ctx.input(&format!("search@{k}"))?)?
                .into_iter()
                .map(|c| (c, SOURCE_SEARCH))
                .collect();
        if ctx.loaded.config.verify.enumerate {
            cands.extend(
                read_candidates(ctx.input("enumerate")?)?
                    .into_iter()
                    .map(|c| (c, SOURCE_ENUMERATE)),
            );
        }
        if k >= 2 && super::mutate::enabled(ctx.loaded) {
            cands.extend(
                read_candidates(ctx.input(&format!("mutate@{k}"))?)?
                    .into_iter()
                    .map(|c| (c, SOURCE_MUTATE)),
            );
        }
        Ok(Gathered {
            k,
            first,
            last,
            max_terms,
            n_targets: targets.len(),
            target_terms,
            ids,
            cands,
        })
    }
}

/// The unsharded verify after evaluation: `executions`, `solved` (with the all-known-terms
/// check) and the counters, from each distinct program's outcome (`outcome`).
fn assemble<'o>(ctx: &mut Ctx, g: &Gathered, outcome: &dyn Fn(&str) -> &'o Outcome) -> Result<()> {
    let Gathered {
        k,
        first,
        last,
        max_terms,
        n_targets,
        target_terms,
        ids,
        cands,
    } = g;
    let (k, first, last, max_terms) = (*k, *first, *last, *max_terms);
    let index: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let windows = WindowIndex::new(target_terms, first, last);
    let distinct_programs = cands
        .iter()
        .map(|(c, _)| c.program.as_str())
        .collect::<BTreeSet<_>>()
        .len();
    let mut ex = Executions::default();
    // one row per (solved target, program), in order of first appearance; a row is direct
    // when any candidate proposed the program for that very target, whatever came first
    let mut solved: Vec<Solve> = Vec::new();
    let mut row_of: HashMap<(usize, &str), usize> = HashMap::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for (c, source) in cands.iter() {
        let out = outcome(c.program.as_str());
        let own = index.get(c.id.as_str()).copied();
        let (matched, positions) = match (own, &out.terms) {
            (Some(t), Ok(terms)) => window_match(&target_terms[t], terms, first, last),
            (Some(t), Err(_)) => (0, window_len(&target_terms[t], first, last)),
            (None, _) => (0, 0),
        };
        let mut solves_own = false;
        match &out.terms {
            Ok(terms) => {
                for &j in windows.lookup(terms) {
                    let direct = Some(j) == own;
                    solves_own |= direct;
                    let row = Solve {
                        id: ids[j].clone(),
                        program: c.program.clone(),
                        searched_for: c.id.clone(),
                        rank: c.rank,
                        hindsight: !direct,
                        source: (*source).to_string(),
                        all_terms: false,
                        checked_terms: 0,
                        by_search: *source == SOURCE_SEARCH,
                        by_enumerate: *source == SOURCE_ENUMERATE,
                    };
                    match row_of.get(&(j, c.program.as_str())) {
                        None => {
                            row_of.insert((j, c.program.as_str()), solved.len());
                            solved.push(row);
                        }
                        Some(&r) => {
                            let old = &solved[r];
                            let better = (old.hindsight && direct)
                                || (old.hindsight != direct && c.rank < old.rank);
                            let (by_search, by_enumerate) = (
                                old.by_search || row.by_search,
                                old.by_enumerate || row.by_enumerate,
                            );
                            if better {
                                solved[r] = row;
                            }
                            solved[r].by_search = by_search;
                            solved[r].by_enumerate = by_enumerate;
                        }
                    }
                }
            }
            Err(kind) => *errors.entry(format!("errors_{kind}")).or_default() += 1,
        }
        ex.push(c, source, out, matched, positions, solves_own);
    }

    // the all-known-terms rule: each solving program again on [1..n] for each n it needs
    let known = |j: usize| target_terms[j].len().min(max_terms);
    let mut wanted: BTreeSet<(&str, usize)> = BTreeSet::new();
    for (&(j, program), _) in row_of.iter() {
        wanted.insert((program, known(j)));
    }
    let wanted: Vec<(&str, usize)> = wanted.into_iter().collect();
    let base = ctx.loaded.config.dsl.limits();
    let evaluators: HashMap<usize, Evaluator> = wanted
        .iter()
        .map(|&(_, n)| (n, Evaluator::new(all_terms_limits(&base, n))))
        .collect();
    let long: Vec<Outcome> = wanted
        .par_iter()
        .map(|&(program, n)| evaluate(&evaluators[&n], program))
        .collect::<Result<_>>()?;
    let long: HashMap<(&str, usize), Outcome> = wanted.iter().copied().zip(long).collect();
    for (&(j, program), &r) in &row_of {
        let n = known(j);
        solved[r].checked_terms = n as u32;
        solved[r].all_terms = matches!(&long[&(program, n)].terms,
            Ok(t) if t.as_slice() == &target_terms[j][..n]);
    }

    let searched: BTreeSet<&str> = cands
        .iter()
        .filter(|(_, s)| *s == SOURCE_SEARCH)
        .map(|(c, _)| c.id.as_str())
        .collect();
    let figures = Figures::of(&solved, *n_targets, &searched);
    ctx.count("candidates", cands.len());
    ctx.count("distinct_programs", distinct_programs);
    ctx.count("programs_checked_on_all_terms", wanted.len());
    for (k, v) in figures.counters() {
        ctx.count(&k, v);
    }
    for (k, v) in errors {
        ctx.count(&k, v);
    }
    eprintln!(
        "verify@{k}: {} of {} targets solved on all known terms ({} by terms 26..35; {} directly); \
         of the {} searched: {} / {}; {} candidates, {} distinct programs",
        figures.all_terms.solved,
        n_targets,
        figures.paper.solved,
        figures.paper.direct,
        searched.len(),
        figures.all_terms.searched_solved,
        figures.paper.searched_solved,
        cands.len(),
        distinct_programs
    );
    ctx.write_table("executions", &ex.batch()?)?;
    ctx.write_table("solved", &solved_batch(&solved)?)
}

/// The `outcomes` table of a verify shard: one row per program of its part, in sorted order.
fn outcomes_batch(programs: &[&str], by_program: &HashMap<&str, Outcome>) -> Result<RecordBatch> {
    let out = |p: &&str| &by_program[*p];
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(programs.iter().copied())),
        Arc::new(StringArray::from_iter(
            programs
                .iter()
                .map(|p| out(p).terms.as_ref().err().map(|k| k.name())),
        )),
        Arc::new(string_lists(programs.iter().map(|p| match &out(p).terms {
            Ok(t) => t.clone(),
            Err(_) => Vec::new(),
        }))),
    ];
    Ok(RecordBatch::try_new(
        Arc::new(crate::tables::outcomes::schema()),
        cols,
    )?)
}

/// Adds the outcomes of a verify shard to `into`.
fn read_outcomes(a: &Artifact, into: &mut HashMap<String, Outcome>) -> Result<()> {
    use crate::tables::io::{column, list_strings};
    use arrow_array::{Array, ListArray};
    for b in a.read_table("outcomes")? {
        let program = column::<StringArray>(&b, "program")?;
        let error = column::<StringArray>(&b, "error")?;
        let terms = column::<ListArray>(&b, "terms")?;
        for i in 0..b.num_rows() {
            let terms = if error.is_null(i) {
                Ok(list_strings(terms, i))
            } else {
                let name = error.value(i);
                Err(crate::dsl::ErrorKind::ALL
                    .into_iter()
                    .find(|k| k.name() == name)
                    .with_context(|| {
                        format!("unknown error kind {name:?} in {}", a.dir.display())
                    })?)
            };
            into.insert(program.value(i).to_string(), Outcome { terms });
        }
    }
    Ok(())
}

pub use crate::tables::executions::{SOURCE_ENUMERATE, SOURCE_MUTATE, SOURCE_SEARCH};

/// The limits of the all-known-terms check on `#0 = [1..n]`: the configured ones with the input
/// length n and the step budget scaled by ⌈(n/L)²⌉ (L = `dsl.input_len`), so a program whose cost
/// grows quadratically with the input (a fold inside a map) keeps the headroom it had on [1..L].
pub fn all_terms_limits(base: &crate::dsl::Limits, n: usize) -> crate::dsl::Limits {
    base.for_input_len(n)
}

/// Solve counts by one rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleCounts {
    /// Targets solved (directly or by hindsight).
    pub solved: usize,
    /// Targets solved by a program proposed for them.
    pub direct: usize,
    /// Searched targets solved.
    pub searched_solved: usize,
}

/// The targets the rows solve: by the paper's rule (every row), or with `all_terms` only those
/// that hold on all known terms. Figures and the report count solves through this one function.
pub fn solved_ids(solved: &[Solve], all_terms: bool) -> BTreeSet<&str> {
    solved_ids_where(solved, all_terms, |_| true)
}

/// [`solved_ids`] over the rows that `pick` keeps (e.g. those the search proposed).
pub fn solved_ids_where(
    solved: &[Solve],
    all_terms: bool,
    pick: impl Fn(&Solve) -> bool,
) -> BTreeSet<&str> {
    solved
        .iter()
        .filter(|s| (!all_terms || s.all_terms) && pick(s))
        .map(|s| s.id.as_str())
        .collect()
}

/// The solve figures of one verify artifact, by both rules (DESIGN.md section 6): the single
/// place they are computed, from the `solved` rows, for the manifest and the report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    pub targets: usize,
    pub searched: usize,
    pub paper: RuleCounts,
    pub all_terms: RuleCounts,
}

impl Figures {
    pub fn of(solved: &[Solve], targets: usize, searched: &BTreeSet<&str>) -> Figures {
        let mut f = Figures {
            targets,
            searched: searched.len(),
            ..Figures::default()
        };
        for (counts, strict) in [(&mut f.paper, false), (&mut f.all_terms, true)] {
            let rows = || solved.iter().filter(|s| !strict || s.all_terms);
            let ids = solved_ids(solved, strict);
            counts.solved = ids.len();
            counts.direct = rows()
                .filter(|s| !s.hindsight)
                .map(|s| s.id.as_str())
                .collect::<BTreeSet<_>>()
                .len();
            counts.searched_solved = ids.iter().filter(|id| searched.contains(*id)).count();
        }
        f
    }

    /// The manifest counters.
    pub fn counters(&self) -> Vec<(String, serde_json::Value)> {
        let rate = |a: usize, b: usize| a as f64 / b.max(1) as f64;
        let mut v: Vec<(String, serde_json::Value)> = vec![
            ("targets".into(), self.targets.into()),
            ("targets_searched".into(), self.searched.into()),
        ];
        for (suffix, c) in [("", &self.paper), ("_all_terms", &self.all_terms)] {
            v.push((format!("targets_solved{suffix}"), c.solved.into()));
            v.push((format!("targets_solved_directly{suffix}"), c.direct.into()));
            v.push((format!("searched_solved{suffix}"), c.searched_solved.into()));
            v.push((
                format!("solve_rate{suffix}"),
                rate(c.solved, self.targets).into(),
            ));
            v.push((
                format!("searched_solve_rate{suffix}"),
                rate(c.searched_solved, self.searched).into(),
            ));
        }
        v
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

/// The targets that a candidate proposed for them solves by the paper's rule (no hindsight):
/// what `search.skip_enumerated` leaves out of the search.
pub fn solved_directly(
    loaded: &Loaded,
    targets: &[crate::stages::ingest::Record],
    cands: &[Candidate],
) -> Result<BTreeSet<String>> {
    let (first, last) = window(loaded);
    if last <= first {
        // no window: nothing is solved by the paper's rule (as in verify's WindowIndex)
        return Ok(BTreeSet::new());
    }
    let terms: HashMap<String, Vec<String>> = targets
        .iter()
        .map(|t| (format!("A{:06}", t.number), t.terms.to_vec()))
        .collect();
    let ev = Evaluator::new(loaded.config.dsl.limits());
    let out = evaluate_distinct(&ev, cands.iter().map(|c| c.program.as_str()))?;
    let mut solved = BTreeSet::new();
    for c in cands {
        let (Some(t), Ok(o)) = (terms.get(&c.id), &out[c.program.as_str()].terms) else {
            continue;
        };
        let (m, n) = window_match(t, o, first, last);
        if n as usize == last - first && m == n {
            solved.insert(c.id.clone());
        }
    }
    Ok(solved)
}

pub use crate::tables::candidates::{read as read_candidates, Candidate};

/// A program's output, or the kind of error that stopped it.
pub struct Outcome {
    pub terms: std::result::Result<Vec<String>, crate::dsl::ErrorKind>,
}

/// Each distinct program of `programs` evaluated once, in parallel.
fn evaluate_distinct<'a>(
    ev: &Evaluator,
    programs: impl Iterator<Item = &'a str>,
) -> Result<HashMap<&'a str, Outcome>> {
    let distinct: Vec<&str> = programs.collect::<BTreeSet<_>>().into_iter().collect();
    let bar = crate::progress::Progress::new("verify", "programs", distinct.len() as u64);
    // chunks of programs, so that the bar moves without a lock per program
    let outcomes: Vec<Outcome> = distinct
        .par_chunks(256)
        .map(|chunk| {
            let out = chunk
                .iter()
                .map(|p| evaluate(ev, p))
                .collect::<Result<Vec<_>>>();
            bar.inc(chunk.len() as u64);
            out
        })
        .collect::<Result<Vec<Vec<Outcome>>>>()?
        .into_iter()
        .flatten()
        .collect();
    bar.finish();
    Ok(distinct.into_iter().zip(outcomes).collect())
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
    source: Vec<&'static str>,
    rank: Vec<u32>,
    program: Vec<String>,
    error: Vec<Option<&'static str>>,
    terms: Vec<Vec<String>>,
    matched: Vec<u32>,
    positions: Vec<u32>,
    solved: Vec<bool>,
}

impl Executions {
    fn push(
        &mut self,
        c: &Candidate,
        source: &'static str,
        out: &Outcome,
        matched: u32,
        positions: u32,
        solved: bool,
    ) {
        self.id.push(c.id.clone());
        self.source.push(source);
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
        let schema = crate::tables::executions::schema();
        let n_terms: Vec<u32> = self.terms.iter().map(|t| t.len() as u32).collect();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(self.id)),
            Arc::new(StringArray::from_iter_values(self.source)),
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

pub use crate::tables::executions::{read_searched, Searched};
pub use crate::tables::solved::{batch as solved_batch, read as read_solved, Solve};

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
    fn solved_directly_needs_the_whole_window_of_its_own_target() {
        let loaded =
            crate::pipeline::config::load(std::path::Path::new("/nonexistent.toml"), false, &[])
                .unwrap();
        let record = |n: u32, f: fn(i64) -> i64, len: i64| crate::stages::ingest::Record {
            number: n,
            terms: (1..=len).map(|i| f(i).to_string()).collect(),
            ..Default::default()
        };
        let targets = vec![
            record(1, |i| i * i, 40),
            record(2, |i| i * i, 30), // too short for the window
            record(3, |i| i * i + i32::from(i == 30) as i64, 40), // differs at term 30
            record(4, |i| 2 * i, 40),
        ];
        let squares = "lambda [ #0 ] ( map ( lambda [ #1 ] ( * ( #1 #1 ) ) #0 ) )";
        let cand = |id: &str| Candidate {
            id: id.into(),
            rank: 0,
            program: squares.into(),
            score: 0.0,
        };
        // A4 would be solved only by hindsight: not a direct solve
        let got = solved_directly(
            &loaded,
            &targets,
            &[
                cand("A000001"),
                cand("A000002"),
                cand("A000003"),
                cand("A000005"),
            ],
        )
        .unwrap();
        assert_eq!(got, BTreeSet::from(["A000001".to_string()]));
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
