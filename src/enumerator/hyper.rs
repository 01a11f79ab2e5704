//! The `hyper` family of the loops dialect (docs/enumerate.md, "Families"): for each target, the
//! smallest hypergeometric recurrence its known terms satisfy,
//!
//!   q(n) a(n) = p(n) a(n-1)    for every n ≥ 2,
//!
//! p and q polynomials with integer coefficients of degree up to `hyper_degree` (the factorials,
//! Catalan numbers, central binomial coefficients, binomial(n + c, c), double factorials, ...),
//! spelled as `loop ( lambda [ #2 #3 ] ( / ( * ( P #2 ) Q ) ) - ( #1 1 ) a(1) )`: the iteration k
//! gives a(k + 1), so P and Q are p and q at n = k + 1, expanded in k = `#3`. The division is
//! exact (q(n) divides p(n) a(n-1), since a(n) is an integer), so `/`'s rounding never acts.
//!
//! The fit is exact: the coefficients of p and q are the one-dimensional null space of the
//! equations on every known term (integer Gauss–Jordan elimination), or there is no fit; q must
//! not vanish at any n of the terms. As for `linrec`, the evaluator runs the program, and its
//! matches are added beside the kept candidates.

use super::family::{gather, Common, FamilyFigures, LoopsSettings, Matcher};
use super::linrec::{linear, size};
use super::vals::Vals;
use super::Hit;
use crate::dsl::{Num, Program};
use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{One, Zero};
use rayon::prelude::*;
use std::time::Instant;

/// The family's order-key kind.
pub(super) const HYPER_KIND: u128 = 44;

/// q(n) a(n) = p(n) a(n-1): the coefficients of p and q, lowest degree first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hyper {
    pub p: Vec<BigInt>,
    pub q: Vec<BigInt>,
}

pub(super) fn poly(c: &[BigInt], n: &BigInt) -> BigInt {
    c.iter().rev().fold(BigInt::zero(), |acc, x| acc * n + x)
}

/// The one-dimensional null space of integer rows, as a primitive integer vector.
pub(super) fn null_vector(mut rows: Vec<Vec<BigInt>>, k: usize) -> Option<Vec<BigInt>> {
    let mut pivots: Vec<(usize, usize)> = Vec::new(); // (row, col)
    let mut next = 0;
    for col in 0..k {
        let Some(p) = (next..rows.len()).find(|&i| !rows[i][col].is_zero()) else {
            continue;
        };
        rows.swap(next, p);
        let pivot_row = rows[next].clone();
        for (i, row) in rows.iter_mut().enumerate() {
            if i == next || row[col].is_zero() {
                continue;
            }
            let (f, g) = (pivot_row[col].clone(), row[col].clone());
            for (x, y) in row.iter_mut().zip(&pivot_row) {
                *x = &*x * &f - y * &g;
            }
            let gcd = row.iter().fold(BigInt::zero(), |a, x| a.gcd(x));
            if !gcd.is_zero() && !gcd.is_one() {
                for x in row.iter_mut() {
                    *x = &*x / &gcd;
                }
            }
        }
        pivots.push((next, col));
        next += 1;
    }
    if pivots.len() + 1 != k {
        return None;
    }
    let free = (0..k).find(|c| !pivots.iter().any(|&(_, pc)| pc == *c))?;
    // x_free = L, x_c = -row[free] L / row[c], L the lcm of the pivots
    let l = pivots
        .iter()
        .fold(BigInt::one(), |l, &(r, c)| l.lcm(&rows[r][c]));
    let mut v = vec![BigInt::zero(); k];
    v[free] = l.clone();
    for &(r, c) in &pivots {
        v[c] = -(&rows[r][free] * &l) / &rows[r][c];
    }
    let gcd = v.iter().fold(BigInt::zero(), |a, x| a.gcd(x));
    for x in v.iter_mut() {
        *x = &*x / &gcd;
    }
    Some(v)
}

/// The hypergeometric recurrence of smallest degree (1..=max_degree) that all of `terms`
/// (a(1), a(2), ...) satisfy, with at least three equations to spare.
pub fn fit(terms: &[BigInt], max_degree: usize) -> Option<Hyper> {
    for deg in 1..=max_degree {
        let k = 2 * (deg + 1);
        if terms.len() < k + 4 {
            break;
        }
        let rows: Vec<Vec<BigInt>> = (1..terms.len())
            .map(|i| {
                let n = BigInt::from(i + 1);
                let mut row = Vec::with_capacity(k);
                let mut pw = BigInt::one();
                let mut powers = Vec::with_capacity(deg + 1);
                for _ in 0..=deg {
                    powers.push(pw.clone());
                    pw *= &n;
                }
                for x in &powers {
                    row.push(-(&terms[i - 1] * x)); // p's coefficients
                }
                for x in &powers {
                    row.push(&terms[i] * x); // q's
                }
                row
            })
            .collect();
        let Some(v) = null_vector(rows, k) else {
            continue;
        };
        let h = Hyper {
            p: v[..deg + 1].to_vec(),
            q: v[deg + 1..].to_vec(),
        };
        let holds = (1..terms.len()).all(|i| {
            let n = BigInt::from(i + 1);
            let q = poly(&h.q, &n);
            !q.is_zero() && q * &terms[i] == poly(&h.p, &n) * &terms[i - 1]
        });
        // a(n) = 0 from some n on satisfies every p with a root there: not a finding
        if holds && terms.iter().all(|t| !t.is_zero()) {
            return Some(h);
        }
    }
    None
}

/// The coefficients of c(k + 1) in k.
fn shifted(c: &[BigInt]) -> Vec<BigInt> {
    // Σ c_j (k + 1)^j: binomial expansion
    let mut out = vec![BigInt::zero(); c.len()];
    for (j, cj) in c.iter().enumerate() {
        let mut binom = BigInt::one();
        for (i, o) in out.iter_mut().enumerate().take(j + 1) {
            *o += cj * &binom;
            binom = binom * BigInt::from(j - i) / BigInt::from(i + 1);
        }
    }
    out
}

/// A polynomial in the variable `k` as an expression.
pub(super) fn spell_poly(c: &[BigInt], k: &str) -> String {
    let monomial = |j: usize| {
        let mut m = k.to_string();
        for _ in 1..j {
            m = format!("* ( {k} {m} )");
        }
        m
    };
    let terms: Vec<(&BigInt, String)> = c
        .iter()
        .enumerate()
        .skip(1)
        .map(|(j, cj)| (cj, monomial(j)))
        .collect();
    linear(&terms, &c[0])
}

/// The whole program.
pub fn program(h: &Hyper, first: &BigInt) -> String {
    let p = spell_poly(&shifted(&h.p), "#3");
    let q = spell_poly(&shifted(&h.q), "#3");
    let times = if p == "1" {
        "#2".to_string()
    } else {
        format!("* ( {p} #2 )")
    };
    let body = if q == "1" {
        times
    } else {
        format!("/ ( {times} {q} )")
    };
    format!(
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( loop ( lambda [ #2 #3 ] ( {body} ) - ( #1 1 ) {} ) ) #0 ) )",
        super::linrec::constant(first)
    )
}

/// The `hyper` family.
pub(super) fn hyper_family(s: &LoopsSettings, c: &Common) -> (Vec<Hit>, FamilyFigures) {
    let started = Instant::now();
    let need = c.index.match_len();
    let degree = s.hyper_degree as usize;
    let none = vec![[false; 3]; c.index.len()];
    let todo: Vec<u32> = (0..c.index.len() as u32)
        .filter(|&t| c.index.terms(t).len() >= need)
        .collect();
    let parts: Vec<Matcher> = todo
        .par_chunks(16)
        .map(|chunk| {
            let mut m = Matcher::new(c.index, c.ev, HYPER_KIND, &none, c.per_target);
            for &t in chunk {
                let terms: Vec<BigInt> = c.index.terms(t).iter().map(Num::to_big).collect();
                let Some(h) = fit(&terms, degree) else {
                    continue;
                };
                let text = program(&h, &terms[0]);
                m.evaluated += 1;
                let Ok(p) = Program::parse(&text) else {
                    m.errors += 1;
                    continue;
                };
                let Ok(vals) = c.ev.eval(&p) else {
                    m.errors += 1;
                    continue;
                };
                if vals.len() != c.ev.limits().input_len {
                    m.errors += 1;
                    continue;
                }
                m.offer(Vals::Big(&vals), size(&text), t as u64, || text.clone());
            }
            m
        })
        .collect();
    gather("hyper", parts, started)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{Evaluator, Limits};

    fn check(terms: &[BigInt]) -> String {
        let h = fit(terms, 3).expect("a hypergeometric recurrence");
        let text = program(&h, &terms[0]);
        let p = Program::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(p.to_string(), text);
        let ev = Evaluator::new(Limits {
            max_steps: 2_000_000,
            ..Limits::default()
        });
        let out = ev.eval(&p).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        let n = out.len().min(terms.len());
        let out: Vec<BigInt> = out[..n].iter().map(Num::to_big).collect();
        assert_eq!(out, terms[..n], "{text}");
        text
    }

    fn seq(n: usize, f: impl Fn(&BigInt, u64) -> BigInt) -> Vec<BigInt> {
        let mut a = vec![BigInt::one()];
        for i in 2..=n as u64 {
            let next = f(a.last().unwrap(), i);
            a.push(next);
        }
        a
    }

    #[test]
    fn hypergeometric_sequences_are_fitted_spelled_and_evaluate_to_their_terms() {
        // Catalan numbers from C(1) = 1: (n + 1) C(n) = (4n - 2) C(n - 1)
        let catalan = seq(30, |a, n| a * BigInt::from(4 * n - 2) / BigInt::from(n + 1));
        let t = check(&catalan);
        assert!(t.contains("/ ("), "{t}");
        // n!
        check(&seq(30, |a, n| a * BigInt::from(n)));
        // binomial(2n, n) / ... from 2: central binomial coefficients, n C(n) = (4n - 2) C(n-1)
        let mut cb = seq(30, |a, n| a * BigInt::from(4 * n - 2) / BigInt::from(n));
        for x in cb.iter_mut() {
            *x *= 2;
        }
        check(&cb);
        // binomial(n + 3, 3): n a(n) = (n + 3) a(n - 1), from a(1) = 4
        let b3: Vec<BigInt> = (1..=40u64)
            .map(|n| BigInt::from((n + 1) * (n + 2) * (n + 3) / 6))
            .collect();
        check(&b3);
    }

    #[test]
    fn non_hypergeometric_sequences_have_no_fit() {
        let fib = {
            let mut a = vec![BigInt::one(), BigInt::one()];
            while a.len() < 40 {
                let n = &a[a.len() - 1] + &a[a.len() - 2];
                a.push(n);
            }
            a
        };
        assert_eq!(fit(&fib, 3), None);
        let primes: Vec<BigInt> = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43]
            .iter()
            .map(|&x| BigInt::from(x))
            .collect();
        assert_eq!(fit(&primes, 2), None);
        // a sequence that is hypergeometric but for its last term
        let mut f = seq(30, |a, n| a * BigInt::from(n));
        *f.last_mut().unwrap() += 1;
        assert_eq!(fit(&f, 3), None);
    }

    #[test]
    fn shifting_a_polynomial_expands_it_in_k() {
        // 3 + 2n + n^2 at n = k + 1: 6 + 4k + k^2
        let c: Vec<BigInt> = [3, 2, 1].iter().map(|&x| BigInt::from(x)).collect();
        let s = shifted(&c);
        assert_eq!(s, [6, 4, 1].map(BigInt::from).to_vec());
        for k in -3i64..5 {
            let kb = BigInt::from(k);
            assert_eq!(poly(&s, &kb), poly(&c, &(kb + 1)));
        }
    }
}
