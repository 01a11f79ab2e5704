//! `targets` (ingest): one row per target sequence, sorted by A-number.

use super::io::{column, list_strings, string_lists};
use super::{col, nullable, Col, Ty};
use crate::pipeline::store::Artifact;
use anyhow::Result;
use arrow_array::{Array, ArrayRef, Int64Array, ListArray, RecordBatch, StringArray, UInt32Array};
use std::sync::Arc;

pub const COLUMNS: &[Col] = &[
    col("id", Ty::Utf8),
    col("number", Ty::U32),
    nullable("name", Ty::Utf8),
    nullable("offset", Ty::I64),
    col("keywords", Ty::Utf8List),
    col("terms", Ty::Utf8List),
    col("n_terms", Ty::U32),
];

pub fn schema() -> arrow_schema::Schema {
    super::arrow_schema(COLUMNS)
}

/// One sequence as read from the sources.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    pub number: u32,
    pub name: Option<String>,
    pub offset: Option<i64>,
    pub keywords: Vec<String>,
    pub terms: Terms,
}

/// A sequence's terms as one canonical comma-separated string: one allocation per sequence
/// instead of one per term, which keeps a 140k-sequence ingest small in memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Terms {
    text: String,
    len: usize,
}

impl Terms {
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The terms as decimal strings.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.text.split(',').filter(|s| !s.is_empty())
    }
    /// Appends one canonical term.
    pub fn push(&mut self, term: &str) {
        if self.len > 0 {
            self.text.push(',');
        }
        self.text.push_str(term);
        self.len += 1;
    }
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_string).collect()
    }
    /// The first `n` terms (all, when there are fewer) as exact integers.
    pub fn nums(&self, n: usize) -> Result<Vec<crate::dsl::Num>, num_bigint::ParseBigIntError> {
        self.iter().take(n).map(str::parse).collect()
    }
}

impl<S: AsRef<str>> FromIterator<S> for Terms {
    /// Builds from already canonical terms.
    fn from_iter<I: IntoIterator<Item = S>>(it: I) -> Terms {
        let mut t = Terms::default();
        for s in it {
            t.push(s.as_ref());
        }
        t
    }
}

/// The table's rows as one batch.
pub fn batch(rows: &[Record]) -> Result<RecordBatch> {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| format!("A{:06}", r.number)),
        )),
        Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.number))),
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.name.as_deref()),
        )),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.offset))),
        Arc::new(string_lists(rows.iter().map(|r| r.keywords.iter()))),
        Arc::new(string_lists(rows.iter().map(|r| r.terms.iter()))),
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| r.terms.len() as u32),
        )),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema()), cols)?)
}

/// Reads the targets table of an ingest artifact back into records.
pub fn read(a: &Artifact) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    for b in a.read_table("targets")? {
        let number = column::<UInt32Array>(&b, "number")?;
        let name = column::<StringArray>(&b, "name")?;
        let offset = column::<Int64Array>(&b, "offset")?;
        let kw = column::<ListArray>(&b, "keywords")?;
        let terms = column::<ListArray>(&b, "terms")?;
        for i in 0..b.num_rows() {
            out.push(Record {
                number: number.value(i),
                name: (!name.is_null(i)).then(|| name.value(i).to_string()),
                offset: (!offset.is_null(i)).then(|| offset.value(i)),
                keywords: list_strings(kw, i),
                terms: list_strings(terms, i).into_iter().collect(),
            });
        }
    }
    Ok(out)
}
