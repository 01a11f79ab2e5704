//! Rendering programs as runnable Python 3 with the same semantics, so that a found program can be
//! checked outside seqsynth (the paper's Table 1 shows programs next to their Python).
//!
//! Every primitive becomes a call of a small helper from the prelude, which applies the exact
//! rules of DESIGN.md (rounding division with ties to even, floor modulo, the magnitude bound)
//! and counts steps exactly as `eval` does, so both give the same terms or the same error kind.

use super::eval::Limits;
use super::syntax::{Expr, Program};
use super::token::Prim;

/// The helper functions every rendering needs, for the given limits.
pub fn prelude(limits: &Limits) -> String {
    format!(
        r#"import math

class DslError(Exception):
    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind

_L = {input_len}
_BOUND = 10 ** {exp}
_MAX_STEPS = {max_steps}
_steps = 0

def _step():
    global _steps
    _steps += 1
    if _steps > _MAX_STEPS:
        raise DslError("step_limit")

def _chk(v):
    if abs(v) > _BOUND:
        raise DslError("overflow")
    return v

def _add(a, b): _step(); return _chk(a + b)
def _sub(a, b): _step(); return _chk(a - b)
def _mul(a, b): _step(); return _chk(a * b)

def _div(a, b):
    """a/b rounded to nearest, ties to even."""
    _step()
    if b == 0:
        raise DslError("div_by_zero")
    q, r = divmod(a, b)
    t = 2 * abs(r)
    if t > abs(b) or (t == abs(b) and q % 2 == 1):
        q += 1
    return _chk(q)

def _mod(a, b):
    """floor modulo: the result has b's sign (Python's own %)."""
    _step()
    if b == 0:
        raise DslError("mod_by_zero")
    return _chk(a % b)

def _pow(a, b):
    _step()
    if b < 0:
        raise DslError("negative_exponent")
    if abs(a) >= 2 and b > _BOUND.bit_length():
        raise DslError("overflow")
    return _chk(a ** b)

def _min(a, b): _step(); return min(a, b)
def _max(a, b): _step(); return max(a, b)

def _sqrt(a):
    _step()
    if a < 0:
        raise DslError("negative_sqrt")
    return math.isqrt(a)

def _eq(a, b): _step(); return a == b
def _ne(a, b): _step(); return a != b
def _lt(a, b): _step(); return a < b
def _gt(a, b): _step(); return a > b
def _and(a, b): _step(); return a and b

def _map(f, xs):
    _step()
    out = []
    for x in xs:
        _step()
        out.append(f(x))
    return out

def _filter(f, xs):
    _step()
    out = []
    for x in xs:
        _step()
        if f(x):
            out.append(x)
    return out

def _reduce(xs, init, f):
    """left fold: f(..f(f(init, x1), x2).., xn)"""
    _step()
    acc = init
    for x in xs:
        _step()
        acc = f(acc, x)
    return acc

def _loop(f, n, x):
    """x_0 = x, x_k = f(x_(k-1), k) for k = 1..n; the result is x_n (x itself when n <= 0)."""
    _step()
    for k in range(1, n + 1):
        _chk(k)
        _step()
        x = f(x, k)
    return x

def _loop2(f, g, n, x, y):
    """(x, y) <- (f(x, y), g(x, y)), n times (none when n <= 0); the result is x."""
    _step()
    for _ in range(max(n, 0)):
        _step()
        nx = f(x, y)
        _step()
        ny = g(x, y)
        x, y = nx, ny
    return x

def _nth(p, n, k):
    """the n-th integer j >= k (n = 1: the first) with p(j)."""
    _step()
    if n < 1:
        raise DslError("bad_count")
    while True:
        _step()
        if p(k):
            n -= 1
            if n == 0:
                return k
        k = _chk(k + 1)

def _if(c, a, b):
    """lazy: only the branch taken is evaluated (a and b are thunks)."""
    _step()
    return a() if c else b()

def run(program, L=_L):
    """The program's output on #0 = [1..L], or raises DslError."""
    global _steps
    _steps = 0
    return program(list(range(1, L + 1)))
"#,
        input_len = limits.input_len,
        exp = limits.max_abs_exp,
        max_steps = limits.max_steps,
    )
}

/// The program as one Python lambda expression (`lambda x0: _map(...)`).
pub fn expression(p: &Program) -> String {
    let mut s = String::from("lambda x0: ");
    expr(&p.body, &mut s);
    s
}

/// A complete script that prints the program's terms, comma-separated, or `error: KIND`.
pub fn script(p: &Program, limits: &Limits) -> String {
    format!(
        "{}\n# {}\nprogram = {}\n\nif __name__ == \"__main__\":\n    try:\n        print(\",\".join(map(str, run(program))))\n    except DslError as e:\n        print(\"error:\", e.kind)\n",
        prelude(limits),
        p,
        expression(p)
    )
}

/// A script that runs every program in order and prints one line each: its terms, or
/// `error: KIND`. With `timed`, it prints only the seconds the loop took.
pub fn batch_script(programs: &[Program], limits: &Limits, timed: bool) -> String {
    let mut s = prelude(limits);
    s.push_str("\nimport time\nprograms = [\n");
    for p in programs {
        s.push_str(&format!("    {},\n", expression(p)));
    }
    s.push_str("]\nt = time.perf_counter()\nlines = []\nfor p in programs:\n    try:\n        lines.append(','.join(map(str, run(p))))\n    except DslError as e:\n        lines.append('error: ' + e.kind)\n");
    if timed {
        s.push_str("print(time.perf_counter() - t)\n");
    } else {
        s.push_str("print('\\n'.join(lines))\n");
    }
    s
}

/// Runs `script` with `python3` (fed on stdin) and returns its stdout; fails if python3 is
/// missing or the script exits non-zero.
pub fn run_python3(script: &str) -> std::io::Result<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("python3")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "python3 exited with {}",
            out.status
        )));
    }
    String::from_utf8(out.stdout).map_err(std::io::Error::other)
}

fn helper(p: Prim) -> &'static str {
    match p {
        Prim::Add => "_add",
        Prim::Sub => "_sub",
        Prim::Mul => "_mul",
        Prim::Div => "_div",
        Prim::Mod => "_mod",
        Prim::Pow => "_pow",
        Prim::Min => "_min",
        Prim::Max => "_max",
        Prim::Sqrt => "_sqrt",
        Prim::Eq => "_eq",
        Prim::Ne => "_ne",
        Prim::Lt => "_lt",
        Prim::Gt => "_gt",
        Prim::And => "_and",
        Prim::Map => "_map",
        Prim::Filter => "_filter",
        Prim::Reduce => "_reduce",
        Prim::Loop => "_loop",
        Prim::Loop2 => "_loop2",
        Prim::Nth => "_nth",
        Prim::If => "_if",
    }
}

fn expr(e: &Expr, out: &mut String) {
    use std::fmt::Write;
    match e {
        Expr::Const(c) => {
            let _ = write!(out, "{c}");
        }
        Expr::Var(v) => {
            let _ = write!(out, "x{v}");
        }
        Expr::Fn(p) => out.push_str(helper(*p)),
        Expr::App(p, args) => {
            out.push_str(helper(*p));
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                // the branches of `if` are thunks: only the one taken is evaluated
                let thunk = *p == Prim::If && i > 0;
                if thunk {
                    out.push_str("(lambda: ");
                }
                expr(a, out);
                if thunk {
                    out.push(')');
                }
            }
            out.push(')');
        }
        Expr::Lambda {
            first,
            params,
            body,
        } => {
            out.push_str("(lambda ");
            for k in 0..*params {
                if k > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "x{}", first + k);
            }
            out.push_str(": ");
            expr(body, out);
            out.push(')');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table1_expression() {
        let p = Program::parse("lambda [#0](map(lambda [#1]( *( / ( *(#1 8) 9) #1)) #0))").unwrap();
        assert_eq!(
            expression(&p),
            "lambda x0: _map((lambda x1: _mul(_div(_mul(x1, 8), 9), x1)), x0)"
        );
        let p = Program::parse("lambda [ #0 ] ( map ( lambda [ #1 ] ( reduce ( #0 #1 + ) ) #0 ) )")
            .unwrap();
        assert_eq!(
            expression(&p),
            "lambda x0: _map((lambda x1: _reduce(x0, x1, _add)), x0)"
        );
    }
}
