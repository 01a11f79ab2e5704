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

use super::family::{Common, FamilyFigures, LoopsSettings};
use super::fitted::{self, null_vector, poly, spell_poly};
use super::Hit;
use num_bigint::BigInt;
use num_traits::{One, Zero};

/// The family's order-key kind.
pub(super) const HYPER_KIND: u128 = 44;

/// q(n) a(n) = p(n) a(n-1): the coefficients of p and q, lowest degree first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hyper {
    pub p: Vec<BigInt>,
    pub q: Vec<BigInt>,
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
        super::fitted::constant(first)
    )
}

/// The `hyper` family.
pub(super) fn hyper_family(s: &LoopsSettings, c: &Common) -> (Vec<Hit>, FamilyFigures) {
    let degree = s.hyper_degree as usize;
    fitted::run("hyper", HYPER_KIND, c, |terms| {
        Some(program(&fit(terms, degree)?, &terms[0]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(terms: &[BigInt]) -> String {
        let h = fit(terms, 3).expect("a hypergeometric recurrence");
        let text = program(&h, &terms[0]);
        fitted::assert_evaluates_to(&text, terms, 2_000_000);
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
