//! Presets: the methods of the paper's experiment (DESIGN.md section 7) as named sets of
//! `KEY=VALUE` overrides, applied before the command line's own (`seqsynth run preset=baseline`).
//!
//! Each preset changes only the settings its method must, so in one store the methods share
//! every artifact they can: all of them share `ingest`, `synth`, `enumerate`, `train@0` and the
//! first search; `baseline` and `uniform` part from `full` at `sample@1`, `no-hindsight` at
//! `buffer@1`.

use anyhow::{bail, Result};

/// A preset: (name, what it is, its overrides as (key, value)).
pub type Preset = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The methods of the paper's experiment.
pub const PRESETS: [Preset; 5] = [
    (
        "full",
        "the paper's method: prioritized buffer with hindsight, retrained every meta-iteration",
        &[],
    ),
    (
        "baseline",
        "ablation 1: no buffer; each meta-iteration trains on fresh unconstrained DSL samples",
        &[("sample.mode", "fresh")],
    ),
    (
        "uniform",
        "ablation 2: the buffer drawn uniformly instead of by priority",
        &[("sample.mode", "uniform")],
    ),
    (
        "random-init",
        "ablation 3: a randomly initialised T5 (the same as full until train.init names a checkpoint)",
        &[("train.init", "random")],
    ),
    (
        "no-hindsight",
        "ablation 4: hindsight matches stay out of the buffer (what counts as solved is unchanged)",
        &[("verify.hindsight", "false")],
    ),
];

/// The config `file` under a preset (if any), then the command line's `overrides`: a preset's
/// settings come first, so that the command line's own override them.
pub fn load(
    file: &std::path::Path,
    required: bool,
    preset: Option<&str>,
    overrides: &[(String, String)],
) -> Result<crate::pipeline::config::Loaded> {
    let mut all = match preset {
        Some(name) => self::overrides(name)?,
        None => Vec::new(),
    };
    all.extend(overrides.iter().cloned());
    crate::pipeline::config::load(file, required, &all)
}

/// The overrides of a preset, or an error that lists the presets.
pub fn overrides(name: &str) -> Result<Vec<(String, String)>> {
    match PRESETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, _, o)) => Ok(o
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()),
        None => {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _, _)| *n).collect();
            bail!(
                "preset={name}: no such preset (the presets are {})",
                names.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_resolves_and_unknown_ones_are_named() {
        for (name, _, o) in PRESETS {
            assert_eq!(overrides(name).unwrap().len(), o.len());
        }
        let e = overrides("ful").unwrap_err().to_string();
        assert!(e.contains("ful") && e.contains("no-hindsight"), "{e}");
    }

    #[test]
    fn preset_settings_are_real_settings() {
        for (name, _, _) in PRESETS {
            let o = overrides(name).unwrap();
            crate::pipeline::config::load(std::path::Path::new("/nonexistent.toml"), false, &o)
                .unwrap_or_else(|e| panic!("preset {name}: {e:#}"));
        }
    }
}
