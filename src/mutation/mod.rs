//! Mutation of what was found, matched against every target up to simple transforms.
//!
//! The parents are programs the loop already holds (the buffer's, with their priorities). Each
//! round draws parents (by weight), makes `per_parent` mutants of each (`ops`), evaluates them,
//! and looks every output up among the open targets up to the transforms of [`transform`]:
//! t = (u·p + c) / m, and for pointwise `map` programs the index shift t(n) = p(n + s),
//! |s| ≤ `max_shift`, of the output itself, its first differences p(n+1) - p(n) and its partial
//! sums p(1) + ... + p(n) (LODA's miner matches these too). Each lookup hit is spelled as a program and confirmed on the values: on
//! `#0 = [1..L]` (the first L terms, so the paper's window) and on all known terms. The
//! confirmed programs of a round are the next round's first parents (LODA's miner queues the
//! neighbours of every hit). The parents themselves are matched too, before the first round, so
//! every program of every source goes through the transforms.
//!
//! Everything is a pure function of the inputs and the seed: each parent draw has its own RNG
//! stream, results are merged in draw order, so the output is the same for any thread count.
//! This module knows nothing of the pipeline.

pub mod ops;
pub mod transform;

use crate::dsl::sample::rng_for;
use crate::dsl::types::check_in;
use crate::dsl::{Dialect, Evaluator, Expr, Limits, Num, Prim, Program};
use rand::distributions::{Distribution, WeightedIndex};
use rand::Rng;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use transform::{affine, normal, Affine, Normal};

/// What one run does.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub rounds: usize,
    /// Parents drawn per round (besides the previous round's confirmed programs).
    pub parents: usize,
    pub per_parent: usize,
    /// Draw parents by weight (false: all alike, the control).
    pub weighted: bool,
    /// Largest |u| and m of t = (u·p + c) / m; 0: exact matches only.
    pub max_coef: i64,
    /// Largest |c|.
    pub max_offset: i64,
    /// Largest index shift |s| (pointwise `map` programs only).
    pub max_shift: u8,
    /// Step budget of a mutant on `#0 = [1..L + max_shift]`.
    pub max_steps: u64,
    /// Longest mutant in tokens.
    pub max_len: usize,
    /// Programs kept per target that hold on the first L terms but not on all known terms.
    pub per_target: usize,
    pub seed: u64,
    pub dialect: Dialect,
    /// Before the rounds, compose the pointwise parents with `#1`, 2 and 3, and the library's
    /// items with each other (`compose`).
    pub compose: bool,
    /// Also match first differences and partial sums (pointwise programs).
    pub derive: bool,
}

/// The targets, with the normal forms of their windows (terms `skip+1 ..= L`).
pub struct Targets {
    /// Each target's known terms (at most `max_terms`).
    pub terms: Vec<Vec<Num>>,
    /// Whether a target is still to be solved on all known terms.
    pub open: Vec<bool>,
    by_key: HashMap<u128, Vec<(u32, Normal)>>,
    /// L, and the terms the window leaves out at the start (room for a shift to the right).
    len: usize,
    skip: usize,
}

impl Targets {
    pub fn new(terms: Vec<Vec<Num>>, open: Vec<bool>, len: usize, max_shift: u8) -> Targets {
        let skip = max_shift as usize;
        let mut by_key: HashMap<u128, Vec<(u32, Normal)>> = HashMap::new();
        for (t, v) in terms.iter().enumerate() {
            if !open[t] || v.len() < len {
                continue;
            }
            if let Some(n) = normal(&v[skip..len]) {
                by_key.entry(n.key).or_default().push((t as u32, n));
            }
        }
        Targets {
            terms,
            open,
            by_key,
            len,
            skip,
        }
    }

    pub fn open_count(&self) -> usize {
        self.open.iter().filter(|&&o| o).count()
    }
}

/// A confirmed program for a target.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Found {
    pub target: u32,
    /// Holds on all known terms (else on the first L only).
    pub all_terms: bool,
    pub tokens: usize,
    pub program: String,
}

/// Counts of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    pub parents: usize,
    pub mutants: u64,
    pub distinct: u64,
    pub ill_typed: u64,
    pub errors: u64,
    pub evaluated: u64,
    pub lookups_hit: u64,
    pub confirmed: u64,
    /// Targets with a program on all known terms, and on the first L terms only.
    pub all_terms: usize,
    pub prefix_only: usize,
    /// Of the all-terms targets: found with a transform (not the identity), with a shift.
    pub by_affine: usize,
    pub by_shift: usize,
    /// ... of the first differences, of the partial sums.
    pub by_diff: usize,
    pub by_sum: usize,
    /// ... by a mutant that used a library item; and the evaluated mutants that did.
    pub by_library: usize,
    pub library_mutants: u64,
    /// Targets the library's composition solved (all known terms), its leaves and pairs.
    pub by_compose: usize,
    pub compose_items: usize,
    pub compose_pairs: usize,
    /// ... and by a parent itself, before any mutation; by one of the proposals (the policy's
    /// candidates), after the parents.
    pub by_parent: usize,
    pub by_proposal: usize,
}

/// The most lookup hits one parent's mutants keep (a bound on memory when a common shape matches
/// many open targets).
const MAX_HITS: usize = 256;

/// What a lookup matches of a pointwise program's values p.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Derive {
    /// p itself.
    Same,
    /// p(n + 1) - p(n).
    Diff,
    /// p(1) + ... + p(n).
    Sum,
}

/// A lookup hit: target, the transform, the shift, what of the output, the program body.
struct Hit {
    target: u32,
    f: Affine,
    shift: i8,
    derive: Derive,
    body: Expr,
    /// From a mutant that used a library item.
    library: bool,
}

/// `e` with `#1` read as `#3` and every variable from `#2` on moved up by two: E(k) inside
/// `lambda [ #2 #3 ]`, k the index (None past the last variable).
fn rebind_for_loop(e: &Expr) -> Option<Expr> {
    Some(match e {
        Expr::Var(1) => Expr::Var(3),
        Expr::Var(v) if *v >= 2 => {
            let v = v + 2;
            if v > crate::dsl::token::MAX_VAR {
                return None;
            }
            Expr::Var(v)
        }
        Expr::App(p, args) => {
            Expr::App(*p, args.iter().map(rebind_for_loop).collect::<Option<_>>()?)
        }
        Expr::Lambda {
            first,
            params,
            body,
        } => Expr::Lambda {
            first: first + 2,
            params: *params,
            body: Box::new(rebind_for_loop(body)?),
        },
        other => other.clone(),
    })
}

/// The pointwise body of what `d` derives from E.
fn derived(e: &Expr, d: Derive) -> Option<Expr> {
    Some(match d {
        Derive::Same => e.clone(),
        Derive::Diff => Expr::App(Prim::Sub, vec![ops::shift_index(e, 1), e.clone()]),
        Derive::Sum => Expr::App(
            Prim::Loop,
            vec![
                Expr::Lambda {
                    first: 2,
                    params: 2,
                    body: Box::new(Expr::App(
                        Prim::Add,
                        vec![Expr::Var(2), rebind_for_loop(e)?],
                    )),
                },
                Expr::Var(1),
                Expr::Const(0),
            ],
        ),
    })
}

/// Spells a hit as a program: the transform inside the `map` for pointwise programs (with the
/// shift), around the whole output otherwise.
fn spell(h: &Hit) -> Option<Program> {
    if h.f.is_identity() && h.shift == 0 && h.derive == Derive::Same {
        return Some(Program {
            body: h.body.clone(),
        });
    }
    let text = match pointwise(&h.body) {
        Some(e) => {
            let e = derived(e, h.derive)?;
            let e = if h.shift == 0 {
                e
            } else {
                ops::shift_index(&e, h.shift)
            };
            format!(
                "lambda [ #0 ] ( map ( lambda [ #1 ] ( {} ) #0 ) )",
                h.f.spell(&expr_text(&e))
            )
        }
        None if h.shift == 0 => format!(
            "lambda [ #0 ] ( map ( lambda [ #1 ] ( {} ) {} ) )",
            h.f.spell("#1"),
            expr_text(&h.body)
        ),
        None => return None,
    };
    Program::parse(&text).ok()
}

/// The canonical text of an expression (a body of the top scope or a `map` lambda's body).
fn expr_text(e: &Expr) -> String {
    let p = Program { body: e.clone() };
    let s = p.to_string();
    // "lambda [ #0 ] ( " ... " )"
    s["lambda [ #0 ] ( ".len()..s.len() - 2].to_string()
}

/// The body E of `map ( lambda [ #1 ] ( E ) #0 )` when E does not read `#0`.
fn pointwise(body: &Expr) -> Option<&Expr> {
    match body {
        Expr::App(Prim::Map, args) => match (&args[0], &args[1]) {
            (Expr::Lambda { body, .. }, Expr::Var(0)) if !ops::reads_input(body) => Some(body),
            _ => None,
        },
        _ => None,
    }
}

/// What of an output a lookup reads: the values themselves, and their derived forms.
type Derived<'a> = Vec<(Derive, Cow<'a, [Num]>)>;

/// What one evaluated program proposes: every (target, transform, shift) its output matches.
fn lookups(body: &Expr, out: &[Num], targets: &Targets, s: &Settings, mut hit: impl FnMut(Hit)) {
    let (len, skip) = (targets.len, targets.skip);
    let full = len + 2 * skip + 1;
    let (shifts, derives): (Vec<i8>, Derived) = if out.len() >= full && pointwise(body).is_some() {
        let mut derives = vec![(Derive::Same, Cow::Borrowed(out))];
        if s.derive {
            let diff: Vec<Num> = out.windows(2).map(|w| w[1].sub(&w[0])).collect();
            let mut acc = Num::from(0i64);
            let sum: Vec<Num> = out
                .iter()
                .map(|x| {
                    acc = acc.add(x);
                    acc.clone()
                })
                .collect();
            derives.extend([(Derive::Diff, diff.into()), (Derive::Sum, sum.into())]);
        }
        (
            (-(s.max_shift as i8)..=s.max_shift as i8).collect(),
            derives,
        )
    } else if out.len() >= len {
        (vec![0], vec![(Derive::Same, Cow::Borrowed(out))])
    } else {
        return;
    };
    // max_coef = 0: the identity only (|u| = m = 1, c = 0)
    let (coef, offset) = (s.max_coef.max(1) as i128, s.max_offset as i128);
    for (derive, vals) in &derives {
        for &sh in &shifts {
            // t(n) = q(n + sh): the target's window t[skip..len] against q[skip+sh..len+sh]
            let a = (skip as isize + sh as isize) as usize;
            if a + (len - skip) > vals.len() {
                continue;
            }
            let Some(pn) = normal(&vals[a..a + (len - skip)]) else {
                continue;
            };
            let Some(ts) = targets.by_key.get(&pn.key) else {
                continue;
            };
            for &(t, tn) in ts {
                let Some(f) = affine(&pn, &tn, coef, offset) else {
                    continue;
                };
                if s.max_coef == 0 && !f.is_identity() {
                    continue;
                }
                hit(Hit {
                    target: t,
                    f,
                    shift: sh,
                    derive: *derive,
                    body: body.clone(),
                    library: false,
                });
            }
        }
    }
}

/// The library: the `int` fragments (3..=`max_size` nodes, reading `#1`) of the pointwise
/// `map` bodies of `programs`, the `k` most frequent (each counted once per program; ties: the
/// larger, then the text), as items that mutation inserts or applies to a site.
pub fn library(programs: &[Program], k: usize, max_size: usize) -> Vec<Expr> {
    let mut count: HashMap<Expr, usize> = HashMap::new();
    for p in programs {
        let Some(e) = pointwise(&p.body) else {
            continue;
        };
        let mine: HashSet<Expr> = ops::fragments(e, 3, max_size).into_iter().collect();
        for f in mine {
            *count.entry(f).or_default() += 1;
        }
    }
    let mut v: Vec<(usize, usize, String, Expr)> = count
        .into_iter()
        .map(|(e, n)| (n, ops::size(&e), expr_text(&e), e))
        .collect();
    v.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    v.into_iter().take(k).map(|x| x.3).collect()
}

/// The control of [`library`]: `k` fragments of the same sizes as `like`'s items, drawn
/// uniformly (seeded) from all the fragments of `programs`.
pub fn random_library(
    programs: &[Program],
    like: &[Expr],
    seed: u64,
    max_size: usize,
) -> Vec<Expr> {
    let mut by_size: BTreeMap<usize, Vec<Expr>> = BTreeMap::new();
    let mut seen: HashSet<Expr> = HashSet::new();
    for p in programs {
        if let Some(e) = pointwise(&p.body) {
            for f in ops::fragments(e, 3, max_size) {
                if seen.insert(f.clone()) {
                    by_size.entry(ops::size(&f)).or_default().push(f);
                }
            }
        }
    }
    let mut rng = rng_for(seed, 0x11B);
    like.iter()
        .filter_map(|l| {
            let pool = by_size.get(&ops::size(l))?;
            Some(pool[rng.gen_range(0..pool.len())].clone())
        })
        .collect()
}

/// The binary primitives [`compose`] combines library items with.
const COMPOSE_OPS: [Prim; 7] = [
    Prim::Add,
    Prim::Sub,
    Prim::Mul,
    Prim::Div,
    Prim::Mod,
    Prim::Min,
    Prim::Max,
];

/// A bottom-up step over the library: the leaves are `#1`, the digits 2 and 3, the library
/// items and the pointwise parents (`extra`, as `map` bodies); every `op ( A B )` of two items, or
/// of an item or a parent and a basic leaf, and every `A[#1 := B]` of two items is looked up, with
/// the transforms. The values of `op ( A B )`
/// are computed from the leaves' values with the DSL's arithmetic (an error drops the pair);
/// substitutions are evaluated. Equal vectors are looked up once (the smallest program first).
fn compose(
    library: &[Expr],
    extra: &[Expr],
    ev: &Evaluator,
    targets: &Targets,
    s: &Settings,
    fig: &mut Figures,
) -> Vec<Vec<Hit>> {
    let wrap = |e: &Expr| ops::map_program(e.clone());
    let mut leaves: Vec<(Expr, Vec<Num>)> = Vec::new();
    let mut seen: HashSet<Vec<Num>> = HashSet::new();
    let basic = [Expr::Var(1), Expr::Const(2), Expr::Const(3)];
    let n_basic = basic.len();
    let mut add = |es: &[Expr], leaves: &mut Vec<(Expr, Vec<Num>)>| {
        let vals: Vec<Option<Vec<Num>>> = es.par_iter().map(|e| ev.eval(&wrap(e)).ok()).collect();
        for (e, v) in es.iter().zip(vals) {
            if let Some(v) = v {
                if seen.insert(v.clone()) || ops::size(e) == 1 {
                    leaves.push((e.clone(), v));
                }
            }
        }
        leaves.len()
    };
    add(&basic, &mut leaves);
    let n_lib = add(library, &mut leaves);
    add(extra, &mut leaves);
    let items = n_lib - n_basic;
    // library x library, and every item or extra leaf with a basic leaf, both ways
    let is_lib = |i: usize| (n_basic..n_lib).contains(&i);
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    for a in n_basic..leaves.len() {
        for b in 0..n_basic {
            pairs.push((a, b));
            pairs.push((b, a));
        }
    }
    for a in n_basic..n_lib {
        for b in n_basic..n_lib {
            pairs.push((a, b));
        }
    }
    let arith = |p: Prim, x: &Num, y: &Num| ev.apply(p, x, y).ok();
    let outs: Vec<Vec<Hit>> = pairs
        .par_chunks(256)
        .map(|chunk| {
            let mut hits = Vec::new();
            let mut mine: HashSet<u128> = HashSet::new();
            for &(a, b) in chunk {
                let (ea, va) = &leaves[a];
                let (eb, vb) = &leaves[b];
                let mut combos: Vec<(Expr, Option<Vec<Num>>)> = COMPOSE_OPS
                    .iter()
                    .map(|&p| {
                        let v: Option<Vec<Num>> =
                            va.iter().zip(vb).map(|(x, y)| arith(p, x, y)).collect();
                        (Expr::App(p, vec![ea.clone(), eb.clone()]), v)
                    })
                    .collect();
                if a >= n_basic && b >= n_basic {
                    let e = ops::substitute(ea, eb);
                    combos.push((e, None));
                }
                let lib = is_lib(a) || is_lib(b);
                for (e, v) in combos {
                    let p = wrap(&e);
                    let v = match v {
                        Some(v) => v,
                        None => match ev.eval(&p) {
                            Ok(v) => v,
                            Err(_) => continue,
                        },
                    };
                    let Some(n) = normal(&v) else { continue };
                    if !mine.insert(n.key) {
                        continue;
                    }
                    lookups(&p.body, &v, targets, s, |mut h| {
                        h.library = lib;
                        hits.push(h)
                    });
                }
                if hits.len() > MAX_HITS * 16 {
                    break;
                }
            }
            hits
        })
        .collect();
    fig.compose_items = items;
    fig.compose_pairs = pairs.len();
    outs
}

/// Runs the mutation rounds. `parents`: (program, weight); `library`: items mutation may
/// insert; `base`: the DSL limits (L, bound); `max_terms`: the all-known-terms check's cap.
pub fn run(
    parents: &[(Program, f64)],
    proposals: &[Program],
    library: &[Expr],
    targets: &Targets,
    s: &Settings,
    base: &Limits,
    max_terms: usize,
) -> (Vec<Found>, Figures) {
    let mut fig = Figures {
        parents: parents.len(),
        ..Figures::default()
    };
    let len = targets.len;
    let ev = Evaluator::new(Limits {
        input_len: len + 2 * targets.skip + 1,
        max_steps: s.max_steps.min(base.max_steps),
        max_abs_exp: base.max_abs_exp,
    });
    // per target: confirmed programs (all terms first, then shortest)
    let check = Check {
        targets,
        s,
        base,
        max_terms,
    };
    let mut found: BTreeMap<u32, Vec<Found>> = BTreeMap::new();
    let mut closed: HashSet<u32> = HashSet::new();
    let mut seen: HashSet<Program> = HashSet::new();

    let short = Evaluator::new(Limits {
        input_len: len,
        ..ev.limits().clone()
    });
    // the output a lookup reads: on [1..L + max_shift] for pointwise programs (the shifts),
    // on [1..L] for the others (their values may depend on the input's length)
    let output = |p: &Program| {
        if pointwise(&p.body).is_some() {
            ev.eval(p)
        } else {
            short.eval(p)
        }
    };
    // the parents themselves, before any mutation
    let matched = |ps: Vec<&Program>| -> Vec<Vec<Hit>> {
        ps.par_iter()
            .map(|p| {
                let mut hits = Vec::new();
                if let Ok(out) = output(p) {
                    lookups(&p.body, &out, targets, s, |h| hits.push(h));
                }
                hits.truncate(MAX_HITS);
                hits
            })
            .collect()
    };
    let outs = matched(parents.iter().map(|(p, _)| p).collect());
    fig.evaluated += parents.len() as u64;
    let before = confirm(outs, &check, &mut found, &mut closed, &mut fig);
    fig.by_parent = closed.len();
    let mut queue: Vec<Program> = before;

    // the proposals (the policy's candidates), the same way
    if !proposals.is_empty() {
        let before = closed.len();
        let outs = matched(proposals.iter().collect());
        fig.evaluated += proposals.len() as u64;
        queue.extend(confirm(outs, &check, &mut found, &mut closed, &mut fig));
        fig.by_proposal = closed.len() - before;
    }

    // the library as the leaves of a small enumeration: op ( A B ) and A[#1 := B]
    if s.compose {
        let before = closed.len();
        let extra: Vec<Expr> = parents
            .iter()
            .filter_map(|(p, _)| pointwise(&p.body).cloned())
            .collect();
        let hits = compose(library, &extra, &ev, targets, s, &mut fig);
        let new = confirm(hits, &check, &mut found, &mut closed, &mut fig);
        fig.by_compose = closed.len() - before;
        queue.extend(new);
    }

    let weights: Vec<f64> = parents
        .iter()
        .map(|(_, w)| if s.weighted { w.max(0.0) } else { 1.0 })
        .collect();
    let draw = WeightedIndex::new(&weights)
        .or_else(|_| WeightedIndex::new(vec![1.0; parents.len().max(1)]))
        .ok();
    for round in 0..s.rounds {
        if parents.is_empty() {
            break;
        }
        let mut rng = rng_for(s.seed, (round as u64) << 32);
        let mut todo: Vec<Program> = std::mem::take(&mut queue);
        if let Some(d) = &draw {
            todo.extend((0..s.parents).map(|_| parents[d.sample(&mut rng)].0.clone()));
        }
        let donors: Vec<usize> = (0..todo.len())
            .map(|_| rng.gen_range(0..parents.len()))
            .collect();
        let results: Vec<(Vec<Hit>, [u64; 6])> = todo
            .par_iter()
            .enumerate()
            .map(|(i, parent)| {
                let mut rng = rng_for(s.seed ^ 0x6D75_7461_7465, ((round as u64) << 32) | i as u64);
                let donor = &parents[donors[i]].0.body;
                let mut hits = Vec::new();
                let mut mine: HashSet<Expr> = HashSet::new();
                // mutants, distinct, ill-typed, errors, evaluated, with a library item
                let mut c = [0u64; 6];
                for _ in 0..s.per_parent {
                    c[0] += 1;
                    let mut body = parent.body.clone();
                    let n = match rng.gen_range(0..10u8) {
                        0..=5 => 1,
                        6..=8 => 2,
                        _ => 3,
                    };
                    let (mut changed, mut lib) = (false, false);
                    for _ in 0..n {
                        match ops::mutate_once(&mut body, Some(donor), library, &mut rng) {
                            ops::Done::Nothing => {}
                            ops::Done::Changed => changed = true,
                            ops::Done::Library => (changed, lib) = (true, true),
                        }
                    }
                    if !changed || body == parent.body || !mine.insert(body.clone()) {
                        continue;
                    }
                    c[1] += 1;
                    let m = Program { body };
                    if m.len() > s.max_len || check_in(&m, s.dialect).is_err() {
                        c[2] += 1;
                        continue;
                    }
                    c[4] += 1;
                    c[5] += lib as u64;
                    match output(&m) {
                        Ok(out) => {
                            if hits.len() < MAX_HITS {
                                lookups(&m.body, &out, targets, s, |mut h| {
                                    h.library = lib;
                                    hits.push(h)
                                })
                            }
                        }
                        Err(_) => c[3] += 1,
                    }
                }
                hits.truncate(MAX_HITS);
                (hits, c)
            })
            .collect();
        let mut batches = Vec::with_capacity(results.len());
        for (hits, c) in results {
            fig.mutants += c[0];
            fig.distinct += c[1];
            fig.ill_typed += c[2];
            fig.errors += c[3];
            fig.evaluated += c[4];
            fig.library_mutants += c[5];
            batches.push(hits);
        }
        let new = confirm(batches, &check, &mut found, &mut closed, &mut fig);
        queue = new.into_iter().filter(|p| seen.insert(p.clone())).collect();
    }
    let mut out = Vec::new();
    for (_, v) in found {
        let v = keep(v, s.per_target);
        if v.first().is_some_and(|f| f.all_terms) {
            fig.all_terms += 1;
        } else {
            fig.prefix_only += 1;
        }
        out.extend(v);
    }
    (out, fig)
}

/// What a target keeps of its confirmed programs: the shortest that holds on all known terms,
/// or else the `per_target` shortest that hold on the first L terms.
fn keep(mut v: Vec<Found>, per_target: usize) -> Vec<Found> {
    v.sort_by(|a, b| {
        (!a.all_terms, a.tokens, &a.program).cmp(&(!b.all_terms, b.tokens, &b.program))
    });
    let n = if v.first().is_some_and(|f| f.all_terms) {
        1
    } else {
        per_target
    };
    v.truncate(n);
    v
}

/// What [`confirm`] checks the hits against: the targets, the settings, the DSL limits and the
/// all-known-terms check's cap.
struct Check<'a> {
    targets: &'a Targets,
    s: &'a Settings,
    base: &'a Limits,
    max_terms: usize,
}

/// Confirms the hits (in order; at most a few per open target and round), records what holds,
/// and returns the newly confirmed programs (the next round's first parents).
fn confirm(
    batches: Vec<Vec<Hit>>,
    check: &Check,
    found: &mut BTreeMap<u32, Vec<Found>>,
    closed: &mut HashSet<u32>,
    fig: &mut Figures,
) -> Vec<Program> {
    let &Check {
        targets,
        s,
        base,
        max_terms,
    } = check;
    const PER_ROUND: usize = 4;
    let mut tried: HashMap<u32, usize> = HashMap::new();
    let mut todo: Vec<(Hit, Program)> = Vec::new();
    let mut spelled: HashSet<(u32, String)> = HashSet::new();
    for h in batches.into_iter().flatten() {
        fig.lookups_hit += 1;
        if closed.contains(&h.target) {
            continue;
        }
        let n = tried.entry(h.target).or_default();
        if *n >= PER_ROUND {
            continue;
        }
        let Some(p) = spell(&h) else { continue };
        let text = p.to_string();
        if p.len() > s.max_len.max(base.input_len) * 4
            || found
                .get(&h.target)
                .is_some_and(|v| v.iter().any(|f| f.program == text))
            || !spelled.insert((h.target, text))
        {
            continue;
        }
        *n += 1;
        todo.push((h, p));
    }
    let len = targets.len;
    let short = Evaluator::new(Limits {
        input_len: len,
        ..base.clone()
    });
    // the all-known-terms check, one evaluator per number of known terms (as verify does)
    let known = |t: u32| targets.terms[t as usize].len().min(max_terms);
    let long: HashMap<usize, Evaluator> = todo
        .iter()
        .map(|(h, _)| known(h.target))
        .filter(|&n| n > len)
        .collect::<BTreeSet<usize>>()
        .into_iter()
        .map(|n| (n, Evaluator::new(base.for_input_len(n))))
        .collect();
    let checked: Vec<Option<Found>> = todo
        .par_iter()
        .map(|(h, p)| {
            let t = &targets.terms[h.target as usize];
            let first = short.eval(p).ok()?;
            if first.len() < len || first[..len] != t[..len] {
                return None;
            }
            let n = known(h.target);
            let all_terms = n <= len
                || long[&n]
                    .eval(p)
                    .is_ok_and(|v| v.len() >= n && v[..n] == t[..n]);
            Some(Found {
                target: h.target,
                all_terms,
                tokens: p.len(),
                program: p.to_string(),
            })
        })
        .collect();
    let mut new = Vec::new();
    for (f, (h, p)) in checked.into_iter().zip(todo) {
        let Some(f) = f else { continue };
        fig.confirmed += 1;
        if f.all_terms && closed.insert(f.target) {
            fig.by_affine += (!h.f.is_identity()) as usize;
            fig.by_shift += (h.shift != 0) as usize;
            fig.by_diff += (h.derive == Derive::Diff) as usize;
            fig.by_sum += (h.derive == Derive::Sum) as usize;
            fig.by_library += h.library as usize;
        }
        found.entry(f.target).or_default().push(f);
        new.push(p);
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(f: impl Fn(i64) -> i64) -> Vec<Num> {
        (1..=60).map(|n| Num::from(f(n))).collect()
    }

    fn settings(rounds: usize, per_parent: usize) -> Settings {
        Settings {
            rounds,
            parents: 1,
            per_parent,
            weighted: true,
            max_coef: 1000,
            max_offset: 1_000_000,
            max_shift: 2,
            max_steps: 100_000,
            max_len: 96,
            per_target: 2,
            seed: 0,
            dialect: Dialect::Loops,
            compose: false,
            derive: true,
        }
    }

    fn targets() -> Targets {
        let t = vec![
            seq(|n| 3 * n * n + 1),                  // affine
            seq(|n| (n + 2) * (n + 2)),              // shift
            seq(|n| n * (n + 1) * (2 * n + 1) / 6),  // partial sums
            seq(|n| 2 * n + 1),                      // differences
            seq(|n| n * n * n + 7),                  // a mutation, then affine
            seq(|n| if n % 7 == 3 { 1 } else { n }), // nothing of these
        ];
        let open = vec![true; t.len()];
        Targets::new(t, open, 35, 2)
    }

    fn parents() -> Vec<(Program, f64)> {
        vec![(
            Program::parse("lambda [ #0 ] ( map ( lambda [ #1 ] ( * ( #1 #1 ) ) #0 ) )").unwrap(),
            1.0,
        )]
    }

    fn run_on_targets(s: &Settings) -> (Vec<Found>, Figures) {
        run(&parents(), &[], &[], &targets(), s, &Limits::default(), 60)
    }

    fn solved(found: &[Found]) -> Vec<u32> {
        found
            .iter()
            .filter(|f| f.all_terms)
            .map(|f| f.target)
            .collect()
    }

    /// A proposal (the policy's candidate) goes through the same transforms as a parent, and
    /// what it confirms is credited to it, not to the parents.
    #[test]
    fn a_proposal_is_matched_up_to_the_transforms() {
        let cube =
            Program::parse("lambda [ #0 ] ( map ( lambda [ #1 ] ( * ( #1 * ( #1 #1 ) ) ) #0 ) )")
                .unwrap();
        let s = settings(0, 0);
        let (found, fig) = run(
            &parents(),
            &[cube],
            &[],
            &targets(),
            &s,
            &Limits::default(),
            60,
        );
        assert_eq!(solved(&found), [0, 1, 2, 3, 4], "{found:#?}");
        assert_eq!((fig.by_parent, fig.by_proposal), (4, 1), "{fig:?}");
        let (_, without) = run_on_targets(&s);
        assert_eq!(without.by_proposal, 0);
    }

    /// The parent itself, through the transforms: affine, shift, partial sums, differences.
    #[test]
    fn the_transforms_of_a_parent_solve_their_targets() {
        let (found, fig) = run_on_targets(&settings(0, 0));
        assert_eq!(solved(&found), [0, 1, 2, 3], "{found:#?}");
        assert_eq!((fig.by_parent, fig.mutants), (4, 0));
        assert!(
            fig.by_shift >= 1 && fig.by_sum == 1 && fig.by_diff == 1,
            "{fig:?}"
        );
        // every program is right on all 60 terms when evaluated again
        let ev = Evaluator::new(Limits::default().for_input_len(60));
        for f in &found {
            let out = ev.eval(&Program::parse(&f.program).unwrap()).unwrap();
            assert_eq!(out, targets().terms[f.target as usize], "{}", f.program);
        }
    }

    /// Mutation reaches n³ (then n³ + 7 by the transform); the unrelated target stays open.
    #[test]
    fn mutants_reach_what_the_parent_does_not() {
        let (found, fig) = run_on_targets(&settings(2, 3000));
        assert_eq!(solved(&found), [0, 1, 2, 3, 4], "{fig:?}");
        assert!(fig.mutants >= 3000 && fig.evaluated > 1000, "{fig:?}");
        let again = run_on_targets(&settings(2, 3000));
        assert_eq!(again.0, found, "the same inputs give the same programs");
    }

    /// With the transforms off (max_coef 0, no shift, no derived forms) only exact matches count.
    #[test]
    fn exact_matching_alone_finds_the_output_itself() {
        let t = vec![
            seq(|n| n * n),
            seq(|n| 3 * n * n + 1),
            seq(|n| (n + 2) * (n + 2)),
        ];
        let targets = Targets::new(t, vec![true; 3], 35, 0);
        let s = Settings {
            max_coef: 0,
            max_shift: 0,
            derive: false,
            compose: false,
            ..settings(0, 0)
        };
        let (found, _) = run(&parents(), &[], &[], &targets, &s, &Limits::default(), 60);
        assert_eq!(solved(&found), [0], "{found:#?}");
    }

    /// Composition reaches n² · n (then n³ + 7 by the transform) without a mutation round.
    #[test]
    fn composition_with_the_index_reaches_a_product() {
        let s = Settings {
            compose: true,
            ..settings(0, 0)
        };
        let (found, fig) = run_on_targets(&s);
        assert!(solved(&found).contains(&4), "{fig:?}");
        assert_eq!(fig.by_compose, 1, "{fig:?}");
        assert!(!solved(&found).contains(&5));
    }

    /// A target keeps its all-terms program over shorter ones right on the first L terms only.
    #[test]
    fn a_target_keeps_its_all_terms_program_first() {
        let f = |all_terms, tokens, program: &str| Found {
            target: 0,
            all_terms,
            tokens,
            program: program.to_string(),
        };
        let v = vec![
            f(false, 10, "a"),
            f(true, 30, "c"),
            f(false, 12, "b"),
            f(true, 20, "d"),
        ];
        assert_eq!(keep(v, 2), [f(true, 20, "d")]);
        let v = vec![f(false, 12, "b"), f(false, 10, "a"), f(false, 30, "c")];
        assert_eq!(keep(v, 2), [f(false, 10, "a"), f(false, 12, "b")]);
    }
}
