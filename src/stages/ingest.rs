//! `ingest`: OEIS files → the targets table.
//!
//! Sources (`ingest.source`, `ingest.format`):
//! - **flat**: a directory with the OEIS's own flat files: `stripped` (`A000045 ,0,1,1,2,...,`),
//!   `names` (`A000045 Fibonacci numbers...`), optional `keywords` (`A000045 core,nonn,easy`) and
//!   `offsets` (`A000045 0`), each plain or `.gz`; `#` lines are comments;
//! - **internal**: a tree of OEIS internal-format entries (`seq/A000/A000045.seq`) with `%S %T %U`
//!   terms (or their signed versions `%V %W %X`), `%N` name, `%K` keywords, `%O` offset;
//! - **url**: an http(s) base URL serving `stripped.gz` and `names.gz`, downloaded once into the
//!   store's `downloads/` (with a progress bar) and read as flat files.
//!
//! Filters, as the paper: every required keyword present, no excluded keyword (`dead`), at least
//! `min_terms` terms, then the first `limit` by A-number. Terms are kept exactly as decimal
//! strings, whatever their size. A malformed line is an error naming file, line and text, or, with
//! `on_bad_line = "skip"`, is skipped and counted in the manifest.

use super::{Ctx, Stage};
use crate::pipeline::config::{IngestConfig, Loaded, OnBadLine, SourceFormat};
use crate::pipeline::dag::Node;
use crate::pipeline::store::{file_digest, Store};
use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

pub struct Ingest;

pub use crate::tables::targets::{Record, Terms};

/// The source after resolving `ingest.format = "auto"`.
#[derive(Clone, Debug, PartialEq)]
enum Source {
    Flat(PathBuf),
    Internal(PathBuf),
    Url(String),
}

impl Stage for Ingest {
    fn name(&self) -> &'static str {
        "ingest"
    }
    fn version(&self) -> u32 {
        1
    }
    fn iterated(&self, _: &Loaded) -> bool {
        false
    }
    fn params(&self, loaded: &Loaded, _: &Node) -> serde_json::Value {
        let mut p = loaded.section("ingest");
        // Where the files lie is not part of the key; their digests are (see `external`).
        // Nor are the bounds of a download (they decide whether data arrives, not what it is).
        if let Some(m) = p.as_object_mut() {
            for k in ["source", "max_download_mb", "max_download_secs"] {
                m.remove(k);
            }
        }
        p
    }
    fn inputs(&self, _: &Loaded, _: &Node) -> Vec<Node> {
        vec![]
    }
    fn external(&self, loaded: &Loaded, store: &Store) -> Result<serde_json::Value> {
        match resolve_source(loaded)? {
            Source::Flat(dir) => {
                let mut m = serde_json::Map::new();
                for base in ["stripped", "names", "keywords", "offsets"] {
                    if let Some(p) = find_flat(&dir, base) {
                        m.insert(base.into(), json!(file_digest(&p)?));
                    }
                }
                Ok(json!({ "flat": m }))
            }
            Source::Internal(dir) => {
                let mut h = blake3::Hasher::new();
                let files = seq_files(&dir)?;
                for f in &files {
                    let rel = f.strip_prefix(&dir).unwrap_or(f);
                    h.update(rel.to_string_lossy().as_bytes());
                    h.update(file_digest(f)?.as_bytes());
                }
                Ok(json!({ "internal": h.finalize().to_hex().to_string(), "files": files.len() }))
            }
            Source::Url(url) => {
                if store.is_read_only() && !downloaded(store, &url) {
                    // `status` never downloads: the key is not known until the data is here
                    return Ok(json!({ "url": url, "downloaded": false }));
                }
                let dir = download(store, &url, &loaded.config.ingest)?;
                let mut m = serde_json::Map::new();
                for base in ["stripped", "names"] {
                    let p = find_flat(&dir, base).expect("downloaded");
                    m.insert(base.into(), json!(file_digest(&p)?));
                }
                Ok(json!({ "url": url, "flat": m }))
            }
        }
    }
    fn run(&self, ctx: &mut Ctx) -> Result<()> {
        let cfg = &ctx.loaded.config.ingest;
        let mut bad = BadLines::new(cfg.on_bad_line);
        let records = match resolve_source(ctx.loaded)? {
            Source::Flat(dir) => read_flat(&dir, &mut bad)?,
            Source::Internal(dir) => read_internal(&dir, &mut bad)?,
            Source::Url(url) => read_flat(&download(ctx.store, &url, cfg)?, &mut bad)?,
        };
        let total = records.len();
        let source = cfg.source.as_str();
        if !cfg.keywords.is_empty() && total > 0 && records.values().all(|r| r.keywords.is_empty())
        {
            bail!(
                "ingest.keywords = {:?} requires keywords, but the source {source:?} has none for any \
                 of its {total} sequences (no keywords file, or no %K lines); set ingest.keywords = [] \
                 or point ingest.source at OEIS data with keywords",
                cfg.keywords
            );
        }
        let (kept, counts) = filter(records, cfg);
        if kept.is_empty() {
            let why: Vec<String> = counts
                .iter()
                .filter(|(_, v)| *v > 0)
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            bail!(
                "ingest keeps no target: {total} sequences read from {source:?}, none passes the \
                 filters (ingest.keywords, ingest.exclude_keywords, ingest.min_terms); {}",
                if why.is_empty() {
                    "nothing was read".to_string()
                } else {
                    why.join(", ")
                }
            );
        }
        tracing::info!("ingest: {total} sequences read, {} kept", kept.len());
        ctx.count("sequences_read", total);
        for (k, v) in counts {
            ctx.count(k, v);
        }
        ctx.count("kept", kept.len());
        ctx.count("bad_lines_skipped", bad.skipped);
        if bad.skipped > 0 {
            tracing::warn!("ingest: skipped {} malformed lines", bad.skipped);
            eprintln!("ingest: skipped {} malformed lines", bad.skipped);
        }
        ctx.write_table("targets", &crate::tables::targets::batch(&kept)?)
    }
}

fn resolve_source(loaded: &Loaded) -> Result<Source> {
    let cfg = &loaded.config.ingest;
    let s = cfg.source.trim();
    if s.is_empty() {
        bail!("ingest.source is empty: set it to an OEIS directory or URL");
    }
    let is_url = s.starts_with("http://") || s.starts_with("https://");
    match cfg.format {
        SourceFormat::Url => return Ok(Source::Url(s.to_string())),
        SourceFormat::Auto if is_url => return Ok(Source::Url(s.to_string())),
        _ if is_url => bail!(
            "ingest.source is a URL but ingest.format is {:?}",
            cfg.format
        ),
        _ => {}
    }
    let dir = loaded.resolve(Path::new(s));
    if !dir.is_dir() {
        bail!(
            "ingest.source: {} is not a directory (nor an http(s) URL)",
            dir.display()
        );
    }
    match cfg.format {
        SourceFormat::Flat => Ok(Source::Flat(dir)),
        SourceFormat::Internal => Ok(Source::Internal(dir)),
        _ => {
            if find_flat(&dir, "stripped").is_some() {
                Ok(Source::Flat(dir))
            } else if dir.join("seq").is_dir() || !seq_files(&dir)?.is_empty() {
                Ok(Source::Internal(dir))
            } else {
                bail!(
                    "ingest.source: {} has neither stripped[.gz] nor OEIS internal-format .seq files",
                    dir.display()
                )
            }
        }
    }
}

/// `dir/base` or `dir/base.gz`.
fn find_flat(dir: &Path, base: &str) -> Option<PathBuf> {
    [dir.join(base), dir.join(format!("{base}.gz"))]
        .into_iter()
        .find(|p| p.is_file())
}

/// Opens a plain or gzipped text file.
fn open_text(path: &Path) -> Result<Box<dyn BufRead>> {
    let f = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let r: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 16, r)))
}

/// Collects malformed lines: fails on the first, or counts them.
struct BadLines {
    mode: OnBadLine,
    skipped: u64,
}

impl BadLines {
    fn new(mode: OnBadLine) -> Self {
        BadLines { mode, skipped: 0 }
    }
    fn report(&mut self, file: &Path, line: usize, why: &str, text: &str) -> Result<()> {
        let msg = format!(
            "{}:{line}: {why}: {:?}",
            file.display(),
            truncate(text, 120)
        );
        match self.mode {
            OnBadLine::Error => Err(anyhow!(msg).context(
                "malformed OEIS line (set ingest.on_bad_line = \"skip\" to skip such lines)",
            )),
            OnBadLine::Skip => {
                if self.skipped < 10 {
                    tracing::warn!("skipping {msg}");
                }
                self.skipped += 1;
                Ok(())
            }
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "..."
    }
}

/// Visits every line of a text file with its 1-based number; `#` comments and blank lines are
/// skipped. Read errors (a truncated .gz) name the file and line.
fn for_each_line(path: &Path, mut f: impl FnMut(usize, &str) -> Result<()>) -> Result<()> {
    let mut r = open_text(path)?;
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        let read = r.read_until(b'\n', &mut buf).with_context(|| {
            format!(
                "{}:{}: reading failed (truncated or corrupt file?)",
                path.display(),
                n + 1
            )
        })?;
        if read == 0 {
            return Ok(());
        }
        n += 1;
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        f(n, line)?;
    }
}

/// Parses `A000045` to 45.
pub fn parse_anum(s: &str) -> Option<u32> {
    let digits = s.strip_prefix('A')?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Checks one decimal integer term and returns its canonical text.
pub fn parse_term(s: &str) -> Option<String> {
    let body = s.strip_prefix('-').unwrap_or(s);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let trimmed = body.trim_start_matches('0');
    let canon = if trimmed.is_empty() { "0" } else { trimmed };
    Some(if s.starts_with('-') && canon != "0" {
        format!("-{canon}")
    } else {
        canon.to_string()
    })
}

/// Parses comma-separated terms (empty pieces from leading/trailing commas are ignored).
fn parse_terms(s: &str) -> Result<Terms, String> {
    let mut out = Terms::default();
    for t in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let canon = parse_term(t).ok_or_else(|| format!("term {t:?} is not an integer"))?;
        out.push(&canon);
    }
    Ok(out)
}

/// Splits `A000045 rest` into the number and the rest.
fn split_anum(line: &str) -> Result<(u32, &str), String> {
    let (a, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
    let n = parse_anum(a).ok_or_else(|| format!("bad A-number {a:?}"))?;
    Ok((n, rest.trim()))
}

fn read_flat(dir: &Path, bad: &mut BadLines) -> Result<BTreeMap<u32, Record>> {
    let stripped = find_flat(dir, "stripped")
        .ok_or_else(|| anyhow!("{}: no stripped or stripped.gz file", dir.display()))?;
    let names = find_flat(dir, "names")
        .ok_or_else(|| anyhow!("{}: no names or names.gz file", dir.display()))?;
    let mut recs: BTreeMap<u32, Record> = BTreeMap::new();
    for_each_line(&stripped, |n, line| {
        match split_anum(line).and_then(|(a, rest)| Ok((a, parse_terms(rest)?))) {
            Ok((a, terms)) => {
                if recs.contains_key(&a) {
                    return bad.report(&stripped, n, "duplicate A-number", line);
                }
                recs.insert(
                    a,
                    Record {
                        number: a,
                        terms,
                        ..Record::default()
                    },
                );
                Ok(())
            }
            Err(why) => bad.report(&stripped, n, &why, line),
        }
    })?;
    for_each_line(&names, |n, line| match split_anum(line) {
        Ok((a, rest)) => {
            if let Some(r) = recs.get_mut(&a) {
                r.name = Some(rest.to_string());
            }
            Ok(())
        }
        Err(why) => bad.report(&names, n, &why, line),
    })?;
    if let Some(path) = find_flat(dir, "offsets") {
        for_each_line(&path, |n, line| {
            match split_anum(line).and_then(|(a, rest)| Ok((a, parse_offset(rest)?))) {
                Ok((a, off)) => {
                    if let Some(r) = recs.get_mut(&a) {
                        r.offset = Some(off);
                    }
                    Ok(())
                }
                Err(why) => bad.report(&path, n, &why, line),
            }
        })?;
    }
    if let Some(path) = find_flat(dir, "keywords") {
        for_each_line(&path, |n, line| match split_anum(line) {
            Ok((a, rest)) => {
                if let Some(r) = recs.get_mut(&a) {
                    r.keywords = parse_keywords(rest);
                }
                Ok(())
            }
            Err(why) => bad.report(&path, n, &why, line),
        })?;
    }
    Ok(recs)
}

/// The first number of an offset field (`0` or the internal format's `0,4`).
fn parse_offset(s: &str) -> Result<i64, String> {
    let first = s.split(',').next().unwrap_or("").trim();
    first
        .parse()
        .map_err(|_| format!("offset {first:?} is not an integer"))
}

fn parse_keywords(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect()
}

/// All `.seq` files under `dir`, sorted.
fn seq_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "seq") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn read_internal(dir: &Path, bad: &mut BadLines) -> Result<BTreeMap<u32, Record>> {
    let mut recs: BTreeMap<u32, Record> = BTreeMap::new();
    // Unsigned (%S %T %U) and signed (%V %W %X) term lines, per sequence.
    let mut unsigned: BTreeMap<u32, String> = BTreeMap::new();
    let mut signed: BTreeMap<u32, String> = BTreeMap::new();
    for file in seq_files(dir)? {
        for_each_line(&file, |n, line| {
            let Some(rest) = line.strip_prefix('%') else {
                return bad.report(&file, n, "not a %-line of the internal format", line);
            };
            let mut chars = rest.chars();
            let tag = chars.next().unwrap_or(' ');
            let (a, text) = match split_anum(chars.as_str().trim_start()) {
                Ok(x) => x,
                Err(why) => return bad.report(&file, n, &why, line),
            };
            let r = recs.entry(a).or_insert_with(|| Record {
                number: a,
                ..Record::default()
            });
            match tag {
                'S' | 'T' | 'U' => {
                    let s = unsigned.entry(a).or_default();
                    s.push(',');
                    s.push_str(text);
                }
                'V' | 'W' | 'X' => {
                    let s = signed.entry(a).or_default();
                    s.push(',');
                    s.push_str(text);
                }
                'N' => r.name = Some(text.to_string()),
                'K' => r.keywords = parse_keywords(text),
                'O' => match parse_offset(text) {
                    Ok(o) => r.offset = Some(o),
                    Err(why) => return bad.report(&file, n, &why, line),
                },
                _ => {}
            }
            Ok(())
        })?;
    }
    for (a, r) in recs.iter_mut() {
        let text = signed.get(a).or(unsigned.get(a));
        if let Some(t) = text {
            match parse_terms(t) {
                Ok(terms) => r.terms = terms,
                Err(why) => bad.report(dir, 0, &format!("A{a:06}: {why}"), t)?,
            }
        }
    }
    Ok(recs)
}

/// Applies the filters in order; returns the kept records and the exclusion counts.
pub fn filter(
    recs: BTreeMap<u32, Record>,
    cfg: &IngestConfig,
) -> (Vec<Record>, Vec<(&'static str, u64)>) {
    let (mut no_kw, mut excluded, mut short, mut over) = (0u64, 0u64, 0u64, 0u64);
    let mut kept = Vec::new();
    for (_, r) in recs {
        if !cfg.keywords.iter().all(|k| r.keywords.contains(k)) {
            no_kw += 1;
        } else if cfg.exclude_keywords.iter().any(|k| r.keywords.contains(k)) {
            excluded += 1;
        } else if r.terms.len() < cfg.min_terms {
            short += 1;
        } else if cfg.limit > 0 && kept.len() >= cfg.limit {
            over += 1;
        } else {
            kept.push(r);
        }
    }
    (
        kept,
        vec![
            ("excluded_missing_keywords", no_kw),
            ("excluded_by_keyword", excluded),
            ("excluded_too_few_terms", short),
            ("excluded_over_limit", over),
        ],
    )
}

fn download_dir(store: &Store, base: &str) -> PathBuf {
    let id = blake3::hash(base.as_bytes()).to_hex()[..16].to_string();
    store.downloads_dir().join(id)
}

/// Whether `base` has been downloaded completely.
fn downloaded(store: &Store, base: &str) -> bool {
    download_dir(store, base).join("complete").is_file()
}

/// Downloads `stripped.gz` and `names.gz` from `base` into the store (once per URL). Each file
/// must be complete gzip of OEIS data (checked after gunzip) before the download is marked
/// complete; a failed, stalled, oversized or overlong download leaves nothing behind, and the
/// next run tries again. The bounds are `ingest.timeout_secs` (silence), `ingest.max_download_mb`
/// (bytes of one file; 64 times that decompressed) and `ingest.max_download_secs` (one file's
/// whole download).
fn download(store: &Store, base: &str, cfg: &IngestConfig) -> Result<PathBuf> {
    let dir = download_dir(store, base);
    if dir.join("complete").is_file() {
        return Ok(dir);
    }
    let id = dir
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let tmp = store
        .downloads_dir()
        .join(format!("{id}.tmp.{}", std::process::id()));
    // a leftover of ours with this pid (a dead run's) goes; anything else there is not ours
    if tmp.exists() {
        if !crate::pipeline::store::is_own_dir(&tmp) {
            bail!(
                "{} is in the way and is not seqsynth's: move it",
                tmp.display()
            );
        }
        fs::remove_dir_all(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    // marked as the store's own, so that clean-up after a kill knows it
    crate::pipeline::store::make_own_dir(&tmp)?;
    let got = (|| -> Result<()> {
        for (file, kind) in [
            ("stripped.gz", FlatKind::Stripped),
            ("names.gz", FlatKind::Names),
        ] {
            let url = format!("{}/{file}", base.trim_end_matches('/'));
            fetch(&url, &tmp.join(file), &Limits::of(cfg))?;
            check_download(&url, &tmp.join(file), kind, cfg.max_download_mb)?;
        }
        Ok(())
    })();
    if let Err(e) = got {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e.context("ingest.source: the download was discarded; the next run retries"));
    }
    fs::write(tmp.join("complete"), base)?;
    // durable before it is trusted: a power loss cannot leave `complete` beside truncated data
    crate::pipeline::store::sync_dir_files(&tmp)?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&tmp, &dir).with_context(|| format!("renaming into {}", dir.display()))?;
    crate::pipeline::store::sync_dir(&store.downloads_dir())?;
    Ok(dir)
}

const MIB: u64 = 1 << 20;

/// How much of a gzip file's decompressed data may exceed its compressed cap: a file that
/// decompresses to more than this many times `ingest.max_download_mb` is refused (a gzip bomb).
/// The OEIS's own files decompress about 4 to 6 times.
const MAX_GUNZIP_RATIO: u64 = 64;

/// Data lines of a downloaded file checked to look like OEIS data before it is kept.
const CHECKED_LINES: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq)]
enum FlatKind {
    Stripped,
    Names,
}

impl FlatKind {
    fn name(self) -> &'static str {
        match self {
            FlatKind::Stripped => "stripped",
            FlatKind::Names => "names",
        }
    }
    fn example(self) -> &'static str {
        match self {
            FlatKind::Stripped => "A000045 ,0,1,1,2,3,5,8,...",
            FlatKind::Names => "A000045 Fibonacci numbers: ...",
        }
    }
    /// Why `line` (a data line, possibly cut short) is not a line of this file, if it is not.
    fn check(self, line: &str, cut: bool) -> Result<(), String> {
        let (_, rest) = split_anum(line)?;
        match self {
            FlatKind::Stripped => {
                // of a line cut short, only the terms before its last comma are whole
                let rest = if cut {
                    &rest[..rest.rfind(',').unwrap_or(0)]
                } else {
                    rest
                };
                if parse_terms(rest)?.is_empty() {
                    return Err("no terms".into());
                }
                Ok(())
            }
            FlatKind::Names if rest.is_empty() => Err("no name".into()),
            FlatKind::Names => Ok(()),
        }
    }
}

/// Fails unless `path` is a gzip stream that decompresses to its end, to at most
/// `MAX_GUNZIP_RATIO` × `max_mb` MiB, and whose first data lines (after `#` comments and blank
/// lines) look like the OEIS file `kind`: what an HTML error page, gzipped, is not.
fn check_download(url: &str, path: &Path, kind: FlatKind, max_mb: u64) -> Result<()> {
    let f = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut start = Vec::new();
    f.take(64).read_to_end(&mut start)?;
    if !start.starts_with(&[0x1f, 0x8b]) {
        bail!(
            "{url} did not serve gzip data (it starts with {:?})",
            String::from_utf8_lossy(&start)
        );
    }
    let limit = max_mb.saturating_mul(MAX_GUNZIP_RATIO).saturating_mul(MIB);
    let corrupt = || format!("{url}: the gzip data is truncated or corrupt");
    let gz = flate2::read::MultiGzDecoder::new(fs::File::open(path)?);
    // one byte past the limit tells a file of exactly `limit` bytes from a larger one
    let mut r = BufReader::with_capacity(1 << 16, gz.take(limit.saturating_add(1)));
    // the first data lines, each read to at most 64 KiB (a line of the OEIS has a few KiB)
    const LINE_MAX: u64 = 64 << 10;
    let mut seen = Vec::new(); // the start of what was decompressed, for the error
    let (mut checked, mut n) = (0, 0);
    let mut buf = Vec::new();
    while checked < CHECKED_LINES {
        buf.clear();
        let k = r
            .by_ref()
            .take(LINE_MAX)
            .read_until(b'\n', &mut buf)
            .with_context(corrupt)?;
        if k == 0 {
            break;
        }
        if seen.len() < 512 {
            seen.extend_from_slice(&buf[..buf.len().min(512 - seen.len())]);
        }
        n += 1;
        let cut = !buf.ends_with(b"\n");
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() || line.starts_with('#') {
            // a comment line longer than LINE_MAX: the rest of it is read as the next line
            continue;
        }
        if let Err(why) = kind.check(line, cut) {
            bail!(
                "{url} did not serve OEIS {} data: after gunzip, line {n} ({why}) is not like \
                 {:?}; the server sent (gunzipped) {:?}",
                kind.name(),
                kind.example(),
                truncate(&String::from_utf8_lossy(&seen), 200)
            );
        }
        checked += 1;
    }
    if checked == 0 {
        bail!(
            "{url} did not serve OEIS {} data: after gunzip it has no data line (only {n} \
             comment or blank lines); the server sent (gunzipped) {:?}",
            kind.name(),
            truncate(&String::from_utf8_lossy(&seen), 200)
        );
    }
    let rest = std::io::copy(&mut r, &mut std::io::sink()).with_context(corrupt)?;
    if r.into_inner().limit() == 0 {
        bail!(
            "{url} decompresses to more than {} MiB ({MAX_GUNZIP_RATIO} × ingest.max_download_mb \
             = {max_mb}): refused as a gzip bomb; if the file really is this large, raise \
             ingest.max_download_mb",
            limit / MIB
        );
    }
    tracing::debug!("{url}: {} lines checked, {rest} more bytes", checked);
    Ok(())
}

/// The bounds of one file's download.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// `ingest.timeout_secs`: the longest silence (no answer, or no more bytes).
    silence: std::time::Duration,
    /// `ingest.max_download_mb`.
    max_mb: u64,
    /// `ingest.max_download_secs`: the whole download, however steadily the server sends.
    whole: std::time::Duration,
}

impl Limits {
    fn of(cfg: &IngestConfig) -> Limits {
        // a century is "no bound"; more would overflow an Instant
        let secs = |s: u64| std::time::Duration::from_secs(s.min(100 * 365 * 86_400));
        Limits {
            silence: secs(cfg.timeout_secs.max(1)),
            max_mb: cfg.max_download_mb,
            whole: secs(cfg.max_download_secs),
        }
    }
    fn max_bytes(&self) -> u64 {
        self.max_mb.saturating_mul(MIB)
    }
    fn too_long(&self, url: &str, got: u64) -> anyhow::Error {
        anyhow!(
            "downloading {url}: not done within ingest.max_download_secs = {} s ({} so far); \
             stopped (raise ingest.max_download_secs for a slow server)",
            self.whole.as_secs(),
            human_bytes(got)
        )
    }
    fn too_big(&self, url: &str, what: &str) -> anyhow::Error {
        anyhow!(
            "downloading {url}: {what}, over ingest.max_download_mb = {} MiB (raise it if the \
             file really is this large)",
            self.max_mb
        )
    }
}

/// What the download thread tells the thread that watches it.
#[derive(Default)]
struct Flow {
    /// Bytes of the body written so far.
    bytes: std::sync::atomic::AtomicU64,
    /// Milliseconds from the start to the last sign of life (the answer, then each read).
    alive_ms: std::sync::atomic::AtomicU64,
    /// The answer's Content-Length (0: none yet or unknown).
    len: std::sync::atomic::AtomicU64,
    answered: std::sync::atomic::AtomicBool,
    /// Set by the watcher when it gives up: the download thread stops at its next read.
    cancel: std::sync::atomic::AtomicBool,
}

/// Seconds between two progress lines of a download when stderr is not a terminal.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

fn human_bytes(n: u64) -> String {
    match n {
        n if n < 1 << 10 => format!("{n} B"),
        n if n < MIB => format!("{:.1} KiB", n as f64 / 1024.0),
        n if n < 1 << 30 => format!("{:.1} MiB", n as f64 / MIB as f64),
        n => format!("{:.2} GiB", n as f64 / (1u64 << 30) as f64),
    }
}

/// Downloads `url` to `dest` within `limits`. The transfer runs on its own thread; this one
/// watches it: it gives up after `limits.silence` without a byte or `limits.whole` in all (the
/// transfer's own ureq deadline is the same, so an abandoned thread ends by then too), and shows
/// progress: a bar on a terminal, else a line every `PROGRESS_EVERY` (none with `--quiet`).
fn fetch(url: &str, dest: &Path, limits: &Limits) -> Result<()> {
    use std::io::IsTerminal;
    use std::sync::atomic::Ordering::Relaxed;
    use std::sync::{mpsc, Arc};
    use std::time::{Duration, Instant};
    let out = fs::File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
    let started = Instant::now();
    let flow = Arc::new(Flow::default());
    let (tx, rx) = mpsc::channel();
    {
        let (url, limits, flow) = (url.to_string(), *limits, flow.clone());
        std::thread::Builder::new()
            .name("download".into())
            .spawn(move || {
                let _ = tx.send(transfer(&url, out, &limits, &flow, started));
            })
            .context("starting the download thread")?;
    }
    let quiet = crate::progress::is_quiet();
    let terminal = std::io::stderr().is_terminal();
    let bar = (!quiet && terminal).then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        pb.set_message(url.to_string());
        pb
    });
    let mut last_line = started;
    let give_up = |e: anyhow::Error| {
        flow.cancel.store(true, Relaxed);
        if let Some(pb) = &bar {
            pb.finish_and_clear();
        }
        Err(e)
    };
    let n = loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Ok(n)) => break n,
            Ok(Err(e)) => return give_up(e),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return give_up(anyhow!("downloading {url}: the download thread failed"))
            }
        }
        let now = started.elapsed();
        let got = flow.bytes.load(Relaxed);
        if now >= limits.whole {
            return give_up(limits.too_long(url, got));
        }
        let alive = Duration::from_millis(flow.alive_ms.load(Relaxed));
        if now.saturating_sub(alive) >= limits.silence {
            let t = limits.silence.as_secs();
            return give_up(if flow.answered.load(Relaxed) {
                anyhow!(
                    "downloading {url}: the server stopped sending (nothing for \
                     ingest.timeout_secs = {t} s, {} so far)",
                    human_bytes(got)
                )
            } else {
                anyhow!("downloading {url}: no answer within ingest.timeout_secs = {t} s")
            });
        }
        let len = flow.len.load(Relaxed);
        if let Some(pb) = &bar {
            if len > 0 {
                pb.set_length(len);
            }
            pb.set_position(got);
        } else if !quiet && last_line.elapsed() >= PROGRESS_EVERY {
            last_line = Instant::now();
            let of = if len > 0 {
                format!(
                    " of {} ({:.0}%)",
                    human_bytes(len),
                    100.0 * got as f64 / len as f64
                )
            } else {
                String::new()
            };
            eprintln!(
                "ingest: downloading {url}: {}{of}, {}/s, {:.0} s",
                human_bytes(got),
                human_bytes((got as f64 / now.as_secs_f64().max(1e-3)) as u64),
                now.as_secs_f64()
            );
        }
    };
    if let Some(pb) = &bar {
        pb.finish_and_clear();
    }
    let secs = started.elapsed().as_secs_f64();
    if !quiet && !terminal && secs >= PROGRESS_EVERY.as_secs_f64() {
        eprintln!(
            "ingest: downloaded {url}: {} in {secs:.0} s",
            human_bytes(n)
        );
    }
    tracing::info!("downloaded {url}: {n} bytes in {secs:.1} s");
    Ok(())
}

/// The download itself (on the download thread): the request, then the body copied to `out`,
/// counted against `limits.max_mb`, until its end, `limits.whole` or a cancel.
fn transfer(
    url: &str,
    mut out: fs::File,
    limits: &Limits,
    flow: &Flow,
    started: std::time::Instant,
) -> Result<u64> {
    use std::io::Write;
    use std::sync::atomic::Ordering::Relaxed;
    let alive = || {
        flow.alive_ms
            .store(started.elapsed().as_millis() as u64, Relaxed)
    };
    // `timeout` bounds the whole request, the body included (each read waits at most until
    // then); the watcher enforces `limits.silence` and the same deadline
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(limits.silence.min(limits.whole))
        .timeout(limits.whole)
        .build();
    let resp = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            bail!(
                "downloading {url}: the server answered {code} {}",
                r.status_text()
            )
        }
        Err(e) if started.elapsed() >= limits.whole => {
            return Err(anyhow!(e).context(limits.too_long(url, 0)))
        }
        Err(e) => {
            return Err(anyhow!(e).context(format!(
                "downloading {url} (no answer within ingest.timeout_secs = {} s?)",
                limits.silence.as_secs()
            )))
        }
    };
    alive();
    flow.answered.store(true, Relaxed);
    let len = resp
        .header("Content-Length")
        .and_then(|s| s.trim().parse::<u64>().ok());
    let max = limits.max_bytes();
    if let Some(l) = len {
        if l > max {
            return Err(limits.too_big(
                url,
                &format!(
                    "the server announces {} (Content-Length: {l})",
                    human_bytes(l)
                ),
            ));
        }
        flow.len.store(l, Relaxed);
    }
    let mut reader = resp.into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        if flow.cancel.load(Relaxed) {
            bail!("downloading {url}: cancelled");
        }
        let k = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if started.elapsed() >= limits.whole => {
                return Err(anyhow!(e).context(limits.too_long(url, n)))
            }
            Err(e) => {
                return Err(anyhow!(e).context(format!(
                    "downloading {url}: the server stopped sending after {}",
                    human_bytes(n)
                )))
            }
        };
        alive();
        n += k as u64;
        if n > max {
            return Err(limits.too_big(
                url,
                &format!("stopped when more than {} had arrived", human_bytes(max)),
            ));
        }
        if started.elapsed() >= limits.whole {
            return Err(limits.too_long(url, n));
        }
        out.write_all(&buf[..k])
            .with_context(|| format!("downloading {url}: writing"))?;
        flow.bytes.store(n, Relaxed);
    }
    out.flush()?;
    if let Some(l) = len {
        if n != l {
            bail!("downloading {url}: got {n} of {l} bytes");
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anumbers_and_terms() {
        assert_eq!(parse_anum("A000045"), Some(45));
        assert_eq!(parse_anum("A1234567"), Some(1234567));
        for bad in ["A45", "B000045", "A00004x", "A", ""] {
            assert_eq!(parse_anum(bad), None, "{bad}");
        }
        assert_eq!(parse_term("-0012"), Some("-12".into()));
        assert_eq!(parse_term("-0"), Some("0".into()));
        assert_eq!(
            parse_term("123456789012345678901234567890"),
            Some("123456789012345678901234567890".into())
        );
        for bad in ["1.5", "x", "-", "+3", "1e5"] {
            assert_eq!(parse_term(bad), None, "{bad}");
        }
        assert_eq!(
            parse_terms(",1,-2,3,").unwrap().to_vec(),
            vec!["1", "-2", "3"]
        );
        assert_eq!(parse_terms(",,").unwrap().len(), 0);
        assert!(parse_terms(",1,x,").unwrap_err().contains("\"x\""));
    }

    #[test]
    fn filters_in_order() {
        let mk = |n: u32, kw: &[&str], terms: usize| Record {
            number: n,
            keywords: kw.iter().map(|s| s.to_string()).collect(),
            terms: std::iter::repeat_n("1", terms).collect(),
            ..Record::default()
        };
        let recs: BTreeMap<u32, Record> = [
            mk(1, &["easy"], 40),
            mk(2, &["nonn"], 40),
            mk(3, &["easy", "dead"], 40),
            mk(4, &["easy"], 10),
            mk(5, &["easy", "nice"], 36),
            mk(6, &["easy"], 50),
        ]
        .into_iter()
        .map(|r| (r.number, r))
        .collect();
        let cfg = IngestConfig {
            keywords: vec!["easy".into()],
            limit: 2,
            ..IngestConfig::default()
        };
        let (kept, counts) = filter(recs, &cfg);
        assert_eq!(
            kept.iter().map(|r| r.number).collect::<Vec<_>>(),
            vec![1, 5]
        );
        assert_eq!(
            counts,
            vec![
                ("excluded_missing_keywords", 1),
                ("excluded_by_keyword", 1),
                ("excluded_too_few_terms", 1),
                ("excluded_over_limit", 1)
            ]
        );
    }
}
