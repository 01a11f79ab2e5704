//! Parquet reading and writing shared by the stages.
//!
//! Writer settings are fixed (Snappy, one row group per 64k rows, the parquet-rs `created_by`),
//! so the same batches always give the same bytes: stage outputs are deterministic files, which
//! is what lets a downstream key depend on content digests (early cutoff).

use anyhow::{Context, Result};
use arrow_array::{
    builder::{ListBuilder, StringBuilder},
    Array, ListArray, RecordBatch, StringArray,
};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::fs::File;
use std::path::Path;

/// Rows per row group.
pub const ROW_GROUP: usize = 65_536;

/// Writes one batch to `path` (a new file).
pub fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .build();
    let mut w = ArrowWriter::try_new(file, batch.schema(), Some(props))
        .with_context(|| format!("writing {}", path.display()))?;
    w.write(batch)
        .with_context(|| format!("writing {}", path.display()))?;
    w.close()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Reads a whole Parquet file into batches.
pub fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("reading {}", path.display()))?
        .with_batch_size(ROW_GROUP)
        .build()
        .with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for b in reader {
        out.push(b.with_context(|| format!("reading {}", path.display()))?);
    }
    Ok(out)
}

/// Number of rows recorded in a Parquet file's footer (no data pages are read).
pub fn parquet_rows(path: &Path) -> Result<u64> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("reading footer of {}", path.display()))?;
    Ok(b.metadata().file_metadata().num_rows() as u64)
}

/// A `list<utf8>` column from rows of strings.
pub fn string_lists<I, R, S>(rows: I) -> ListArray
where
    I: IntoIterator<Item = R>,
    R: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut b = ListBuilder::new(StringBuilder::new());
    for row in rows {
        for s in row {
            b.values().append_value(s.as_ref());
        }
        b.append(true);
    }
    b.finish()
}

/// Typed access to a column by name, with a clear error naming the column.
pub fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T> {
    batch
        .column_by_name(name)
        .with_context(|| format!("missing column {name:?}"))?
        .as_any()
        .downcast_ref::<T>()
        .with_context(|| format!("column {name:?} has an unexpected type"))
}

/// Row `i` of a `list<utf8>` column as owned strings.
pub fn list_strings(col: &ListArray, i: usize) -> Vec<String> {
    let v = col.value(i);
    let s = v
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("list<utf8> column");
    (0..s.len()).map(|j| s.value(j).to_string()).collect()
}
