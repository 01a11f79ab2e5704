//! The type checker over trees (for trees built in code rather than parsed from text).
//!
//! Text and token input is checked by the automaton, which is the normative grammar; this checker
//! states the same rules recursively over `Expr`, and a property test keeps the two in agreement.

use super::syntax::{Expr, Program};
use super::token::{Dialect, Prim, MAX_VAR};
use thiserror::Error;

/// A type of the DSL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    Int,
    Bool,
    List,
    /// `int→int`
    Fn1,
    /// `int→bool`
    Pred,
    /// `(int,int)→int`
    Fn2,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("type error: {0}")]
pub struct TypeError(pub String);

/// Checks that `p` is `lambda [ #0 ] ( LIST )` with every node well-typed (in the loops
/// dialect, which contains the paper's).
pub fn check(p: &Program) -> Result<(), TypeError> {
    check_expr(&p.body, Type::List, 1)
}

/// [`check`], and that every primitive belongs to `dialect`.
pub fn check_in(p: &Program, dialect: Dialect) -> Result<(), TypeError> {
    check(p)?;
    match first_outside(&p.body, dialect) {
        Some(prim) => Err(TypeError(format!(
            "{} is not a primitive of the {} dialect",
            prim.symbol(),
            dialect.name()
        ))),
        None => Ok(()),
    }
}

/// The first primitive of `e` (in source order) that `dialect` lacks.
pub fn first_outside(e: &Expr, dialect: Dialect) -> Option<Prim> {
    match e {
        Expr::Const(_) | Expr::Var(_) => None,
        Expr::Fn(p) => (!dialect.has(*p)).then_some(*p),
        Expr::Lambda { body, .. } => first_outside(body, dialect),
        Expr::App(p, args) => {
            if !dialect.has(*p) {
                return Some(*p);
            }
            args.iter().find_map(|a| first_outside(a, dialect))
        }
    }
}

/// Checks `e` against the expected type with `#0..#(depth-1)` in scope.
pub fn check_expr(e: &Expr, want: Type, depth: u8) -> Result<(), TypeError> {
    let err = |msg: String| Err(TypeError(msg));
    match e {
        Expr::Const(c) => {
            if want != Type::Int || *c > 9 {
                return err(format!("constant {c} where {want:?} is expected"));
            }
        }
        Expr::Var(0) => {
            if want != Type::List {
                return err(format!("#0 is the input list, {want:?} expected"));
            }
        }
        Expr::Var(v) => {
            if want != Type::Int || *v >= depth {
                return err(format!("#{v} is not an int in scope (depth {depth})"));
            }
        }
        Expr::Fn(p) => {
            let ok = match want {
                Type::Fn1 => *p == Prim::Sqrt,
                Type::Fn2 => Prim::INT2.contains(p),
                _ => false,
            };
            if !ok {
                return err(format!("bare {} where {want:?} is expected", p.symbol()));
            }
        }
        Expr::Lambda {
            first,
            params,
            body,
        } => {
            let (n, body_ty) = match want {
                Type::Fn1 => (1, Type::Int),
                Type::Pred => (1, Type::Bool),
                Type::Fn2 => (2, Type::Int),
                _ => return err(format!("lambda where {want:?} is expected")),
            };
            if *params != n || *first != depth {
                return err(format!(
                    "lambda must bind {n} parameter(s) starting at #{depth}"
                ));
            }
            if depth as usize + n as usize - 1 > MAX_VAR as usize {
                return err(format!("lambda binds past #{MAX_VAR}"));
            }
            check_expr(body, body_ty, depth + n)?;
        }
        Expr::App(p, args) => {
            let (sig, ret): (&[Type], Type) = signature(*p);
            if ret != want {
                return err(format!("{} returns {ret:?}, {want:?} expected", p.symbol()));
            }
            if args.len() != sig.len() {
                return err(format!(
                    "{} takes {} arguments, got {}",
                    p.symbol(),
                    sig.len(),
                    args.len()
                ));
            }
            for (a, &t) in args.iter().zip(sig) {
                check_expr(a, t, depth)?;
            }
        }
    }
    Ok(())
}

/// Argument types and result type of a primitive when applied.
pub fn signature(p: Prim) -> (&'static [Type], Type) {
    use Type::*;
    match p {
        Prim::Add
        | Prim::Sub
        | Prim::Mul
        | Prim::Div
        | Prim::Mod
        | Prim::Pow
        | Prim::Min
        | Prim::Max => (&[Int, Int], Int),
        Prim::Sqrt => (&[Int], Int),
        Prim::Eq | Prim::Ne | Prim::Lt | Prim::Gt => (&[Int, Int], Bool),
        Prim::And => (&[Bool, Bool], Bool),
        Prim::Map => (&[Fn1, List], List),
        Prim::Filter => (&[Pred, List], List),
        Prim::Reduce => (&[List, Int, Fn2], Int),
        Prim::Loop => (&[Fn2, Int, Int], Int),
        Prim::Loop2 => (&[Fn2, Fn2, Int, Int, Int], Int),
        Prim::Nth => (&[Pred, Int, Int], Int),
        Prim::If => (&[Bool, Int, Int], Int),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_parsed_programs() {
        for src in [
            "lambda [ #0 ] ( #0 )",
            "lambda [ #0 ] ( filter ( lambda [ #1 ] ( & ( < ( #1 5 ) != ( 0 % ( #1 2 ) ) ) ) #0 ) )",
            "lambda [ #0 ] ( map ( lambda [ #1 ] ( reduce ( #0 #1 lambda [ #2 #3 ] ( + ( #2 * ( #1 #3 ) ) ) ) ) #0 ) )",
        ] {
            check(&Program::parse(src).unwrap()).unwrap();
        }
    }

    #[test]
    fn rejects_ill_typed_trees() {
        let bad = [
            Expr::Const(3),
            Expr::App(Prim::Add, vec![Expr::Const(1), Expr::Const(2)]),
            Expr::App(Prim::Map, vec![Expr::Fn(Prim::Add), Expr::Var(0)]),
            Expr::App(Prim::Map, vec![Expr::Fn(Prim::Sqrt)]),
            Expr::App(
                Prim::Map,
                vec![
                    Expr::Lambda {
                        first: 2,
                        params: 1,
                        body: Box::new(Expr::Var(2)),
                    },
                    Expr::Var(0),
                ],
            ),
            Expr::App(
                Prim::Filter,
                vec![
                    Expr::Lambda {
                        first: 1,
                        params: 1,
                        body: Box::new(Expr::Var(1)),
                    },
                    Expr::Var(0),
                ],
            ),
        ];
        for body in bad {
            assert!(check(&Program { body: body.clone() }).is_err(), "{body:?}");
        }
    }
}
