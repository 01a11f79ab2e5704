//! Random programs, as DESIGN.md section 2 describes: start from `lambda [ #0 ] (`, append a token
//! drawn uniformly among the tokens the automaton allows next; from `max_len` tokens on, draw only
//! among the tokens that close the program fastest.
//!
//! The draw is a pure function of the RNG, so a seeded RNG gives a reproducible program. Callers
//! that sample in parallel derive one RNG per draw index (`rng_for`), which makes the result
//! independent of the number of threads.

use super::automaton::{State, TokenSet};
use super::syntax::Program;
use super::token::{Dialect, Token};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A deterministic RNG for draw number `index` of the stream `seed`.
pub fn rng_for(seed: u64, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// Draws the token sequence of one random program of the dialect. The paper dialect's tokens
/// come first in the vocabulary, so its draws are what they were before the loops dialect.
pub fn sample_tokens<R: Rng + ?Sized>(rng: &mut R, max_len: usize, dialect: Dialect) -> Vec<Token> {
    let mut state = State::after_header_in(dialect);
    let mut tokens: Vec<Token> = super::automaton::HEADER.to_vec();
    while !state.is_complete() {
        let choices: TokenSet = if state.len() >= max_len {
            state.fastest()
        } else {
            state.allowed()
        };
        let t = choices
            .nth(rng.gen_range(0..choices.len()))
            .expect("a non-empty choice set");
        state.push(t).expect("the automaton offered it");
        tokens.push(t);
    }
    tokens
}

/// Draws one random program.
pub fn sample_program<R: Rng + ?Sized>(rng: &mut R, max_len: usize, dialect: Dialect) -> Program {
    let tokens = sample_tokens(rng, max_len, dialect);
    Program::from_tokens(&tokens).expect("sampled programs are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproducible_and_bounded() {
        for i in 0..200 {
            let a = sample_tokens(&mut rng_for(7, i), 30, Dialect::Loops);
            let b = sample_tokens(&mut rng_for(7, i), 30, Dialect::Loops);
            assert_eq!(a, b);
            let p = Program::from_tokens(&a).unwrap();
            assert_eq!(p.tokens(), a);
        }
        // different streams differ
        let distinct: std::collections::HashSet<Vec<Token>> = (0..100)
            .map(|i| sample_tokens(&mut rng_for(7, i), 30, Dialect::Loops))
            .collect();
        assert!(distinct.len() > 50);
    }

    #[test]
    fn length_limit_forces_closure() {
        // Past max_len only fastest-closing tokens are drawn, so the overshoot is bounded by the
        // shortest completion at the moment the limit is reached.
        for i in 0..500 {
            let mut rng = rng_for(11, i);
            let mut state = State::after_header();
            let mut n = 5;
            let mut at_limit = None;
            while !state.is_complete() {
                if state.len() >= 20 && at_limit.is_none() {
                    at_limit = Some(state.len() + state.min_completion());
                }
                let c = if state.len() >= 20 {
                    state.fastest()
                } else {
                    state.allowed()
                };
                let t = c.nth(rng.gen_range(0..c.len())).unwrap();
                state.push(t).unwrap();
                n += 1;
            }
            let tokens = sample_tokens(&mut rng_for(11, i), 20, Dialect::Loops);
            assert_eq!(tokens.len(), n);
            if let Some(total) = at_limit {
                assert_eq!(n, total);
            }
        }
    }
}
