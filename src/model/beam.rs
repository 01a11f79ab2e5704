//! Grammar-constrained beam search over a step-wise decoder.
//!
//! The search stage asks the policy for `beams` programs per target (the paper: 10). Plain beam
//! search over the model's vocabulary would waste most beams on token strings that are not
//! programs; here every expansion is filtered by the DSL's next-token automaton
//! ([`crate::dsl::State`]), so every hypothesis is a well-typed prefix and every finished one a
//! whole program. A length limit is enforced the same way: a token is allowed only if the
//! shortest completion after it still fits in `max_len` tokens, so no beam ever runs into a dead
//! end.
//!
//! The search is exact in one sense that the tests check: with at least as many beams as there
//! are live prefixes, it returns the `beams` best programs by total log-probability. Scores are
//! sums of log-probabilities (no length normalisation), so they only fall as a hypothesis grows,
//! and a target is done once it has `beams` finished programs and no live prefix can beat the
//! worst of them.
//!
//! The model sits behind [`StepModel`], so this logic is tested with a fake decoder; the ONNX
//! implementation ([`OnnxSteps`]) keeps the encoder output and the self-attention cache, and
//! reorders the cache rows when beams are reshuffled.

use crate::dsl::token::Token;
use crate::dsl::State;
use crate::model::onnx::{Cache, Encoded, Policy};
use anyhow::{bail, Result};

/// A decoder that is stepped one token at a time over a fixed number of rows.
pub trait StepModel {
    /// One step: `tokens[r]` is the newest token of row `r`; `parents[r]` is the row of the
    /// previous step whose prefix row `r` continues (`None` on the first step, where every row is
    /// fresh). Returns log-probabilities, row-major (`rows × vocab`), and the vocabulary size.
    fn step(&mut self, tokens: &[i64], parents: Option<&[usize]>) -> Result<(Vec<f32>, usize)>;
}

/// Where the special and DSL tokens are in the model's vocabulary.
#[derive(Clone, Debug)]
pub struct TokenIds {
    /// The decoder's start token.
    pub start: i64,
    /// End of sequence: a finished program must be followed by it.
    pub eos: i64,
    /// Fed to rows that hold no hypothesis.
    pub pad: i64,
    /// `dsl[token.index()]` = the vocabulary id of each DSL token.
    pub dsl: Vec<u32>,
}

/// Beam search settings.
#[derive(Clone, Copy, Debug)]
pub struct BeamConfig {
    /// Hypotheses kept per input, and programs returned per input.
    pub beams: usize,
    /// Longest program, in tokens (the `lambda [ #0 ] (` header included).
    pub max_len: usize,
}

/// A finished program with its total log-probability (`</s>` included).
#[derive(Clone, Debug, PartialEq)]
pub struct Hypothesis {
    pub tokens: Vec<Token>,
    pub score: f64,
}

/// A live prefix.
#[derive(Clone)]
struct Beam {
    state: State,
    tokens: Vec<Token>,
    score: f64,
    /// The decoder row that holds its cache.
    row: usize,
}

/// One way to extend a beam: by a DSL token, or by `</s>` (`token` = `None`) once complete.
struct Expansion {
    beam: usize,
    token: Option<Token>,
    score: f64,
}

/// The per-input search state.
struct Search {
    live: Vec<Beam>,
    finished: Vec<Hypothesis>,
}

impl Search {
    /// The expansions of every live beam that keep it a program prefix of at most `max_len`
    /// tokens, best first (ties: earlier beam, then smaller token index, so results do not
    /// depend on anything but the scores).
    fn expansions(
        &self,
        logp: &[f32],
        vocab: usize,
        ids: &TokenIds,
        max_len: usize,
    ) -> Vec<Expansion> {
        let mut out = Vec::new();
        for (b, beam) in self.live.iter().enumerate() {
            let row = &logp[beam.row * vocab..(beam.row + 1) * vocab];
            if beam.state.is_complete() {
                out.push(Expansion {
                    beam: b,
                    token: None,
                    score: beam.score + row[ids.eos as usize] as f64,
                });
                continue;
            }
            for t in beam.state.allowed_within(max_len).iter() {
                out.push(Expansion {
                    beam: b,
                    token: Some(t),
                    score: beam.score + row[ids.dsl[t.index()] as usize] as f64,
                });
            }
        }
        // stable: equal scores keep the (beam, token) order they were generated in
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        out
    }

    /// True when no live prefix can still enter the top `beams` finished programs.
    fn settled(&self, beams: usize) -> bool {
        if self.live.is_empty() {
            return true;
        }
        if self.finished.len() < beams {
            return false;
        }
        let worst = self.finished[beams - 1].score;
        self.live.iter().all(|b| b.score <= worst)
    }
}

/// Runs beam search for `inputs` inputs at once; the model has `inputs × beams` rows, input `i`
/// owning rows `i*beams .. (i+1)*beams`. Returns, per input, up to `beams` programs, best first.
pub fn beam_search(
    model: &mut impl StepModel,
    inputs: usize,
    ids: &TokenIds,
    cfg: BeamConfig,
) -> Result<Vec<Vec<Hypothesis>>> {
    let b = cfg.beams;
    if b == 0 {
        bail!("beam search needs at least one beam");
    }
    let min = State::new().min_completion();
    if cfg.max_len < min {
        bail!(
            "a program needs at least {min} tokens; max_len is {}",
            cfg.max_len
        );
    }
    let rows = inputs * b;
    let mut searches: Vec<Search> = (0..inputs)
        .map(|i| Search {
            live: vec![Beam {
                state: State::new(),
                tokens: Vec::new(),
                score: 0.0,
                row: i * b,
            }],
            finished: Vec::new(),
        })
        .collect();
    let mut tokens = vec![ids.start; rows];
    let mut parents: Option<Vec<usize>> = None;
    // every live beam finishes within max_len tokens plus `</s>`
    for _ in 0..=cfg.max_len + 1 {
        if searches.iter().all(|s| s.live.is_empty()) {
            break;
        }
        let (logp, vocab) = model.step(&tokens, parents.as_deref())?;
        if logp.len() != rows * vocab {
            bail!(
                "the decoder returned {} log-probabilities for {rows} rows of {vocab}",
                logp.len()
            );
        }
        let mut next_tokens = vec![ids.pad; rows];
        let mut next_parents: Vec<usize> = (0..rows).collect();
        for (i, s) in searches.iter_mut().enumerate() {
            if s.live.is_empty() {
                continue;
            }
            let mut live = Vec::with_capacity(b);
            for e in s.expansions(&logp, vocab, ids, cfg.max_len) {
                let parent = &s.live[e.beam];
                match e.token {
                    None => s.finished.push(Hypothesis {
                        tokens: parent.tokens.clone(),
                        score: e.score,
                    }),
                    Some(t) if live.len() < b => {
                        let mut beam = parent.clone();
                        beam.state.push(t).expect("expansion is allowed");
                        beam.tokens.push(t);
                        beam.score = e.score;
                        live.push(beam);
                    }
                    Some(_) => {}
                }
            }
            // keep the best `b` finished programs (a stable sort: earlier ones win ties)
            s.finished.sort_by(|x, y| y.score.total_cmp(&x.score));
            s.finished.truncate(b);
            for (j, beam) in live.iter_mut().enumerate() {
                let row = i * b + j;
                next_parents[row] = beam.row;
                next_tokens[row] = ids.dsl[beam.tokens.last().expect("one token").index()] as i64;
                beam.row = row;
            }
            s.live = live;
            if s.settled(b) {
                s.live.clear();
            }
        }
        tokens = next_tokens;
        parents = Some(next_parents);
    }
    Ok(searches.into_iter().map(|s| s.finished).collect())
}

/// The ONNX policy as a [`StepModel`]: the encoder runs once for all rows, the decoder keeps its
/// self-attention cache, which is gathered row by row when beams are reshuffled.
pub struct OnnxSteps<'a> {
    policy: &'a mut Policy,
    encoded: Encoded,
    cache: Option<Cache>,
    beams: usize,
}

impl<'a> OnnxSteps<'a> {
    /// Encodes `inputs` (token ids) and repeats each one `beams` times.
    pub fn new(
        policy: &'a mut Policy,
        inputs: &[Vec<u32>],
        pad: u32,
        beams: usize,
    ) -> Result<Self> {
        let encoded = policy.encode(inputs, pad)?;
        let rows: Vec<usize> = (0..inputs.len())
            .flat_map(|i| std::iter::repeat_n(i, beams))
            .collect();
        let encoded = encoded.gather(&rows)?;
        Ok(OnnxSteps {
            policy,
            encoded,
            cache: None,
            beams,
        })
    }
}

impl StepModel for OnnxSteps<'_> {
    fn step(&mut self, tokens: &[i64], parents: Option<&[usize]>) -> Result<(Vec<f32>, usize)> {
        if let (Some(cache), Some(p)) = (self.cache.as_mut(), parents) {
            // rows that keep their own prefix need no copy
            if p.iter().enumerate().any(|(r, &q)| r != q) {
                // a beam's parent is a beam of the same input: the cross-attention keys of
                // its row are already right
                let b = self.beams.max(1);
                let same_source = p.iter().enumerate().all(|(r, &q)| r / b == q / b);
                cache.reorder(p, same_source)?;
            }
        }
        self.policy.step(&self.encoded, tokens, &mut self.cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::token::tokens_to_text;
    use crate::dsl::Program;

    /// Vocabulary of the fake: 0 start/pad, 1 `</s>`, then the DSL tokens.
    fn ids() -> TokenIds {
        TokenIds {
            start: 0,
            eos: 1,
            pad: 0,
            dsl: (0..Token::COUNT).map(|i| i as u32 + 2).collect(),
        }
    }

    /// A deterministic fake decoder: the log-probabilities of a row depend on its whole prefix
    /// (and on the input it belongs to), through a hash.
    struct Fake {
        prefixes: Vec<Vec<i64>>,
        beams: usize,
        vocab: usize,
        steps: usize,
    }

    impl Fake {
        fn new(inputs: usize, beams: usize) -> Fake {
            Fake {
                prefixes: vec![Vec::new(); inputs * beams],
                beams,
                vocab: Token::COUNT + 2,
                steps: 0,
            }
        }
        fn logp(input: usize, prefix: &[i64], vocab: usize) -> Vec<f32> {
            let raw: Vec<f32> = (0..vocab)
                .map(|t| {
                    let mut h = blake3::Hasher::new();
                    h.update(&(input as u64).to_le_bytes());
                    for p in prefix {
                        h.update(&p.to_le_bytes());
                    }
                    h.update(&(t as u64).to_le_bytes());
                    let b = h.finalize();
                    (b.as_bytes()[0] as f32) / 32.0
                })
                .collect();
            crate::model::onnx::log_softmax(&raw)
        }
    }

    impl StepModel for Fake {
        fn step(&mut self, tokens: &[i64], parents: Option<&[usize]>) -> Result<(Vec<f32>, usize)> {
            self.steps += 1;
            if let Some(p) = parents {
                self.prefixes = p.iter().map(|&q| self.prefixes[q].clone()).collect();
            }
            let mut out = Vec::new();
            for (r, &t) in tokens.iter().enumerate() {
                self.prefixes[r].push(t);
                out.extend(Self::logp(r / self.beams, &self.prefixes[r], self.vocab));
            }
            Ok((out, self.vocab))
        }
    }

    /// The score the fake gives a whole program (with `</s>`).
    fn score_of(input: usize, program: &[Token]) -> f64 {
        let ids = ids();
        let vocab = Token::COUNT + 2;
        let mut prefix = vec![ids.start];
        let mut s = 0.0;
        for t in program {
            s += Fake::logp(input, &prefix, vocab)[ids.dsl[t.index()] as usize] as f64;
            prefix.push(ids.dsl[t.index()] as i64);
        }
        s + Fake::logp(input, &prefix, vocab)[ids.eos as usize] as f64
    }

    /// Every program of at most `max_len` tokens, by walking the automaton.
    fn all_programs(max_len: usize) -> Vec<Vec<Token>> {
        fn walk(s: &State, prefix: &mut Vec<Token>, max_len: usize, out: &mut Vec<Vec<Token>>) {
            if s.is_complete() {
                out.push(prefix.clone());
                return;
            }
            for t in s.allowed_within(max_len).iter() {
                let mut n = s.clone();
                n.push(t).unwrap();
                prefix.push(t);
                walk(&n, prefix, max_len, out);
                prefix.pop();
            }
        }
        let mut out = Vec::new();
        walk(&State::new(), &mut Vec::new(), max_len, &mut out);
        out
    }

    #[test]
    fn every_result_is_a_valid_program_within_the_limit() {
        let cfg = BeamConfig {
            beams: 5,
            max_len: 20,
        };
        let mut fake = Fake::new(3, cfg.beams);
        let out = beam_search(&mut fake, 3, &ids(), cfg).unwrap();
        assert_eq!(out.len(), 3);
        for (i, hyps) in out.iter().enumerate() {
            assert_eq!(hyps.len(), 5);
            for w in hyps.windows(2) {
                assert!(w[0].score >= w[1].score, "best first");
            }
            let mut seen = std::collections::HashSet::new();
            for h in hyps {
                assert!(h.tokens.len() <= 20);
                let text = tokens_to_text(&h.tokens);
                let p = Program::parse(&text).unwrap();
                assert_eq!(p.tokens(), h.tokens);
                assert!(seen.insert(text), "distinct programs");
                assert!((h.score - score_of(i, &h.tokens)).abs() < 1e-4);
            }
        }
        assert!(fake.steps <= 22);
    }

    #[test]
    fn wide_beams_find_the_exact_best_programs() {
        // max_len 20: few enough programs (26) to score them all
        let max_len = 20;
        let all = all_programs(max_len);
        assert!(all.len() > 10 && all.len() < 5000, "{}", all.len());
        let cfg = BeamConfig {
            beams: all.len(),
            max_len,
        };
        let mut fake = Fake::new(2, cfg.beams);
        let out = beam_search(&mut fake, 2, &ids(), cfg).unwrap();
        for (i, hyps) in out.iter().enumerate() {
            let mut want: Vec<(f64, Vec<Token>)> =
                all.iter().map(|p| (score_of(i, p), p.clone())).collect();
            want.sort_by(|a, b| b.0.total_cmp(&a.0));
            assert_eq!(hyps.len(), all.len(), "every program is found");
            for (h, w) in hyps.iter().zip(&want) {
                assert!((h.score - w.0).abs() < 1e-4);
            }
        }
    }

    #[test]
    fn one_beam_is_constrained_greedy() {
        let cfg = BeamConfig {
            beams: 1,
            max_len: 24,
        };
        let mut fake = Fake::new(1, 1);
        let got = beam_search(&mut fake, 1, &ids(), cfg).unwrap();
        // greedy by hand: the best allowed token at each step
        let ids = ids();
        let vocab = Token::COUNT + 2;
        let mut s = State::new();
        let mut prefix = vec![ids.start];
        let mut program = Vec::new();
        while !s.is_complete() {
            let lp = Fake::logp(0, &prefix, vocab);
            let best = s
                .allowed_within(24)
                .iter()
                .max_by(|&a, &b| {
                    lp[ids.dsl[a.index()] as usize]
                        .total_cmp(&lp[ids.dsl[b.index()] as usize])
                        .then(b.index().cmp(&a.index()))
                })
                .unwrap();
            s.push(best).unwrap();
            program.push(best);
            prefix.push(ids.dsl[best.index()] as i64);
        }
        assert_eq!(got[0][0].tokens, program);
    }

    #[test]
    fn bad_settings_are_errors() {
        let mut fake = Fake::new(1, 1);
        let e = beam_search(
            &mut fake,
            1,
            &ids(),
            BeamConfig {
                beams: 0,
                max_len: 30,
            },
        );
        assert!(e.is_err());
        let e = beam_search(
            &mut fake,
            1,
            &ids(),
            BeamConfig {
                beams: 1,
                max_len: 3,
            },
        );
        assert!(format!("{:#}", e.unwrap_err()).contains("at least"));
    }
}
