//! The runner: resolves nodes to artifacts, building what is not cached.
//!
//! For a node it first resolves the inputs (recursively), then computes the key from the
//! stage's declaration and the inputs' content digests. A verified artifact with that key is
//! reused; otherwise the stage runs in a staging directory that is committed atomically.

use super::config::Loaded;
use super::dag::Node;
use super::key::KeyParts;
use super::stage::{Ctx, Stage};
use super::store::{Artifact, Store};
use anyhow::{anyhow, Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// What happened to one node in a run.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Cached,
    Built { secs: f64 },
}

pub struct Runner<'a> {
    pub loaded: &'a Loaded,
    pub store: &'a Store,
    pub stages: &'a [Box<dyn Stage>],
    done: HashMap<Node, Artifact>,
    /// `status` answers already computed in this run.
    statuses: HashMap<Node, NodeStatus>,
    /// Each stage's external digests, computed once per run (they depend only on the config).
    externals: std::cell::RefCell<HashMap<&'static str, serde_json::Value>>,
    /// Nodes in the order they were resolved, with what happened.
    pub log: Vec<(Node, String, Outcome)>,
    /// `status --verify`: re-hash every file of a cached artifact.
    pub verify_full: bool,
    /// Wait for a node another process is building (false: `--no-wait`, fail instead).
    pub wait: bool,
}

impl<'a> Runner<'a> {
    pub fn new(loaded: &'a Loaded, store: &'a Store, stages: &'a [Box<dyn Stage>]) -> Self {
        Runner {
            loaded,
            store,
            stages,
            done: HashMap::new(),
            statuses: HashMap::new(),
            externals: Default::default(),
            log: Vec::new(),
            verify_full: false,
            wait: true,
        }
    }

    pub fn stage(&self, name: &str) -> Result<&'a dyn Stage> {
        find_stage(self.stages, name)
    }

    /// The key parts of `node`, given artifacts for its inputs.
    pub fn key_parts(
        &self,
        stage: &dyn Stage,
        node: &Node,
        inputs: &BTreeMap<String, Artifact>,
    ) -> Result<KeyParts> {
        let parts = KeyParts {
            stage: stage.name().to_string(),
            version: stage.version(),
            params: stage.params(self.loaded, node),
            inputs: inputs
                .iter()
                .map(|(n, a)| (n.clone(), a.manifest.digest.clone()))
                .collect(),
            external: self.external(stage, node)?,
        };
        Ok(match node.shard {
            Some(sh) => parts.for_shard(sh),
            None => parts,
        })
    }

    fn external(&self, stage: &dyn Stage, node: &Node) -> Result<serde_json::Value> {
        if let Some(v) = self.externals.borrow().get(stage.name()) {
            return Ok(v.clone());
        }
        let v = stage
            .external(self.loaded, self.store)
            .with_context(|| format!("hashing the external inputs of {node}"))?;
        self.externals.borrow_mut().insert(stage.name(), v.clone());
        Ok(v)
    }

    /// Resolves `node` to an artifact, building it and its inputs as needed, inputs first (in
    /// the order of [`super::dag::closure`], so resolution never recurses).
    pub fn ensure(&mut self, node: &Node) -> Result<Artifact> {
        if let Some(a) = self.done.get(node) {
            return Ok(a.clone());
        }
        let stage = self.stage(&node.stage)?;
        let ready = stage
            .inputs(self.loaded, node)
            .iter()
            .all(|d| self.done.contains_key(d));
        if ready {
            return self.ensure_one(node);
        }
        for n in super::dag::closure(self.stages, self.loaded, node)? {
            if !self.done.contains_key(&n) {
                self.ensure_one(&n)?;
            }
        }
        Ok(self.done[node].clone())
    }

    /// The verified artifact of `key`, recorded as `node`'s, if the store has it.
    fn cached(&mut self, node: &Node, key: &str) -> Result<Option<Artifact>> {
        let Some(a) = self.store.lookup(key)? else {
            return Ok(None);
        };
        tracing::info!("{node}: cached ({})", &key[..12]);
        self.store.set_ref(&node.ref_name(), key)?;
        self.log
            .push((node.clone(), key.to_string(), Outcome::Cached));
        self.done.insert(node.clone(), a.clone());
        Ok(Some(a))
    }

    /// Resolves one node whose inputs are all resolved.
    fn ensure_one(&mut self, node: &Node) -> Result<Artifact> {
        let stage = self.stage(&node.stage)?;
        let mut inputs = BTreeMap::new();
        for dep in stage.inputs(self.loaded, node) {
            let a = self
                .done
                .get(&dep)
                .cloned()
                .context("input resolved first")?;
            inputs.insert(dep.to_string(), a);
        }
        let parts = self.key_parts(stage, node, &inputs)?;
        let key = parts.key();
        let name = node.to_string();
        let refname = node.ref_name();
        // (a lookup moves a corrupt artifact to trash/: remember that there was one)
        let mut existed = self.store.object_dir(&key).exists();
        if let Some(a) = self.cached(node, &key)? {
            return Ok(a);
        }
        // one writer per key: another process (a shard on another machine, a concurrent run)
        // building the same node is waited for, and its artifact then used
        let _node_lock = self.store.node_lock(&key, &name, self.wait)?;
        existed |= self.store.object_dir(&key).exists();
        if let Some(a) = self.cached(node, &key)? {
            return Ok(a);
        }
        // the whole node of a sharded stage, with `pipeline.shards = N`: its N shards, merged
        let shards = super::stage::shards_of(stage, self.loaded, node);
        let merge_from = if shards.is_empty() {
            None
        } else {
            let mut arts = Vec::new();
            for sh in &shards {
                arts.push(self.ensure_one(sh)?);
            }
            Some(arts)
        };
        tracing::info!("{name}: running ({})", &key[..12]);
        let why: Vec<String> = match self
            .store
            .get_ref(&refname)
            .and_then(|k| self.store.peek(&k).map(|m| (k, m)))
        {
            // (lookup has just moved a corrupt artifact with this key to trash/)
            _ if existed => vec!["its artifact was corrupt".into()],
            Some((_, old)) => parts
                .diff(&old.parts)
                .iter()
                .map(|w| w.to_string())
                .collect(),
            None => vec![super::key::DirtyReason::NeverBuilt.to_string()],
        };
        eprintln!("running {name} ({}): {}", &key[..12], why.join("; "));
        let staging = self.store.staging(&key)?;
        let start = Instant::now();
        let mut ctx = Ctx {
            loaded: self.loaded,
            store: self.store,
            node: node.clone(),
            inputs,
            out: &staging.dir,
            counters: BTreeMap::new(),
        };
        match &merge_from {
            Some(arts) => stage
                .merge(&mut ctx, arts)
                .with_context(|| format!("merging the {} shards of {name}", arts.len()))?,
            None => stage
                .run(&mut ctx)
                .with_context(|| format!("stage {name} failed"))?,
        }
        let counters = std::mem::take(&mut ctx.counters);
        fault_injection_pause(&name);
        let secs = start.elapsed().as_secs_f64();
        let a = self.store.commit(staging, &name, &parts, secs, counters)?;
        self.store.set_ref(&refname, &key)?;
        eprintln!(
            "built {name}: {} rows, {} bytes in {secs:.2}s",
            a.manifest.rows(),
            a.manifest.bytes()
        );
        self.log.push((node.clone(), key, Outcome::Built { secs }));
        self.done.insert(node.clone(), a.clone());
        Ok(a)
    }
}

/// The stage called `name` among those handed to the runner; an unknown name is an error that
/// lists them.
pub fn find_stage<'a>(stages: &'a [Box<dyn Stage>], name: &str) -> Result<&'a dyn Stage> {
    if let Some(s) = stages.iter().find(|s| s.name() == name) {
        return Ok(s.as_ref());
    }
    let names: Vec<&str> = stages.iter().map(|s| s.name()).collect();
    Err(anyhow!(
        "unknown stage {name:?} (stages: {})",
        names.join(", ")
    ))
}

/// Test hook: `SEQSYNTH_FAULT_PAUSE=<node>` sleeps after the stage has written its outputs and
/// before they are committed, so a test can `kill -9` the run at the worst moment.
fn fault_injection_pause(node: &str) {
    if std::env::var("SEQSYNTH_FAULT_PAUSE").ok().as_deref() == Some(node) {
        eprintln!("fault injection: pausing before committing {node}");
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

/// The state of a node for `seqsynth status`.
#[derive(Clone, Debug)]
pub enum NodeStatus {
    Cached {
        key: String,
        manifest: Box<super::store::Manifest>,
    },
    ToRun {
        key: String,
        why: Vec<super::key::DirtyReason>,
    },
    /// An artifact with the key exists but fails its check.
    Corrupt { key: String, why: String },
    /// An input is not built, so the key is not known yet.
    Waiting { on: String },
}

impl Runner<'_> {
    /// The status of `node` without building anything.
    pub fn status(&mut self, node: &Node) -> Result<NodeStatus> {
        if let Some(s) = self.statuses.get(node) {
            return Ok(s.clone());
        }
        let stage = self.stage(&node.stage)?;
        let ready = stage
            .inputs(self.loaded, node)
            .iter()
            .all(|d| self.statuses.contains_key(d));
        let order = if ready {
            vec![node.clone()]
        } else {
            super::dag::closure(self.stages, self.loaded, node)?
        };
        for n in order {
            if !self.statuses.contains_key(&n) {
                let s = self.compute_status(&n)?;
                self.statuses.insert(n, s);
            }
        }
        Ok(self.statuses[node].clone())
    }

    /// The status of one node whose inputs all have one.
    fn compute_status(&mut self, node: &Node) -> Result<NodeStatus> {
        let stage = self.stage(&node.stage)?;
        let mut inputs = BTreeMap::new();
        for dep in stage.inputs(self.loaded, node) {
            let st = self
                .statuses
                .get(&dep)
                .cloned()
                .context("input resolved first")?;
            match st {
                NodeStatus::Cached { key, manifest } => {
                    inputs.insert(
                        dep.to_string(),
                        Artifact {
                            dir: self.store.object_dir(&key),
                            manifest: *manifest,
                        },
                    );
                }
                _ => {
                    return Ok(NodeStatus::Waiting {
                        on: dep.to_string(),
                    })
                }
            }
        }
        let parts = self.key_parts(stage, node, &inputs)?;
        let key = parts.key();
        let checked = if self.verify_full {
            self.store.verify_full(&key)
        } else {
            self.store.peek_checked(&key)
        };
        match checked {
            Ok(Some(manifest)) => {
                return Ok(NodeStatus::Cached {
                    key,
                    manifest: Box::new(manifest),
                })
            }
            Ok(None) => {}
            Err(why) => {
                return Ok(NodeStatus::Corrupt {
                    key,
                    why: format!("{why:#}"),
                })
            }
        }
        let why = match self
            .store
            .get_ref(&node.ref_name())
            .and_then(|k| self.store.peek(&k))
        {
            Some(old) => parts.diff(&old.parts),
            None => vec![super::key::DirtyReason::NeverBuilt],
        };
        Ok(NodeStatus::ToRun { key, why })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::config;
    use std::path::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// `up` writes seed / 2 (so seeds 2 and 3 give identical bytes); `down` copies it.
    struct Fake {
        name: &'static str,
        input: Option<&'static str>,
        runs: Arc<AtomicUsize>,
    }

    impl Stage for Fake {
        fn name(&self) -> &'static str {
            self.name
        }
        fn version(&self) -> u32 {
            1
        }
        fn iterated(&self, _: &Loaded) -> bool {
            false
        }
        fn params(&self, l: &Loaded, _: &Node) -> serde_json::Value {
            match self.input {
                None => serde_json::json!({ "seed": l.config.synth.seed }),
                Some(_) => serde_json::Value::Null,
            }
        }
        fn inputs(&self, _: &Loaded, _: &Node) -> Vec<Node> {
            self.input.iter().map(|n| Node::new(n, None)).collect()
        }
        fn run(&self, ctx: &mut Ctx) -> Result<()> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            let text = match self.input {
                None => format!("{}", ctx.loaded.config.synth.seed / 2),
                Some(n) => std::fs::read_to_string(ctx.input(n)?.dir.join("out.txt"))?,
            };
            std::fs::write(ctx.out.join("out.txt"), text)?;
            Ok(())
        }
    }

    /// The two fake stages and their run counters.
    fn fakes() -> (Vec<Box<dyn Stage>>, [Arc<AtomicUsize>; 2]) {
        let counters = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
        let stages: Vec<Box<dyn Stage>> = vec![
            Box::new(Fake {
                name: "up",
                input: None,
                runs: counters[0].clone(),
            }),
            Box::new(Fake {
                name: "down",
                input: Some("up"),
                runs: counters[1].clone(),
            }),
        ];
        (stages, counters)
    }

    fn runs(c: &[Arc<AtomicUsize>; 2]) -> (usize, usize) {
        (c[0].load(Ordering::SeqCst), c[1].load(Ordering::SeqCst))
    }

    fn build(store: &Store, stages: &[Box<dyn Stage>], seed: u64) {
        let loaded = config::load(
            Path::new("/nonexistent/pipeline.toml"),
            false,
            &[("synth.seed".into(), seed.to_string())],
        )
        .unwrap();
        let mut r = Runner::new(&loaded, store, stages);
        r.ensure(&Node::new("down", None)).unwrap();
    }

    #[test]
    fn early_cutoff_keeps_downstream_cached() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (stages, c) = fakes();
        build(&store, &stages, 2);
        assert_eq!(runs(&c), (1, 1));
        // seed 3: `up` reruns but writes the same bytes, so `down` stays cached
        build(&store, &stages, 3);
        assert_eq!(runs(&c), (2, 1));
        // seed 4: different bytes, both rerun
        build(&store, &stages, 4);
        assert_eq!(runs(&c), (3, 2));
        // back to seed 2: everything cached
        build(&store, &stages, 2);
        assert_eq!(runs(&c), (3, 2));
    }

    #[test]
    fn failed_stage_leaves_no_artifact() {
        struct Failing;
        impl Stage for Failing {
            fn name(&self) -> &'static str {
                "failing"
            }
            fn version(&self) -> u32 {
                1
            }
            fn iterated(&self, _: &Loaded) -> bool {
                false
            }
            fn params(&self, _: &Loaded, _: &Node) -> serde_json::Value {
                serde_json::Value::Null
            }
            fn inputs(&self, _: &Loaded, _: &Node) -> Vec<Node> {
                vec![]
            }
            fn run(&self, ctx: &mut Ctx) -> Result<()> {
                std::fs::write(ctx.out.join("half.txt"), "partial")?;
                anyhow::bail!("boom")
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let stages: Vec<Box<dyn Stage>> = vec![Box::new(Failing)];
        let loaded = config::load(Path::new("/nonexistent/p.toml"), false, &[]).unwrap();
        let mut r = Runner::new(&loaded, &store, &stages);
        let e = r.ensure(&Node::new("failing", None)).unwrap_err();
        assert!(format!("{e:#}").contains("stage failing failed: boom"));
        assert_eq!(
            std::fs::read_dir(dir.path().join("objects"))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }
}
