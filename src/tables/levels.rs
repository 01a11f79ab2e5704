//! `levels` (enumerate): one size level of the bottom-up enumerator per row.

use super::{col, Col, Ty};

pub const COLUMNS: &[Col] = &[
    col("size", Ty::U32),
    col("mode", Ty::Utf8),
    col("evaluated", Ty::U64),
    col("errors", Ty::U64),
    col("new", Ty::U64),
    col("cumulative", Ty::U64),
    col("solved_window", Ty::U64),
    col("solved_all_terms", Ty::U64),
    col("store_bytes", Ty::U64),
];

pub fn schema() -> arrow_schema::Schema {
    super::arrow_schema(COLUMNS)
}
