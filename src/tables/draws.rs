//! `draws` (a random synth's shard, `synth#i/N`): one row per draw of the shard's range, with what
//! it gave: `candidate` (then its output's hash) or the rejection reason. The whole node merges
//! them in draw order (not a SQL table).

use super::{col, nullable, Col, Ty};

pub const COLUMNS: &[Col] = &[
    col("draw", Ty::U64),
    col("outcome", Ty::Utf8),
    nullable("output_hash", Ty::Utf8),
];

pub fn schema() -> arrow_schema::Schema {
    super::arrow_schema(COLUMNS)
}
