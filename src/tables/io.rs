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
    write_parquet_chunked(path, batch.schema(), batch.num_rows(), |r| {
        Ok(batch.slice(r.start, r.len()))
    })
}

/// Writes `rows` rows to `path`, asking `chunk` for them one row group at a time (the range of
/// rows it must return), so a large table never exists in memory as Arrow arrays all at once.
/// Row groups are cut at `ROW_GROUP` rows either way, so the bytes are those of writing one batch
/// of all rows (tested).
pub fn write_parquet_chunked(
    path: &Path,
    schema: arrow_schema::SchemaRef,
    rows: usize,
    mut chunk: impl FnMut(std::ops::Range<usize>) -> Result<RecordBatch>,
) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .build();
    let mut w = ArrowWriter::try_new(file, schema, Some(props))
        .with_context(|| format!("writing {}", path.display()))?;
    let mut start = 0;
    loop {
        let end = (start + ROW_GROUP).min(rows);
        let batch = chunk(start..end)?;
        w.write(&batch)
            .with_context(|| format!("writing {}", path.display()))?;
        start = end;
        if start >= rows {
            break;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, UInt64Array};
    use std::sync::Arc;

    #[test]
    fn chunked_writes_equal_one_batch() {
        let rows = ROW_GROUP * 2 + 123;
        let schema = Arc::new(arrow_schema::Schema::new(vec![
            arrow_schema::Field::new("x", arrow_schema::DataType::UInt64, false),
            arrow_schema::Field::new("s", arrow_schema::DataType::Utf8, false),
        ]));
        let batch = |r: std::ops::Range<usize>| {
            let cols: Vec<ArrayRef> = vec![
                Arc::new(UInt64Array::from_iter_values(
                    r.clone().map(|i| i as u64 * 7),
                )),
                Arc::new(StringArray::from_iter_values(
                    r.map(|i| format!("v{}", i % 97)),
                )),
            ];
            RecordBatch::try_new(schema.clone(), cols).unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.parquet"), dir.path().join("b.parquet"));
        let c = dir.path().join("c.parquet");
        write_parquet(&a, &batch(0..rows)).unwrap();
        write_parquet_chunked(&b, schema.clone(), rows, |r| Ok(batch(r))).unwrap();
        write_parquet_chunked(&c, schema.clone(), rows, |r| Ok(batch(r))).unwrap();
        let digest = |p: &Path| blake3::hash(&std::fs::read(p).unwrap());
        assert_eq!(digest(&b), digest(&c), "deterministic");
        assert_eq!(digest(&a), digest(&b), "same bytes as one batch");
        assert_eq!(parquet_rows(&b).unwrap(), rows as u64);
        let concat = |p: &Path| {
            let batches = read_parquet(p).unwrap();
            arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap()
        };
        assert_eq!(concat(&a), concat(&b), "same content as one batch");
    }
}
