//! Stage keys: cargo-style fingerprints of everything that can change a stage's output.
//!
//! | piece | what | why |
//! |---|---|---|
//! | `stage` | the stage name | two stages never share outputs |
//! | `version` | the stage's code version | bumped when the code changes its output |
//! | `params` | the config keys the stage declares it reads, as canonical JSON | an edit of an unrelated key invalidates nothing |
//! | `inputs` | the content digest of each upstream artifact, by node | a dirty input makes dependents dirty; identical bytes upstream keep them cached (early cutoff) |
//! | `external` | digests of files outside the store (OEIS sources, stage programs) | the data itself, not where it lies |
//!
//! Left out on purpose: mtimes (they change on copy and checkout), absolute paths (moving the
//! project must keep its cache), thread counts (outputs do not depend on them, except a CPU
//! training's: the train stage puts its thread count and kernel set in `external`), and the
//! meta iteration number unless a stage's output depends on it (then it is in `params`).
//!
//! The key is blake3 over the canonical JSON of [`KeyParts`] (objects with sorted keys). The parts
//! are stored beside the artifact as `key.json`, so `seqsynth status` can say why a stage is stale.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Sorts the keys of every object in `v`, recursively.
pub fn sort_keys(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(m).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, mut val) in entries {
                sort_keys(&mut val);
                m.insert(k, val);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KeyParts {
    pub stage: String,
    pub version: u32,
    pub params: Value,
    pub inputs: BTreeMap<String, String>,
    pub external: Value,
}

impl KeyParts {
    /// The canonical serialization: JSON with every object's keys sorted. Sorted explicitly,
    /// not by relying on serde_json's map type: a dependency can switch serde_json to
    /// insertion order (`preserve_order`, which polars enables), and a key must not depend on
    /// the order a stage happened to build its params in.
    pub fn canonical(&self) -> String {
        // the struct's own fields keep their order (stage, version, params, inputs, external)
        let mut sorted = self.clone();
        sort_keys(&mut sorted.params);
        sort_keys(&mut sorted.external);
        serde_json::to_string(&sorted).expect("key parts serialize")
    }

    /// The key parts of shard `shard` of the node these parts are for: a shard is a node of its
    /// own, with the whole node's params plus which part it is.
    pub fn for_shard(mut self, shard: crate::pipeline::dag::Shard) -> KeyParts {
        self.params =
            serde_json::json!({"params": self.params, "shard": [shard.index, shard.count]});
        self
    }

    /// The parts of the whole node, when these are a shard's ([`KeyParts::for_shard`]).
    pub fn whole(&self) -> Option<KeyParts> {
        let obj = self.params.as_object()?;
        if obj.len() != 2 || !obj.contains_key("shard") {
            return None;
        }
        Some(KeyParts {
            params: obj.get("params")?.clone(),
            ..self.clone()
        })
    }

    /// The key: blake3 hex of the canonical JSON.
    pub fn key(&self) -> String {
        blake3::hash(self.canonical().as_bytes())
            .to_hex()
            .to_string()
    }

    /// Why `self` (the current parts) differs from `old` (the parts of the last build): one
    /// reason per difference, in a stable order (like cargo's `DirtyReason`).
    pub fn diff(&self, old: &KeyParts) -> Vec<DirtyReason> {
        let mut out = Vec::new();
        if self.version != old.version {
            out.push(DirtyReason::CodeVersion {
                from: old.version,
                to: self.version,
            });
        }
        let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
        flatten("", &old.params, &mut a);
        flatten("", &self.params, &mut b);
        for k in a
            .keys()
            .chain(b.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            let (va, vb) = (a.get(k), b.get(k));
            if va != vb {
                out.push(DirtyReason::Setting {
                    key: k.clone(),
                    from: va.cloned(),
                    to: vb.cloned(),
                });
            }
        }
        for (name, d) in &self.inputs {
            match old.inputs.get(name) {
                Some(o) if o == d => {}
                Some(_) => out.push(DirtyReason::InputChanged(name.clone())),
                None => out.push(DirtyReason::InputAdded(name.clone())),
            }
        }
        for name in old.inputs.keys() {
            if !self.inputs.contains_key(name) {
                out.push(DirtyReason::InputRemoved(name.clone()));
            }
        }
        if self.external != old.external {
            let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
            flatten("", &old.external, &mut a);
            flatten("", &self.external, &mut b);
            let changed: Vec<String> = a
                .keys()
                .chain(b.keys())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .filter(|k| !k.is_empty() && a.get(*k) != b.get(*k))
                .cloned()
                .collect();
            out.push(DirtyReason::ExternalChanged(changed));
        }
        out
    }
}

/// Why a node must be rebuilt: what differs between its key now and the key of its last build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirtyReason {
    /// No build of this node is recorded.
    NeverBuilt,
    /// The stage's code version was bumped.
    CodeVersion {
        from: u32,
        to: u32,
    },
    /// A declared setting changed (values as canonical JSON; `None`: unset).
    Setting {
        key: String,
        from: Option<String>,
        to: Option<String>,
    },
    /// An upstream artifact has other bytes.
    InputChanged(String),
    InputAdded(String),
    InputRemoved(String),
    /// Files outside the store (OEIS sources, stage programs, the trainer's environment): the
    /// paths of the changed entries.
    ExternalChanged(Vec<String>),
}

impl std::fmt::Display for DirtyReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".into());
        match self {
            DirtyReason::NeverBuilt => f.write_str("never built"),
            DirtyReason::CodeVersion { from, to } => write!(f, "code version {from} → {to}"),
            DirtyReason::Setting { key, from, to } => {
                write!(f, "{key} {} → {}", show(from), show(to))
            }
            DirtyReason::InputChanged(n) => write!(f, "input {n} changed"),
            DirtyReason::InputAdded(n) => write!(f, "new input {n}"),
            DirtyReason::InputRemoved(n) => write!(f, "input {n} removed"),
            DirtyReason::ExternalChanged(v) if v.is_empty() => {
                f.write_str("external files changed")
            }
            DirtyReason::ExternalChanged(v) => write!(f, "external changed: {}", v.join(", ")),
        }
    }
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        _ => {
            out.insert(prefix.to_string(), v.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_do_not_depend_on_the_order_objects_were_built_in() {
        let mut a = serde_json::Map::new();
        a.insert("zeta".into(), json!(1));
        a.insert("alpha".into(), json!({"y": 2, "b": [ {"q": 1, "c": 2} ]}));
        let mut b = serde_json::Map::new();
        b.insert("alpha".into(), json!({"b": [ {"c": 2, "q": 1} ], "y": 2}));
        b.insert("zeta".into(), json!(1));
        let with = |params: serde_json::Map<String, Value>| KeyParts {
            params: Value::Object(params),
            ..parts(10)
        };
        assert_eq!(with(a).key(), with(b).key());
        // the canonical text has sorted keys: the keys of stores made before serde_json's
        // preserve_order was switched on by a dependency stay valid
        assert_eq!(
            parts(10).canonical(),
            r#"{"stage":"search","version":1,"params":{"search":{"batch":8,"beams":10}},"inputs":{"train@6":"abc"},"external":null}"#
        );
    }

    #[test]
    fn a_shards_parts_give_back_the_whole_nodes() {
        let sh = crate::pipeline::dag::Shard { index: 1, count: 4 };
        let shard = parts(10).for_shard(sh);
        assert_ne!(shard.key(), parts(10).key());
        assert_eq!(shard.whole().unwrap().key(), parts(10).key());
        assert!(
            parts(10).whole().is_none(),
            "a whole node's parts are no shard's"
        );
    }

    fn parts(beams: u32) -> KeyParts {
        KeyParts {
            stage: "search".into(),
            version: 1,
            params: json!({"search": {"beams": beams, "batch": 8}}),
            inputs: BTreeMap::from([("train@6".into(), "abc".into())]),
            external: Value::Null,
        }
    }

    #[test]
    fn key_is_stable_and_sensitive() {
        assert_eq!(parts(10).key(), parts(10).key());
        assert_ne!(parts(10).key(), parts(20).key());
        assert_eq!(parts(10).key().len(), 64);
        // field order in the JSON does not matter
        let mut p = parts(10);
        p.params = json!({"search": {"batch": 8, "beams": 10}});
        assert_eq!(p.key(), parts(10).key());
    }

    #[test]
    fn diff_says_why() {
        let mut new = parts(20);
        new.inputs.insert("train@6".into(), "def".into());
        assert_eq!(
            new.diff(&parts(10)),
            vec![
                DirtyReason::Setting {
                    key: "search.beams".into(),
                    from: Some("10".into()),
                    to: Some("20".into())
                },
                DirtyReason::InputChanged("train@6".into())
            ]
        );
        let shown: Vec<String> = new.diff(&parts(10)).iter().map(|r| r.to_string()).collect();
        assert_eq!(shown, vec!["search.beams 10 → 20", "input train@6 changed"]);
        let mut ext = parts(10);
        ext.external = serde_json::json!({"train.py": "abc"});
        assert_eq!(
            ext.diff(&parts(10)),
            vec![DirtyReason::ExternalChanged(vec!["train.py".into()])]
        );
        assert!(parts(10).diff(&parts(10)).is_empty());
    }
}
