//! The `linrec` family of the loops dialect (docs/enumerate.md, "Families"): for each target,
//! the smallest integer linear recurrence its known terms satisfy,
//!
//!   a(n) = c_1 a(n-1) + ... + c_d a(n-d) + c    for every n > d,
//!
//! of order d = 1..=`linrec_order`, first without the constant c, then with it, spelled as a
//! program of `loop` and `loop2` whose constants are the coefficients and initial terms:
//!
//! - order 1: `loop ( lambda [ #2 #3 ] ( c_1 #2 + c ) - ( #1 1 ) a(1) )`;
//! - order 2: `loop2 ( F G - ( #1 1 ) a(1) a(0) )` with F = c_1 #2 + c_2 #3 + c, G = `#2`, and
//!   a(0) = (a(2) - c_1 a(1) - c) / c_2 when that is an integer; else
//!   `if ( < ( #1 2 ) a(1) loop2 ( F G - ( #1 2 ) a(2) a(1) ) )`;
//! - order d ≥ 3: an integer root r of the characteristic polynomial x^d - c_1 x^(d-1) - ... - c_d
//!   splits it as (x - r) Q(x); b(m) = a(m+1) - r a(m) satisfies the recurrence of Q (order d - 1,
//!   the same constant), and a = `loop ( lambda [ #2 #3 ] ( r #2 + B ) - ( #1 1 ) a(1) )` with B
//!   the program of b at the index `#3`, built the same way (nested loops, fresh variables).
//!   A polynomial without an integer root (tribonacci) is left out.
//!
//! The fit is exact: Gauss–Jordan elimination over the integers on every equation the target's
//! known terms give (all of them the stage passes, up to `verify.max_terms`: the recurrence holds
//! on all of them, or there is none), and the coefficients must be integers. Its matches are
//! added beside the candidates the other sources keep (`merge_extra`): an expression that agrees
//! with a target on the matched terms only must not keep out one fitted on all of them. The family's fast arithmetic is only a filter: its program is run by the
//! evaluator (step budget and bound included), and what it computes is what is matched.

use super::family::{Common, FamilyFigures, LoopsSettings};
use super::fitted::{self, constant, eliminate, linear};
use super::Hit;
use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{One, Signed, ToPrimitive, Zero};

/// The family's order-key kind.
pub(super) const LINREC_KIND: u128 = 43;

/// Largest |c_d| whose divisors are tried as roots.
const MAX_ROOT_SEARCH: u64 = 1_000_000;

/// A linear recurrence with integer coefficients: a(n) = Σ coefs[i] a(n-1-i) + constant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rec {
    pub coefs: Vec<BigInt>,
    pub constant: BigInt,
}

/// The smallest recurrence (order 1..=max_order, without then with a constant) that all of
/// `terms` satisfy, with at least two equations more than unknowns (so that it is a finding,
/// not a fit).
pub fn fit(terms: &[BigInt], max_order: usize) -> Option<Rec> {
    for d in 1..=max_order {
        for with_constant in [false, true] {
            let unknowns = d + with_constant as usize;
            if terms.len() < d + unknowns + 2 {
                continue;
            }
            if let Some(r) = solve(terms, d, with_constant) {
                return Some(r);
            }
        }
    }
    None
}

/// The unique integer solution of the equations of order d, if there is one.
fn solve(terms: &[BigInt], d: usize, with_constant: bool) -> Option<Rec> {
    let k = d + with_constant as usize;
    // rows: [a(n-1) .. a(n-d), (1), a(n)]
    let mut rows: Vec<Vec<BigInt>> = (d..terms.len())
        .map(|n| {
            let mut row: Vec<BigInt> = (1..=d).map(|i| terms[n - i].clone()).collect();
            if with_constant {
                row.push(BigInt::one());
            }
            row.push(terms[n].clone());
            row
        })
        .collect();
    let pivots = eliminate(&mut rows, k);
    // unique: every unknown has its pivot (then the pivots are (c, c) for c in 0..k)
    if pivots.len() < k {
        return None;
    }
    let next = k;
    // the remaining equations must all read 0 = 0
    if rows[next..].iter().any(|r| !r[k].is_zero()) {
        return None;
    }
    let mut x = Vec::with_capacity(k);
    for &(r, col) in &pivots {
        let (q, rem) = rows[r][k].div_rem(&rows[r][col]);
        if !rem.is_zero() {
            return None;
        }
        x.push(q);
    }
    let constant = if with_constant {
        x.pop().expect("the constant")
    } else {
        BigInt::zero()
    };
    let rec = Rec { coefs: x, constant };
    // the elimination is exact; this is a second route to the same claim
    (d..terms.len())
        .all(|n| rec.next(&terms[n - d..n]) == terms[n])
        .then_some(rec)
}

impl Rec {
    pub fn order(&self) -> usize {
        self.coefs.len()
    }

    /// The next term after `prev` (the last `order` terms, oldest first).
    pub fn next(&self, prev: &[BigInt]) -> BigInt {
        let d = self.order();
        let mut v = self.constant.clone();
        for i in 0..d {
            v += &self.coefs[i] * &prev[d - 1 - i];
        }
        v
    }

    /// The characteristic polynomial's integer roots (x^d - Σ c_i x^(d-i)), smallest |r| first.
    fn integer_roots(&self) -> Vec<BigInt> {
        let d = self.order();
        let last = &self.coefs[d - 1];
        let mut candidates: Vec<BigInt> = Vec::new();
        if last.is_zero() {
            candidates.push(BigInt::zero());
        } else if let Some(m) = last.abs().to_u64().filter(|&m| m <= MAX_ROOT_SEARCH) {
            let mut i = 1u64;
            while i * i <= m {
                if m % i == 0 {
                    for v in [i, m / i] {
                        candidates.push(BigInt::from(v));
                        candidates.push(-BigInt::from(v));
                    }
                }
                i += 1;
            }
        }
        candidates.sort_by(|a, b| a.abs().cmp(&b.abs()).then(b.cmp(a)));
        candidates.dedup();
        candidates.retain(|r| {
            // P(r) by Horner: 1, -c_1, ..., -c_d
            let mut v = BigInt::one();
            for c in &self.coefs {
                v = v * r - c;
            }
            v.is_zero()
        });
        candidates
    }

    /// The recurrence of b(m) = a(m+1) - r a(m), for a root r: P(x) = (x - r) Q(x).
    fn deflate(&self, r: &BigInt) -> Rec {
        // Q's coefficients q_0 = 1, q_i = p_i + r q_(i-1), with p_i = -c_i; b(m) = Σ -q_i b(m-i) + c
        let mut q = BigInt::one();
        let mut coefs = Vec::with_capacity(self.order() - 1);
        for c in &self.coefs[..self.order() - 1] {
            q = -c + r * &q;
            coefs.push(-q.clone());
        }
        Rec {
            coefs,
            constant: self.constant.clone(),
        }
    }
}

/// The expression of a(idx) for idx ≥ 1, a the sequence of `rec` from `init` = a(1)..a(d),
/// with variables from `#var` on; None when an order ≥ 3 has no integer root to split by.
pub fn spell(rec: &Rec, init: &[BigInt], idx: &str, var: u32) -> Option<String> {
    let d = rec.order();
    debug_assert!(init.len() >= d);
    let (x, y) = (format!("#{var}"), format!("#{}", var + 1));
    if var + 1 > 15 {
        return None;
    }
    match d {
        1 => {
            let body = linear(&[(&rec.coefs[0], x.clone())], &rec.constant);
            Some(format!(
                "loop ( lambda [ {x} {y} ] ( {body} ) - ( {idx} 1 ) {} )",
                constant(&init[0])
            ))
        }
        2 => {
            let f = linear(
                &[(&rec.coefs[0], x.clone()), (&rec.coefs[1], y.clone())],
                &rec.constant,
            );
            let pair = format!("lambda [ {x} {y} ] ( {f} ) lambda [ {x} {y} ] ( {x} )");
            let c2 = &rec.coefs[1];
            let back = &init[1] - &rec.coefs[0] * &init[0] - &rec.constant;
            if !c2.is_zero() && back.is_multiple_of(c2) {
                let a0 = back / c2;
                Some(format!(
                    "loop2 ( {pair} - ( {idx} 1 ) {} {} )",
                    constant(&init[0]),
                    constant(&a0)
                ))
            } else {
                Some(format!(
                    "if ( < ( {idx} 2 ) {} loop2 ( {pair} - ( {idx} 2 ) {} {} ) )",
                    constant(&init[0]),
                    constant(&init[1]),
                    constant(&init[0])
                ))
            }
        }
        _ => rec.integer_roots().into_iter().find_map(|r| {
            let b = rec.deflate(&r);
            let b_init: Vec<BigInt> = (0..d - 1).map(|m| &init[m + 1] - &r * &init[m]).collect();
            let inner = spell(&b, &b_init, &y, var + 2)?;
            let body = linear(&[(&r, x.clone()), (&BigInt::one(), inner)], &BigInt::zero());
            Some(format!(
                "loop ( lambda [ {x} {y} ] ( {body} ) - ( {idx} 1 ) {} )",
                constant(&init[0])
            ))
        }),
    }
}

/// The whole program for a(n) = E(#1).
pub fn program(rec: &Rec, init: &[BigInt]) -> Option<String> {
    let e = spell(rec, init, "#1", 2)?;
    Some(format!(
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( {e} ) #0 ) )"
    ))
}

/// The `linrec` family.
pub(super) fn linrec_family(s: &LoopsSettings, c: &Common) -> (Vec<Hit>, FamilyFigures) {
    let order = s.linrec_order as usize;
    fitted::run("linrec", LINREC_KIND, c, |terms| {
        program(&fit(terms, order)?, terms)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{Evaluator, Limits, Num, Program};

    fn big(xs: &[i64]) -> Vec<BigInt> {
        xs.iter().map(|&x| BigInt::from(x)).collect()
    }

    /// The first n terms of the recurrence from its initial terms.
    fn run(rec: &Rec, init: &[i64], n: usize) -> Vec<BigInt> {
        let mut a = big(init);
        while a.len() < n {
            let d = rec.order();
            let next = rec.next(&a[a.len() - d..]);
            a.push(next);
        }
        a
    }

    fn rec(coefs: &[i64], c: i64) -> Rec {
        Rec {
            coefs: big(coefs),
            constant: BigInt::from(c),
        }
    }

    /// Fits the terms, spells them, and checks the program prints as spelled and evaluates to
    /// the terms; returns the program.
    fn check(terms: &[BigInt], want: &Rec) -> String {
        let got = fit(terms, 4).expect("a recurrence");
        assert_eq!(&got, want);
        let text = program(&got, terms).expect("spelled");
        fitted::assert_evaluates_to(&text, terms, 2_000_000);
        text
    }

    #[test]
    fn constants_are_spelled_in_digits() {
        let ev = Evaluator::new(Limits::default());
        for v in [
            -1000i64,
            -10,
            -9,
            -1,
            0,
            1,
            9,
            10,
            18,
            80,
            81,
            82,
            12345,
            1 << 40,
        ] {
            let e = constant(&BigInt::from(v));
            let text = format!("lambda [ #0 ] ( map ( lambda [ #1 ] ( {e} ) #0 ) )");
            let p = Program::parse(&text).unwrap();
            assert_eq!(p.to_string(), text);
            assert_eq!(ev.eval(&p).unwrap()[0], Num::Small(v), "{text}");
        }
    }

    #[test]
    fn recurrences_of_each_order_are_spelled_and_evaluate_to_their_terms() {
        // order 1 with a constant: 3 a + 2
        let r1 = rec(&[3], 2);
        check(&run(&r1, &[1], 35), &r1);
        // Fibonacci: a(0) = 0 is an integer
        let fib = rec(&[1, 1], 0);
        let t = check(&run(&fib, &[1, 1], 35), &fib);
        assert!(t.contains("loop2") && !t.contains("if"), "{t}");
        // order 2 whose a(0) is not an integer: the `if` form
        let r2 = rec(&[1, 2], 1);
        let t = check(&run(&r2, &[1, 3], 35), &r2);
        assert!(t.contains("if ("), "{t}");
        // order 3 with the root 2: (x - 2)(x^2 - x - 1) = x^3 - 3x^2 + x + 2
        let r3 = rec(&[3, -1, -2], 0);
        check(&run(&r3, &[1, 1, 3], 35), &r3);
        // order 4 = (x - 2)(x + 1)(x^2 - x - 1), a constant too
        // (x - 2)(x + 1) = x^2 - x - 2; times x^2 - x - 1 = x^4 - 2x^3 - 2x^2 + 3x + 2
        let r4 = rec(&[2, 2, -3, -2], 5);
        check(&run(&r4, &[1, 0, 2, 7], 30), &r4);
        // negative coefficients and large initial values
        let r5 = rec(&[-2, 15], -7);
        check(&run(&r5, &[1234, -567], 30), &r5);
    }

    #[test]
    fn a_polynomial_without_an_integer_root_is_left_out() {
        let trib = rec(&[1, 1, 1], 0);
        let terms = run(&trib, &[1, 1, 2], 35);
        assert_eq!(fit(&terms, 4), Some(trib.clone()));
        assert_eq!(program(&trib, &terms), None);
    }

    #[test]
    fn no_recurrence_is_claimed_without_spare_equations_or_for_other_sequences() {
        // the primes satisfy no recurrence of order <= 4
        let primes = big(&[2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53]);
        assert_eq!(fit(&primes, 4), None);
        // a recurrence that fails at the last term is not claimed
        let mut t = run(&rec(&[1, 1], 0), &[1, 1], 20);
        *t.last_mut().unwrap() += 1;
        assert_eq!(fit(&t, 2), None);
        // too few terms for order 2: nothing
        assert_eq!(fit(&big(&[1, 1, 2, 3]), 2), None);
    }
}
