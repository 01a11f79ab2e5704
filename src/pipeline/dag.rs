//! Nodes of the pipeline DAG: a stage, at a meta-iteration for the iterated stages.
//!
//! The DAG is unrolled over meta-iterations: `search@k` needs `train@(k-1)`, `train@k` needs
//! `sample@k`, and so on (DESIGN.md section 4). Each stage declares its own inputs through
//! `Stage::inputs`; this module names nodes and picks the default targets.

use super::stage::Stage;
use crate::pipeline::config::Loaded;
use anyhow::{bail, Result};
use std::collections::{HashMap, HashSet};
use std::fmt;

/// The largest meta-iteration a node may have (`iter=` and `loop.iterations`): resolution is
/// iterative and linear, so this bounds memory and time, not the stack.
pub const MAX_ITER: u32 = 100_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node {
    pub stage: String,
    pub iter: Option<u32>,
    /// One shard of the node's work (`search@3#2/8`: shard 2 of 8), for the stages that split
    /// (`Stage::shardable`); None: the whole node (which a run with `pipeline.shards = N` builds
    /// as the merge of its N shards, with the same bytes as built directly).
    pub shard: Option<Shard>,
}

/// Shard `index` of `count` (0 ≤ index < count).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `i/N`.
    pub fn parse(text: &str) -> Result<Shard> {
        let err = || anyhow::anyhow!("shard={text}: expected i/N with 0 <= i < N (e.g. shard=2/8)");
        let (i, n) = text.trim().split_once('/').ok_or_else(err)?;
        let (index, count): (u32, u32) = (
            i.trim().parse().map_err(|_| err())?,
            n.trim().parse().map_err(|_| err())?,
        );
        if count == 0 || index >= count {
            return Err(err());
        }
        Ok(Shard { index, count })
    }

    /// The part of `0..len` this shard owns, cut at multiples of `align` (so that, for example,
    /// a shard's search batches are the unsharded run's batches): contiguous, in order, and
    /// together the shards cover `0..len` exactly.
    pub fn range(&self, len: usize, align: usize) -> std::ops::Range<usize> {
        let align = align.max(1);
        let units = len.div_ceil(align);
        let (i, n) = (self.index as usize, self.count as usize);
        let start = (units * i / n * align).min(len);
        let end = (units * (i + 1) / n * align).min(len);
        start..end
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Node {
    pub fn new(stage: &str, iter: Option<u32>) -> Node {
        Node {
            stage: stage.to_string(),
            iter,
            shard: None,
        }
    }

    /// This node's shard `shard`.
    pub fn sharded(&self, shard: Shard) -> Node {
        Node {
            shard: Some(shard),
            ..self.clone()
        }
    }

    /// Its `count` shards, in order.
    pub fn shards(&self, count: u32) -> impl Iterator<Item = Node> + '_ {
        (0..count).map(move |index| self.sharded(Shard { index, count }))
    }

    /// The name of its ref in `refs/` (`/` is not a file name character).
    pub fn ref_name(&self) -> String {
        self.to_string().replace('/', "of")
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.iter {
            Some(k) => write!(f, "{}@{k}", self.stage)?,
            None => f.write_str(&self.stage)?,
        }
        match self.shard {
            Some(s) => write!(f, "#{s}"),
            None => Ok(()),
        }
    }
}

/// The nodes `seqsynth run` builds without `stage=`: every built stage, at every iteration
/// 0..=loop.iterations for the iterated ones, as far as every stage they depend on is built.
pub fn default_targets(stages: &[Box<dyn Stage>], loaded: &Loaded) -> Vec<Node> {
    let wanted = &loaded.config.pipeline.stages;
    let mut out = Vec::new();
    let mut memo = HashMap::new();
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
        out.extend(
            nodes
                .into_iter()
                .filter(|n| buildable(stages, loaded, n, &mut memo)),
        );
    }
    out
}

/// Whether `node` and everything it needs belong to built stages. Memoised over the nodes of
/// one resolution, so the cost is linear in the size of the DAG (the unrolled loop shares its
/// upstream nodes between iterations), and iterative, so a deep DAG cannot overflow the stack.
fn buildable(
    stages: &[Box<dyn Stage>],
    loaded: &Loaded,
    node: &Node,
    memo: &mut HashMap<Node, bool>,
) -> bool {
    let mut in_progress: HashSet<Node> = HashSet::new();
    let mut stack = vec![(node.clone(), false)];
    while let Some((n, expanded)) = stack.pop() {
        if memo.contains_key(&n) {
            continue;
        }
        let Some(stage) = stages.iter().find(|s| s.name() == n.stage) else {
            memo.insert(n, false);
            continue;
        };
        let deps = stage.inputs(loaded, &n);
        if expanded {
            // a dependency still in progress is a cycle: not buildable
            let ok = deps.iter().all(|d| memo.get(d).copied().unwrap_or(false));
            in_progress.remove(&n);
            memo.insert(n, ok);
        } else {
            in_progress.insert(n.clone());
            stack.push((n, true));
            for d in deps {
                if !memo.contains_key(&d) && !in_progress.contains(&d) {
                    stack.push((d, false));
                }
            }
        }
    }
    memo.get(node).copied().unwrap_or(false)
}

/// Every node `root` needs, itself included, with each node after all of its inputs (a
/// post-order of the DAG). Iterative, so the depth of the unrolled loop is bounded by memory,
/// not by the stack; linear in the number of nodes and edges. Fails on a node of a stage that is
/// not built, and on a cycle.
pub fn closure(stages: &[Box<dyn Stage>], loaded: &Loaded, root: &Node) -> Result<Vec<Node>> {
    closure_many(stages, loaded, std::slice::from_ref(root))
}

/// The union of the closures of `roots`, each node once, every node after its inputs: one pass
/// over the DAG, however many roots share it.
pub fn closure_many(
    stages: &[Box<dyn Stage>],
    loaded: &Loaded,
    roots: &[Node],
) -> Result<Vec<Node>> {
    // reversed, so that popping visits the inputs in their declared order
    let inputs_of = |n: &Node| -> Result<Vec<Node>> {
        let mut v = crate::pipeline::runner::find_stage(stages, &n.stage)?.inputs(loaded, n);
        v.reverse();
        Ok(v)
    };
    let mut order = Vec::new();
    // 0 = on the stack (being expanded), 1 = done
    let mut state: HashMap<Node, u8> = HashMap::new();
    for root in roots {
        if state.contains_key(root) {
            continue;
        }
        let mut stack: Vec<(Node, Vec<Node>)> = vec![(root.clone(), inputs_of(root)?)];
        state.insert(root.clone(), 0);
        while let Some((node, pending)) = stack.last_mut() {
            match pending.pop() {
                Some(dep) => match state.get(&dep) {
                    Some(1) => {}
                    Some(_) => bail!("the pipeline has a cycle through {dep} (needed by {node})"),
                    None => {
                        let deps = inputs_of(&dep)?;
                        state.insert(dep.clone(), 0);
                        stack.push((dep, deps));
                    }
                },
                None => {
                    let node = node.clone();
                    stack.pop();
                    state.insert(node.clone(), 1);
                    order.push(node);
                }
            }
        }
    }
    Ok(order)
}
