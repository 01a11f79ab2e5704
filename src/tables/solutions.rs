//! `solutions` (report): one solved target per row, with the program shown for it.

use super::{col, nullable, Col, Ty};

pub const COLUMNS: &[Col] = &[
    col("id", Ty::Utf8),
    col("name", Ty::Utf8),
    col("iteration", Ty::U32),
    nullable("iteration_all_terms", Ty::U32),
    col("program", Ty::Utf8),
    col("python", Ty::Utf8),
    col("searched_for", Ty::Utf8),
    col("rank", Ty::U32),
    col("hindsight", Ty::Bool),
    col("source", Ty::Utf8),
    col("found_by", Ty::Utf8),
    col("all_terms", Ty::Bool),
    col("checked_terms", Ty::U32),
    nullable("program_all_terms", Ty::Utf8),
];

pub fn schema() -> arrow_schema::Schema {
    super::arrow_schema(COLUMNS)
}
