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
/// 0..=loop.iterations for the iterated ones.
pub fn default_targets(stages: &[Box<dyn Stage>], loaded: &Loaded) -> Vec<Node> {
    let mut out = Vec::new();
    for s in stages {
        if s.iterated(loaded) {
            for k in 0..=loaded.config.meta.iterations {
                out.push(Node::new(s.name(), Some(k)));
            }
        } else {
            out.push(Node::new(s.name(), None));
        }
    }
    out
}
