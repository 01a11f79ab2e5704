//! Small bodies for the loops dialect's families ([`super::recurrence`], [`super::nth`]):
//! integer expressions over one or two variables and the constants `0`..`9`, built smallest
//! first, one per distinct behaviour on a fixed set of sample points.
//!
//! The sample-point equivalence only prunes bodies: two bodies that agree on every sample point
//! but differ elsewhere keep the smaller one, which can lose a candidate but never produce a
//! wrong program, since every match of a family is confirmed by the DSL's own evaluator.
//!
//! Values are `i64` with checked arithmetic and the DSL's rules (`/` rounds to nearest with ties
//! to even, `%` is floor modulo, `**` needs a non-negative exponent); a result outside `i64`
//! is "too big" here, and the families redo such a chain exactly.

use crate::dsl::{ErrorKind, Evaluator, Num, Prim};
use std::collections::HashMap;

/// The primitives a body may apply: the `(int,int)→int` ones of the DSL (not `sqrt`).
pub const BODY_OPS: [Prim; 8] = Prim::INT2;

/// One node of a body; ids refer to earlier bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    /// Variable 0 or 1 (spelled `#d` and `#d+1`).
    Var(u8),
    Const(u8),
    Bin(Prim, u32, u32),
}

/// Why a body has no value at a point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fail {
    /// An evaluation error of the DSL (division by zero, a negative exponent).
    Error,
    /// The value leaves `i64` (it may still be within the DSL's bound).
    Big,
}

/// The distinct bodies, smallest first.
pub struct Bodies {
    pub nodes: Vec<Node>,
    pub size: Vec<u32>,
    /// Primitive applications per evaluation (the DSL's steps of the body, calls aside).
    pub steps: Vec<u64>,
    /// Which variables the body reads (bit 0, bit 1).
    pub reads: Vec<u8>,
}

/// Applies a body primitive to `i64` operands with the DSL's rules.
#[inline]
pub fn apply(p: Prim, a: i64, b: i64) -> Result<i64, Fail> {
    let r = match p {
        Prim::Add => a.checked_add(b),
        Prim::Sub => a.checked_sub(b),
        Prim::Mul => a.checked_mul(b),
        Prim::Div => {
            if b == 0 {
                return Err(Fail::Error);
            }
            super::vals::div_round(a, b)
        }
        Prim::Mod => {
            if b == 0 {
                return Err(Fail::Error);
            }
            Some(super::vals::mod_floor(a, b))
        }
        Prim::Pow => {
            if b < 0 {
                return Err(Fail::Error);
            }
            super::vals::pow(a, b)
        }
        Prim::Min => Some(a.min(b)),
        Prim::Max => Some(a.max(b)),
        _ => unreachable!("not a body primitive: {p:?}"),
    };
    r.ok_or(Fail::Big)
}

impl Bodies {
    /// Every distinct body of at most `max_size` nodes over `vars` variables (1 or 2).
    pub fn build(vars: u8, max_size: u32, ops: &[Prim]) -> Bodies {
        let mut b = Bodies {
            nodes: Vec::new(),
            size: Vec::new(),
            steps: Vec::new(),
            reads: Vec::new(),
        };
        let points = sample_points(vars);
        let mut seen: HashMap<Vec<Option<i64>>, u32> = HashMap::new();
        let mut by_size: Vec<Vec<u32>> = vec![Vec::new(); max_size as usize + 1];
        let mut add = |b: &mut Bodies, node: Node, size: u32, by_size: &mut Vec<Vec<u32>>| {
            let print: Vec<Option<i64>> = points
                .iter()
                .map(|&(x, y)| b.eval_node(node, x, y).ok())
                .collect();
            if print.iter().all(Option::is_none) || seen.contains_key(&print) {
                return;
            }
            let id = b.nodes.len() as u32;
            seen.insert(print, id);
            let (steps, reads) = match node {
                Node::Var(v) => (0, 1 << v),
                Node::Const(_) => (0, 0),
                Node::Bin(_, l, r) => (
                    1 + b.steps[l as usize] + b.steps[r as usize],
                    b.reads[l as usize] | b.reads[r as usize],
                ),
            };
            b.nodes.push(node);
            b.size.push(size);
            b.steps.push(steps);
            b.reads.push(reads);
            by_size[size as usize].push(id);
        };
        for v in 0..vars {
            add(&mut b, Node::Var(v), 1, &mut by_size);
        }
        for c in 0..10 {
            add(&mut b, Node::Const(c), 1, &mut by_size);
        }
        for size in 3..=max_size {
            for ls in 1..size - 1 {
                let rs = size - 1 - ls;
                // the operands' levels are complete; only level `size` grows below
                let (left, right) = (by_size[ls as usize].clone(), by_size[rs as usize].clone());
                for &p in ops {
                    let commutes = super::commutative(p);
                    if commutes && ls > rs {
                        continue;
                    }
                    for &l in &left {
                        for &r in &right {
                            if commutes && ls == rs && l > r {
                                continue;
                            }
                            add(&mut b, Node::Bin(p, l, r), size, &mut by_size);
                        }
                    }
                }
            }
        }
        b
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn eval_node(&self, node: Node, x: i64, y: i64) -> Result<i64, Fail> {
        match node {
            Node::Var(0) => Ok(x),
            Node::Var(_) => Ok(y),
            Node::Const(c) => Ok(c as i64),
            Node::Bin(p, l, r) => {
                let a = self.eval(l, x, y)?;
                let b = self.eval(r, x, y)?;
                apply(p, a, b)
            }
        }
    }

    /// The body's value at (x, y).
    #[inline]
    pub fn eval(&self, id: u32, x: i64, y: i64) -> Result<i64, Fail> {
        self.eval_node(self.nodes[id as usize], x, y)
    }

    /// The body's exact value at (x, y), through the evaluator's own primitive (with its bound).
    pub fn eval_exact(&self, id: u32, x: &Num, y: &Num, ev: &Evaluator) -> Result<Num, ErrorKind> {
        match self.nodes[id as usize] {
            Node::Var(0) => Ok(x.clone()),
            Node::Var(_) => Ok(y.clone()),
            Node::Const(c) => Ok(Num::Small(c as i64)),
            Node::Bin(p, l, r) => {
                let a = self.eval_exact(l, x, y, ev)?;
                let b = self.eval_exact(r, x, y, ev)?;
                ev.apply(p, &a, &b)
            }
        }
    }

    /// Whether the body is `p ( #d #d+1 )`: it is then spelled as the bare symbol `p`.
    pub fn bare(&self, id: u32) -> Option<Prim> {
        match self.nodes[id as usize] {
            Node::Bin(p, l, r)
                if self.nodes[l as usize] == Node::Var(0)
                    && self.nodes[r as usize] == Node::Var(1) =>
            {
                Some(p)
            }
            _ => None,
        }
    }

    /// The body as DSL text, its variables spelled `#first` and `#first+1`.
    pub fn spell(&self, id: u32, first: u8, out: &mut String) {
        use std::fmt::Write;
        match self.nodes[id as usize] {
            Node::Var(v) => {
                let _ = write!(out, "#{}", first + v);
            }
            Node::Const(c) => {
                let _ = write!(out, "{c}");
            }
            Node::Bin(p, l, r) => {
                let _ = write!(out, "{} ( ", p.symbol());
                self.spell(l, first, out);
                out.push(' ');
                self.spell(r, first, out);
                out.push_str(" )");
            }
        }
    }

    /// The body as a two-parameter function argument: the bare symbol where it is one, else
    /// `lambda [ #first #first+1 ] ( body )`.
    pub fn spell_fn2(&self, id: u32, first: u8, out: &mut String) {
        use std::fmt::Write;
        if let Some(p) = self.bare(id) {
            out.push_str(p.symbol());
            return;
        }
        let _ = write!(out, "lambda [ #{} #{} ] ( ", first, first + 1);
        self.spell(id, first, out);
        out.push_str(" )");
    }

    /// The body's size as a function argument, as a family counts it: a bare symbol 1, a
    /// lambda its body's nodes.
    pub fn fn_size(&self, id: u32) -> u32 {
        if self.bare(id).is_some() {
            1
        } else {
            self.size[id as usize]
        }
    }

    /// The steps of one call of the body as a function argument: the call, and its
    /// applications (a bare symbol: the call and the application).
    pub fn call_steps(&self, id: u32) -> u64 {
        1 + self.steps[id as usize]
    }
}

/// Sample points: small values of both signs, a few larger ones.
fn sample_points(vars: u8) -> Vec<(i64, i64)> {
    let xs: [i64; 12] = [0, 1, 2, 3, 5, 7, -1, -4, 12, 30, 101, -37];
    let ys: [i64; 12] = [1, 0, 3, -2, 4, 2, 6, 9, -5, 17, 64, 1000];
    let mut out: Vec<(i64, i64)> = Vec::new();
    if vars == 1 {
        out.extend(xs.iter().map(|&x| (x, 0)));
        out.extend([
            (4, 0),
            (6, 0),
            (8, 0),
            (9, 0),
            (10, 0),
            (15, 0),
            (16, 0),
            (25, 0),
        ]);
    } else {
        for (i, &x) in xs.iter().enumerate() {
            out.push((x, ys[i]));
            out.push((x, ys[(i + 5) % ys.len()]));
        }
        out.extend([(4, 4), (6, 6), (10, 3), (3, 10)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{Limits, Num, Program};

    #[test]
    fn bodies_are_distinct_smallest_first_and_spell_what_they_compute() {
        let b = Bodies::build(2, 5, &BODY_OPS);
        assert!(b.len() > 1000, "{}", b.len());
        assert!(b.size.windows(2).all(|w| w[0] <= w[1]));
        let ev = Evaluator::new(Limits::default());
        // every 97th body, at a few points, against the evaluator through a loop2 program
        for id in (0..b.len() as u32).step_by(97) {
            let mut f = String::new();
            b.spell_fn2(id, 2, &mut f);
            for (x, y) in [(3i64, 5i64), (0, 1), (7, -2)] {
                let src = format!(
                    "lambda [ #0 ] ( map ( lambda [ #1 ] ( loop2 ( {f} lambda [ #2 #3 ] ( #3 ) 1 {x} {y} ) ) #0 ) )"
                );
                let src = src.replace(" -2 ", " - ( 0 2 ) ");
                let p = Program::parse(&src).unwrap_or_else(|e| panic!("{src}: {e}"));
                let want = b.eval(id, x, y);
                match (ev.eval(&p), want) {
                    (Ok(t), Ok(v)) => assert_eq!(t[0], Num::Small(v), "{src}"),
                    (Err(_), Err(Fail::Error)) => {}
                    // past i64: the families redo it exactly
                    (Err(e), Err(Fail::Big)) => {
                        assert_eq!(e.kind, crate::dsl::ErrorKind::Overflow, "{src}")
                    }
                    (Ok(t), Err(Fail::Big)) => assert!(matches!(t[0], Num::Big(_)), "{src}"),
                    (got, want) => panic!("{src}: {got:?} against {want:?}"),
                }
            }
        }
    }
}
