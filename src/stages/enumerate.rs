//! `enumerate`: candidates without a model, by bottom-up enumeration with observational
//! equivalence ([`crate::enumerator`], docs/enumerate.md).
//!
//! Every target is matched (so hindsight is free): a program is a candidate for a target when
//! its terms equal the target's on all `dsl.input_len` positions, on the window (the paper's
//! rule), or on the first `train.input_terms` terms only (a near miss, for the buffer). Per
//! target, up to `enumerate.per_target` of each kind, the shortest first.
//!
//! The output has the schema of `search` (`candidates`), with `rank` in that order and `score` =
//! −size; `levels` holds the per-size figures (also in the manifest). With
//! `verify.enumerate = true`, `verify@k` adds these candidates to `search@k`'s.

use super::{Ctx, Stage};
use crate::dsl::{Evaluator, Num, Prim};
use crate::enumerator::expr::IndexSet;
use crate::enumerator::targets::Category;
use crate::enumerator::{self, Part, Progress, Settings, ShardHit, ShardPart};
use crate::pipeline::config::{EnumerateConfig, Loaded};
use crate::pipeline::dag::Node;
use crate::pipeline::store::Artifact;
use crate::stages::search::Candidates;
use crate::tables::targets::read as read_targets;
use anyhow::{anyhow, bail, Context, Result};
use arrow_array::{ArrayRef, BooleanArray, RecordBatch, StringArray, UInt32Array, UInt64Array};
use serde_json::json;
use std::sync::Arc;

pub struct Enumerate;

/// The version of the loops dialect's families: bump it with any change of what they produce
/// (it is in the key of the loops dialect only).
const FAMILIES_VERSION: u32 = 4;

impl Stage for Enumerate {
    fn name(&self) -> &'static str {
        "enumerate"
    }
    fn version(&self) -> u32 {
        2
    }
    fn check(&self, loaded: &Loaded) -> Result<()> {
        let c = &loaded.config;
        // the messages begin with the key they are about (`enumerate.ops: ...`)
        let blame = |msg: String| {
            let key = msg
                .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '.' || ch == '_'))
                .next()
                .unwrap_or_default()
                .to_string();
            let keys: &[&str] = if key.starts_with("enumerate.") {
                &[key.as_str()]
            } else {
                &["train.input_terms", "dsl.input_len"]
            };
            loaded.setting_error(keys, msg)
        };
        let s = settings(&c.enumerate, c.dsl.dialect).map_err(|e| blame(e.to_string()))?;
        let e = c.enumerate.equivalence_len;
        if e != 0 && (e < c.dsl.input_len || e > enumerator::MAX_LEN) {
            return Err(loaded.setting_error(
                &["enumerate.equivalence_len"],
                format!(
                    "enumerate.equivalence_len must be 0 or in {}..={} (dsl.input_len..), not {e}",
                    c.dsl.input_len,
                    enumerator::MAX_LEN
                ),
            ));
        }
        enumerator::validate(&s, c.dsl.input_len, c.train.input_terms).map_err(blame)
    }
    fn iterated(&self, _: &Loaded) -> bool {
        false
    }
    fn params(&self, loaded: &Loaded, _: &Node) -> serde_json::Value {
        let c = &loaded.config;
        let mut section = loaded.section("enumerate");
        let paper = c.dsl.dialect == crate::dsl::Dialect::Paper;
        if let Some(m) = section.as_object_mut() {
            if paper {
                // the families do not run: the paper dialect's key is what it was before them
                m.remove("loops");
            }
            // 0 (the default) is what the enumerator did before the setting existed
            if c.enumerate.equivalence_len == 0 {
                m.remove("equivalence_len");
            }
            // off (the default) is what the enumerator did before the setting existed
            if !c.enumerate.deep {
                m.remove("deep");
            }
            // uniform (the default) is what the enumerator did before the setting existed
            if c.enumerate.costs.is_empty() {
                m.remove("costs");
            }
        }
        let mut p = json!({
            "enumerate": section,
            "input_terms": c.train.input_terms,
            "dsl.limits": c.dsl.limits_key(),
        });
        if !paper {
            // the families' own code version (the stage's version stays the paper dialect's)
            p["families"] = FAMILIES_VERSION.into();
            if c.enumerate.loops.fits() {
                // linrec, hyper and precur fit on every known term up to this many
                p["known_terms"] = c.verify.max_terms.into();
            }
        }
        p
    }
    fn inputs(&self, _: &Loaded, _: &Node) -> Vec<Node> {
        vec![Node::new("ingest", None)]
    }
    /// Shard i of N computes the stored levels in full, then every N-th job of the last level
    /// and the inverse step for every N-th target, and writes its matches (`matches`); the
    /// merge computes the stored levels again and takes the last level's and the inverse step's
    /// matches from the shards: the same candidates as one piece (the enumerator's `Part`).
    fn shardable(&self, _: &Loaded) -> bool {
        true
    }
    fn merge(&self, ctx: &mut Ctx, shards: &[Artifact]) -> Result<()> {
        let parts = shards
            .iter()
            .enumerate()
            .map(|(i, a)| read_part(a, i, shards.len()))
            .collect::<Result<Vec<_>>>()?;
        ctx.count("shards", shards.len());
        enumerate(ctx, Part::Merge(&parts))
    }
    fn run(&self, ctx: &mut Ctx) -> Result<()> {
        match ctx.node.shard {
            Some(sh) => enumerate(
                ctx,
                Part::Shard {
                    index: sh.index,
                    count: sh.count,
                },
            ),
            None => enumerate(ctx, Part::Whole),
        }
    }
}

/// Runs the enumerator's part `part` and writes what it gives: a shard's matches, or the whole
/// node's candidates and levels.
fn enumerate(ctx: &mut Ctx, part: Part) -> Result<()> {
    let base = ctx.loaded.config.dsl.limits();
    let split = ctx.loaded.config.train.input_terms;
    let mut settings = settings(&ctx.loaded.config.enumerate, ctx.loaded.config.dsl.dialect)?;
    enumerator::validate(&settings, base.input_len, split).map_err(|e| anyhow!(e))?;
    // vectors over the equivalence length, with the step budget verify gives that many terms
    let long = ctx
        .loaded
        .config
        .enumerate
        .equivalence_len
        .max(base.input_len);
    settings.match_len = base.input_len;
    let limits = crate::stages::verify::all_terms_limits(&base, long);
    let targets = read_targets(ctx.input("ingest")?)?;
    // the terms the vectors are matched on, and in the loops dialect with `linrec` as many as
    // verify checks (the family fits on all of them; matching reads only the first ones)
    let known = match &settings.loops {
        Some(ls) if ls.fits() => limits.input_len.max(ctx.loaded.config.verify.max_terms),
        _ => limits.input_len,
    };
    let terms: Vec<Vec<Num>> = targets
        .iter()
        .map(|t| t.terms.nums(known))
        .collect::<Result<_, _>>()
        .context("a target term is not an integer")?;
    let ev = Evaluator::new(limits);
    let bar = LevelBar::new();
    let (outcome, shard_part) =
        enumerator::enumerate_part(&settings, &ev, split, terms, &|p| bar.show(p), part)
            .map_err(|e| anyhow!(e))?;
    bar.finish();
    if let (Some(p), Some(sh)) = (shard_part, ctx.node.shard) {
        ctx.count("shard", sh.to_string());
        ctx.count("matched_size", p.size);
        ctx.count("stored_levels", p.stored.clone());
        ctx.count("evaluated", p.evaluated);
        ctx.count("errors", p.errors);
        ctx.count("new", p.new);
        ctx.count("seconds", p.seconds);
        ctx.count("inverse_found", p.inverse_found);
        ctx.count("matches", p.hits.len());
        eprintln!(
            "enumerate shard {sh}: size {} matched ({} of its expressions computed), {} matches",
            p.size,
            p.evaluated,
            p.hits.len()
        );
        return ctx.write_table("matches", &matches_batch(&p.hits)?);
    }

    let mut rows = Candidates::default();
    let mut with_candidates = 0;
    for (t, cands) in targets.iter().zip(&outcome.candidates) {
        with_candidates += usize::from(!cands.is_empty());
        let id = format!("A{:06}", t.number);
        for (rank, c) in cands.iter().enumerate() {
            let len = c.program.split_whitespace().count() as u32;
            rows.push(&id, rank as u32, &c.program, -f64::from(c.size), len);
        }
    }
    let last = outcome.levels.last();
    ctx.count("targets", targets.len());
    ctx.count("targets_with_candidates", with_candidates);
    let (window, all) = match (outcome.families.last(), &outcome.inverse, last) {
        (Some(f), _, _) => (f.solved_window, f.solved_all),
        (None, Some(i), _) => (i.solved_window, i.solved_all),
        (None, None, Some(l)) => (l.solved_window, l.solved_all),
        (None, None, None) => (0, 0),
    };
    ctx.count("solved_window", window);
    ctx.count("solved_all_terms", all);
    ctx.count("distinct_vectors", last.map_or(0, |l| l.cumulative));
    ctx.count("completed_size", outcome.completed);
    ctx.count("stop", outcome.stop.name());
    ctx.count("stop_reason", outcome.reason.clone());
    ctx.count(
        "inverse",
        serde_json::to_value(&outcome.inverse).context("the inverse step")?,
    );
    ctx.count(
        "levels",
        serde_json::to_value(&outcome.levels).context("the level table")?,
    );
    if ctx.loaded.config.dsl.dialect != crate::dsl::Dialect::Paper {
        ctx.count(
            "families",
            serde_json::to_value(&outcome.families).context("the families")?,
        );
        for f in &outcome.families {
            eprintln!(
                "enumerate: family {}: {} vectors in {:.1} s, {} matches confirmed ({} not); after it {} by the window, {} on all terms",
                f.family, f.evaluated, f.seconds, f.confirmed, f.unconfirmed, f.solved_window, f.solved_all
            );
        }
    }
    eprintln!(
        "enumerate: sizes 1..{} ({}), {} distinct vectors; candidates for {with_candidates} of {} targets: {} by the window, {} on all {} terms",
        outcome.completed,
        outcome.reason,
        last.map_or(0, |l| l.cumulative),
        targets.len(),
        window,
        all,
        ctx.loaded.config.dsl.input_len,
    );
    ctx.write_table("levels", &levels_batch(&outcome.levels)?)?;
    ctx.write_table("candidates", &rows.batch()?)
}

/// The `matches` table of a shard.
fn matches_batch(hits: &[ShardHit]) -> Result<RecordBatch> {
    let u64s = |f: &dyn Fn(&ShardHit) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(hits.iter().map(f)))
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(BooleanArray::from_iter(
            hits.iter().map(|h| Some(h.inverse)),
        )),
        Arc::new(UInt32Array::from_iter_values(hits.iter().map(|h| h.target))),
        Arc::new(StringArray::from_iter_values(
            hits.iter().map(|h| h.category.name()),
        )),
        Arc::new(UInt32Array::from_iter_values(hits.iter().map(|h| h.size))),
        u64s(&|h| (h.order >> 64) as u64),
        u64s(&|h| h.order as u64),
        u64s(&|h| (h.key >> 64) as u64),
        u64s(&|h| h.key as u64),
        Arc::new(StringArray::from_iter_values(
            hits.iter().map(|h| h.program.as_str()),
        )),
    ];
    Ok(RecordBatch::try_new(
        Arc::new(crate::tables::matches::schema()),
        cols,
    )?)
}

/// Shard `index` of `count`'s part, from its artifact: the counters of its manifest and its
/// `matches`.
fn read_part(a: &Artifact, index: usize, count: usize) -> Result<ShardPart> {
    use crate::tables::io::column;
    let where_ = || format!("enumerate shard {}", a.dir.display());
    let c = &a.manifest.counters;
    let want = format!("{index}/{count}");
    if c.get("shard").and_then(serde_json::Value::as_str) != Some(want.as_str()) {
        bail!(
            "{}: the artifact of shard {:?} where shard {want} was expected",
            where_(),
            c.get("shard")
        );
    }
    let u64_of = |name: &str| -> Result<u64> {
        c.get(name)
            .and_then(serde_json::Value::as_u64)
            .with_context(|| format!("{}: no counter {name}", where_()))
    };
    let mut hits = Vec::new();
    for b in a.read_table("matches")? {
        let inverse = column::<BooleanArray>(&b, "inverse")?;
        let target = column::<UInt32Array>(&b, "target")?;
        let category = column::<StringArray>(&b, "category")?;
        let size = column::<UInt32Array>(&b, "size")?;
        let half = |name: &str| column::<UInt64Array>(&b, name);
        let (oh, ol, kh, kl) = (
            half("order_hi")?,
            half("order_lo")?,
            half("key_hi")?,
            half("key_lo")?,
        );
        let program = column::<StringArray>(&b, "program")?;
        for i in 0..b.num_rows() {
            let wide = |h: &UInt64Array, l: &UInt64Array| {
                (u128::from(h.value(i)) << 64) | u128::from(l.value(i))
            };
            hits.push(ShardHit {
                inverse: inverse.value(i),
                target: target.value(i),
                category: Category::from_name(category.value(i)).with_context(|| {
                    format!("{}: unknown category {:?}", where_(), category.value(i))
                })?,
                size: size.value(i),
                order: wide(oh, ol),
                key: wide(kh, kl),
                program: program.value(i).to_string(),
            });
        }
    }
    Ok(ShardPart {
        stored: c
            .get("stored_levels")
            .and_then(serde_json::Value::as_str)
            .with_context(|| format!("{}: no counter stored_levels", where_()))?
            .to_string(),
        size: u32::try_from(u64_of("matched_size")?)?,
        evaluated: u64_of("evaluated")?,
        errors: u64_of("errors")?,
        new: u64_of("new")?,
        seconds: c
            .get("seconds")
            .and_then(serde_json::Value::as_f64)
            .with_context(|| format!("{}: no counter seconds", where_()))?,
        inverse_found: c.get("inverse_found").and_then(serde_json::Value::as_u64),
        hits,
    })
}

/// The enumerator's settings from the config section; names the setting that is wrong.
pub fn settings(c: &EnumerateConfig, dialect: crate::dsl::Dialect) -> Result<Settings> {
    let mut ops = Vec::new();
    for o in &c.ops {
        match Prim::from_symbol(o) {
            Some(p) if enumerator::OPS.contains(&p) => ops.push(p),
            _ => bail!(
                "enumerate.ops: {o:?} is not an integer primitive; the choices are {}",
                enumerator::OPS.map(|p| p.symbol()).join(" ")
            ),
        }
    }
    let mut folds = Vec::new();
    for f in &c.folds {
        match IndexSet::from_name(f) {
            Some(s) => folds.push(s),
            None => bail!(
                "enumerate.folds: {f:?} is not an index set; the choices are {}",
                IndexSet::ALL.map(|s| s.name()).join(" ")
            ),
        }
    }
    let mut costs = enumerator::UNIFORM;
    if !c.costs.is_empty() {
        if c.costs.len() != costs.len() {
            bail!(
                "enumerate.costs: {} costs given; it takes one per primitive of {} (in that order), or none (all 1)",
                c.costs.len(),
                enumerator::OPS.map(|p| p.symbol()).join(" ")
            );
        }
        costs.copy_from_slice(&c.costs);
    }
    if !(c.max_seconds >= 0.0 && c.max_seconds.is_finite()) {
        bail!(
            "enumerate.max_seconds must be a number of seconds >= 0 (0: no limit), not {}",
            c.max_seconds
        );
    }
    Ok(Settings {
        max_size: c.max_size,
        max_seconds: c.max_seconds,
        max_bytes: c.max_bytes,
        fold_size: c.fold_size,
        ops,
        folds,
        per_target: c.per_target,
        inverse_size: c.inverse_size,
        match_len: 0,
        costs,
        deep: c.deep,
        loops: (dialect == crate::dsl::Dialect::Loops).then(|| c.loops.clone()),
    })
}

/// The per-level table (wall times and peak memory vary between runs: they are in the manifest
/// only, so the artifact's bytes depend on the inputs alone).
fn levels_batch(levels: &[enumerator::Level]) -> Result<RecordBatch> {
    let schema = crate::tables::levels::schema();
    let u64s = |f: fn(&enumerator::Level) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(levels.iter().map(f)))
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(levels.iter().map(|l| l.size))),
        Arc::new(StringArray::from_iter_values(levels.iter().map(|l| l.mode))),
        u64s(|l| l.evaluated),
        u64s(|l| l.errors),
        u64s(|l| l.new),
        u64s(|l| l.cumulative),
        u64s(|l| l.solved_window as u64),
        u64s(|l| l.solved_all as u64),
        u64s(|l| l.store_bytes),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), cols)?)
}

/// A progress bar per level (hidden when stderr is not a terminal), and one log line per level.
struct LevelBar {
    bar: std::sync::Mutex<Option<crate::progress::Progress>>,
}

impl LevelBar {
    fn new() -> Self {
        LevelBar {
            bar: std::sync::Mutex::new(None),
        }
    }

    fn show(&self, p: Progress) {
        let mut bar = self.bar.lock().expect("the progress bar");
        match p {
            Progress::Start(size, work) => {
                *bar = Some(crate::progress::Progress::new(
                    &format!("enumerate size {size:>2}"),
                    "expressions",
                    work,
                ));
            }
            Progress::Advance(n) => {
                if let Some(b) = &*bar {
                    b.inc(n);
                }
            }
            Progress::Done(l) => {
                if let Some(b) = bar.take() {
                    b.finish();
                }
                if crate::progress::is_quiet() {
                    return;
                }
                eprintln!(
                    "enumerate: size {:>2} ({}): {} computed, {} new, {} distinct; targets {} by the window, {} on all terms; {:.1} s, store {:.0} MB",
                    l.size,
                    l.mode,
                    l.evaluated,
                    l.new,
                    l.cumulative,
                    l.solved_window,
                    l.solved_all,
                    l.seconds,
                    l.store_bytes as f64 / 1e6
                );
            }
        }
    }

    fn finish(&self) {
        if let Some(b) = self.bar.lock().expect("the progress bar").take() {
            b.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::Dialect;

    fn loaded(overrides: &[(&str, &str)]) -> Loaded {
        let o: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        crate::pipeline::config::load(std::path::Path::new("/nonexistent.toml"), false, &o).unwrap()
    }

    #[test]
    fn costs_are_checked_and_stay_out_of_the_key_when_uniform() {
        let mut c = EnumerateConfig::default();
        assert_eq!(
            settings(&c, Dialect::Loops).unwrap().costs,
            enumerator::UNIFORM
        );
        c.costs = vec![1, 2, 1, 2, 1, 2, 4, 3, 2];
        assert_eq!(
            settings(&c, Dialect::Loops).unwrap().costs,
            [1, 2, 1, 2, 1, 2, 4, 3, 2]
        );
        c.costs = vec![1, 2];
        let e = settings(&c, Dialect::Loops).unwrap_err().to_string();
        assert!(
            e.starts_with("enumerate.costs: 2 costs given") && e.contains("+ - * / % ** min"),
            "{e}"
        );
        c.costs = vec![1, 1, 1, 1, 9, 1, 1, 1, 1];
        let s = settings(&c, Dialect::Loops).unwrap();
        let e = enumerator::validate(&s, 35, 25).unwrap_err();
        assert!(e.contains("enumerate.costs") && e.contains("not 9"), "{e}");
        let nine = loaded(&[("enumerate.costs", "[1,1,1,1,9,1,1,1,1]")]);
        let e = Enumerate.check(&nine).unwrap_err().to_string();
        assert!(e.contains("enumerate.costs") && e.contains("not 9"), "{e}");

        // uniform costs leave the key as it was before the setting; others change it
        let node = Node::new("enumerate", None);
        let uniform = Enumerate.params(&loaded(&[]), &node);
        assert!(uniform["enumerate"].get("costs").is_none(), "{uniform}");
        let fitted = Enumerate.params(
            &loaded(&[("enumerate.costs", "[1,2,1,2,1,2,4,3,2]")]),
            &node,
        );
        assert_eq!(
            fitted["enumerate"]["costs"],
            json!([1, 2, 1, 2, 1, 2, 4, 3, 2])
        );
        // and the stage's check names the key
        let bad = loaded(&[("enumerate.costs", "[1,2]")]);
        let e = Enumerate.check(&bad).unwrap_err().to_string();
        assert!(e.contains("enumerate.costs"), "{e}");
    }
}
