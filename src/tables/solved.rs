//! `solved` (verify@k): one (target, program) pair per row where the program's window equals the
//! target's (the paper's rule), in the order first found.

use super::io::column;
use super::{col, Col, Ty};
use crate::pipeline::store::Artifact;
use anyhow::Result;
use arrow_array::{ArrayRef, BooleanArray, RecordBatch, StringArray, UInt32Array};
use std::sync::Arc;

pub const COLUMNS: &[Col] = &[
    col("id", Ty::Utf8),
    col("program", Ty::Utf8),
    col("searched_for", Ty::Utf8),
    col("rank", Ty::U32),
    col("hindsight", Ty::Bool),
    col("source", Ty::Utf8),
    col("all_terms", Ty::Bool),
    col("checked_terms", Ty::U32),
    col("by_search", Ty::Bool),
    col("by_enumerate", Ty::Bool),
];

pub fn schema() -> arrow_schema::Schema {
    super::arrow_schema(COLUMNS)
}

/// A row of the `solved` table: a program whose terms 26..35 (the paper's rule) equal a target's.
#[derive(Clone, Debug, PartialEq)]
pub struct Solve {
    /// The target solved.
    pub id: String,
    pub program: String,
    /// The target whose search proposed the program (the target itself for a direct solve).
    pub searched_for: String,
    pub rank: u32,
    /// False when any candidate proposed the program for this very target.
    pub hindsight: bool,
    /// Where the candidate came from: `search` or `enumerate`.
    pub source: String,
    /// The all-known-terms rule: the program on `#0 = [1..checked_terms]` equals every one of the
    /// target's first `checked_terms` terms.
    pub all_terms: bool,
    /// n of the all-known-terms check: the target's known terms, at most `verify.max_terms`.
    pub checked_terms: u32,
    /// Whether `search@k` proposed the program (for any target): what the policy found.
    pub by_search: bool,
    /// Whether `enumerate` proposed the program (for any target).
    pub by_enumerate: bool,
}

/// Reads the `solved` table of a verify artifact.
pub fn read(a: &Artifact) -> Result<Vec<Solve>> {
    let mut out = Vec::new();
    for b in a.read_table("solved")? {
        let id = column::<StringArray>(&b, "id")?;
        let program = column::<StringArray>(&b, "program")?;
        let searched = column::<StringArray>(&b, "searched_for")?;
        let rank = column::<UInt32Array>(&b, "rank")?;
        let hindsight = column::<BooleanArray>(&b, "hindsight")?;
        let source = column::<StringArray>(&b, "source")?;
        let all_terms = column::<BooleanArray>(&b, "all_terms")?;
        let checked = column::<UInt32Array>(&b, "checked_terms")?;
        let by_search = column::<BooleanArray>(&b, "by_search")?;
        let by_enumerate = column::<BooleanArray>(&b, "by_enumerate")?;
        for i in 0..b.num_rows() {
            out.push(Solve {
                id: id.value(i).to_string(),
                program: program.value(i).to_string(),
                searched_for: searched.value(i).to_string(),
                rank: rank.value(i),
                hindsight: hindsight.value(i),
                source: source.value(i).to_string(),
                all_terms: all_terms.value(i),
                checked_terms: checked.value(i),
                by_search: by_search.value(i),
                by_enumerate: by_enumerate.value(i),
            });
        }
    }
    Ok(out)
}

/// The `solved` table as written: one row per (solved target, program).
pub fn batch(rows: &[Solve]) -> Result<RecordBatch> {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.id))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.program),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.searched_for),
        )),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.rank))),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.hindsight)),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.source),
        )),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.all_terms)),
        )),
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| r.checked_terms),
        )),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.by_search)),
        )),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.by_enumerate)),
        )),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema()), cols)?)
}
