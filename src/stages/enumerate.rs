//! `enumerate`: candidates without a model, by exhaustive enumeration of short programs.
//!
//! Every well-typed program of at most `enumerate.max_len` tokens is generated through the DSL's
//! next-token automaton (shortest first, then in token order), up to `enumerate.max_programs`.
//! Programs are evaluated on `#0 = [1..L]` and kept only when their output is new
//! (observational equivalence: of programs with the same output, the shortest stands for all).
//! A program is a candidate for a target when its output equals the target's first
//! `train.input_terms` terms, the part of the sequence the policy sees; the `verify` stage then
//! judges terms 26..35, as for the policy's candidates.
//!
//! The output has the schema of `search` (`candidates`), with `score` = −length, so that a
//! shorter program ranks first. With `verify.enumerate = true`, `verify@k` adds these candidates
//! to `search@k`'s: the enumerated programs then enter the buffer too.
//!
//! Candidate generation is sequential and evaluation is parallel in fixed chunks, so the output is
//! the same for any thread count.

use super::{Ctx, Stage};
use crate::dsl::token::{tokens_to_text, Token};
use crate::dsl::{Evaluator, Program, State};
use crate::pipeline::config::Loaded;
use crate::pipeline::dag::Node;
use crate::stages::ingest::read_targets;
use crate::stages::search::Candidates;
use anyhow::{bail, Result};
use rayon::prelude::*;
use serde_json::json;
use std::collections::{HashMap, HashSet};

pub struct Enumerate;

impl Stage for Enumerate {
    fn name(&self) -> &'static str {
        "enumerate"
    }
    fn version(&self) -> u32 {
        1
    }
    fn iterated(&self, _: &Loaded) -> bool {
        false
    }
    fn params(&self, loaded: &Loaded, _: &Node) -> serde_json::Value {
        let c = &loaded.config;
        json!({
            "enumerate": loaded.section("enumerate"),
            "input_terms": c.train.input_terms,
            "dsl.limits": c.dsl.limits_key(),
        })
    }
    fn inputs(&self, _: &Loaded, _: &Node) -> Vec<Node> {
        vec![Node::new("ingest", None)]
    }
    fn run(&self, ctx: &mut Ctx) -> Result<()> {
        let cfg = ctx.loaded.config.enumerate.clone();
        let prefix = ctx.loaded.config.train.input_terms;
        if cfg.per_target == 0 {
            bail!("enumerate.per_target must be at least 1");
        }
        let programs = enumerate_programs(cfg.max_len, cfg.max_programs);
        let generated = programs.len();
        // targets by their first `prefix` terms
        let targets = read_targets(ctx.input("ingest")?)?;
        let mut by_prefix: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, t) in targets.iter().enumerate() {
            if t.terms.len() >= prefix {
                let head: Vec<&str> = t.terms.iter().take(prefix).collect();
                by_prefix.entry(head.join(",")).or_default().push(i);
            }
        }
        let ev = Evaluator::new(ctx.loaded.config.dsl.limits());
        let mut seen: HashSet<[u8; 16]> = HashSet::new();
        let mut per_target: Vec<Vec<(String, u32)>> = vec![Vec::new(); targets.len()];
        let (mut errors, mut duplicates) = (0u64, 0u64);
        for chunk in programs.chunks(4096) {
            let outputs: Vec<Option<Vec<String>>> = chunk
                .par_iter()
                .map(|tokens| {
                    let p = Program::from_tokens(tokens).expect("enumerated programs are valid");
                    ev.eval(&p)
                        .ok()
                        .map(|t| t.iter().map(|n| n.to_string()).collect())
                })
                .collect();
            for (tokens, out) in chunk.iter().zip(outputs) {
                let Some(out) = out else {
                    errors += 1;
                    continue;
                };
                if !seen.insert(crate::stages::synth::hash_text(&out.join(","))) {
                    duplicates += 1;
                    continue;
                }
                if out.len() < prefix {
                    continue;
                }
                if let Some(ts) = by_prefix.get(&out[..prefix].join(",")) {
                    for &t in ts {
                        if per_target[t].len() < cfg.per_target {
                            per_target[t].push((tokens_to_text(tokens), tokens.len() as u32));
                        }
                    }
                }
            }
        }
        let mut rows = Candidates::default();
        let mut with_candidates = 0;
        for (t, cands) in targets.iter().zip(&per_target) {
            with_candidates += usize::from(!cands.is_empty());
            for (rank, (program, len)) in cands.iter().enumerate() {
                let id = format!("A{:06}", t.number);
                rows.push(&id, rank as u32, program, -(*len as f64), *len);
            }
        }
        ctx.count("programs", generated);
        ctx.count("errors", errors);
        ctx.count("duplicate_outputs", duplicates);
        ctx.count("distinct_outputs", seen.len());
        ctx.count("targets", targets.len());
        ctx.count("targets_with_candidates", with_candidates);
        eprintln!(
            "enumerate: {generated} programs of at most {} tokens, {} distinct outputs, candidates for {with_candidates} of {} targets",
            cfg.max_len,
            seen.len(),
            targets.len()
        );
        ctx.write_table("candidates", &rows.batch()?)
    }
}

/// Every complete program of at most `max_len` tokens, shortest first and in token order within a
/// length, stopping after `limit` programs.
pub fn enumerate_programs(max_len: usize, limit: usize) -> Vec<Vec<Token>> {
    let mut out = Vec::new();
    for len in State::new().min_completion()..=max_len {
        let mut prefix = Vec::with_capacity(len);
        exactly(&State::new(), &mut prefix, len, limit, &mut out);
        if out.len() >= limit {
            break;
        }
    }
    out
}

/// Appends the programs of exactly `len` tokens that extend `prefix` (in state `s`).
fn exactly(
    s: &State,
    prefix: &mut Vec<Token>,
    len: usize,
    limit: usize,
    out: &mut Vec<Vec<Token>>,
) {
    if out.len() >= limit {
        return;
    }
    if s.is_complete() {
        if prefix.len() == len {
            out.push(prefix.clone());
        }
        return;
    }
    for t in s.allowed().iter() {
        let Some(rest) = s.completion_after(t) else {
            continue;
        };
        if s.len() + 1 + rest > len {
            continue;
        }
        let mut next = s.clone();
        next.push(t).expect("allowed token");
        prefix.push(t);
        exactly(&next, prefix, len, limit, out);
        prefix.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enumeration_is_complete_ordered_and_valid() {
        let all = enumerate_programs(20, usize::MAX);
        // shortest first, every program valid and distinct
        assert_eq!(
            tokens_to_text(&all[0]),
            "lambda [ #0 ] ( #0 )",
            "the shortest program"
        );
        for w in all.windows(2) {
            assert!(w[0].len() <= w[1].len());
        }
        let texts: HashSet<String> = all.iter().map(|p| tokens_to_text(p)).collect();
        assert_eq!(texts.len(), all.len());
        for p in &all {
            Program::from_tokens(p).unwrap();
        }
        // the same count as a free walk of the automaton (26 programs of at most 20 tokens)
        assert_eq!(all.len(), 26);
        // the limit cuts the list
        assert_eq!(enumerate_programs(30, 10).len(), 10);
        assert!(enumerate_programs(6, 100).is_empty());
    }
}
