//! What the loops dialect's families share: their settings, their figures, and the matching of
//! a family's vectors against the targets, with every match confirmed by the DSL's evaluator.
//!
//! A family is not built from the stored levels: it generates its own vectors (a recurrence's
//! terms, the n-th k of a predicate), matches each against every target as a level's vectors
//! are matched, and spells each match as a whole program. The evaluator then runs that program
//! on `#0 = [1..L]`; a match stands only if the terms are the vector's (so a family's fast
//! arithmetic is a filter, and the DSL's semantics the judge).

use super::targets::{key, Category, TargetIndex};
use super::vals::Vals;
use super::{Expr, Hit, Hits};
use crate::dsl::{Evaluator, Program};
use std::time::Instant;

/// The families' settings (the loops dialect; `None` in the paper dialect). It is also the
/// `[enumerate.loops]` section of the config, field for field.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoopsSettings {
    /// Largest body of `loop` (state and index) in nodes (0: no `loop` family).
    pub loop_body: u32,
    /// Largest first body of `loop2` when the second is the shift `#2` (0: no `loop2` family).
    pub loop2_body: u32,
    /// Largest total size of the two bodies of `loop2` otherwise.
    pub loop2_pair: u32,
    /// Initial values 0..=init_max of `loop` and of the shift `loop2`.
    pub init_max: u8,
    /// Initial values 0..=pair_init_max of the other `loop2` pairs.
    pub pair_init_max: u8,
    /// Largest expression of k in an `nth` predicate, in nodes (0: no `nth` family).
    pub nth_expr: u32,
    /// Largest order of the fitted integer linear recurrences (0: no `linrec` family).
    pub linrec_order: u32,
    /// Largest degree of p and q in the fitted q(n) a(n) = p(n) a(n-1) (0: no `hyper` family).
    pub hyper_degree: u32,
    /// Largest degree of p1, p2 and q in the fitted q(n) a(n) = p1(n) a(n-1) + p2(n) a(n-2)
    /// (0: no `precur` family).
    pub precur_degree: u32,
    /// Largest period of the fitted quasi-polynomials (0: no `quasi` family).
    pub quasi_period: u32,
    /// Largest degree of their polynomials.
    pub quasi_degree: u32,
    /// Most decimal digits of the denominator q of the fitted fractions p/q whose decimal digits
    /// the terms are (0: no `digits` family).
    pub decimal_digits: u32,
}

impl Default for LoopsSettings {
    fn default() -> Self {
        LoopsSettings {
            loop_body: 5,
            loop2_body: 5,
            loop2_pair: 6,
            init_max: 9,
            pair_init_max: 3,
            nth_expr: 5,
            linrec_order: 4,
            hyper_degree: 4,
            precur_degree: 3,
            quasi_period: 12,
            quasi_degree: 4,
            decimal_digits: 40,
        }
    }
}

impl LoopsSettings {
    /// Whether a fitted family (`linrec`, `hyper`, `precur`, `quasi`, `digits`) runs: they read
    /// every known term.
    pub fn fits(&self) -> bool {
        self.linrec_order > 0
            || self.hyper_degree > 0
            || self.precur_degree > 0
            || self.quasi_period > 0
            || self.decimal_digits > 0
    }
}

/// The figures of one family.
#[derive(Clone, Debug, serde::Serialize, PartialEq)]
pub struct FamilyFigures {
    pub family: &'static str,
    /// Vectors computed.
    pub evaluated: u64,
    /// Of those, with an error (or past the step budget).
    pub errors: u64,
    /// Matches confirmed by the evaluator.
    pub confirmed: u64,
    /// Matches the evaluator did not confirm (a family computed other terms than the DSL: 0,
    /// unless a family has a bug; kept as a figure so that a test can say so).
    pub unconfirmed: u64,
    /// Targets solved after the family, by the window and on all L terms.
    pub solved_window: usize,
    pub solved_all: usize,
    pub seconds: f64,
}

/// Matches a family's vectors for one task: collects its hits, confirmed.
pub(super) struct Matcher<'a> {
    pub index: &'a TargetIndex,
    pub ev: &'a Evaluator,
    /// The family's kind, the high bits of every hit's order key.
    pub kind: u128,
    pub hits: Hits<'a>,
    pub evaluated: u64,
    pub errors: u64,
    pub confirmed: u64,
    pub unconfirmed: u64,
}

impl<'a> Matcher<'a> {
    pub fn new(
        index: &'a TargetIndex,
        ev: &'a Evaluator,
        kind: u128,
        full: &'a [[bool; 3]],
        per_target: usize,
    ) -> Self {
        Matcher {
            index,
            ev,
            kind,
            hits: Hits::new(full, per_target),
            evaluated: 0,
            errors: 0,
            confirmed: 0,
            unconfirmed: 0,
        }
    }

    /// Matches one vector; `spell` gives its program (called only when some target matches).
    pub fn offer(&mut self, v: Vals, size: u32, order: u64, spell: impl FnOnce() -> String) {
        let k = key(v, self.index.split());
        let mut found: Vec<(u32, Category)> = Vec::new();
        self.index
            .matches(v, self.index.match_key(v, k), |t, c| found.push((t, c)));
        // only what the task would keep is confirmed (the evaluator is the expensive part)
        found.retain(|&(t, c)| self.hits.wants(t, c, k));
        if found.is_empty() {
            return;
        }
        let program = spell();
        if !self.confirm(&program, v) {
            self.unconfirmed += 1;
            return;
        }
        self.confirmed += 1;
        for (target, category) in found {
            self.hits.push(Hit {
                target,
                category,
                size,
                order: (self.kind << 64) | order as u128,
                key: k,
                expr: Expr::Spelled(program.clone()),
            });
        }
    }

    /// Whether the program parses, prints as spelled, and evaluates to exactly `v`.
    fn confirm(&self, program: &str, v: Vals) -> bool {
        let Ok(p) = Program::parse(program) else {
            return false;
        };
        if p.to_string() != program {
            return false;
        }
        match self.ev.eval(&p) {
            Ok(terms) => terms.len() == v.len() && (0..v.len()).all(|i| terms[i] == v.get(i)),
            Err(_) => false,
        }
    }
}

/// Whether an `i64` value is within the DSL's bound.
#[inline]
pub(super) fn within(bound: Option<u64>, v: i64) -> bool {
    bound.is_none_or(|b| v.unsigned_abs() <= b)
}

/// Settings the families share with the rest of the enumeration.
pub(super) struct Common<'a> {
    pub ev: &'a Evaluator,
    pub index: &'a TargetIndex,
    pub full: &'a [[bool; 3]],
    pub per_target: usize,
}

/// The tasks' hits and figures, summed.
pub(super) fn gather(
    family: &'static str,
    parts: Vec<Matcher>,
    started: Instant,
) -> (Vec<Hit>, FamilyFigures) {
    let mut fig = FamilyFigures {
        family,
        evaluated: 0,
        errors: 0,
        confirmed: 0,
        unconfirmed: 0,
        solved_window: 0,
        solved_all: 0,
        seconds: 0.0,
    };
    let mut hits = Vec::new();
    for m in parts {
        fig.evaluated += m.evaluated;
        fig.errors += m.errors;
        fig.confirmed += m.confirmed;
        fig.unconfirmed += m.unconfirmed;
        hits.extend(m.hits.hits);
    }
    fig.seconds = started.elapsed().as_secs_f64();
    (hits, fig)
}
