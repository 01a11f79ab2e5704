//! seqsynth: finds programs that generate integer sequences.
//!
//! - [`dsl`]: the program language (no pipeline knowledge).
//! - [`pipeline`]: config, stage keys, the artifact store, the DAG and its runner.
//! - [`stages`]: one module per pipeline stage behind the `Stage` trait.
//! - [`table`]: Parquet reading and writing shared by the stages.

pub mod dsl;
