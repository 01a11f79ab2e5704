//! What the fitted families (`linrec`, `hyper`, `precur`, `quasi`) share: exact integer
//! elimination, the spelling of constants and polynomials, the size measure, and the driver that
//! fits every target, runs the program and offers its terms.

use super::family::{gather, Common, FamilyFigures, Matcher};
use super::vals::Vals;
use super::Hit;
use crate::dsl::{Num, Program};
use num_bigint::BigInt;
use num_integer::Integer;
use num_traits::{One, Signed, ToPrimitive, Zero};
use rayon::prelude::*;
use std::time::Instant;

/// A fitted family: for every target with the matched terms, `spell` fits its known terms and
/// gives the program (None: no fit); the evaluator runs it (step budget and bound included),
/// and what it computes is offered. The matches are meant to be added beside the kept
/// candidates (`merge_extra`), so every target is tried, solved or not.
pub(super) fn run(
    family: &'static str,
    kind: u128,
    c: &Common,
    spell: impl Fn(&[BigInt]) -> Option<String> + Sync,
) -> (Vec<Hit>, FamilyFigures) {
    let started = Instant::now();
    let need = c.index.match_len();
    let none = vec![[false; 3]; c.index.len()];
    let todo: Vec<u32> = (0..c.index.len() as u32)
        .filter(|&t| c.index.terms(t).len() >= need)
        .collect();
    let parts: Vec<Matcher> = todo
        .par_chunks(16)
        .map(|chunk| {
            let mut m = Matcher::new(c.index, c.ev, kind, &none, c.per_target);
            for &t in chunk {
                let terms: Vec<BigInt> = c.index.terms(t).iter().map(Num::to_big).collect();
                let Some(text) = spell(&terms) else {
                    continue;
                };
                m.evaluated += 1;
                let Ok(p) = Program::parse(&text) else {
                    m.errors += 1;
                    continue;
                };
                let Ok(vals) = c.ev.eval(&p) else {
                    // past the step budget or the bound
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
    gather(family, parts, started)
}

/// Gauss–Jordan elimination over the integers on the first `k` columns of `rows`, in place:
/// each pivot column ends with one nonzero entry (its pivot), every row divided by the gcd of its
/// entries. Returns the pivots, (row, column), in column order; a column without a nonzero
/// entry left is skipped. Exact: no fraction is ever formed.
pub(super) fn eliminate(rows: &mut [Vec<BigInt>], k: usize) -> Vec<(usize, usize)> {
    let mut pivots = Vec::with_capacity(k);
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
    pivots
}

/// The one-dimensional null space of integer rows, as a primitive integer vector.
pub(super) fn null_vector(mut rows: Vec<Vec<BigInt>>, k: usize) -> Option<Vec<BigInt>> {
    let pivots = eliminate(&mut rows, k);
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

/// The polynomial with coefficients `c` (lowest degree first) at n.
pub(super) fn poly(c: &[BigInt], n: &BigInt) -> BigInt {
    c.iter().rev().fold(BigInt::zero(), |acc, x| acc * n + x)
}

/// A constant in the DSL's digits: 0..=9 as itself, larger in base 9 (`+ ( * ( Q 9 ) d )`),
/// negative as `- ( 0 v )`.
pub fn constant(v: &BigInt) -> String {
    if v.is_negative() {
        return format!("- ( 0 {} )", constant(&-v));
    }
    if let Some(s) = v.to_u8().filter(|&s| s <= 9) {
        return s.to_string();
    }
    let (q, d) = v.div_rem(&BigInt::from(9));
    let times = format!("* ( {} 9 )", constant(&q));
    if d.is_zero() {
        times
    } else {
        format!("+ ( {times} {d} )")
    }
}

/// Σ coef·var + c as an expression: the positive terms summed, the negative ones subtracted.
pub fn linear(terms: &[(&BigInt, String)], c: &BigInt) -> String {
    let mut pos: Vec<String> = Vec::new();
    let mut neg: Vec<String> = Vec::new();
    let times = |k: &BigInt, x: &str| {
        if k.is_one() {
            x.to_string()
        } else {
            format!("* ( {} {x} )", constant(k))
        }
    };
    for (k, x) in terms {
        if k.is_positive() {
            pos.push(times(k, x));
        } else if k.is_negative() {
            neg.push(times(&-*k, x));
        }
    }
    if c.is_positive() {
        pos.push(constant(c));
    } else if c.is_negative() {
        neg.push(constant(&-c));
    }
    let sum = |xs: &[String]| {
        let mut it = xs.iter();
        let first = it.next().expect("a term").clone();
        it.fold(first, |a, x| format!("+ ( {a} {x} )"))
    };
    match (pos.is_empty(), neg.is_empty()) {
        (true, true) => "0".to_string(),
        (false, true) => sum(&pos),
        (true, false) => format!("- ( 0 {} )", sum(&neg)),
        (false, false) => format!("- ( {} {} )", sum(&pos), sum(&neg)),
    }
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

/// Size in the enumerator's measure: the nodes of the mapped expression (constants, variables
/// and applications; a lambda's header and the brackets are scaffolding).
pub(super) fn size(program: &str) -> u32 {
    let mut n = 0u32;
    let mut in_params = false;
    for tok in program.split_whitespace() {
        match tok {
            "[" => in_params = true,
            "]" => in_params = false,
            "(" | ")" | "lambda" => {}
            _ if in_params => {}
            _ => n += 1,
        }
    }
    // the outer `map`, `#0` and `#1`'s binding scaffolding are not the expression's
    n.saturating_sub(2)
}

/// Test support: asserts that `text` parses, prints as spelled, and evaluates (with
/// `max_steps`) to `terms` as far as both go.
#[cfg(test)]
pub(super) fn assert_evaluates_to(text: &str, terms: &[BigInt], max_steps: u64) {
    use crate::dsl::{Evaluator, Limits};
    let p = Program::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(p.to_string(), text);
    let ev = Evaluator::new(Limits {
        max_steps,
        ..Limits::default()
    });
    let out = ev.eval(&p).unwrap_or_else(|e| panic!("{text}: {e:?}"));
    let n = out.len().min(terms.len());
    let out: Vec<BigInt> = out[..n].iter().map(Num::to_big).collect();
    assert_eq!(out, terms[..n], "{text}");
}
