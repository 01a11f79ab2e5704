//! `synth`: synthetic (sequence → program) pairs, the finetuning data of the paper.
//!
//! Draw `i` samples a program with its own RNG (`dsl::sample::rng_for(seed, i)`), evaluates it on
//! `#0 = [1..L]`, and classifies it. Draws are evaluated in parallel chunks and then accepted
//! strictly in index order, so the output depends on the seed only, never on the thread count.
//!
//! Flavours:
//! - `constrained` (the paper's finetuning set): the program must evaluate (so no value above the
//!   bound), have at least `min_terms` terms; if one value fills more than 90% of the output it is
//!   kept with probability 0.5; and its output must be new (blake3 of the whole output);
//! - `baseline` (ablation 1): without the 90% rule or the uniqueness constraint; drawn by
//!   `sample` with `sample.mode = "fresh"`, a new draw per meta-iteration (the one switch for
//!   ablation 1; `synth` itself always draws the constrained finetuning set).

use super::{Ctx, Stage};
use crate::dsl::{self, sample, Evaluator, Num, Program};
use crate::pipeline::config::{Loaded, SynthConfig, SynthFlavour, SynthSource};
use crate::pipeline::dag::Node;
use crate::pipeline::store::Artifact;
use crate::tables::io::column;
use anyhow::{bail, Context, Result};
use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

pub struct Synth;

/// Draws evaluated per parallel chunk.
const CHUNK: u64 = 4096;

impl Stage for Synth {
    fn name(&self) -> &'static str {
        "synth"
    }
    fn version(&self) -> u32 {
        1
    }
    fn check(&self, loaded: &Loaded) -> Result<()> {
        let c = &loaded.config.synth;
        loaded.require(
            c.pairs >= 1,
            &["synth.pairs"],
            "synth.pairs must be at least 1",
        )?;
        loaded.require(
            c.validation < c.pairs,
            &["synth.validation", "synth.pairs"],
            format!(
                "synth.validation ({}) must be below synth.pairs ({}): the rest are the training pairs",
                c.validation, c.pairs
            ),
        )?;
        loaded.require(
            c.max_draws_factor >= 1,
            &["synth.max_draws_factor"],
            "synth.max_draws_factor must be at least 1",
        )?;
        let min = crate::dsl::State::new().min_completion();
        if let Some(l) = c.max_len {
            loaded.require(
                l >= min,
                &["synth.max_len"],
                format!(
                    "synth.max_len must be at least {min} (the shortest program's tokens), not {l}"
                ),
            )?;
        }
        loaded.require(
            c.min_terms <= loaded.config.dsl.input_len,
            &["synth.min_terms", "dsl.input_len"],
            format!(
                "synth.min_terms = {} is more terms than a program has (dsl.input_len = {})",
                c.min_terms, loaded.config.dsl.input_len
            ),
        )?;
        if c.source != crate::pipeline::config::SynthSource::Random {
            loaded.require(
                c.enumerate_size >= 1,
                &["synth.enumerate_size"],
                "synth.enumerate_size must be at least 1",
            )?;
        }
        Ok(())
    }
    fn iterated(&self, _: &Loaded) -> bool {
        false
    }
    fn params(&self, loaded: &Loaded, _: &Node) -> serde_json::Value {
        // single settings: `max_draws_factor` only decides when to give up, never what is drawn
        let c = &loaded.config;
        let s = &c.synth;
        let mut p = json!({
            "synth.pairs": s.pairs,
            "synth.validation": s.validation,
            "synth.seed": s.seed,
            "synth.min_terms": s.min_terms,
            "max_len": max_len(loaded),
            "dsl.limits": c.dsl.limits_key(),
        });
        if s.max_steps != 0 {
            p["synth.max_steps"] = json!(s.max_steps);
        }
        if s.source != SynthSource::Random {
            // the enumerator's primitives and folds decide which programs exist
            p["synth.source"] = json!(s.source);
            p["synth.enumerate_size"] = json!(s.enumerate_size);
            p["enumerate.ops"] = json!(c.enumerate.ops);
            p["enumerate.folds"] = json!(c.enumerate.folds);
            p["enumerate.fold_size"] = json!(c.enumerate.fold_size);
            // a budget stop changes which programs exist to draw from
            p["enumerate.max_bytes"] = json!(c.enumerate.max_bytes);
            p["train.input_terms"] = json!(c.train.input_terms);
        }
        p
    }
    fn inputs(&self, _: &Loaded, _: &Node) -> Vec<Node> {
        vec![]
    }
    /// Random programs split by draw: shard i of N evaluates its range of the first
    /// [`shard_draws`] draws; the merge replays the uniqueness check in draw order (and draws
    /// on if the shards' draws were not enough), so it accepts exactly the unsharded pairs.
    fn shardable(&self, loaded: &Loaded) -> bool {
        loaded.config.synth.source == SynthSource::Random
    }
    fn merge(&self, ctx: &mut Ctx, shards: &[Artifact]) -> Result<()> {
        let cfg = &ctx.loaded.config.synth;
        check(cfg)?;
        let ev = Evaluator::new(draw_limits(ctx.loaded));
        let mut acc = Acceptor::new(cfg);
        let mut next = 0u64;
        'shards: for a in shards {
            for b in a.read_table("draws")? {
                let index = column::<UInt64Array>(&b, "draw")?;
                let outcome = column::<StringArray>(&b, "outcome")?;
                let hash = column::<StringArray>(&b, "output_hash")?;
                for i in 0..b.num_rows() {
                    let d = index.value(i);
                    if d != next {
                        bail!("synth shards: draw {d} where draw {next} was expected (shards of another config?)");
                    }
                    next += 1;
                    let done = match outcome.value(i) {
                        CANDIDATE => {
                            let want = hash.value(i);
                            // only a pair that is accepted is evaluated again
                            acc.offer_candidate(hex::decode(want)?.as_slice().try_into()?, || {
                                match draw(cfg, cfg.seed, d, grammar(ctx.loaded), &ev) {
                                    Draw::Candidate(p) if hex::encode(p.hash) == want => Ok(p),
                                    _ => bail!("synth shards: draw {d} is not the candidate its shard recorded"),
                                }
                            })?
                        }
                        reason => acc.offer(Draw::Rejected(static_reason(reason)?)),
                    };
                    if done {
                        break 'shards;
                    }
                }
            }
        }
        let out = generate_from(cfg, cfg.seed, grammar(ctx.loaded), &ev, true, acc, next)?;
        ctx.count("shards", shards.len());
        write_generated(ctx, out)
    }
    fn run(&self, ctx: &mut Ctx) -> Result<()> {
        let cfg = &ctx.loaded.config.synth;
        check(cfg)?;
        if let Some(sh) = ctx.node.shard {
            let ev = Evaluator::new(draw_limits(ctx.loaded));
            let r = sh.range(shard_draws(cfg) as usize, CHUNK as usize);
            ctx.count("shard", sh.to_string());
            ctx.count("shard_draws", format!("{}..{}", r.start, r.end));
            let draws: Vec<(u64, Draw)> = (r.start as u64..r.end as u64)
                .into_par_iter()
                .map(|i| (i, draw(cfg, cfg.seed, i, grammar(ctx.loaded), &ev)))
                .collect();
            return ctx.write_table("draws", &draws_batch(&draws)?);
        }
        let seed = cfg.seed;
        let ev = Evaluator::new(draw_limits(ctx.loaded));
        let out = match cfg.source {
            SynthSource::Random => generate(cfg, seed, grammar(ctx.loaded), &ev, true)?,
            SynthSource::Enumerate => enumerated(ctx.loaded, cfg.pairs, &HashSet::new())?,
            SynthSource::Mixed => {
                let half = cfg.pairs / 2;
                let random = SynthConfig {
                    pairs: half,
                    ..cfg.clone()
                };
                let mut out = generate(&random, seed, grammar(ctx.loaded), &ev, true)?;
                let seen: HashSet<[u8; 16]> = out.pairs.iter().map(|p| p.hash).collect();
                let e = enumerated(ctx.loaded, cfg.pairs - half, &seen)?;
                for (k, v) in e.counts {
                    *out.counts.entry(k).or_default() += v;
                }
                out.pairs.extend(e.pairs);
                // interleave the two sources, so that the validation split holds both
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x006d_6978_6564);
                rand::seq::SliceRandom::shuffle(out.pairs.as_mut_slice(), &mut rng);
                out
            }
        };
        write_generated(ctx, out)
    }
}

fn check(cfg: &SynthConfig) -> Result<()> {
    if cfg.validation > cfg.pairs {
        bail!(
            "synth.validation ({}) is larger than synth.pairs ({})",
            cfg.validation,
            cfg.pairs
        );
    }
    Ok(())
}

/// Writes the pairs (the last `synth.validation` are the validation table) and the counters.
fn write_generated(ctx: &mut Ctx, out: Generated) -> Result<()> {
    for (k, v) in &out.counts {
        ctx.count(k, *v);
    }
    let n_val = ctx.loaded.config.synth.validation;
    let n_train = out.pairs.len() - n_val;
    let (train, val) = out.pairs.split_at(n_train);
    write_pairs(&ctx.out.join("train-00000.parquet"), train)?;
    write_pairs(&ctx.out.join("validation-00000.parquet"), val)?;
    Ok(())
}

/// Draws per accepted pair that the shards of a random synth cover (here a pair took about 143
/// draws); the merge draws on where that was not enough. Changing it changes shard outputs:
/// bump the stage's version.
pub const SHARD_DRAWS_PER_PAIR: u64 = 200;

/// The draws the shards split: `pairs × SHARD_DRAWS_PER_PAIR`, in whole chunks, at most the
/// draw limit.
pub fn shard_draws(cfg: &SynthConfig) -> u64 {
    (cfg.pairs as u64)
        .saturating_mul(SHARD_DRAWS_PER_PAIR)
        .div_ceil(CHUNK)
        .saturating_mul(CHUNK)
        .min(max_draws(cfg).div_ceil(CHUNK) * CHUNK)
}

/// The draws after which synth gives up (`synth.max_draws_factor` per pair, at least a chunk).
fn max_draws(cfg: &SynthConfig) -> u64 {
    (cfg.pairs as u64)
        .saturating_mul(cfg.max_draws_factor)
        .max(CHUNK)
}

/// `outcome` of a draw that gave a candidate pair (else the rejection reason).
const CANDIDATE: &str = "candidate";

/// Rejection reasons of [`draw`] besides the evaluation errors ([`error_reason`]).
const TOO_FEW_TERMS: &str = "too_few_terms";
const DOMINANT_VALUE: &str = "dominant_value";

/// A rejection reason read back, as the static name [`draw`] gives it.
fn static_reason(name: &str) -> Result<&'static str> {
    dsl::ErrorKind::ALL
        .into_iter()
        .map(error_reason)
        .chain([TOO_FEW_TERMS, DOMINANT_VALUE])
        .find(|r| *r == name)
        .with_context(|| format!("synth shards: unknown outcome {name:?}"))
}

/// The `draws` table of a synth shard: one row per draw of its range.
fn draws_batch(draws: &[(u64, Draw)]) -> Result<RecordBatch> {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(draws.iter().map(|(i, _)| *i))),
        Arc::new(StringArray::from_iter_values(draws.iter().map(
            |(_, d)| match d {
                Draw::Candidate(_) => CANDIDATE,
                Draw::Rejected(r) => r,
            },
        ))),
        Arc::new(StringArray::from_iter(draws.iter().map(|(_, d)| match d {
            Draw::Candidate(p) => Some(hex::encode(p.hash)),
            Draw::Rejected(_) => None,
        }))),
    ];
    Ok(RecordBatch::try_new(
        Arc::new(crate::tables::draws::schema()),
        cols,
    )?)
}

/// `n` pairs from the bottom-up enumerator's distinct programs of at most `synth.enumerate_size`
/// nodes (one program per distinct output, the smallest), drawn uniformly without replacement
/// by `synth.seed`, under the paper's constraints: at most the sampler's `max_len` tokens, at
/// least `min_terms` terms, the 90% rule,
/// and an output not in `seen` (nor drawn twice: the enumerator keeps one program per output).
/// `draw` is the program's index in the enumeration.
fn enumerated(loaded: &Loaded, n: usize, seen: &HashSet<[u8; 16]>) -> Result<Generated> {
    let c = &loaded.config;
    let mut settings =
        crate::stages::enumerate::settings(&c.enumerate, crate::dsl::Dialect::Paper)?;
    settings.max_size = c.synth.enumerate_size;
    settings.inverse_size = 0;
    settings.max_seconds = 0.0;
    let limits = c.dsl.limits();
    crate::enumerator::validate(&settings, limits.input_len, c.train.input_terms)
        .map_err(|e| anyhow::anyhow!("synth.enumerate_size: {e}"))?;
    let ev = Evaluator::new(limits);
    let all = crate::enumerator::distinct(&settings, &ev, c.train.input_terms)
        .map_err(|e| anyhow::anyhow!("synth: enumerating programs: {e}"))?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(c.synth.seed ^ 0x656e_756d);
    let order = rand::seq::index::sample(&mut rng, all.len(), all.len());
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    counts.insert("enumerated_programs".into(), all.len() as u64);
    let mut pairs = Vec::with_capacity(n);
    for i in order.iter() {
        if pairs.len() == n {
            break;
        }
        let (_, program, terms) = &all[i];
        let text = dsl::format_terms(terms);
        let hash = hash_text(&text);
        let reject = if program.split_whitespace().count() > max_len(loaded) {
            Some("rejected_enumerated_too_long")
        } else if terms.len() < c.synth.min_terms {
            Some("rejected_enumerated_too_short")
        } else if dominated(terms) && rng.gen_bool(0.5) {
            Some("rejected_enumerated_dominated")
        } else if seen.contains(&hash) {
            Some("rejected_enumerated_duplicate_output")
        } else {
            None
        };
        if let Some(r) = reject {
            *counts.entry(r.into()).or_default() += 1;
            continue;
        }
        let tokens = Program::parse(program)
            .map_err(|e| anyhow::anyhow!("enumerated program {program:?}: {e}"))?
            .tokens();
        pairs.push(Pair {
            draw: i as u64,
            tokens,
            n_terms: terms.len() as u32,
            hash,
            terms: text,
        });
    }
    if pairs.len() < n {
        bail!(
            "synth: the enumerator's programs of at most synth.enumerate_size = {} nodes give only \
             {} pairs of the {n} wanted; raise synth.enumerate_size",
            c.synth.enumerate_size,
            pairs.len()
        );
    }
    counts.insert("accepted_enumerated".into(), pairs.len() as u64);
    Ok(Generated { pairs, counts })
}

/// The limits drawn programs are evaluated with: the DSL's, with `synth.max_steps` when set
/// (and smaller).
pub fn draw_limits(loaded: &Loaded) -> crate::dsl::Limits {
    let mut l = loaded.config.dsl.limits();
    let s = loaded.config.synth.max_steps;
    if s != 0 {
        l.max_steps = l.max_steps.min(s);
    }
    l
}

/// What the sampler draws from: the dialect and the length limit.
#[derive(Clone, Copy, Debug)]
pub struct Grammar {
    pub max_len: usize,
    pub dialect: crate::dsl::Dialect,
}

/// The sampler's grammar: `dsl.dialect`, and [`max_len`].
pub fn grammar(loaded: &Loaded) -> Grammar {
    Grammar {
        max_len: max_len(loaded),
        dialect: loaded.config.dsl.dialect,
    }
}

/// The sampler's length limit: `synth.max_len`, else `dsl.max_len`.
pub fn max_len(loaded: &Loaded) -> usize {
    loaded
        .config
        .synth
        .max_len
        .unwrap_or(loaded.config.dsl.max_len)
}

/// A distinct seed per meta-iteration for the baseline flavour.
pub fn mix_seed(seed: u64, iter: u32) -> u64 {
    let h = blake3::hash(format!("synth-baseline:{seed}:{iter}").as_bytes());
    u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"))
}

pub use crate::tables::pairs::{write as write_pairs, Pair};

/// Pairs in acceptance order with the count of every outcome (they add up to `draws`).
pub struct Generated {
    pub pairs: Vec<Pair>,
    pub counts: BTreeMap<String, u64>,
}

/// What one draw became, before the order-dependent uniqueness check.
enum Draw {
    Candidate(Pair),
    Rejected(&'static str),
}

/// blake3 of the whole output (its canonical comma-separated text), truncated to 128 bits.
pub fn output_hash(terms: &[Num]) -> [u8; 16] {
    hash_text(&dsl::format_terms(terms))
}

/// blake3 of an output's canonical comma-separated text, truncated to 128 bits.
pub fn hash_text(text: &str) -> [u8; 16] {
    let h = blake3::hash(text.as_bytes());
    h.as_bytes()[..16].try_into().expect("16 bytes")
}

/// Whether one value fills more than 90% of the output.
fn dominated(terms: &[Num]) -> bool {
    let mut sorted: Vec<&Num> = terms.iter().collect();
    sorted.sort_unstable();
    let (mut best, mut run) = (0, 0);
    for (i, t) in sorted.iter().enumerate() {
        run = if i > 0 && sorted[i - 1] == *t {
            run + 1
        } else {
            1
        };
        best = best.max(run);
    }
    best * 10 > terms.len() * 9
}

fn draw(cfg: &SynthConfig, seed: u64, index: u64, g: Grammar, ev: &Evaluator) -> Draw {
    let mut rng = sample::rng_for(seed, index);
    let tokens = sample::sample_tokens(&mut rng, g.max_len, g.dialect);
    let program = Program::from_tokens(&tokens).expect("sampled programs are valid");
    let terms = match ev.eval(&program) {
        Ok(t) => t,
        Err(e) => return Draw::Rejected(error_reason(e.kind)),
    };
    if terms.len() < cfg.min_terms {
        return Draw::Rejected(TOO_FEW_TERMS);
    }
    if cfg.flavour == SynthFlavour::Constrained && dominated(&terms) && rng.gen_bool(0.5) {
        return Draw::Rejected(DOMINANT_VALUE);
    }
    let text = dsl::format_terms(&terms);
    Draw::Candidate(Pair {
        draw: index,
        tokens,
        hash: hash_text(&text),
        terms: text,
        n_terms: terms.len() as u32,
    })
}

fn error_reason(k: dsl::ErrorKind) -> &'static str {
    match k {
        dsl::ErrorKind::DivByZero => "error_div_by_zero",
        dsl::ErrorKind::ModByZero => "error_mod_by_zero",
        dsl::ErrorKind::NegativeExponent => "error_negative_exponent",
        dsl::ErrorKind::NegativeSqrt => "error_negative_sqrt",
        dsl::ErrorKind::Overflow => "error_overflow",
        dsl::ErrorKind::StepLimit => "error_step_limit",
        dsl::ErrorKind::BadCount => "error_bad_count",
    }
}

/// The order-dependent part of synth: draws offered in draw order, accepted while unique, until
/// `cfg.pairs` are; counts every outcome.
pub struct Acceptor {
    pairs: Vec<Pair>,
    seen: HashSet<[u8; 16]>,
    counts: BTreeMap<String, u64>,
    draws: u64,
    want: usize,
    constrained: bool,
}

impl Acceptor {
    pub fn new(cfg: &SynthConfig) -> Acceptor {
        Acceptor {
            pairs: Vec::with_capacity(cfg.pairs),
            seen: HashSet::with_capacity(cfg.pairs),
            counts: BTreeMap::new(),
            draws: 0,
            want: cfg.pairs,
            constrained: cfg.flavour == SynthFlavour::Constrained,
        }
    }

    pub fn done(&self) -> bool {
        self.pairs.len() >= self.want
    }

    /// The next draw's outcome; true once enough pairs are accepted.
    fn offer(&mut self, d: Draw) -> bool {
        match d {
            Draw::Rejected(why) => {
                self.draws += 1;
                *self.counts.entry(format!("rejected_{why}")).or_default() += 1;
                self.done()
            }
            Draw::Candidate(p) => {
                let hash = p.hash;
                self.offer_candidate(hash, || Ok(p)).unwrap_or(true)
            }
        }
    }

    /// The next draw gave a candidate with output `hash`; `pair` makes it when it is accepted.
    fn offer_candidate(
        &mut self,
        hash: [u8; 16],
        pair: impl FnOnce() -> Result<Pair>,
    ) -> Result<bool> {
        self.draws += 1;
        if self.constrained && !self.seen.insert(hash) {
            *self
                .counts
                .entry("rejected_duplicate_output".into())
                .or_default() += 1;
        } else {
            self.pairs.push(pair()?);
        }
        Ok(self.done())
    }

    fn finish(mut self) -> Generated {
        self.counts.insert("draws".into(), self.draws);
        self.counts
            .insert("accepted".into(), self.pairs.len() as u64);
        Generated {
            pairs: self.pairs,
            counts: self.counts,
        }
    }
}

/// Draws until `cfg.pairs` pairs are accepted. Deterministic in `seed` whatever the thread count.
pub fn generate(
    cfg: &SynthConfig,
    seed: u64,
    g: Grammar,
    ev: &Evaluator,
    progress: bool,
) -> Result<Generated> {
    generate_from(cfg, seed, g, ev, progress, Acceptor::new(cfg), 0)
}

/// [`generate`] from draw `next` on, with what `acc` accepted before it.
fn generate_from(
    cfg: &SynthConfig,
    seed: u64,
    g: Grammar,
    ev: &Evaluator,
    progress: bool,
    mut acc: Acceptor,
    mut next: u64,
) -> Result<Generated> {
    let max_draws = max_draws(cfg);
    let pb = progress.then(|| crate::progress::Progress::new("synth", "pairs", cfg.pairs as u64));
    if let Some(pb) = &pb {
        pb.set(acc.pairs.len() as u64, "");
    }
    'outer: while !acc.done() {
        if next >= max_draws {
            bail!(
                "synth: only {} of {} pairs after {next} draws (synth.max_draws_factor = {}); outcomes: {:?}",
                acc.pairs.len(),
                cfg.pairs,
                cfg.max_draws_factor,
                acc.counts
            );
        }
        let chunk: Vec<Draw> = (next..next + CHUNK)
            .into_par_iter()
            .map(|i| draw(cfg, seed, i, g, ev))
            .collect();
        for d in chunk {
            let before = acc.pairs.len();
            let done = acc.offer(d);
            if let Some(pb) = &pb {
                pb.inc((acc.pairs.len() - before) as u64);
            }
            if done {
                break 'outer;
            }
        }
        next += CHUNK;
    }
    drop(pb);
    Ok(acc.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paper dialect's sampler at the default length.
    const PAPER: Grammar = Grammar {
        max_len: 48,
        dialect: crate::dsl::Dialect::Paper,
    };
    use crate::dsl::Limits;

    fn cfg(pairs: usize) -> SynthConfig {
        SynthConfig {
            pairs,
            validation: 0,
            ..SynthConfig::default()
        }
    }

    #[test]
    fn offering_a_prefix_of_draws_then_drawing_on_equals_one_run() {
        // what a merge of synth shards does: replay draws 0..k, then draw on from k
        let ev = Evaluator::new(Limits::default());
        let c = cfg(300);
        let whole = generate(&c, 4, PAPER, &ev, false).unwrap();
        let used = whole.counts["draws"];
        for k in [0, 1, used / 3, used - 1, used] {
            let mut acc = Acceptor::new(&c);
            for i in 0..k {
                if acc.offer(draw(&c, 4, i, PAPER, &ev)) {
                    break;
                }
            }
            let g = generate_from(&c, 4, PAPER, &ev, false, acc, k).unwrap();
            assert_eq!(g.pairs, whole.pairs, "split at draw {k}");
            assert_eq!(g.counts, whole.counts, "split at draw {k}");
        }
        // the shards cover whole chunks, never past the draw limit
        assert_eq!(shard_draws(&c) % CHUNK, 0);
        assert!(shard_draws(&c) >= 300 * SHARD_DRAWS_PER_PAIR);
        let capped = SynthConfig {
            max_draws_factor: 1,
            ..c.clone()
        };
        assert_eq!(shard_draws(&capped), CHUNK);
    }

    #[test]
    fn constraints_hold_and_counts_add_up() {
        let ev = Evaluator::new(Limits::default());
        let g = generate(&cfg(300), 1, PAPER, &ev, false).unwrap();
        assert_eq!(g.pairs.len(), 300);
        let hashes: HashSet<_> = g.pairs.iter().map(|p| p.hash).collect();
        assert_eq!(hashes.len(), 300, "outputs are unique");
        for p in &g.pairs {
            let terms = ev.eval(&p.program()).unwrap();
            assert_eq!(dsl::format_terms(&terms), p.terms);
            assert_eq!(output_hash(&terms), p.hash);
            assert!(terms.len() >= 3 && terms.len() == p.n_terms as usize);
        }
        let rejected: u64 = g
            .counts
            .iter()
            .filter(|(k, _)| k.starts_with("rejected_"))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(rejected + g.counts["accepted"], g.counts["draws"]);
        assert_eq!(g.pairs.last().unwrap().draw + 1, g.counts["draws"]);
    }

    #[test]
    fn enumerated_pairs_are_distinct_programs_with_their_own_outputs() {
        let ov = |size: &str| {
            vec![
                ("synth.source".to_string(), "enumerate".to_string()),
                ("synth.enumerate_size".to_string(), size.to_string()),
            ]
        };
        let loaded = crate::pipeline::config::load(
            std::path::Path::new("/nonexistent.toml"),
            false,
            &ov("4"),
        )
        .unwrap();
        let g = enumerated(&loaded, 200, &HashSet::new()).unwrap();
        assert_eq!(g.pairs.len(), 200);
        let hashes: HashSet<_> = g.pairs.iter().map(|p| p.hash).collect();
        assert_eq!(hashes.len(), 200, "outputs are unique");
        let ev = Evaluator::new(loaded.config.dsl.limits());
        for p in &g.pairs {
            let terms = ev.eval(&p.program()).unwrap();
            assert_eq!(dsl::format_terms(&terms), p.terms);
            assert!(crate::dsl::token::tokens_to_text(&p.tokens).contains("map ( lambda [ #1 ]"));
        }
        // seeded: the same draw again; outputs already seen are left out
        let again = enumerated(&loaded, 200, &HashSet::new()).unwrap();
        assert_eq!(again.pairs, g.pairs);
        let seen: HashSet<[u8; 16]> = g.pairs[..50].iter().map(|p| p.hash).collect();
        let other = enumerated(&loaded, 200, &seen).unwrap();
        assert!(other.pairs.iter().all(|p| !seen.contains(&p.hash)));
        // too few programs of one node for 200 pairs: a clear error naming the setting
        let small = crate::pipeline::config::load(
            std::path::Path::new("/nonexistent.toml"),
            false,
            &ov("1"),
        )
        .unwrap();
        let Err(e) = enumerated(&small, 200, &HashSet::new()) else {
            panic!("200 pairs from programs of one node");
        };
        let e = e.to_string();
        assert!(e.contains("synth.enumerate_size"), "{e}");
    }

    #[test]
    fn dominance_rule() {
        let t = |v: &[i64]| v.iter().map(|&x| Num::Small(x)).collect::<Vec<_>>();
        assert!(dominated(&t(&[1; 35])));
        let mut v = vec![1; 32];
        v.extend([2, 3, 4]);
        assert!(dominated(&t(&v))); // 32/35 = 91%
        let mut v = vec![1; 31];
        v.extend([2, 3, 4, 5]);
        assert!(!dominated(&t(&v))); // 31/35 = 88.6%
        let mut v = vec![1; 9];
        v.push(2);
        assert!(!dominated(&t(&v))); // exactly 90% is not more than 90%
    }

    #[test]
    fn baseline_allows_duplicates_and_differs_per_iteration() {
        assert_ne!(mix_seed(0, 1), mix_seed(0, 2));
        let ev = Evaluator::new(Limits::default());
        let c = SynthConfig {
            flavour: SynthFlavour::Baseline,
            ..cfg(400)
        };
        let g = generate(&c, 5, PAPER, &ev, false).unwrap();
        let hashes: HashSet<_> = g.pairs.iter().map(|p| p.hash).collect();
        assert!(
            hashes.len() < 400,
            "duplicates are kept in the baseline flavour"
        );
        assert!(!g.counts.contains_key("rejected_duplicate_output"));
    }
}
