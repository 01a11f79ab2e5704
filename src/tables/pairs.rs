//! `pairs` (synth: `train` and `validation`) and `samples` (sample@k: `train`): one
//! (sequence, program) pair per row, in draw order.

use super::io::string_lists;
use super::{col, Col, Ty};
use crate::dsl::token::tokens_to_text;
use crate::dsl::{Program, Token};
use anyhow::Result;
use arrow_array::{ArrayRef, RecordBatch, StringArray, UInt32Array, UInt64Array};
use std::sync::Arc;

pub const COLUMNS: &[Col] = &[
    col("program", Ty::Utf8),
    col("tokens", Ty::Utf8List),
    col("length", Ty::U32),
    col("terms", Ty::Utf8List),
    col("n_terms", Ty::U32),
    col("output_hash", Ty::Utf8),
    col("draw", Ty::U64),
];

/// One accepted pair, kept compact (a million of them must fit in memory): the program as its
/// tokens, the output as its canonical comma-separated text.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    pub draw: u64,
    pub tokens: Vec<Token>,
    pub terms: String,
    pub n_terms: u32,
    pub hash: [u8; 16],
}

impl Pair {
    pub fn program(&self) -> Program {
        Program::from_tokens(&self.tokens).expect("sampled programs are valid")
    }
}

pub fn schema() -> arrow_schema::Schema {
    super::arrow_schema(COLUMNS)
}

/// Writes pairs to a Parquet file, converting one row group at a time.
pub fn write(path: &std::path::Path, pairs: &[Pair]) -> Result<()> {
    super::io::write_parquet_chunked(path, Arc::new(schema()), pairs.len(), |r| batch(&pairs[r]))
}

pub fn batch(pairs: &[Pair]) -> Result<RecordBatch> {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            pairs.iter().map(|p| tokens_to_text(&p.tokens)),
        )),
        Arc::new(string_lists(pairs.iter().map(|p| {
            p.tokens.iter().map(|t| t.to_string()).collect::<Vec<_>>()
        }))),
        Arc::new(UInt32Array::from_iter_values(
            pairs.iter().map(|p| p.tokens.len() as u32),
        )),
        Arc::new(string_lists(
            pairs
                .iter()
                .map(|p| p.terms.split(',').filter(|t| !t.is_empty())),
        )),
        Arc::new(UInt32Array::from_iter_values(
            pairs.iter().map(|p| p.n_terms),
        )),
        Arc::new(StringArray::from_iter_values(
            pairs.iter().map(|p| hex::encode(p.hash)),
        )),
        Arc::new(UInt64Array::from_iter_values(pairs.iter().map(|p| p.draw))),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema()), cols)?)
}
