//! `candidates` (search@k and enumerate): one program proposed for a target per row, grouped by
//! target, best first within a target.

use super::io::column;
use super::{col, Col, Ty};
use crate::pipeline::store::Artifact;
use anyhow::Result;
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array};
use std::sync::Arc;

pub const COLUMNS: &[Col] = &[
    col("id", Ty::Utf8),
    col("rank", Ty::U32),
    col("program", Ty::Utf8),
    col("score", Ty::F64),
    col("length", Ty::U32),
];

/// The `candidates` table, column by column (also the schema of `enumerate`).
#[derive(Default)]
pub struct Candidates {
    id: Vec<String>,
    rank: Vec<u32>,
    program: Vec<String>,
    score: Vec<f64>,
    length: Vec<u32>,
}

impl Candidates {
    pub fn push(&mut self, id: &str, rank: u32, program: &str, score: f64, length: u32) {
        self.id.push(id.to_string());
        self.rank.push(rank);
        self.program.push(program.to_string());
        self.score.push(score);
        self.length.push(length);
    }

    /// Rows so far.
    pub fn len(&self) -> usize {
        self.id.len()
    }
    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }
    /// The programs so far, in row order.
    pub fn programs(&self) -> &[String] {
        &self.program
    }

    pub fn schema() -> arrow_schema::Schema {
        super::arrow_schema(COLUMNS)
    }

    /// Appends every row of the `candidates` table of `a`, in order.
    pub fn extend_from(&mut self, a: &Artifact) -> Result<()> {
        for b in a.read_table("candidates")? {
            let id = column::<StringArray>(&b, "id")?;
            let rank = column::<UInt32Array>(&b, "rank")?;
            let program = column::<StringArray>(&b, "program")?;
            let score = column::<Float64Array>(&b, "score")?;
            let length = column::<UInt32Array>(&b, "length")?;
            for i in 0..b.num_rows() {
                self.push(
                    id.value(i),
                    rank.value(i),
                    program.value(i),
                    score.value(i),
                    length.value(i),
                );
            }
        }
        Ok(())
    }

    pub fn batch(self) -> Result<RecordBatch> {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(self.id)),
            Arc::new(UInt32Array::from(self.rank)),
            Arc::new(StringArray::from_iter_values(self.program)),
            Arc::new(Float64Array::from(self.score)),
            Arc::new(UInt32Array::from(self.length)),
        ];
        Ok(RecordBatch::try_new(Arc::new(Self::schema()), cols)?)
    }
}

/// A candidate row of `search@k` (or `enumerate`).
pub struct Candidate {
    pub id: String,
    pub rank: u32,
    pub program: String,
    pub score: f64,
}

/// Reads a `candidates` table.
pub fn read(a: &Artifact) -> Result<Vec<Candidate>> {
    let mut out = Vec::new();
    for b in a.read_table("candidates")? {
        let id = column::<StringArray>(&b, "id")?;
        let rank = column::<UInt32Array>(&b, "rank")?;
        let program = column::<StringArray>(&b, "program")?;
        let score = column::<Float64Array>(&b, "score")?;
        for i in 0..b.num_rows() {
            out.push(Candidate {
                id: id.value(i).to_string(),
                rank: rank.value(i),
                program: program.value(i).to_string(),
                score: score.value(i),
            });
        }
    }
    Ok(out)
}
