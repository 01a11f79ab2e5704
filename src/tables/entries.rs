//! `entries` (buffer@k): one (program, target) entry per row, sorted by (program, target).

use super::{col, Col, Ty};

pub const COLUMNS: &[Col] = &[
    col("program", Ty::Utf8),
    col("target", Ty::Utf8),
    col("fraction", Ty::F64),
    col("added", Ty::U32),
];

pub fn schema() -> arrow_schema::Schema {
    super::arrow_schema(COLUMNS)
}
