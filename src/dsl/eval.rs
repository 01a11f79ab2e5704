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

/// The largest `input_len` (the input list is materialised: 16 bytes a term).
pub const MAX_INPUT_LEN: usize = 1_000_000;
/// The largest `max_abs_exp` (the bound 10^E is computed exactly).
pub const MAX_ABS_EXP: u32 = 10_000;

impl Limits {
    /// Checks that the limits can be honoured: names the setting and its range otherwise.
    pub fn validate(&self) -> Result<(), String> {
        if self.input_len == 0 || self.input_len > MAX_INPUT_LEN {
            return Err(format!(
                "input length {} is out of range 1..={MAX_INPUT_LEN}",
                self.input_len
            ));
        }
        if self.max_abs_exp == 0 || self.max_abs_exp > MAX_ABS_EXP {
            return Err(format!(
                "max_abs_exp {} is out of range 1..={MAX_ABS_EXP}",
                self.max_abs_exp
            ));
        }
        if self.max_steps == 0 {
            return Err("max_steps must be at least 1".into());
        }
        Ok(())
    }

    /// These limits on `#0 = [1..n]`: the step budget scaled by ⌈(n/L)²⌉, so a program whose
    /// cost grows quadratically with the input (a fold inside a map) keeps the headroom it had
    /// on [1..L]. The all-known-terms check evaluates with these.
    pub fn for_input_len(&self, n: usize) -> Limits {
        let l = self.input_len.max(1) as u64;
        let ratio = (n.max(1) as u64).div_ceil(l);
        Limits {
            input_len: n,
            max_steps: self.max_steps.saturating_mul(ratio * ratio),
            max_abs_exp: self.max_abs_exp,
        }
    }
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
    /// `nth ( P N S )` with N < 1 (the loops dialect).
    BadCount,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 7] = [
        ErrorKind::DivByZero,
        ErrorKind::ModByZero,
        ErrorKind::NegativeExponent,
        ErrorKind::NegativeSqrt,
        ErrorKind::Overflow,
        ErrorKind::StepLimit,
        ErrorKind::BadCount,
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
            ErrorKind::BadCount => "bad_count",
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
    /// Reuse the values of loop-invariant subexpressions (see `Code`). Off only in tests that
    /// check that caching changes nothing.
    cache: bool,
}

/// Value of an expression: an int, a bool, or a list.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Int(Num),
    Bool(bool),
    List(Vec<Num>),
}

/// A program compiled for evaluation: nodes in a flat array, with per-node data that the tree
/// does not carry.
///
/// Loop-invariant caching: a subexpression that contains a list operation and does not depend on
/// the parameters of its innermost enclosing lambda (e.g. `reduce ( #0 0 + )` inside a `map`
/// body) has the same value on every call of that lambda. Its value and the steps it took are
/// kept, keyed by the activation of the highest variable it reads; a reuse charges the same steps
/// again. Results, errors and step counts are therefore exactly those of plain evaluation (a
/// property test checks this), while nested loops over `#0` cost one pass instead of 35.
struct Code {
    ops: Vec<Op>,
    args: Vec<u32>,
    /// Per node: its cache slot, or `NO_SLOT`.
    slot: Vec<u32>,
    /// Per node: the highest lambda-bound variable it reads (0: none).
    key_var: Vec<u8>,
    slots: usize,
}

const NO_SLOT: u32 = u32::MAX;

#[derive(Clone, Copy)]
enum Op {
    Const(i64),
    Input,
    Var(u8),
    App { prim: Prim, first_arg: u32 },
    Fn(Prim),
    Lambda { body: u32, first: u8 },
}

impl Code {
    fn compile(p: &Program) -> (Code, u32) {
        let mut c = Code {
            ops: Vec::new(),
            args: Vec::new(),
            slot: Vec::new(),
            key_var: Vec::new(),
            slots: 0,
        };
        let (root, _, _) = c.node(&p.body, 0);
        (c, root)
    }

    /// Compiles `e`; `inner` is the first parameter of the innermost enclosing lambda (0 at
    /// top level). Returns the node id, the bit set of bound variables read, and whether the
    /// subtree contains a list operation.
    fn node(&mut self, e: &Expr, inner: u8) -> (u32, u32, bool) {
        let id = self.ops.len() as u32;
        self.ops.push(Op::Input); // placeholder
        self.slot.push(NO_SLOT);
        self.key_var.push(0);
        let (op, vars, heavy) = match e {
            Expr::Const(c) => (Op::Const(*c as i64), 0, false),
            Expr::Var(0) => (Op::Input, 0, false),
            Expr::Var(k) => (Op::Var(*k), 1u32 << k, false),
            Expr::Fn(p) => (Op::Fn(*p), 0, false),
            Expr::Lambda { first, body, .. } => {
                let (b, vars, heavy) = self.node(body, *first);
                // its own parameters are not free in the lambda
                (
                    Op::Lambda {
                        body: b,
                        first: *first,
                    },
                    vars & ((1u32 << first) - 1),
                    heavy,
                )
            }
            Expr::App(p, a) => {
                let mut ids = Vec::with_capacity(a.len());
                let (mut vars, mut heavy) = (
                    0,
                    matches!(
                        p,
                        Prim::Map
                            | Prim::Filter
                            | Prim::Reduce
                            | Prim::Loop
                            | Prim::Loop2
                            | Prim::Nth
                    ),
                );
                for x in a {
                    let (i, v, h) = self.node(x, inner);
                    ids.push(i);
                    vars |= v;
                    heavy |= h;
                }
                let first_arg = self.args.len() as u32;
                self.args.extend(ids);
                (
                    Op::App {
                        prim: *p,
                        first_arg,
                    },
                    vars,
                    heavy,
                )
            }
        };
        self.ops[id as usize] = op;
        let key_var = if vars == 0 {
            0
        } else {
            31 - vars.leading_zeros() as u8
        };
        self.key_var[id as usize] = key_var;
        if matches!(op, Op::App { .. }) && heavy && inner > 0 && (key_var as u32) < inner as u32 {
            self.slot[id as usize] = self.slots as u32;
            self.slots += 1;
        }
        (id, vars, heavy)
    }

    fn arg(&self, first_arg: u32, i: usize) -> u32 {
        self.args[first_arg as usize + i]
    }
}

struct Run<'a> {
    ev: &'a Evaluator,
    code: &'a Code,
    steps: u64,
    /// Lambda-bound ints: `env[k]` is `#k` (`env[0]` is unused).
    env: Vec<Num>,
    /// Per variable: the activation that bound its current value.
    var_epoch: Vec<u64>,
    epoch: u64,
    /// Per cache slot: (activation key, value, steps it took).
    cache: Vec<Option<(u64, Value, u64)>>,
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
            cache: true,
        }
    }

    /// The same evaluator without loop-invariant caching (for tests and benchmarks).
    pub fn without_cache(mut self) -> Evaluator {
        self.cache = false;
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Runs a program: its output list, or why it has none.
    pub fn eval(&self, p: &Program) -> Result<Vec<Num>, EvalError> {
        self.eval_counted(p).map(|(v, _)| v)
    }

    /// Runs a program and also returns the steps it took.
    pub fn eval_counted(&self, p: &Program) -> Result<(Vec<Num>, u64), EvalError> {
        let (code, root) = Code::compile(p);
        let mut run = Run {
            ev: self,
            code: &code,
            steps: 0,
            env: vec![Num::Small(0); MAX_DEPTH],
            var_epoch: vec![0; MAX_DEPTH],
            epoch: 0,
            cache: vec![None; if self.cache { code.slots } else { 0 }],
        };
        match run.list(root) {
            Ok(v) => Ok((v, run.steps)),
            Err(kind) => Err(EvalError {
                kind,
                steps: run.steps,
            }),
        }
    }

    /// Applies an int-valued primitive (`+ - * / % ** min max sqrt`) to evaluated arguments,
    /// with the magnitude bound: exactly what evaluation does at an application, steps aside.
    /// `b` is ignored by `sqrt`. Other evaluators of the DSL (the bottom-up enumerator) call it
    /// so that their results are the evaluator's by construction.
    pub fn apply(&self, p: Prim, a: &Num, b: &Num) -> Result<Num, ErrorKind> {
        let r = match p {
            Prim::Add => Ok(a.add(b)),
            Prim::Sub => Ok(a.sub(b)),
            Prim::Mul => Ok(a.mul(b)),
            Prim::Div => a.div_round(b),
            Prim::Mod => a.mod_floor(b).map_err(|_| ArithError::DivByZero),
            Prim::Pow => a.pow(b, self.max_bits),
            Prim::Min => Ok(a.clone().min(b.clone())),
            Prim::Max => Ok(a.clone().max(b.clone())),
            Prim::Sqrt => a.sqrt(),
            _ => unreachable!("not an int primitive: {p:?}"),
        };
        match r {
            Ok(v) => self.check(v),
            Err(ArithError::DivByZero) if p == Prim::Mod => Err(ErrorKind::ModByZero),
            Err(ArithError::DivByZero) => Err(ErrorKind::DivByZero),
            Err(ArithError::NegativeExponent) => Err(ErrorKind::NegativeExponent),
            Err(ArithError::NegativeSqrt) => Err(ErrorKind::NegativeSqrt),
            Err(ArithError::Overflow) => Err(ErrorKind::Overflow),
        }
    }

    /// The magnitude bound 10^max_abs_exp when it fits a `u64` (below 10^19); `None` when every
    /// `i64` is within it.
    pub fn small_bound(&self) -> Option<u64> {
        self.small_bound
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

/// Whether `p` is one of the int-valued primitives of `Evaluator::apply`.
fn is_arith(p: Prim) -> bool {
    matches!(
        p,
        Prim::Add
            | Prim::Sub
            | Prim::Mul
            | Prim::Div
            | Prim::Mod
            | Prim::Pow
            | Prim::Min
            | Prim::Max
            | Prim::Sqrt
    )
}

/// The number of iterations of `loop` / `loop2` (and of matches `nth` counts) for a count `n`:
/// `n` when positive, else 0. A count past `u64` is as good as infinite: the step budget ends
/// the loop first.
fn iterations(n: &Num) -> u64 {
    match n {
        Num::Small(n) => (*n).max(0) as u64,
        Num::Big(b) if b.sign() == num_bigint::Sign::Plus => u64::MAX,
        Num::Big(_) => 0,
    }
}

/// Variables `#0..#MAX_VAR` plus room for a two-parameter lambda's second parameter.
const MAX_DEPTH: usize = crate::dsl::token::MAX_VAR as usize + 2;

/// Evaluates with the given limits (convenience for tests and the CLI).
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

    /// Evaluates an application node, through its cache slot when it has one.
    fn app_cached(&mut self, id: u32, prim: Prim, first_arg: u32) -> Result<Value, ErrorKind> {
        let slot = self.code.slot[id as usize];
        if slot == NO_SLOT || self.cache.is_empty() {
            return self.app(prim, first_arg);
        }
        let key = self.var_epoch[self.code.key_var[id as usize] as usize];
        if let Some((k, v, steps)) = &self.cache[slot as usize] {
            if *k == key {
                let v = v.clone();
                self.steps += steps;
                if self.steps > self.ev.limits.max_steps {
                    // plain evaluation stops at the first step past the budget
                    self.steps = self.ev.limits.max_steps + 1;
                    return Err(ErrorKind::StepLimit);
                }
                return Ok(v);
            }
        }
        let before = self.steps;
        let v = self.app(prim, first_arg)?;
        self.cache[slot as usize] = Some((key, v.clone(), self.steps - before));
        Ok(v)
    }

    fn int(&mut self, id: u32) -> Result<Num, ErrorKind> {
        match self.code.ops[id as usize] {
            Op::Const(c) => Ok(Num::Small(c)),
            Op::Var(k) => Ok(self.env[k as usize].clone()),
            // the fast path: arithmetic needs no Value and no cache
            Op::App { prim, first_arg }
                if is_arith(prim) && self.code.slot[id as usize] == NO_SLOT =>
            {
                let a = self.int(self.code.arg(first_arg, 0))?;
                if prim == Prim::Sqrt {
                    self.step()?;
                    return self.arith(prim, &a, &a);
                }
                let b = self.int(self.code.arg(first_arg, 1))?;
                self.step()?;
                self.arith(prim, &a, &b)
            }
            Op::App { prim, first_arg } => match self.app_cached(id, prim, first_arg)? {
                Value::Int(n) => Ok(n),
                _ => unreachable!("type-checked"),
            },
            _ => unreachable!("type-checked int"),
        }
    }

    fn list(&mut self, id: u32) -> Result<Vec<Num>, ErrorKind> {
        match self.code.ops[id as usize] {
            Op::Input => Ok(self.ev.input.clone()),
            Op::App { prim, first_arg } => match self.app_cached(id, prim, first_arg)? {
                Value::List(v) => Ok(v),
                _ => unreachable!("type-checked"),
            },
            _ => unreachable!("type-checked list"),
        }
    }

    fn boolean(&mut self, id: u32) -> Result<bool, ErrorKind> {
        match self.code.ops[id as usize] {
            Op::App { prim, first_arg } => match self.app_cached(id, prim, first_arg)? {
                Value::Bool(b) => Ok(b),
                _ => unreachable!("type-checked"),
            },
            _ => unreachable!("type-checked bool"),
        }
    }

    fn app(&mut self, p: Prim, first_arg: u32) -> Result<Value, ErrorKind> {
        let code = self.code;
        let arg = |i: usize| code.arg(first_arg, i);
        match p {
            Prim::Map => {
                let (f, xs) = (arg(0), arg(1));
                let xs = self.list(xs)?;
                self.step()?;
                let mut out = Vec::with_capacity(xs.len());
                for x in xs {
                    out.push(self.call_int(f, x, None)?);
                }
                Ok(Value::List(out))
            }
            Prim::Filter => {
                let (f, xs) = (arg(0), arg(1));
                let xs = self.list(xs)?;
                self.step()?;
                let mut out = Vec::with_capacity(xs.len());
                for x in xs {
                    if self.call_pred(f, x.clone())? {
                        out.push(x);
                    }
                }
                Ok(Value::List(out))
            }
            Prim::Reduce => {
                let (xs, init, f) = (arg(0), arg(1), arg(2));
                let xs = self.list(xs)?;
                let mut acc = self.int(init)?;
                self.step()?;
                for x in xs {
                    acc = self.call_int(f, acc, Some(x))?;
                }
                Ok(Value::Int(acc))
            }
            Prim::Loop => {
                let (f, n, init) = (arg(0), arg(1), arg(2));
                let n = self.int(n)?;
                let mut x = self.int(init)?;
                self.step()?;
                for k in 1..=iterations(&n) {
                    let k = self.ev.check(Num::Small(k.min(i64::MAX as u64) as i64))?;
                    x = self.call_int(f, x, Some(k))?;
                }
                Ok(Value::Int(x))
            }
            Prim::Loop2 => {
                let (f, g, n, i, j) = (arg(0), arg(1), arg(2), arg(3), arg(4));
                let n = self.int(n)?;
                let mut x = self.int(i)?;
                let mut y = self.int(j)?;
                self.step()?;
                for _ in 0..iterations(&n) {
                    let nx = self.call_int(f, x.clone(), Some(y.clone()))?;
                    let ny = self.call_int(g, x, Some(y))?;
                    (x, y) = (nx, ny);
                }
                Ok(Value::Int(x))
            }
            Prim::Nth => {
                let (p, n, start) = (arg(0), arg(1), arg(2));
                let n = self.int(n)?;
                let mut k = self.int(start)?;
                self.step()?;
                let mut left = iterations(&n);
                if left == 0 {
                    return Err(ErrorKind::BadCount);
                }
                loop {
                    if self.call_pred(p, k.clone())? {
                        left -= 1;
                        if left == 0 {
                            return Ok(Value::Int(k));
                        }
                    }
                    k = self.ev.check(k.add(&Num::Small(1)))?;
                }
            }
            Prim::If => {
                // lazy: only the branch taken is evaluated
                let (c, a, b) = (arg(0), arg(1), arg(2));
                let c = self.boolean(c)?;
                self.step()?;
                self.int(if c { a } else { b }).map(Value::Int)
            }
            Prim::And => {
                let (a, b) = (arg(0), arg(1));
                let a = self.boolean(a)?;
                let b = self.boolean(b)?;
                self.step()?;
                Ok(Value::Bool(a && b))
            }
            Prim::Eq | Prim::Ne | Prim::Lt | Prim::Gt => {
                let (a, b) = (arg(0), arg(1));
                let a = self.int(a)?;
                let b = self.int(b)?;
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
                let a = self.int(arg(0))?;
                self.step()?;
                self.arith(p, &a, &a).map(Value::Int)
            }
            _ => {
                let (a, b) = (arg(0), arg(1));
                let a = self.int(a)?;
                let b = self.int(b)?;
                self.step()?;
                self.arith(p, &a, &b).map(Value::Int)
            }
        }
    }

    /// Applies an int-valued primitive to evaluated arguments (the step is already counted);
    /// `b` is ignored by `sqrt`.
    fn arith(&self, p: Prim, a: &Num, b: &Num) -> Result<Num, ErrorKind> {
        self.ev.apply(p, a, b)
    }

    /// Binds `#k` (and `#k+1`) for a lambda call.
    fn bind(&mut self, first: usize, x: Num, y: Option<Num>) {
        self.epoch += 1;
        self.env[first] = x;
        self.var_epoch[first] = self.epoch;
        if let Some(y) = y {
            self.env[first + 1] = y;
            self.var_epoch[first + 1] = self.epoch;
        }
    }

    /// Calls an `int→int` (`y` = None) or `(int,int)→int` function argument.
    fn call_int(&mut self, f: u32, x: Num, y: Option<Num>) -> Result<Num, ErrorKind> {
        self.step()?;
        match self.code.ops[f as usize] {
            Op::Fn(p) => {
                self.step()?;
                match y {
                    Some(y) => self.arith(p, &x, &y),
                    None => self.arith(p, &x, &x),
                }
            }
            Op::Lambda { body, first } => {
                self.bind(first as usize, x, y);
                self.int(body)
            }
            _ => unreachable!("type-checked function argument"),
        }
    }

    /// Calls an `int→bool` lambda.
    fn call_pred(&mut self, f: u32, x: Num) -> Result<bool, ErrorKind> {
        self.step()?;
        let Op::Lambda { body, first } = self.code.ops[f as usize] else {
            unreachable!("type-checked predicate")
        };
        self.bind(first as usize, x, None);
        self.boolean(body)
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
