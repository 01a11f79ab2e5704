//! The engine's interface to a stage: the [`Stage`] trait, what a stage's `run` gets ([`Ctx`])
//! and what its `export` gets ([`Export`]).
//!
//! A stage declares what its output depends on (the config keys it reads, its upstream nodes,
//! files outside the store) and how to compute it. The runner turns the declaration into a key
//! and runs the stage only when no artifact with that key exists. The implementations live in
//! `crate::stages` and reach the runner as a list (`stages::registry()`, handed over by `main`):
//! nothing under `pipeline/` names a stage.

use super::config::Loaded;
use super::dag::Node;
use super::store::{Artifact, Store};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// What a stage's `run` gets.
pub struct Ctx<'a> {
    pub loaded: &'a Loaded,
    pub store: &'a Store,
    pub node: Node,
    /// Upstream artifacts by node name (`ingest`, `train@6`).
    pub inputs: BTreeMap<String, Artifact>,
    /// The staging directory to write outputs into.
    pub out: &'a Path,
    /// Counts reported in the manifest (skipped lines, rejections by reason, ...).
    pub counters: BTreeMap<String, serde_json::Value>,
}

impl Ctx<'_> {
    pub fn input(&self, node: &str) -> Result<&Artifact> {
        self.inputs
            .get(node)
            .with_context(|| format!("stage {} has no input {node}", self.node))
    }

    pub fn count(&mut self, name: &str, v: impl Into<serde_json::Value>) {
        self.counters.insert(name.to_string(), v.into());
    }

    /// Writes table `name` as its first part file.
    pub fn write_table(&self, name: &str, batch: &arrow_array::RecordBatch) -> Result<()> {
        crate::tables::io::write_parquet(&self.out.join(format!("{name}-00000.parquet")), batch)
    }
}

/// One pipeline stage.
pub trait Stage: Sync {
    /// The name used on the command line and in node names.
    fn name(&self) -> &'static str;
    /// Bump when a code change changes the output for the same inputs.
    fn version(&self) -> u32;
    /// Whether the stage has one node per meta-iteration (under the given config).
    fn iterated(&self, loaded: &Loaded) -> bool;
    /// The first meta-iteration the stage has a node for (`search` starts at 1: it needs a
    /// trained policy).
    fn first_iter(&self) -> u32 {
        0
    }
    /// Refuses settings of the stage's own section that it cannot run with, naming the key
    /// (through [`Loaded::setting_error`]). Called for every stage before any stage runs, so a
    /// bad setting never costs the stages before it.
    fn check(&self, _loaded: &Loaded) -> Result<()> {
        Ok(())
    }
    /// The config values the stage reads, as JSON (only these go into its key).
    fn params(&self, loaded: &Loaded, node: &Node) -> serde_json::Value;
    /// Upstream nodes.
    fn inputs(&self, loaded: &Loaded, node: &Node) -> Vec<Node>;
    /// Digests of files outside the store that the output depends on.
    fn external(&self, _loaded: &Loaded, _store: &Store) -> Result<serde_json::Value> {
        Ok(serde_json::Value::Null)
    }
    /// Computes the output into `ctx.out`.
    fn run(&self, ctx: &mut Ctx) -> Result<()>;
    /// Whether the stage's work splits into shards (`shard=i/N`): `run` then computes the part
    /// of `ctx.node.shard`, and `merge` makes the whole node's output from its shards' outputs,
    /// byte for byte what `run` on the whole node writes.
    fn shardable(&self, _loaded: &Loaded) -> bool {
        false
    }
    /// Whether the stage wants a GPU where one is to be had (an engine's resource request).
    fn uses_gpu(&self) -> bool {
        false
    }
    /// The whole node's output from its shards' artifacts (in shard order) into `ctx.out`.
    fn merge(&self, ctx: &mut Ctx, _shards: &[Artifact]) -> Result<()> {
        anyhow::bail!("stage {} has no shards", ctx.node.stage)
    }
    /// Copies what people read (plots, CSV) out of the store after a run that asked for this
    /// node, built or cached. Most stages have nothing to export.
    fn export(&self, _export: &Export) -> Result<()> {
        Ok(())
    }
}

/// What [`Stage::export`] gets: the node's artifact, the run's config and store, and what the
/// run resolved.
pub struct Export<'a> {
    pub loaded: &'a Loaded,
    pub artifact: &'a Artifact,
    pub store: &'a Store,
    /// The config file (and whether it must exist) and the command line's overrides: what
    /// resolves the other presets (the report draws every method of the store).
    pub config_file: &'a Path,
    pub config_required: bool,
    pub overrides: &'a [(String, String)],
    /// Node → key of every node the run resolved.
    pub keys: &'a [(String, String)],
}

/// The shards whole `node` is built from, in order: its `pipeline.shards` shards when that is
/// above 1 and the stage splits under this config; none for a shard itself or an unsplit node.
/// The runner builds exactly these, and `seqsynth plan` lists exactly these.
pub fn shards_of(stage: &dyn Stage, loaded: &Loaded, node: &Node) -> Vec<Node> {
    let n = loaded.config.pipeline.shards;
    if n > 1 && node.shard.is_none() && stage.shardable(loaded) {
        node.shards(n).collect()
    } else {
        Vec::new()
    }
}

/// Every stage's [`Stage::check`] of `loaded`: the first bad setting, named.
pub fn check_all(stages: &[Box<dyn Stage>], loaded: &Loaded) -> Result<()> {
    for s in stages {
        s.check(loaded)?;
    }
    Ok(())
}
