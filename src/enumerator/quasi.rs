//! The `quasi` family of the loops dialect (docs/enumerate.md, "Families"): for each target,
//! the simplest quasi-polynomial its known terms are,
//!
//!   a(n) = P_r(n)    for n ≡ r (mod L),
//!
//! one polynomial with rational coefficients of degree at most m per residue class, L up to
//! `quasi_period` and m up to `quasi_degree` (periodic sequences and decimal expansions of
//! fractions at m = 0; the coefficients of products of cyclotomic denominators, "Expansion of
//! 1/((1-x)(1-x^2)(1-x^3))", partitions into few parts, at m ≥ 1; a plain polynomial at L = 1).
//! The fit is by finite differences: in every class the (m+1)-th differences of its terms vanish,
//! and every class has at least m + 3 of them (two to spare). Of the (L, m) that fit, the one with
//! the fewest coefficients L·(m + 1) is taken, the smaller L first. Each class's polynomial is
//! then the one-dimensional null space of e_0 + e_1 n + ... + e_m n^m - D a(n) = 0 on its terms
//! (integer elimination), spelled `/ ( E D )` (exact at the class's n), and the classes are
//! chosen by `if ( == ( % ( #1 L ) r ) P_r ... )`, the last class without a test.
//!
//! Like `linrec`, the evaluator runs the program and its matches are added beside the kept
//! candidates (a periodic sequence whose kept 35-term program passes 10^50 later, `5^n mod 6`,
//! is right here to the last known term).

use super::family::{Common, FamilyFigures, LoopsSettings};
use super::fitted::{self, constant, null_vector, spell_poly};
use super::Hit;
use num_bigint::BigInt;
use num_traits::{One, Signed, Zero};

/// The family's order-key kind.
pub(super) const QUASI_KIND: u128 = 46;

/// A quasi-polynomial: per residue r of n mod `period` (index r), e_0..e_m and D with
/// a(n) = (Σ e_j n^j) / D.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quasi {
    pub period: usize,
    pub classes: Vec<(Vec<BigInt>, BigInt)>,
}

/// Whether the values are a polynomial of degree at most m in their index (the (m+1)-th
/// differences vanish), given at least m + 3 of them.
fn polynomial(vals: &[&BigInt], m: usize) -> bool {
    if vals.len() < m + 3 {
        return false;
    }
    let mut d: Vec<BigInt> = vals.iter().map(|&v| v.clone()).collect();
    for _ in 0..=m {
        for i in 0..d.len() - 1 {
            d[i] = &d[i + 1] - &d[i];
        }
        d.pop();
    }
    d.iter().all(Zero::is_zero)
}

/// The terms of class r (n ≡ r mod L, n = 1, 2, ...): (n, a(n)).
fn class(terms: &[BigInt], period: usize, r: usize) -> Vec<(usize, &BigInt)> {
    (1..=terms.len())
        .filter(|n| n % period == r)
        .map(|n| (n, &terms[n - 1]))
        .collect()
}

/// The quasi-polynomial with the fewest coefficients that all of `terms` (a(1), a(2), ...)
/// are, or None.
pub fn fit(terms: &[BigInt], max_period: usize, max_degree: usize) -> Option<Quasi> {
    let mut shapes: Vec<(usize, usize)> = (1..=max_period)
        .flat_map(|l| (0..=max_degree).map(move |m| (l, m)))
        .collect();
    shapes.sort_by_key(|&(l, m)| (l * (m + 1), l));
    let (period, m) = shapes.into_iter().find(|&(l, m)| {
        (0..l).all(|r| {
            let c = class(terms, l, r);
            polynomial(&c.iter().map(|&(_, v)| v).collect::<Vec<_>>(), m)
        })
    })?;
    let mut classes = Vec::with_capacity(period);
    for r in 0..period {
        let rows: Vec<Vec<BigInt>> = class(terms, period, r)
            .into_iter()
            .map(|(n, v)| {
                let n = BigInt::from(n);
                let mut row = Vec::with_capacity(m + 2);
                let mut p = BigInt::one();
                for _ in 0..=m {
                    row.push(p.clone());
                    p *= &n;
                }
                row.push(-v);
                row
            })
            .collect();
        // a lower degree than m in this class: the null space is still one-dimensional (the
        // top coefficients are 0), since the class has more than m + 1 distinct n
        let mut v = null_vector(rows, m + 2)?;
        let mut d = v.pop().expect("D");
        if d.is_zero() {
            return None;
        }
        if d.is_negative() {
            d = -d;
            for x in v.iter_mut() {
                *x = -&*x;
            }
        }
        classes.push((v, d));
    }
    Some(Quasi { period, classes })
}

/// One class's expression.
fn spell_class(e: &[BigInt], d: &BigInt) -> String {
    let p = spell_poly(e, "#1");
    if d.is_one() {
        p
    } else {
        format!("/ ( {p} {} )", constant(d))
    }
}

/// The whole program.
pub fn program(q: &Quasi) -> String {
    let l = q.period;
    let mut e = String::new();
    let mut open = 0;
    // classes 1..L-1, then 0 without a test
    let order: Vec<usize> = (1..l).chain(std::iter::once(0)).collect();
    for (i, &r) in order.iter().enumerate() {
        let (c, d) = &q.classes[r];
        if i + 1 < order.len() {
            e.push_str(&format!(
                "if ( == ( % ( #1 {} ) {} ) {} ",
                constant(&BigInt::from(l)),
                constant(&BigInt::from(r)),
                spell_class(c, d)
            ));
            open += 1;
        } else {
            e.push_str(&spell_class(c, d));
        }
    }
    for _ in 0..open {
        e.push_str(" )");
    }
    format!("lambda [ #0 ] ( map ( lambda [ #1 ] ( {e} ) #0 ) )")
}

/// The `quasi` family.
pub(super) fn quasi_family(s: &LoopsSettings, c: &Common) -> (Vec<Hit>, FamilyFigures) {
    let (period, degree) = (s.quasi_period as usize, s.quasi_degree as usize);
    fitted::run("quasi", QUASI_KIND, c, |terms| {
        Some(program(&fit(terms, period, degree)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::Limits;

    fn check(terms: &[BigInt], period: usize) -> String {
        let q = fit(terms, 12, 4).expect("a quasi-polynomial");
        assert_eq!(q.period, period);
        let text = program(&q);
        fitted::assert_evaluates_to(&text, terms, Limits::default().max_steps);
        text
    }

    fn seq(len: i64, f: impl Fn(i64) -> i64) -> Vec<BigInt> {
        (1..=len).map(|n| BigInt::from(f(n))).collect()
    }

    #[test]
    fn quasi_polynomials_are_fitted_spelled_and_evaluate_to_their_terms() {
        // repeat [1, 5]
        check(&seq(60, |n| if n % 2 == 1 { 1 } else { 5 }), 2);
        // decimal expansion of 1/7: 1, 4, 2, 8, 5, 7, ...
        let digits = [1, 4, 2, 8, 5, 7];
        check(&seq(60, |n| digits[(n as usize - 1) % 6]), 6);
        // partitions of n into at most 3 parts, round((n + 3)^2 / 12): period 6, degree 2
        check(&seq(70, |n| ((n + 3) * (n + 3) + 6) / 12), 6);
        // a plain polynomial with large coefficients: 1234 n^2 - 77 n + 5
        check(&seq(40, |n| 1234 * n * n - 77 * n + 5), 1);
        // floor(n^3 / 2): two classes of degree 3 with a denominator
        check(&seq(50, |n| n * n * n / 2), 2);
    }

    #[test]
    fn other_sequences_are_not_quasi_polynomials() {
        let pow2 = seq(40, |n| 1 << n);
        assert_eq!(fit(&pow2, 12, 4), None);
        let primes = seq(30, |n| {
            (2..)
                .filter(|&p: &i64| (2..p).all(|d| p % d != 0))
                .nth(n as usize - 1)
                .unwrap()
        });
        assert_eq!(fit(&primes, 12, 4), None);
        // a period of 12 with only 35 terms has 2 or 3 per class: no claim at degree 0
        let mut short = seq(35, |n| n % 12);
        short[34] += 1;
        assert_eq!(fit(&short, 12, 4), None);
    }
}
