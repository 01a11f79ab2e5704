//! Matching up to simple transforms: t = (u·p + c) / m (u, m small integers, the division exact on
//! the window) and a shift of the index, t(n) = p(n + s).
//!
//! A vector is reduced to its *normal form*: minus its first value, divided by the gcd of what
//! is left, signed so that the first non-zero difference is positive. Two vectors have the same
//! normal form exactly when one is an affine image of the other with a rational slope, so one
//! hash lookup finds every target an output matches up to the transform (LODA's miner matches
//! its candidates the same way). A hit is only a proposal: its program is spelled and confirmed on
//! the values by the caller.

use crate::dsl::Num;
use crate::enumerator::fitted::linear;
use num_bigint::BigInt;
use num_integer::Integer;

/// The normal form of a window of values, as a 128-bit hash, with the affine map back: value i
/// is `base + scale · r_i`, r the reduced vector the hash is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Normal {
    pub key: u128,
    pub base: i128,
    pub scale: i128,
}

#[inline]
fn mix(h: u64, x: u64) -> u64 {
    let h = (h ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 29)
}

/// The normal form of `v`: None when a value does not fit `i64` or `v` is constant (a constant
/// matches every constant, which the transforms have no business proposing).
pub fn normal(v: &[Num]) -> Option<Normal> {
    normal_by(v.len(), |i| v[i].as_i64())
}

/// [`normal`] of values already in `i64`.
pub fn normal_i64(v: &[i64]) -> Option<Normal> {
    normal_by(v.len(), |i| Some(v[i]))
}

/// The normal form of the `n` values `get(0..n)` (None: one is not an `i64`).
#[inline]
fn normal_by(n: usize, get: impl Fn(usize) -> Option<i64>) -> Option<Normal> {
    let base = get(0)? as i128;
    let mut g: u128 = 0;
    let mut sign = 0i128;
    for i in 0..n {
        let d = get(i)? as i128 - base;
        if sign == 0 && d != 0 {
            sign = d.signum();
        }
        // once 1, the gcd stays 1 (most vectors: skip the rest of the divisions)
        if g != 1 {
            g = g.gcd(&d.unsigned_abs());
        }
    }
    if g == 0 {
        return None;
    }
    let scale = sign * g as i128;
    let (mut h1, mut h2) = (0x5EED_0001u64, 0x5EED_0002u64);
    for i in 0..n {
        let d = get(i)? as i128 - base;
        // a 128-bit division is slow: most vectors have a gcd of 1
        let r = if g == 1 { d * sign } else { d / scale };
        h1 = mix(h1, r as u64);
        h2 = mix(h2, (r >> 64) as u64 ^ (r as u64).rotate_left(31));
    }
    Some(Normal {
        key: (u128::from(h1) << 64) | u128::from(h2),
        base,
        scale,
    })
}

/// The affine map t = (u·p + c) / m from the program's window normal form to the target's (same
/// key): None when |u| or m passes `max_coef`, |c| passes `max_offset`, or the arithmetic
/// overflows.
pub fn affine(p: &Normal, t: &Normal, max_coef: i128, max_offset: i128) -> Option<Affine> {
    // t = tb + ts (p - pb) / ps = (ts p + (tb ps - ts pb)) / ps
    let g = t.scale.gcd(&p.scale);
    let (mut u, mut m) = (t.scale / g, p.scale / g);
    let mut c = t
        .base
        .checked_mul(p.scale)?
        .checked_sub(t.scale.checked_mul(p.base)?)?
        / g;
    if m < 0 {
        (u, m, c) = (-u, -m, -c);
    }
    (u.abs() <= max_coef && m <= max_coef && c.abs() <= max_offset).then_some(Affine { u, c, m })
}

/// t = (u·p + c) / m.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Affine {
    pub u: i128,
    pub c: i128,
    pub m: i128,
}

impl Affine {
    pub fn is_identity(&self) -> bool {
        self.u == 1 && self.c == 0 && self.m == 1
    }

    /// The transform of the integer expression `x` (DSL text), spelled with single digits.
    pub fn spell(&self, x: &str) -> String {
        let lin = linear(
            &[(&BigInt::from(self.u), x.to_string())],
            &BigInt::from(self.c),
        );
        if self.m == 1 {
            lin
        } else {
            format!(
                "/ ( {lin} {} )",
                crate::enumerator::fitted::constant(&BigInt::from(self.m))
            )
        }
    }

    /// The transform applied to the values `p` (None: not exact, a division with a remainder).
    pub fn apply(&self, p: &[Num]) -> Option<Vec<i128>> {
        p.iter()
            .map(|x| {
                let v = self
                    .u
                    .checked_mul(x.as_i64()? as i128)?
                    .checked_add(self.c)?;
                (v % self.m == 0).then_some(v / self.m)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nums(v: &[i64]) -> Vec<Num> {
        v.iter().map(|&x| Num::from(x)).collect()
    }

    #[test]
    fn affine_images_share_a_normal_form_and_the_map_is_recovered() {
        for (u, c, m) in [
            (3i64, 7i64, 1i64),
            (-2, 5, 1),
            (1, -1, 1),
            (1, 3, 2),
            (-5, 12, 3),
        ] {
            // p a multiple of m, c too, so that (u p + c) / m is exact
            let p: Vec<i64> = (1..=20).map(|n| m * n * n).collect();
            let t: Vec<i64> = p.iter().map(|&x| (u * x + c * m) / m).collect();
            let (pn, tn) = (nums(&p), nums(&t));
            let (a, b) = (normal(&pn).unwrap(), normal(&tn).unwrap());
            assert_eq!(a.key, b.key, "{u} {c} {m}");
            let f = affine(&a, &b, 1000, 1_000_000).unwrap();
            let got = f.apply(&pn).unwrap();
            assert_eq!(got, t.iter().map(|&x| x as i128).collect::<Vec<_>>());
        }
    }

    #[test]
    fn different_shapes_do_not_share_a_normal_form() {
        let sq = nums(&(1..=20).map(|n| n * n).collect::<Vec<_>>());
        let cube = nums(&(1..=20).map(|n| n * n * n).collect::<Vec<_>>());
        assert_ne!(normal(&sq).unwrap().key, normal(&cube).unwrap().key);
        assert!(normal(&nums(&[4, 4, 4])).is_none());
    }

    #[test]
    fn the_spelling_evaluates_to_the_transform() {
        use crate::dsl::{eval, Limits, Program};
        let f = Affine { u: -3, c: 40, m: 2 };
        let body = f.spell("* ( #1 #1 )");
        let p = Program::parse(&format!(
            "lambda [ #0 ] ( map ( lambda [ #1 ] ( {body} ) #0 ) )"
        ))
        .unwrap();
        let out = eval(&p, &Limits::default()).unwrap();
        for (n, v) in (1i64..).zip(&out).take(10) {
            let want = -3 * n * n + 40;
            // the DSL's / rounds half to even; where the division is exact it is the same
            if want % 2 == 0 {
                assert_eq!(v.as_i64().unwrap(), want / 2, "n = {n}");
            }
        }
        assert!(Affine { u: 1, c: 0, m: 1 }.is_identity());
        assert_eq!(Affine { u: 1, c: 0, m: 1 }.spell("#1"), "#1");
    }
}
