//! Value vectors and the arithmetic on them.
//!
//! An expression in the scope of `#1` is represented by its values at `#1 = 1..L`. Almost every
//! vector fits `i64`, so the fast path works on `&[i64]` with checked machine arithmetic; when a
//! result leaves `i64` (but may still be within the DSL's bound of 10^50), the whole operation is
//! redone exactly on [`Num`] through [`Evaluator::apply`], the evaluator's own primitive, so both
//! paths give the DSL's result by construction (a property test compares them).

use crate::dsl::{Evaluator, Num, Prim};

/// A borrowed value vector.
#[derive(Clone, Copy, Debug)]
pub enum Vals<'a> {
    Small(&'a [i64]),
    Big(&'a [Num]),
}

impl Vals<'_> {
    pub fn len(&self) -> usize {
        match self {
            Vals::Small(v) => v.len(),
            Vals::Big(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> Num {
        match self {
            Vals::Small(v) => Num::Small(v[i]),
            Vals::Big(v) => v[i].clone(),
        }
    }

    pub fn to_nums(&self) -> Vec<Num> {
        (0..self.len()).map(|i| self.get(i)).collect()
    }
}

/// The result of an operation on vectors.
#[derive(Debug, PartialEq)]
pub enum Computed {
    /// The values are in the caller's `i64` buffer.
    Small,
    /// Some value does not fit `i64`: the exact values.
    Big(Vec<Num>),
    /// An evaluation error at some position (the program has no output).
    Error,
}

/// What the fast path says about one operation.
enum Fast {
    Ok,
    Error,
    /// Some intermediate left `i64`: redo exactly.
    Exact,
}

/// Vector arithmetic for one set of DSL limits.
pub struct Arith<'e> {
    ev: &'e Evaluator,
    bound: Option<u64>,
    /// log10 of the magnitude bound.
    max_exp: f64,
}

impl<'e> Arith<'e> {
    pub fn new(ev: &'e Evaluator) -> Self {
        Arith {
            ev,
            bound: ev.small_bound(),
            max_exp: f64::from(ev.limits().max_abs_exp),
        }
    }

    #[inline]
    fn within(&self, v: i64) -> bool {
        self.bound.is_none_or(|b| v.unsigned_abs() <= b)
    }

    /// `p(a, b)` elementwise (`b` is ignored by `sqrt`), into `out` when it fits `i64`.
    pub fn binary(&self, p: Prim, a: Vals, b: Vals, out: &mut [i64]) -> Computed {
        if let (Vals::Small(x), Vals::Small(y)) = (a, b) {
            match self.fast(p, x, y, out) {
                Fast::Ok => return Computed::Small,
                Fast::Error => return Computed::Error,
                Fast::Exact => {}
            }
        }
        let mut vals = Vec::with_capacity(a.len());
        for i in 0..a.len() {
            match self.ev.apply(p, &a.get(i), &b.get(i)) {
                Ok(v) => vals.push(v),
                Err(_) => return Computed::Error,
            }
        }
        settle(vals, out)
    }

    fn fast(&self, p: Prim, a: &[i64], b: &[i64], out: &mut [i64]) -> Fast {
        let n = a.len();
        macro_rules! each {
            (|$x:ident, $y:ident| $e:expr) => {{
                for i in 0..n {
                    let ($x, $y) = (a[i], b[i]);
                    let r: Option<i64> = $e;
                    match r {
                        Some(v) if self.within(v) => out[i] = v,
                        Some(_) => return Fast::Error,
                        None => return Fast::Exact,
                    }
                }
                Fast::Ok
            }};
        }
        match p {
            Prim::Add => each!(|x, y| x.checked_add(y)),
            Prim::Sub => each!(|x, y| x.checked_sub(y)),
            Prim::Mul => each!(|x, y| x.checked_mul(y)),
            Prim::Min => each!(|x, y| Some(x.min(y))),
            Prim::Max => each!(|x, y| Some(x.max(y))),
            Prim::Div => {
                if b.contains(&0) {
                    return Fast::Error;
                }
                each!(|x, y| div_round(x, y))
            }
            Prim::Mod => {
                if b.contains(&0) {
                    return Fast::Error;
                }
                each!(|x, y| Some(mod_floor(x, y)))
            }
            Prim::Pow => {
                if b.iter().any(|&y| y < 0) {
                    return Fast::Error;
                }
                for i in 0..n {
                    match pow(a[i], b[i]) {
                        Some(v) if self.within(v) => out[i] = v,
                        Some(_) => return Fast::Error,
                        // |a| >= 2 here: past the bound by a clear margin is an error for sure
                        None if b[i] as f64 * (a[i].unsigned_abs() as f64).log10()
                            > self.max_exp + 1.0 =>
                        {
                            return Fast::Error
                        }
                        None => return Fast::Exact,
                    }
                }
                Fast::Ok
            }
            Prim::Sqrt => {
                if a.iter().any(|&x| x < 0) {
                    return Fast::Error;
                }
                each!(|x, _y| Some((x as u64).isqrt() as i64))
            }
            _ => unreachable!("not an int primitive: {p:?}"),
        }
    }

    /// A left fold `acc = p(acc, body[k-1])` over the index set `set[n-1]` of each position n,
    /// from `init`: every partial value is checked, as the evaluator checks each call.
    pub fn fold(
        &self,
        p: Prim,
        init: i64,
        sets: &[Vec<u32>],
        body: Vals,
        out: &mut [i64],
    ) -> Computed {
        if let Vals::Small(v) = body {
            match self.fold_fast(p, init, sets, v, out) {
                Fast::Ok => return Computed::Small,
                Fast::Error => return Computed::Error,
                Fast::Exact => {}
            }
        }
        let mut vals = Vec::with_capacity(sets.len());
        for set in sets {
            let mut acc = Num::Small(init);
            for &k in set {
                match self.ev.apply(p, &acc, &body.get(k as usize - 1)) {
                    Ok(v) => acc = v,
                    Err(_) => return Computed::Error,
                }
            }
            vals.push(acc);
        }
        settle(vals, out)
    }

    fn fold_fast(&self, p: Prim, init: i64, sets: &[Vec<u32>], v: &[i64], out: &mut [i64]) -> Fast {
        for (n, set) in sets.iter().enumerate() {
            let mut acc = init;
            for &k in set {
                let x = v[k as usize - 1];
                let r = match p {
                    Prim::Add => acc.checked_add(x),
                    Prim::Mul => acc.checked_mul(x),
                    _ => unreachable!("folds are sums and products"),
                };
                match r {
                    Some(r) if self.within(r) => acc = r,
                    Some(_) => return Fast::Error,
                    None => return Fast::Exact,
                }
            }
            out[n] = acc;
        }
        Fast::Ok
    }
}

/// Exact values → the `i64` buffer when they all fit.
fn settle(vals: Vec<Num>, out: &mut [i64]) -> Computed {
    if vals.iter().all(|v| v.as_i64().is_some()) {
        for (o, v) in out.iter_mut().zip(&vals) {
            *o = v.as_i64().expect("checked");
        }
        Computed::Small
    } else {
        Computed::Big(vals)
    }
}

/// a / b rounded to nearest, ties to even (b ≠ 0); `None` when the quotient leaves `i64`.
#[inline]
pub(super) fn div_round(a: i64, b: i64) -> Option<i64> {
    if b == -1 && a == i64::MIN {
        return None;
    }
    // floor quotient and the remainder with b's sign
    let (mut q, mut r) = (a / b, a % b);
    if r != 0 && ((r < 0) != (b < 0)) {
        q -= 1;
        r += b;
    }
    let (twice_r, babs) = (2 * r.unsigned_abs() as u128, b.unsigned_abs() as u128);
    match twice_r.cmp(&babs) {
        std::cmp::Ordering::Less => Some(q),
        std::cmp::Ordering::Greater => q.checked_add(1),
        std::cmp::Ordering::Equal if q % 2 == 0 => Some(q),
        std::cmp::Ordering::Equal => q.checked_add(1),
    }
}

/// Floor modulo (b ≠ 0): the result has b's sign.
#[inline]
pub(super) fn mod_floor(a: i64, b: i64) -> i64 {
    let r = a.wrapping_rem(b);
    if r != 0 && ((r < 0) != (b < 0)) {
        r + b
    } else {
        r
    }
}

/// a ** b (b ≥ 0, 0 ** 0 = 1); `None` when the result leaves `i64`.
#[inline]
pub(super) fn pow(a: i64, b: i64) -> Option<i64> {
    match a {
        0 => Some(i64::from(b == 0)),
        1 => Some(1),
        -1 => Some(if b % 2 == 0 { 1 } else { -1 }),
        _ if b > 63 => None,
        _ => a.checked_pow(b as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::Limits;
    use crate::enumerator::OPS;
    use proptest::prelude::*;

    /// The evaluator's answer, element by element.
    fn reference(ev: &Evaluator, p: Prim, a: &[i64], b: &[i64]) -> Option<Vec<Num>> {
        a.iter()
            .zip(b)
            .map(|(x, y)| ev.apply(p, &Num::Small(*x), &Num::Small(*y)).ok())
            .collect()
    }

    fn interesting() -> impl Strategy<Value = i64> {
        prop_oneof![
            -12i64..12,
            any::<i64>(),
            Just(i64::MIN),
            Just(i64::MAX),
            Just(-1i64),
            (1i64..4_000_000_000),
        ]
    }

    proptest! {
        #[test]
        fn the_fast_path_is_the_evaluator(
            op in 0usize..9,
            a in proptest::collection::vec(interesting(), 1..6),
            b in proptest::collection::vec(interesting(), 6),
            exp in prop_oneof![Just(50u32), Just(5u32), Just(18u32)],
        ) {
            let ev = Evaluator::new(Limits { max_abs_exp: exp, ..Limits::default() });
            let ar = Arith::new(&ev);
            let b = &b[..a.len()];
            let mut out = vec![0; a.len()];
            let got = ar.binary(OPS[op], Vals::Small(&a), Vals::Small(b), &mut out);
            let want = reference(&ev, OPS[op], &a, b);
            match (got, want) {
                (Computed::Error, None) => {}
                (Computed::Small, Some(w)) => {
                    prop_assert_eq!(out.iter().map(|v| Num::Small(*v)).collect::<Vec<_>>(), w)
                }
                (Computed::Big(v), Some(w)) => prop_assert_eq!(v, w),
                (g, w) => prop_assert!(false, "{:?} {:?} {:?}: got {:?}, want {:?}", OPS[op], a, b, g, w),
            }
        }

        #[test]
        fn folds_are_the_evaluators_left_folds(
            body in proptest::collection::vec(interesting(), 8),
            product in any::<bool>(),
        ) {
            let ev = Evaluator::new(Limits::default());
            let ar = Arith::new(&ev);
            let sets: Vec<Vec<u32>> = (1..=8u32).map(|n| (1..=n).filter(|k| n % k == 0).collect()).collect();
            let (p, init) = if product { (Prim::Mul, 1) } else { (Prim::Add, 0) };
            let mut out = vec![0; 8];
            let got = ar.fold(p, init, &sets, Vals::Small(&body), &mut out);
            let want: Option<Vec<Num>> = sets.iter().map(|s| {
                s.iter().try_fold(Num::Small(init), |acc, &k| ev.apply(p, &acc, &Num::Small(body[k as usize - 1])).ok())
            }).collect();
            match (got, want) {
                (Computed::Error, None) => {}
                (Computed::Small, Some(w)) => prop_assert_eq!(out.iter().map(|v| Num::Small(*v)).collect::<Vec<_>>(), w),
                (Computed::Big(v), Some(w)) => prop_assert_eq!(v, w),
                (g, w) => prop_assert!(false, "got {:?}, want {:?}", g, w),
            }
        }
    }

    #[test]
    fn big_values_are_exact_and_bounded() {
        let ev = Evaluator::new(Limits::default());
        let ar = Arith::new(&ev);
        let mut out = [0i64; 2];
        // 10^20 does not fit i64 but is within 10^50
        let got = ar.binary(
            Prim::Pow,
            Vals::Small(&[10, 10]),
            Vals::Small(&[20, 50]),
            &mut out,
        );
        let Computed::Big(v) = got else {
            panic!("{got:?}")
        };
        assert_eq!(v[0].to_string(), format!("1{}", "0".repeat(20)));
        // 10^51 is out of bounds
        let got = ar.binary(
            Prim::Pow,
            Vals::Small(&[10, 10]),
            Vals::Small(&[20, 51]),
            &mut out,
        );
        assert_eq!(got, Computed::Error);
    }
}
