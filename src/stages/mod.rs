//! The pipeline stages, one module each, behind the engine's [`Stage`] trait
//! (`crate::pipeline::stage`). This module is the registry: [`registry`] hands the
//! implementations to the runner.

pub use crate::pipeline::stage::{check_all, shards_of, Ctx, Export, Stage};

pub mod buffer;
pub mod enumerate;
pub mod ingest;
pub mod mutate;
pub mod report;
pub mod sample;
pub mod search;
pub mod synth;
pub mod train;
pub mod verify;

/// The stages built so far, in pipeline order.
pub fn registry() -> Vec<Box<dyn Stage>> {
    vec![
        Box::new(ingest::Ingest),
        Box::new(synth::Synth),
        Box::new(train::Train),
        Box::new(search::Search),
        Box::new(enumerate::Enumerate),
        Box::new(mutate::Mutate),
        Box::new(verify::Verify),
        Box::new(buffer::Buffer),
        Box::new(sample::Sample),
        Box::new(report::Report),
    ]
}

/// Every stage of DESIGN.md (and `mutate`, the learning loop's mutation of what was found),
/// built or not, in pipeline order.
pub const ALL_STAGE_NAMES: [&str; 10] = [
    "ingest",
    "synth",
    "train",
    "search",
    "enumerate",
    "mutate",
    "verify",
    "buffer",
    "sample",
    "report",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_has_every_stage_once_in_pipeline_order() {
        let names: Vec<&str> = registry().iter().map(|s| s.name()).collect();
        assert_eq!(names, ALL_STAGE_NAMES);
    }

    #[test]
    fn every_table_part_names_a_registered_stage() {
        let names: Vec<&str> = registry().iter().map(|s| s.name()).collect();
        for d in &crate::tables::CATALOGUE {
            for p in d.parts {
                assert!(names.contains(&p.stage), "{}: {}", d.name, p.stage);
            }
        }
    }

    /// The nodes whose own settings or inputs a preset changes, against `full`: only those its
    /// method must change (everything downstream of them changes through its inputs' digests).
    #[test]
    fn each_preset_changes_only_its_own_nodes() {
        use crate::pipeline::dag::Node;
        let load = |name: &str| {
            crate::pipeline::config::load(
                std::path::Path::new("/nonexistent.toml"),
                false,
                &crate::pipeline::preset::overrides(name).unwrap(),
            )
            .unwrap()
        };
        let full = load("full");
        let stages = registry();
        let changed = |name: &str| -> Vec<String> {
            let other = load(name);
            let mut out = Vec::new();
            for st in &stages {
                let iters: Vec<Option<u32>> = if st.iterated(&full) {
                    (st.first_iter()..=full.config.meta.iterations)
                        .map(Some)
                        .collect()
                } else {
                    vec![None]
                };
                for k in iters {
                    let node = Node::new(st.name(), k);
                    let a = (st.params(&full, &node), st.inputs(&full, &node));
                    let b = (st.params(&other, &node), st.inputs(&other, &node));
                    if a != b {
                        out.push(node.to_string());
                    }
                }
            }
            out
        };
        assert!(changed("full").is_empty());
        assert!(
            changed("random-init").is_empty(),
            "{:?}",
            changed("random-init")
        );
        let each = |stage: &str| -> Vec<String> {
            (1..=full.config.meta.iterations)
                .map(|k| format!("{stage}@{k}"))
                .collect()
        };
        assert_eq!(changed("baseline"), each("sample"));
        assert_eq!(changed("uniform"), each("sample"));
        assert_eq!(changed("no-hindsight"), each("buffer"));
    }
}
