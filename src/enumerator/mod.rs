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
pub mod expr;
pub mod family;
pub mod nth;
pub mod recurrence;
pub mod targets;
pub mod vals;

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
}

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

/// Which part of the work a call does (`enumerate#i/N`, docs/distributed.md).
#[derive(Clone, Copy, Debug)]
pub enum Part<'a> {
    /// All of it.
    Whole,
    /// Shard `index` of `count`: the stored levels in full (every shard needs them), then the
    /// last level's jobs `j` with `j mod count = index`, and the inverse step for the targets
    /// `t` with `t mod count = index`.
    Shard { index: u32, count: u32 },
    /// The whole outcome from every shard's part: the stored levels computed again, the last
    /// level's and the inverse step's matches taken from the shards. The same outcome as
    /// [`Part::Whole`], since a level's matches are the union of its jobs' matches and the
    /// inverse step's are the union of its targets'.
    Merge(&'a [ShardPart]),
}

impl Part<'_> {
    /// Whether this part computes item `i` of the split work (the last level's job `i`, the
    /// inverse step's target `i`): the whole all of them, shard k of N every N-th from k, a
    /// merge none (it takes them from the shards).
    fn owns(&self, i: usize) -> bool {
        match *self {
            Part::Whole => true,
            Part::Shard { index, count } => i as u64 % u64::from(count) == u64::from(index),
            Part::Merge(_) => false,
        }
    }
}

/// What one shard computed of the last level and of the inverse step.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardPart {
    /// The stored levels' figures as the shard computed them ([`stored_fingerprint`]): the
    /// merge checks that its own are the same.
    pub stored: String,
    /// The last (matched) level's size.
    pub size: u32,
    /// The shard's part of the last level's figures.
    pub evaluated: u64,
    pub errors: u64,
    pub new: u64,
    pub seconds: f64,
    /// The shard's inverse matches (`None`: no inverse step).
    pub inverse_found: Option<u64>,
    /// The matches, in no particular order.
    pub hits: Vec<ShardHit>,
}

/// A match found by a shard, its program spelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardHit {
    /// Found by the inverse step (else by the last level).
    pub inverse: bool,
    pub target: u32,
    pub category: Category,
    pub size: u32,
    pub order: u128,
    pub key: u128,
    pub program: String,
}

/// The deterministic figures of the stored levels, as text (wall times and memory left out).
pub fn stored_fingerprint(levels: &[Level]) -> String {
    levels
        .iter()
        .filter(|l| l.mode == "stored")
        .map(Level::figures)
        .collect::<Vec<_>>()
        .join(" ")
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

/// A unit of parallel work: candidates of one kind.
#[derive(Clone, Debug)]
enum Job {
    /// Size 1: `#1`, then the constants 0..9.
    Leaves,
    Unary(Prim, std::ops::Range<u32>),
    /// Left ids × right ids; `half`: only b ≥ a (a commutative primitive within one level).
    Binary {
        prim: Prim,
        left: std::ops::Range<u32>,
        right: std::ops::Range<u32>,
        half: bool,
    },
    Fold(IndexSet, FoldOp, std::ops::Range<u32>),
}

impl Job {
    fn work(&self) -> u64 {
        match self {
            Job::Leaves => LEAVES,
            Job::Unary(_, r) | Job::Fold(_, _, r) => r.len() as u64,
            Job::Binary {
                left, right, half, ..
            } => {
                if *half {
                    left.clone()
                        .map(|a| (right.end - a.max(right.start)) as u64)
                        .sum()
                } else {
                    left.len() as u64 * right.len() as u64
                }
            }
        }
    }
}

fn commutative(p: Prim) -> bool {
    matches!(p, Prim::Add | Prim::Mul | Prim::Min | Prim::Max)
}

fn kind(p: Prim) -> u128 {
    OPS.iter()
        .position(|&o| o == p)
        .expect("an enumerated primitive") as u128
}

fn fold_kind(set: IndexSet, op: FoldOp) -> u128 {
    16 + 2 * set as u128 + op as u128
}

fn order(kind: u128, a: u32, b: u32) -> u128 {
    (kind << 64) | ((a as u128) << 32) | b as u128
}

/// A candidate expression that passed the checks, with its vector in the task's buffer.
struct Found<'a> {
    node: Node,
    order: u128,
    steps: u64,
    folded: bool,
    key: u128,
    vals: Vals<'a>,
}

/// An expression of the level being built.
struct Pending {
    key: u128,
    order: u128,
    node: Node,
    steps: u64,
    folded: bool,
    /// Index into the shard's `small` (× len) or, with `BIG`, its `big`.
    slot: u32,
}

#[derive(Default)]
struct Shard {
    map: HashMap<u128, u32, IdBuild>,
    entries: Vec<Pending>,
    small: Vec<i64>,
    big: Vec<Vec<Num>>,
}

/// A match found while building a level.
struct Hit {
    target: u32,
    category: Category,
    size: u32,
    order: u128,
    key: u128,
    expr: Expr,
}

/// A hit's expression.
enum Expr {
    /// A node whose children are in the arena.
    Node(Node),
    /// The program, as a shard spelled it.
    Spelled(String),
}

impl Expr {
    fn spell(&self, arena: &Arena) -> String {
        match self {
            Expr::Node(n) => spell_new(arena, *n),
            Expr::Spelled(p) => p.clone(),
        }
    }
}

/// Collects a task's hits, in increasing order, keeping per target and category only the first
/// `per_target` distinct vectors (the only ones that can be kept) and none for a target and
/// category that earlier levels already filled.
struct Hits<'a> {
    full: &'a [[bool; 3]],
    per_target: usize,
    kept: HashMap<(u32, Category), Vec<u128>>,
    hits: Vec<Hit>,
}

impl<'a> Hits<'a> {
    fn new(full: &'a [[bool; 3]], per_target: usize) -> Self {
        Hits {
            full,
            per_target,
            kept: HashMap::new(),
            hits: Vec::new(),
        }
    }

    /// Whether a hit of this target, category and vector would be kept by [`Hits::push`].
    fn wants(&self, target: u32, category: Category, key: u128) -> bool {
        if self.full[target as usize][category as usize] {
            return false;
        }
        self.kept
            .get(&(target, category))
            .is_none_or(|keys| keys.len() < self.per_target && !keys.contains(&key))
    }

    fn push(&mut self, h: Hit) {
        if self.full[h.target as usize][h.category as usize] {
            return;
        }
        let keys = self.kept.entry((h.target, h.category)).or_default();
        if keys.len() >= self.per_target || keys.contains(&h.key) {
            return;
        }
        keys.push(h.key);
        self.hits.push(h);
    }
}

struct Counts {
    evaluated: AtomicU64,
    errors: AtomicU64,
    new: AtomicU64,
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
                stop = Stop::Time;
                reason = format!(
                    "size {size} would compute {work} expressions, about {eta:.0} s, past enumerate.max_seconds = {}",
                    settings.max_seconds
                );
                break;
            }
        }
        let level_started = Instant::now();
        progress(Progress::Start(size, work));
        let full: Vec<[bool; 3]> = best
            .iter()
            .map(|c| {
                let n = |k| c.iter().filter(|c| c.category == k).count() >= settings.per_target;
                [n(Category::All), n(Category::Window), n(Category::Prefix)]
            })
            .collect();
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
                stop = Stop::Time;
                reason = format!(
                    "size {size} passed enumerate.max_seconds = {} while running; it is discarded",
                    settings.max_seconds
                );
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
            fn(&family::LoopsSettings, &recurrence::Common) -> (Vec<Hit>, family::FamilyFigures);
        let all: [(bool, Family); 3] = [
            (ls.loop_body > 0, recurrence::loop_family),
            (ls.loop2_body > 0, recurrence::loop2_family),
            (ls.nth_expr > 0, nth::nth_family),
        ];
        for (on, run_family) in all {
            if !on {
                continue;
            }
            let full: Vec<[bool; 3]> = best
                .iter()
                .map(|c| {
                    let n = |k| c.iter().filter(|c| c.category == k).count() >= settings.per_target;
                    [n(Category::All), n(Category::Window), n(Category::Prefix)]
                })
                .collect();
            let common = recurrence::Common {
                ev,
                index: &index,
                full: &full,
                per_target: settings.per_target,
            };
            let (hits, mut fig) = run_family(ls, &common);
            merge(&arena, &mut best, hits, settings.per_target);
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

impl Hit {
    fn to_shard(&self, arena: &Arena, inverse: bool) -> ShardHit {
        ShardHit {
            inverse,
            target: self.target,
            category: self.category,
            size: self.size,
            order: self.order,
            key: self.key,
            program: self.expr.spell(arena),
        }
    }
}

impl ShardHit {
    fn to_hit(&self) -> Hit {
        Hit {
            target: self.target,
            category: self.category,
            size: self.size,
            order: self.order,
            key: self.key,
            expr: Expr::Spelled(self.program.clone()),
        }
    }
}

/// Adds a hit of one target to that target's hits, keeping per category only the `per_target`
/// smallest distinct vectors (and per vector the smallest program).
fn keep(hits: &mut Vec<Hit>, h: Hit, per_target: usize) {
    let rank = |h: &Hit| (h.size, h.order);
    if let Some(old) = hits.iter_mut().find(|o| o.key == h.key) {
        if rank(&h) < rank(old) {
            *old = h;
        }
        return;
    }
    let same: Vec<usize> = (0..hits.len())
        .filter(|&i| hits[i].category == h.category)
        .collect();
    if same.len() < per_target {
        hits.push(h);
        return;
    }
    let worst = *same
        .iter()
        .max_by_key(|&&i| rank(&hits[i]))
        .expect("a full category");
    if rank(&h) < rank(&hits[worst]) {
        hits[worst] = h;
    }
}

/// Targets with a candidate of this category or a better one.
fn solved(best: &[Vec<Candidate>], at_least: Category) -> usize {
    best.iter()
        .filter(|c| c.iter().any(|c| c.category <= at_least))
        .count()
}

/// New distinct vectors a level may add: the last level's count times its growth, at most the
/// level's work.
fn estimate_new(levels: &[Level], work: u64) -> u64 {
    let news: Vec<u64> = levels
        .iter()
        .filter(|l| l.mode == "stored")
        .map(|l| l.new.max(1))
        .collect();
    let est = match news.as_slice() {
        [.., a, b] => (*b as f64 * (*b as f64 / *a as f64).max(1.0)) as u64,
        [b] => *b * 10,
        [] => 0,
    };
    est.min(work)
}

/// The jobs of level `size`, in order-key order.
fn jobs(arena: &Arena, s: &Settings, sets: &[(IndexSet, Vec<Vec<u32>>)], size: u32) -> Vec<Job> {
    if size == 1 {
        return vec![Job::Leaves];
    }
    let mut jobs = Vec::new();
    let chunks = |r: std::ops::Range<u32>, per: u64| -> Vec<std::ops::Range<u32>> {
        let step = (TASK / per.max(1)).max(1) as u32;
        (r.start..r.end)
            .step_by(step as usize)
            .map(|a| a..(a + step).min(r.end))
            .collect()
    };
    for &p in OPS.iter().filter(|p| s.ops.contains(p)) {
        if p == Prim::Sqrt {
            for c in chunks(arena.level(size - 1), 1) {
                jobs.push(Job::Unary(p, c));
            }
            continue;
        }
        for i in 1..size - 1 {
            let j = size - 1 - i;
            if commutative(p) && i > j {
                continue;
            }
            let (left, right) = (arena.level(i), arena.level(j));
            for c in chunks(left, right.len() as u64) {
                jobs.push(Job::Binary {
                    prim: p,
                    left: c,
                    right: right.clone(),
                    half: commutative(p) && i == j,
                });
            }
        }
    }
    if size > s.fold_size {
        for (set, _) in sets {
            for op in FoldOp::ALL {
                for c in chunks(arena.level(size - s.fold_size), 1) {
                    jobs.push(Job::Fold(*set, op, c));
                }
            }
        }
    }
    jobs
}

enum LevelCounts {
    Stored(Vec<Shard>, u64, u64),
    Matched(u64, u64, u64),
}

enum LevelResult {
    Done(Vec<Hit>, LevelCounts),
    TimeUp,
    OutOfMemory,
}

#[allow(clippy::too_many_arguments)]
fn build_level(
    arena: &Arena,
    s: &Settings,
    sets: &[(IndexSet, Vec<Vec<u32>>)],
    ev: &Evaluator,
    index: &TargetIndex,
    jobs: &[Job],
    stored: bool,
    deadline: Option<Instant>,
    size: u32,
    full: &[[bool; 3]],
    progress: &(dyn Fn(Progress) + Sync),
) -> LevelResult {
    let len = arena.len;
    let max_steps = ev.limits().max_steps;
    let shards: Vec<Mutex<Shard>> = (0..SHARDS).map(|_| Mutex::default()).collect();
    let counts = Counts {
        evaluated: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        new: AtomicU64::new(0),
    };
    let pending_bytes = AtomicU64::new(0);
    let budget = s.max_bytes.saturating_sub(arena.bytes());
    let (time_up, out_of_memory) = (AtomicBool::new(false), AtomicBool::new(false));
    let hits: Mutex<Vec<Hit>> = Mutex::new(Vec::new());
    let ar = Arith::new(ev);
    // what to do with a candidate that computed to a fresh vector
    let accept = |f: Found, local_hits: &mut Hits| {
        if arena.seen.contains_key(&f.key) {
            return;
        }
        if !stored {
            counts.new.fetch_add(1, AtOrd::Relaxed);
            index.matches(f.vals, index.match_key(f.vals, f.key), |t, category| {
                local_hits.push(Hit {
                    target: t,
                    category,
                    size,
                    order: f.order,
                    key: f.key,
                    expr: Expr::Node(f.node),
                })
            });
            return;
        }
        let mut sh = shards[(f.key >> 64) as usize % SHARDS]
            .lock()
            .expect("a shard lock");
        let sh = &mut *sh;
        if let Some(&i) = sh.map.get(&f.key) {
            let slot = sh.entries[i as usize].slot;
            let same = match f.vals {
                Vals::Small(v) if slot & BIG == 0 => {
                    let k = slot as usize * len;
                    sh.small[k..k + len] == *v
                }
                Vals::Big(v) if slot & BIG != 0 => sh.big[(slot & !BIG) as usize] == v,
                _ => false,
            };
            if !same {
                // a 128-bit collision: the second vector is dropped, never mislabelled
                return;
            }
            let e = &mut sh.entries[i as usize];
            if f.order < e.order {
                (e.order, e.node, e.steps, e.folded) = (f.order, f.node, f.steps, f.folded);
            }
            return;
        }
        let slot = match f.vals {
            Vals::Small(v) => {
                sh.small.extend_from_slice(v);
                (sh.small.len() / len - 1) as u32
            }
            Vals::Big(v) => {
                sh.big.push(v.to_vec());
                (sh.big.len() - 1) as u32 | BIG
            }
        };
        sh.map.insert(f.key, sh.entries.len() as u32);
        sh.entries.push(Pending {
            key: f.key,
            order: f.order,
            node: f.node,
            steps: f.steps,
            folded: f.folded,
            slot,
        });
        let vector = match f.vals {
            Vals::Small(_) => len as u64 * 8,
            Vals::Big(v) => 24 + v.iter().map(num_bytes).sum::<u64>(),
        };
        let b = pending_bytes.fetch_add(vector + PER_PENDING + 20, AtOrd::Relaxed);
        if 2 * b > budget {
            out_of_memory.store(true, AtOrd::Relaxed);
        }
    };
    // one candidate: checks, computes, accepts
    let run_one = |node: Node,
                   order: u128,
                   steps: u64,
                   folded: bool,
                   buf: &mut [i64],
                   local: &mut Hits,
                   compute: &dyn Fn(&mut [i64]) -> Computed| {
        if 1 + len as u64 + steps > max_steps {
            counts.errors.fetch_add(1, AtOrd::Relaxed);
            return;
        }
        let big;
        let vals = match compute(buf) {
            Computed::Small => Vals::Small(buf),
            Computed::Big(v) => {
                big = v;
                Vals::Big(&big)
            }
            Computed::Error => {
                counts.errors.fetch_add(1, AtOrd::Relaxed);
                return;
            }
        };
        let key = key(vals, index.split());
        accept(
            Found {
                node,
                order,
                steps,
                folded,
                key,
                vals,
            },
            local,
        );
    };
    let l = len as u64;
    let task = |job: &Job| {
        if time_up.load(AtOrd::Relaxed) || out_of_memory.load(AtOrd::Relaxed) {
            return;
        }
        // the leaves are always computed: a level of 11 cannot pass any limit
        if !matches!(job, Job::Leaves) && deadline.is_some_and(|d| Instant::now() > d) {
            time_up.store(true, AtOrd::Relaxed);
            return;
        }
        let mut buf = vec![0i64; len];
        let mut local = Hits::new(full, s.per_target);
        let work = job.work();
        match job {
            Job::Leaves => {
                for (i, node) in std::iter::once(Node::Var)
                    .chain((0..10).map(Node::Const))
                    .enumerate()
                {
                    run_one(
                        node,
                        i as u128,
                        0,
                        false,
                        &mut buf,
                        &mut local,
                        &|out: &mut [i64]| {
                            for (n, o) in out.iter_mut().enumerate() {
                                *o = match node {
                                    Node::Var => n as i64 + 1,
                                    Node::Const(c) => c as i64,
                                    _ => unreachable!("a leaf"),
                                };
                            }
                            Computed::Small
                        },
                    );
                }
            }
            Job::Unary(p, ids) => {
                for a in ids.clone() {
                    let va = arena.vals(a);
                    run_one(
                        Node::Unary(*p, a),
                        order(kind(*p), a, 0),
                        arena.steps[a as usize] + l,
                        arena.folded[a as usize],
                        &mut buf,
                        &mut local,
                        &|out| ar.binary(*p, va, va, out),
                    );
                }
            }
            Job::Binary {
                prim,
                left,
                right,
                half,
            } => {
                let p = *prim;
                for a in left.clone() {
                    let va = arena.vals(a);
                    let from = if *half {
                        a.max(right.start)
                    } else {
                        right.start
                    };
                    for b in from..right.end {
                        // a - a, a / a, a % a, min and max of a with itself: never new
                        if a == b
                            && matches!(
                                p,
                                Prim::Sub | Prim::Div | Prim::Mod | Prim::Min | Prim::Max
                            )
                        {
                            continue;
                        }
                        let vb = arena.vals(b);
                        run_one(
                            Node::Binary(p, a, b),
                            order(kind(p), a, b),
                            arena.steps[a as usize] + arena.steps[b as usize] + l,
                            arena.folded[a as usize] || arena.folded[b as usize],
                            &mut buf,
                            &mut local,
                            &|out| ar.binary(p, va, vb, out),
                        );
                    }
                }
            }
            Job::Fold(set, op, ids) => {
                let members = &sets.iter().find(|(s, _)| s == set).expect("a set").1;
                for a in ids.clone() {
                    if arena.folded[a as usize] {
                        continue;
                    }
                    let body_steps = arena.steps[a as usize] / l;
                    let steps: u64 = members
                        .iter()
                        .map(|m| fold_steps(*set, l, m.len() as u64, body_steps))
                        .sum();
                    let va = arena.vals(a);
                    run_one(
                        Node::Fold(*set, *op, a),
                        order(fold_kind(*set, *op), a, 0),
                        steps,
                        true,
                        &mut buf,
                        &mut local,
                        &|out| ar.fold(op.prim(), op.init(), members, va, out),
                    );
                }
            }
        }
        counts.evaluated.fetch_add(work, AtOrd::Relaxed);
        progress(Progress::Advance(work));
        if !local.hits.is_empty() {
            hits.lock().expect("hits lock").append(&mut local.hits);
        }
    };
    jobs.par_iter().for_each(task);
    if time_up.load(AtOrd::Relaxed) {
        return LevelResult::TimeUp;
    }
    if out_of_memory.load(AtOrd::Relaxed) {
        return LevelResult::OutOfMemory;
    }
    let evaluated = counts.evaluated.load(AtOrd::Relaxed);
    let errors = counts.errors.load(AtOrd::Relaxed);
    let hits = hits.into_inner().expect("hits lock");
    if stored {
        let shards = shards
            .into_iter()
            .map(|m| m.into_inner().expect("a shard lock"))
            .collect();
        LevelResult::Done(hits, LevelCounts::Stored(shards, evaluated, errors))
    } else {
        let new = counts.new.load(AtOrd::Relaxed);
        LevelResult::Done(hits, LevelCounts::Matched(evaluated, errors, new))
    }
}

/// The program of a node whose children are in the arena.
fn spell_new(arena: &Arena, node: Node) -> String {
    let mut nodes = Vec::new();
    let id = copy_tree(arena, node, &mut nodes, &mut HashMap::new());
    expr::program(&nodes, id)
}

fn copy_tree(arena: &Arena, node: Node, out: &mut Vec<Node>, memo: &mut HashMap<u32, u32>) -> u32 {
    let mut child = |id: u32, out: &mut Vec<Node>| -> u32 {
        if let Some(&c) = memo.get(&id) {
            return c;
        }
        let c = copy_tree(arena, arena.nodes[id as usize], out, memo);
        memo.insert(id, c);
        c
    };
    let n = match node {
        Node::Const(_) | Node::Var => node,
        Node::Unary(p, a) => Node::Unary(p, child(a, out)),
        Node::Binary(p, a, b) => {
            let a = child(a, out);
            Node::Binary(p, a, child(b, out))
        }
        Node::Fold(s, o, a) => Node::Fold(s, o, child(a, out)),
    };
    out.push(n);
    out.len() as u32 - 1
}

/// Numbers a stored level's expressions in order-key order and moves them into the arena.
fn commit(arena: &mut Arena, shards: Vec<Shard>, size: u32) -> u64 {
    let mut all: Vec<(u128, u32, u32)> = shards
        .iter()
        .enumerate()
        .flat_map(|(s, sh)| {
            sh.entries
                .iter()
                .enumerate()
                .map(move |(i, e)| (e.order, s as u32, i as u32))
        })
        .collect();
    all.par_sort_unstable();
    let start = arena.nodes.len() as u32;
    let len = arena.len;
    arena.small.reserve_exact(all.len() * len);
    arena.seen.reserve(all.len());
    arena.by_window.reserve(all.len());
    for &(_, s, i) in &all {
        let sh = &shards[s as usize];
        let e = &sh.entries[i as usize];
        arena.nodes.push(e.node);
        arena.steps.push(e.steps);
        arena.folded.push(e.folded);
        let id = arena.nodes.len() as u32 - 1;
        arena.seen.insert(e.key, id);
        if e.slot & BIG != 0 {
            arena.big.push(sh.big[(e.slot & !BIG) as usize].clone());
            arena.slot.push((arena.big.len() - 1) as u32 | BIG);
        } else {
            let from = e.slot as usize * len;
            arena.slot.push((arena.small.len() / len) as u32);
            arena.small.extend_from_slice(&sh.small[from..from + len]);
        }
        let window = if arena.match_len == len {
            e.key as u64
        } else {
            targets::part(
                arena.vals(id),
                arena.split..arena.match_len,
                targets::WINDOW_SEED,
            )
        };
        arena.by_window.entry(window).or_insert(id);
    }
    arena.levels.push((start, arena.nodes.len() as u32));
    debug_assert_eq!(arena.levels.len() as u32, size + 1);
    all.len() as u64
}

/// Matches a stored level's vectors against the targets.
fn match_level(
    arena: &Arena,
    index: &TargetIndex,
    size: u32,
    full: &[[bool; 3]],
    per_target: usize,
) -> Vec<Hit> {
    let ids: Vec<u32> = arena.level(size).collect();
    let split = index.split();
    ids.par_chunks(4096)
        .flat_map_iter(|chunk| {
            let mut out = Hits::new(full, per_target);
            for &id in chunk {
                let v = arena.vals(id);
                let k = key(v, split);
                index.matches(v, index.match_key(v, k), |t, category| {
                    out.push(Hit {
                        target: t,
                        category,
                        size,
                        order: id as u128,
                        key: k,
                        expr: Expr::Node(arena.nodes[id as usize]),
                    })
                });
            }
            out.hits
        })
        .collect()
}

/// Adds hits to the per-target candidates: per target and category, the first `per_target`
/// distinct vectors (of two with one vector, the smaller program); only those are spelled.
fn merge(arena: &Arena, best: &mut [Vec<Candidate>], mut hits: Vec<Hit>, per_target: usize) {
    hits.par_sort_unstable_by_key(|h| (h.target, h.category, h.size, h.order));
    for h in hits {
        let c = &mut best[h.target as usize];
        if let Some(old) = c.iter_mut().find(|c| c.key == h.key) {
            if (h.size, h.order) < (old.size, old.order) {
                (old.size, old.order) = (h.size, h.order);
                old.program = h.expr.spell(arena);
            }
            continue;
        }
        if c.iter().filter(|c| c.category == h.category).count() >= per_target {
            // keep the smaller ones
            let worst = c
                .iter_mut()
                .filter(|c| c.category == h.category)
                .max_by_key(|c| (c.size, c.order))
                .expect("a full category");
            if (h.size, h.order) >= (worst.size, worst.order) {
                continue;
            }
            (worst.size, worst.order, worst.key) = (h.size, h.order, h.key);
            worst.program = h.expr.spell(arena);
            continue;
        }
        c.push(Candidate {
            category: h.category,
            size: h.size,
            order: h.order,
            key: h.key,
            program: h.expr.spell(arena),
        });
    }
}

/// The inverse step: for each target t and each stored expression a of size at most
/// `inverse_size`, the operand b that `t = a + b`, `t = a - b`, `t = b - a` or `t = a * b` needs
/// is computed and looked up among the stored vectors, on all L terms and on the window alone.
/// This finds programs up to `inverse_size + 1` nodes larger than the stored levels, at the cost
/// of one lookup per (target, a, operation). Every find is recomputed forwards, exactly.
fn inverse(
    arena: &Arena,
    s: &Settings,
    ev: &Evaluator,
    index: &TargetIndex,
    targets: &[Vec<Num>],
    mine: &(dyn Fn(usize) -> bool + Sync),
) -> Vec<Hit> {
    let len = arena.len;
    let split = index.split();
    // the window and prefix are matched on 0..mlen; a vector may be longer
    let mlen = arena.match_len;
    let small: Vec<u32> = (1..=s.inverse_size.min(arena.levels.len() as u32))
        .flat_map(|size| arena.level(size))
        .collect();
    let size_of = |id: u32| -> u32 {
        arena
            .levels
            .iter()
            .position(|&(a, b)| a <= id && id < b)
            .expect("a stored id") as u32
    };
    let sizes: Vec<u32> = small.iter().map(|&a| size_of(a)).collect();
    let ar = Arith::new(ev);
    let max_steps = ev.limits().max_steps;
    let kinds = [
        (Prim::Add, false),
        (Prim::Sub, false),
        (Prim::Sub, true),
        (Prim::Mul, false),
    ];
    (0..targets.len())
        .into_par_iter()
        .filter(|&t| mine(t))
        .flat_map_iter(|t| {
            let mut out = Vec::new();
            let terms = &targets[t];
            let known = terms.len().min(len);
            let tv: Option<Vec<i64>> = (known >= mlen)
                .then(|| terms[..known].iter().map(Num::as_i64).collect())
                .flatten();
            let Some(tv) = tv else {
                return out;
            };
            let mut need = vec![0i64; len];
            let mut fwd = vec![0i64; len];
            for (ai, &a) in small.iter().enumerate() {
                let Vals::Small(av) = arena.vals(a) else {
                    continue;
                };
                for (k, &(p, flipped)) in kinds.iter().enumerate() {
                    if !s.ops.contains(&p) {
                        continue;
                    }
                    // the operand b with t = p(a, b) (or p(b, a) when flipped): first on the
                    // window, which any match needs, then on the prefix
                    let solve = |i: usize| -> Option<i64> {
                        let (x, y) = (av[i], tv[i]);
                        match (p, flipped) {
                            (Prim::Add, _) => y.checked_sub(x),
                            (Prim::Sub, false) => x.checked_sub(y),
                            (Prim::Sub, true) => y.checked_add(x),
                            _ => (x != 0 && y.checked_rem(x) == Some(0)).then(|| y / x),
                        }
                    };
                    if !(split..mlen).all(|i| solve(i).map(|r| need[i] = r).is_some()) {
                        continue;
                    }
                    let hw = targets::part(Vals::Small(&need), split..mlen, targets::WINDOW_SEED);
                    let Some(&by_window) = arena.by_window.get(&hw) else {
                        continue;
                    };
                    // the whole operand's identity needs the target's terms as far as the
                    // vectors go
                    let whole = known == len
                        && (0..split)
                            .chain(mlen..len)
                            .all(|i| solve(i).map(|r| need[i] = r).is_some());
                    let b = if whole {
                        let nk = key(Vals::Small(&need), split);
                        arena.seen.get(&nk).copied().unwrap_or(by_window)
                    } else {
                        by_window
                    };
                    let (l, r) = if flipped { (b, a) } else { (a, b) };
                    let steps = arena.steps[a as usize] + arena.steps[b as usize] + len as u64;
                    if 1 + len as u64 + steps > max_steps {
                        continue;
                    }
                    let vals = match ar.binary(p, arena.vals(l), arena.vals(r), &mut fwd) {
                        Computed::Small => Vals::Small(&fwd),
                        _ => continue,
                    };
                    let fk = key(vals, split);
                    index.matches(vals, index.match_key(vals, fk), |tt, category| {
                        if tt as usize == t && category <= Category::Window {
                            keep(
                                &mut out,
                                Hit {
                                    target: t as u32,
                                    category,
                                    size: sizes[ai] + size_of(b) + 1,
                                    order: order(32 + k as u128, l, r),
                                    key: fk,
                                    expr: Expr::Node(Node::Binary(p, l, r)),
                                },
                                s.per_target,
                            );
                        }
                    });
                }
            }
            out
        })
        .collect()
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
