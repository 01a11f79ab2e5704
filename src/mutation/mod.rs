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
use num_bigint::BigInt;
use rand::distributions::{Distribution, WeightedIndex};
use rand::Rng;
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use transform::{affine, normal, normal_i64, Affine, Normal};

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
    /// Also match the further forms of pointwise programs ([`Derive::MORE`]: second differences,
    /// double partial sums, p², n·p, divisor sums, the binomial transform and its inverse), and
    /// the bisections p(2n), p(2n - 1) of the found programs (the parents, the proposals and what
    /// a round confirms).
    pub more: bool,
    /// Join two found sequences ([`pairs`]): at most this many of the found programs (0: off).
    pub pairs: usize,
    /// ... and convolve every two of the first this many of them ([`convolutions`]).
    pub convolve: usize,
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
    /// ... of each further form (`Settings::more`), by name.
    pub by_form: BTreeMap<&'static str, usize>,
    /// ... by a mutant that used a library item; and the evaluated mutants that did.
    pub by_library: usize,
    pub library_mutants: u64,
    /// Targets the library's composition solved (all known terms), its leaves and pairs.
    pub by_compose: usize,
    pub compose_items: usize,
    pub compose_pairs: usize,
    /// Targets two found sequences joined solved (all known terms).
    pub by_pairs: usize,
    /// ... and by a parent itself, before any mutation; by one of the proposals (the policy's
    /// candidates), after the parents.
    pub by_parent: usize,
    pub by_proposal: usize,
    /// Targets solved (all known terms) by a program with its first terms patched.
    pub patched: usize,
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
    // The further forms (`Settings::more`):
    /// The second differences.
    Diff2,
    /// The partial sums of the partial sums.
    Sum2,
    /// p(n)².
    Square,
    /// n · p(n).
    Times,
    /// Σ_{d | n} p(d) (the inverse Möbius transform).
    DivSum,
    /// Σ_{k=1..n} C(n-1, k-1) p(k) (the binomial transform).
    Binomial,
    /// Σ_{k=1..n} (-1)^(n-k) C(n-1, k-1) p(k) (the inverse binomial transform).
    InvBinomial,
    /// p(2n) (a bisection; found programs only, which are evaluated on twice the terms).
    Even,
    /// p(2n - 1).
    Odd,
}

/// The leading values of `p` that are `i64`s, widened: what [`Derive::values`] reads.
fn ints(p: &[Num]) -> Vec<i128> {
    p.iter().map_while(|x| x.as_i64().map(i128::from)).collect()
}

impl Derive {
    /// The further forms computed from the first terms alone (every mutant's).
    const MORE: [Derive; 7] = [
        Derive::Diff2,
        Derive::Sum2,
        Derive::Square,
        Derive::Times,
        Derive::DivSum,
        Derive::Binomial,
        Derive::InvBinomial,
    ];

    /// The name of a further form (None for p itself, its differences and partial sums).
    pub fn further(self) -> Option<&'static str> {
        Some(match self {
            Derive::Same | Derive::Diff | Derive::Sum => return None,
            Derive::Diff2 => "second_differences",
            Derive::Sum2 => "double_partial_sums",
            Derive::Square => "square",
            Derive::Times => "times_n",
            Derive::DivSum => "divisor_sums",
            Derive::Binomial => "binomial",
            Derive::InvBinomial => "inverse_binomial",
            Derive::Even => "bisection_even",
            Derive::Odd => "bisection_odd",
        })
    }

    /// The derived values from p's values `v` (1-based: `v[0]` is p(1); the leading ones that
    /// are `i64`s, [`ints`]), as far as they stay in 128 bits; None for the forms a caller
    /// computes itself.
    fn values(self, v: &[i128]) -> Option<Vec<Num>> {
        let out: Vec<i128> = match self {
            Derive::Diff2 => v
                .windows(3)
                .map_while(|w| w[2].checked_sub(w[1].checked_mul(2)?)?.checked_add(w[0]))
                .collect(),
            Derive::Sum2 => {
                let (mut a, mut b) = (0i128, 0i128);
                v.iter()
                    .map_while(|&x| {
                        a = a.checked_add(x)?;
                        b = b.checked_add(a)?;
                        Some(b)
                    })
                    .collect()
            }
            Derive::Square => v.iter().map_while(|&x| x.checked_mul(x)).collect(),
            Derive::Times => (1i128..)
                .zip(v)
                .map_while(|(n, &x)| x.checked_mul(n))
                .collect(),
            Derive::DivSum => (1..=v.len())
                .map_while(|n| {
                    (1..=n)
                        .filter(|d| n % d == 0)
                        .try_fold(0i128, |acc, d| acc.checked_add(v[d - 1]))
                })
                .collect(),
            Derive::Binomial | Derive::InvBinomial => {
                // row n - 1 of Pascal's triangle, built as n grows
                let mut row: Vec<i128> = Vec::with_capacity(v.len());
                let mut out = Vec::with_capacity(v.len());
                'n: for n in 1..=v.len() {
                    let mut next = vec![1i128; n];
                    for k in 1..n - 1 {
                        match row[k - 1].checked_add(row[k]) {
                            Some(c) => next[k] = c,
                            None => break 'n,
                        }
                    }
                    row = next;
                    let mut acc = 0i128;
                    for k in 1..=n {
                        let sign = if self == Derive::InvBinomial && (n - k) % 2 == 1 {
                            -1
                        } else {
                            1
                        };
                        let Some(a) = row[k - 1]
                            .checked_mul(v[k - 1])
                            .and_then(|t| acc.checked_add(sign * t))
                        else {
                            break 'n;
                        };
                        acc = a;
                    }
                    out.push(acc);
                }
                out
            }
            Derive::Even => v.iter().skip(1).step_by(2).copied().collect(),
            Derive::Odd => v.iter().step_by(2).copied().collect(),
            Derive::Same | Derive::Diff | Derive::Sum => return None,
        };
        Some(out.into_iter().map(Num::from).collect())
    }
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

/// `loop ( lambda [ #2 #3 ] ( body ) #1 0 )`: a sum over k = 1..n, the state `#2`, k `#3`.
fn sum_loop(body: Expr) -> Expr {
    sum_loop_to(body, Expr::Var(1))
}

/// [`sum_loop`] over k = 1..upto.
fn sum_loop_to(body: Expr, upto: Expr) -> Expr {
    Expr::App(
        Prim::Loop,
        vec![
            Expr::Lambda {
                first: 2,
                params: 2,
                body: Box::new(body),
            },
            upto,
            Expr::Const(0),
        ],
    )
}

/// C(n-1, k-1) inside [`sum_loop`] (n `#1`, k `#3`): y_i = y_(i-1) · (n - k + i) / i for
/// i = 1..k-1 from y_0 = 1, every division exact (y_i = C(n - k + i, i)).
fn binomial_coefficient() -> Expr {
    use Expr::{App, Const, Var};
    App(
        Prim::Loop,
        vec![
            Expr::Lambda {
                first: 4,
                params: 2,
                body: Box::new(App(
                    Prim::Div,
                    vec![
                        App(
                            Prim::Mul,
                            vec![
                                Var(4),
                                App(
                                    Prim::Add,
                                    vec![App(Prim::Sub, vec![Var(1), Var(3)]), Var(5)],
                                ),
                            ],
                        ),
                        Var(5),
                    ],
                )),
            },
            App(Prim::Sub, vec![Var(3), Const(1)]),
            Const(1),
        ],
    )
}

/// The pointwise body of what `d` derives from E.
fn derived(e: &Expr, d: Derive) -> Option<Expr> {
    use Expr::{App, Const, Var};
    Some(match d {
        Derive::Same => e.clone(),
        Derive::Diff => App(Prim::Sub, vec![ops::shift_index(e, 1), e.clone()]),
        Derive::Sum => sum_loop(App(Prim::Add, vec![Var(2), rebind_for_loop(e)?])),
        Derive::Diff2 => derived(&derived(e, Derive::Diff)?, Derive::Diff)?,
        Derive::Sum2 => derived(&derived(e, Derive::Sum)?, Derive::Sum)?,
        Derive::Square => App(Prim::Mul, vec![e.clone(), e.clone()]),
        Derive::Times => App(Prim::Mul, vec![Var(1), e.clone()]),
        Derive::DivSum => sum_loop(App(
            Prim::Add,
            vec![
                Var(2),
                App(
                    Prim::If,
                    vec![
                        App(
                            Prim::Eq,
                            vec![App(Prim::Mod, vec![Var(1), Var(3)]), Const(0)],
                        ),
                        rebind_for_loop(e)?,
                        Const(0),
                    ],
                ),
            ],
        )),
        Derive::Binomial => sum_loop(App(
            Prim::Add,
            vec![
                Var(2),
                App(Prim::Mul, vec![binomial_coefficient(), rebind_for_loop(e)?]),
            ],
        )),
        Derive::InvBinomial => {
            let term = App(Prim::Mul, vec![binomial_coefficient(), rebind_for_loop(e)?]);
            // (-1)^(n-k): + when n + k is even
            let even = App(
                Prim::Eq,
                vec![
                    App(
                        Prim::Mod,
                        vec![App(Prim::Add, vec![Var(1), Var(3)]), Const(2)],
                    ),
                    Const(0),
                ],
            );
            sum_loop(App(
                Prim::If,
                vec![
                    even,
                    App(Prim::Add, vec![Var(2), term.clone()]),
                    App(Prim::Sub, vec![Var(2), term]),
                ],
            ))
        }
        Derive::Even => ops::substitute(e, &App(Prim::Mul, vec![Const(2), Var(1)])),
        Derive::Odd => ops::substitute(
            e,
            &App(
                Prim::Sub,
                vec![App(Prim::Mul, vec![Const(2), Var(1)]), Const(1)],
            ),
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

/// What a lookup reads of a program: its values on the evaluator's input (`[1..L + max_shift]`
/// and more: the shifts) when it is pointwise, on `[1..L]` otherwise (their values may depend
/// on the input's length).
struct Reader {
    pointwise: Evaluator,
    other: Evaluator,
}

impl Reader {
    fn new(limits: Limits, len: usize) -> Reader {
        Reader {
            other: Evaluator::new(Limits {
                input_len: len,
                ..limits.clone()
            }),
            pointwise: Evaluator::new(limits),
        }
    }

    fn eval(&self, p: &Program) -> Result<Vec<Num>, crate::dsl::EvalError> {
        match pointwise(&p.body) {
            Some(_) => self.pointwise.eval(p),
            None => self.other.eval(p),
        }
    }
}

/// A pointwise program `map ( lambda [ #1 ] ( E ) #0 )` that a lookup matched on the target's
/// terms `skip+1..`, with its first terms patched to the target's: `if ( == ( #1 i ) t_i E )`
/// for each position i <= skip where its value `first` differs from the target's, or, when it
/// has no value there (`first` None: an error, e.g. p(0) of a shift), for each of them. The
/// `if` is lazy, so E is not evaluated where it is patched. None: not pointwise, the paper
/// dialect (no `if`), or a difference past the first `skip` terms.
fn patched(
    p: &Program,
    t: &[Num],
    first: Option<&[Num]>,
    len: usize,
    skip: usize,
    dialect: Dialect,
) -> Option<Program> {
    if dialect != Dialect::Loops || skip == 0 || t.len() < len {
        return None;
    }
    let e = pointwise(&p.body)?;
    let at: Vec<usize> = match first {
        Some(v) if v.len() >= len => {
            let differ: Vec<usize> = (0..len).filter(|&i| v[i] != t[i]).collect();
            if differ.is_empty() || differ.iter().any(|&i| i >= skip) {
                return None;
            }
            differ
        }
        Some(_) => return None,
        None => (0..skip).collect(),
    };
    let mut text = expr_text(e);
    for &i in at.iter().rev() {
        text = format!(
            "if ( == ( #1 {} ) {} {text} )",
            crate::enumerator::fitted::constant(&BigInt::from(i + 1)),
            crate::enumerator::fitted::constant(&t[i].to_big()),
        );
    }
    Program::parse(&format!(
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( {text} ) #0 ) )"
    ))
    .ok()
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
/// `long`: a pointwise program's values on twice the terms, for its bisections.
fn lookups(
    body: &Expr,
    out: &[Num],
    long: Option<&[Num]>,
    targets: &Targets,
    s: &Settings,
    mut hit: impl FnMut(Hit),
) {
    let (len, skip) = (targets.len, targets.skip);
    let full = len + 2 * skip + 1;
    let (shifts, derives): (Vec<i8>, Derived) = if out.len() >= full && pointwise(body).is_some() {
        let mut derives = vec![(Derive::Same, Cow::Borrowed(out))];
        if s.more {
            let v = ints(out);
            for d in Derive::MORE {
                derives.extend(d.values(&v).map(|v| (d, v.into())));
            }
            if let Some(long) = long {
                let v = ints(long);
                for d in [Derive::Even, Derive::Odd] {
                    derives.extend(d.values(&v).map(|v| (d, v.into())));
                }
            }
        }
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
            matches(&pn, targets, s, |t, f| {
                hit(Hit {
                    target: t,
                    f,
                    shift: sh,
                    derive: *derive,
                    body: body.clone(),
                    library: false,
                })
            });
        }
    }
}

/// Every open target whose window has the normal form `pn`, with the affine map to it (within
/// `max_coef` and `max_offset`; the identity only when `max_coef` is 0).
fn matches(pn: &Normal, targets: &Targets, s: &Settings, mut each: impl FnMut(u32, Affine)) {
    let Some(ts) = targets.by_key.get(&pn.key) else {
        return;
    };
    let (coef, offset) = (s.max_coef.max(1) as i128, s.max_offset as i128);
    for &(t, tn) in ts {
        let Some(f) = affine(pn, &tn, coef, offset) else {
            continue;
        };
        if s.max_coef == 0 && !f.is_identity() {
            continue;
        }
        each(t, f);
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
                    lookups(&p.body, &v, None, targets, s, |mut h| {
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

/// The operators [`pairs`] joins two found sequences with (`-` covers `B - A` too: the two
/// share a normal form).
const PAIR_OPS: [Prim; 3] = [Prim::Add, Prim::Sub, Prim::Mul];

/// Two found sequences at once: for every two pointwise programs A, B of `found` (distinct
/// values, at most `s.pairs` of them), `A + B`, `A - B`, `A · B`, and `A[#1 := B]` where B's
/// values index A's, are looked up with the affine transform (no shift, no derived forms: one
/// hash a vector), and, for the first `s.convolve` items, their [`convolutions`]. The values
/// come from A's and B's (sums and products in `i64`, exact where they fit: a value past `i64`
/// has no normal form to match); nothing is evaluated but the items themselves. Targets
/// `closed` by this run already are not looked at.
fn pairs(
    found: &[Program],
    ev: &Evaluator,
    targets: &Targets,
    s: &Settings,
    closed: &HashSet<u32>,
) -> Vec<Vec<Hit>> {
    let (len, skip) = (targets.len, targets.skip);
    let mut seen: HashSet<Vec<Num>> = HashSet::new();
    let bodies: Vec<&Expr> = found.iter().filter_map(|p| pointwise(&p.body)).collect();
    let vals: Vec<Option<Vec<Num>>> = bodies
        .par_iter()
        .map(|e| ev.eval(&ops::map_program((*e).clone())).ok())
        .collect();
    // (body, values, the first L values in i64 where they all are)
    type Item<'a> = (&'a Expr, Vec<Num>, Option<Vec<i64>>);
    let mut items: Vec<Item> = Vec::new();
    for (e, v) in bodies.into_iter().zip(vals) {
        let Some(v) = v else { continue };
        if v.len() >= len && normal(&v[skip..len]).is_some() && seen.insert(v.clone()) {
            let small: Option<Vec<i64>> = v[..len].iter().map(Num::as_i64).collect();
            items.push((e, v, small));
        }
        if items.len() >= s.pairs {
            break;
        }
    }
    // the items whose first L values can index another's (all in 1..=its length)
    let index: Vec<bool> = items
        .iter()
        .map(|(_, v, _)| {
            v[..len].iter().all(|i| {
                i.as_i64()
                    .is_some_and(|i| (1..=ev.limits().input_len as i64).contains(&i))
            })
        })
        .collect();
    // a target this run has solved already is not looked at again; `body` is spelled on a hit
    // only (None: it cannot be)
    let look = |pn: Option<Normal>, body: &dyn Fn() -> Option<Expr>, hits: &mut Vec<Hit>| {
        let Some(pn) = pn else {
            return;
        };
        matches(&pn, targets, s, |t, f| {
            if closed.contains(&t) {
                return;
            }
            if let Some(e) = body() {
                hits.push(Hit {
                    target: t,
                    f,
                    shift: 0,
                    derive: Derive::Same,
                    body: ops::map_program(e).body,
                    library: false,
                });
            }
        });
    };
    (0..items.len())
        .into_par_iter()
        .map(|a| {
            let mut hits = Vec::new();
            let (ea, va, sa) = &items[a];
            let mut buf: Vec<i64> = vec![0; len];
            for (b, (eb, vb, sb)) in items.iter().enumerate() {
                // A op B, in i64: a value past it cannot be matched (normal forms are of i64s)
                if let (true, Some(x), Some(y)) = (b > a, sa, sb) {
                    for p in PAIR_OPS {
                        let f = match p {
                            Prim::Add => i64::checked_add,
                            Prim::Sub => i64::checked_sub,
                            _ => i64::checked_mul,
                        };
                        let ok = (0..len).all(|i| f(x[i], y[i]).map(|v| buf[i] = v).is_some());
                        if ok {
                            let body = || Some(Expr::App(p, vec![(*ea).clone(), (*eb).clone()]));
                            look(normal_i64(&buf[skip..len]), &body, &mut hits);
                        }
                    }
                }
                // A(B(n)), where B's values index A's
                if a != b && index[b] {
                    let v: Vec<Num> = vb[..len]
                        .iter()
                        .map(|i| va[i.as_i64().unwrap_or(1) as usize - 1].clone())
                        .collect();
                    let body = || Some(ops::substitute(ea, eb));
                    look(normal(&v[skip..len]), &body, &mut hits);
                }
                // the convolutions, of the first `s.convolve` items
                if a < s.convolve && b < s.convolve {
                    for (kind, sa, sb, v) in convolutions(va, vb, len) {
                        let body = || convolution(ea, eb, kind, sa, sb);
                        look(normal(&v[skip..len]), &body, &mut hits);
                    }
                }
                if hits.len() > MAX_HITS * 4 {
                    break;
                }
            }
            hits
        })
        .collect()
}

/// How far a convolution of two sequences runs: k = 1..K(n).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Upto {
    /// K = n: the whole convolution.
    All,
    /// K = floor((n + 1) / 2) (Kimberling's half convolutions).
    HalfUp,
    /// K = floor(n / 2).
    HalfDown,
}

impl Upto {
    fn at(self, n: usize) -> usize {
        match self {
            Upto::All => n,
            Upto::HalfUp => n.div_ceil(2),
            Upto::HalfDown => n / 2,
        }
    }
}

/// c(n) = Σ_{k=1..K(n)} A(k + sa) · B(n + 1 - k + sb) for n = 1..len, for every K of [`Upto`]
/// and every sa, sb in {0, 1} (the sources' own offsets), from A's and B's values (1-based);
/// the ones that stay in 128 bits and use values that are there.
fn convolutions(va: &[Num], vb: &[Num], len: usize) -> Vec<(Upto, u8, u8, Vec<Num>)> {
    let (ia, ib) = (ints(va), ints(vb));
    let mut out = Vec::new();
    for kind in [Upto::All, Upto::HalfUp, Upto::HalfDown] {
        for sa in 0..2u8 {
            for sb in 0..2u8 {
                let v: Option<Vec<Num>> = (1..=len)
                    .map(|n| {
                        (1..=kind.at(n)).try_fold(0i128, |acc, k| {
                            let x = *ia.get(k - 1 + sa as usize)?;
                            let y = *ib.get(n - k + sb as usize)?;
                            acc.checked_add(x.checked_mul(y)?)
                        })
                    })
                    .map(|c| c.map(Num::from))
                    .collect();
                if let Some(v) = v {
                    out.push((kind, sa, sb, v));
                }
            }
        }
    }
    out
}

/// The pointwise body of a convolution of A and B (see [`convolutions`]):
/// `loop ( lambda [ #2 #3 ] ( + ( #2 * ( A(#3 + sa) B(#1 + 1 + sb - #3) ) ) ) K 0 )`.
/// None where A or B cannot be rebound (past the last variable).
fn convolution(a: &Expr, b: &Expr, kind: Upto, sa: u8, sb: u8) -> Option<Expr> {
    use Expr::{App, Const, Var};
    let ak = rebind_for_loop(a)?;
    let ak = if sa == 0 {
        ak
    } else {
        ops::substitute_var(&ak, 3, &App(Prim::Add, vec![Var(3), Const(sa)]))
    };
    let bk = rebind_for_loop(b)?;
    let bk = ops::substitute_var(
        &bk,
        3,
        &App(
            Prim::Sub,
            vec![App(Prim::Add, vec![Var(1), Const(1 + sb)]), Var(3)],
        ),
    );
    // floor(m / 2) = (m - m % 2) / 2: the DSL's `/` rounds to nearest
    let half = |m: Expr| {
        App(
            Prim::Div,
            vec![
                App(
                    Prim::Sub,
                    vec![m.clone(), App(Prim::Mod, vec![m, Const(2)])],
                ),
                Const(2),
            ],
        )
    };
    let upto = match kind {
        Upto::All => Var(1),
        Upto::HalfUp => half(App(Prim::Add, vec![Var(1), Const(1)])),
        Upto::HalfDown => half(Var(1)),
    };
    Some(sum_loop_to(
        App(Prim::Add, vec![Var(2), App(Prim::Mul, vec![ak, bk])]),
        upto,
    ))
}

/// What a run starts from: the parents (program, weight), the policy's proposals, the programs
/// that solve targets on all known terms (joined two at a time), the library's items (what
/// mutation may insert).
pub struct Sources<'a> {
    pub parents: &'a [(Program, f64)],
    pub proposals: &'a [Program],
    pub found: &'a [Program],
    pub library: &'a [Expr],
}

/// Runs the mutation rounds from `sources`. `base`: the DSL limits (L, bound); `max_terms`:
/// the all-known-terms check's cap.
pub fn run(
    sources: &Sources,
    targets: &Targets,
    s: &Settings,
    base: &Limits,
    max_terms: usize,
) -> (Vec<Found>, Figures) {
    let &Sources {
        parents,
        proposals,
        found: found_programs,
        library,
    } = sources;
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

    // the mutants are read with their own budget, the programs found so far (parents,
    // proposals, the found ones joined) with the DSL's, as verify checks them: many solutions
    // (the n-th k such that ...) take millions of steps and would never be matched otherwise
    let output = Reader::new(ev.limits().clone(), len);
    let full = Evaluator::new(Limits {
        max_steps: base.max_steps,
        ..ev.limits().clone()
    });
    let found_output = Reader::new(full.limits().clone(), len);
    // the bisections read a found program's values on twice the terms
    let twice = Evaluator::new(Limits {
        input_len: 2 * ev.limits().input_len,
        ..full.limits().clone()
    });
    // the parents themselves, before any mutation
    let matched = |ps: Vec<&Program>| -> Vec<Vec<Hit>> {
        ps.par_iter()
            .map(|p| {
                let mut hits = Vec::new();
                if let Ok(out) = found_output.eval(p) {
                    let long = (s.more && pointwise(&p.body).is_some())
                        .then(|| twice.eval(p).ok())
                        .flatten();
                    lookups(&p.body, &out, long.as_deref(), targets, s, |h| hits.push(h));
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

    // two found sequences joined
    if s.pairs > 0 {
        let before = closed.len();
        let hits = pairs(found_programs, &full, targets, s, &closed);
        let new = confirm(hits, &check, &mut found, &mut closed, &mut fig);
        fig.by_pairs = closed.len() - before;
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
                    match output.eval(&m) {
                        Ok(out) => {
                            if hits.len() < MAX_HITS {
                                lookups(&m.body, &out, None, targets, s, |mut h| {
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
        let mut new = confirm(batches, &check, &mut found, &mut closed, &mut fig);
        if s.more {
            // what a round confirms is a found program: its own forms, the bisections too
            let outs = matched(new.iter().collect());
            fig.evaluated += new.len() as u64;
            let more = confirm(outs, &check, &mut found, &mut closed, &mut fig);
            new.extend(more);
        }
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
    let checked: Vec<Option<(Found, Program, bool)>> = todo
        .par_iter()
        .map(|(h, p)| {
            let t = &targets.terms[h.target as usize];
            let holds = |v: &[Num]| v.len() >= len && v[..len] == t[..len];
            let (p, patch) = match short.eval(p) {
                Ok(first) if holds(&first) => (p.clone(), false),
                // the lookup matched terms skip+1..; the first ones may follow another rule
                // (an OEIS offset convention, a(0) = 1): the program with them patched
                other => {
                    let q = patched(p, t, other.ok().as_deref(), len, targets.skip, s.dialect)?;
                    if !short.eval(&q).is_ok_and(|v| holds(&v)) {
                        return None;
                    }
                    (q, true)
                }
            };
            let n = known(h.target);
            let all_terms = n <= len
                || long[&n]
                    .eval(&p)
                    .is_ok_and(|v| v.len() >= n && v[..n] == t[..n]);
            let found = Found {
                target: h.target,
                all_terms,
                tokens: p.len(),
                program: p.to_string(),
            };
            Some((found, p, patch))
        })
        .collect();
    let mut new = Vec::new();
    for (f, (h, _)) in checked.into_iter().zip(todo) {
        let Some((f, p, patch)) = f else { continue };
        fig.confirmed += 1;
        if f.all_terms && closed.insert(f.target) {
            fig.by_affine += (!h.f.is_identity()) as usize;
            fig.by_shift += (h.shift != 0) as usize;
            fig.by_diff += (h.derive == Derive::Diff) as usize;
            fig.by_sum += (h.derive == Derive::Sum) as usize;
            if let Some(name) = h.derive.further() {
                *fig.by_form.entry(name).or_default() += 1;
            }
            fig.by_library += h.library as usize;
            fig.patched += usize::from(patch);
        }
        found.entry(f.target).or_default().push(f);
        new.push(p);
    }
    new
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`super::run`] with its sources spelled out.
    #[allow(clippy::too_many_arguments)]
    fn run(
        parents: &[(Program, f64)],
        proposals: &[Program],
        found: &[Program],
        library: &[Expr],
        targets: &Targets,
        s: &Settings,
        base: &Limits,
        max_terms: usize,
    ) -> (Vec<Found>, Figures) {
        let sources = Sources {
            parents,
            proposals,
            found,
            library,
        };
        super::run(&sources, targets, s, base, max_terms)
    }

    /// [`run`] from the [`parents`] alone (no proposals, found programs or library).
    fn from_parents(targets: &Targets, s: &Settings, n: usize) -> (Vec<Found>, Figures) {
        run(&parents(), &[], &[], &[], targets, s, &Limits::default(), n)
    }

    /// [`run`] from found programs alone (no parents, proposals or library).
    fn join(found: &[Program], targets: &Targets, s: &Settings, n: usize) -> (Vec<Found>, Figures) {
        run(&[], &[], found, &[], targets, s, &Limits::default(), n)
    }

    /// Every found program gives its target's known terms when evaluated again on `n` terms.
    fn assert_right(found: &[Found], targets: &Targets, n: usize) {
        assert_right_within(found, targets, Limits::default().for_input_len(n));
    }

    /// [`assert_right`] under the given limits (their `input_len` terms).
    fn assert_right_within(found: &[Found], targets: &Targets, limits: Limits) {
        let ev = Evaluator::new(limits);
        for f in found {
            let out = ev.eval(&Program::parse(&f.program).unwrap()).unwrap();
            assert_eq!(out, targets.terms[f.target as usize], "{}", f.program);
        }
    }

    /// `map ( lambda [ #1 ] ( b ) #0 )` for each body b.
    fn pointwise_programs(bodies: &[&str]) -> Vec<Program> {
        bodies
            .iter()
            .map(|b| {
                Program::parse(&format!(
                    "lambda [ #0 ] ( map ( lambda [ #1 ] ( {b} ) #0 ) )"
                ))
                .unwrap()
            })
            .collect()
    }

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
            more: false,
            pairs: 0,
            convolve: 0,
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
        from_parents(&targets(), s, 60)
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

    /// A found program past the mutants' step budget (`max_steps`) but within the DSL's is
    /// still matched, as a parent and as one of two found sequences joined: many solutions (the
    /// n-th k such that ...) take millions of steps.
    #[test]
    fn found_programs_are_read_with_the_dsl_budget_not_the_mutants() {
        // 1000 n by a loop of 1000 n additions: about 1.4 million steps on 37 terms
        let slow = Program::parse(
            "lambda [ #0 ] ( map ( lambda [ #1 ] ( loop ( lambda [ #2 #3 ] ( + ( #2 1 ) ) * ( #1 * ( 9 * ( 9 9 ) ) ) 0 ) ) #0 ) )",
        )
        .unwrap();
        let t = vec![seq(|n| 3 * 729 * n + 1), seq(|n| 729 * n + n * n)];
        let targets = Targets::new(t, vec![true; 2], 35, 2);
        let square = pointwise_programs(&["* ( #1 #1 )"]).remove(0);
        let mut s = settings(0, 0);
        s.pairs = 10;
        let budget = |max_steps| Limits {
            max_steps,
            ..Limits::default()
        };
        let parents = vec![(slow.clone(), 1.0)];
        let found = [slow.clone(), square.clone()];
        let within = |max_steps| {
            run(
                &parents,
                &[],
                &found,
                &[],
                &targets,
                &s,
                &budget(max_steps),
                60,
            )
        };
        let (hits, fig) = within(2_000_000);
        assert_eq!(solved(&hits), [0, 1], "{hits:#?}");
        assert_eq!((fig.by_parent, fig.by_pairs), (1, 1), "{fig:?}");
        assert_right_within(&hits, &targets, budget(2_000_000).for_input_len(60));
        // within the mutants' budget only, neither is reached
        let (hits, _) = within(100_000);
        assert!(solved(&hits).is_empty(), "{hits:#?}");
    }

    /// A match on the terms after the first `skip` whose first terms follow another rule (the
    /// OEIS's a(0) = 1 conventions) is confirmed with those terms patched by a lazy `if`; not in
    /// the paper dialect (no `if`), and never past the first `skip` terms.
    #[test]
    fn the_first_terms_of_a_match_are_patched_to_the_targets() {
        let mut first_differs = seq(|n| 3 * n * n + 1);
        first_differs[0] = Num::from(1i64);
        let mut third_differs = seq(|n| 3 * n * n + 1);
        third_differs[2] = Num::from(1i64);
        let mut both_differ = seq(|n| 3 * n * n + 1);
        both_differ[0] = Num::from(-12i64);
        both_differ[1] = Num::from(0i64);
        let t = vec![first_differs, third_differs, both_differ];
        let targets = Targets::new(t, vec![true; 3], 35, 2);
        let s = settings(0, 0);
        let (found, fig) = from_parents(&targets, &s, 60);
        assert_eq!(solved(&found), [0, 2], "{found:#?}");
        assert_eq!(fig.patched, 2, "{fig:?}");
        assert_right(&found, &targets, 60);
        let patched = |t: u32| {
            found
                .iter()
                .find(|f| f.target == t && f.all_terms)
                .unwrap()
                .program
                .clone()
        };
        assert!(
            patched(0).starts_with("lambda [ #0 ] ( map ( lambda [ #1 ] ( if ( == ( #1 1 ) 1 "),
            "{}",
            patched(0)
        );
        assert!(patched(2).contains("if ( == ( #1 2 ) 0 "), "{}", patched(2));
        // the paper dialect has no `if`: nothing is patched
        let paper = Settings {
            dialect: Dialect::Paper,
            ..s
        };
        let (found, fig) = from_parents(&targets, &paper, 60);
        assert!(solved(&found).is_empty(), "{found:#?}");
        assert_eq!(fig.patched, 0);
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
        let (found, _) = from_parents(&targets, &s, 60);
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

    /// Every further form's spelling evaluates to the values it is matched by, for bodies with
    /// and without their own lambdas (the loops rebind them).
    #[test]
    fn each_further_form_is_spelled_as_its_values() {
        let bodies = [
            "+ ( * ( #1 #1 ) 3 )",
            "loop ( lambda [ #2 #3 ] ( + ( * ( 2 #2 ) #3 ) ) #1 1 )",
            "% ( * ( #1 7 ) 5 )",
            "- ( 4 * ( #1 #1 ) )",
        ];
        let n = 24;
        let ev = Evaluator::new(Limits::default().for_input_len(n));
        let twice = Evaluator::new(Limits::default().for_input_len(2 * n));
        let all = Derive::MORE.iter().chain(&[Derive::Even, Derive::Odd]);
        for b in bodies {
            let p = pointwise_programs(&[b]).remove(0);
            let e = pointwise(&p.body).unwrap();
            for &d in all.clone() {
                let src = if matches!(d, Derive::Even | Derive::Odd) {
                    twice.eval(&p).unwrap()
                } else {
                    ev.eval(&p).unwrap()
                };
                let want = d.values(&ints(&src)).unwrap();
                assert!(want.len() >= n - 2, "{d:?} {b}: {}", want.len());
                let spelled = ops::map_program(derived(e, d).unwrap());
                check_in(&spelled, Dialect::Loops).unwrap_or_else(|err| panic!("{d:?} {b}: {err}"));
                let got = ev
                    .eval(&spelled)
                    .unwrap_or_else(|err| panic!("{d:?} {spelled}: {err:?}"));
                let k = want.len().min(n);
                assert_eq!(got[..k], want[..k], "{d:?}: {spelled}");
            }
        }
        // hand-checked values: the binomial transform of 1, 1, 1, ... is 1, 2, 4, 8, ...
        let ones = vec![Num::from(1i64); 6];
        let pow: Vec<Num> = [1i64, 2, 4, 8, 16, 32].map(Num::from).to_vec();
        assert_eq!(Derive::Binomial.values(&ints(&ones)).unwrap(), pow);
        assert_eq!(Derive::InvBinomial.values(&ints(&pow)).unwrap(), ones);
        // the divisor sums of n are sigma(n)
        let id: Vec<Num> = (1..=6i64).map(Num::from).collect();
        let sigma: Vec<Num> = [1i64, 3, 4, 7, 6, 12].map(Num::from).to_vec();
        assert_eq!(Derive::DivSum.values(&ints(&id)).unwrap(), sigma);
    }

    /// The further forms solve what the basic transforms do not: sigma(n) and the binomial
    /// transform of n² from the parent n², a bisection from a parent's values at 2n - 1; with
    /// `more` off they stay open.
    #[test]
    fn the_further_forms_reach_targets_the_basic_ones_do_not() {
        let sq = |n: i64| n * n;
        let seq =
            |f: &dyn Fn(i64) -> i64| -> Vec<Num> { (1..=40).map(|n| Num::from(f(n))).collect() };
        let t = vec![
            seq(&|n| (1..=n).filter(|d| n % d == 0).map(sq).sum::<i64>() + 5), // divisor sums, + 5
            seq(&|n| {
                // Σ C(n-1, k-1) k²
                let mut c = 1i64;
                let mut acc = 0;
                for k in 1..=n {
                    acc += c * k * k;
                    c = c * (n - k) / k;
                }
                acc
            }),
            seq(&|n| 3 * (2 * n - 1) * (2 * n - 1)), // 3 p(2n - 1)
            seq(&|n| if n % 7 == 3 { 1 } else { n }), // nothing of these
        ];
        let targets = Targets::new(t, vec![true; 4], 35, 2);
        let on = Settings {
            more: true,
            ..settings(0, 0)
        };
        let (found, fig) = from_parents(&targets, &on, 40);
        assert_eq!(solved(&found), [0, 1, 2], "{fig:?}");
        assert_eq!(fig.by_form.values().sum::<usize>(), 3, "{fig:?}");
        assert_right(&found, &targets, 40);
        let (found, _) = from_parents(&targets, &settings(0, 0), 40);
        assert!(solved(&found).is_empty(), "{found:#?}");
    }

    /// Two found sequences joined: a sum (with an affine correction), a product, and A(B(n));
    /// with `pairs` off they stay open.
    #[test]
    fn two_found_sequences_joined_solve_their_targets() {
        let found =
            pointwise_programs(&["* ( #1 #1 )", "+ ( % ( #1 3 ) 1 )", "* ( #1 * ( #1 #1 ) )"]);
        let t = vec![
            seq(|n| 2 * (n * n + n * n * n) + 4),
            seq(|n| n * n * n * n * n),
            seq(|n| (n % 3 + 1) * (n % 3 + 1) * (n % 3 + 1)),
            seq(|n| if n % 7 == 3 { 1 } else { n }),
        ];
        let targets = Targets::new(t, vec![true; 4], 35, 2);
        let on = Settings {
            pairs: 10,
            ..settings(0, 0)
        };
        let (got, fig) = join(&found, &targets, &on, 60);
        assert_eq!(solved(&got), [0, 1, 2], "{got:#?}");
        assert_eq!(fig.by_pairs, 3, "{fig:?}");
        assert_right(&got, &targets, 60);
        let (got, _) = join(&found, &targets, &settings(0, 0), 60);
        assert!(solved(&got).is_empty(), "{got:#?}");
    }

    /// Convolutions of two found sequences, whole and halved, with the sources' offsets: each
    /// spelling evaluates to its values, and they solve their targets.
    #[test]
    fn convolutions_of_found_sequences_are_spelled_and_solve() {
        let bodies = [
            "#1",
            "+ ( * ( 2 #1 ) 1 )",
            "loop2 ( + lambda [ #2 #3 ] ( #2 ) #1 0 1 )",
        ];
        let found = pointwise_programs(&bodies);
        let ev = Evaluator::new(Limits::default().for_input_len(40));
        let vals: Vec<Vec<Num>> = found.iter().map(|p| ev.eval(p).unwrap()).collect();
        for (i, a) in found.iter().enumerate() {
            for (j, b) in found.iter().enumerate() {
                let cs = convolutions(&vals[i], &vals[j], 35);
                assert_eq!(cs.len(), 12);
                for (kind, sa, sb, v) in cs {
                    let e = convolution(
                        pointwise(&a.body).unwrap(),
                        pointwise(&b.body).unwrap(),
                        kind,
                        sa,
                        sb,
                    )
                    .unwrap();
                    let p = ops::map_program(e);
                    check_in(&p, Dialect::Loops).unwrap();
                    let got = ev.eval(&p).unwrap();
                    assert_eq!(got[..35], v[..], "{kind:?} {sa} {sb}: {p}");
                }
            }
        }
        // n * (odd numbers), halved up: Σ_{k ≤ (n+1)/2} k (2 (n + 1 - k) + 1); the whole
        // convolution of the Fibonacci numbers with the naturals from 2
        let fib = |m: i64| {
            let (mut x, mut y) = (0i64, 1i64);
            for _ in 0..m {
                (x, y) = (y, x + y);
            }
            x
        };
        let t = vec![
            seq(|n| (1..=(n + 1) / 2).map(|k| k * (2 * (n + 1 - k) + 1)).sum()),
            seq(|n| (1..=n).map(|k| fib(k) * (n + 2 - k)).sum::<i64>() * 3 - 1),
        ];
        let t: Vec<Vec<Num>> = t.into_iter().map(|v| v[..40].to_vec()).collect();
        let targets = Targets::new(t, vec![true; 2], 35, 2);
        let on = Settings {
            pairs: 10,
            convolve: 10,
            ..settings(0, 0)
        };
        let (got, fig) = join(&found, &targets, &on, 40);
        assert_eq!(solved(&got), [0, 1], "{got:#?}");
        assert_eq!(fig.by_pairs, 2);
        for f in &got {
            let out = ev.eval(&Program::parse(&f.program).unwrap()).unwrap();
            assert_eq!(out, targets.terms[f.target as usize], "{}", f.program);
        }
        let off = Settings { convolve: 0, ..on };
        let (got, _) = join(&found, &targets, &off, 40);
        assert!(solved(&got).is_empty(), "{got:#?}");
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
