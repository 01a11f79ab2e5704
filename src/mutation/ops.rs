//! Mutation operators over program trees, type- and scope-aware, so that every mutant is a
//! well-typed program (the caller still checks it with `types::check_in`).
//!
//! A site is an `int` or `bool` node with the number of variables in scope there. One mutation
//! picks a site uniformly and one of:
//! - a constant → another constant (one up or down, or any digit);
//! - a variable → another `int` variable in scope, or a constant;
//! - an arithmetic primitive → another one (`+ - * / % ** min max`), a comparison → another;
//! - the site → a fresh leaf or `op ( leaf leaf )` (leaves: digits and the variables in scope);
//! - the site X → `op ( X leaf )` or `op ( leaf X )` (wrap);
//! - an application → one of its `int` arguments (unwrap);
//! - the site → an `int` subtree of another program (crossover), when that subtree binds no
//!   variables and reads only variables in scope here;
//! - at a site of a `map` body's own scope (`#0`, `#1` in scope): the site → a library item L, or
//!   X → L[#1 := X] (the item as a function with a hole), when a library is given.

use crate::dsl::types::{signature, Type};
use crate::dsl::{Expr, Prim, Program};
use rand::Rng;

/// A mutable position: the path from the body (argument indices, 0 for a lambda's body), its
/// type and the variables in scope (`#0 .. #(scope-1)`).
#[derive(Clone, Debug)]
pub struct Site {
    pub path: Vec<u8>,
    pub ty: Type,
    pub scope: u8,
}

/// The type of a value node (None for the function-typed ones).
pub fn type_of(e: &Expr) -> Option<Type> {
    match e {
        Expr::Const(_) => Some(Type::Int),
        Expr::Var(0) => Some(Type::List),
        Expr::Var(_) => Some(Type::Int),
        Expr::App(p, _) => Some(signature(*p).1),
        Expr::Fn(_) | Expr::Lambda { .. } => None,
    }
}

/// Every `int` and `bool` site of `e` (`scope` variables in scope at `e`).
pub fn sites(e: &Expr, scope: u8) -> Vec<Site> {
    let mut out = Vec::new();
    let mut path = Vec::new();
    collect(e, scope, &mut path, &mut out);
    out
}

fn collect(e: &Expr, scope: u8, path: &mut Vec<u8>, out: &mut Vec<Site>) {
    if let Some(ty @ (Type::Int | Type::Bool)) = type_of(e) {
        out.push(Site {
            path: path.clone(),
            ty,
            scope,
        });
    }
    match e {
        Expr::App(_, args) => {
            for (i, a) in args.iter().enumerate() {
                path.push(i as u8);
                collect(a, scope, path, out);
                path.pop();
            }
        }
        Expr::Lambda {
            first,
            params,
            body,
        } => {
            path.push(0);
            collect(body, first + params, path, out);
            path.pop();
        }
        _ => {}
    }
}

/// The node at `path` (read only).
pub fn at<'a>(e: &'a Expr, path: &[u8]) -> &'a Expr {
    match path.split_first() {
        None => e,
        Some((&i, rest)) => match e {
            Expr::App(_, args) => at(&args[i as usize], rest),
            Expr::Lambda { body, .. } => at(body, rest),
            _ => unreachable!("a site path runs through applications and lambdas"),
        },
    }
}

/// The node at `path`.
pub fn at_mut<'a>(e: &'a mut Expr, path: &[u8]) -> &'a mut Expr {
    match path.split_first() {
        None => e,
        Some((&i, rest)) => match e {
            Expr::App(_, args) => at_mut(&mut args[i as usize], rest),
            Expr::Lambda { body, .. } => at_mut(body, rest),
            _ => unreachable!("a site path runs through applications and lambdas"),
        },
    }
}

/// Whether `e` binds no variables and reads only `#1 .. #(scope-1)` (a crossover donor).
fn transplantable(e: &Expr, scope: u8) -> bool {
    match e {
        Expr::Const(_) => true,
        Expr::Var(v) => *v >= 1 && *v < scope,
        Expr::App(_, args) => args.iter().all(|a| transplantable(a, scope)),
        Expr::Fn(_) | Expr::Lambda { .. } => false,
    }
}

fn digit<R: Rng>(rng: &mut R) -> u8 {
    // small digits are the common ones
    if rng.gen_bool(0.6) {
        rng.gen_range(0..=3)
    } else {
        rng.gen_range(0..=9)
    }
}

fn leaf<R: Rng>(rng: &mut R, scope: u8) -> Expr {
    if scope > 1 && rng.gen_bool(0.5) {
        Expr::Var(rng.gen_range(1..scope))
    } else {
        Expr::Const(digit(rng))
    }
}

fn arith<R: Rng>(rng: &mut R) -> Prim {
    Prim::INT2[rng.gen_range(0..Prim::INT2.len())]
}

/// What one mutation did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Done {
    /// The chosen operator had nothing to do at the chosen site.
    Nothing,
    Changed,
    /// Changed, with a library item.
    Library,
}

/// One mutation of `body` in place (`donor`: another program's body for crossover).
pub fn mutate_once<R: Rng>(
    body: &mut Expr,
    donor: Option<&Expr>,
    library: &[Expr],
    rng: &mut R,
) -> Done {
    let mut used = false;
    match (mutate_inner(body, donor, library, &mut used, rng), used) {
        (false, _) => Done::Nothing,
        (true, false) => Done::Changed,
        (true, true) => Done::Library,
    }
}

fn mutate_inner<R: Rng>(
    body: &mut Expr,
    donor: Option<&Expr>,
    library: &[Expr],
    used_library: &mut bool,
    rng: &mut R,
) -> bool {
    let all = sites(body, 1);
    if all.is_empty() {
        return false;
    }
    let site = &all[rng.gen_range(0..all.len())];
    let scope = site.scope;
    let node = at_mut(body, &site.path);
    if site.ty == Type::Bool {
        return match node {
            Expr::App(p, args) if Prim::CMP.contains(p) => {
                if rng.gen_bool(0.5) {
                    *p = Prim::CMP[rng.gen_range(0..Prim::CMP.len())];
                } else {
                    args.swap(0, 1);
                }
                true
            }
            _ => false,
        };
    }
    let ops = if library.is_empty() || scope != 2 {
        7
    } else {
        9
    };
    match rng.gen_range(0..ops) {
        // a library item, or one applied to the site
        7 | 8 => {
            let item = &library[rng.gen_range(0..library.len())];
            *used_library = true;
            *node = if rng.gen_bool(0.5) {
                item.clone()
            } else {
                substitute(item, node)
            };
            true
        }
        // point change of a leaf or an operator
        0 | 1 => match node {
            Expr::Const(c) => {
                *c = if rng.gen_bool(0.5) {
                    if *c == 0 || (*c < 9 && rng.gen_bool(0.5)) {
                        *c + 1
                    } else {
                        *c - 1
                    }
                } else {
                    digit(rng)
                };
                true
            }
            Expr::Var(_) => {
                *node = leaf(rng, scope);
                true
            }
            Expr::App(p, _) if Prim::INT2.contains(p) => {
                *p = arith(rng);
                true
            }
            _ => false,
        },
        // a fresh small expression
        2 => {
            *node = if rng.gen_bool(0.5) {
                leaf(rng, scope)
            } else {
                Expr::App(arith(rng), vec![leaf(rng, scope), leaf(rng, scope)])
            };
            true
        }
        // wrap
        3 | 4 => {
            let x = std::mem::replace(node, Expr::Const(0));
            let l = leaf(rng, scope);
            let args = if rng.gen_bool(0.7) {
                vec![x, l]
            } else {
                vec![l, x]
            };
            *node = Expr::App(arith(rng), args);
            true
        }
        // unwrap
        5 => match node {
            Expr::App(_, args) => {
                let ints: Vec<usize> = (0..args.len())
                    .filter(|&i| type_of(&args[i]) == Some(Type::Int))
                    .collect();
                if ints.is_empty() {
                    return false;
                }
                let i = ints[rng.gen_range(0..ints.len())];
                let x = args.swap_remove(i);
                *node = x;
                true
            }
            _ => false,
        },
        // crossover
        _ => {
            let Some(d) = donor else { return false };
            let cands: Vec<Site> = sites(d, 1)
                .into_iter()
                .filter(|s| s.ty == Type::Int)
                .collect();
            if cands.is_empty() {
                return false;
            }
            let s = &cands[rng.gen_range(0..cands.len())];
            let sub = at(d, &s.path);
            if !transplantable(sub, scope) {
                return false;
            }
            *node = sub.clone();
            true
        }
    }
}

/// `e` with every `#1` replaced by `x` (x reads at most `#0` and `#1`, so no lambda of `e` can
/// capture it).
pub fn substitute(e: &Expr, x: &Expr) -> Expr {
    substitute_var(e, 1, x)
}

/// `e` with the variable `#v` replaced by `x` (`x` itself is not rewritten).
pub fn substitute_var(e: &Expr, v: u8, x: &Expr) -> Expr {
    match e {
        Expr::Var(w) if *w == v => x.clone(),
        Expr::App(p, args) => Expr::App(*p, args.iter().map(|a| substitute_var(a, v, x)).collect()),
        Expr::Lambda {
            first,
            params,
            body,
        } => Expr::Lambda {
            first: *first,
            params: *params,
            body: Box::new(substitute_var(body, v, x)),
        },
        other => other.clone(),
    }
}

/// Nodes of a tree (constants, variables, applications, lambdas, function symbols).
pub fn size(e: &Expr) -> usize {
    match e {
        Expr::App(_, args) => 1 + args.iter().map(size).sum::<usize>(),
        Expr::Lambda { body, .. } => 1 + size(body),
        _ => 1,
    }
}

/// Whether `e` reads `#1`.
pub fn reads_index(e: &Expr) -> bool {
    match e {
        Expr::Var(1) => true,
        Expr::App(_, args) => args.iter().any(reads_index),
        Expr::Lambda { body, .. } => reads_index(body),
        _ => false,
    }
}

/// The `int` subtrees of a pointwise `map` body E at E's own scope (outside every lambda of E)
/// that read `#1`, with `min..=max` nodes: the candidates for a library.
pub fn fragments(e: &Expr, min: usize, max: usize) -> Vec<Expr> {
    let mut out = Vec::new();
    for s in sites(e, 2) {
        if s.scope != 2 || s.ty != Type::Int {
            continue;
        }
        let sub = at(e, &s.path);
        let n = size(sub);
        if n >= min && n <= max && reads_index(sub) {
            out.push(sub.clone());
        }
    }
    out
}

/// Replaces every `#1` of `e` by `#1 + s` (s ≠ 0; `- ( #1 |s| )` when negative): the index
/// shift t(n) = p(n + s) of a pointwise `map` body (no lambda below rebinds `#1`).
pub fn shift_index(e: &Expr, s: i8) -> Expr {
    let p = if s > 0 { Prim::Add } else { Prim::Sub };
    substitute(
        e,
        &Expr::App(p, vec![Expr::Var(1), Expr::Const(s.unsigned_abs())]),
    )
}

/// The program `map ( lambda [ #1 ] ( e ) #0 )`.
pub fn map_program(e: Expr) -> Program {
    Program {
        body: Expr::App(
            Prim::Map,
            vec![
                Expr::Lambda {
                    first: 1,
                    params: 1,
                    body: Box::new(e),
                },
                Expr::Var(0),
            ],
        ),
    }
}

/// Whether `e` reads the input list `#0` (a `map` body that does not is pointwise: its value at
/// n depends on n alone, whatever the input's length).
pub fn reads_input(e: &Expr) -> bool {
    match e {
        Expr::Var(0) => true,
        Expr::App(_, args) => args.iter().any(reads_input),
        Expr::Lambda { body, .. } => reads_input(body),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::types::check_in;
    use crate::dsl::Dialect;

    const PARENTS: [&str; 4] = [
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( + ( * ( #1 #1 ) 3 ) ) #0 ) )",
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( loop ( lambda [ #2 #3 ] ( + ( * ( 2 #2 ) #3 ) ) #1 1 ) ) #0 ) )",
        "lambda [ #0 ] ( filter ( lambda [ #1 ] ( == ( % ( #1 3 ) 1 ) ) #0 ) )",
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( reduce ( #0 #1 lambda [ #2 #3 ] ( + ( #2 * ( #1 #3 ) ) ) ) ) #0 ) )",
    ];

    /// Every mutant of every operator is a well-typed program of the dialect (checked by the
    /// tree checker, and by the parser on its printed text).
    #[test]
    fn mutants_are_well_typed() {
        let parents: Vec<Program> = PARENTS.iter().map(|s| Program::parse(s).unwrap()).collect();
        let mut changed = 0;
        for seed in 0..3000u64 {
            let mut rng = crate::dsl::sample::rng_for(seed, 7);
            let p = &parents[seed as usize % parents.len()];
            let donor = &parents[(seed as usize + 1) % parents.len()];
            let mut body = p.body.clone();
            let lib = [Program::parse(PARENTS[1]).unwrap().body];
            let lib: Vec<Expr> = match &lib[0] {
                Expr::App(Prim::Map, a) => match &a[0] {
                    Expr::Lambda { body, .. } => fragments(body, 2, 20),
                    _ => vec![],
                },
                _ => vec![],
            };
            assert!(!lib.is_empty());
            if mutate_once(&mut body, Some(&donor.body), &lib, &mut rng) != Done::Nothing {
                let m = Program { body };
                check_in(&m, Dialect::Loops).unwrap_or_else(|e| panic!("{m}: {e}"));
                Program::parse(&m.to_string()).unwrap_or_else(|e| panic!("{m}: {e}"));
                changed += (m != *p) as usize;
            }
        }
        assert!(
            changed > 1500,
            "only {changed} of 3000 mutations changed the program"
        );
    }

    #[test]
    fn the_index_shift_shifts() {
        use crate::dsl::{eval, Limits};
        let p = Program::parse(PARENTS[1]).unwrap();
        let Expr::App(Prim::Map, args) = &p.body else {
            panic!()
        };
        let Expr::Lambda { body, .. } = &args[0] else {
            panic!()
        };
        assert!(!reads_input(body));
        let shifted = map_program(shift_index(body, 2));
        let a = eval(&p, &Limits::default()).unwrap();
        let b = eval(&shifted, &Limits::default()).unwrap();
        assert_eq!(&a[2..], &b[..b.len() - 2]);
        assert!(reads_input(&Program::parse(PARENTS[3]).unwrap().body));
    }
}
