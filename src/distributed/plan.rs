//! The plan: the nodes a run would build, in dependency order, each with its key (when its
//! inputs are built), its state, its inputs, and the `seqsynth run` arguments that build it and
//! each of its shards.

use crate::pipeline::config::Loaded;
use crate::pipeline::dag::{self, Node};
use crate::pipeline::runner::{find_stage, NodeStatus, Runner};
use crate::pipeline::stage::Stage;
use crate::pipeline::store::Store;
use anyhow::Result;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub store: PathBuf,
    /// `pipeline.shards`.
    pub shards: u32,
    pub nodes: Vec<PlanNode>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanNode {
    pub node: String,
    pub stage: String,
    pub iter: Option<u32>,
    pub shard: Option<String>,
    /// Unknown (null) until every input is built.
    pub key: Option<String>,
    /// `cached`, `to_run`, `corrupt` or `waiting` (an input is not built yet).
    pub state: &'static str,
    pub inputs: Vec<String>,
    /// Whether the node uses a GPU when there is one (train, search).
    pub gpu: bool,
    /// The node's shards, built before it (it merges them), when it is split.
    pub shards: Vec<PlanShard>,
    /// `seqsynth` arguments that build it.
    pub args: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanShard {
    pub node: String,
    pub args: Vec<String>,
}

/// The plan of building `targets` under `loaded`, resolved read-only against `store`.
/// `common` are the arguments every `seqsynth run` repeats (config, store, settings).
pub fn plan(
    loaded: &Loaded,
    store: &Store,
    stages: &[Box<dyn Stage>],
    targets: &[Node],
    common: &[String],
) -> Result<Plan> {
    let mut r = Runner::new(loaded, store, stages);
    let shards = loaded.config.pipeline.shards;
    let run_args = |n: &Node| -> Vec<String> {
        let mut v = vec!["run".to_string(), format!("stage={}", n.stage)];
        if let Some(k) = n.iter {
            v.push(format!("iter={k}"));
        }
        if let Some(sh) = n.shard {
            v.push(format!("shard={sh}"));
        }
        v.extend(common.iter().cloned());
        v
    };
    let mut nodes = Vec::new();
    for node in dag::closure_many(stages, loaded, targets)? {
        let stage = find_stage(stages, &node.stage)?;
        let (state, key) = match r.status(&node)? {
            NodeStatus::Cached { key, .. } => ("cached", Some(key)),
            NodeStatus::ToRun { key, .. } => ("to_run", Some(key)),
            NodeStatus::Corrupt { key, .. } => ("corrupt", Some(key)),
            NodeStatus::Waiting { .. } => ("waiting", None),
        };
        let shard_list = crate::pipeline::stage::shards_of(stage, loaded, &node)
            .iter()
            .map(|sh| PlanShard {
                node: sh.to_string(),
                args: run_args(sh),
            })
            .collect();
        nodes.push(PlanNode {
            node: node.to_string(),
            stage: node.stage.clone(),
            iter: node.iter,
            shard: node.shard.map(|s| s.to_string()),
            key,
            state,
            inputs: stage
                .inputs(loaded, &node)
                .iter()
                .map(|n| n.to_string())
                .collect(),
            gpu: stage.uses_gpu(),
            shards: shard_list,
            args: run_args(&node),
        });
    }
    Ok(Plan {
        store: store.root().to_path_buf(),
        shards,
        nodes,
    })
}

impl Plan {
    /// What `seqsynth plan` prints: the plan and its [`units`], which both engines schedule
    /// (Slurm through [`super::slurm`], Ray through `stages/ray/driver.py`).
    pub fn to_json(&self) -> serde_json::Result<String> {
        #[derive(Serialize)]
        struct Printed<'a> {
            #[serde(flatten)]
            plan: &'a Plan,
            units: Vec<Unit>,
        }
        serde_json::to_string_pretty(&Printed {
            plan: self,
            units: units(self),
        })
    }
}

/// A unit of work for an engine: one `seqsynth run` (a node, or one shard of one), with the
/// units it must follow.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Unit {
    pub name: String,
    pub args: Vec<String>,
    pub gpu: bool,
    /// Indices of the units it waits for.
    pub after: Vec<usize>,
}

/// The plan's work as units (cached nodes left out): each shard, then the node that merges
/// them, each after the units of its inputs.
pub fn units(plan: &Plan) -> Vec<Unit> {
    let mut out: Vec<Unit> = Vec::new();
    let mut of_node: std::collections::HashMap<&str, usize> = Default::default();
    for n in &plan.nodes {
        if n.state == "cached" {
            continue;
        }
        let deps: Vec<usize> = n
            .inputs
            .iter()
            .filter_map(|i| of_node.get(i.as_str()).copied())
            .collect();
        let mut shard_units = Vec::new();
        for s in &n.shards {
            shard_units.push(out.len());
            out.push(Unit {
                name: s.node.clone(),
                args: s.args.clone(),
                gpu: n.gpu,
                after: deps.clone(),
            });
        }
        let after = if shard_units.is_empty() {
            deps
        } else {
            shard_units
        };
        of_node.insert(&n.node, out.len());
        out.push(Unit {
            name: n.node.clone(),
            args: n.args.clone(),
            // a merge only reads its shards' outputs: no GPU
            gpu: n.gpu && n.shards.is_empty(),
            after,
        });
    }
    out
}

/// Units grouped into levels: a unit's level is one more than the highest of those it follows,
/// so every unit of a level can run at once when the levels before it are done.
pub fn levels(units: &[Unit]) -> Vec<Vec<usize>> {
    let mut level = vec![0usize; units.len()];
    for (i, u) in units.iter().enumerate() {
        level[i] = u.after.iter().map(|&d| level[d] + 1).max().unwrap_or(0);
    }
    let n = level.iter().copied().max().map_or(0, |m| m + 1);
    let mut out = vec![Vec::new(); n];
    for (i, &l) in level.iter().enumerate() {
        out[l].push(i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, state: &'static str, inputs: &[&str], shards: usize) -> PlanNode {
        PlanNode {
            node: name.into(),
            stage: name.split('@').next().unwrap().into(),
            iter: None,
            shard: None,
            key: None,
            state,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            gpu: false,
            shards: (0..shards)
                .map(|i| PlanShard {
                    node: format!("{name}#{i}/{shards}"),
                    args: vec![format!("shard={i}/{shards}")],
                })
                .collect(),
            args: vec![name.into()],
        }
    }

    #[test]
    fn units_and_levels_follow_the_dependencies() {
        let plan = Plan {
            store: "data".into(),
            shards: 2,
            nodes: vec![
                node("ingest", "cached", &[], 0),
                node("train@0", "to_run", &[], 0),
                node("search@1", "waiting", &["ingest", "train@0"], 2),
                node("enumerate", "to_run", &["ingest"], 0),
                node(
                    "verify@1",
                    "waiting",
                    &["ingest", "search@1", "enumerate"],
                    2,
                ),
            ],
        };
        let u = units(&plan);
        let names: Vec<&str> = u.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "train@0",
                "search@1#0/2",
                "search@1#1/2",
                "search@1",
                "enumerate",
                "verify@1#0/2",
                "verify@1#1/2",
                "verify@1"
            ]
        );
        assert_eq!(u[1].after, vec![0], "a shard follows the node's inputs");
        assert_eq!(u[3].after, vec![1, 2], "the merge follows its shards");
        assert_eq!(u[5].after, vec![3, 4]);
        let l = levels(&u);
        assert_eq!(
            l,
            vec![vec![0, 4], vec![1, 2], vec![3], vec![5, 6], vec![7]]
        );
    }
}
