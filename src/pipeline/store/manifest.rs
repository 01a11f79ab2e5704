//! What a committed artifact is (its manifest, with a digest per file and a checksum of its own
//! text) and how it is checked against it.

use super::fsio::OWN_MARKER;
use crate::pipeline::key::KeyParts;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub name: String,
    pub digest: String,
    pub bytes: u64,
    /// Row count for Parquet files.
    pub rows: Option<u64>,
    /// Modification time (ns since the epoch) at commit: the fast check compares size and mtime
    /// and re-hashes only a file whose mtime changed. Not part of any digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime_ns: Option<u64>,
}

/// What a committed artifact is: written last, read first.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub key: String,
    /// The node that built it (`search@7`).
    pub node: String,
    pub parts: KeyParts,
    pub files: Vec<FileEntry>,
    /// blake3 over the sorted (name, digest) pairs: what downstream keys depend on.
    pub digest: String,
    pub wall_secs: f64,
    pub seqsynth_version: String,
    /// Stage-specific counts (skipped lines, rejections by reason, ...).
    pub counters: BTreeMap<String, serde_json::Value>,
    /// blake3 of the manifest file's own text with this field's value empty: an edited manifest
    /// (a changed row count, say) is detected like an edited data file. Computed over the bytes
    /// on disk, not over a re-serialization, so that it never depends on how floats round-trip.
    #[serde(default)]
    pub checksum: String,
}

const CHECKSUM_FIELD: &str = "\"checksum\": \"";

impl Manifest {
    /// The manifest file's bytes, with its checksum filled in (and `self.checksum` set).
    pub fn to_file_text(&mut self) -> Vec<u8> {
        self.checksum = String::new();
        let text = serde_json::to_string_pretty(self).expect("a manifest serializes");
        let sum = blake3::hash(text.as_bytes()).to_hex().to_string();
        let at = text.rfind(CHECKSUM_FIELD).expect("the checksum field") + CHECKSUM_FIELD.len();
        self.checksum = sum.clone();
        let mut out = text[..at].to_string();
        out.push_str(&sum);
        out.push_str(&text[at..]);
        out.into_bytes()
    }

    /// Whether a manifest file's text carries the checksum of its own bytes.
    pub fn text_is_intact(text: &str) -> bool {
        let Some(at) = text.rfind(CHECKSUM_FIELD).map(|i| i + CHECKSUM_FIELD.len()) else {
            return false;
        };
        let Some(len) = text[at..].find('"') else {
            return false;
        };
        let sum = &text[at..at + len];
        let blank = format!("{}{}", &text[..at], &text[at + len..]);
        sum.len() == 64 && blake3::hash(blank.as_bytes()).to_hex().as_str() == sum
    }

    pub fn rows(&self) -> u64 {
        self.files.iter().filter_map(|f| f.rows).sum()
    }
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// A committed, verified artifact.
#[derive(Clone, Debug)]
pub struct Artifact {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Artifact {
    /// The Parquet parts of table `name` (`name-00000.parquet`, ...) in order.
    pub fn table_files(&self, name: &str) -> Vec<PathBuf> {
        let prefix = format!("{name}-");
        let mut v: Vec<PathBuf> = self
            .manifest
            .files
            .iter()
            .filter(|f| f.name.starts_with(&prefix) && f.name.ends_with(".parquet"))
            .map(|f| self.dir.join(&f.name))
            .collect();
        v.sort();
        v
    }

    /// Reads every part of table `name`.
    pub fn read_table(&self, name: &str) -> Result<Vec<arrow_array::RecordBatch>> {
        let files = self.table_files(name);
        if files.is_empty() {
            bail!(
                "artifact {} ({}) has no table {name:?}",
                self.manifest.node,
                self.dir.display()
            );
        }
        let mut out = Vec::new();
        for f in files {
            out.extend(crate::tables::io::read_parquet(&f)?);
        }
        Ok(out)
    }
}

/// blake3 hex digest of a file's bytes.
pub fn file_digest(path: &Path) -> Result<String> {
    let mut h = blake3::Hasher::new();
    let mut f = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    std::io::copy(&mut f, &mut h).with_context(|| format!("reading {}", path.display()))?;
    Ok(h.finalize().to_hex().to_string())
}

/// The sorted names of an artifact's output files (all but manifest.json and key.json), which
/// must be plain files.
pub(super) fn output_names(dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "manifest.json" || name == "key.json" || name == OWN_MARKER {
            continue;
        }
        if !e.file_type()?.is_file() {
            bail!("{}: stage outputs must be plain files", e.path().display());
        }
        names.push(name);
    }
    names.sort();
    Ok(names)
}

pub(super) fn hash_files(dir: &Path) -> Result<Vec<FileEntry>> {
    output_names(dir)?
        .into_iter()
        .map(|name| {
            let p = dir.join(&name);
            let rows = if name.ends_with(".parquet") {
                Some(crate::tables::io::parquet_rows(&p)?)
            } else {
                None
            };
            let meta = fs::metadata(&p)?;
            Ok(FileEntry {
                digest: file_digest(&p)?,
                bytes: meta.len(),
                rows,
                mtime_ns: mtime_ns(&meta),
                name,
            })
        })
        .collect()
}

pub(super) fn files_digest(files: &[FileEntry]) -> String {
    let mut h = blake3::Hasher::new();
    for f in files {
        h.update(f.name.as_bytes());
        h.update(&[0]);
        h.update(f.digest.as_bytes());
        h.update(&[0]);
    }
    h.finalize().to_hex().to_string()
}

/// How much [`verify`] re-reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    /// The manifest's checksum, key.json, the file names and sizes; a file is re-hashed only when
    /// its mtime differs from the one recorded at commit.
    Fast,
    /// Every file re-hashed.
    Full,
}

/// Checks a committed artifact against its manifest and key.
pub(super) fn verify(dir: &Path, key: &str, check: Check) -> Result<Manifest> {
    let mpath = dir.join("manifest.json");
    let text =
        fs::read_to_string(&mpath).with_context(|| format!("reading {}", mpath.display()))?;
    let m: Manifest =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", mpath.display()))?;
    if !Manifest::text_is_intact(&text) {
        bail!(
            "manifest.json does not match its checksum (edited, or written by an older seqsynth)"
        );
    }
    if m.key != key || m.parts.key() != key {
        bail!("manifest key does not match the directory");
    }
    let kpath = dir.join("key.json");
    let parts: KeyParts = serde_json::from_slice(
        &fs::read(&kpath).with_context(|| format!("reading {}", kpath.display()))?,
    )
    .with_context(|| format!("parsing {}", kpath.display()))?;
    if parts != m.parts {
        bail!("key.json does not match the manifest");
    }
    let names = output_names(dir)?;
    for f in &m.files {
        if names.binary_search(&f.name).is_err() {
            bail!("{} is missing", f.name);
        }
    }
    if names.len() != m.files.len() {
        bail!("unexpected extra files");
    }
    for f in &m.files {
        let p = dir.join(&f.name);
        let meta = fs::symlink_metadata(&p).with_context(|| format!("reading {}", p.display()))?;
        if !meta.is_file() || meta.len() != f.bytes {
            bail!("{} does not match its digest", f.name);
        }
        let unchanged =
            check == Check::Fast && f.mtime_ns.is_some() && mtime_ns(&meta) == f.mtime_ns;
        if !unchanged && file_digest(&p)? != f.digest {
            bail!("{} does not match its digest", f.name);
        }
    }
    if files_digest(&m.files) != m.digest {
        bail!("artifact digest mismatch");
    }
    Ok(m)
}

pub(super) fn mtime_ns(meta: &fs::Metadata) -> Option<u64> {
    let t = meta.modified().ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(d.as_nanos()).ok()
}
