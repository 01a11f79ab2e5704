//! seqsynth: finds programs that generate integer sequences (OEIS).
//!
//! - [`dsl`]: the program language: syntax, types, exact evaluation, sampling, the next-token
//!   automaton. No pipeline knowledge.
//! - [`pipeline`]: typed config, stage keys, the artifact store, the DAG and its runner.
//! - [`stages`]: one module per pipeline stage behind the [`stages::Stage`] trait.
//! - [`tables`]: the catalogue of artifact tables (schemas, readers, writers) and Parquet I/O.
//! - [`query`]: `seqsynth query`, SQL over the artifacts.
//! - [`distributed`]: the plan engines schedule from, and the Slurm scripts.
//! - [`cli`]: the command line's raw arguments.

pub mod cli;
pub mod distributed;
pub mod dsl;
pub mod enumerator;
pub mod model;
pub mod mutation;
pub mod pipeline;
pub mod progress;
pub mod query;
pub mod stages;
pub mod tables;
