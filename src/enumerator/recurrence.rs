//! The recurrence families of the loops dialect (docs/enumerate.md, "Families"):
//!
//! - `loop ( F N I )`: x_0 = I, x_k = F(x_(k-1), k), with F a body over the state `#2` and the
//!   index `#3`;
//! - `loop2 ( F G N I J )`: (x, y) ← (F(x, y), G(x, y)) from (I, J), with F and G bodies over
//!   `#2` and `#3`; with G = `#2` (the shift) this is every recurrence of order two,
//!   a(n) = F(a(n-1), a(n-2)).
//!
//! N is `#1` or `- ( #1 1 )`, the initial values are constants. One pass of L iterations gives
//! a chain's whole vector for both counts (the terms x_1..x_L and x_0..x_(L-1)). Bodies that
//! read no state are left out (their loop is an elementwise expression the levels have).

use super::body::{Bodies, Fail, BODY_OPS};
use super::family::{gather, within, Common, FamilyFigures, LoopsSettings, Matcher};
use super::vals::Vals;
use super::Hit;
use crate::dsl::Num;
use rayon::prelude::*;
use std::time::Instant;

/// Order-key kinds of the families (after the levels' primitives 0..=8, folds 16..=21 and the
/// inverse step 32..=35).
pub(super) const LOOP_KIND: u128 = 40;
pub(super) const LOOP2_KIND: u128 = 41;

/// A chain's states x_0..x_L.
enum Chain {
    Small(Vec<i64>),
    Big(Vec<Num>),
    Error,
}

/// Runs `step` L times from `(x, y)`, fast in `i64` and exactly when a value leaves it.
fn chain(
    len: usize,
    bound: Option<u64>,
    x: i64,
    y: i64,
    fast: impl Fn(i64, i64, i64) -> Result<(i64, i64), Fail>,
    exact: impl Fn(&Num, &Num, i64) -> Result<(Num, Num), ()>,
) -> Chain {
    let mut xs = Vec::with_capacity(len + 1);
    let (mut a, mut b) = (x, y);
    xs.push(a);
    for k in 1..=len as i64 {
        match fast(a, b, k) {
            Ok((na, nb)) => {
                if !within(bound, na) || !within(bound, nb) {
                    return Chain::Error;
                }
                (a, b) = (na, nb);
                xs.push(a);
            }
            Err(Fail::Error) => return Chain::Error,
            Err(Fail::Big) => {
                // redo the whole chain exactly
                let (mut a, mut b) = (Num::Small(x), Num::Small(y));
                let mut big = vec![a.clone()];
                for k in 1..=len as i64 {
                    match exact(&a, &b, k) {
                        Ok((na, nb)) => (a, b) = (na, nb),
                        Err(()) => return Chain::Error,
                    }
                    big.push(a.clone());
                }
                return Chain::Big(big);
            }
        }
    }
    Chain::Small(xs)
}

/// Offers a chain's two vectors (N = #1: x_1..x_L; N = #1 - 1: x_0..x_(L-1)).
fn offer_both(
    m: &mut Matcher,
    c: &Chain,
    len: usize,
    size: u32,
    order: u64,
    budget_ok: [bool; 2],
    spell: &dyn Fn(bool) -> String,
) {
    m.evaluated += 2;
    for shift in [false, true] {
        let range = if shift { 0..len } else { 1..len + 1 };
        if !budget_ok[shift as usize] {
            m.errors += 1;
            continue;
        }
        let v = match c {
            Chain::Small(xs) => Vals::Small(&xs[range]),
            Chain::Big(xs) => Vals::Big(&xs[range]),
            Chain::Error => {
                m.errors += 1;
                continue;
            }
        };
        let size = size + if shift { 3 } else { 1 };
        m.offer(v, size, order << 1 | shift as u64, || spell(shift));
    }
}

fn count(shift: bool) -> &'static str {
    if shift {
        "- ( #1 1 )"
    } else {
        "#1"
    }
}

/// Iterations over the L positions: Σ n, or Σ (n - 1) with the shifted count.
fn iterations(len: u64, shift: bool) -> u64 {
    if shift {
        len * (len - 1) / 2
    } else {
        len * (len + 1) / 2
    }
}

/// Steps of `map ( lambda [ #1 ] ( LOOP ) #0 )` whose loop calls bodies costing `per_iter`
/// steps an iteration: the map, per position its call and the loop's application (and the
/// count's `-`), and the iterations.
fn program_steps(len: u64, per_iter: u64, shift: bool) -> u64 {
    1 + len * (2 + shift as u64) + per_iter * iterations(len, shift)
}

/// Whether the program stays within `max_steps`, with the count `#1` and with `- ( #1 1 )`.
fn within_budget(len: usize, per_iter: u64, max_steps: u64) -> [bool; 2] {
    [false, true].map(|shift| program_steps(len as u64, per_iter, shift) <= max_steps)
}

/// The `loop` family.
pub(super) fn loop_family(s: &LoopsSettings, c: &Common) -> (Vec<Hit>, FamilyFigures) {
    let started = Instant::now();
    let len = c.ev.limits().input_len;
    let max_steps = c.ev.limits().max_steps;
    let bound = c.ev.small_bound();
    let bodies = Bodies::build(2, s.loop_body, &BODY_OPS);
    let ids: Vec<u32> = (0..bodies.len() as u32)
        .filter(|&f| bodies.reads[f as usize] & 1 != 0)
        .collect();
    let parts: Vec<Matcher> = ids
        .par_chunks(64)
        .map(|chunk| {
            let mut m = Matcher::new(c.index, c.ev, LOOP_KIND, c.full, c.per_target);
            for &f in chunk {
                let budget_ok = within_budget(len, bodies.call_steps(f), max_steps);
                for init in 0..=s.init_max {
                    let ch = chain(
                        len,
                        bound,
                        init as i64,
                        0,
                        |x, _, k| Ok((bodies.eval(f, x, k)?, 0)),
                        |x, _, k| {
                            bodies
                                .eval_exact(f, x, &Num::Small(k), c.ev)
                                .map(|v| (v, Num::Small(0)))
                                .map_err(|_| ())
                        },
                    );
                    let spell = |shift: bool| {
                        let mut p = String::from("lambda [ #0 ] ( map ( lambda [ #1 ] ( loop ( ");
                        bodies.spell_fn2(f, 2, &mut p);
                        p.push_str(&format!(" {} {init} ) ) #0 ) )", count(shift)));
                        p
                    };
                    let size = 1 + bodies.fn_size(f) + 1;
                    let order = (f as u64) << 8 | init as u64;
                    offer_both(&mut m, &ch, len, size, order, budget_ok, &spell);
                }
            }
            m
        })
        .collect();
    gather("loop", parts, started)
}

/// The `loop2` family.
pub(super) fn loop2_family(s: &LoopsSettings, c: &Common) -> (Vec<Hit>, FamilyFigures) {
    let started = Instant::now();
    let len = c.ev.limits().input_len;
    let max_steps = c.ev.limits().max_steps;
    let bound = c.ev.small_bound();
    let bodies = Bodies::build(
        2,
        s.loop2_body.max(s.loop2_pair.saturating_sub(1)),
        &BODY_OPS,
    );
    let shift_g = 0u32; // the body `#2` (variable 0) is built first
    debug_assert_eq!(bodies.nodes[0], super::body::Node::Var(0));
    // (F, G, largest initial value): the shift pairs, then the others by total size
    let mut pairs: Vec<(u32, u32, u8)> = Vec::new();
    for f in 0..bodies.len() as u32 {
        if bodies.reads[f as usize] != 0 && bodies.size[f as usize] <= s.loop2_body {
            pairs.push((f, shift_g, s.init_max));
        }
    }
    for f in 0..bodies.len() as u32 {
        let room = s.loop2_pair.saturating_sub(bodies.fn_size(f));
        for g in 1..bodies.len() as u32 {
            // bodies come smallest first, and only a body of 3 nodes can be a bare symbol
            // (size 1): past max(room, 3) nodes no G fits
            if bodies.size[g as usize] > room.max(3) {
                break;
            }
            let total = bodies.fn_size(f) + bodies.fn_size(g);
            // G = #3 keeps y constant: a loop without the index
            if total <= s.loop2_pair
                && bodies.reads[f as usize] != 0
                && bodies.reads[g as usize] != 0
                && bodies.nodes[g as usize] != super::body::Node::Var(1)
            {
                pairs.push((f, g, s.pair_init_max));
            }
        }
    }
    let parts: Vec<Matcher> = pairs
        .par_chunks(64)
        .enumerate()
        .map(|(ci, chunk)| {
            let mut m = Matcher::new(c.index, c.ev, LOOP2_KIND, c.full, c.per_target);
            for (pi, &(f, g, top)) in chunk.iter().enumerate() {
                let pair = (ci * 64 + pi) as u64;
                let per_iter = bodies.call_steps(f) + bodies.call_steps(g);
                let budget_ok = within_budget(len, per_iter, max_steps);
                let size = 1 + bodies.fn_size(f) + bodies.fn_size(g) + 2;
                for i in 0..=top {
                    for j in 0..=top {
                        let ch = chain(
                            len,
                            bound,
                            i as i64,
                            j as i64,
                            |x, y, _| Ok((bodies.eval(f, x, y)?, bodies.eval(g, x, y)?)),
                            |x, y, _| {
                                let nx = bodies.eval_exact(f, x, y, c.ev).map_err(|_| ())?;
                                let ny = bodies.eval_exact(g, x, y, c.ev).map_err(|_| ())?;
                                Ok((nx, ny))
                            },
                        );
                        let spell = |shift: bool| {
                            let mut p =
                                String::from("lambda [ #0 ] ( map ( lambda [ #1 ] ( loop2 ( ");
                            bodies.spell_fn2(f, 2, &mut p);
                            p.push(' ');
                            bodies.spell_fn2(g, 2, &mut p);
                            p.push_str(&format!(" {} {i} {j} ) ) #0 ) )", count(shift)));
                            p
                        };
                        let order = pair << 16 | (i as u64) << 8 | j as u64;
                        offer_both(&mut m, &ch, len, size, order, budget_ok, &spell);
                    }
                }
            }
            m
        })
        .collect();
    gather("loop2", parts, started)
}
