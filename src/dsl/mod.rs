//! The seqsynth DSL: a small typed LISP whose programs map the input list `#0 = [1..L]` to an
//! integer sequence (DESIGN.md section 2, normative; decisions in docs/dsl.md).
//!
//! The chain, one module per link:
//! - [`token`]: the closed vocabulary (`lambda [ ] ( )`, `0`..`9`, `#0`..`#15`, the primitives);
//! - [`lex`]: text → tokens (canonical spaced form and the paper's compact form);
//! - [`automaton`]: the next-token automaton, i.e. grammar and types as a pushdown machine;
//! - [`syntax`]: the tree, the parser (validated by the automaton) and the canonical printer;
//! - [`types`]: the same typing rules stated over trees;
//! - [`num`] and [`eval`]: exact evaluation with a step budget and a magnitude bound;
//! - [`sample`]: random programs drawn through the automaton;
//! - [`python`]: Python 3 renderings with identical semantics.
//!
//! This module knows nothing of the pipeline.
//!
//! ```
//! use seqsynth::dsl::{eval, Limits, Program};
//! let p: Program = "lambda [#0](map(lambda [#1]( *( / ( *(#1 8) 9) #1)) #0))".parse().unwrap();
//! let terms = eval(&p, &Limits::default()).unwrap();
//! assert_eq!(terms[4].to_string(), "20");
//! ```

pub mod automaton;
pub mod eval;
pub mod lex;
pub mod num;
pub mod python;
pub mod sample;
pub mod syntax;
pub mod token;
pub mod types;

pub use automaton::{State, TokenSet};
pub use eval::{eval, ErrorKind, EvalError, Evaluator, Limits};
pub use num::Num;
pub use syntax::{Expr, ParseError, Program};
pub use token::{Dialect, Prim, Token};

/// The version of the evaluation semantics (what a program's output is). Bump it with any change
/// of the evaluator, the parser or the typing rules that can change an output or an error: it is
/// part of the DSL limits key, so every stage that evaluates programs reruns.
pub const SEMANTICS_VERSION: u32 = 1;

/// Formats terms comma-separated, the way OEIS and the CLI print them.
pub fn format_terms(terms: &[Num]) -> String {
    let mut s = String::new();
    for (i, t) in terms.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        use std::fmt::Write;
        let _ = write!(s, "{t}");
    }
    s
}
