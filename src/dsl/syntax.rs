//! Syntax: the program tree, the parser (text or tokens → tree) and the canonical printer.
//!
//! Parsing runs every token through the next-token automaton first, so a program that parses is
//! well-typed by construction and every error names the token position, its byte offset and the
//! tokens that were expected there. The tree is then built by a plain recursive descent over the
//! validated tokens.

use super::automaton::{Rejected, State};
use super::lex::{lex, LexError, Spanned};
use super::token::{tokens_to_text, Prim, Token};
use std::fmt;
use thiserror::Error;

/// An expression. Function-typed arguments are `Lambda` or `Fn`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Expr {
    /// A constant 0..9.
    Const(u8),
    /// A variable `#k`; `#0` is the input list, the others are lambda-bound ints.
    Var(u8),
    /// A primitive applied to its arguments.
    App(Prim, Vec<Expr>),
    /// A bare function symbol passed as an argument (`+`, `sqrt`, ...).
    Fn(Prim),
    /// `lambda [ #first .. ] ( body )` with one or two parameters.
    Lambda {
        first: u8,
        params: u8,
        body: Box<Expr>,
    },
}

/// A whole program `lambda [ #0 ] ( body )`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Program {
    pub body: Expr,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error(transparent)]
    Lex(#[from] LexError),
    #[error("token {index} (byte {offset}): {rejected}")]
    Rejected {
        index: usize,
        offset: usize,
        rejected: Rejected,
    },
    #[error("unexpected end of program after {len} tokens: expected one of: {expected}")]
    Incomplete { len: usize, expected: String },
    #[error("token {index} (byte {offset}): calls nested deeper than {max} levels")]
    TooDeep {
        index: usize,
        offset: usize,
        max: usize,
    },
    #[error("program text of {len} bytes is longer than the limit of {max} bytes")]
    TooLong { len: usize, max: usize },
}

/// The deepest nesting of parentheses a program may have. Programs of the DSL's samplers and
/// searches are far shallower (48 tokens); the bound keeps every recursive walk of a tree (the
/// builder, the evaluator, the printers, the Python rendering) well inside its stack.
pub const MAX_NESTING: usize = 100;
/// The longest program text accepted.
pub const MAX_PROGRAM_BYTES: usize = 64 * 1024;

impl Program {
    /// Parses canonical or compact program text.
    pub fn parse(src: &str) -> Result<Program, ParseError> {
        if src.len() > MAX_PROGRAM_BYTES {
            return Err(ParseError::TooLong {
                len: src.len(),
                max: MAX_PROGRAM_BYTES,
            });
        }
        let spanned = lex(src)?;
        Program::from_spanned(&spanned)
    }

    /// Parses a token sequence (offsets reported are token indices).
    pub fn from_tokens(tokens: &[Token]) -> Result<Program, ParseError> {
        let spanned: Vec<Spanned> = tokens
            .iter()
            .enumerate()
            .map(|(i, &token)| Spanned { token, offset: i })
            .collect();
        Program::from_spanned(&spanned)
    }

    fn from_spanned(spanned: &[Spanned]) -> Result<Program, ParseError> {
        let mut state = State::new();
        let mut depth = 0usize;
        for (index, s) in spanned.iter().enumerate() {
            match s.token {
                Token::LParen => depth += 1,
                Token::RParen => depth = depth.saturating_sub(1),
                _ => {}
            }
            if depth > MAX_NESTING {
                return Err(ParseError::TooDeep {
                    index,
                    offset: s.offset,
                    max: MAX_NESTING,
                });
            }
            state
                .push(s.token)
                .map_err(|rejected| ParseError::Rejected {
                    index,
                    offset: s.offset,
                    rejected,
                })?;
        }
        if !state.is_complete() {
            return Err(ParseError::Incomplete {
                len: spanned.len(),
                expected: state.allowed().to_string(),
            });
        }
        let tokens: Vec<Token> = spanned.iter().map(|s| s.token).collect();
        // header: lambda [ #0 ] ( BODY )
        let mut pos = 5;
        let body = build(&tokens, &mut pos);
        debug_assert_eq!(pos + 1, tokens.len());
        Ok(Program { body })
    }

    /// The canonical token sequence.
    pub fn tokens(&self) -> Vec<Token> {
        let mut out = vec![
            Token::Lambda,
            Token::LBracket,
            Token::Var(0),
            Token::RBracket,
            Token::LParen,
        ];
        emit(&self.body, &mut out);
        out.push(Token::RParen);
        out
    }

    /// Number of tokens of the canonical form.
    pub fn len(&self) -> usize {
        6 + expr_len(&self.body)
    }

    /// The smallest dialect that has every primitive of the program.
    pub fn dialect(&self) -> super::token::Dialect {
        use super::token::Dialect;
        match super::types::first_outside(&self.body, Dialect::Paper) {
            None => Dialect::Paper,
            Some(_) => Dialect::Loops,
        }
    }

    /// Never true: a program has at least its header. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&tokens_to_text(&self.tokens()))
    }
}

impl std::str::FromStr for Program {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Program::parse(s)
    }
}

/// Recursive descent over tokens the automaton has accepted.
fn build(t: &[Token], pos: &mut usize) -> Expr {
    let tok = t[*pos];
    *pos += 1;
    match tok {
        Token::Const(c) => Expr::Const(c),
        Token::Var(v) => Expr::Var(v),
        Token::Prim(p) => {
            if t.get(*pos) == Some(&Token::LParen) {
                *pos += 1;
                let args = (0..p.arity()).map(|_| build(t, pos)).collect();
                *pos += 1; // )
                Expr::App(p, args)
            } else {
                Expr::Fn(p)
            }
        }
        Token::Lambda => {
            *pos += 1; // [
            let Token::Var(first) = t[*pos] else {
                unreachable!("validated")
            };
            let mut params = 0;
            while let Token::Var(_) = t[*pos] {
                params += 1;
                *pos += 1;
            }
            *pos += 2; // ] (
            let body = Box::new(build(t, pos));
            *pos += 1; // )
            Expr::Lambda {
                first,
                params,
                body,
            }
        }
        Token::LBracket | Token::RBracket | Token::LParen | Token::RParen => {
            unreachable!("validated token stream")
        }
    }
}

fn emit(e: &Expr, out: &mut Vec<Token>) {
    match e {
        Expr::Const(c) => out.push(Token::Const(*c)),
        Expr::Var(v) => out.push(Token::Var(*v)),
        Expr::Fn(p) => out.push(Token::Prim(*p)),
        Expr::App(p, args) => {
            out.push(Token::Prim(*p));
            out.push(Token::LParen);
            for a in args {
                emit(a, out);
            }
            out.push(Token::RParen);
        }
        Expr::Lambda {
            first,
            params,
            body,
        } => {
            out.push(Token::Lambda);
            out.push(Token::LBracket);
            for k in 0..*params {
                out.push(Token::Var(first + k));
            }
            out.push(Token::RBracket);
            out.push(Token::LParen);
            emit(body, out);
            out.push(Token::RParen);
        }
    }
}

fn expr_len(e: &Expr) -> usize {
    match e {
        Expr::Const(_) | Expr::Var(_) | Expr::Fn(_) => 1,
        Expr::App(_, args) => 3 + args.iter().map(expr_len).sum::<usize>(),
        Expr::Lambda { params, body, .. } => 5 + *params as usize + expr_len(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE1: &str =
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( * ( / ( * ( #1 8 ) 9 ) #1 ) ) #0 ) )";

    #[test]
    fn parse_print_roundtrip() {
        let p = Program::parse(TABLE1).unwrap();
        assert_eq!(p.to_string(), TABLE1);
        assert_eq!(p.len(), p.tokens().len());
        let compact = Program::parse("lambda [#0](map(lambda [#1]( *( / ( *(#1 8) 9) #1)) #0))");
        assert_eq!(compact.unwrap(), p);
    }

    #[test]
    fn bare_function_symbols() {
        let p = Program::parse("lambda [ #0 ] ( map ( sqrt #0 ) )").unwrap();
        assert_eq!(
            p.body,
            Expr::App(Prim::Map, vec![Expr::Fn(Prim::Sqrt), Expr::Var(0)])
        );
        Program::parse("lambda [ #0 ] ( map ( lambda [ #1 ] ( reduce ( #0 #1 max ) ) #0 ) )")
            .unwrap();
    }

    #[test]
    fn unbalanced_is_an_error_not_a_guess() {
        // The paper's Table 1 prints the program without its last `)`.
        let err =
            Program::parse("lambda [#0](map(lambda [#1]( *( / ( *(#1 8) 9) #1)) #0)").unwrap_err();
        assert!(matches!(err, ParseError::Incomplete { .. }), "{err}");
        assert!(err.to_string().contains("expected one of: )"), "{err}");
    }

    #[test]
    fn errors_name_position_and_expectation() {
        let err = Program::parse("lambda [ #0 ] ( map ( lambda [ #1 ] ( #2 ) #0 ) )").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("token 12 (byte 38)"), "{msg}");
        assert!(msg.contains("not in scope"), "{msg}");
        let err = Program::parse("lambda [ #0 ] ( + ( 1 2 ) )").unwrap_err();
        assert!(err.to_string().contains("expected one of: #0 map filter"));
        let err = Program::parse("lambda [ #0 ] ( filter ( < #0 ) )").unwrap_err();
        assert!(err.to_string().contains("expected one of: lambda"), "{err}");
        let err = Program::parse("lambda [ #0 ] ( map ( sqrt 12 ) )").unwrap_err();
        assert!(matches!(err, ParseError::Lex(_)));
        assert!(matches!(
            Program::parse("").unwrap_err(),
            ParseError::Incomplete { len: 0, .. }
        ));
    }
}
