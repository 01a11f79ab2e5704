//! Lexer: program text to tokens, accepting both the canonical spaced form and the paper's
//! compact form where tokens touch (`lambda [#0](map(lambda [#1]( *( / ( *(#1 8) 9) #1)) #0))`).
//!
//! Decisions (docs/dsl.md): constants are single digits, so a run of digits such as `12` is an
//! error rather than two constants, since no printer ever produces it and guessing would hide
//! typos. `**` is read greedily (`**` is power, `* *` two multiplications).

use super::token::{Prim, Token, MAX_VAR};
use thiserror::Error;

/// A token with the byte offset where it starts in the source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spanned {
    pub token: Token,
    pub offset: usize,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum LexError {
    #[error("unexpected character {ch:?} at byte {offset}")]
    BadChar { ch: char, offset: usize },
    #[error("unknown word {} at byte {offset}", quoted(word))]
    UnknownWord { word: String, offset: usize },
    #[error(
        "number {} at byte {offset}: constants are single digits 0..9",
        quoted(text)
    )]
    BadNumber { text: String, offset: usize },
    #[error("variable {} at byte {offset}: expected #0..#{MAX_VAR}", quoted(text))]
    BadVar { text: String, offset: usize },
}

/// A word of the program quoted for an error, cut to 40 characters (a 64 KB word is not echoed).
fn quoted(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head:?}... ({} bytes)", s.len())
    }
}

/// Splits `src` into tokens.
pub fn lex(src: &str) -> Result<Vec<Spanned>, LexError> {
    let bytes = src.as_bytes();
    let mut out = Vec::with_capacity(src.len() / 2);
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let token = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'[' => one(&mut i, Token::LBracket),
            b']' => one(&mut i, Token::RBracket),
            b'(' => one(&mut i, Token::LParen),
            b')' => one(&mut i, Token::RParen),
            b'+' => one(&mut i, Token::Prim(Prim::Add)),
            b'-' => one(&mut i, Token::Prim(Prim::Sub)),
            b'/' => one(&mut i, Token::Prim(Prim::Div)),
            b'%' => one(&mut i, Token::Prim(Prim::Mod)),
            b'<' => one(&mut i, Token::Prim(Prim::Lt)),
            b'>' => one(&mut i, Token::Prim(Prim::Gt)),
            b'&' => one(&mut i, Token::Prim(Prim::And)),
            b'*' => {
                if bytes.get(i + 1) == Some(&b'*') {
                    i += 2;
                    Token::Prim(Prim::Pow)
                } else {
                    one(&mut i, Token::Prim(Prim::Mul))
                }
            }
            b'=' | b'!' if bytes.get(i + 1) == Some(&b'=') => {
                i += 2;
                Token::Prim(if c == b'=' { Prim::Eq } else { Prim::Ne })
            }
            b'#' => {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let text = &src[start..i];
                match Token::from_text(text) {
                    Some(t) => t,
                    None => {
                        return Err(LexError::BadVar {
                            text: text.to_string(),
                            offset: start,
                        })
                    }
                }
            }
            b'0'..=b'9' => {
                while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                    i += 1;
                }
                if i - start != 1 {
                    return Err(LexError::BadNumber {
                        text: src[start..i].to_string(),
                        offset: start,
                    });
                }
                Token::Const(c - b'0')
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                let word = &src[start..i];
                match word {
                    "lambda" => Token::Lambda,
                    _ => match Prim::from_symbol(word) {
                        Some(p) => Token::Prim(p),
                        None => {
                            return Err(LexError::UnknownWord {
                                word: word.to_string(),
                                offset: start,
                            })
                        }
                    },
                }
            }
            _ => return Err(bad_char(src, start)),
        };
        out.push(Spanned {
            token,
            offset: start,
        });
    }
    Ok(out)
}

fn one(i: &mut usize, t: Token) -> Token {
    *i += 1;
    t
}

fn bad_char(src: &str, offset: usize) -> LexError {
    LexError::BadChar {
        ch: src[offset..].chars().next().unwrap_or('?'),
        offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::token::tokens_to_text;

    fn text(src: &str) -> String {
        let toks: Vec<Token> = lex(src).unwrap().into_iter().map(|s| s.token).collect();
        tokens_to_text(&toks)
    }

    #[test]
    fn a_long_word_is_not_echoed_whole() {
        let word = "x".repeat(60_000);
        let e = lex(&format!("lambda [ #0 ] ( {word} )"))
            .unwrap_err()
            .to_string();
        assert!(e.len() < 120 && e.contains("(60000 bytes)"), "{e}");
        let e = lex("12345").unwrap_err().to_string();
        assert!(e.contains("\"12345\""), "{e}");
    }

    #[test]
    fn compact_and_canonical_agree() {
        let compact = "lambda [#0](map(lambda [#1]( *( / ( *(#1 8) 9) #1)) #0))";
        let canonical =
            "lambda [ #0 ] ( map ( lambda [ #1 ] ( * ( / ( * ( #1 8 ) 9 ) #1 ) ) #0 ) )";
        assert_eq!(text(compact), canonical);
        assert_eq!(text(canonical), canonical);
    }

    #[test]
    fn operators() {
        assert_eq!(text("**(2 3)"), "** ( 2 3 )");
        assert_eq!(text("* *"), "* *");
        assert_eq!(text("==(!=<>&)"), "== ( != < > & )");
        assert_eq!(
            text("min max sqrt filter reduce"),
            "min max sqrt filter reduce"
        );
    }

    #[test]
    fn errors_carry_offsets() {
        assert_eq!(
            lex("( 12 )"),
            Err(LexError::BadNumber {
                text: "12".into(),
                offset: 2
            })
        );
        assert_eq!(
            lex("#99"),
            Err(LexError::BadVar {
                text: "#99".into(),
                offset: 0
            })
        );
        assert_eq!(
            lex("foo"),
            Err(LexError::UnknownWord {
                word: "foo".into(),
                offset: 0
            })
        );
        assert_eq!(
            lex("a = b").unwrap_err(),
            LexError::UnknownWord {
                word: "a".into(),
                offset: 0
            }
        );
        assert_eq!(lex("$"), Err(LexError::BadChar { ch: '$', offset: 0 }));
        assert_eq!(lex(" ="), Err(LexError::BadChar { ch: '=', offset: 1 }));
    }
}
