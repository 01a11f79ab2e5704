//! `executions` (verify@k): one row per candidate run, in candidate order.

use super::io::column;
use super::{col, nullable, Col, Ty};
use crate::pipeline::store::Artifact;
use anyhow::Result;
use arrow_array::StringArray;
use std::collections::BTreeSet;

pub const COLUMNS: &[Col] = &[
    col("id", Ty::Utf8),
    col("source", Ty::Utf8),
    col("rank", Ty::U32),
    col("program", Ty::Utf8),
    nullable("error", Ty::Utf8),
    col("n_terms", Ty::U32),
    col("terms", Ty::Utf8List),
    col("matched", Ty::U32),
    col("positions", Ty::U32),
    col("solved", Ty::Bool),
];

/// `source` of candidates from `search@k`.
pub const SOURCE_SEARCH: &str = "search";
/// `source` of candidates from `enumerate` (with `verify.enumerate = true`).
pub const SOURCE_ENUMERATE: &str = "enumerate";
/// `source` of candidates from `mutate@k` (k >= 2, with `mutate.rounds > 0`).
pub const SOURCE_MUTATE: &str = "mutate";

pub fn schema() -> arrow_schema::Schema {
    super::arrow_schema(COLUMNS)
}

/// What `search@k` proposed, from the `executions` table of a verify artifact: the ids of the
/// targets it searched, and its distinct programs.
pub fn read_searched(a: &Artifact) -> Result<Searched> {
    let mut out = Searched::default();
    for b in a.read_table("executions")? {
        let id = column::<StringArray>(&b, "id")?;
        let source = column::<StringArray>(&b, "source")?;
        let program = column::<StringArray>(&b, "program")?;
        for i in 0..b.num_rows() {
            if source.value(i) == SOURCE_SEARCH {
                out.targets.insert(id.value(i).to_string());
                out.programs.insert(program.value(i).to_string());
            }
        }
    }
    Ok(out)
}

/// See [`read_searched`].
#[derive(Default)]
pub struct Searched {
    pub targets: BTreeSet<String>,
    pub programs: BTreeSet<String>,
}
