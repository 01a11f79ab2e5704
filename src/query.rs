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
//!
//! A query is bounded ([`run`]): its resident memory (`query.max_memory_mb`), its time
//! (`query.max_seconds`) and its result's size (`query.max_output_mb`); the result streams; an
//! `--output` file appears only complete; and the SQL reads no file (Polars' `read_csv` and
//! the like) unless `--allow-files` ([`check_files`]).

use crate::pipeline::config::QueryConfig;
use crate::pipeline::dag::Node;
use crate::pipeline::store::Artifact;
use crate::tables::{TableDef, CATALOGUE};
use anyhow::{anyhow, bail, Context, Result};
use polars::prelude::*;
use polars::sql::SQLContext;
use std::io::Write;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

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

// ---------------------------------------------------------------------------------------------
// Reading files

/// The Polars SQL table functions that read a file (polars-sql 0.55, `table_functions.rs`; no
/// other statement it runs touches a file: it has no COPY, and CREATE TABLE only names a plan).
/// A query may call them only with `--allow-files`.
pub const FILE_FUNCTIONS: [&str; 4] = ["read_csv", "read_parquet", "read_ipc", "read_json"];

/// Refuses SQL that reads files (a function of [`FILE_FUNCTIONS`]) before anything runs: an
/// analyst's SQL sees the store's tables only, unless `--allow-files`.
///
/// Two checks, either refuses: the tokens (any word naming one of the functions, quoted or not,
/// in any case, followed by `(`), and the statement parsed as Polars parses it (every table
/// function, which Polars resolves by its name's first part: `read_csv.x('f')` reads `f` too).
pub fn check_files(sql: &str) -> Result<()> {
    use sqlparser::ast::{TableFactor, Visit, Visitor};
    use sqlparser::dialect::GenericDialect;
    use sqlparser::tokenizer::{Token, Tokenizer};
    use std::ops::ControlFlow;

    let reads = |name: &str| FILE_FUNCTIONS.contains(&name.to_lowercase().as_str());
    let refuse = |name: &str| {
        anyhow!(
            "the SQL calls {name}(...), which reads a file: a query reads only the store's tables \
             unless `seqsynth query` is given --allow-files (which lets {} read any file you can \
             read)",
            FILE_FUNCTIONS.join(", ")
        )
    };
    if let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() {
        let mut previous: Option<&Token> = None;
        for t in tokens.iter().filter(|t| !matches!(t, Token::Whitespace(_))) {
            if let (Some(Token::Word(w)), Token::LParen) = (previous, t) {
                if reads(&w.value) {
                    return Err(refuse(&w.value));
                }
            }
            previous = Some(t);
        }
    }
    struct TableFunctions;
    impl Visitor for TableFunctions {
        type Break = String;
        fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<String> {
            if let TableFactor::Table {
                name,
                args: Some(_),
                ..
            } = t
            {
                if let Some(first) = name.0.first().and_then(|p| p.as_ident()) {
                    if FILE_FUNCTIONS.contains(&first.value.to_lowercase().as_str()) {
                        return ControlFlow::Break(first.value.clone());
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    // SQL that does not parse does not run either
    if let Ok(statements) = parse(sql) {
        if let ControlFlow::Break(name) = statements.visit(&mut TableFunctions) {
            return Err(refuse(&name));
        }
    }
    Ok(())
}

/// Whether the SQL has an `x [NOT] IN (SELECT ...)`. Polars 0.55's streaming engine runs one by
/// broadcasting the subquery's whole column, imploded into a list, to every row of the outer
/// table before `is_in` (pola-rs/polars#27725, lowered to a semi/anti join only in later
/// releases): `solved WHERE id NOT IN (SELECT id FROM solved ...)` asked for hundreds of GB and
/// aborted the process, which no watchdog can catch. Its in-memory engine keeps the list a
/// scalar, so [`stream`] runs such a query there (in 0.1 s and 70 MB on the same tables).
pub fn has_in_subquery(sql: &str) -> bool {
    use sqlparser::ast::{Expr, Visit, Visitor};
    use std::ops::ControlFlow;

    struct InSubquery;
    impl Visitor for InSubquery {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::InSubquery { .. } => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        }
    }
    parse(sql).is_ok_and(|statements| statements.visit(&mut InSubquery).is_break())
}

/// The statements of `sql`, parsed as `SQLContext::execute` parses them.
fn parse(sql: &str) -> Result<Vec<sqlparser::ast::Statement>, sqlparser::parser::ParserError> {
    use sqlparser::dialect::GenericDialect;
    use sqlparser::parser::{Parser, ParserOptions};
    Parser::new(&GenericDialect {})
        .with_options(ParserOptions {
            trailing_commas: true,
            ..Default::default()
        })
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
}

// ---------------------------------------------------------------------------------------------
// Bounds

const MIB: u64 = 1 << 20;

/// How often the watchdog looks at the process's memory and the time.
const POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// `bytes` for a person: `212 MiB`, `4.1 GiB`.
fn human(bytes: u64) -> String {
    let mib = bytes as f64 / MIB as f64;
    if mib < 1024.0 {
        format!("{mib:.0} MiB")
    } else {
        format!("{:.1} GiB", mib / 1024.0)
    }
}

/// The error of a bound passed: what was passed and how to raise it.
fn bound_error(setting: &str, value: u64, what: &str) -> String {
    format!(
        "the query passed query.{setting} = {value} ({what}); raise it with query.{setting}=N \
         (0: no limit) or narrow the query"
    )
}

/// The memory page size (`AT_PAGESZ` of /proc/self/auxv; 4096 where that cannot be read).
fn page_size() -> u64 {
    const AT_PAGESZ: usize = 6;
    const W: usize = std::mem::size_of::<usize>();
    let word = |b: &[u8]| {
        let mut a = [0u8; W];
        a.copy_from_slice(b);
        usize::from_ne_bytes(a)
    };
    if let Ok(aux) = std::fs::read("/proc/self/auxv") {
        for pair in aux.chunks_exact(2 * W) {
            match word(&pair[..W]) {
                0 => break,
                AT_PAGESZ => return word(&pair[W..]) as u64,
                _ => {}
            }
        }
    }
    4096
}

/// The process's resident memory in bytes (/proc/self/statm), or None where it cannot be read.
pub fn resident_bytes(page: u64) -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page)
}

/// A thread that ends the process (status 2, with an error naming the setting) once the query
/// passes `query.max_memory_mb` of resident memory or runs past `query.max_seconds`, removing
/// the partly written output file first. A query only reads, so ending it there is safe; no
/// memory Polars has taken can be taken back any other way. Dropping (or [`Watchdog::finish`])
/// stops it: once that returns it never ends the process.
pub struct Watchdog {
    done: Arc<Mutex<bool>>,
}

impl Watchdog {
    pub fn start(bounds: &QueryConfig, partial: Option<PathBuf>) -> Result<Watchdog> {
        let done = Arc::new(Mutex::new(false));
        if bounds.max_memory_mb == 0 && bounds.max_seconds == 0 {
            return Ok(Watchdog { done });
        }
        let (max_mb, max_secs) = (bounds.max_memory_mb, bounds.max_seconds);
        let page = page_size();
        let started = Instant::now();
        let flag = done.clone();
        std::thread::Builder::new()
            .name("query-watchdog".into())
            .spawn(move || loop {
                std::thread::sleep(POLL);
                // held while deciding, so that `finish` waits for an exit already decided
                let done = flag.lock().unwrap_or_else(PoisonError::into_inner);
                if *done {
                    return;
                }
                let passed = match resident_bytes(page) {
                    Some(rss) if max_mb > 0 && rss > max_mb * MIB => Some(bound_error(
                        "max_memory_mb",
                        max_mb,
                        &format!("resident {}", human(rss)),
                    )),
                    _ if max_secs > 0 && started.elapsed().as_secs_f64() > max_secs as f64 => {
                        Some(bound_error(
                            "max_seconds",
                            max_secs,
                            &format!(
                                "still running after {:.1} s",
                                started.elapsed().as_secs_f64()
                            ),
                        ))
                    }
                    _ => None,
                };
                if let Some(msg) = passed {
                    if let Some(p) = &partial {
                        let _ = std::fs::remove_file(p);
                    }
                    eprintln!("error: {msg}");
                    std::process::exit(2);
                }
            })
            .context("starting the query's watchdog thread")?;
        Ok(Watchdog { done })
    }

    /// Stops the watchdog (before the output is renamed into place).
    pub fn finish(self) {}
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        *self.done.lock().unwrap_or_else(PoisonError::into_inner) = true;
    }
}

/// A `Write` that counts the bytes written through it and refuses any that would pass `max`
/// (0: no limit); it remembers whether that happened, and whether the reader went away (a
/// closed pipe), however the writer above reports the error.
pub struct Counting<W> {
    inner: W,
    pub written: u64,
    max: u64,
    pub passed: bool,
    pub broken_pipe: bool,
}

impl<W: Write> Counting<W> {
    pub fn new(inner: W, max: u64) -> Self {
        Counting {
            inner,
            written: 0,
            max,
            passed: false,
            broken_pipe: false,
        }
    }

    fn note(&mut self, e: std::io::Error) -> std::io::Error {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            self.broken_pipe = true;
        }
        e
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.max > 0 && self.written + buf.len() as u64 > self.max {
            self.passed = true;
            return Err(std::io::Error::other(format!(
                "the result passed {} bytes",
                self.max
            )));
        }
        match self.inner.write(buf) {
            Ok(n) => {
                self.written += n as u64;
                Ok(n)
            }
            Err(e) => Err(self.note(e)),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().map_err(|e| self.note(e))
    }
}

/// Where the result goes (stdout or the output file), counted; shared by the writers and the
/// batch callback.
#[derive(Clone)]
struct Sink(Arc<Mutex<Counting<Box<dyn Write + Send>>>>);

impl Sink {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counting<Box<dyn Write + Send>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.lock().flush()
    }
}

/// `--output FILE`: written to a temporary file beside it, renamed onto it only when complete
/// (a stopped or failed query leaves no half file and keeps the file that was there). The
/// temporary file goes when this is dropped uncommitted (and the watchdog removes it itself).
/// A symlink keeps pointing where it did (the file it names is replaced); what is not a file (a
/// device such as /dev/stdout or /dev/null, a named pipe) is written directly, as there is no
/// half file to leave there and a rename would replace the device itself.
struct OutputFile {
    /// The file renamed onto (the symlink's target for a symlink).
    target: PathBuf,
    /// The temporary file, None when writing the target directly.
    temp: Option<PathBuf>,
    file: std::fs::File,
    committed: bool,
}

impl OutputFile {
    fn create(output: &Path) -> Result<OutputFile> {
        let direct = |path: &Path| -> Result<OutputFile> {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .with_context(|| format!("opening --output {}", output.display()))?;
            Ok(OutputFile {
                target: path.to_path_buf(),
                temp: None,
                file,
                committed: false,
            })
        };
        let mut target = output.to_path_buf();
        if let Ok(link) = std::fs::read_link(output) {
            target = match std::fs::canonicalize(output) {
                Ok(real) => real,
                // a dangling link: the file it names is created
                Err(_) => output.parent().unwrap_or(Path::new("")).join(link),
            };
        }
        match std::fs::metadata(&target) {
            Ok(m) if m.is_dir() => bail!("--output {}: a directory", output.display()),
            Ok(m) if !m.is_file() => return direct(&target),
            _ => {}
        }
        let name = target
            .file_name()
            .ok_or_else(|| anyhow!("--output {}: not a file name", output.display()))?;
        let temp = target.with_file_name(format!(
            ".{}.partial-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .with_context(|| {
                format!(
                    "creating {} (written there, then renamed to --output {})",
                    temp.display(),
                    output.display()
                )
            })?;
        Ok(OutputFile {
            target,
            temp: Some(temp),
            file,
            committed: false,
        })
    }

    fn commit(mut self) -> Result<()> {
        if let Some(temp) = &self.temp {
            self.file
                .sync_all()
                .with_context(|| format!("writing {}", temp.display()))?;
            std::fs::rename(temp, &self.target).with_context(|| {
                format!("renaming {} to {}", temp.display(), self.target.display())
            })?;
        }
        self.committed = true;
        Ok(())
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if let (false, Some(temp)) = (self.committed, &self.temp) {
            let _ = std::fs::remove_file(temp);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running

/// What `seqsynth query` runs and where its result goes.
#[derive(Clone, Debug)]
pub struct Options<'a> {
    pub sql: &'a str,
    /// `--all`: every artifact, with a `key` column.
    pub with_key: bool,
    pub format: Format,
    /// `--output FILE` (stdout without it).
    pub output: Option<&'a Path>,
    /// Rows `--format table` shows (0: all).
    pub limit: usize,
    /// `--allow-files`: the SQL may read files ([`FILE_FUNCTIONS`]).
    pub allow_files: bool,
    /// `[query]` of the config: memory, time and output bounds.
    pub bounds: QueryConfig,
}

/// Runs the query and writes its result, within the bounds (see [`Watchdog`] and [`Counting`]).
///
/// The result streams: the streaming engine hands over batches as it makes them, and each is
/// written (CSV, JSON, Parquet) or, for the table, kept only while within `--limit` and then only
/// counted, so memory holds the plan's own state (a sort, a join's build side) and not the whole
/// result. The table is printed as soon as `--limit` rows are in, its row count when the query
/// ends. A reader going away (`| head`) ends the query quietly. Any error, a panic inside Polars
/// included, is an error here.
pub fn run(sources: &[Source], o: &Options) -> Result<()> {
    if !o.allow_files {
        check_files(o.sql)?;
    }
    if o.output.is_none() && o.format == Format::Parquet {
        bail!("--format parquet needs --output FILE (Parquet is not for a terminal)");
    }
    let output = o.output.map(OutputFile::create).transpose()?;
    let watchdog = Watchdog::start(&o.bounds, output.as_ref().and_then(|f| f.temp.clone()))?;
    let out: Box<dyn Write + Send> = match &output {
        Some(f) => Box::new(std::io::BufWriter::with_capacity(
            1 << 20,
            f.file.try_clone().context("opening the output file")?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let sink = Sink(Arc::new(Mutex::new(Counting::new(
        out,
        o.bounds.max_output_mb.saturating_mul(MIB),
    ))));
    if o.format == Format::Table {
        // Polars' Display reads its settings from the environment; this process prints one
        // result and nothing else formats a frame (set before the query's threads run)
        let rows = if o.limit == 0 {
            "-1".to_string()
        } else {
            o.limit.to_string()
        };
        std::env::set_var("POLARS_FMT_MAX_ROWS", rows);
        std::env::set_var("POLARS_FMT_MAX_COLS", "64");
        std::env::set_var("POLARS_FMT_STR_LEN", "72");
        std::env::set_var("POLARS_FMT_TABLE_HIDE_DATAFRAME_SHAPE_INFORMATION", "1");
        std::env::set_var("POLARS_FMT_TABLE_HIDE_COLUMN_DATA_TYPES", "1");
    }
    // the file a stopped query leaves as it was (not a pipe or device written directly)
    let kept = output.as_ref().filter(|f| f.temp.is_some()).and(o.output);
    guarded(|| stream(sources, o, sink.clone(), kept))?;
    drop(sink);
    watchdog.finish();
    if let Some(f) = output {
        f.commit()?;
    }
    Ok(())
}

/// Runs `f`, turning a panic (inside Polars: some plans and readers panic rather than fail) into
/// an ordinary error, without the default hook's message and backtrace.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    static FIRST: Mutex<Option<String>> = Mutex::new(None);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        let mut first = FIRST.lock().unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            *first = Some(match info.location() {
                Some(l) => format!(
                    "{} (at {}:{})",
                    panic_text(info.payload()),
                    l.file(),
                    l.line()
                ),
                None => panic_text(info.payload()),
            });
        }
    }));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    match r {
        Ok(r) => r,
        Err(payload) => {
            let msg = FIRST
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .unwrap_or_else(|| panic_text(payload.as_ref()));
            Err(panic_error(&msg))
        }
    }
}

/// The error of a panic inside Polars, explained where the cause is known.
fn panic_error(msg: &str) -> anyhow::Error {
    // polars-sql's read_csv asks the CSV reader to infer dates, and the reader of a Polars built
    // without its date types (seqsynth's: no `dtype-date`) panics on any text column
    if msg.contains("activate one of {'dtype-date'") {
        return anyhow!(
            "read_csv cannot read this file: polars-sql's read_csv infers dates in the file's \
             text columns, and seqsynth's Polars is built without date types, so any text column \
             fails (a CSV of numbers only reads); read the data as NDJSON (read_json) or Parquet \
             (read_parquet) instead\n(inside Polars: {msg})"
        );
    }
    anyhow!("the query failed inside Polars: {msg}")
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic".to_string()
    }
}

/// Plans the SQL and streams its result through a [`Consumer`].
fn stream(sources: &[Source], o: &Options, sink: Sink, kept: Option<&Path>) -> Result<()> {
    let mut ctx = context(sources, o.with_key)?;
    let mut lf = ctx.execute(o.sql).map_err(|e| explain(e, o.with_key))?;
    let schema = lf.collect_schema().map_err(|e| explain(e, o.with_key))?;
    let mut consumer = Consumer::new(o.format, &schema, sink, o.limit, kept)?;
    consumer.begin();
    let started = !consumer.stopped();
    let consumer = Arc::new(Mutex::new(consumer));
    let shared = consumer.clone();
    let callback = PlanCallback::new(move |df: DataFrame| -> PolarsResult<bool> {
        Ok(shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(df))
    });
    // Parquet: batches of a row group's rows (those of `ParquetWriter::finish`)
    let chunk = match o.format {
        Format::Parquet => NonZeroUsize::new(512 * 512),
        _ => None,
    };
    // the streaming engine, except where it would broadcast an `IN (subquery)` (has_in_subquery)
    let engine = match has_in_subquery(o.sql) {
        true => Engine::InMemory,
        false => Engine::Streaming,
    };
    let result = match started {
        true => lf
            .sink_batches(callback, true, chunk)
            .and_then(|lf| lf.collect_with_engine(engine))
            .map(|_| ()),
        false => Ok(()),
    };
    let mut c = consumer.lock().unwrap_or_else(PoisonError::into_inner);
    if c.reader_gone {
        return Ok(());
    }
    if let Some(e) = c.error.take() {
        return Err(e);
    }
    result.map_err(|e| explain(e, o.with_key))?;
    c.end()
}

/// The result's writer for one format.
enum Writer {
    /// The rows kept to show (None until the first batch), and whether they were printed.
    Table {
        head: Option<DataFrame>,
        empty: DataFrame,
        limit: usize,
        shown: bool,
    },
    Csv(polars::io::csv::write::BatchedWriter<Sink>),
    Json {
        first: bool,
    },
    Parquet(Box<polars::io::parquet::write::BatchedWriter<Sink>>),
}

/// Takes the result's batches in order and writes them; remembers why it stopped early.
struct Consumer {
    writer: Writer,
    sink: Sink,
    output: Option<PathBuf>,
    rows: usize,
    /// The error that stopped the query (the writer's, the output bound's).
    error: Option<anyhow::Error>,
    /// The reader went away (a closed pipe): stop quietly.
    reader_gone: bool,
}

impl Consumer {
    fn new(
        format: Format,
        schema: &Schema,
        sink: Sink,
        limit: usize,
        output: Option<&Path>,
    ) -> Result<Consumer> {
        let writer = match format {
            Format::Table => Writer::Table {
                head: None,
                empty: DataFrame::empty_with_schema(schema),
                limit,
                shown: false,
            },
            Format::Csv => Writer::Csv(
                CsvWriter::new(sink.clone())
                    .include_header(true)
                    .batched(schema)?,
            ),
            Format::Json => Writer::Json { first: true },
            // Snappy: what the stages write, and what every Parquet reader can read
            Format::Parquet => Writer::Parquet(Box::new(
                ParquetWriter::new(sink.clone())
                    .with_compression(ParquetCompression::Snappy)
                    .batched(schema)?,
            )),
        };
        Ok(Consumer {
            writer,
            sink,
            output: output.map(Path::to_path_buf),
            rows: 0,
            error: None,
            reader_gone: false,
        })
    }

    fn stopped(&self) -> bool {
        self.reader_gone || self.error.is_some()
    }

    fn sink(&self) -> Sink {
        self.sink.clone()
    }

    /// Writes what comes before the rows.
    fn begin(&mut self) {
        if let Writer::Json { .. } = self.writer {
            let r = self.sink().write_all(b"[").map_err(Into::into);
            self.check(r);
        }
    }

    /// Takes one batch; true: stop the query (an error, or the reader went away).
    fn push(&mut self, df: DataFrame) -> bool {
        if self.stopped() {
            return true;
        }
        let r = self.write(df);
        self.check(r);
        self.stopped()
    }

    fn write(&mut self, mut df: DataFrame) -> Result<()> {
        self.rows += df.height();
        let mut sink = self.sink();
        match &mut self.writer {
            Writer::Table {
                head, limit, shown, ..
            } => {
                let have = head.as_ref().map_or(0, |h| h.height());
                if *limit == 0 || have < *limit {
                    let take = match *limit {
                        0 => df.height(),
                        l => (l - have).min(df.height()),
                    };
                    let part = df.head(Some(take));
                    match head {
                        Some(h) => {
                            h.vstack_mut_owned(part)?;
                        }
                        None => *head = Some(part),
                    }
                    // the rows to show are in: show them now, count the rest
                    if *limit > 0 && head.as_ref().is_some_and(|h| h.height() == *limit) {
                        writeln!(sink, "{}", head.as_ref().unwrap())?;
                        sink.flush()?;
                        *shown = true;
                    }
                }
            }
            Writer::Csv(w) => {
                df.align_chunks_par();
                w.write_batch(&df)?;
            }
            Writer::Json { first } => {
                // a JSON array of this batch's rows, without its brackets
                let mut buf = Vec::new();
                JsonWriter::new(&mut buf)
                    .with_json_format(JsonFormat::Json)
                    .finish(&mut df)?;
                let rows = &buf[1..buf.len() - 1];
                if !rows.is_empty() {
                    if !*first {
                        sink.write_all(b",")?;
                    }
                    sink.write_all(rows)?;
                    *first = false;
                }
            }
            Writer::Parquet(w) => {
                df.rechunk_mut_par();
                w.write_batch(&df)?;
            }
        }
        Ok(())
    }

    /// Writes what comes after the rows, and flushes.
    fn end(&mut self) -> Result<()> {
        let r = self.finish();
        self.check(r);
        if self.reader_gone {
            return Ok(());
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn finish(&mut self) -> Result<()> {
        let mut sink = self.sink();
        let rows = self.rows;
        match &mut self.writer {
            Writer::Table {
                head, empty, shown, ..
            } => {
                let head = head.as_ref().unwrap_or(empty);
                if !*shown {
                    writeln!(sink, "{head}")?;
                }
                let shown = head.height();
                if shown < rows {
                    writeln!(
                        sink,
                        "({rows} rows, {shown} shown; --limit 0 shows all, --format csv writes all)"
                    )?;
                } else {
                    writeln!(sink, "({rows} row{})", if rows == 1 { "" } else { "s" })?;
                }
            }
            Writer::Csv(w) => w.finish()?,
            Writer::Json { .. } => sink.write_all(b"]")?,
            Writer::Parquet(w) => {
                w.finish()?;
            }
        }
        sink.flush()?;
        Ok(())
    }

    /// Files the outcome of a write: the reader gone, the output bound passed, or an error.
    fn check(&mut self, r: Result<()>) {
        let Err(e) = r else { return };
        let (passed, broken_pipe) = {
            let s = self.sink();
            let c = s.lock();
            (c.passed, c.broken_pipe)
        };
        let broken_pipe = broken_pipe
            || e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            });
        if passed {
            let max = self.sink().lock().max / MIB;
            let mut msg = bound_error(
                "max_output_mb",
                max,
                &format!("the result would pass {max} MiB"),
            );
            if let Some(p) = &self.output {
                msg.push_str(&format!("; {} was not written", p.display()));
            }
            self.error.get_or_insert(anyhow!(msg));
        } else if broken_pipe {
            self.reader_gone = true;
        } else {
            self.error.get_or_insert(e.context("writing the result"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_subqueries_are_found_wherever_they_are() {
        for sql in [
            "SELECT * FROM solved WHERE id NOT IN (SELECT id FROM targets)",
            "select * from solved where iteration = 1 and id in (select id from targets)",
            "WITH s AS (SELECT id FROM solved WHERE id IN (SELECT id FROM targets)) SELECT * FROM s",
            "SELECT id IN (SELECT id FROM targets) AS t FROM solved",
        ] {
            assert!(has_in_subquery(sql), "{sql}");
        }
        for sql in [
            "SELECT * FROM solved WHERE id IN ('A000045', 'A000040')",
            "SELECT * FROM solved WHERE id = (SELECT min(id) FROM targets)",
            "SELECT * FROM targets ANTI JOIN solved ON targets.id = solved.id",
            "SELECT 'x IN (SELECT y)' AS text",
            "not sql at all (",
        ] {
            assert!(!has_in_subquery(sql), "{sql}");
        }
    }

    #[test]
    fn query_check_files_refuses_every_spelling_of_a_reader() {
        for sql in [
            "SELECT * FROM read_csv('x.csv')",
            "select * from READ_PARQUET('x')",
            "SELECT * FROM \"read_json\"('/etc/passwd')",
            "SELECT * FROM read_ipc /* a comment */ ('x')",
            "SELECT * FROM read_csv\n(\n'x')",
            "SELECT * FROM targets t JOIN read_csv('x') r ON t.id = r.id",
            "SELECT id FROM targets WHERE id IN (SELECT id FROM read_json('x'))",
            "WITH r AS (SELECT * FROM read_parquet('x')) SELECT * FROM r",
            "EXPLAIN SELECT * FROM read_csv('x')",
            "CREATE TABLE t AS SELECT * FROM read_csv('x')",
            // Polars resolves a table function by its name's first part
            "SELECT * FROM read_csv.anything('x')",
            "SELECT * FROM \"READ_CSV\".x('x')",
        ] {
            let e = check_files(sql).expect_err(sql).to_string();
            assert!(
                e.contains("which reads a file") && e.contains("--allow-files"),
                "{sql}: {e}"
            );
        }
        let e = check_files("select * from Read_Json('x')").unwrap_err();
        assert!(
            e.to_string().starts_with("the SQL calls Read_Json(...)"),
            "{e}"
        );
        for sql in [
            "SELECT * FROM targets",
            "SELECT 'read_csv(' AS s FROM targets",
            "SELECT read_csv FROM t",
            "SELECT count(*) AS read_parquet FROM pairs",
            "SELECT * FROM pairs a, pairs b",
            "SELEC nonsense (",
        ] {
            check_files(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    #[test]
    fn query_counting_refuses_bytes_past_its_bound() {
        let mut c = Counting::new(Vec::new(), 10);
        c.write_all(b"12345").unwrap();
        c.write_all(b"67890").unwrap();
        assert_eq!((c.written, c.passed), (10, false));
        let e = c.write_all(b"x").unwrap_err();
        assert!(e.to_string().contains("passed 10 bytes"), "{e}");
        assert!(c.passed && !c.broken_pipe);
        assert_eq!(c.inner, b"1234567890", "nothing past the bound is written");
        // 0: no bound
        let mut c = Counting::new(Vec::new(), 0);
        c.write_all(&[0; 4096]).unwrap();
        assert_eq!((c.written, c.passed), (4096, false));
        // a closed pipe is noted, however the writer above reports it
        struct Closed;
        impl Write for Closed {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
        }
        let mut c = Counting::new(Closed, 0);
        assert!(c.write(b"x").is_err());
        assert!(c.broken_pipe && !c.passed);
    }

    #[test]
    fn query_memory_is_read_and_written_for_people() {
        let page = page_size();
        assert!(page >= 4096 && page.is_power_of_two(), "{page}");
        if cfg!(target_os = "linux") {
            let rss = resident_bytes(page).unwrap();
            assert!(rss > MIB && rss < (1 << 40), "{rss}");
        }
        assert_eq!(human(212 * MIB), "212 MiB");
        assert_eq!(human(4198 * MIB), "4.1 GiB");
        let e = bound_error("max_seconds", 3, "still running after 3.0 s");
        assert_eq!(
            e,
            "the query passed query.max_seconds = 3 (still running after 3.0 s); raise it with \
             query.max_seconds=N (0: no limit) or narrow the query"
        );
    }

    #[test]
    fn query_panics_are_errors() {
        let r: Result<()> = guarded(|| panic!("inside {}", "polars"));
        let e = r.unwrap_err().to_string();
        assert!(
            e.starts_with("the query failed inside Polars: inside polars (at "),
            "{e}"
        );
        assert!(e.contains("query.rs"), "the panic's place: {e}");
        let e =
            panic_error("activate one of {'dtype-date', 'dtype-datetime', dtype-time'} features");
        assert!(
            e.to_string().starts_with("read_csv cannot read this file"),
            "{e}"
        );
        // no panic: the closure's own result
        assert_eq!(guarded(|| Ok(7)).unwrap(), 7);
        assert!(guarded(|| -> Result<()> { bail!("plain") }).is_err());
    }

    #[test]
    fn query_output_is_renamed_into_place_only_when_complete() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("r.csv");
        std::fs::write(&target, "good\n").unwrap();
        let names = || -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        // dropped unfinished: the temporary goes, the file there stays
        let mut f = OutputFile::create(&target).unwrap();
        f.file.write_all(b"half").unwrap();
        assert_eq!(names().len(), 2);
        drop(f);
        assert_eq!(names(), ["r.csv"]);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "good\n");
        // committed: replaces it
        let mut f = OutputFile::create(&target).unwrap();
        f.file.write_all(b"new\n").unwrap();
        f.commit().unwrap();
        assert_eq!(names(), ["r.csv"]);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new\n");
        // through a symlink: the link stays, the file it names is replaced
        #[cfg(unix)]
        {
            let link = dir.path().join("link.csv");
            std::os::unix::fs::symlink(&target, &link).unwrap();
            let mut f = OutputFile::create(&link).unwrap();
            f.file.write_all(b"linked\n").unwrap();
            f.commit().unwrap();
            assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "linked\n");
            assert_eq!(names(), ["link.csv", "r.csv"]);
        }
        // a named pipe (as a device: /dev/stdout) is written directly, never replaced
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let path = fifo.clone();
            let reader = std::thread::spawn(move || std::fs::read_to_string(path).unwrap());
            let mut f = OutputFile::create(&fifo).unwrap();
            assert!(f.temp.is_none());
            f.file.write_all(b"piped\n").unwrap();
            f.commit().unwrap();
            assert_eq!(reader.join().unwrap(), "piped\n");
            use std::os::unix::fs::FileTypeExt;
            assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        }
        assert!(OutputFile::create(dir.path()).is_err(), "a directory");
    }
}
