//! `seqsynth query`: SQL (Polars) over the artifacts of a store.
//!
//! Every table of the catalogue ([`crate::tables::CATALOGUE`]) is registered as a lazy scan of
//! the Parquet parts of the artifacts chosen (those the current config reaches, or every artifact
//! of the store), with the columns that tell the parts apart added in front: `key` (with `--all`),
//! `iteration` (stages with one node per meta-iteration), `split` (pairs) and `source`
//! (candidates). `runs` has one row per artifact, from the manifests. A table no chosen artifact
//! holds is registered empty, with its columns, so that a query over it returns no rows rather
//! than an error.
//!
//! Nothing here writes into the store: the store is opened read-only and Polars only reads.

use crate::pipeline::dag::Node;
use crate::pipeline::store::Artifact;
use crate::tables::{TableDef, CATALOGUE};
use anyhow::{anyhow, bail, Context, Result};
use polars::prelude::*;
use polars::sql::SQLContext;
use std::path::Path;

/// One artifact the query may read, with the node that built it.
#[derive(Clone, Debug)]
pub struct Source {
    pub node: Node,
    pub artifact: Artifact,
}

/// The node of a manifest's `node` field (`search@7`, `ingest`, `search@7#2/8`).
pub fn parse_node(text: &str) -> Node {
    let (whole, shard) = match text.split_once('#') {
        Some((w, s)) => (w, crate::pipeline::dag::Shard::parse(s).ok()),
        None => (text, None),
    };
    let mut node = match whole.split_once('@') {
        Some((stage, k)) => Node::new(stage, k.parse().ok()),
        None => Node::new(whole, None),
    };
    node.shard = shard;
    node
}

/// The columns added in front of a table's own: (name, type).
fn added_columns(def: &TableDef, with_key: bool) -> Vec<(&'static str, DataType)> {
    let mut v = Vec::new();
    if with_key {
        v.push(("key", DataType::String));
    }
    if def.iterated() {
        v.push(("iteration", DataType::UInt32));
    }
    for t in def.tags() {
        v.push((t, DataType::String));
    }
    v
}

/// The full schema of a registered table, as SQL sees it.
pub fn table_schema(def: &TableDef, with_key: bool) -> Schema {
    let mut s = Schema::default();
    for (name, dt) in added_columns(def, with_key) {
        s.with_column(name.into(), dt);
    }
    for c in def.columns {
        s.with_column(c.name.into(), c.ty.polars());
    }
    s
}

/// The scan of one table over the sources, or None when no source holds it.
fn scan(def: &TableDef, sources: &[Source], with_key: bool) -> Result<Option<LazyFrame>> {
    let mut frames = Vec::new();
    // a shard's rows are in its whole node's artifact too (`runs` lists shards)
    for src in sources.iter().filter(|s| s.node.shard.is_none()) {
        for part in def.parts.iter().filter(|p| p.stage == src.node.stage) {
            let files = src.artifact.table_files(part.file);
            if files.is_empty() {
                continue;
            }
            let paths: Vec<PlRefPath> = files
                .iter()
                .map(|f| PlRefPath::try_from_path(f))
                .collect::<PolarsResult<_>>()?;
            let mut lf = LazyFrame::scan_parquet_files(paths.into(), ScanArgsParquet::default())
                .map_err(|e| anyhow!("scanning {}: {e}", files[0].display()))?;
            // an artifact of an older stage version may lack a column: it reads as null
            let present = lf
                .collect_schema()
                .map_err(|e| anyhow!("reading the schema of {}: {e}", files[0].display()))?;
            let mut front: Vec<Expr> = Vec::new();
            for (name, dt) in added_columns(def, with_key) {
                let e = match name {
                    "key" => lit(src.artifact.manifest.key.clone()),
                    "iteration" => match src.node.iter {
                        Some(k) => lit(k),
                        None => lit(NULL),
                    },
                    tag => match part.tag {
                        Some((n, v)) if n == tag => lit(v),
                        _ => lit(NULL),
                    },
                };
                front.push(e.cast(dt).alias(name));
            }
            front.extend(def.columns.iter().map(|c| {
                if present.contains(c.name) {
                    col(c.name)
                } else {
                    lit(NULL).cast(c.ty.polars()).alias(c.name)
                }
            }));
            frames.push(lf.select(front));
        }
    }
    if frames.is_empty() {
        return Ok(None);
    }
    let args = UnionArgs {
        // (every part has every column by now; types may still differ across stage versions)
        diagonal: true,
        to_supertypes: true,
        maintain_order: true,
        ..Default::default()
    };
    Ok(Some(concat(frames, args)?))
}

/// The `runs` table: one row per source (node, key, rows, bytes, wall time, counters as JSON).
pub fn runs_frame(sources: &[Source]) -> Result<DataFrame> {
    let m = |f: &dyn Fn(&Source) -> String| -> Vec<String> { sources.iter().map(f).collect() };
    let df = DataFrame::new_infer_height(vec![
        Column::new("key".into(), m(&|s| s.artifact.manifest.key.clone())),
        Column::new("node".into(), m(&|s| s.artifact.manifest.node.clone())),
        Column::new("stage".into(), m(&|s| s.node.stage.clone())),
        Column::new(
            "iteration".into(),
            sources.iter().map(|s| s.node.iter).collect::<Vec<_>>(),
        ),
        Column::new(
            "rows".into(),
            sources
                .iter()
                .map(|s| s.artifact.manifest.rows())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "bytes".into(),
            sources
                .iter()
                .map(|s| s.artifact.manifest.bytes())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "wall_secs".into(),
            sources
                .iter()
                .map(|s| s.artifact.manifest.wall_secs)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "seqsynth_version".into(),
            m(&|s| s.artifact.manifest.seqsynth_version.clone()),
        ),
        Column::new(
            "counters".into(),
            m(&|s| serde_json::to_string(&s.artifact.manifest.counters).unwrap_or_default()),
        ),
    ])?;
    Ok(df)
}

/// A SQL context with every table registered.
pub fn context(sources: &[Source], with_key: bool) -> Result<SQLContext> {
    let ctx = SQLContext::new();
    for def in &CATALOGUE {
        let lf = match scan(def, sources, with_key)? {
            Some(lf) => lf,
            None => DataFrame::empty_with_schema(&table_schema(def, with_key)).lazy(),
        };
        ctx.register(def.name, lf);
    }
    ctx.register("runs", runs_frame(sources)?.lazy());
    Ok(ctx)
}

/// The table names, in catalogue order, then `runs`.
pub fn table_names() -> Vec<&'static str> {
    CATALOGUE
        .iter()
        .map(|d| d.name)
        .chain(std::iter::once("runs"))
        .collect()
}

/// A description of every table and its columns (`seqsynth query --tables`).
pub fn describe(with_key: bool) -> Result<String> {
    let columns = |schema: &Schema| -> String {
        schema
            .iter()
            .map(|(n, dt)| format!("{n} {dt}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = String::new();
    for def in &CATALOGUE {
        s.push_str(&format!(
            "{}: {}\n    {}\n",
            def.name,
            def.about,
            columns(&table_schema(def, with_key))
        ));
    }
    s.push_str(&format!(
        "runs: one artifact (node, key, rows, bytes, wall time, counters as JSON)\n    {}\n",
        columns(runs_frame(&[])?.schema())
    ));
    Ok(s)
}

/// Runs `sql` and collects the result (with the streaming engine).
pub fn execute(sources: &[Source], with_key: bool, sql: &str) -> Result<DataFrame> {
    let mut ctx = context(sources, with_key)?;
    let lf = ctx.execute(sql).map_err(|e| explain(e, with_key))?;
    // a SQL query is one plan with one result (several results come only from multi-sink plans)
    let df = lf
        .collect_with_engine(Engine::Streaming)
        .map_err(|e| explain(e, with_key))?
        .unwrap_single();
    Ok(df)
}

/// A Polars error with what the user needs to fix it: the tables (and their columns) that exist.
fn explain(e: PolarsError, with_key: bool) -> anyhow::Error {
    let msg = e.to_string();
    let lower = msg.to_lowercase();
    if lower.contains("relation") || lower.contains("table") {
        anyhow!(
            "{msg}\nthe tables are: {} (`seqsynth query --tables` lists their columns)",
            table_names().join(", ")
        )
    } else if lower.contains("column") || lower.contains("not found") {
        anyhow!(
            "{msg}\n(`seqsynth query --tables` lists every table's columns{})",
            if with_key {
                ""
            } else {
                "; `key` exists with --all only"
            }
        )
    } else {
        anyhow!("SQL: {msg}")
    }
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table (at most --limit rows).
    Table,
    Csv,
    /// A JSON array of row objects.
    Json,
    Parquet,
}

/// Writes `df` in `format` to `out` (or stdout; Parquet needs a file).
pub fn write(df: &mut DataFrame, format: Format, out: Option<&Path>, limit: usize) -> Result<()> {
    use std::io::Write;
    let mut sink: Box<dyn Write> = match out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None if format == Format::Parquet => {
            bail!("--format parquet needs --output FILE (Parquet is not for a terminal)")
        }
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let r: Result<()> = match format {
        Format::Table => {
            let rows = df.height();
            let shown = if limit == 0 { rows } else { rows.min(limit) };
            let head = df.head(Some(shown));
            // Polars' Display reads its settings from the environment; this process prints one
            // result and nothing else formats a frame, so setting them here affects nothing else
            std::env::set_var("POLARS_FMT_MAX_ROWS", shown.max(1).to_string());
            std::env::set_var("POLARS_FMT_MAX_COLS", "64");
            std::env::set_var("POLARS_FMT_STR_LEN", "72");
            std::env::set_var("POLARS_FMT_TABLE_HIDE_DATAFRAME_SHAPE_INFORMATION", "1");
            std::env::set_var("POLARS_FMT_TABLE_HIDE_COLUMN_DATA_TYPES", "1");
            writeln!(sink, "{head}")?;
            if shown < rows {
                writeln!(
                    sink,
                    "({rows} rows, {shown} shown; --limit 0 shows all, --format csv writes all)"
                )?;
            } else {
                writeln!(sink, "({rows} row{})", if rows == 1 { "" } else { "s" })?;
            }
            Ok(())
        }
        Format::Csv => CsvWriter::new(&mut sink)
            .include_header(true)
            .finish(df)
            .map_err(Into::into),
        Format::Json => JsonWriter::new(&mut sink)
            .with_json_format(JsonFormat::Json)
            .finish(df)
            .map_err(Into::into),
        // Snappy: what the stages write, and what every Parquet reader can read
        Format::Parquet => ParquetWriter::new(&mut sink)
            .with_compression(ParquetCompression::Snappy)
            .finish(df)
            .map(|_| ())
            .map_err(Into::into),
    };
    match r {
        Ok(()) => {}
        // a closed pipe (`| head`) is not an error
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            return Ok(())
        }
        Err(e) => return Err(e.context("writing the result")),
    }
    match sink.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing the result"),
    }
}
