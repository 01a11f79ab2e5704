//! The `precur` family of the loops dialect (docs/enumerate.md, "Families"): for each target,
//! the smallest P-recursive recurrence of order two its known terms satisfy,
//!
//!   q(n) a(n) = p1(n) a(n-1) + p2(n) a(n-2)    for every n ≥ 3,
//!
//! p1, p2, q polynomials with integer coefficients of degree 1..=`precur_degree` (Motzkin,
//! Schröder, central trinomial and Apéry-like numbers, derangements, involutions, ...).
//!
//! `loop2`'s bodies see the two states, not the iteration, so the index rides in the second
//! state: x = a(n-1) and y = a(n-2)·M + n, M = 2^7 (9^3 when there are 127 terms or more). One
//! iteration reads n = `% ( y M )` and a(n-2) = `/ ( - ( y n ) M )` (exact), and gives
//! x' = (p1(n) x + p2(n) a(n-2)) / q(n) (exact: a(n) is an integer) and y' = x·M + n + 1:
//!
//! `if ( < ( #1 2 ) a(1) loop2 ( F G - ( #1 2 ) a(2) a(1)·M + 3 ) )`
//!
//! The fit is exact (the one-dimensional null space of the equations on every known term); the
//! packing costs log10(M) digits of the bound, and a program past it is an `overflow` error like
//! any other. As for `linrec`, the evaluator runs the program, and its matches are added beside
//! the kept candidates.

use super::family::{Common, FamilyFigures, LoopsSettings};
use super::fitted::{self, constant, null_vector, poly, spell_poly};
use super::Hit;
use num_bigint::BigInt;
use num_traits::{One, Zero};

/// The family's order-key kind.
pub(super) const PRECUR_KIND: u128 = 45;

/// q(n) a(n) = p1(n) a(n-1) + p2(n) a(n-2), coefficients lowest degree first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Precur {
    pub p1: Vec<BigInt>,
    pub p2: Vec<BigInt>,
    pub q: Vec<BigInt>,
}

/// The recurrence of smallest degree (1..=max_degree) that all of `terms` (a(1), a(2), ...)
/// satisfy, with at least three equations to spare; p2 must not be 0 (that is `hyper`'s).
pub fn fit(terms: &[BigInt], max_degree: usize) -> Option<Precur> {
    for deg in 1..=max_degree {
        let k = 3 * (deg + 1);
        if terms.len() < k + 5 {
            break;
        }
        let rows: Vec<Vec<BigInt>> = (2..terms.len())
            .map(|i| {
                let n = BigInt::from(i + 1);
                let mut powers = Vec::with_capacity(deg + 1);
                let mut pw = BigInt::one();
                for _ in 0..=deg {
                    powers.push(pw.clone());
                    pw *= &n;
                }
                let mut row = Vec::with_capacity(k);
                row.extend(powers.iter().map(|x| -(&terms[i - 1] * x)));
                row.extend(powers.iter().map(|x| -(&terms[i - 2] * x)));
                row.extend(powers.iter().map(|x| &terms[i] * x));
                row
            })
            .collect();
        let Some(v) = null_vector(rows, k) else {
            continue;
        };
        let d = deg + 1;
        let r = Precur {
            p1: v[..d].to_vec(),
            p2: v[d..2 * d].to_vec(),
            q: v[2 * d..].to_vec(),
        };
        if r.p2.iter().all(Zero::is_zero) {
            continue;
        }
        let holds = (2..terms.len()).all(|i| {
            let n = BigInt::from(i + 1);
            let q = poly(&r.q, &n);
            !q.is_zero()
                && q * &terms[i]
                    == poly(&r.p1, &n) * &terms[i - 1] + poly(&r.p2, &n) * &terms[i - 2]
        });
        if holds {
            return Some(r);
        }
    }
    None
}

/// The whole program, for terms a(1), a(2), ... of which there are `known` (the positions the
/// index must fit in the packing).
pub fn program(r: &Precur, a1: &BigInt, a2: &BigInt, known: usize) -> String {
    let (m, mv) = if known + 1 < 128 {
        ("** ( 2 7 )", 128)
    } else {
        ("** ( 9 3 )", 729)
    };
    let n = format!("% ( #3 {m} )");
    let back = format!("/ ( - ( #3 {n} ) {m} )");
    let term = |c: &[BigInt], x: &str| -> Option<String> {
        let p = spell_poly(c, &n);
        match p.as_str() {
            "0" => None,
            "1" => Some(x.to_string()),
            _ => Some(format!("* ( {p} {x} )")),
        }
    };
    let sum = match (term(&r.p1, "#2"), term(&r.p2, &back)) {
        (Some(a), Some(b)) => format!("+ ( {a} {b} )"),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => "0".to_string(),
    };
    let q = spell_poly(&r.q, &n);
    let f = if q == "1" {
        sum
    } else {
        format!("/ ( {sum} {q} )")
    };
    let g = format!("+ ( * ( #2 {m} ) + ( {n} 1 ) )");
    let y0 = a1 * BigInt::from(mv) + BigInt::from(3);
    format!(
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( if ( < ( #1 2 ) {} loop2 ( lambda [ #2 #3 ] ( {f} ) lambda [ #2 #3 ] ( {g} ) - ( #1 2 ) {} {} ) ) ) #0 ) )",
        constant(a1),
        constant(a2),
        constant(&y0)
    )
}

/// The `precur` family.
pub(super) fn precur_family(s: &LoopsSettings, c: &Common) -> (Vec<Hit>, FamilyFigures) {
    let degree = s.precur_degree as usize;
    fitted::run("precur", PRECUR_KIND, c, |terms| {
        let r = fit(terms, degree)?;
        Some(program(&r, &terms[0], &terms[1], terms.len()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// a(1), a(2) and q(n) a(n) = p1(n) a(n-1) + p2(n) a(n-2), for n up to `len`.
    fn seq(
        a1: i64,
        a2: i64,
        len: usize,
        f: impl Fn(i64, &BigInt, &BigInt) -> BigInt,
    ) -> Vec<BigInt> {
        let mut a = vec![BigInt::from(a1), BigInt::from(a2)];
        for n in 3..=len as i64 {
            let next = f(n, &a[a.len() - 1], &a[a.len() - 2]);
            a.push(next);
        }
        a
    }

    fn check(terms: &[BigInt]) -> String {
        let r = fit(terms, 2).expect("a P-recursive recurrence");
        let text = program(&r, &terms[0], &terms[1], terms.len());
        fitted::assert_evaluates_to(&text, terms, 2_000_000);
        text
    }

    #[test]
    fn p_recursive_sequences_are_fitted_spelled_and_evaluate_to_their_terms() {
        // Motzkin numbers M(1) = 1, M(2) = 2: (n + 2) M(n) = (2n + 1) M(n-1) + (3n - 3) M(n-2)
        let b = BigInt::from;
        let motzkin = seq(1, 2, 35, |n, x, y| {
            (b(2 * n + 1) * x + b(3 * n - 3) * y) / b(n + 2)
        });
        assert_eq!(motzkin[..6], [1, 2, 4, 9, 21, 51].map(BigInt::from));
        check(&motzkin);
        // derangements from D(1) = 0: D(n) = (n - 1) (D(n-1) + D(n-2)), with negative-free
        // coefficients of degree 1
        let der = seq(0, 1, 30, |n, x, y| b(n - 1) * (x + y));
        check(&der);
        // involutions: a(n) = a(n-1) + (n - 1) a(n-2)
        check(&seq(1, 2, 30, |n, x, y| x + b(n - 1) * y));
    }

    #[test]
    fn hypergeometric_and_other_sequences_are_not_claimed() {
        let b = BigInt::from;
        // n! is order 1: p2 = 0 or a two-dimensional null space, never a precur
        let fact = seq(1, 2, 30, |n, x, _| b(n) * x);
        assert_eq!(fit(&fact, 2), None);
        // one term off
        let mut inv = seq(1, 2, 30, |n, x, y| x + b(n - 1) * y);
        inv[20] += 1;
        assert_eq!(fit(&inv, 2), None);
    }
}
