//! The inverse step (docs/enumerate.md): t = a op b solved for b on the window, looked up among
//! the stored vectors, recomputed forwards.

use super::*;

/// The inverse step: for each target t and each stored expression a of size at most
/// `inverse_size`, the operand b that `t = a + b`, `t = a - b`, `t = b - a` or `t = a * b` needs
/// is computed and looked up among the stored vectors, on all L terms and on the window alone.
/// This finds programs up to `inverse_size + 1` nodes larger than the stored levels, at the cost
/// of one lookup per (target, a, operation). Every find is recomputed forwards, exactly.
pub(super) fn inverse(
    arena: &Arena,
    s: &Settings,
    ev: &Evaluator,
    index: &TargetIndex,
    targets: &[Vec<Num>],
    mine: &(dyn Fn(usize) -> bool + Sync),
) -> Vec<Hit> {
    let len = arena.len;
    let split = index.split();
    // the window and prefix are matched on 0..mlen; a vector may be longer
    let mlen = arena.match_len;
    let small: Vec<u32> = (1..=s.inverse_size.min(arena.levels.len() as u32))
        .flat_map(|size| arena.level(size))
        .collect();
    let size_of = |id: u32| -> u32 {
        arena
            .levels
            .iter()
            .position(|&(a, b)| a <= id && id < b)
            .expect("a stored id") as u32
    };
    let sizes: Vec<u32> = small.iter().map(|&a| size_of(a)).collect();
    let ar = Arith::new(ev);
    let max_steps = ev.limits().max_steps;
    let kinds = [
        (Prim::Add, false),
        (Prim::Sub, false),
        (Prim::Sub, true),
        (Prim::Mul, false),
    ];
    (0..targets.len())
        .into_par_iter()
        .filter(|&t| mine(t))
        .flat_map_iter(|t| {
            let mut out = Vec::new();
            let terms = &targets[t];
            let known = terms.len().min(len);
            let tv: Option<Vec<i64>> = (known >= mlen)
                .then(|| terms[..known].iter().map(Num::as_i64).collect())
                .flatten();
            let Some(tv) = tv else {
                return out;
            };
            let mut need = vec![0i64; len];
            let mut fwd = vec![0i64; len];
            for (ai, &a) in small.iter().enumerate() {
                let Vals::Small(av) = arena.vals(a) else {
                    continue;
                };
                for (k, &(p, flipped)) in kinds.iter().enumerate() {
                    if !s.ops.contains(&p) {
                        continue;
                    }
                    // the operand b with t = p(a, b) (or p(b, a) when flipped): first on the
                    // window, which any match needs, then on the prefix
                    let solve = |i: usize| -> Option<i64> {
                        let (x, y) = (av[i], tv[i]);
                        match (p, flipped) {
                            (Prim::Add, _) => y.checked_sub(x),
                            (Prim::Sub, false) => x.checked_sub(y),
                            (Prim::Sub, true) => y.checked_add(x),
                            _ => (x != 0 && y.checked_rem(x) == Some(0)).then(|| y / x),
                        }
                    };
                    if !(split..mlen).all(|i| solve(i).map(|r| need[i] = r).is_some()) {
                        continue;
                    }
                    let hw = targets::part(Vals::Small(&need), split..mlen, targets::WINDOW_SEED);
                    let Some(&by_window) = arena.by_window.get(&hw) else {
                        continue;
                    };
                    // the whole operand's identity needs the target's terms as far as the
                    // vectors go
                    let whole = known == len
                        && (0..split)
                            .chain(mlen..len)
                            .all(|i| solve(i).map(|r| need[i] = r).is_some());
                    let b = if whole {
                        let nk = key(Vals::Small(&need), split);
                        arena.seen.get(&nk).copied().unwrap_or(by_window)
                    } else {
                        by_window
                    };
                    let (l, r) = if flipped { (b, a) } else { (a, b) };
                    let steps = arena.steps[a as usize] + arena.steps[b as usize] + len as u64;
                    if 1 + len as u64 + steps > max_steps {
                        continue;
                    }
                    let vals = match ar.binary(p, arena.vals(l), arena.vals(r), &mut fwd) {
                        Computed::Small => Vals::Small(&fwd),
                        _ => continue,
                    };
                    let fk = key(vals, split);
                    index.matches(vals, index.match_key(vals, fk), |tt, category| {
                        if tt as usize == t && category <= Category::Window {
                            keep(
                                &mut out,
                                Hit {
                                    target: t as u32,
                                    category,
                                    size: sizes[ai] + size_of(b) + 1,
                                    order: order(32 + k as u128, l, r),
                                    key: fk,
                                    expr: Expr::Node(Node::Binary(p, l, r)),
                                },
                                s.per_target,
                            );
                        }
                    });
                }
            }
            out
        })
        .collect()
}
