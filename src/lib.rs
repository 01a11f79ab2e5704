//! seqsynth: finds programs that generate integer sequences (OEIS).
//!
//! - [`dsl`]: the program language: syntax, types, exact evaluation, sampling, the next-token
//!   automaton. No pipeline knowledge.
//! - [`pipeline`]: typed config, stage keys, the artifact store, the DAG and its runner.
//! - [`stages`]: one module per pipeline stage behind the [`stages::Stage`] trait.
//! - [`table`]: Parquet reading and writing shared by the stages.
//! - [`cli`]: the command line's raw arguments.

pub mod cli;
pub mod dsl;
pub mod enumerator;
pub mod model;
pub mod pipeline;
pub mod progress;
pub mod query;
pub mod stages;
pub mod tables;
