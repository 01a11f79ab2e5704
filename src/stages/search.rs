//! `search`: at meta-iteration k, the policy of `train@(k-1)` proposes `search.beams` programs for
//! every target by grammar-constrained beam search (`model::beam`) on ONNX Runtime.
//!
//! The policy reads the first `train.input_terms` terms of a target (the paper: 25), spelled by
//! the model's own `tokenizer.json`. Targets are decoded `search.batch` at a time; each batch
//! runs the encoder once and steps the decoder with its key/value cache over `batch × beams`
//! rows. The output lists every returned program with its rank and log-probability; whether it
//! solves anything is the `verify` stage's question.
//!
//! The execution provider (`search.device`) and the thread count are not part of the key: they
//! change how fast the same model is run, not which model. The manifest records the provider
//! that ran (`provider`).

use super::{Ctx, Stage};
use crate::dsl::token::tokens_to_text;
use crate::model::beam::{
    beam_search, sample_search, BeamConfig, Hypothesis, OnnxSteps, SampleConfig, TokenIds,
};
use crate::model::onnx::Policy;
use crate::model::tokenizer::Vocab;
use crate::pipeline::config::Loaded;
use crate::pipeline::config::SearchMethod;
use crate::pipeline::dag::Node;
use crate::pipeline::store::Artifact;
use crate::tables::targets::read as read_targets;
use anyhow::{bail, Context, Result};
use serde_json::json;

pub struct Search;

/// Whether the search leaves out the targets the enumerator solves: `search.skip_enumerated`,
/// in a loop that verifies the enumerator's candidates (`verify.enumerate`; without them there
/// is no enumerator in the loop to defer to).
pub fn skips_enumerated(loaded: &Loaded) -> bool {
    loaded.config.search.skip_enumerated && loaded.config.verify.enumerate
}

impl Stage for Search {
    fn name(&self) -> &'static str {
        "search"
    }
    fn version(&self) -> u32 {
        // 2: the header is fed in one start call and finished targets leave the batch (the same
        // programs; scores can differ in the last bits of a float)
        2
    }
    fn check(&self, loaded: &Loaded) -> Result<()> {
        let c = &loaded.config.search;
        loaded.require(
            c.beams >= 1,
            &["search.beams"],
            "search.beams must be at least 1",
        )?;
        loaded.require(
            c.batch >= 1,
            &["search.batch"],
            "search.batch must be at least 1",
        )?;
        let min = crate::dsl::State::new().min_completion();
        loaded.require(
            c.max_len >= min,
            &["search.max_len"],
            format!(
                "search.max_len must be at least {min} (the shortest program's tokens), not {}",
                c.max_len
            ),
        )?;
        if c.method == crate::pipeline::config::SearchMethod::Sample {
            loaded.require(
                c.samples >= 1,
                &["search.samples"],
                "search.samples must be at least 1",
            )?;
            loaded.require(
                c.temperature.is_finite() && c.temperature > 0.0,
                &["search.temperature"],
                format!(
                    "search.temperature must be a finite number above 0, not {}",
                    c.temperature
                ),
            )?;
        }
        Ok(())
    }
    fn uses_gpu(&self) -> bool {
        true
    }
    fn iterated(&self, _: &Loaded) -> bool {
        true
    }
    fn first_iter(&self) -> u32 {
        1
    }
    fn params(&self, loaded: &Loaded, _: &Node) -> serde_json::Value {
        let s = &loaded.config.search;
        let mut p = json!({
            "beams": s.beams,
            "max_len": s.max_len,
            "batch": s.batch,
            "limit": s.limit,
            "input_terms": loaded.config.train.input_terms,
            "provider": crate::model::onnx::expected_provider(s.device),
        });
        if skips_enumerated(loaded) {
            p["skip_enumerated"] = json!(true);
            p["dsl.limits"] = loaded.config.dsl.limits_key();
            p["window"] = json!(crate::stages::verify::window(loaded));
        }
        if s.method == SearchMethod::Sample {
            // beam search's keys stay as they were; `beams` is unused by sampling
            p["method"] = json!(s.method);
            p["samples"] = json!(s.samples);
            p["temperature"] = json!(s.temperature);
            p["seed"] = json!(s.seed);
        }
        if s.shuffle_inputs {
            p["shuffle_inputs"] = json!(true);
            p["seed"] = json!(s.seed);
        }
        p
    }
    fn inputs(&self, loaded: &Loaded, node: &Node) -> Vec<Node> {
        let k = node.iter.unwrap_or(1).max(1);
        let mut v = vec![Node::new("ingest", None), Node::new("train", Some(k - 1))];
        if skips_enumerated(loaded) {
            v.push(Node::new("enumerate", None));
        }
        v
    }
    fn shardable(&self, _: &Loaded) -> bool {
        true
    }
    /// The shards' candidates one after the other: the unsharded table, row for row.
    fn merge(&self, ctx: &mut Ctx, shards: &[Artifact]) -> Result<()> {
        let mut rows = Candidates::default();
        let mut targets = 0u64;
        for a in shards {
            rows.extend_from(a)?;
            targets += a
                .manifest
                .counters
                .get("targets")
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
        }
        let distinct: std::collections::BTreeSet<&str> =
            rows.programs().iter().map(|p| p.as_str()).collect();
        ctx.count("shards", shards.len());
        ctx.count("targets", targets);
        ctx.count("candidates", rows.len());
        ctx.count("distinct_programs", distinct.len());
        if let Some(first) = shards.first() {
            for c in ["provider", "skipped_enumerated"] {
                if let Some(v) = first.manifest.counters.get(c) {
                    ctx.count(c, v.clone());
                }
            }
        }
        ctx.write_table("candidates", &rows.batch()?)
    }
    fn run(&self, ctx: &mut Ctx) -> Result<()> {
        let k = ctx.node.iter.unwrap_or(0);
        if k == 0 {
            bail!("search starts at iteration 1 (it uses the policy of train@(k-1))");
        }
        let cfg = ctx.loaded.config.search.clone();
        if cfg.batch == 0 || (cfg.method == SearchMethod::Beam && cfg.beams == 0) {
            bail!("search.beams and search.batch must be at least 1");
        }
        let input_terms = ctx.loaded.config.train.input_terms;
        let model_dir = ctx.input(&format!("train@{}", k - 1))?.dir.clone();
        let all = read_targets(ctx.input("ingest")?)?;
        // the targets the enumerator already solves by the paper's rule are left out
        let skip = match skips_enumerated(ctx.loaded) {
            true => Some(crate::stages::verify::solved_directly(
                ctx.loaded,
                &all,
                &crate::stages::verify::read_candidates(ctx.input("enumerate")?)?,
            )?),
            false => None,
        };
        let mut targets = all;
        if cfg.limit > 0 {
            targets.truncate(cfg.limit);
        }
        if let Some(solved) = skip {
            let before = targets.len();
            targets.retain(|t| !solved.contains(&format!("A{:06}", t.number)));
            ctx.count("skipped_enumerated", before - targets.len());
        }
        // what the policy reads for each target: its own first terms, or under
        // `search.shuffle_inputs` (the control) another searched target's
        let mut feeds: Vec<Vec<String>> = targets
            .iter()
            .map(|t| {
                t.terms
                    .iter()
                    .take(input_terms)
                    .map(str::to_string)
                    .collect()
            })
            .collect();
        if cfg.shuffle_inputs {
            feeds = derange(&targets, feeds, cfg.seed);
        }
        // a shard searches its part of the targets, cut at whole batches, so that its batches
        // (and so every score, bit for bit) are the unsharded run's
        if let Some(sh) = ctx.node.shard {
            let r = sh.range(targets.len(), cfg.batch);
            ctx.count("shard", sh.to_string());
            ctx.count("shard_targets", format!("{}..{}", r.start, r.end));
            let part: Vec<_> = targets.drain(r.clone()).collect();
            targets = part;
            let part: Vec<_> = feeds.drain(r).collect();
            feeds = part;
        }
        let vocab = Vocab::load(&model_dir.join("tokenizer.json"))?;
        let threads = match cfg.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        // The tiny policies of a local run gain nothing from intra-op threads (their matrices
        // are small): each worker thread runs its own single-threaded sessions on whole batches
        // of targets. A GPU runs one worker. Batches are fixed by `search.batch` and results are
        // put back in batch order, so the output does not depend on the number of workers.
        let (policy, provider) = Policy::load_on(&model_dir, 1, cfg.device)?;
        let chunks: Vec<&[_]> = targets.chunks(cfg.batch).collect();
        let feed_chunks: Vec<&[Vec<String>]> = feeds.chunks(cfg.batch).collect();
        let workers = if provider == "cuda" { 1 } else { threads }
            .min(chunks.len())
            .max(1);
        eprintln!(
            "search@{k}: {} targets, {}, policy train@{} on {provider}, {workers} workers",
            targets.len(),
            match cfg.method {
                SearchMethod::Beam => format!("{} beams", cfg.beams),
                SearchMethod::Sample =>
                    format!("{} samples at temperature {}", cfg.samples, cfg.temperature),
            },
            k - 1
        );
        let ids = TokenIds {
            start: policy.start,
            eos: policy.eos,
            pad: vocab.pad as i64,
            dsl: vocab.dsl_ids.clone(),
            dialect: vocab.dialect,
        };
        let want = ctx.loaded.config.dsl.dialect;
        if vocab.dialect != want {
            bail!(
                "search: the policy's vocabulary is the {} dialect's, the run's (dsl.dialect) is {}",
                vocab.dialect.name(),
                want.name()
            );
        }
        let beam = BeamConfig {
            beams: cfg.beams,
            max_len: cfg.max_len,
        };
        let sampling = SampleConfig {
            samples: cfg.samples,
            temperature: cfg.temperature,
            max_len: cfg.max_len,
            seed: cfg.seed,
        };
        let started = std::time::Instant::now();
        let bar = crate::progress::Progress::new(
            &format!("search@{}", ctx.node.iter.unwrap_or(0)),
            "targets",
            targets.len() as u64,
        );
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<std::sync::Mutex<Option<Vec<Vec<Hypothesis>>>>> =
            chunks.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let mut first = Some(policy);
        let mut policies = Vec::with_capacity(workers);
        for _ in 0..workers {
            policies.push(match first.take() {
                Some(p) => p,
                None => Policy::load_on(&model_dir, 1, cfg.device)?.0,
            });
        }
        let work = |mut policy: Policy| -> Result<()> {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(chunk) = chunks.get(i) else {
                    return Ok(());
                };
                let inputs = feed_chunks[i]
                    .iter()
                    .map(|head| {
                        let head: Vec<&str> = head.iter().map(String::as_str).collect();
                        vocab.encode_terms(&head)
                    })
                    .collect::<Result<Vec<_>>>()?;
                let mut steps = OnnxSteps::new(&mut policy, &inputs, vocab.pad)?;
                let found = match cfg.method {
                    SearchMethod::Beam => beam_search(&mut steps, inputs.len(), &ids, beam),
                    SearchMethod::Sample => {
                        let streams: Vec<u64> = chunk.iter().map(|t| t.number as u64).collect();
                        sample_search(&mut steps, &streams, &ids, sampling)
                    }
                }
                .with_context(|| format!("search from A{:06}", chunk[0].number))?;
                *results[i].lock().expect("no worker panicked") = Some(found);
                bar.inc(chunk.len() as u64);
            }
        };
        std::thread::scope(|scope| -> Result<()> {
            let handles: Vec<_> = policies
                .into_iter()
                .map(|p| scope.spawn(|| work(p)))
                .collect();
            for h in handles {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a search worker panicked"))??;
            }
            Ok(())
        })?;
        let mut rows = Candidates::default();
        for (chunk, found) in chunks.iter().zip(results) {
            let found = found
                .into_inner()
                .expect("no worker panicked")
                .context("a batch was not searched")?;
            for (t, hyps) in chunk.iter().zip(found) {
                for (rank, h) in hyps.iter().enumerate() {
                    rows.push(
                        &format!("A{:06}", t.number),
                        rank as u32,
                        &tokens_to_text(&h.tokens),
                        h.score,
                        h.tokens.len() as u32,
                    );
                }
            }
        }
        bar.finish();
        let secs = started.elapsed().as_secs_f64();
        ctx.count("targets", targets.len());
        ctx.count("candidates", rows.len());
        ctx.count("provider", provider);
        ctx.count("threads", threads);
        ctx.count("workers", workers);
        let distinct: std::collections::BTreeSet<&str> =
            rows.programs().iter().map(|p| p.as_str()).collect();
        ctx.count("distinct_programs", distinct.len());
        ctx.count(
            "targets_per_second",
            (targets.len() as f64 / secs.max(1e-9) * 10.0).round() / 10.0,
        );
        ctx.write_table("candidates", &rows.batch()?)
    }
}

/// The control's inputs: the targets in a seeded order (by a hash of the seed and the A-number),
/// each given the feed of the next one in that order, the last the first's. No target keeps its
/// own (with at least two targets), and the permutation does not depend on sharding.
fn derange<T: HasNumber>(targets: &[T], feeds: Vec<Vec<String>>, seed: u64) -> Vec<Vec<String>> {
    let n = targets.len();
    if n < 2 {
        return feeds;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| {
        let h = blake3::hash(format!("{seed}:{}", targets[i].number()).as_bytes());
        (
            u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes")),
            i,
        )
    });
    let mut out = vec![Vec::new(); n];
    for (j, &i) in order.iter().enumerate() {
        out[i] = feeds[order[(j + 1) % n]].clone();
    }
    out
}

/// What [`derange`] needs of a target.
trait HasNumber {
    fn number(&self) -> u64;
}

impl HasNumber for crate::tables::targets::Record {
    fn number(&self) -> u64 {
        self.number as u64
    }
}

pub use crate::tables::candidates::Candidates;

#[cfg(test)]
mod tests {
    use super::*;

    impl HasNumber for u64 {
        fn number(&self) -> u64 {
            *self
        }
    }

    #[test]
    fn the_control_gives_every_target_another_ones_terms() {
        let targets: Vec<u64> = (1..=50).collect();
        let feeds: Vec<Vec<String>> = targets.iter().map(|t| vec![t.to_string()]).collect();
        let out = derange(&targets, feeds.clone(), 0);
        let mut seen: Vec<&Vec<String>> = out.iter().collect();
        for (i, f) in out.iter().enumerate() {
            assert_ne!(f, &feeds[i], "target {} kept its own terms", targets[i]);
        }
        seen.sort();
        let mut all: Vec<&Vec<String>> = feeds.iter().collect();
        all.sort();
        assert_eq!(seen, all, "a permutation of the feeds");
        assert_ne!(out, derange(&targets, feeds.clone(), 1), "the seed matters");
        assert_eq!(out, derange(&targets, feeds, 0), "and only the seed");
    }
}
