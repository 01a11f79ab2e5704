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

/// A decoder that is stepped one token at a time over a changing set of rows.
///
/// The search starts with one row per input, fed the start token and the tokens that every
/// program begins with (the grammar's forced header `lambda [ #0 ] (`); after that, each step
/// feeds one token per live hypothesis. Rows hold live hypotheses only: a finished input leaves
/// the batch, and an input with fewer live beams than `beams` holds fewer rows.
pub trait StepModel {
    /// The first step: every input's row is fed `prefix` (the start token, then the forced
    /// tokens). Returns log-probabilities after each prefix position, row-major
    /// (`inputs × prefix.len() × vocab`), and the vocabulary size.
    fn start(&mut self, prefix: &[i64]) -> Result<(Vec<f32>, usize)>;
    /// A later step: `tokens[r]` is the newest token of row `r`, `parents[r]` the row of the
    /// previous step whose prefix row `r` continues. Returns log-probabilities (`rows × vocab`).
    fn step(&mut self, tokens: &[i64], parents: &[usize]) -> Result<(Vec<f32>, usize)>;
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
    /// The language searched: only its tokens are ever emitted.
    pub dialect: crate::dsl::Dialect,
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

    /// One step: the best `b` expansions become the live beams (their rows still those of
    /// their parents), finished programs are kept (the best `b`), and a settled search ends.
    fn advance(&mut self, logp: &[f32], vocab: usize, ids: &TokenIds, max_len: usize, b: usize) {
        let mut live = Vec::with_capacity(b);
        for e in self.expansions(logp, vocab, ids, max_len) {
            let parent = &self.live[e.beam];
            match e.token {
                None => self.finished.push(Hypothesis {
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
        self.finished.sort_by(|x, y| y.score.total_cmp(&x.score));
        self.finished.truncate(b);
        self.live = live;
        if self.settled(b) {
            self.live.clear();
        }
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

/// The tokens every program starts with: those the grammar allows alone, from the empty prefix
/// (`lambda [ #0 ] (`).
pub fn forced_header(max_len: usize, dialect: crate::dsl::Dialect) -> (State, Vec<Token>) {
    let mut state = State::for_dialect(dialect);
    let mut tokens = Vec::new();
    loop {
        if state.is_complete() {
            break;
        }
        let allowed = state.allowed_within(max_len);
        let mut it = allowed.iter();
        match (it.next(), it.next()) {
            (Some(t), None) => {
                state.push(t).expect("an allowed token");
                tokens.push(t);
            }
            _ => break,
        }
    }
    (state, tokens)
}

/// What every input starts from: the state after the forced header, the header, and per input
/// the header's log-probability and the distribution after it (`inputs × vocab`), from one
/// [`StepModel::start`] call. Checks `max_len` first.
struct Started {
    state: State,
    header: Vec<Token>,
    scores: Vec<f64>,
    logp: Vec<f32>,
    vocab: usize,
}

fn start(
    model: &mut impl StepModel,
    inputs: usize,
    ids: &TokenIds,
    max_len: usize,
) -> Result<Started> {
    let min = State::new().min_completion();
    if max_len < min {
        bail!("a program needs at least {min} tokens; max_len is {max_len}");
    }
    let (state, header) = forced_header(max_len, ids.dialect);
    let mut prefix = vec![ids.start];
    prefix.extend(header.iter().map(|t| ids.dsl[t.index()] as i64));
    let (all, vocab) = model.start(&prefix)?;
    let width = prefix.len();
    if all.len() != inputs * width * vocab {
        bail!(
            "the decoder returned {} log-probabilities for {inputs} rows of {width} positions of {vocab}",
            all.len()
        );
    }
    let mut scores = Vec::with_capacity(inputs);
    let mut logp = Vec::with_capacity(inputs * vocab);
    for i in 0..inputs {
        let pos = |j: usize| &all[(i * width + j) * vocab..(i * width + j + 1) * vocab];
        scores.push(
            (0..header.len())
                .map(|j| pos(j)[prefix[j + 1] as usize] as f64)
                .sum(),
        );
        logp.extend_from_slice(pos(width - 1));
    }
    Ok(Started {
        state,
        header,
        scores,
        logp,
        vocab,
    })
}

/// A later step of `model`, checked to return `vocab` log-probabilities per row.
fn step(
    model: &mut impl StepModel,
    tokens: &[i64],
    parents: &[usize],
    vocab: usize,
) -> Result<Vec<f32>> {
    let (next, v) = model.step(tokens, parents)?;
    if v != vocab || next.len() != tokens.len() * vocab {
        bail!(
            "the decoder returned {} log-probabilities for {} rows of {vocab}",
            next.len(),
            tokens.len()
        );
    }
    Ok(next)
}

/// Runs beam search for `inputs` inputs at once. Returns, per input, up to `beams` programs,
/// best first.
///
/// The forced header is fed to one row per input in one call ([`StepModel::start`]); then each
/// input holds `beams` rows, and finished inputs leave the batch once a quarter of the rows
/// is idle. The result does not depend on the rows: each input's expansions see only its own.
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
    if inputs == 0 {
        return Ok(Vec::new());
    }
    let Started {
        state,
        header,
        scores,
        mut logp,
        vocab,
    } = start(model, inputs, ids, cfg.max_len)?;
    let mut searches: Vec<Search> = scores
        .into_iter()
        .enumerate()
        .map(|(i, score)| Search {
            live: vec![Beam {
                state: state.clone(),
                tokens: header.clone(),
                score,
                row: i,
            }],
            finished: Vec::new(),
        })
        .collect();
    // the rows of the last step: (search, first row, rows) per search that holds rows
    let mut layout: Vec<(usize, usize, usize)> = (0..inputs).map(|i| (i, i, 1)).collect();
    // every live beam finishes within max_len tokens plus `</s>`
    for _ in 0..=cfg.max_len + 1 {
        for s in searches.iter_mut() {
            if s.live.is_empty() {
                continue;
            }
            s.advance(&logp, vocab, ids, cfg.max_len, b);
        }
        let active: Vec<usize> = (0..inputs)
            .filter(|&i| !searches[i].live.is_empty())
            .collect();
        if active.is_empty() {
            break;
        }
        // Each search holds `b` rows. The rows stay where they are (a finished search's rows
        // are fed `<pad>`) until a quarter of the searches holding rows has finished: then the
        // live searches are packed anew. Moving rows between inputs costs a copy of their
        // encoder states and cross-attention keys, so it is done seldom.
        let keep = layout.iter().all(|&(_, _, n)| n == b) && active.len() * 4 > layout.len() * 3;
        if !keep {
            layout = active
                .iter()
                .enumerate()
                .map(|(j, &i)| (i, j * b, b))
                .collect();
        }
        let rows = layout.len() * b;
        let mut tokens = vec![ids.pad; rows];
        let mut parents: Vec<usize> = (0..rows).collect();
        for &(i, base, _) in &layout {
            let s = &mut searches[i];
            // idle rows continue a row of their own input
            let own = s.live.first().map_or(base, |beam| beam.row);
            for j in 0..b {
                let row = base + j;
                match s.live.get_mut(j) {
                    Some(beam) => {
                        parents[row] = beam.row;
                        tokens[row] =
                            ids.dsl[beam.tokens.last().expect("one token").index()] as i64;
                        beam.row = row;
                    }
                    None if !keep => parents[row] = own,
                    None => {}
                }
            }
        }
        logp = step(model, &tokens, &parents, vocab)?;
    }
    Ok(searches.into_iter().map(|s| s.finished).collect())
}

/// Sampling settings: `samples` programs drawn per input from the policy's distribution over
/// the tokens the grammar allows, sharpened or flattened by `temperature`.
#[derive(Clone, Copy, Debug)]
pub struct SampleConfig {
    pub samples: usize,
    pub temperature: f64,
    /// Longest program, in tokens (the header included).
    pub max_len: usize,
    pub seed: u64,
}

/// A sampled program in the making.
struct Draw {
    state: State,
    tokens: Vec<Token>,
    score: f64,
    rng: rand_chacha::ChaCha8Rng,
    done: bool,
}

/// Draws `samples` programs per input, each token from the policy's distribution over the
/// tokens the grammar allows next (within `max_len`), at `temperature`. Returns, per input,
/// its distinct programs, best score first (the score is the policy's own log-probability,
/// `</s>` included, whatever the temperature; ties by text). Draw `j` of input `i` has its own
/// random stream (`seed`, `streams[i]`, `j`), so the result does not depend on how inputs are
/// batched.
pub fn sample_search(
    model: &mut impl StepModel,
    streams: &[u64],
    ids: &TokenIds,
    cfg: SampleConfig,
) -> Result<Vec<Vec<Hypothesis>>> {
    use rand::{Rng, SeedableRng};
    let n = cfg.samples;
    if n == 0 || !(cfg.temperature > 0.0 && cfg.temperature.is_finite()) {
        bail!(
            "sampling needs at least one sample and a positive temperature (got {} and {})",
            n,
            cfg.temperature
        );
    }
    let inputs = streams.len();
    if inputs == 0 {
        return Ok(Vec::new());
    }
    let started = start(model, inputs, ids, cfg.max_len)?;
    let vocab = started.vocab;
    let mut draws: Vec<Draw> = Vec::with_capacity(inputs * n);
    let mut logp = Vec::with_capacity(inputs * n * vocab);
    for (i, &stream) in streams.iter().enumerate() {
        let after = &started.logp[i * vocab..(i + 1) * vocab];
        for j in 0..n {
            let key = blake3::hash(format!("sample:{}:{stream}:{j}", cfg.seed).as_bytes());
            let seed = u64::from_le_bytes(key.as_bytes()[..8].try_into().expect("8 bytes"));
            draws.push(Draw {
                state: started.state.clone(),
                tokens: started.header.clone(),
                score: started.scores[i],
                rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
                done: false,
            });
            logp.extend_from_slice(after);
        }
    }
    let rows = inputs * n;
    let mut parents: Vec<usize> = (0..rows).map(|r| r / n).collect();
    for _ in 0..=cfg.max_len + 1 {
        let mut tokens = vec![ids.pad; rows];
        for (r, d) in draws.iter_mut().enumerate() {
            if d.done {
                continue;
            }
            let row = &logp[r * vocab..(r + 1) * vocab];
            if d.state.is_complete() {
                d.score += row[ids.eos as usize] as f64;
                d.done = true;
                continue;
            }
            let allowed: Vec<Token> = d.state.allowed_within(cfg.max_len).iter().collect();
            let lp: Vec<f64> = allowed
                .iter()
                .map(|t| row[ids.dsl[t.index()] as usize] as f64)
                .collect();
            let top = lp.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = lp
                .iter()
                .map(|&x| ((x - top) / cfg.temperature).exp())
                .collect();
            let total: f64 = weights.iter().sum();
            let mut u = d.rng.gen::<f64>() * total;
            let mut pick = allowed.len() - 1;
            for (k, w) in weights.iter().enumerate() {
                if u < *w {
                    pick = k;
                    break;
                }
                u -= w;
            }
            let t = allowed[pick];
            d.state.push(t).expect("an allowed token");
            d.tokens.push(t);
            d.score += lp[pick];
            tokens[r] = ids.dsl[t.index()] as i64;
        }
        if draws.iter().all(|d| d.done) {
            break;
        }
        logp = step(model, &tokens, &parents, vocab)?;
        parents = (0..rows).collect();
    }
    let mut out = Vec::with_capacity(inputs);
    for chunk in draws.chunks(n) {
        let mut best: std::collections::BTreeMap<Vec<Token>, f64> = Default::default();
        for d in chunk.iter().filter(|d| d.done) {
            let e = best.entry(d.tokens.clone()).or_insert(f64::NEG_INFINITY);
            *e = e.max(d.score);
        }
        let mut hyps: Vec<Hypothesis> = best
            .into_iter()
            .map(|(tokens, score)| Hypothesis { tokens, score })
            .collect();
        // stable after the map's order (by tokens): ties keep a fixed order
        hyps.sort_by(|a, b| b.score.total_cmp(&a.score));
        out.push(hyps);
    }
    Ok(out)
}

/// The ONNX policy as a [`StepModel`]: the encoder runs once per input; the decoder keeps its
/// self-attention cache, whose rows are gathered when hypotheses are reshuffled, and the
/// encoder states and cross-attention keys follow the rows only when the inputs behind them
/// change (an input finished, or its number of live beams changed).
pub struct OnnxSteps<'a> {
    policy: &'a mut Policy,
    encoded: Encoded,
    cache: Option<Cache>,
    /// The input behind each current row.
    source: Vec<usize>,
}

impl<'a> OnnxSteps<'a> {
    /// Encodes `inputs` (token ids), one row each.
    pub fn new(policy: &'a mut Policy, inputs: &[Vec<u32>], pad: u32) -> Result<Self> {
        let encoded = policy.encode(inputs, pad)?;
        Ok(OnnxSteps {
            policy,
            encoded,
            cache: None,
            source: (0..inputs.len()).collect(),
        })
    }
}

impl StepModel for OnnxSteps<'_> {
    fn start(&mut self, prefix: &[i64]) -> Result<(Vec<f32>, usize)> {
        let rows = self.source.len();
        self.cache = None;
        let mut per_pos = Vec::with_capacity(prefix.len());
        let mut vocab = 0;
        for &t in prefix {
            let (lp, v) = self
                .policy
                .step(&self.encoded, &vec![t; rows], &mut self.cache)?;
            vocab = v;
            per_pos.push(lp);
        }
        // rows × positions × vocab
        let mut out = Vec::with_capacity(rows * prefix.len() * vocab);
        for r in 0..rows {
            for lp in &per_pos {
                out.extend_from_slice(&lp[r * vocab..(r + 1) * vocab]);
            }
        }
        Ok((out, vocab))
    }

    fn step(&mut self, tokens: &[i64], parents: &[usize]) -> Result<(Vec<f32>, usize)> {
        let Some(cache) = self.cache.as_mut() else {
            bail!("the decoder was stepped before it was started");
        };
        if parents.len() != tokens.len() {
            bail!("{} parents for {} rows", parents.len(), tokens.len());
        }
        // rows that keep their own prefix need no copy
        let identity =
            parents.len() == self.source.len() && parents.iter().enumerate().all(|(r, &q)| r == q);
        if !identity {
            let source: Vec<usize> = parents
                .iter()
                .map(|&q| self.source.get(q).copied())
                .collect::<Option<_>>()
                .ok_or_else(|| anyhow::anyhow!("a parent row beyond the batch"))?;
            // the encoder states and cross-attention keys depend only on the input
            let same_source = source == self.source;
            cache.reorder(parents, same_source)?;
            if !same_source {
                self.encoded = self.encoded.gather(parents)?;
                self.source = source;
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
            dialect: crate::dsl::Dialect::Paper,
        }
    }

    /// A deterministic fake decoder: the log-probabilities of a row depend on its whole prefix
    /// (and on the input it belongs to), through a hash.
    struct Fake {
        prefixes: Vec<Vec<i64>>,
        /// The input behind each row.
        source: Vec<usize>,
        vocab: usize,
        steps: usize,
        /// Rows fed over all calls.
        rows_fed: usize,
    }

    impl Fake {
        fn new(inputs: usize) -> Fake {
            Fake {
                prefixes: vec![Vec::new(); inputs],
                source: (0..inputs).collect(),
                vocab: Token::COUNT + 2,
                steps: 0,
                rows_fed: 0,
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
        fn start(&mut self, prefix: &[i64]) -> Result<(Vec<f32>, usize)> {
            self.steps += 1;
            self.rows_fed += self.source.len();
            let mut out = Vec::new();
            for r in 0..self.source.len() {
                self.prefixes[r].clear();
                for &t in prefix {
                    self.prefixes[r].push(t);
                    out.extend(Self::logp(self.source[r], &self.prefixes[r], self.vocab));
                }
            }
            Ok((out, self.vocab))
        }
        fn step(&mut self, tokens: &[i64], parents: &[usize]) -> Result<(Vec<f32>, usize)> {
            self.steps += 1;
            self.rows_fed += tokens.len();
            self.prefixes = parents.iter().map(|&q| self.prefixes[q].clone()).collect();
            self.source = parents.iter().map(|&q| self.source[q]).collect();
            let mut out = Vec::new();
            for (r, &t) in tokens.iter().enumerate() {
                self.prefixes[r].push(t);
                out.extend(Self::logp(self.source[r], &self.prefixes[r], self.vocab));
            }
            Ok((out, self.vocab))
        }
    }

    /// The search as it was before rows were packed, one input at a time with `beams` rows fed
    /// at every step from the start token (rows without a hypothesis fed `<pad>`): the
    /// reference that the packed search must reproduce exactly.
    fn reference_search(input: usize, ids: &TokenIds, cfg: BeamConfig) -> Vec<Hypothesis> {
        let b = cfg.beams;
        let vocab = Token::COUNT + 2;
        let mut s = Search {
            live: vec![Beam {
                state: State::for_dialect(crate::dsl::Dialect::Paper),
                tokens: Vec::new(),
                score: 0.0,
                row: 0,
            }],
            finished: Vec::new(),
        };
        let mut prefixes: Vec<Vec<i64>> = vec![vec![ids.start]; b];
        for _ in 0..=cfg.max_len + 1 {
            if s.live.is_empty() {
                break;
            }
            let logp: Vec<f32> = prefixes
                .iter()
                .flat_map(|p| Fake::logp(input, p, vocab))
                .collect();
            s.advance(&logp, vocab, ids, cfg.max_len, b);
            let mut next = vec![vec![ids.pad]; b];
            for (j, beam) in s.live.iter_mut().enumerate() {
                let mut p = prefixes[beam.row].clone();
                p.push(ids.dsl[beam.tokens.last().unwrap().index()] as i64);
                next[j] = p;
                beam.row = j;
            }
            prefixes = next;
        }
        s.finished
    }

    #[test]
    fn packed_rows_return_the_same_programs_and_scores_as_fixed_rows() {
        for (inputs, beams, max_len) in [(5, 4, 24), (3, 10, 30), (7, 1, 20), (2, 32, 22)] {
            let cfg = BeamConfig { beams, max_len };
            let mut fake = Fake::new(inputs);
            let got = beam_search(&mut fake, inputs, &ids(), cfg).unwrap();
            for (i, hyps) in got.iter().enumerate() {
                let want = reference_search(i, &ids(), cfg);
                assert_eq!(
                    hyps.len(),
                    want.len(),
                    "input {i} of {inputs}, {beams} beams"
                );
                for (h, w) in hyps.iter().zip(&want) {
                    assert_eq!(h.tokens, w.tokens);
                    assert!(
                        (h.score - w.score).abs() < 1e-9,
                        "{} vs {}",
                        h.score,
                        w.score
                    );
                }
            }
            // the header takes one call on one row per input, and no step feeds more than
            // inputs × beams rows
            assert!(
                fake.rows_fed <= inputs + inputs * beams * (fake.steps - 1),
                "{} rows fed in {} steps",
                fake.rows_fed,
                fake.steps
            );
        }
    }

    #[test]
    fn sampling_gives_distinct_valid_programs_independent_of_batching() {
        let cfg = SampleConfig {
            samples: 16,
            temperature: 1.0,
            max_len: 24,
            seed: 7,
        };
        let streams = [3u64, 11, 5];
        let mut fake = Fake::new(streams.len());
        let together = sample_search(&mut fake, &streams, &ids(), cfg).unwrap();
        for (i, hyps) in together.iter().enumerate() {
            assert!(hyps.len() > 1 && hyps.len() <= 16, "{}", hyps.len());
            let texts: std::collections::HashSet<String> =
                hyps.iter().map(|h| tokens_to_text(&h.tokens)).collect();
            assert_eq!(texts.len(), hyps.len(), "distinct programs");
            for w in hyps.windows(2) {
                assert!(w[0].score >= w[1].score);
            }
            for h in hyps {
                assert!(h.tokens.len() <= 24);
                Program::parse(&tokens_to_text(&h.tokens)).unwrap();
                assert!((h.score - score_of(i, &h.tokens)).abs() < 1e-4);
            }
            // the same input alone gives the same programs: its draws have their own streams
            let mut one = Fake::new(1);
            // the fake's distribution depends on the input index: give it input i's rows
            one.source = vec![i];
            let alone = sample_search(&mut one, &streams[i..=i], &ids(), cfg).unwrap();
            assert_eq!(alone[0], *hyps);
        }
        // a lower temperature concentrates the draws
        let cold = SampleConfig {
            temperature: 0.05,
            ..cfg
        };
        let mut fake = Fake::new(streams.len());
        let c = sample_search(&mut fake, &streams, &ids(), cold).unwrap();
        let distinct = |v: &[Vec<Hypothesis>]| v.iter().map(|h| h.len()).sum::<usize>();
        assert!(distinct(&c) < distinct(&together));
        let bad = SampleConfig {
            temperature: 0.0,
            ..cfg
        };
        assert!(sample_search(&mut Fake::new(1), &[0], &ids(), bad).is_err());
    }

    #[test]
    fn the_forced_header_is_the_lambda_and_its_open_paren() {
        let (state, header) = forced_header(48, crate::dsl::Dialect::Paper);
        assert_eq!(tokens_to_text(&header), "lambda [ #0 ] (");
        assert!(!state.is_complete());
        assert!(state.allowed_within(48).iter().count() > 1);
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
        walk(
            &State::for_dialect(crate::dsl::Dialect::Paper),
            &mut Vec::new(),
            max_len,
            &mut out,
        );
        out
    }

    #[test]
    fn every_result_is_a_valid_program_within_the_limit() {
        let cfg = BeamConfig {
            beams: 5,
            max_len: 20,
        };
        let mut fake = Fake::new(3);
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
        let mut fake = Fake::new(2);
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
        let mut fake = Fake::new(1);
        let got = beam_search(&mut fake, 1, &ids(), cfg).unwrap();
        // greedy by hand: the best allowed token at each step
        let ids = ids();
        let vocab = Token::COUNT + 2;
        let mut s = State::for_dialect(crate::dsl::Dialect::Paper);
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
        let mut fake = Fake::new(1);
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
