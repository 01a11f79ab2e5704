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
//! project must keep its cache), thread counts (outputs do not depend on them), and the meta
//! iteration number unless a stage's output depends on it (then it is in `params`).
//!
//! The key is blake3 over the canonical JSON of [`KeyParts`] (objects with sorted keys). The parts
//! are stored beside the artifact as `key.json`, so `seqsynth status` can say why a stage is stale.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KeyParts {
    pub stage: String,
    pub version: u32,
    pub params: Value,
    pub inputs: BTreeMap<String, String>,
    pub external: Value,
}

impl KeyParts {
    /// The canonical serialization (serde_json objects are sorted maps).
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).expect("key parts serialize")
    }

    /// The key: blake3 hex of the canonical JSON.
    pub fn key(&self) -> String {
        blake3::hash(self.canonical().as_bytes())
            .to_hex()
            .to_string()
    }

    /// Why `self` (the current parts) differs from `old` (the parts of the last build): one
    /// sentence per difference, in a stable order.
    pub fn diff(&self, old: &KeyParts) -> Vec<String> {
        let mut out = Vec::new();
        if self.version != old.version {
            out.push(format!("code version {} → {}", old.version, self.version));
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
                let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(unset)".into());
                out.push(format!("{k} {} → {}", show(va), show(vb)));
            }
        }
        for (name, d) in &self.inputs {
            match old.inputs.get(name) {
                Some(o) if o == d => {}
                Some(_) => out.push(format!("input {name} changed")),
                None => out.push(format!("new input {name}")),
            }
        }
        for name in old.inputs.keys() {
            if !self.inputs.contains_key(name) {
                out.push(format!("input {name} removed"));
            }
        }
        if self.external != old.external {
            out.push("external files changed".into());
        }
        out
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
                "search.beams 10 → 20".to_string(),
                "input train@6 changed".into()
            ]
        );
        assert!(parts(10).diff(&parts(10)).is_empty());
    }
}
