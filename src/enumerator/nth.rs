//! The `nth` family of the loops dialect (docs/enumerate.md, "Families"): the programs
//! `map ( lambda [ #1 ] ( nth ( lambda [ #2 ] ( P ) #1 S ) ) #0 )`, "the n-th k >= S such that
//! P(k)", for S in {0, 1} and predicates P of three forms, E an expression of k:
//!
//! - `cmp ( E c )`, cmp one of `== != < >` and c a constant;
//! - `prime(E)`: E is a prime, spelled with `loop` as trial division (the primality fragment,
//!   [`prime_text`]);
//! - `& ( prime(#2) prime(E) )`: k and E are both primes.
//!
//! One scan over k = S, S+1, ... gives the whole vector. Predicates are kept one per truth
//! pattern on k = 0..255, and only when at least [`MIN_HITS`] of those k satisfy them (a sparser
//! predicate would scan to the step budget for every position).

use super::body::{Bodies, BODY_OPS};
use super::family::{gather, Common, FamilyFigures, LoopsSettings, Matcher};
use super::vals::Vals;
use super::Hit;
use crate::dsl::Prim;
use rayon::prelude::*;
use std::collections::HashSet;
use std::time::Instant;

pub(super) const NTH_KIND: u128 = 42;

/// Predicates true for fewer of k = 0..255 are left out.
pub const MIN_HITS: u32 = 8;

/// Size of the primality fragment's scaffolding (like a fold's, counted once, not node by node).
pub const PRIME_SIZE: u32 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pred {
    Cmp(Prim, u32, u8),
    Prime(u32),
    PrimeAnd(u32),
}

/// The primality fragment for an expression `e` of `#2`: true exactly when e is a prime, by
/// x = e - 1, then x = min(x, e mod d) for d = 2..isqrt(e), and x > 0 (a negative e is a
/// `negative_sqrt` error).
pub fn prime_text(e: &str) -> String {
    format!(
        "> ( loop ( lambda [ #3 #4 ] ( min ( #3 % ( {e} + ( #4 1 ) ) ) ) - ( sqrt ( {e} ) 1 ) - ( {e} 1 ) ) 0 )"
    )
}

/// The fragment's value and steps for e (None: an error, or more than `max_steps` steps), given
/// the steps of one evaluation of e.
fn prime_eval(e: i64, e_steps: u64, max_steps: u64) -> Option<(bool, u64)> {
    if e < 0 {
        return None;
    }
    let r = e.isqrt();
    let iters = (r - 1).max(0) as u64;
    let steps = (e_steps + 2) + (e_steps + 1) + 1 + iters.checked_mul(4 + e_steps)? + 1;
    if steps > max_steps {
        return None;
    }
    let prime = e >= 2 && (2..=r).all(|d| e % d != 0);
    Some((prime, steps))
}

impl Pred {
    /// Truth and steps at k (None: an evaluation error).
    fn eval(self, b: &Bodies, k: i64, max_steps: u64) -> Option<(bool, u64)> {
        // an error, or a value past i64 (a primality test of it would pass any budget)
        let val = |e: u32| b.eval(e, k, 0).ok();
        match self {
            Pred::Cmp(p, e, c) => {
                let v = val(e)?;
                let c = c as i64;
                let t = match p {
                    Prim::Eq => v == c,
                    Prim::Ne => v != c,
                    Prim::Lt => v < c,
                    _ => v > c,
                };
                Some((t, b.steps[e as usize] + 1))
            }
            Pred::Prime(e) => prime_eval(val(e)?, b.steps[e as usize], max_steps),
            Pred::PrimeAnd(e) => {
                let (a, sa) = prime_eval(k, 0, max_steps)?;
                let (c, sc) = prime_eval(val(e)?, b.steps[e as usize], max_steps)?;
                Some((a && c, sa + sc + 1))
            }
        }
    }

    fn size(self, b: &Bodies) -> u32 {
        match self {
            Pred::Cmp(_, e, _) => 2 + b.size[e as usize],
            Pred::Prime(e) => PRIME_SIZE + b.size[e as usize],
            Pred::PrimeAnd(e) => 1 + 2 * PRIME_SIZE + 1 + b.size[e as usize],
        }
    }

    fn spell(self, b: &Bodies) -> String {
        let e = |id: u32| {
            let mut s = String::new();
            b.spell(id, 2, &mut s);
            s
        };
        match self {
            Pred::Cmp(p, x, c) => format!("{} ( {} {c} )", p.symbol(), e(x)),
            Pred::Prime(x) => prime_text(&e(x)),
            Pred::PrimeAnd(x) => format!("& ( {} {} )", prime_text("#2"), prime_text(&e(x))),
        }
    }
}

/// The `nth` family.
pub(super) fn nth_family(s: &LoopsSettings, c: &Common) -> (Vec<Hit>, FamilyFigures) {
    let started = Instant::now();
    let len = c.ev.limits().input_len;
    let max_steps = c.ev.limits().max_steps;
    let bound = c.ev.small_bound().unwrap_or(u64::MAX);
    let bodies = Bodies::build(1, s.nth_expr, &BODY_OPS);
    let exprs: Vec<u32> = (0..bodies.len() as u32)
        .filter(|&e| bodies.reads[e as usize] != 0)
        .collect();
    let mut preds: Vec<Pred> = Vec::new();
    for &e in &exprs {
        for p in [Prim::Eq, Prim::Ne, Prim::Lt, Prim::Gt] {
            for k in 0..10 {
                preds.push(Pred::Cmp(p, e, k));
            }
        }
        preds.push(Pred::Prime(e));
        preds.push(Pred::PrimeAnd(e));
    }
    // one predicate per truth pattern on 0..255, dense enough; smaller first (stable sort)
    preds.sort_by_key(|p| p.size(&bodies));
    let patterns: Vec<Option<[u64; 4]>> = preds
        .par_iter()
        .map(|p| {
            let mut bits = [0u64; 4];
            for k in 0..256i64 {
                match p.eval(&bodies, k, max_steps) {
                    Some((true, _)) => bits[k as usize / 64] |= 1 << (k % 64),
                    Some((false, _)) => {}
                    None => {}
                }
            }
            let n: u32 = bits.iter().map(|b| b.count_ones()).sum();
            (n >= MIN_HITS).then_some(bits)
        })
        .collect();
    let mut seen: HashSet<[u64; 4]> = HashSet::new();
    let kept: Vec<Pred> = preds
        .iter()
        .zip(&patterns)
        .filter_map(|(p, bits)| bits.filter(|b| seen.insert(*b)).map(|_| *p))
        .collect();
    let parts: Vec<Matcher> = kept
        .par_chunks(64)
        .enumerate()
        .map(|(ci, chunk)| {
            let mut m = Matcher::new(c.index, c.ev, NTH_KIND, c.full, c.per_target);
            let mut vals = Vec::with_capacity(len);
            for (pi, &pred) in chunk.iter().enumerate() {
                let index = (ci * 64 + pi) as u64;
                for start in [0i64, 1] {
                    m.evaluated += 1;
                    if scan(pred, &bodies, start, len, max_steps, bound, &mut vals) {
                        let size = 1 + pred.size(&bodies) + 2;
                        let spell = || {
                            format!(
                                "lambda [ #0 ] ( map ( lambda [ #1 ] ( nth ( lambda [ #2 ] ( {} ) #1 {start} ) ) #0 ) )",
                                pred.spell(&bodies)
                            )
                        };
                        m.offer(Vals::Small(&vals), size, index << 1 | start as u64, spell);
                    } else {
                        m.errors += 1;
                    }
                }
            }
            m
        })
        .collect();
    gather("nth", parts, started)
}

/// The first `len` k >= start with the predicate, into `out`, when the whole program stays within
/// the step budget and the bound (false otherwise).
fn scan(
    pred: Pred,
    b: &Bodies,
    start: i64,
    len: usize,
    max_steps: u64,
    bound: u64,
    out: &mut Vec<i64>,
) -> bool {
    out.clear();
    let len64 = len as u64;
    // the map, and per position its call and the nth application
    let mut total: u64 = 1 + 2 * len64;
    let mut cum: u64 = 0;
    let mut k = start;
    while out.len() < len {
        if k.unsigned_abs() > bound {
            return false;
        }
        let Some((t, steps)) = pred.eval(b, k, max_steps) else {
            return false;
        };
        cum += 1 + steps;
        if t {
            out.push(k);
            total += cum;
        }
        // every position still to come scans at least this far
        if total + (len64 - out.len() as u64) * cum > max_steps {
            return false;
        }
        k += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{Evaluator, Limits, Num, Program};

    #[test]
    fn the_primality_fragment_is_trial_division_with_the_steps_counted() {
        let ev = Evaluator::new(Limits {
            input_len: 40,
            max_steps: 10_000_000,
            ..Limits::default()
        });
        // the n-th k >= 0 with k prime
        let src = format!(
            "lambda [ #0 ] ( map ( lambda [ #1 ] ( nth ( lambda [ #2 ] ( {} ) #1 0 ) ) #0 ) )",
            prime_text("#2")
        );
        let (terms, steps) = ev.eval_counted(&Program::parse(&src).unwrap()).unwrap();
        let primes: Vec<i64> = (2..200i64)
            .filter(|&p| (2..p).all(|d| p % d != 0))
            .take(40)
            .collect();
        assert_eq!(
            terms,
            primes.iter().map(|&p| Num::Small(p)).collect::<Vec<_>>()
        );
        let b = Bodies::build(1, 1, &BODY_OPS);
        let mut out = Vec::new();
        assert!(scan(Pred::Prime(0), &b, 0, 40, steps, u64::MAX, &mut out));
        assert_eq!(out, primes);
        // the scan's step count is the evaluator's, to the step
        assert!(!scan(
            Pred::Prime(0),
            &b,
            0,
            40,
            steps - 1,
            u64::MAX,
            &mut out
        ));
        assert_eq!(prime_eval(-1, 0, 1000), None);
        assert_eq!(prime_eval(1, 0, 1000).map(|r| r.0), Some(false));
        assert_eq!(prime_eval(2, 0, 1000).map(|r| r.0), Some(true));
        assert_eq!(prime_eval(49, 0, 1000).map(|r| r.0), Some(false));
        // a test past the budget is not run
        assert_eq!(prime_eval(1 << 60, 0, 1_000_000), None);
    }
}
