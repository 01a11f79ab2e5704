//! The next-token automaton: which tokens may follow a prefix in a well-typed program.
//!
//! This is the DSL's grammar and type system in one pushdown machine. The parser validates
//! through it, the sampler draws from it, and the grammar-constrained beam search masks logits
//! with it, so the three can never disagree about what a program is.
//!
//! The state is a stack of pending items: literal tokens that must come next, and typed holes
//! (`Hole(slot, depth)`: "an expression of this type, with `#0..#(depth-1)` in scope"). A token
//! fills the hole on top of the stack and pushes the holes of its arguments. Every hole can be
//! completed (an int by a constant, a list by `#0`, ...), and a token is offered only when what it
//! pushes can be completed within the variable vocabulary, so the automaton never offers a
//! token that leads to a dead end. The shortest completion is the sum of the per-item minimum
//! lengths, kept incrementally.

use super::token::{Dialect, Prim, Token, MAX_VAR};
use std::fmt;

/// What a hole must be filled with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    Int,
    Bool,
    List,
    /// `int→int`: a one-parameter lambda with an int body, or `sqrt`.
    Fn1,
    /// `int→bool`: a one-parameter lambda with a bool body.
    Pred,
    /// `(int,int)→int`: a two-parameter lambda with an int body, or a bare arithmetic symbol.
    Fn2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    Tok(Token),
    Hole(Slot, u8),
}

/// Tokens as a bit set over `Token::index` (the vocabulary has fewer than 64 tokens).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TokenSet(pub u64);

const _: () = assert!(Token::COUNT <= 64);

impl TokenSet {
    pub fn contains(self, t: Token) -> bool {
        self.0 >> t.index() & 1 == 1
    }
    pub fn insert(&mut self, t: Token) {
        self.0 |= 1 << t.index();
    }
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// The members in vocabulary order.
    pub fn iter(self) -> impl Iterator<Item = Token> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some(Token::from_index(i))
        })
    }
    /// The `n`-th member in vocabulary order.
    pub fn nth(self, n: usize) -> Option<Token> {
        let mut bits = self.0;
        for _ in 0..n {
            if bits == 0 {
                return None;
            }
            bits &= bits - 1;
        }
        (bits != 0).then(|| Token::from_index(bits.trailing_zeros() as usize))
    }
}

impl fmt::Display for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.iter().map(|t| t.to_string()).collect();
        f.write_str(&names.join(" "))
    }
}

/// Minimum number of tokens that complete an item.
fn item_cost(item: Item) -> usize {
    match item {
        Item::Tok(_) => 1,
        Item::Hole(Slot::Bool, _) => 5,  // == ( 0 0 )
        Item::Hole(Slot::Pred, _) => 11, // lambda [ #d ] ( == ( 0 0 ) )
        Item::Hole(_, _) => 1,
    }
}

/// The parse state after a prefix of a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    /// Pending items; the top (next to fill) is the last element.
    stack: Vec<Item>,
    /// Tokens consumed so far.
    len: usize,
    /// Sum of `item_cost` over `stack`.
    remaining: usize,
    /// The language whose programs this state accepts.
    dialect: Dialect,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    /// The state before the first token of a whole program `lambda [ #0 ] ( LIST )`, in the
    /// loops dialect, which contains the paper's: what the parser accepts.
    pub fn new() -> State {
        State::for_dialect(Dialect::Loops)
    }

    /// The state before the first token of a whole program of the given dialect: what a sampler
    /// or a search of that dialect walks.
    pub fn for_dialect(dialect: Dialect) -> State {
        let items = [
            Item::Tok(Token::Lambda),
            Item::Tok(Token::LBracket),
            Item::Tok(Token::Var(0)),
            Item::Tok(Token::RBracket),
            Item::Tok(Token::LParen),
            Item::Hole(Slot::List, 1),
            Item::Tok(Token::RParen),
        ];
        let stack: Vec<Item> = items.iter().rev().copied().collect();
        let remaining = stack.iter().map(|&i| item_cost(i)).sum();
        State {
            stack,
            len: 0,
            remaining,
            dialect,
        }
    }

    /// The dialect of the programs this state accepts.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The state after the fixed header `lambda [ #0 ] (`, where every program body starts.
    pub fn after_header() -> State {
        State::after_header_in(Dialect::Loops)
    }

    /// [`State::after_header`] in the given dialect.
    pub fn after_header_in(dialect: Dialect) -> State {
        let mut s = State::for_dialect(dialect);
        for t in HEADER {
            s.push(t).expect("header is valid");
        }
        s
    }

    /// Tokens consumed so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before any token.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when the prefix is a whole program.
    pub fn is_complete(&self) -> bool {
        self.stack.is_empty()
    }

    /// Length of the shortest sequence of tokens that completes the prefix.
    pub fn min_completion(&self) -> usize {
        self.remaining
    }

    /// The tokens that may come next. Empty exactly when the prefix is complete.
    pub fn allowed(&self) -> TokenSet {
        let mut set = TokenSet::default();
        let Some(&top) = self.stack.last() else {
            return set;
        };
        match top {
            Item::Tok(t) => set.insert(t),
            Item::Hole(slot, d) => set = tables(self.dialect).allowed[slot_index(slot)][d as usize],
        }
        set
    }

    /// The tokens allowed next after which the program can still close within `max_len` tokens
    /// in all (the length-feasibility rule of the beam search and of `seqsynth dsl next`).
    pub fn allowed_within(&self, max_len: usize) -> TokenSet {
        let mut set = TokenSet::default();
        for t in self.allowed().iter() {
            if self
                .completion_after(t)
                .is_some_and(|c| self.len() + 1 + c <= max_len)
            {
                set.insert(t);
            }
        }
        set
    }

    /// The tokens allowed next that keep the shortest completion as short as possible: the
    /// sampler's choices once its length limit is reached ("close the program fastest").
    pub fn fastest(&self) -> TokenSet {
        let allowed = self.allowed();
        let mut best = usize::MAX;
        let mut set = TokenSet::default();
        for t in allowed.iter() {
            let c = self.completion_after(t).expect("allowed token");
            if c < best {
                best = c;
                set = TokenSet::default();
            }
            if c == best {
                set.insert(t);
            }
        }
        set
    }

    /// The shortest completion after appending `t`, or `None` if `t` is not allowed.
    pub fn completion_after(&self, t: Token) -> Option<usize> {
        let &top = self.stack.last()?;
        match top {
            Item::Tok(x) => (x == t).then(|| self.remaining - 1),
            Item::Hole(slot, d) => {
                let (si, d) = (slot_index(slot), d as usize);
                let tables = tables(self.dialect);
                if !tables.allowed[si][d].contains(t) {
                    return None;
                }
                Some((self.remaining as isize + tables.delta[si][d][t.index()] as isize) as usize)
            }
        }
    }

    /// Appends a token. On error the state is unchanged and the error says what was allowed.
    pub fn push(&mut self, t: Token) -> Result<(), Rejected> {
        let top = match self.stack.last() {
            Some(&top) => top,
            None => {
                return Err(Rejected {
                    got: t,
                    expected: TokenSet::default(),
                    hint: Some("the program is already complete"),
                })
            }
        };
        match top {
            Item::Tok(x) if x == t => {
                self.stack.pop();
                self.remaining -= 1;
            }
            Item::Hole(slot, d) => match expansion(slot, d, t, self.dialect) {
                Some(items) => {
                    self.stack.pop();
                    self.remaining -= item_cost(top);
                    for &i in items.items().iter().rev() {
                        self.stack.push(i);
                        self.remaining += item_cost(i);
                    }
                }
                None => {
                    return Err(Rejected {
                        got: t,
                        expected: self.allowed(),
                        hint: hint(slot, d, t, self.dialect),
                    })
                }
            },
            Item::Tok(_) => {
                return Err(Rejected {
                    got: t,
                    expected: self.allowed(),
                    hint: None,
                })
            }
        }
        self.len += 1;
        Ok(())
    }
}

/// The fixed first five tokens of every program.
pub const HEADER: [Token; 5] = [
    Token::Lambda,
    Token::LBracket,
    Token::Var(0),
    Token::RBracket,
    Token::LParen,
];

/// A token the automaton does not accept, with what it would have accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    pub got: Token,
    pub expected: TokenSet,
    pub hint: Option<&'static str>,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.expected.is_empty() {
            write!(f, "unexpected {} after the end of the program", self.got)?;
        } else {
            write!(
                f,
                "unexpected {}, expected one of: {}",
                self.got, self.expected
            )?;
        }
        if let Some(h) = self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

fn hint(slot: Slot, d: u8, t: Token, dialect: Dialect) -> Option<&'static str> {
    match (slot, t) {
        (_, Token::Prim(p)) if !dialect.has(p) => {
            Some("a primitive of the loops dialect, not of this one (dsl.dialect)")
        }
        (Slot::Int, Token::Var(0)) => Some("#0 is the input list, not an int"),
        (Slot::Int, Token::Var(k)) if k >= d => Some("variable not in scope"),
        (Slot::List, Token::Var(_)) => Some("only #0 is a list"),
        (Slot::Fn1 | Slot::Pred | Slot::Fn2, Token::Var(_)) => {
            Some("a function argument must be a lambda or a function symbol")
        }
        (Slot::Fn1 | Slot::Pred | Slot::Fn2, Token::Lambda) => {
            Some("too many nested lambdas for the variable vocabulary")
        }
        _ => None,
    }
}

/// The items a token expands a hole into: at most 7 (`[ #d #d+1 ] ( BODY )`), kept inline so
/// that the automaton's hot path never allocates.
#[derive(Clone, Copy)]
struct Expansion {
    items: [Item; 7],
    len: u8,
}

impl Expansion {
    fn new(items: &[Item]) -> Expansion {
        let mut e = Expansion {
            items: [Item::Tok(Token::LParen); 7],
            len: items.len() as u8,
        };
        e.items[..items.len()].copy_from_slice(items);
        e
    }
    fn items(&self) -> &[Item] {
        &self.items[..self.len as usize]
    }
    fn cost(&self) -> usize {
        self.items().iter().map(|&i| item_cost(i)).sum()
    }
}

/// Items that replace the hole `slot` at depth `d` when `t` fills it, or `None` if `t` cannot.
/// Returned in source order (the first item is filled next).
fn expansion(slot: Slot, d: u8, t: Token, dialect: Dialect) -> Option<Expansion> {
    use Item::{Hole, Tok};
    if let Token::Prim(p) = t {
        if !dialect.has(p) {
            return None;
        }
    }
    let (lp, rp) = (Tok(Token::LParen), Tok(Token::RParen));
    let lambda_items = |params: u8, body: Slot| -> Option<Expansion> {
        // the last bound variable must have a token
        if d as usize + params as usize - 1 > MAX_VAR as usize {
            return None;
        }
        let mut v = [Tok(Token::LBracket); 7];
        let mut n = 1;
        for k in 0..params {
            v[n] = Tok(Token::Var(d + k));
            n += 1;
        }
        for i in [Tok(Token::RBracket), lp, Hole(body, d + params), rp] {
            v[n] = i;
            n += 1;
        }
        Some(Expansion::new(&v[..n]))
    };
    let e = Expansion::new;
    match (slot, t) {
        (Slot::Int, Token::Const(_)) => Some(e(&[])),
        (Slot::Int, Token::Var(k)) if k >= 1 && k < d => Some(e(&[])),
        (Slot::Int, Token::Prim(Prim::Sqrt)) => Some(e(&[lp, Hole(Slot::Int, d), rp])),
        (Slot::Int, Token::Prim(Prim::Reduce)) => Some(e(&[
            lp,
            Hole(Slot::List, d),
            Hole(Slot::Int, d),
            Hole(Slot::Fn2, d),
            rp,
        ])),
        (Slot::Int, Token::Prim(Prim::Loop)) => Some(e(&[
            lp,
            Hole(Slot::Fn2, d),
            Hole(Slot::Int, d),
            Hole(Slot::Int, d),
            rp,
        ])),
        (Slot::Int, Token::Prim(Prim::Loop2)) => Some(e(&[
            lp,
            Hole(Slot::Fn2, d),
            Hole(Slot::Fn2, d),
            Hole(Slot::Int, d),
            Hole(Slot::Int, d),
            Hole(Slot::Int, d),
            rp,
        ])),
        // nth needs a lambda for its predicate: offer it only if that lambda fits
        (Slot::Int, Token::Prim(Prim::Nth)) if d <= MAX_VAR => Some(e(&[
            lp,
            Hole(Slot::Pred, d),
            Hole(Slot::Int, d),
            Hole(Slot::Int, d),
            rp,
        ])),
        (Slot::Int, Token::Prim(Prim::If)) => Some(e(&[
            lp,
            Hole(Slot::Bool, d),
            Hole(Slot::Int, d),
            Hole(Slot::Int, d),
            rp,
        ])),
        (Slot::Int, Token::Prim(p)) if Prim::INT2.contains(&p) => {
            Some(e(&[lp, Hole(Slot::Int, d), Hole(Slot::Int, d), rp]))
        }
        (Slot::Bool, Token::Prim(Prim::And)) => {
            Some(e(&[lp, Hole(Slot::Bool, d), Hole(Slot::Bool, d), rp]))
        }
        (Slot::Bool, Token::Prim(p)) if Prim::CMP.contains(&p) => {
            Some(e(&[lp, Hole(Slot::Int, d), Hole(Slot::Int, d), rp]))
        }
        (Slot::List, Token::Var(0)) => Some(e(&[])),
        (Slot::List, Token::Prim(Prim::Map)) => {
            Some(e(&[lp, Hole(Slot::Fn1, d), Hole(Slot::List, d), rp]))
        }
        // filter needs a lambda for its predicate: offer it only if that lambda fits
        (Slot::List, Token::Prim(Prim::Filter)) if d <= MAX_VAR => {
            Some(e(&[lp, Hole(Slot::Pred, d), Hole(Slot::List, d), rp]))
        }
        (Slot::Fn1, Token::Prim(Prim::Sqrt)) => Some(e(&[])),
        (Slot::Fn1, Token::Lambda) => lambda_items(1, Slot::Int),
        (Slot::Pred, Token::Lambda) => lambda_items(1, Slot::Bool),
        (Slot::Fn2, Token::Prim(p)) if Prim::INT2.contains(&p) => Some(e(&[])),
        (Slot::Fn2, Token::Lambda) => lambda_items(2, Slot::Int),
        _ => None,
    }
}

/// Depths a hole can have: `#0` plus at most `MAX_VAR` bound variables, plus one past the end.
const DEPTHS: usize = MAX_VAR as usize + 3;

/// Per (slot, depth): the allowed tokens and, per token, the cost change of filling the hole
/// with it. Computed once; `allowed` and `fastest` are table lookups.
struct Tables {
    allowed: [[TokenSet; DEPTHS]; 6],
    /// cost of the expansion minus the cost of the hole, per token index
    delta: [[[i16; Token::COUNT]; DEPTHS]; 6],
}

fn tables(dialect: Dialect) -> &'static Tables {
    static T: [std::sync::OnceLock<Tables>; 2] =
        [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    T[dialect as usize].get_or_init(|| {
        let slots = [
            Slot::Int,
            Slot::Bool,
            Slot::List,
            Slot::Fn1,
            Slot::Pred,
            Slot::Fn2,
        ];
        let mut t = Tables {
            allowed: [[TokenSet::default(); DEPTHS]; 6],
            delta: [[[0; Token::COUNT]; DEPTHS]; 6],
        };
        for (si, &slot) in slots.iter().enumerate() {
            for d in 0..DEPTHS {
                for tok in Token::vocabulary() {
                    if let Some(e) = expansion(slot, d as u8, tok, dialect) {
                        t.allowed[si][d].insert(tok);
                        t.delta[si][d][tok.index()] =
                            e.cost() as i16 - item_cost(Item::Hole(slot, d as u8)) as i16;
                    }
                }
            }
        }
        t
    })
}

fn slot_index(s: Slot) -> usize {
    match s {
        Slot::Int => 0,
        Slot::Bool => 1,
        Slot::List => 2,
        Slot::Fn1 => 3,
        Slot::Pred => 4,
        Slot::Fn2 => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::lex::lex;

    fn run(src: &str) -> Result<State, Rejected> {
        let mut s = State::new();
        for t in lex(src).unwrap() {
            s.push(t.token)?;
        }
        Ok(s)
    }

    #[test]
    fn accepts_table1() {
        let s = run("lambda [#0](map(lambda [#1]( *( / ( *(#1 8) 9) #1)) #0))").unwrap();
        assert!(s.is_complete());
        assert_eq!(s.min_completion(), 0);
    }

    #[test]
    fn header_then_list() {
        let s = State::after_header();
        let allowed = s.allowed().to_string();
        assert_eq!(allowed, "#0 map filter");
        assert_eq!(s.min_completion(), 2); // #0 )
    }

    #[test]
    fn int_slot_offers_scoped_vars_only() {
        let s = run("lambda [ #0 ] ( map ( lambda [ #1 ] (").unwrap();
        let a = s.allowed();
        assert!(a.contains(Token::Var(1)));
        assert!(!a.contains(Token::Var(0)));
        assert!(!a.contains(Token::Var(2)));
        assert!(a.contains(Token::Prim(Prim::Reduce)));
        assert!(!a.contains(Token::Prim(Prim::Map)));
    }

    #[test]
    fn lambda_params_are_fixed_by_depth() {
        let err = run("lambda [ #0 ] ( map ( lambda [ #2").unwrap_err();
        assert_eq!(err.expected.to_string(), "#1");
        let err = run("lambda [ #1").unwrap_err();
        assert_eq!(err.expected.to_string(), "#0");
        assert!(run("lambda [ #0 ] ( map ( lambda [ #1 ] ( reduce ( #0 #1 lambda [ #2 #3 ] ( + ( #2 #3 ) ) ) ) #0 ) )")
            .unwrap()
            .is_complete());
    }

    #[test]
    fn min_completion_matches_fastest_path() {
        // Following `fastest` from any prefix takes exactly min_completion tokens.
        let prefixes = [
            "lambda",
            "lambda [ #0 ] ( filter (",
            "lambda [ #0 ] ( map ( lambda [ #1 ] ( reduce (",
            "lambda [ #0 ] ( filter ( lambda [ #1 ] ( & (",
        ];
        for p in prefixes {
            let mut s = run(p).unwrap();
            let expect = s.min_completion();
            let mut n = 0;
            while !s.is_complete() {
                let t = s.fastest().nth(0).unwrap();
                s.push(t).unwrap();
                n += 1;
            }
            assert_eq!(n, expect, "{p}");
        }
    }

    #[test]
    fn rejects_after_complete_and_wrong_types() {
        let e = run("lambda [ #0 ] ( #0 ) )").unwrap_err();
        assert!(e.to_string().contains("already complete"));
        let e = run("lambda [ #0 ] ( map ( + #0 ) )").unwrap_err();
        assert!(
            e.to_string().contains("expected one of: lambda sqrt"),
            "{e}"
        );
        let e = run("lambda [ #0 ] ( 5").unwrap_err();
        assert_eq!(e.expected.to_string(), "#0 map filter");
    }

    #[test]
    fn the_paper_dialect_offers_no_loops_primitive() {
        let paper = State::after_header_in(Dialect::Paper);
        let mut s = paper.clone();
        for t in lex("map ( lambda [ #1 ] (").unwrap() {
            s.push(t.token).unwrap();
        }
        let a = s.allowed();
        for p in Prim::LOOPS {
            assert!(!a.contains(Token::Prim(p)), "{p:?}");
        }
        let err = s.push(Token::Prim(Prim::Loop)).unwrap_err();
        assert!(err.to_string().contains("loops dialect"), "{err}");
        let loops = run("lambda [ #0 ] ( map ( lambda [ #1 ] (").unwrap();
        for p in Prim::LOOPS {
            assert!(loops.allowed().contains(Token::Prim(p)), "{p:?}");
        }
        // both agree on every paper token
        assert_eq!(
            a.0,
            loops.allowed().0
                & !Prim::LOOPS
                    .iter()
                    .fold(0, |m, &p| m | 1 << Token::Prim(p).index())
        );
        let s = run("lambda [ #0 ] ( map ( lambda [ #1 ] ( loop2 ( + lambda [ #2 #3 ] ( #2 ) #1 0 1 ) ) #0 ) )").unwrap();
        assert!(s.is_complete());
        let s = run("lambda [ #0 ] ( map ( lambda [ #1 ] ( nth ( lambda [ #2 ] ( == ( 0 % ( #2 3 ) ) ) #1 1 ) ) #0 ) )").unwrap();
        assert!(s.is_complete());
    }

    #[test]
    fn deep_nesting_never_dead_ends() {
        // Nest map lambdas until the variable vocabulary is exhausted: filter and lambdas stop
        // being offered exactly when their parameters would have no token.
        let mut s = State::after_header();
        for d in 1..=MAX_VAR {
            s.push(Token::Prim(Prim::Map)).unwrap();
            s.push(Token::LParen).unwrap();
            assert!(s.allowed().contains(Token::Lambda));
            s.push(Token::Lambda).unwrap();
            s.push(Token::LBracket).unwrap();
            s.push(Token::Var(d)).unwrap();
            s.push(Token::RBracket).unwrap();
            s.push(Token::LParen).unwrap();
            s.push(Token::Prim(Prim::Reduce)).unwrap();
            s.push(Token::LParen).unwrap();
        }
        // depth is now MAX_VAR + 1: a list hole may not offer filter
        assert!(!s.allowed().contains(Token::Prim(Prim::Filter)));
        s.push(Token::Prim(Prim::Map)).unwrap();
        s.push(Token::LParen).unwrap();
        assert_eq!(s.allowed().to_string(), "sqrt");
    }
}
