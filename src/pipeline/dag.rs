//! Nodes of the pipeline DAG: a stage, at a meta-iteration for the iterated stages.
//!
//! The DAG is unrolled over meta-iterations: `search@k` needs `train@(k-1)`, `train@k` needs
//! `sample@k`, and so on (DESIGN.md section 4). Each stage declares its own inputs through
//! `Stage::inputs`; this module names nodes and picks the default targets.

use crate::pipeline::config::Loaded;
use crate::stages::Stage;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node {
    pub stage: String,
    pub iter: Option<u32>,
}

impl Node {
    pub fn new(stage: &str, iter: Option<u32>) -> Node {
        Node {
            stage: stage.to_string(),
            iter,
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.iter {
            Some(k) => write!(f, "{}@{k}", self.stage),
            None => f.write_str(&self.stage),
        }
    }
}

/// The nodes `seqsynth run` builds without `stage=`: every built stage, at every iteration
/// 0..=loop.iterations for the iterated ones, as far as every stage they depend on is built.
pub fn default_targets(stages: &[Box<dyn Stage>], loaded: &Loaded) -> Vec<Node> {
    let wanted = &loaded.config.pipeline.stages;
    let mut out = Vec::new();
    for s in stages {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == s.name()) {
            continue;
        }
        let nodes: Vec<Node> = if s.iterated(loaded) {
            (s.first_iter()..=loaded.config.meta.iterations)
                .map(|k| Node::new(s.name(), Some(k)))
                .collect()
        } else {
            vec![Node::new(s.name(), None)]
        };
        out.extend(nodes.into_iter().filter(|n| buildable(stages, loaded, n)));
    }
    out
}

/// Whether `node` and everything it needs belong to built stages.
fn buildable(stages: &[Box<dyn Stage>], loaded: &Loaded, node: &Node) -> bool {
    match stages.iter().find(|s| s.name() == node.stage) {
        None => false,
        Some(s) => s
            .inputs(loaded, node)
            .iter()
            .all(|d| buildable(stages, loaded, d)),
    }
}
