//! `matches` (an enumerate shard, `enumerate#i/N`): one match per row that the shard's part of the
//! last level, or of the inverse step, found, with the program spelled. The whole node merges
//! them with the stored levels it computes again (not a SQL table: the merged `candidates` holds
//! what is kept of them).

use super::{col, Col, Ty};

pub const COLUMNS: &[Col] = &[
    // found by the inverse step (else by the last level)
    col("inverse", Ty::Bool),
    // the target's position in `ingest`'s targets
    col("target", Ty::U32),
    // all, window or prefix
    col("category", Ty::Utf8),
    col("size", Ty::U32),
    // the 128-bit order key (the smaller wins a tie) and vector identity, as high and low halves
    col("order_hi", Ty::U64),
    col("order_lo", Ty::U64),
    col("key_hi", Ty::U64),
    col("key_lo", Ty::U64),
    col("program", Ty::Utf8),
];

pub fn schema() -> arrow_schema::Schema {
    super::arrow_schema(COLUMNS)
}
