//! `sample`: the training set of `train@k`, drawn from `buffer@k` (DESIGN.md section 1).
//!
//! `sample.size` programs (the paper: 10,000) are drawn with replacement, with probability
//! proportional to their priority (`prioritized`, the paper) or all alike (`uniform`, ablation 2).
//! `fresh` is ablation 1 (no buffer): `sample.size` fresh unconstrained DSL samples per
//! iteration (the `synth` sampler with its `baseline` flavour, seeded by the iteration).
//! Each draw becomes a training pair x̂ → program, x̂ being the program's own output, written in
//! the schema of the synthetic pairs so that `train` reads both the same way. When no program
//! has a positive priority yet, the draw falls back to uniform and says so (counter
//! `uniform_fallback`). The draw is seeded by `sample.seed` and the iteration.

use super::{Ctx, Stage};
use crate::dsl::Program;
use crate::pipeline::config::{Loaded, SampleMode};
use crate::pipeline::dag::Node;
use crate::stages::synth::{hash_text, write_pairs, Pair};
use crate::tables::io::{column, list_strings};
use anyhow::{bail, Context, Result};
use arrow_array::{Float64Array, ListArray, StringArray};
use rand::distributions::{Distribution, WeightedIndex};
use serde_json::json;

pub struct Sample;

impl Stage for Sample {
    fn name(&self) -> &'static str {
        "sample"
    }
    fn version(&self) -> u32 {
        1
    }
    fn check(&self, loaded: &Loaded) -> Result<()> {
        loaded.require(
            loaded.config.sample.size >= 1,
            &["sample.size"],
            "sample.size must be at least 1 (train@k learns from that draw)",
        )
    }
    fn iterated(&self, _: &Loaded) -> bool {
        true
    }
    fn first_iter(&self) -> u32 {
        1
    }
    fn params(&self, loaded: &Loaded, node: &Node) -> serde_json::Value {
        let s = &loaded.config.sample;
        let mut p = json!({"size": s.size, "mode": s.mode, "seed": s.seed, "iteration": node.iter});
        if s.mode != SampleMode::Fresh && s.max_len != 0 {
            p["max_len"] = json!(s.max_len);
        }
        if s.mode == SampleMode::Fresh {
            // what `fresh` reads of the synth settings: it sets the count, the split, the seed
            // and the flavour itself, and `max_draws_factor` never changes what is drawn
            let c = &loaded.config;
            p["synth.min_terms"] = json!(c.synth.min_terms);
            p["max_len"] = json!(crate::stages::synth::max_len(loaded));
            p["dsl.limits"] = c.dsl.limits_key();
            if c.synth.max_steps != 0 {
                p["synth.max_steps"] = json!(c.synth.max_steps);
            }
        }
        p
    }
    fn inputs(&self, loaded: &Loaded, node: &Node) -> Vec<Node> {
        if loaded.config.sample.mode == SampleMode::Fresh {
            return vec![];
        }
        vec![Node::new("buffer", Some(node.iter.unwrap_or(1).max(1)))]
    }
    fn run(&self, ctx: &mut Ctx) -> Result<()> {
        let k = ctx.node.iter.unwrap_or(1);
        let cfg = ctx.loaded.config.sample.clone();
        if cfg.mode == SampleMode::Fresh {
            return fresh(ctx, k);
        }
        let mut programs = Vec::new();
        let mut terms = Vec::new();
        let mut priority = Vec::new();
        let mut too_long = 0usize;
        for b in ctx.input(&format!("buffer@{k}"))?.read_table("programs")? {
            let p = column::<StringArray>(&b, "program")?;
            let t = column::<ListArray>(&b, "terms")?;
            let w = column::<Float64Array>(&b, "priority")?;
            for i in 0..b.num_rows() {
                if cfg.max_len != 0 {
                    let len = Program::parse(p.value(i))
                        .with_context(|| format!("buffer@{k} program {:?}", p.value(i)))?
                        .len();
                    if len > cfg.max_len {
                        too_long += 1;
                        continue;
                    }
                }
                programs.push(p.value(i).to_string());
                terms.push(list_strings(t, i).join(","));
                priority.push(w.value(i));
            }
        }
        if programs.is_empty() {
            bail!(
                "buffer@{k} has no program to draw: no candidate of verify@{k} had an output to \
                 learn from{}",
                if too_long > 0 {
                    format!(
                        " of at most sample.max_len = {} tokens ({too_long} longer)",
                        cfg.max_len
                    )
                } else {
                    String::new()
                }
            );
        }
        ctx.count("longer_than_max_len", too_long);
        let positive = priority.iter().filter(|&&p| p > 0.0).count();
        let uniform = cfg.mode == SampleMode::Uniform || positive == 0;
        if cfg.mode == SampleMode::Prioritized && positive == 0 {
            eprintln!("sample@{k}: no program has a positive priority yet; drawing uniformly");
        }
        let weights: Vec<f64> = if uniform {
            vec![1.0; programs.len()]
        } else {
            priority.clone()
        };
        let dist = WeightedIndex::new(&weights).context("sample: bad priorities")?;
        let mut rng = crate::dsl::sample::rng_for(cfg.seed, k as u64);
        let mut pairs = Vec::with_capacity(cfg.size);
        let mut drawn = vec![0u32; programs.len()];
        for _ in 0..cfg.size {
            let i = dist.sample(&mut rng);
            drawn[i] += 1;
            let tokens = Program::parse(&programs[i])
                .with_context(|| format!("buffer@{k} program {:?}", programs[i]))?
                .tokens();
            pairs.push(Pair {
                draw: i as u64,
                tokens,
                n_terms: terms[i].split(',').filter(|s| !s.is_empty()).count() as u32,
                hash: hash_text(&terms[i]),
                terms: terms[i].clone(),
            });
        }
        ctx.count("buffer_programs", programs.len());
        ctx.count("programs_with_priority", positive);
        ctx.count(
            "uniform_fallback",
            cfg.mode == SampleMode::Prioritized && positive == 0,
        );
        ctx.count("pairs", pairs.len());
        ctx.count(
            "distinct_programs",
            drawn.iter().filter(|&&d| d > 0).count(),
        );
        write_pairs(&ctx.out.join("train-00000.parquet"), &pairs)
    }
}

/// Ablation 1: `sample.size` fresh unconstrained programs (the synth sampler's `baseline`
/// flavour: no 90% rule, no uniqueness), a new draw at every iteration.
fn fresh(ctx: &mut Ctx, k: u32) -> Result<()> {
    let loaded = ctx.loaded;
    let synth_cfg = crate::pipeline::config::SynthConfig {
        pairs: loaded.config.sample.size,
        validation: 0,
        flavour: crate::pipeline::config::SynthFlavour::Baseline,
        ..loaded.config.synth.clone()
    };
    let seed = crate::stages::synth::mix_seed(loaded.config.sample.seed ^ 0x5eed_f4e5, k);
    let ev = crate::dsl::Evaluator::new(crate::stages::synth::draw_limits(loaded));
    let out = crate::stages::synth::generate(
        &synth_cfg,
        seed,
        crate::stages::synth::grammar(loaded),
        &ev,
        true,
    )?;
    for (name, v) in &out.counts {
        ctx.count(name, *v);
    }
    ctx.count("pairs", out.pairs.len());
    write_pairs(&ctx.out.join("train-00000.parquet"), &out.pairs)
}
