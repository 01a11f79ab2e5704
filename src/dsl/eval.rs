//! Exact evaluation with limits.
//!
//! `#0` is the list `[1, 2, ..., L]`. Evaluation is eager and left to right. Every error is a
//! value (`EvalError` with its kind), never a panic: division or modulo by zero, negative
//! exponents, negative square roots, any value whose magnitude exceeds the bound (10^50 by
//! default), and running past the step budget.
//!
//! Steps (docs/dsl.md): one per primitive application (counted after its arguments are
//! evaluated, before it is applied) and one per call of a function argument by `map`, `filter` or
//! `reduce`. Constants and variables are free. The Python rendering counts identically, so both
//! fail in the same way on the same program.

use super::num::{ArithError, Num};
use super::syntax::{Expr, Program};
use super::token::Prim;
use num_bigint::BigInt;
use num_traits::pow;
use std::cmp::Ordering;
use std::fmt;

/// The evaluation limits. They are part of the semantics, hence of every cache key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Length L of the input list `#0 = [1..L]`.
    pub input_len: usize,
    /// Maximum number of steps.
    pub max_steps: u64,
    /// Values must satisfy |v| <= 10^max_abs_exp.
    pub max_abs_exp: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            input_len: 35,
            max_steps: 100_000,
            max_abs_exp: 50,
        }
    }
}

/// Why a program has no output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    DivByZero,
    ModByZero,
    NegativeExponent,
    NegativeSqrt,
    Overflow,
    StepLimit,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::DivByZero,
        ErrorKind::ModByZero,
        ErrorKind::NegativeExponent,
        ErrorKind::NegativeSqrt,
        ErrorKind::Overflow,
        ErrorKind::StepLimit,
    ];

    /// Stable snake_case name (used in Parquet tables and in the Python rendering).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::DivByZero => "div_by_zero",
            ErrorKind::ModByZero => "mod_by_zero",
            ErrorKind::NegativeExponent => "negative_exponent",
            ErrorKind::NegativeSqrt => "negative_sqrt",
            ErrorKind::Overflow => "overflow",
            ErrorKind::StepLimit => "step_limit",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvalError {
    pub kind: ErrorKind,
    /// Steps taken when the error happened.
    pub steps: u64,
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} after {} steps", self.kind, self.steps)
    }
}

impl std::error::Error for EvalError {}

/// A reusable evaluator for one set of limits (holds the input list and the bound).
pub struct Evaluator {
    limits: Limits,
    input: Vec<Num>,
    bound: BigInt,
    /// Bits of 10^max_abs_exp, plus one: any value with more bits is out of bounds.
    max_bits: u64,
    /// The bound when it fits an i64 (bounds below 10^19); otherwise every i64 is within it.
    small_bound: Option<u64>,
}

/// Value of an expression: an int, a bool, or a list.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Int(Num),
    Bool(bool),
    List(Vec<Num>),
}

struct Run<'a> {
    ev: &'a Evaluator,
    steps: u64,
    /// Lambda-bound ints: `env[k-1]` is `#k`.
    env: Vec<Num>,
}

impl Evaluator {
    pub fn new(limits: Limits) -> Evaluator {
        let bound = pow(BigInt::from(10), limits.max_abs_exp as usize);
        let max_bits = bound.bits() + 1;
        let small_bound = u64::try_from(&bound).ok();
        let input = (1..=limits.input_len as i64).map(Num::Small).collect();
        Evaluator {
            limits,
            input,
            bound,
            max_bits,
            small_bound,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Runs a program: its output list, or why it has none.
    pub fn eval(&self, p: &Program) -> Result<Vec<Num>, EvalError> {
        let mut run = Run {
            ev: self,
            steps: 0,
            env: Vec::new(),
        };
        match run.expr(&p.body) {
            Ok(Value::List(v)) => Ok(v),
            Ok(_) => unreachable!("checked programs return lists"),
            Err(kind) => Err(EvalError {
                kind,
                steps: run.steps,
            }),
        }
    }

    fn check(&self, v: Num) -> Result<Num, ErrorKind> {
        let within = match (&v, self.small_bound) {
            (Num::Small(_), None) => true,
            (Num::Small(x), Some(b)) => x.unsigned_abs() <= b,
            (Num::Big(_), _) => v.abs_cmp(&self.bound) != Ordering::Greater,
        };
        if within {
            Ok(v)
        } else {
            Err(ErrorKind::Overflow)
        }
    }
}

/// Evaluates with default limits (convenience for tests and the CLI).
pub fn eval(p: &Program, limits: &Limits) -> Result<Vec<Num>, EvalError> {
    Evaluator::new(limits.clone()).eval(p)
}

impl Run<'_> {
    fn step(&mut self) -> Result<(), ErrorKind> {
        self.steps += 1;
        if self.steps > self.ev.limits.max_steps {
            Err(ErrorKind::StepLimit)
        } else {
            Ok(())
        }
    }

    fn expr(&mut self, e: &Expr) -> Result<Value, ErrorKind> {
        match e {
            Expr::Const(c) => Ok(Value::Int(Num::Small(*c as i64))),
            Expr::Var(0) => Ok(Value::List(self.ev.input.clone())),
            Expr::Var(k) => Ok(Value::Int(self.env[*k as usize - 1].clone())),
            Expr::App(p, args) => self.app(*p, args),
            Expr::Fn(_) | Expr::Lambda { .. } => {
                unreachable!("function values only appear as arguments")
            }
        }
    }

    fn int(&mut self, e: &Expr) -> Result<Num, ErrorKind> {
        match self.expr(e)? {
            Value::Int(n) => Ok(n),
            _ => unreachable!("type-checked"),
        }
    }

    fn list(&mut self, e: &Expr) -> Result<Vec<Num>, ErrorKind> {
        match self.expr(e)? {
            Value::List(v) => Ok(v),
            _ => unreachable!("type-checked"),
        }
    }

    fn boolean(&mut self, e: &Expr) -> Result<bool, ErrorKind> {
        match self.expr(e)? {
            Value::Bool(b) => Ok(b),
            _ => unreachable!("type-checked"),
        }
    }

    fn app(&mut self, p: Prim, args: &[Expr]) -> Result<Value, ErrorKind> {
        match p {
            Prim::Map => {
                let xs = self.list(&args[1])?;
                self.step()?;
                let mut out = Vec::with_capacity(xs.len());
                for x in xs {
                    out.push(self.call_int(&args[0], &[x])?);
                }
                Ok(Value::List(out))
            }
            Prim::Filter => {
                let xs = self.list(&args[1])?;
                self.step()?;
                let mut out = Vec::with_capacity(xs.len());
                for x in xs {
                    if self.call_pred(&args[0], x.clone())? {
                        out.push(x);
                    }
                }
                Ok(Value::List(out))
            }
            Prim::Reduce => {
                let xs = self.list(&args[0])?;
                let mut acc = self.int(&args[1])?;
                self.step()?;
                for x in xs {
                    acc = self.call_int(&args[2], &[acc, x])?;
                }
                Ok(Value::Int(acc))
            }
            Prim::And => {
                let a = self.boolean(&args[0])?;
                let b = self.boolean(&args[1])?;
                self.step()?;
                Ok(Value::Bool(a && b))
            }
            Prim::Eq | Prim::Ne | Prim::Lt | Prim::Gt => {
                let a = self.int(&args[0])?;
                let b = self.int(&args[1])?;
                self.step()?;
                let ord = a.cmp(&b);
                Ok(Value::Bool(match p {
                    Prim::Eq => ord == Ordering::Equal,
                    Prim::Ne => ord != Ordering::Equal,
                    Prim::Lt => ord == Ordering::Less,
                    _ => ord == Ordering::Greater,
                }))
            }
            Prim::Sqrt => {
                let a = self.int(&args[0])?;
                self.step()?;
                self.arith(p, &[a]).map(Value::Int)
            }
            _ => {
                let a = self.int(&args[0])?;
                let b = self.int(&args[1])?;
                self.step()?;
                self.arith(p, &[a, b]).map(Value::Int)
            }
        }
    }

    /// Applies an int-valued primitive to evaluated arguments (the step is already counted).
    fn arith(&self, p: Prim, a: &[Num]) -> Result<Num, ErrorKind> {
        let r = match p {
            Prim::Add => Ok(a[0].add(&a[1])),
            Prim::Sub => Ok(a[0].sub(&a[1])),
            Prim::Mul => Ok(a[0].mul(&a[1])),
            Prim::Div => a[0].div_round(&a[1]),
            Prim::Mod => a[0].mod_floor(&a[1]).map_err(|_| ArithError::DivByZero),
            Prim::Pow => a[0].pow(&a[1], self.ev.max_bits),
            Prim::Min => Ok(a[0].clone().min(a[1].clone())),
            Prim::Max => Ok(a[0].clone().max(a[1].clone())),
            Prim::Sqrt => a[0].sqrt(),
            _ => unreachable!("not an int primitive: {p:?}"),
        };
        match r {
            Ok(v) => self.ev.check(v),
            Err(ArithError::DivByZero) if p == Prim::Mod => Err(ErrorKind::ModByZero),
            Err(ArithError::DivByZero) => Err(ErrorKind::DivByZero),
            Err(ArithError::NegativeExponent) => Err(ErrorKind::NegativeExponent),
            Err(ArithError::NegativeSqrt) => Err(ErrorKind::NegativeSqrt),
            Err(ArithError::Overflow) => Err(ErrorKind::Overflow),
        }
    }

    /// Calls an `int→int` or `(int,int)→int` function argument.
    fn call_int(&mut self, f: &Expr, args: &[Num]) -> Result<Num, ErrorKind> {
        self.step()?;
        match f {
            Expr::Fn(p) => {
                self.step()?;
                self.arith(*p, args)
            }
            Expr::Lambda { body, .. } => {
                let mark = self.env.len();
                self.env.extend(args.iter().cloned());
                let r = self.int(body);
                self.env.truncate(mark);
                r
            }
            _ => unreachable!("type-checked function argument"),
        }
    }

    /// Calls an `int→bool` lambda.
    fn call_pred(&mut self, f: &Expr, x: Num) -> Result<bool, ErrorKind> {
        self.step()?;
        let Expr::Lambda { body, .. } = f else {
            unreachable!("type-checked predicate")
        };
        self.env.push(x);
        let r = self.boolean(body);
        self.env.pop();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str) -> Result<Vec<Num>, EvalError> {
        eval(&Program::parse(src).unwrap(), &Limits::default())
    }

    fn terms(src: &str) -> String {
        let v = run(src).unwrap();
        v.iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn kind(src: &str) -> ErrorKind {
        run(src).unwrap_err().kind
    }

    #[test]
    fn table1_acceptance() {
        let out = terms("lambda [#0](map(lambda [#1]( *( / ( *(#1 8) 9) #1)) #0))");
        assert!(
            out.starts_with("1,4,9,16,20,30,42,56,72,90,110,132,156,168,"),
            "{out}"
        );
        assert_eq!(out.split(',').count(), 35);
    }

    #[test]
    fn list_operations() {
        assert_eq!(
            terms("lambda [ #0 ] ( filter ( lambda [ #1 ] ( == ( 0 % ( #1 3 ) ) ) #0 ) )"),
            "3,6,9,12,15,18,21,24,27,30,33"
        );
        // reduce is a left fold: reduce([1..35], 0, -) = -630
        assert_eq!(
            terms("lambda [ #0 ] ( map ( lambda [ #1 ] ( reduce ( #0 0 - ) ) filter ( lambda [ #1 ] ( < ( #1 2 ) ) #0 ) ) )"),
            "-630"
        );
        // partial sums through closure over the outer variable
        let s = terms("lambda [ #0 ] ( map ( lambda [ #1 ] ( reduce ( filter ( lambda [ #2 ] ( > ( #2 - ( 0 #1 ) ) ) #0 ) 0 lambda [ #2 #3 ] ( + ( #2 min ( #3 #1 ) ) ) ) ) #0 ) )");
        assert!(s.starts_with("35,69,102,"), "{s}");
        assert_eq!(
            terms("lambda [ #0 ] ( filter ( lambda [ #1 ] ( & ( > ( #1 3 ) < ( #1 6 ) ) ) #0 ) )"),
            "4,5"
        );
        assert_eq!(
            terms("lambda [ #0 ] ( filter ( lambda [ #1 ] ( != ( #1 #1 ) ) #0 ) )"),
            ""
        );
    }

    #[test]
    fn errors_are_values() {
        assert_eq!(
            kind("lambda [ #0 ] ( map ( lambda [ #1 ] ( / ( #1 0 ) ) #0 ) )"),
            ErrorKind::DivByZero
        );
        assert_eq!(
            kind("lambda [ #0 ] ( map ( lambda [ #1 ] ( % ( #1 0 ) ) #0 ) )"),
            ErrorKind::ModByZero
        );
        assert_eq!(
            kind("lambda [ #0 ] ( map ( lambda [ #1 ] ( ** ( #1 - ( 0 1 ) ) ) #0 ) )"),
            ErrorKind::NegativeExponent
        );
        assert_eq!(
            kind("lambda [ #0 ] ( map ( lambda [ #1 ] ( sqrt ( - ( 0 #1 ) ) ) #0 ) )"),
            ErrorKind::NegativeSqrt
        );
        // 10^50 is allowed, 10^50 + 1 is not
        let ok = terms("lambda [ #0 ] ( filter ( lambda [ #1 ] ( == ( ** ( + ( 9 1 ) * ( 5 + ( 9 1 ) ) ) ** ( + ( 9 1 ) * ( 5 + ( 9 1 ) ) ) ) ) #0 ) )");
        assert_eq!(ok.split(',').count(), 35);
        assert_eq!(
            kind("lambda [ #0 ] ( filter ( lambda [ #1 ] ( == ( + ( 1 ** ( + ( 9 1 ) * ( 5 + ( 9 1 ) ) ) ) 0 ) ) #0 ) )"),
            ErrorKind::Overflow
        );
        // an intermediate value over the bound fails even if the final one would not
        assert_eq!(
            kind("lambda [ #0 ] ( map ( lambda [ #1 ] ( - ( ** ( 9 * ( 9 9 ) ) ** ( 9 * ( 9 9 ) ) ) ) #0 ) )"),
            ErrorKind::Overflow
        );
        assert_eq!(
            kind("lambda [ #0 ] ( map ( lambda [ #1 ] ( ** ( 2 ** ( 9 9 ) ) ) #0 ) )"),
            ErrorKind::Overflow
        );
    }

    #[test]
    fn step_budget() {
        let limits = Limits {
            max_steps: 1000,
            ..Limits::default()
        };
        // 35 outer x 35 inner calls
        let p = Program::parse("lambda [ #0 ] ( map ( lambda [ #1 ] ( reduce ( #0 #1 + ) ) #0 ) )")
            .unwrap();
        let e = eval(&p, &limits).unwrap_err();
        assert_eq!(e.kind, ErrorKind::StepLimit);
        assert_eq!(e.steps, 1001);
        // exact count: map 1 + 35 x (call 1 + reduce 1 + 35 x (call 1 + prim 1)) = 2521
        let limits = Limits {
            max_steps: 2521,
            ..Limits::default()
        };
        assert!(eval(&p, &limits).is_ok());
        let limits = Limits {
            max_steps: 2520,
            ..Limits::default()
        };
        assert_eq!(eval(&p, &limits).unwrap_err().kind, ErrorKind::StepLimit);
    }

    #[test]
    fn configurable_bound_and_input() {
        let limits = Limits {
            input_len: 6,
            max_abs_exp: 2,
            max_steps: 1000,
        };
        let p = Program::parse("lambda [ #0 ] ( map ( lambda [ #1 ] ( * ( #1 + ( 9 9 ) ) ) #0 ) )")
            .unwrap();
        assert_eq!(eval(&p, &limits).unwrap_err().kind, ErrorKind::Overflow); // 6*18 > 100
        let limits = Limits {
            max_abs_exp: 3,
            ..limits
        };
        assert_eq!(eval(&p, &limits).unwrap().len(), 6);
    }
}
