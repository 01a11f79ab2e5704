//! Exact integers with a machine-word fast path.
//!
//! Almost every value a DSL program computes fits an `i64`; those stay unboxed and use checked
//! arithmetic (widened to `i128` where a result may not fit). Only values outside `i64` are kept
//! as `BigInt`, boxed so that `Num` stays two words. The representation is canonical: a value
//! that fits `i64` is always `Small`, so derived equality and hashing are value equality.

use num_bigint::{BigInt, Sign};
use num_integer::Integer;
use num_traits::{One, Signed, ToPrimitive};
use std::cmp::Ordering;
use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Num {
    Small(i64),
    Big(Box<BigInt>),
}

impl fmt::Debug for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Small(v) => write!(f, "{v}"),
            Num::Big(b) => write!(f, "{b}"),
        }
    }
}

impl From<i64> for Num {
    fn from(v: i64) -> Num {
        Num::Small(v)
    }
}

impl From<BigInt> for Num {
    fn from(b: BigInt) -> Num {
        match b.to_i64() {
            Some(v) => Num::Small(v),
            None => Num::Big(Box::new(b)),
        }
    }
}

impl From<i128> for Num {
    fn from(v: i128) -> Num {
        match i64::try_from(v) {
            Ok(s) => Num::Small(s),
            Err(_) => Num::Big(Box::new(BigInt::from(v))),
        }
    }
}

impl std::str::FromStr for Num {
    type Err = num_bigint::ParseBigIntError;
    fn from_str(s: &str) -> Result<Num, Self::Err> {
        match s.parse::<i64>() {
            Ok(v) => Ok(Num::Small(v)),
            Err(_) => Ok(Num::from(s.parse::<BigInt>()?)),
        }
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Num::Small(a), Num::Small(b)) => a.cmp(b),
            _ => self.to_big().cmp(&other.to_big()),
        }
    }
}

/// Why an arithmetic operation has no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithError {
    DivByZero,
    NegativeExponent,
    NegativeSqrt,
    /// The result is certainly above any bound the evaluator allows (huge powers).
    Overflow,
}

impl Num {
    pub fn to_big(&self) -> BigInt {
        match self {
            Num::Small(v) => BigInt::from(*v),
            Num::Big(b) => (**b).clone(),
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Num::Small(v) => Some(*v),
            Num::Big(_) => None,
        }
    }

    pub fn is_negative(&self) -> bool {
        match self {
            Num::Small(v) => *v < 0,
            Num::Big(b) => b.is_negative(),
        }
    }

    pub fn add(&self, o: &Num) -> Num {
        match (self, o) {
            (Num::Small(a), Num::Small(b)) => Num::from(*a as i128 + *b as i128),
            _ => Num::from(self.to_big() + o.to_big()),
        }
    }

    pub fn sub(&self, o: &Num) -> Num {
        match (self, o) {
            (Num::Small(a), Num::Small(b)) => Num::from(*a as i128 - *b as i128),
            _ => Num::from(self.to_big() - o.to_big()),
        }
    }

    pub fn mul(&self, o: &Num) -> Num {
        match (self, o) {
            (Num::Small(a), Num::Small(b)) => Num::from(*a as i128 * *b as i128),
            _ => Num::from(self.to_big() * o.to_big()),
        }
    }

    /// a / b rounded to the nearest integer, ties to even.
    pub fn div_round(&self, o: &Num) -> Result<Num, ArithError> {
        match (self, o) {
            (_, Num::Small(0)) => Err(ArithError::DivByZero),
            (Num::Small(a), Num::Small(b)) => {
                let (a, b) = (*a as i128, *b as i128);
                // floor quotient, remainder with the sign of b: a/b = q + r/b, 0 <= r/b < 1
                let (q, r) = a.div_mod_floor(&b);
                Ok(Num::from(round_half_even(q, 2 * r.abs(), b.abs())))
            }
            _ => {
                let (a, b) = (self.to_big(), o.to_big());
                let (q, r) = a.div_mod_floor(&b);
                let twice_r: BigInt = r.abs() * 2u32;
                let babs = b.abs();
                let q = match twice_r.cmp(&babs) {
                    Ordering::Less => q,
                    Ordering::Greater => q + 1,
                    Ordering::Equal => {
                        if q.is_even() {
                            q
                        } else {
                            q + 1
                        }
                    }
                };
                Ok(Num::from(q))
            }
        }
    }

    /// Floor modulo: the result has the sign of b.
    pub fn mod_floor(&self, o: &Num) -> Result<Num, ArithError> {
        match (self, o) {
            (_, Num::Small(0)) => Err(ArithError::DivByZero),
            (Num::Small(a), Num::Small(b)) => Ok(Num::from((*a as i128).mod_floor(&(*b as i128)))),
            _ => Ok(Num::from(self.to_big().mod_floor(&o.to_big()))),
        }
    }

    /// a ** b with 0 ** 0 = 1. Stops early with `Overflow` once the magnitude would exceed
    /// `max_bits` bits, so a huge exponent costs nothing.
    pub fn pow(&self, o: &Num, max_bits: u64) -> Result<Num, ArithError> {
        if o.is_negative() {
            return Err(ArithError::NegativeExponent);
        }
        // |a| <= 1 needs no arithmetic whatever the exponent
        match self.as_i64() {
            Some(0) => return Ok(Num::Small(if o.is_zero() { 1 } else { 0 })),
            Some(1) => return Ok(Num::Small(1)),
            Some(-1) => return Ok(Num::Small(if o.is_even() { 1 } else { -1 })),
            _ => {}
        }
        // |a| >= 2, so |a|^b >= 2^b: an exponent above max_bits overflows
        let e = match o.as_i64() {
            Some(e) if (e as u64) <= max_bits => e as u64,
            _ => return Err(ArithError::Overflow),
        };
        let mut result = BigInt::one();
        let mut base = self.to_big();
        let mut e = e;
        while e > 0 {
            if e & 1 == 1 {
                result *= &base;
                if result.bits() > max_bits {
                    return Err(ArithError::Overflow);
                }
            }
            e >>= 1;
            if e > 0 {
                base = &base * &base;
                if base.bits() > max_bits {
                    return Err(ArithError::Overflow);
                }
            }
        }
        Ok(Num::from(result))
    }

    /// Floor square root.
    pub fn sqrt(&self) -> Result<Num, ArithError> {
        if self.is_negative() {
            return Err(ArithError::NegativeSqrt);
        }
        match self {
            Num::Small(v) => Ok(Num::Small((*v as u64).isqrt() as i64)),
            Num::Big(b) => Ok(Num::from(b.sqrt())),
        }
    }

    fn is_zero(&self) -> bool {
        matches!(self, Num::Small(0))
    }

    fn is_even(&self) -> bool {
        match self {
            Num::Small(v) => v % 2 == 0,
            Num::Big(b) => b.is_even(),
        }
    }

    /// |self| compared with a positive bound.
    pub fn abs_cmp(&self, bound: &BigInt) -> Ordering {
        match self {
            Num::Small(v) => BigInt::from(v.unsigned_abs()).cmp(bound),
            Num::Big(b) => match b.sign() {
                Sign::Minus => (-(**b).clone()).cmp(bound),
                _ => (**b).cmp(bound),
            },
        }
    }
}

fn round_half_even(q: i128, twice_r: i128, babs: i128) -> i128 {
    match twice_r.cmp(&babs) {
        Ordering::Less => q,
        Ordering::Greater => q + 1,
        Ordering::Equal => {
            if q % 2 == 0 {
                q
            } else {
                q + 1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: i64) -> Num {
        Num::Small(v)
    }

    fn big(s: &str) -> Num {
        s.parse().unwrap()
    }

    #[test]
    fn division_rounds_half_to_even() {
        let cases = [
            (7, 2, 4),   // 3.5 -> 4
            (5, 2, 2),   // 2.5 -> 2
            (-5, 2, -2), // -2.5 -> -2
            (-7, 2, -4), // -3.5 -> -4
            (5, -2, -2),
            (7, -2, -4),
            (1, 3, 0),
            (2, 3, 1),
            (-2, 3, -1),
            (-1, 3, 0),
            (8, 9, 1),
            (0, 5, 0),
            (9, 3, 3),
            (i64::MIN, -1, 0), // placeholder replaced below
        ];
        for &(a, b, q) in &cases[..cases.len() - 1] {
            assert_eq!(n(a).div_round(&n(b)).unwrap(), n(q), "{a}/{b}");
            // the BigInt path agrees with the fast path
            let slow =
                Num::Big(Box::new(BigInt::from(a))).div_round(&Num::Big(Box::new(BigInt::from(b))));
            assert_eq!(slow.unwrap(), n(q), "big {a}/{b}");
        }
        assert_eq!(
            n(i64::MIN).div_round(&n(-1)).unwrap(),
            big("9223372036854775808")
        );
        assert_eq!(n(1).div_round(&n(0)), Err(ArithError::DivByZero));
    }

    #[test]
    fn modulo_takes_sign_of_divisor() {
        for (a, b, r) in [
            (7, 3, 1),
            (-7, 3, 2),
            (7, -3, -2),
            (-7, -3, -1),
            (6, 3, 0),
            (0, -4, 0),
        ] {
            assert_eq!(n(a).mod_floor(&n(b)).unwrap(), n(r), "{a}%{b}");
        }
        assert_eq!(n(1).mod_floor(&n(0)), Err(ArithError::DivByZero));
        assert_eq!(
            big("-100000000000000000000").mod_floor(&n(7)).unwrap(),
            n(5) // 10^20 = 2 (mod 7), so -10^20 = 5
        );
    }

    #[test]
    fn powers() {
        assert_eq!(n(0).pow(&n(0), 200).unwrap(), n(1));
        assert_eq!(n(0).pow(&n(5), 200).unwrap(), n(0));
        assert_eq!(
            n(-1).pow(&big("1000000000000000000000"), 200).unwrap(),
            n(1)
        );
        assert_eq!(n(-1).pow(&n(7), 200).unwrap(), n(-1));
        assert_eq!(n(-2).pow(&n(3), 200).unwrap(), n(-8));
        assert_eq!(n(2).pow(&n(-1), 200), Err(ArithError::NegativeExponent));
        assert_eq!(n(0).pow(&n(-1), 200), Err(ArithError::NegativeExponent));
        assert_eq!(
            n(2).pow(&n(100), 200).unwrap(),
            big("1267650600228229401496703205376")
        );
        assert_eq!(n(2).pow(&n(1_000_000_000), 200), Err(ArithError::Overflow));
        assert_eq!(
            n(9).pow(&big("99999999999999999999"), 200),
            Err(ArithError::Overflow)
        );
    }

    #[test]
    fn square_roots() {
        for (a, r) in [
            (0, 0),
            (1, 1),
            (3, 1),
            (4, 2),
            (99, 9),
            (i64::MAX, 3037000499),
        ] {
            assert_eq!(n(a).sqrt().unwrap(), n(r));
        }
        assert_eq!(
            big("100000000000000000000000000000000").sqrt().unwrap(),
            big("10000000000000000")
        );
        assert_eq!(n(-1).sqrt(), Err(ArithError::NegativeSqrt));
    }

    #[test]
    fn promotes_and_demotes() {
        let m = n(i64::MAX);
        let s = m.add(&n(1));
        assert!(matches!(s, Num::Big(_)));
        assert_eq!(s.sub(&n(1)), m); // canonical again
        assert_eq!(n(i64::MIN).mul(&n(-1)).to_string(), "9223372036854775808");
        assert!(n(-3) < big("100000000000000000000"));
        assert!(big("-100000000000000000000") < n(-3));
    }
}
