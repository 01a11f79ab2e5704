//! `mutate@k` (k ≥ 2): neighbours of what the loop has found, matched against every open target
//! up to simple transforms (`crate::mutation`).
//!
//! The parents are the programs of `buffer@(k-1)`, drawn by their priorities
//! (`mutate.parent_draw = "prioritized"`) or all alike (`"uniform"`, the control). The open
//! targets are those no program of `verify@1..k-1` solves on all known terms. Every confirmed
//! program becomes a candidate of its target, in the `candidates` schema: `verify@k` runs them
//! beside the search's and the enumerator's, so they enter `buffer@k`, and the next iteration
//! mutates them in turn.

use super::{Ctx, Stage};
use crate::dsl::{Num, Program};
use crate::mutation::{self, Settings, Targets};
use crate::pipeline::config::{LibraryFrom, Loaded, ParentDraw};
use crate::pipeline::dag::Node;
use crate::tables::candidates::Candidates;
use crate::tables::io::column;
use crate::tables::targets::read as read_targets;
use anyhow::{Context, Result};
use arrow_array::{Float64Array, StringArray};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Instant;

pub struct Mutate;

/// Whether the loop has a mutate stage under this config.
pub fn enabled(loaded: &Loaded) -> bool {
    loaded.config.mutate.rounds > 0
}

impl Stage for Mutate {
    fn name(&self) -> &'static str {
        "mutate"
    }
    fn version(&self) -> u32 {
        // 5: the policy's proposals (mutate.search); 6: the further forms (mutate.derive_more)
        // and the matching of what a round confirms, two found sequences joined (mutate.pairs,
        // mutate.convolve); 7: the found programs (parents, proposals, those joined) read with
        // dsl.max_steps, not mutate.max_steps; 8: a match's first terms patched to the target's
        8
    }
    fn check(&self, loaded: &Loaded) -> Result<()> {
        let m = &loaded.config.mutate;
        loaded.require(
            m.max_shift <= 9,
            &["mutate.max_shift"],
            format!(
                "mutate.max_shift = {} is above 9 (a shift is one digit)",
                m.max_shift
            ),
        )?;
        loaded.require(
            m.per_target >= 1,
            &["mutate.per_target"],
            "mutate.per_target must be at least 1",
        )?;
        loaded.require(
            m.max_coef >= 0 && m.max_offset >= 0,
            &["mutate.max_coef", "mutate.max_offset"],
            "mutate.max_coef and mutate.max_offset must not be negative",
        )?;
        loaded.require(
            m.max_steps >= 1,
            &["mutate.max_steps"],
            "mutate.max_steps must be at least 1",
        )
    }
    fn iterated(&self, _: &Loaded) -> bool {
        true
    }
    fn first_iter(&self) -> u32 {
        2
    }
    fn params(&self, loaded: &Loaded, node: &Node) -> serde_json::Value {
        let c = &loaded.config;
        json!({
            "mutate": c.mutate,
            "iteration": node.iter,
            "dsl.dialect": c.dsl.dialect,
            "dsl.limits": c.dsl.limits_key(),
            "verify.max_terms": c.verify.max_terms,
        })
    }
    fn inputs(&self, loaded: &Loaded, node: &Node) -> Vec<Node> {
        let k = node.iter.unwrap_or(2).max(2);
        let mut v = vec![Node::new("ingest", None), Node::new("buffer", Some(k - 1))];
        v.extend((1..k).map(|j| Node::new("verify", Some(j))));
        if loaded.config.mutate.search {
            v.push(Node::new("search", Some(k)));
        }
        v
    }
    fn run(&self, ctx: &mut Ctx) -> Result<()> {
        let started = Instant::now();
        let k = ctx.node.iter.unwrap_or(2);
        let c = ctx.loaded.config.clone();
        let m = &c.mutate;
        let records = read_targets(ctx.input("ingest")?)?;
        let ids: Vec<String> = records
            .iter()
            .map(|t| format!("A{:06}", t.number))
            .collect();
        let terms: Vec<Vec<Num>> = records
            .iter()
            .map(|t| {
                t.terms
                    .nums(c.verify.max_terms)
                    .map_err(|e| anyhow::anyhow!("target A{:06}: {e:?}", t.number))
            })
            .collect::<Result<_>>()?;
        // the held-out check: learn only from what was found for targets up to A(learn_up_to)
        let learns = |id: &str| {
            m.learn_up_to == 0 || id[1..].parse::<u64>().is_ok_and(|n| n <= m.learn_up_to)
        };
        let mut solved: BTreeSet<String> = BTreeSet::new();
        let mut solutions: BTreeSet<String> = BTreeSet::new();
        for j in 1..k {
            for s in crate::stages::verify::read_solved(ctx.input(&format!("verify@{j}"))?)? {
                if s.all_terms {
                    if learns(&s.id) {
                        solutions.insert(s.program);
                    }
                    solved.insert(s.id);
                }
            }
        }
        // open: not yet solved on all known terms
        let open: Vec<bool> = ids.iter().map(|id| !solved.contains(id)).collect();
        let targets = Targets::new(terms, open, c.dsl.input_len, m.max_shift);

        let mut parents: Vec<(Program, f64)> = Vec::new();
        let buffer = ctx.input(&format!("buffer@{}", k - 1))?;
        let mut allowed: Option<BTreeSet<String>> = None;
        if m.learn_up_to != 0 {
            let mut keep = BTreeSet::new();
            for b in buffer.read_table("entries")? {
                let p = column::<StringArray>(&b, "program")?;
                let t = column::<StringArray>(&b, "target")?;
                for i in 0..b.num_rows() {
                    if learns(t.value(i)) {
                        keep.insert(p.value(i).to_string());
                    }
                }
            }
            allowed = Some(keep);
        }
        for b in buffer.read_table("programs")? {
            let p = column::<StringArray>(&b, "program")?;
            let w = column::<Float64Array>(&b, "priority")?;
            for i in 0..b.num_rows() {
                if allowed.as_ref().is_some_and(|a| !a.contains(p.value(i))) {
                    continue;
                }
                let prog = Program::parse(p.value(i))
                    .with_context(|| format!("buffer@{} program {:?}", k - 1, p.value(i)))?;
                parents.push((prog, w.value(i)));
            }
        }
        // the policy's proposals: search@k's distinct programs, matched like the parents
        let mut proposals: Vec<Program> = Vec::new();
        if m.search {
            let cands = crate::stages::verify::read_candidates(ctx.input(&format!("search@{k}"))?)?;
            let distinct: BTreeSet<&str> = cands.iter().map(|c| c.program.as_str()).collect();
            for p in distinct {
                proposals
                    .push(Program::parse(p).with_context(|| format!("search@{k} program {p:?}"))?);
            }
        }
        let settings = Settings {
            rounds: m.rounds,
            parents: m.parents,
            per_parent: m.per_parent,
            weighted: m.parent_draw == ParentDraw::Prioritized,
            max_coef: m.max_coef,
            max_offset: m.max_offset,
            max_shift: m.max_shift,
            max_steps: m.max_steps,
            max_len: m.max_len,
            per_target: m.per_target,
            seed: m.seed ^ (u64::from(k) << 40),
            dialect: c.dsl.dialect,
            compose: m.compose,
            derive: m.derive,
            more: m.derive_more,
            pairs: m.pairs,
            convolve: m.convolve,
        };
        let solutions: Vec<Program> = solutions
            .iter()
            .map(|p| Program::parse(p).with_context(|| format!("verify program {p:?}")))
            .collect::<Result<_>>()?;
        let mut library = mutation::library(&solutions, m.library, m.library_max_size);
        if m.library_from == LibraryFrom::Random {
            let all: Vec<Program> = parents.iter().map(|(p, _)| p.clone()).collect();
            library = mutation::random_library(&all, &library, m.seed, m.library_max_size);
        }
        // the found programs two at a time: the shortest first
        let mut joined: Vec<Program> = solutions.clone();
        joined.sort_by_cached_key(|p| (p.len(), p.to_string()));
        let sources = mutation::Sources {
            parents: &parents,
            proposals: &proposals,
            found: &joined,
            library: &library,
        };
        let (found, fig) = mutation::run(
            &sources,
            &targets,
            &settings,
            &c.dsl.limits(),
            c.verify.max_terms,
        );
        let mut out = Candidates::default();
        let mut rank = 0u32;
        let mut last = u32::MAX;
        for f in &found {
            if f.target != last {
                (last, rank) = (f.target, 0);
            }
            let score = if f.all_terms { 1.0 } else { 0.0 };
            out.push(
                &ids[f.target as usize],
                rank,
                &f.program,
                score,
                f.tokens as u32,
            );
            rank += 1;
        }
        ctx.count("open_targets", targets.open_count());
        ctx.count("parents", fig.parents);
        ctx.count("mutants", fig.mutants);
        ctx.count("distinct_mutants", fig.distinct);
        ctx.count("ill_typed", fig.ill_typed);
        ctx.count("errors", fig.errors);
        ctx.count("evaluated", fig.evaluated);
        ctx.count("lookup_hits", fig.lookups_hit);
        ctx.count("confirmed", fig.confirmed);
        ctx.count("targets_all_terms", fig.all_terms);
        ctx.count("targets_prefix_only", fig.prefix_only);
        ctx.count("all_terms_by_transform", fig.by_affine);
        ctx.count("all_terms_by_shift", fig.by_shift);
        ctx.count("all_terms_by_parent", fig.by_parent);
        ctx.count("proposals", proposals.len());
        ctx.count("all_terms_by_proposal", fig.by_proposal);
        ctx.count("all_terms_by_differences", fig.by_diff);
        ctx.count("all_terms_by_partial_sums", fig.by_sum);
        for (form, n) in &fig.by_form {
            ctx.count(&format!("all_terms_by_{form}"), *n);
        }
        ctx.count(
            "all_terms_by_further_forms",
            fig.by_form.values().sum::<usize>(),
        );
        ctx.count("library_items", library.len());
        ctx.count("library_mutants", fig.library_mutants);
        ctx.count("all_terms_by_library", fig.by_library);
        ctx.count("all_terms_by_composition", fig.by_compose);
        ctx.count("composition_leaves", fig.compose_items);
        ctx.count("composition_pairs", fig.compose_pairs);
        ctx.count("all_terms_by_two_found", fig.by_pairs);
        ctx.count("all_terms_with_first_terms_patched", fig.patched);
        ctx.count("candidates", out.len());
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "mutate@{k}: {} open targets; {} parents, {} mutants ({} evaluated, {} errors); \
             {} targets on all known terms ({} by a transform, {} by a shift, {} of differences, \
             {} of partial sums, {} by a further form {:?}, {} by a parent itself, {} by one of {} policy proposals, {} by composing the library, {} by two found sequences, {} with one \
             of {} library items), {} on the first {} terms only; {secs:.1} s",
            targets.open_count(),
            fig.parents,
            fig.mutants,
            fig.evaluated,
            fig.errors,
            fig.all_terms,
            fig.by_affine,
            fig.by_shift,
            fig.by_diff,
            fig.by_sum,
            fig.by_form.values().sum::<usize>(),
            fig.by_form,
            fig.by_parent,
            fig.by_proposal,
            proposals.len(),
            fig.by_compose,
            fig.by_pairs,
            fig.by_library,
            library.len(),
            fig.prefix_only,
            c.dsl.input_len,
        );
        ctx.write_table("candidates", &out.batch()?)
    }
}
