//! `buffer` (buffer@k: `programs`): one buffered program per row, sorted by program text.

use super::{col, Col, Ty};

pub const COLUMNS: &[Col] = &[
    col("program", Ty::Utf8),
    col("terms", Ty::Utf8List),
    col("n_terms", Ty::U32),
    col("priority", Ty::F64),
    col("best_target", Ty::Utf8),
    col("best_fraction", Ty::F64),
    col("best_added", Ty::U32),
    col("n_entries", Ty::U32),
];

pub fn schema() -> arrow_schema::Schema {
    super::arrow_schema(COLUMNS)
}
