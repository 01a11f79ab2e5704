//! The `digits` family of the loops dialect (docs/enumerate.md, "Families"): for each target
//! whose known terms are all decimal digits, the simplest fraction X = p/q in [0, 1) whose
//! decimal digits d_n = floor(X·10^n) mod 10, n = 1, 2, ..., are all of them ("Decimal expansion
//! of 1/k", "of 5/k": where OEIS puts the decimal point does not matter, the digits are those of
//! X = 0.d1d2d3... all the same).
//!
//! The terms d_1..d_N fix X to the interval [D/10^N, (D+1)/10^N), D = d_1 d_2 ... d_N; the
//! simplest fraction in it (the smallest denominator) comes from the continued fraction of the
//! interval's ends. A fit stands when q has at most (N - 4)/2 digits (the N terms determine a
//! fraction with such a denominator, with four to spare) and at most `decimal_digits` digits.
//! The program is
//!
//!   d_n = floor((p·10^n mod 10q) / q),
//!
//! with p·10^n mod 10q from a `loop` (x_0 = p, x_k = 10·x_(k-1) mod 10q) and the floor division
//! exact as (x - x mod q) / q, so every value stays below 100q: the digits of 1/7 are right to
//! the last known term, where 10^n / 7 would pass 10^50.

use super::family::{Common, FamilyFigures, LoopsSettings};
use super::fitted::{self, constant};
use super::Hit;
use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{One, ToPrimitive, Zero};

/// The family's order-key kind.
pub(super) const DIGITS_KIND: u128 = 47;

/// The simplest fraction (smallest denominator, then numerator) in the closed interval
/// [x, y] of non-negative rationals, each given as (numerator, denominator > 0).
fn simplest(x: (&BigInt, &BigInt), y: (&BigInt, &BigInt)) -> (BigInt, BigInt) {
    let fx = x.0.div_floor(x.1);
    if &(&fx * x.1) == x.0 {
        return (fx, BigInt::one());
    }
    let next = &fx + 1;
    if &(&next * y.1) <= y.0 {
        return (next, BigInt::one());
    }
    // fx < x <= y < fx + 1: p/q = fx + 1/z, z in [1/(y - fx), 1/(x - fx)]
    let lo = (y.1.clone(), y.0 - &fx * y.1);
    let hi = (x.1.clone(), x.0 - &fx * x.1);
    let (zn, zd) = simplest((&lo.0, &lo.1), (&hi.0, &hi.1));
    (&fx * &zn + zd, zn)
}

/// (p, q) with p/q in [0, 1) whose first N decimal digits are `terms` (all in 0..=9), q the
/// smallest, when q has at most (N - 4)/2 and at most `max_digits` digits; None otherwise.
pub fn fit(terms: &[BigInt], max_digits: usize) -> Option<(BigInt, BigInt)> {
    let n = terms.len();
    let ten = BigInt::from(10);
    let mut d = BigInt::zero();
    for t in terms {
        let v = t.to_u8().filter(|&v| v <= 9)?;
        d = d * &ten + v;
    }
    let scale = num_traits::pow(ten.clone(), n);
    // [D / 10^N, ((D + 1) 10^N - 1) / 10^(2N)]: inside [D, D + 1) / 10^N, closed; a fraction
    // whose denominator has at most (N - 4)/2 digits is at least 1/(q 10^N) > 10^(-2N) below
    // (D + 1)/10^N, so none is lost
    let hi_num = (&d + 1u32) * &scale - 1u32;
    let hi_den = &scale * &scale;
    let (p, q) = simplest((&d, &scale), (&hi_num, &hi_den));
    if q.is_one() {
        return None;
    }
    let digits = q.to_string().len();
    if digits > max_digits || 2 * digits + 4 > n {
        return None;
    }
    // the fraction's digits are the terms: floor(p 10^N / q) = D
    (&p * &scale / &q == d).then_some((p, q))
}

/// The program of the digits of p/q.
pub fn program(p: &BigInt, q: &BigInt) -> String {
    let m = constant(&(q * 10));
    let x = format!(
        "loop ( lambda [ #2 #3 ] ( % ( * ( #2 + ( 9 1 ) ) {m} ) ) #1 {} )",
        constant(p)
    );
    let q = constant(q);
    format!("lambda [ #0 ] ( map ( lambda [ #1 ] ( / ( - ( {x} % ( {x} {q} ) ) {q} ) ) #0 ) )")
}

/// The `digits` family.
pub(super) fn digits_family(s: &LoopsSettings, c: &Common) -> (Vec<Hit>, FamilyFigures) {
    let max = s.decimal_digits as usize;
    fitted::run("digits", DIGITS_KIND, c, |terms| {
        let (p, q) = fit(terms, max)?;
        Some(program(&p, &q))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::Limits;

    fn digits_of(p: u64, q: u64, n: usize) -> Vec<BigInt> {
        let mut r = p % q;
        (0..n)
            .map(|_| {
                r *= 10;
                let d = r / q;
                r %= q;
                BigInt::from(d)
            })
            .collect()
    }

    #[test]
    fn the_digits_of_fractions_are_fitted_and_evaluate_to_their_terms() {
        for (p, q) in [
            (1, 7),
            (1, 452),
            (1, 601),
            (5, 17),
            (3, 899),
            (22, 7),
            (1, 97),
        ] {
            let terms = digits_of(p, q, 100);
            let (fp, fq) = fit(&terms, 40).unwrap_or_else(|| panic!("{p}/{q}"));
            // the smallest fraction with these digits: p/q reduced, its integer part dropped
            let g = num_integer::gcd(p, q);
            assert_eq!(
                (fp, fq.clone()),
                (BigInt::from(p % q / g), BigInt::from(q / g))
            );
            let text = program(&BigInt::from(p % q / g), &fq);
            fitted::assert_evaluates_to(&text, &terms, Limits::default().max_steps);
        }
    }

    #[test]
    fn other_sequences_are_not_fitted() {
        // digits of pi: no fraction with few enough digits in its denominator
        let pi = "3141592653589793238462643383279502884197169399375105820974944592";
        let terms: Vec<BigInt> = pi.bytes().map(|b| BigInt::from(b - b'0')).collect();
        assert_eq!(fit(&terms, 40), None);
        // not digits
        assert_eq!(fit(&[10, 1, 2].map(BigInt::from), 40), None);
        // all zeros: the integer 0, not a fraction
        assert_eq!(fit(&vec![BigInt::zero(); 40], 40), None);
        // a denominator too large for the terms: 12 digits of 1/123456789 fix no fraction with a
        // denominator of at most (12 - 4)/2 = 4 digits
        assert_eq!(fit(&digits_of(1, 123_456_789, 12), 40), None);
    }
}
