//! `buffer`: the prioritized program buffer after meta-iteration k (DESIGN.md section 1).
//!
//! Every candidate of `verify@k` whose output x̂ has at least `buffer.min_terms` terms (the paper:
//! more than 2) enters the buffer with its own output, so the training pair x̂ → program is always
//! consistent. An *entry* is (program, target, fraction, iteration added):
//! - the target it was searched for, with the fraction of that target's window (terms 26..35)
//!   that x̂ reproduces;
//! - with hindsight, every other target it solves, with fraction 1.
//!
//! An entry's priority at iteration k is `fraction × decay^(k − added)` (the paper: decay 0.5); a
//! program's priority is the largest over its entries. Finding an entry again refreshes its
//! iteration. The buffer carries everything forward from `buffer@(k-1)`, so `buffer@k` alone
//! holds all that the loop has found.

use super::{Ctx, Stage};
use crate::pipeline::config::Loaded;
use crate::pipeline::dag::Node;
use crate::tables::io::{column, list_strings, string_lists};
use anyhow::{bail, Result};
use arrow_array::{
    Array, ArrayRef, Float64Array, ListArray, RecordBatch, StringArray, UInt32Array,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct Buffer;

impl Stage for Buffer {
    fn name(&self) -> &'static str {
        "buffer"
    }
    fn version(&self) -> u32 {
        1
    }
    fn check(&self, loaded: &Loaded) -> Result<()> {
        let d = loaded.config.buffer.decay;
        loaded.require(
            d.is_finite() && d > 0.0 && d <= 1.0,
            &["buffer.decay"],
            format!("buffer.decay must be in (0, 1], not {d}"),
        )
    }
    fn iterated(&self, _: &Loaded) -> bool {
        true
    }
    fn first_iter(&self) -> u32 {
        1
    }
    fn params(&self, loaded: &Loaded, node: &Node) -> serde_json::Value {
        let b = &loaded.config.buffer;
        json!({
            "min_terms": b.min_terms,
            "decay": b.decay,
            "iteration": node.iter,
            "verify.hindsight": loaded.config.verify.hindsight,
        })
    }
    fn inputs(&self, _: &Loaded, node: &Node) -> Vec<Node> {
        let k = node.iter.unwrap_or(1).max(1);
        let mut v = vec![Node::new("verify", Some(k))];
        if k > 1 {
            v.push(Node::new("buffer", Some(k - 1)));
        }
        v
    }
    fn run(&self, ctx: &mut Ctx) -> Result<()> {
        let k = ctx.node.iter.unwrap_or(1);
        let cfg = ctx.loaded.config.buffer.clone();
        if !(cfg.decay > 0.0 && cfg.decay <= 1.0) {
            bail!("buffer.decay must be in (0, 1], not {}", cfg.decay);
        }
        let mut buf = Contents::default();
        if k > 1 {
            buf.read(ctx.input(&format!("buffer@{}", k - 1))?)?;
        }
        let before = buf.programs.len();
        let (added, hindsight) = buf.add_verified(
            ctx.input(&format!("verify@{k}"))?,
            k,
            cfg.min_terms,
            ctx.loaded.config.verify.hindsight,
        )?;
        let programs = buf.programs.len();
        ctx.count("programs", programs);
        ctx.count("new_programs", programs - before);
        ctx.count("entries", buf.entries.len());
        ctx.count("entries_added", added);
        ctx.count("hindsight_entries_added", hindsight);
        let (prog_batch, n_positive) = buf.programs_batch(k, cfg.decay)?;
        ctx.count("programs_with_priority", n_positive);
        eprintln!(
            "buffer@{k}: {programs} programs ({} new), {n_positive} with a positive priority",
            programs - before
        );
        ctx.write_table("programs", &prog_batch)?;
        ctx.write_table("entries", &buf.entries_batch()?)
    }
}

/// An entry's state: the fraction of the target's window the program reproduces, and the last
/// iteration it was found in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Entry {
    pub fraction: f64,
    pub added: u32,
}

/// The buffer in memory, ordered by program text (then target) so its tables are deterministic.
#[derive(Default)]
pub struct Contents {
    /// program → its output x̂.
    pub programs: BTreeMap<String, Vec<String>>,
    /// (program, target) → entry.
    pub entries: BTreeMap<(String, String), Entry>,
}

impl Contents {
    /// Loads a previous buffer artifact.
    fn read(&mut self, a: &crate::pipeline::store::Artifact) -> Result<()> {
        for b in a.read_table("programs")? {
            let program = column::<StringArray>(&b, "program")?;
            let terms = column::<ListArray>(&b, "terms")?;
            for i in 0..b.num_rows() {
                self.programs
                    .insert(program.value(i).to_string(), list_strings(terms, i));
            }
        }
        for b in a.read_table("entries")? {
            let program = column::<StringArray>(&b, "program")?;
            let target = column::<StringArray>(&b, "target")?;
            let fraction = column::<Float64Array>(&b, "fraction")?;
            let added = column::<UInt32Array>(&b, "added")?;
            for i in 0..b.num_rows() {
                self.entries.insert(
                    (program.value(i).to_string(), target.value(i).to_string()),
                    Entry {
                        fraction: fraction.value(i),
                        added: added.value(i),
                    },
                );
            }
        }
        Ok(())
    }

    /// Adds (or refreshes) one entry.
    pub fn add(&mut self, program: &str, terms: &[String], target: &str, fraction: f64, k: u32) {
        self.programs
            .entry(program.to_string())
            .or_insert_with(|| terms.to_vec());
        let e = self
            .entries
            .entry((program.to_string(), target.to_string()))
            .or_insert(Entry { fraction, added: k });
        e.fraction = e.fraction.max(fraction);
        e.added = e.added.max(k);
    }

    /// Adds the executions of a verify artifact and its hindsight matches. Returns the number
    /// of entries added or refreshed, and how many of them came from hindsight. Without
    /// `hindsight` (the paper's ablation 4) only the executions enter.
    fn add_verified(
        &mut self,
        a: &crate::pipeline::store::Artifact,
        k: u32,
        min_terms: usize,
        hindsight_on: bool,
    ) -> Result<(usize, usize)> {
        let mut outputs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut n = 0;
        for b in a.read_table("executions")? {
            let id = column::<StringArray>(&b, "id")?;
            let program = column::<StringArray>(&b, "program")?;
            let error = column::<StringArray>(&b, "error")?;
            let terms = column::<ListArray>(&b, "terms")?;
            let matched = column::<UInt32Array>(&b, "matched")?;
            let positions = column::<UInt32Array>(&b, "positions")?;
            for i in 0..b.num_rows() {
                if error.is_valid(i) {
                    continue;
                }
                let t = list_strings(terms, i);
                if t.len() < min_terms {
                    continue;
                }
                let fraction = match positions.value(i) {
                    0 => 0.0,
                    p => matched.value(i) as f64 / p as f64,
                };
                self.add(program.value(i), &t, id.value(i), fraction, k);
                outputs.insert(program.value(i).to_string(), t);
                n += 1;
            }
        }
        let mut hindsight = 0;
        let solved = if hindsight_on {
            crate::stages::verify::read_solved(a)?
        } else {
            Vec::new()
        };
        for s in solved {
            if !s.hindsight {
                continue; // a direct solve is already an execution entry
            }
            let Some(t) = outputs.get(&s.program).cloned() else {
                continue; // below min_terms: a solving output always has the window
            };
            self.add(&s.program, &t, &s.id, 1.0, k);
            hindsight += 1;
            n += 1;
        }
        Ok((n, hindsight))
    }

    /// Every program's priority at iteration `k` with its best entry, in program order.
    pub fn priorities(&self, k: u32, decay: f64) -> BTreeMap<&str, (f64, &str, Entry, u32)> {
        let mut out: BTreeMap<&str, (f64, &str, Entry, u32)> = BTreeMap::new();
        for ((program, target), e) in &self.entries {
            let p = e.fraction * decay.powi(k.saturating_sub(e.added) as i32);
            let slot = out
                .entry(program.as_str())
                .or_insert((p, target.as_str(), *e, 0));
            slot.3 += 1;
            if p > slot.0 {
                slot.0 = p;
                slot.1 = target.as_str();
                slot.2 = *e;
            }
        }
        out
    }

    /// The `programs` table at iteration `k`, and how many programs have a positive priority.
    fn programs_batch(&self, k: u32, decay: f64) -> Result<(RecordBatch, usize)> {
        let pr = self.priorities(k, decay);
        let schema = crate::tables::programs::schema();
        let programs: Vec<&String> = self.programs.keys().collect();
        let get = |p: &String| pr[p.as_str()];
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                programs.iter().map(|p| p.as_str()),
            )),
            Arc::new(string_lists(
                programs.iter().map(|p| self.programs[*p].iter()),
            )),
            Arc::new(UInt32Array::from_iter_values(
                programs.iter().map(|p| self.programs[*p].len() as u32),
            )),
            Arc::new(Float64Array::from_iter_values(
                programs.iter().map(|p| get(p).0),
            )),
            Arc::new(StringArray::from_iter_values(
                programs.iter().map(|p| get(p).1),
            )),
            Arc::new(Float64Array::from_iter_values(
                programs.iter().map(|p| get(p).2.fraction),
            )),
            Arc::new(UInt32Array::from_iter_values(
                programs.iter().map(|p| get(p).2.added),
            )),
            Arc::new(UInt32Array::from_iter_values(
                programs.iter().map(|p| get(p).3),
            )),
        ];
        let positive = programs.iter().filter(|p| get(p).0 > 0.0).count();
        Ok((RecordBatch::try_new(Arc::new(schema), cols)?, positive))
    }

    /// The `entries` table.
    fn entries_batch(&self) -> Result<RecordBatch> {
        let schema = crate::tables::entries::schema();
        let e: Vec<(&(String, String), &Entry)> = self.entries.iter().collect();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                e.iter().map(|(k, _)| k.0.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                e.iter().map(|(k, _)| k.1.as_str()),
            )),
            Arc::new(Float64Array::from_iter_values(
                e.iter().map(|(_, v)| v.fraction),
            )),
            Arc::new(UInt32Array::from_iter_values(
                e.iter().map(|(_, v)| v.added),
            )),
        ];
        Ok(RecordBatch::try_new(Arc::new(schema), cols)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn priority_is_the_best_decayed_entry() {
        let mut c = Contents::default();
        let x = t(&["1", "2", "3"]);
        c.add("p", &x, "A1", 0.5, 1);
        c.add("p", &x, "A2", 1.0, 2); // hindsight solve at iteration 2
        c.add("q", &x, "A1", 0.3, 3);
        c.add("r", &x, "A3", 0.0, 3);
        let pr = c.priorities(3, 0.5);
        // p: max(0.5 * 0.25, 1.0 * 0.5) = 0.5 from A2
        assert_eq!(pr["p"].0, 0.5);
        assert_eq!(pr["p"].1, "A2");
        assert_eq!(pr["p"].3, 2);
        assert!((pr["q"].0 - 0.3).abs() < 1e-12);
        assert_eq!(pr["r"].0, 0.0);
        // finding an entry again refreshes it
        c.add("p", &x, "A1", 0.5, 3);
        assert_eq!(c.priorities(3, 0.5)["p"].0, 0.5);
        assert_eq!(c.entries[&("p".into(), "A1".into())].added, 3);
        // decay 1: no forgetting
        assert_eq!(c.priorities(10, 1.0)["p"].0, 1.0);
    }
}
