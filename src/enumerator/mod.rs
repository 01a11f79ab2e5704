//! Bottom-up enumeration with observational equivalence (docs/enumerate.md).
//!
//! Expressions `E` in the scope of `#1` are built by size, smallest first, and each is kept only
//! when its vector of values at `#1 = 1..L` is new: of all expressions with the same vector, the
//! first (smallest, then in a fixed order) stands for all. Every kept vector is matched against
//! the targets, and a match is spelled as the program `map ( lambda [ #1 ] ( E ) #0 )`.
//!
//! Size counts AST nodes: constants, `#1` and primitive applications are one each; a fold over an
//! index set (`IndexSet`: k ≤ n, k < n, d | n) counts `fold_size` plus its body, whatever its
//! spelled length (the scaffolding of `reduce`, `filter` and two lambdas is the same for every
//! fold). Level s holds:
//! - `sqrt` of level s-1, and `p(a, b)` for `a` of level i and `b` of level s-1-i (commutative
//!   primitives once per unordered pair);
//! - folds (sum from 0, product from 1) over each index set of a fold-free body of level
//!   s - fold_size.
//!
//! Exact semantics: the fast path is `i64`, with an exact fallback through the evaluator's own
//! primitive; a vector with an error anywhere (division by zero, a value beyond the bound, the
//! step budget of the whole program) is an error, as in `verify`. Steps are counted exactly as
//! the evaluator counts them (each expression carries its total over the L positions).
//!
//! Determinism: a level's candidates are computed in parallel, and of several with one vector the
//! one with the smallest order key (kind, left id, right id) is kept, whatever the thread count;
//! the kept ones are then numbered in order-key order.
//!
//! Budgets stop at a level boundary: the last level (`max_size`, or the level the memory budget
//! cannot store) is only matched, not stored; a level that would pass the wall-time limit is not
//! started, and one that passes it while running is discarded.

pub mod body;
pub mod digits;
pub mod expr;
pub mod family;
pub mod fitted;
pub mod hyper;
mod inverse;
mod levels;
pub mod linrec;
mod matching;
pub mod nth;
pub mod precur;
pub mod quasi;
pub mod recurrence;
mod shards;
pub mod targets;
pub mod vals;

use inverse::*;
use levels::*;
use matching::*;
pub use shards::*;

#[cfg(test)]
mod tests;

use crate::dsl::{Evaluator, Num, Prim};
use expr::{fold_steps, FoldOp, IndexSet, Node};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtOrd};
use std::sync::Mutex;
use std::time::Instant;
use targets::{key, Category, IdBuild, TargetIndex};
use vals::{Arith, Computed, Vals};

/// The primitives an expression may apply, in their fixed order.
pub const OPS: [Prim; 9] = [
    Prim::Add,
    Prim::Sub,
    Prim::Mul,
    Prim::Div,
    Prim::Mod,
    Prim::Pow,
    Prim::Min,
    Prim::Max,
    Prim::Sqrt,
];

/// What to enumerate and the budgets.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The largest expression size (AST nodes); this level is matched, not stored.
    pub max_size: u32,
    /// Wall-time limit in seconds (0: none).
    pub max_seconds: f64,
    /// Limit on the bytes of the vector store (vectors, their expressions and the seen set).
    pub max_bytes: u64,
    /// Size of a fold's scaffolding.
    pub fold_size: u32,
    /// The primitives (a subset of [`OPS`]).
    pub ops: Vec<Prim>,
    /// The index sets folds range over (none: no folds).
    pub folds: Vec<IndexSet>,
    /// Candidates kept per target and category.
    pub per_target: usize,
    /// The inverse step's largest first operand (0: no inverse step).
    pub inverse_size: u32,
    /// The loops dialect's families (`None`: the paper dialect, none).
    pub loops: Option<family::LoopsSettings>,
    /// The positions the prefix and the window match on (`dsl.input_len`; 0: the evaluator's
    /// input length). The vectors are the evaluator's length, which may be longer: observational
    /// equivalence then holds over all of it, so an expression that agrees with a kept one on
    /// the matched positions but not later is kept too, and an all-terms match must agree on
    /// the longer vector as far as the target's terms go.
    pub match_len: usize,
    /// The cost of each primitive of [`OPS`], in its order (all 1: size in AST nodes, the
    /// default). A level is then a cost: `p ( a b )` is on level cost(p) + level(a) + level(b)
    /// (Probe's cost-ordered enumeration; `enumerate.costs`, uniform by default).
    pub costs: [u32; 9],
    /// When memory stops storing at level S below `max_size`: go on matching the levels
    /// S+1..=max_size built from the stored levels alone (the combinations of stored
    /// children), as far as `max_seconds` allows. Off: the enumeration ends at S (unsharded only).
    pub deep: bool,
}

/// Uniform costs: levels are sizes in AST nodes.
pub const UNIFORM: [u32; 9] = [1; 9];

/// Why the enumeration ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    MaxSize,
    Time,
    Memory,
}

impl Stop {
    pub fn name(self) -> &'static str {
        match self {
            Stop::MaxSize => "max_size",
            Stop::Time => "max_seconds",
            Stop::Memory => "max_bytes",
        }
    }
}

/// The figures of one size level.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Level {
    pub size: u32,
    /// `stored` (kept for larger sizes) or `matched` (the last level: matched only).
    pub mode: &'static str,
    /// Expressions computed.
    pub evaluated: u64,
    /// Of those, with an evaluation error.
    pub errors: u64,
    /// New distinct vectors (for a matched level: new evaluations, not deduplicated within it).
    pub new: u64,
    /// Distinct vectors stored after the level.
    pub cumulative: u64,
    /// Targets with a candidate by the paper's rule (the window), after the level.
    pub solved_window: usize,
    /// Targets with a candidate equal on every one of the L terms, after the level.
    pub solved_all: usize,
    pub seconds: f64,
    /// Bytes of the vector store after the level.
    pub store_bytes: u64,
    /// The process's peak resident memory so far, where the OS tells it (Linux).
    pub peak_rss: u64,
}

impl Level {
    /// The level's deterministic figures, as text (wall time and memory left out).
    pub fn figures(&self) -> String {
        format!(
            "{}:{}:{}/{}/{}/{}/{}/{}/{}",
            self.size,
            self.mode,
            self.evaluated,
            self.errors,
            self.new,
            self.cumulative,
            self.solved_window,
            self.solved_all,
            self.store_bytes
        )
    }
}

/// One candidate program for one target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub category: Category,
    pub size: u32,
    order: u128,
    key: u128,
    pub program: String,
}

/// The figures of the inverse step.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Inverse {
    /// Matches found.
    pub found: u64,
    /// Targets solved after it, by the window and on all L terms.
    pub solved_window: usize,
    pub solved_all: usize,
    pub seconds: f64,
}

/// What an enumeration produced.
pub struct Outcome {
    pub levels: Vec<Level>,
    pub inverse: Option<Inverse>,
    /// The loops dialect's families, in the order they ran (none in the paper dialect, and
    /// none in a shard's part: the merge runs them).
    pub families: Vec<family::FamilyFigures>,
    pub stop: Stop,
    /// The largest size completed.
    pub completed: u32,
    /// Why it stopped, in words.
    pub reason: String,
    /// Per target (in input order): its candidates, best first (all terms, then the window,
    /// then the prefix; smaller first within each).
    pub candidates: Vec<Vec<Candidate>>,
}

/// Progress events (for a progress bar).
pub enum Progress<'a> {
    /// A level starts: its size and how many expressions it computes.
    Start(u32, u64),
    /// That many more computed.
    Advance(u64),
    /// A level is done.
    Done(&'a Level),
}

/// Checks the settings; names the setting that is wrong.
pub fn validate(s: &Settings, input_len: usize, split: usize) -> Result<(), String> {
    if s.max_size == 0 || s.max_size > MAX_SIZE {
        return Err(format!(
            "enumerate.max_size must be in 1..={MAX_SIZE}, not {}",
            s.max_size
        ));
    }
    if s.per_target == 0 {
        return Err("enumerate.per_target must be at least 1".into());
    }
    if let Some(c) = s.costs.iter().find(|&&c| c == 0 || c > 8) {
        return Err(format!(
            "enumerate.costs: a primitive's cost must be in 1..=8, not {c}"
        ));
    }
    if s.fold_size == 0 && !s.folds.is_empty() {
        return Err("enumerate.fold_size must be at least 1".into());
    }
    if input_len > MAX_LEN {
        return Err(format!(
            "enumerate keeps a vector of dsl.input_len = {input_len} values per expression; at most {MAX_LEN}"
        ));
    }
    if split == 0 || split >= input_len {
        return Err(format!(
            "enumerate matches the window after train.input_terms = {split} terms of dsl.input_len = {input_len}: it must be in 1..{input_len}"
        ));
    }
    Ok(())
}

/// The largest `max_size` (far past what any budget reaches: level sizes grow exponentially).
pub const MAX_SIZE: u32 = 64;

/// The longest input the enumerator takes.
pub const MAX_LEN: usize = 1000;

const BIG: u32 = 1 << 31;
const SHARDS: usize = 64;
/// The leaves: `#1` and the constants 0..9.
const LEAVES: u64 = 11;
/// Expressions computed per parallel task.
const TASK: u64 = 1 << 15;

/// Distinct expressions, in id order, with their vectors.
struct Arena {
    len: usize,
    nodes: Vec<Node>,
    /// Total steps over the L positions.
    steps: Vec<u64>,
    folded: Vec<bool>,
    /// Index into `small` (× len) or, with the `BIG` bit, into `big`.
    slot: Vec<u32>,
    small: Vec<i64>,
    big: Vec<Vec<Num>>,
    /// Id range per size (index 0 unused).
    levels: Vec<(u32, u32)>,
    /// Every stored vector's identity → its id.
    seen: HashMap<u128, u32, IdBuild>,
    /// Window hash → the first stored id with that window (for the inverse step).
    by_window: HashMap<u64, u32, IdBuild>,
    /// P, and the window's end (`len` unless the vectors are longer than what is matched).
    split: usize,
    match_len: usize,
}

impl Arena {
    fn vals(&self, id: u32) -> Vals<'_> {
        let s = self.slot[id as usize];
        if s & BIG != 0 {
            Vals::Big(&self.big[(s & !BIG) as usize])
        } else {
            let i = s as usize * self.len;
            Vals::Small(&self.small[i..i + self.len])
        }
    }

    fn level(&self, size: u32) -> std::ops::Range<u32> {
        match self.levels.get(size as usize) {
            Some(&(a, b)) => a..b,
            None => 0..0,
        }
    }

    fn count(&self) -> u64 {
        self.nodes.len() as u64
    }

    /// Bytes held: vectors, per-expression data and the seen set.
    fn bytes(&self) -> u64 {
        let big: u64 = self
            .big
            .iter()
            .map(|v| 24 + v.iter().map(num_bytes).sum::<u64>())
            .sum();
        self.small.len() as u64 * 8
            + big
            + self.count() * PER_ENTRY
            + self.seen.len() as u64 * (24 + 8)
            + self.by_window.len() as u64 * 16
    }
}

/// Bytes per stored expression besides its vector: node, steps, flag, slot.
const PER_ENTRY: u64 = 12 + 8 + 1 + 4;
/// Bytes per pending expression of a level being built, besides its vector.
const PER_PENDING: u64 = 16 + 16 + 12 + 8 + 1 + 4 + 24;

fn num_bytes(n: &Num) -> u64 {
    match n {
        Num::Small(_) => 16,
        Num::Big(b) => 16 + 32 + b.bits() / 8,
    }
}

/// Runs the enumeration against `targets` (each target's known terms).
pub fn enumerate(
    settings: &Settings,
    ev: &Evaluator,
    split: usize,
    targets: Vec<Vec<Num>>,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Outcome, String> {
    run(settings, ev, split, targets, progress, false, Part::Whole).map(|(o, _, _)| o)
}

/// A part of the enumeration ([`Part`]): a shard's part (`Some`), or the whole outcome.
pub fn enumerate_part(
    settings: &Settings,
    ev: &Evaluator,
    split: usize,
    targets: Vec<Vec<Num>>,
    progress: &(dyn Fn(Progress) + Sync),
    part: Part,
) -> Result<(Outcome, Option<ShardPart>), String> {
    run(settings, ev, split, targets, progress, false, part).map(|(o, _, p)| (o, p))
}

/// Every distinct vector of the sizes up to `settings.max_size` (all stored), with its size and
/// its representative program, in id order: what observational equivalence keeps.
pub fn distinct(
    settings: &Settings,
    ev: &Evaluator,
    split: usize,
) -> Result<Vec<(u32, String, Vec<Num>)>, String> {
    let (_, arena, _) = run(settings, ev, split, Vec::new(), &|_| {}, true, Part::Whole)?;
    let mut out = Vec::new();
    for size in 1..arena.levels.len() as u32 {
        for id in arena.level(size) {
            out.push((
                size,
                expr::program(&arena.nodes, id),
                arena.vals(id).to_nums(),
            ));
        }
    }
    Ok(out)
}

fn run(
    settings: &Settings,
    ev: &Evaluator,
    split: usize,
    targets: Vec<Vec<Num>>,
    progress: &(dyn Fn(Progress) + Sync),
    store_last: bool,
    part: Part,
) -> Result<(Outcome, Arena, Option<ShardPart>), String> {
    let len = ev.limits().input_len;
    let match_len = if settings.match_len == 0 {
        len
    } else {
        settings.match_len
    };
    if match_len > len {
        return Err(format!(
            "enumerate matches {match_len} terms, more than the evaluator's input length {len}"
        ));
    }
    validate(settings, match_len, split)?;
    if let Part::Shard { index, count } = part {
        if count == 0 || index >= count {
            return Err(format!("enumerate shard {index}/{count}: no such shard"));
        }
    }
    if let Part::Merge(parts) = part {
        if parts.is_empty() {
            return Err("enumerate: a merge needs the shards' parts".into());
        }
        for (i, p) in parts.iter().enumerate() {
            if let Some(h) = p.hits.iter().find(|h| h.target as usize >= targets.len()) {
                return Err(format!(
                    "enumerate merge: shard {i} has a match for target {} of {} (shards of another config?)",
                    h.target,
                    targets.len()
                ));
            }
            if settings.inverse_size == 0 && p.hits.iter().any(|h| h.inverse) {
                return Err(format!(
                    "enumerate merge: shard {i} has inverse-step matches, where this enumeration has no inverse step (shards of another config?)"
                ));
            }
        }
    }
    let started = Instant::now();
    // a limit too large for an `Instant` is no limit; a merge does not stop for time (its
    // shards kept to the limit, and it must reach the level they matched)
    let deadline = (settings.max_seconds > 0.0 && !matches!(part, Part::Merge(_)))
        .then(|| std::time::Duration::try_from_secs_f64(settings.max_seconds).ok())
        .flatten()
        .and_then(|d| started.checked_add(d));
    let terms = targets;
    let index = TargetIndex::with_long(terms.clone(), split, match_len, len);
    let mut inverse_stats = None;
    let mut shard_part: Option<ShardPart> = None;
    let mut arena = Arena {
        len,
        nodes: Vec::new(),
        steps: Vec::new(),
        folded: Vec::new(),
        slot: Vec::new(),
        small: Vec::new(),
        big: Vec::new(),
        levels: vec![(0, 0)],
        seen: HashMap::default(),
        by_window: HashMap::default(),
        split,
        match_len,
    };
    // a fold's predicate computes n + 1 (prefix) or n mod k (divisors): with a bound below those
    // values the evaluator rejects the fold, so the family is left out
    let bound = ev.small_bound().unwrap_or(u64::MAX);
    let mut sets: Vec<(IndexSet, Vec<Vec<u32>>)> = Vec::new();
    for &f in &settings.folds {
        let largest = match f {
            IndexSet::Prefix => len as u64 + 1,
            IndexSet::Divisors => len as u64,
            IndexSet::Before => 0,
        };
        if largest <= bound && !sets.iter().any(|(s, _)| *s == f) {
            sets.push((f, f.members(len)));
        }
    }
    let mut best: Vec<Vec<Candidate>> = vec![Vec::new(); index.len()];
    let mut levels: Vec<Level> = Vec::new();
    let mut stop = Stop::MaxSize;
    let mut reason = format!("reached enumerate.max_size = {}", settings.max_size);
    let mut completed = 0;
    // seconds per computed expression, from the last level large enough to time
    let mut rate: Option<f64> = None;
    let mut size = 1;
    let mut match_only_from = if store_last {
        u32::MAX
    } else {
        settings.max_size
    };
    while size <= settings.max_size {
        let all_jobs = jobs(&arena, settings, &sets, size);
        let all_work: u64 = all_jobs.iter().map(Job::work).sum();
        // can the level be stored?
        let mut stored = size < match_only_from;
        if stored {
            let estimate = estimate_new(&levels, all_work);
            let need =
                arena.bytes() + estimate * (2 * len as u64 * 8 + PER_ENTRY + PER_PENDING + 20);
            if need > settings.max_bytes {
                stored = false;
                match_only_from = size;
            }
        }
        // a matched level is the work that splits; a stored one every part computes whole
        let mine = |stored: bool| -> Vec<Job> {
            all_jobs
                .iter()
                .enumerate()
                .filter(|&(j, _)| stored || part.owns(j))
                .map(|(_, job)| job.clone())
                .collect()
        };
        let jobs = mine(stored);
        let work: u64 = jobs.iter().map(Job::work).sum();
        if let (Some(d), Some(r)) = (deadline, rate) {
            let eta = r * work as f64;
            let done = std::time::Duration::try_from_secs_f64(eta)
                .ok()
                .and_then(|e| Instant::now().checked_add(e));
            if done.is_none_or(|t| t > d) {
                let why = format!(
                    "size {size} would compute {work} expressions, about {eta:.0} s, past enumerate.max_seconds = {}",
                    settings.max_seconds
                );
                if size > match_only_from {
                    // the deep levels end here; what came before them is whole
                    reason = format!("{reason}; {why}");
                } else {
                    stop = Stop::Time;
                    reason = why;
                }
                break;
            }
        }
        let level_started = Instant::now();
        progress(Progress::Start(size, work));
        let full = full_categories(&best, settings.per_target);
        let matched = |jobs: &[Job]| -> Result<LevelResult, String> {
            let Part::Merge(parts) = part else {
                return Ok(build_level(
                    &arena, settings, &sets, ev, &index, jobs, false, deadline, size, &full,
                    progress,
                ));
            };
            // the shards' parts of this level, checked to be parts of this very enumeration
            let mine = stored_fingerprint(&levels);
            let (mut hits, mut evaluated, mut errors, mut new) = (Vec::new(), 0, 0, 0);
            for (i, p) in parts.iter().enumerate() {
                if p.size != size || p.stored != mine {
                    return Err(format!(
                        "enumerate merge: shard {i} of {} matched size {} after stored levels [{}], where this enumeration matches size {size} after [{mine}] (shards of another config?)",
                        parts.len(),
                        p.size,
                        p.stored
                    ));
                }
                evaluated += p.evaluated;
                errors += p.errors;
                new += p.new;
                hits.extend(p.hits.iter().filter(|h| !h.inverse).map(ShardHit::to_hit));
            }
            Ok(LevelResult::Done(
                hits,
                LevelCounts::Matched(evaluated, errors, new),
            ))
        };
        let mut result = if stored {
            build_level(
                &arena, settings, &sets, ev, &index, &jobs, true, deadline, size, &full, progress,
            )
        } else {
            matched(&jobs)?
        };
        if matches!(result, LevelResult::OutOfMemory) {
            // the estimate was short: the level is the last one, matched only
            stored = false;
            match_only_from = size;
            result = matched(&mine(false))?;
        }
        let (hits, counts) = match result {
            LevelResult::Done(hits, counts) => (hits, counts),
            LevelResult::TimeUp => {
                let why = format!(
                    "size {size} passed enumerate.max_seconds = {} while running; it is discarded",
                    settings.max_seconds
                );
                if size > match_only_from {
                    reason = format!("{reason}; {why}");
                } else {
                    stop = Stop::Time;
                    reason = why;
                }
                break;
            }
            LevelResult::OutOfMemory => unreachable!("a matched level stores nothing"),
        };
        let (hits, new) = match counts {
            LevelCounts::Stored(shards, evaluated, errors) => {
                let new = commit(&mut arena, shards, size);
                let hits = match_level(&arena, &index, size, &full, settings.per_target);
                (hits, (new, evaluated, errors))
            }
            LevelCounts::Matched(evaluated, errors, new) => (hits, (new, evaluated, errors)),
        };
        let mut seconds = level_started.elapsed().as_secs_f64();
        if !stored {
            match part {
                Part::Shard { .. } => {
                    shard_part = Some(ShardPart {
                        stored: stored_fingerprint(&levels),
                        size,
                        evaluated: new.1,
                        errors: new.2,
                        new: new.0,
                        seconds,
                        inverse_found: None,
                        hits: hits.iter().map(|h| h.to_shard(&arena, false)).collect(),
                    });
                }
                Part::Merge(parts) => {
                    seconds = parts.iter().map(|p| p.seconds).fold(0.0, f64::max);
                }
                Part::Whole => {}
            }
        }
        merge(&arena, &mut best, hits, settings.per_target);
        if new.1 >= 100_000 {
            rate = Some(seconds / new.1 as f64);
        }
        let level = Level {
            size,
            mode: if stored { "stored" } else { "matched" },
            evaluated: new.1,
            errors: new.2,
            new: new.0,
            cumulative: arena.count(),
            solved_window: solved(&best, Category::Window),
            solved_all: solved(&best, Category::All),
            seconds,
            store_bytes: arena.bytes(),
            peak_rss: peak_rss(),
        };
        progress(Progress::Done(&level));
        levels.push(level);
        completed = size;
        if !stored {
            if size < settings.max_size {
                stop = Stop::Memory;
                reason = format!(
                    "storing size {size} would pass enumerate.max_bytes = {}; it was matched only",
                    settings.max_bytes
                );
                if settings.deep {
                    if !matches!(part, Part::Whole) {
                        return Err(format!(
                            "enumerate: matching past the stored levels (enumerate.deep) is not sharded; storing size {size} would pass enumerate.max_bytes = {}: run unsharded or set enumerate.max_size = {size}",
                            settings.max_bytes
                        ));
                    }
                    // the next levels, matched from the stored ones
                    reason = format!(
                        "{reason}, and the sizes after it from the stored sizes 1..{} alone",
                        match_only_from - 1
                    );
                    size += 1;
                    continue;
                }
            }
            break;
        }
        size += 1;
    }
    if let (Part::Shard { index, count }, Stop::Time) = (part, stop) {
        return Err(format!(
            "enumerate shard {index}/{count} stopped at the wall-time limit ({reason}): a time-limited part cannot be merged into the unsharded result; raise enumerate.max_seconds or use more shards"
        ));
    }
    if settings.inverse_size > 0 && stop != Stop::Time {
        let started = Instant::now();
        let (hits, found) = match part {
            Part::Whole | Part::Shard { .. } => {
                let hits = inverse(&arena, settings, ev, &index, &terms, &|t| part.owns(t));
                let found = hits.len() as u64;
                if let Some(p) = &mut shard_part {
                    p.inverse_found = Some(found);
                    p.hits.extend(hits.iter().map(|h| h.to_shard(&arena, true)));
                }
                (hits, found)
            }
            Part::Merge(parts) => {
                let mut found = 0;
                for (i, p) in parts.iter().enumerate() {
                    found += p.inverse_found.ok_or_else(|| {
                        format!("enumerate merge: shard {i} has no inverse step (shards of another config?)")
                    })?;
                }
                let hits = parts
                    .iter()
                    .flat_map(|p| p.hits.iter().filter(|h| h.inverse))
                    .map(ShardHit::to_hit)
                    .collect();
                (hits, found)
            }
        };
        merge(&arena, &mut best, hits, settings.per_target);
        inverse_stats = Some(Inverse {
            found,
            solved_window: solved(&best, Category::Window),
            solved_all: solved(&best, Category::All),
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let mut families = Vec::new();
    if let (Some(ls), false, false) = (
        &settings.loops,
        stop == Stop::Time,
        matches!(part, Part::Shard { .. }),
    ) {
        type Family =
            fn(&family::LoopsSettings, &family::Common) -> (Vec<Hit>, family::FamilyFigures);
        // (on, the family, fitted: its matches come beside the kept candidates)
        let all: [(bool, Family, bool); 8] = [
            (ls.loop_body > 0, recurrence::loop_family, false),
            (ls.loop2_body > 0, recurrence::loop2_family, false),
            (ls.nth_expr > 0, nth::nth_family, false),
            (ls.linrec_order > 0, linrec::linrec_family, true),
            (ls.hyper_degree > 0, hyper::hyper_family, true),
            (ls.precur_degree > 0, precur::precur_family, true),
            (ls.quasi_period > 0, quasi::quasi_family, true),
            (ls.decimal_digits > 0, digits::digits_family, true),
        ];
        for (on, run_family, fitted) in all {
            if !on {
                continue;
            }
            let full = full_categories(&best, settings.per_target);
            let common = family::Common {
                ev,
                index: &index,
                full: &full,
                per_target: settings.per_target,
            };
            let (hits, mut fig) = run_family(ls, &common);
            if fitted {
                merge_extra(&arena, &mut best, hits, settings.per_target);
            } else {
                merge(&arena, &mut best, hits, settings.per_target);
            }
            fig.solved_window = solved(&best, Category::Window);
            fig.solved_all = solved(&best, Category::All);
            families.push(fig);
        }
    }
    for c in &mut best {
        c.sort_by_key(|a| (a.category, a.size, a.order));
    }
    let outcome = Outcome {
        levels,
        inverse: inverse_stats,
        families,
        stop,
        completed,
        reason,
        candidates: best,
    };
    if matches!(part, Part::Shard { .. }) && shard_part.is_none() {
        return Err("enumerate shard: the enumeration ended without a matched level".into());
    }
    Ok((outcome, arena, shard_part))
}

/// Peak resident memory of this process in bytes (0 where unknown).
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
