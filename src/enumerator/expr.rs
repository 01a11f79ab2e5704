//! The expressions the enumerator builds, and their spelling as DSL programs.
//!
//! An expression is an integer in the scope of `#1` (the element of `#0` in
//! `map ( lambda [ #1 ] ( E ) #0 )`). Children are ids into the enumerator's arena, so an
//! expression is one small node however large its tree.

use crate::dsl::Prim;
use std::fmt::Write;

/// The index sets a fold ranges over, for each position n: sublists of `#0` chosen by a
/// predicate on the filter's parameter `#2` (with `#1` = n).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndexSet {
    /// k = 1..n: `filter ( lambda [ #2 ] ( < ( #2 + ( #1 1 ) ) ) #0 )`.
    Prefix,
    /// k = 1..n-1: `filter ( lambda [ #2 ] ( < ( #2 #1 ) ) #0 )`.
    Before,
    /// the divisors d of n: `filter ( lambda [ #2 ] ( == ( % ( #1 #2 ) 0 ) ) #0 )`.
    Divisors,
}

impl IndexSet {
    pub const ALL: [IndexSet; 3] = [IndexSet::Prefix, IndexSet::Before, IndexSet::Divisors];

    /// The setting's name (`enumerate.folds`).
    pub fn name(self) -> &'static str {
        match self {
            IndexSet::Prefix => "prefix",
            IndexSet::Before => "before",
            IndexSet::Divisors => "divisors",
        }
    }

    pub fn from_name(s: &str) -> Option<IndexSet> {
        IndexSet::ALL.into_iter().find(|f| f.name() == s)
    }

    /// The set's elements (1-based, increasing) for n = 1..len: `#0` is `[1..len]`.
    pub fn members(self, len: usize) -> Vec<Vec<u32>> {
        (1..=len as u32)
            .map(|n| match self {
                IndexSet::Prefix => (1..=n).collect(),
                IndexSet::Before => (1..n).collect(),
                IndexSet::Divisors => (1..=n).filter(|d| n % d == 0).collect(),
            })
            .collect()
    }

    fn predicate(self) -> &'static str {
        match self {
            IndexSet::Prefix => "< ( #2 + ( #1 1 ) )",
            IndexSet::Before => "< ( #2 #1 )",
            IndexSet::Divisors => "== ( % ( #1 #2 ) 0 )",
        }
    }

    /// Primitive applications in the predicate (the steps of one call, the call aside).
    pub fn predicate_steps(self) -> u64 {
        match self {
            IndexSet::Prefix | IndexSet::Divisors => 2,
            IndexSet::Before => 1,
        }
    }
}

/// How a fold combines: a sum from 0 or a product from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FoldOp {
    Sum,
    Product,
}

impl FoldOp {
    pub const ALL: [FoldOp; 2] = [FoldOp::Sum, FoldOp::Product];

    pub fn prim(self) -> Prim {
        match self {
            FoldOp::Sum => Prim::Add,
            FoldOp::Product => Prim::Mul,
        }
    }

    pub fn init(self) -> i64 {
        match self {
            FoldOp::Sum => 0,
            FoldOp::Product => 1,
        }
    }
}

/// One expression; ids refer to earlier expressions of the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    Const(u8),
    /// The element, `#1` (or the variable of the context it is spelled in).
    Var,
    /// `sqrt ( a )`.
    Unary(Prim, u32),
    /// `p ( a b )`.
    Binary(Prim, u32, u32),
    /// `reduce ( filter ( lambda [ #2 ] ( P ) #0 ) init lambda [ #2 #3 ] ( op ( #2 body ) ) )`,
    /// the body spelled with `#3` for its variable; `reduce ( ... init op )` when the body is the
    /// variable itself. The body has no fold of its own.
    Fold(IndexSet, FoldOp, u32),
}

/// Writes expression `id` as DSL tokens, its variable spelled `#var`.
pub fn spell(nodes: &[Node], id: u32, var: u8, out: &mut String) {
    match nodes[id as usize] {
        Node::Const(c) => {
            let _ = write!(out, "{c}");
        }
        Node::Var => {
            let _ = write!(out, "#{var}");
        }
        Node::Unary(p, a) => {
            let _ = write!(out, "{} ( ", p.symbol());
            spell(nodes, a, var, out);
            out.push_str(" )");
        }
        Node::Binary(p, a, b) => {
            let _ = write!(out, "{} ( ", p.symbol());
            spell(nodes, a, var, out);
            out.push(' ');
            spell(nodes, b, var, out);
            out.push_str(" )");
        }
        Node::Fold(set, op, body) => {
            debug_assert_eq!(var, 1, "folds are spelled in the scope of #1 only");
            let _ = write!(
                out,
                "reduce ( filter ( lambda [ #2 ] ( {} ) #0 ) {} ",
                set.predicate(),
                op.init()
            );
            if nodes[body as usize] == Node::Var {
                out.push_str(op.prim().symbol());
            } else {
                let _ = write!(out, "lambda [ #2 #3 ] ( {} ( #2 ", op.prim().symbol());
                spell(nodes, body, 3, out);
                out.push_str(" ) )");
            }
            out.push_str(" )");
        }
    }
}

/// The whole program `lambda [ #0 ] ( map ( lambda [ #1 ] ( E ) #0 ) )`.
pub fn program(nodes: &[Node], id: u32) -> String {
    let mut s = String::from("lambda [ #0 ] ( map ( lambda [ #1 ] ( ");
    spell(nodes, id, 1, &mut s);
    s.push_str(" ) #0 ) )");
    s
}

/// Steps the DSL evaluator charges for a fold at one position n whose index set has `m`
/// elements: the filter (one step, then a call and the predicate per element of `#0`), the
/// reduce (one step), then per element a call, the accumulating primitive and the body.
pub fn fold_steps(set: IndexSet, input_len: u64, m: u64, body_steps: u64) -> u64 {
    1 + input_len * (1 + set.predicate_steps()) + 1 + m * (2 + body_steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{Evaluator, Limits, Program};

    #[test]
    fn folds_spell_programs_the_evaluator_agrees_with() {
        // 0: #1, 1: 1, 2: #1 * #1
        let mut nodes = vec![Node::Var, Node::Const(1), Node::Binary(Prim::Mul, 0, 0)];
        let cases: Vec<(Node, Vec<i64>)> = vec![
            // sum of squares 1..n
            (
                Node::Fold(IndexSet::Prefix, FoldOp::Sum, 2),
                vec![1, 5, 14, 30, 55, 91],
            ),
            // n!
            (
                Node::Fold(IndexSet::Prefix, FoldOp::Product, 0),
                vec![1, 2, 6, 24, 120, 720],
            ),
            // number of divisors
            (
                Node::Fold(IndexSet::Divisors, FoldOp::Sum, 1),
                vec![1, 2, 2, 3, 2, 4],
            ),
            // (n-1)!
            (
                Node::Fold(IndexSet::Before, FoldOp::Product, 0),
                vec![1, 1, 2, 6, 24, 120],
            ),
        ];
        let limits = Limits {
            input_len: 6,
            ..Limits::default()
        };
        for (node, want) in cases {
            nodes.push(node);
            let id = nodes.len() as u32 - 1;
            let text = program(&nodes, id);
            let p: Program = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            let (terms, steps) = Evaluator::new(limits.clone()).eval_counted(&p).unwrap();
            let got: Vec<i64> = terms.iter().map(|t| t.as_i64().unwrap()).collect();
            assert_eq!(got, want, "{text}");
            // the step formula: map (1) + per n a call and the fold
            let Node::Fold(set, _, body) = node else {
                unreachable!()
            };
            let body_steps = u64::from(nodes[body as usize] == Node::Binary(Prim::Mul, 0, 0));
            let sets = set.members(6);
            let want_steps: u64 = 1 + sets
                .iter()
                .map(|s| 1 + fold_steps(set, 6, s.len() as u64, body_steps))
                .sum::<u64>();
            assert_eq!(steps, want_steps, "{text}");
        }
    }
}
