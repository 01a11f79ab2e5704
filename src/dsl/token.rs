//! The DSL's tokens: the closed vocabulary shared by the lexer, the printer, the next-token
//! automaton, the sampler and (through `model::tokenizer`) the policy's program vocabulary.
//!
//! The vocabulary is finite on purpose: variables are `#0`..`#MAX_VAR`, constants are the single
//! digits `0`..`9`. A finite vocabulary is what lets the automaton return "the set of tokens that
//! may come next" and what a seq2seq model can emit.

use std::fmt;

/// Highest variable index that has a token. A lambda binding `#n` is only offered (by the
/// automaton) or accepted (by the checker) while `n` stays within this bound.
pub const MAX_VAR: u8 = 15;

/// A primitive symbol of the DSL (DESIGN.md section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Prim {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Min,
    Max,
    Sqrt,
    Eq,
    Ne,
    Lt,
    Gt,
    And,
    Map,
    Filter,
    Reduce,
    // The loops dialect (docs/dsl.md); appended so that the paper dialect's token indices stay.
    Loop,
    Loop2,
    Nth,
    If,
}

impl Prim {
    /// Every primitive, in vocabulary order.
    pub const ALL: [Prim; 21] = [
        Prim::Add,
        Prim::Sub,
        Prim::Mul,
        Prim::Div,
        Prim::Mod,
        Prim::Pow,
        Prim::Min,
        Prim::Max,
        Prim::Sqrt,
        Prim::Eq,
        Prim::Ne,
        Prim::Lt,
        Prim::Gt,
        Prim::And,
        Prim::Map,
        Prim::Filter,
        Prim::Reduce,
        Prim::Loop,
        Prim::Loop2,
        Prim::Nth,
        Prim::If,
    ];

    /// The primitives of the loops dialect only (docs/dsl.md, "The loops dialect").
    pub const LOOPS: [Prim; 4] = [Prim::Loop, Prim::Loop2, Prim::Nth, Prim::If];

    /// The `(int,int)→int` primitives: usable applied to two ints, or bare where a
    /// `(int,int)→int` function is expected.
    pub const INT2: [Prim; 8] = [
        Prim::Add,
        Prim::Sub,
        Prim::Mul,
        Prim::Div,
        Prim::Mod,
        Prim::Pow,
        Prim::Min,
        Prim::Max,
    ];

    /// The `(int,int)→bool` comparisons.
    pub const CMP: [Prim; 4] = [Prim::Eq, Prim::Ne, Prim::Lt, Prim::Gt];

    /// The canonical spelling.
    pub fn symbol(self) -> &'static str {
        match self {
            Prim::Add => "+",
            Prim::Sub => "-",
            Prim::Mul => "*",
            Prim::Div => "/",
            Prim::Mod => "%",
            Prim::Pow => "**",
            Prim::Min => "min",
            Prim::Max => "max",
            Prim::Sqrt => "sqrt",
            Prim::Eq => "==",
            Prim::Ne => "!=",
            Prim::Lt => "<",
            Prim::Gt => ">",
            Prim::And => "&",
            Prim::Map => "map",
            Prim::Filter => "filter",
            Prim::Reduce => "reduce",
            Prim::Loop => "loop",
            Prim::Loop2 => "loop2",
            Prim::Nth => "nth",
            Prim::If => "if",
        }
    }

    /// Parses a canonical spelling.
    pub fn from_symbol(s: &str) -> Option<Prim> {
        Prim::ALL.iter().copied().find(|p| p.symbol() == s)
    }

    /// Number of arguments when applied.
    pub fn arity(self) -> usize {
        match self {
            Prim::Sqrt => 1,
            Prim::Reduce | Prim::Loop | Prim::Nth | Prim::If => 3,
            Prim::Loop2 => 5,
            _ => 2,
        }
    }
}

/// Which language a run speaks: the paper's DSL (DESIGN.md section 2) or the paper's DSL plus
/// the loops primitives (`loop`, `loop2`, `nth`, `if`; docs/dsl.md). Every paper program is a
/// loops program with the same meaning, so the evaluator and the parser accept both; the
/// dialect decides what the samplers, searches and enumerator may produce, and the vocabulary.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    Paper,
    #[default]
    Loops,
}

impl Dialect {
    pub const ALL: [Dialect; 2] = [Dialect::Paper, Dialect::Loops];

    /// The setting's spelling (`dsl.dialect`).
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Paper => "paper",
            Dialect::Loops => "loops",
        }
    }

    pub fn from_name(s: &str) -> Option<Dialect> {
        Dialect::ALL.into_iter().find(|d| d.name() == s)
    }

    /// Number of tokens of the dialect (a prefix of the vocabulary order).
    pub const fn token_count(self) -> usize {
        match self {
            Dialect::Paper => Token::COUNT - Prim::LOOPS.len(),
            Dialect::Loops => Token::COUNT,
        }
    }

    /// Whether the primitive belongs to the dialect.
    pub fn has(self, p: Prim) -> bool {
        self == Dialect::Loops || !Prim::LOOPS.contains(&p)
    }
}

/// One token of a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Token {
    Lambda,
    LBracket,
    RBracket,
    LParen,
    RParen,
    /// A constant `0`..`9`.
    Const(u8),
    /// A variable `#k`, `k <= MAX_VAR`.
    Var(u8),
    Prim(Prim),
}

impl Token {
    /// Number of distinct tokens.
    pub const COUNT: usize = 5 + 10 + (MAX_VAR as usize + 1) + Prim::ALL.len();

    /// The whole vocabulary in a fixed order (the order of `index`): both dialects.
    pub fn vocabulary() -> Vec<Token> {
        (0..Token::COUNT).map(Token::from_index).collect()
    }

    /// The tokens of one dialect, in index order: the paper dialect's are the first
    /// [`Dialect::Paper`]`.token_count()` of the whole vocabulary.
    pub fn dialect_vocabulary(d: Dialect) -> Vec<Token> {
        (0..d.token_count()).map(Token::from_index).collect()
    }

    /// Whether the token belongs to the dialect.
    pub fn in_dialect(self, d: Dialect) -> bool {
        self.index() < d.token_count()
    }

    /// A dense index in `0..Token::COUNT`, stable across versions of the vocabulary order above.
    pub fn index(self) -> usize {
        match self {
            Token::Lambda => 0,
            Token::LBracket => 1,
            Token::RBracket => 2,
            Token::LParen => 3,
            Token::RParen => 4,
            Token::Const(c) => 5 + c as usize,
            Token::Var(v) => 15 + v as usize,
            Token::Prim(p) => 16 + MAX_VAR as usize + p as usize,
        }
    }

    /// Inverse of `index`. Panics on an index out of range (a programming error).
    pub fn from_index(i: usize) -> Token {
        let vars_end = 16 + MAX_VAR as usize;
        match i {
            0 => Token::Lambda,
            1 => Token::LBracket,
            2 => Token::RBracket,
            3 => Token::LParen,
            4 => Token::RParen,
            5..=14 => Token::Const((i - 5) as u8),
            _ if i < vars_end => Token::Var((i - 15) as u8),
            _ => Token::Prim(Prim::ALL[i - vars_end]),
        }
    }

    /// Parses one canonical token text (as printed by `Display`).
    pub fn from_text(s: &str) -> Option<Token> {
        match s {
            "lambda" => Some(Token::Lambda),
            "[" => Some(Token::LBracket),
            "]" => Some(Token::RBracket),
            "(" => Some(Token::LParen),
            ")" => Some(Token::RParen),
            _ => {
                if let Some(rest) = s.strip_prefix('#') {
                    let v: u8 = rest.parse().ok()?;
                    if v <= MAX_VAR && rest == v.to_string() {
                        return Some(Token::Var(v));
                    }
                    return None;
                }
                if s.len() == 1 && s.as_bytes()[0].is_ascii_digit() {
                    return Some(Token::Const(s.as_bytes()[0] - b'0'));
                }
                Prim::from_symbol(s).map(Token::Prim)
            }
        }
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Lambda => f.write_str("lambda"),
            Token::LBracket => f.write_str("["),
            Token::RBracket => f.write_str("]"),
            Token::LParen => f.write_str("("),
            Token::RParen => f.write_str(")"),
            Token::Const(c) => write!(f, "{c}"),
            Token::Var(v) => write!(f, "#{v}"),
            Token::Prim(p) => f.write_str(p.symbol()),
        }
    }
}

/// Renders tokens in the canonical form: one space between tokens.
pub fn tokens_to_text(tokens: &[Token]) -> String {
    let mut s = String::with_capacity(tokens.len() * 3);
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        use std::fmt::Write;
        let _ = write!(s, "{t}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_roundtrip_covers_vocabulary() {
        let vocab = Token::vocabulary();
        assert_eq!(vocab.len(), Token::COUNT);
        for (i, t) in vocab.iter().enumerate() {
            assert_eq!(t.index(), i);
            assert_eq!(Token::from_text(&t.to_string()), Some(*t));
        }
    }

    #[test]
    fn the_paper_vocabulary_is_a_prefix() {
        let paper = Token::dialect_vocabulary(Dialect::Paper);
        assert_eq!(paper.len(), 48);
        assert!(paper.iter().all(|t| match t {
            Token::Prim(p) => !Prim::LOOPS.contains(p),
            _ => true,
        }));
        assert_eq!(
            Token::dialect_vocabulary(Dialect::Loops),
            Token::vocabulary()
        );
        assert_eq!(Token::from_text("loop2"), Some(Token::Prim(Prim::Loop2)));
        assert!(!Token::Prim(Prim::Nth).in_dialect(Dialect::Paper));
    }

    #[test]
    fn rejects_non_tokens() {
        for s in ["10", "#16", "#01", "foo", "", "#"] {
            assert_eq!(Token::from_text(s), None, "{s}");
        }
    }
}
