//! The report across methods: every preset (DESIGN.md section 7) whose `report` node is in the
//! store under the same config and command-line overrides, drawn in one figure with a summary.
//!
//! Presets whose reports are the same artifact (one key: `random-init` is `full` until
//! `train.init` names a checkpoint) are one line labelled with both names.

use super::plot::{self, Figure, Line, PAPER, PAPER_ITERATION};
use crate::pipeline::config::Loaded;
use crate::pipeline::dag::Node;
use crate::pipeline::preset::{self, PRESETS};
use crate::pipeline::runner::{NodeStatus, Runner};
use crate::pipeline::store::{Artifact, Store};
use crate::tables::curve::Point;
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::Path;

/// One method's solve curve.
#[derive(Clone, Debug)]
pub struct Method {
    /// The preset name(s), or `this run`.
    pub label: String,
    /// The key of its report artifact.
    pub key: Option<String>,
    pub points: Vec<Point>,
    /// Targets the enumerator solves: (paper's rule, all known terms); None when the run did not
    /// verify the enumerator's candidates.
    pub enumeration: Option<(usize, usize)>,
}

/// The methods with a report in `store`: each preset's overrides, then the command line's
/// (`overrides`), over the config file, resolved without building anything.
pub fn find(
    config_file: &Path,
    required: bool,
    overrides: &[(String, String)],
    store: &Store,
) -> Result<Vec<Method>> {
    let stages = crate::stages::registry();
    let mut out: Vec<Method> = Vec::new();
    for (name, _, _) in PRESETS {
        let loaded = preset::load(config_file, required, Some(name), overrides)?;
        let mut r = Runner::new(&loaded, store, &stages);
        let NodeStatus::Cached { key, manifest } = r.status(&Node::new("report", None))? else {
            continue;
        };
        if let Some(m) = out
            .iter_mut()
            .find(|m| m.key.as_deref() == Some(key.as_str()))
        {
            m.label.push_str(", ");
            m.label.push_str(name);
            continue;
        }
        let a = Artifact {
            dir: store.object_dir(&key),
            manifest: *manifest,
        };
        out.push(of_artifact(name, &a)?);
    }
    Ok(out)
}

/// A method from its report artifact.
pub fn of_artifact(label: &str, a: &Artifact) -> Result<Method> {
    let counter = |name: &str| {
        a.manifest
            .counters
            .get(name)
            .and_then(|v| v.as_u64())
            .map(|v| v as usize)
    };
    let enumeration = match (
        counter("enumeration_solved"),
        counter("enumeration_solved_all_terms"),
    ) {
        (Some(p), Some(s)) => Some((p, s)),
        _ => None,
    };
    Ok(Method {
        label: label.to_string(),
        key: Some(a.manifest.key.clone()),
        points: crate::tables::curve::read(a)
            .with_context(|| format!("reading the curve of report {}", a.manifest.key))?,
        enumeration,
    })
}

/// The number of targets of the run (the first method's last point; 0 without any).
fn targets(methods: &[Method]) -> u32 {
    methods
        .iter()
        .flat_map(|m| m.points.last())
        .map(|p| p.targets)
        .next()
        .unwrap_or(0)
}

/// The figure of some methods: each method's line is the targets solved by programs its policy's
/// search proposed (hindsight included), which is what the paper's Figure 2 counts (it has no
/// enumerator); the enumerator's own solves are the flat line (from the first method that
/// verified them). The totals of all sources are in the summary.
pub fn figure(methods: &[Method]) -> Figure {
    let targets = targets(methods) as usize;
    let pct = |n: usize| 100.0 * n as f64 / targets.max(1) as f64;
    Figure {
        methods: methods
            .iter()
            .map(|m| Line {
                label: m.label.clone(),
                points: m
                    .points
                    .iter()
                    .map(|p| {
                        let d = p.targets.max(1) as f64;
                        let pct = |n: u32| 100.0 * n as f64 / d;
                        (
                            p.iteration,
                            pct(p.search_solved_all_terms),
                            pct(p.search_solved),
                        )
                    })
                    .collect(),
            })
            .collect(),
        enumeration: methods
            .iter()
            .find_map(|m| m.enumeration)
            .map(|(p, s)| (pct(s), pct(p))),
        targets,
    }
}

fn pct(n: u32, d: u32) -> String {
    format!("{:.2}%", 100.0 * n as f64 / d.max(1) as f64)
}

fn opt(v: Option<u32>) -> String {
    v.map_or("–".into(), |v| v.to_string())
}

/// `summary.md`: the table behind the figure, the scale of the run, and keys (`keys`: node →
/// artifact key).
pub fn summary(loaded: &Loaded, methods: &[Method], keys: &[(String, String)]) -> String {
    let c = &loaded.config;
    let mut s = String::from("# seqsynth report\n\n");
    let targets = targets(methods);
    let _ = writeln!(s, "## Scale\n");
    let _ = writeln!(
        s,
        "- DSL dialect: `{}` (`dsl.dialect`; docs/dsl.md), step budget {} (`dsl.max_steps`)",
        c.dsl.dialect.name(),
        c.dsl.max_steps
    );
    let _ = writeln!(
        s,
        "- targets: {targets} (`ingest.limit` = {}, at least {} terms)",
        c.ingest.limit, c.ingest.min_terms
    );
    let _ = writeln!(s, "- meta-iterations: {}", c.meta.iterations);
    let _ = writeln!(
        s,
        "- synthetic pairs: {} (validation {}); policy: T5 `{}`, {} epochs, then {} per iteration",
        c.synth.pairs, c.synth.validation, c.train.size, c.train.epochs, c.train.meta_epochs
    );
    let _ = writeln!(
        s,
        "- search: {}, {} beams, {} samples, `search.limit` = {} (0: every target)",
        serde_json::to_value(c.search.method)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        c.search.beams,
        c.search.samples,
        c.search.limit
    );
    let _ = writeln!(
        s,
        "- enumeration verified with the search: {} (`verify.enumerate`); enumerator up to {} nodes",
        c.verify.enumerate, c.enumerate.max_size
    );
    let _ = writeln!(
        s,
        "- solve rules (DESIGN.md section 6): **all known terms** (the program equals every known \
         term, at most `verify.max_terms` = {}) and **terms 26..35** (the paper's rule)\n",
        c.verify.max_terms
    );
    let _ = writeln!(
        s,
        "## Solve curve (cumulative, over all {targets} targets)\n"
    );
    s.push_str(
        "| method | iteration | all known terms | % | terms 26..35 | % | searched | by search (all terms / 26..35) | beyond enumeration (all terms / 26..35) |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for m in methods {
        for p in &m.points {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} |",
                m.label,
                p.iteration,
                p.cumulative_all_terms,
                pct(p.cumulative_all_terms, p.targets),
                p.cumulative,
                pct(p.cumulative, p.targets),
                p.searched,
                p.search_solved_all_terms,
                p.search_solved,
                opt(p.beyond_enumeration_all_terms),
                opt(p.beyond_enumeration),
            );
        }
    }
    if let Some((p, a)) = methods.iter().find_map(|m| m.enumeration) {
        let (p, a) = (p as u32, a as u32);
        let _ = writeln!(
            s,
            "| enumeration | – | {a} | {} | {p} | {} | – | – | – |",
            pct(a, targets),
            pct(p, targets)
        );
    }
    for (name, v) in PAPER {
        let _ = writeln!(
            s,
            "| paper: {name} | {PAPER_ITERATION} | – | – | – | {v:.1}% | – | – | – |"
        );
    }
    s.push_str(
        "\nThe paper's rows are its reported rates after 20 meta-iterations on its own 10,000 \
         targets (terms 26..35 only); they are a reference, not a run of ours.\n\n",
    );
    if methods.iter().any(|m| m.key.is_some()) {
        s.push_str("## Report artifacts\n\n| method | key |\n|---|---|\n");
        for m in methods {
            if let Some(k) = &m.key {
                let _ = writeln!(s, "| {} | `{k}` |", m.label);
            }
        }
        s.push('\n');
    }
    if !keys.is_empty() {
        s.push_str("## Keys of the run\n\n| node | key |\n|---|---|\n");
        for (n, k) in keys {
            let _ = writeln!(s, "| {n} | `{k}` |");
        }
    }
    s
}

/// Writes `figure.png`, `figure.svg` and `summary.md` for `methods` into `dir`.
pub fn write(
    dir: &Path,
    loaded: &Loaded,
    methods: &[Method],
    keys: &[(String, String)],
) -> Result<()> {
    let fig = figure(methods);
    let tmp = dir.join(".figure.tmp.png");
    plot::png(&fig, &tmp)?;
    std::fs::rename(&tmp, dir.join("figure.png"))
        .with_context(|| format!("writing {}", dir.join("figure.png").display()))?;
    crate::pipeline::store::write_file(&dir.join("figure.svg"), plot::svg(&fig)?.as_bytes())?;
    crate::pipeline::store::write_file(
        &dir.join("summary.md"),
        summary(loaded, methods, keys).as_bytes(),
    )?;
    Ok(())
}
