//! The pipeline engine: typed config, stage keys, the artifact store, the DAG and its runner.
//! See docs/architecture.md for how the pieces fit.

pub mod config;
pub mod dag;
pub mod key;
pub mod preset;
pub mod runner;
pub mod stage;
pub mod store;
