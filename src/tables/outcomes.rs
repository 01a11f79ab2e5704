//! `outcomes` (a verify shard, `verify@k#i/N`): one distinct program of the shard's part per row,
//! with its output on `#0 = [1..L]` or its error. The whole node merges them (not a SQL table:
//! the merged `executions` holds the same values per candidate).

use super::{col, nullable, Col, Ty};

pub const COLUMNS: &[Col] = &[
    col("program", Ty::Utf8),
    nullable("error", Ty::Utf8),
    col("terms", Ty::Utf8List),
];

pub fn schema() -> arrow_schema::Schema {
    super::arrow_schema(COLUMNS)
}
