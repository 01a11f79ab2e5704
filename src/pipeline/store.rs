//! The artifact store: content-addressed stage outputs, atomic commits, a lock, and manifests.
//!
//! Layout under the store root (`data/` by default):
//!
//! ```text
//! lock                      held (flock) by a running `seqsynth run`
//! objects/<key>/            one committed artifact: manifest.json, key.json, *.parquet, ...
//! refs/<node>               symlink to the artifact the last run built for that node (ingest, search@7)
//! tmp/<key>.<pid>.<n>/      staging; renamed into objects/ only when complete
//! downloads/<hash>/         cached downloads (ingest from a URL)
//! trash/                    artifacts found corrupt, kept for inspection
//! ```
//!
//! A stage writes into a staging directory; the manifest (with the blake3 digest, size and row
//! count of every file) is written last, then the directory is renamed into `objects/`. A killed
//! run therefore leaves only a staging directory, which is never trusted and is cleaned up by the
//! next run. Reading an artifact re-hashes its files against the manifest: a truncated or altered
//! file makes the artifact corrupt, and it is moved to `trash/` and recomputed.

use super::key::KeyParts;
use anyhow::{bail, Context, Result};
use fs2::FileExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub name: String,
    pub digest: String,
    pub bytes: u64,
    /// Row count for Parquet files.
    pub rows: Option<u64>,
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
}

impl Manifest {
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
            out.extend(crate::table::read_parquet(&f)?);
        }
        Ok(out)
    }
}

pub struct Store {
    root: PathBuf,
}

/// Held while a run uses the store; released on drop.
pub struct StoreLock {
    _file: fs::File,
}

static STAGING_SEQ: AtomicU64 = AtomicU64::new(0);

impl Store {
    /// Opens (creating if needed) a store at `root`.
    pub fn open(root: &Path) -> Result<Store> {
        for sub in ["objects", "refs", "tmp", "downloads", "trash"] {
            let d = root.join(sub);
            fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the store's exclusive lock. If another run holds it, says so and waits (or fails
    /// when `wait` is false).
    pub fn lock(&self, wait: bool) -> Result<StoreLock> {
        let path = self.root.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        if file.try_lock_exclusive().is_err() {
            if !wait {
                bail!(
                    "the store {} is locked by another seqsynth run (pass --wait to wait for it)",
                    self.root.display()
                );
            }
            eprintln!(
                "Blocking: waiting for the lock on {} held by another seqsynth run",
                self.root.display()
            );
            file.lock_exclusive()
                .with_context(|| format!("locking {}", path.display()))?;
        }
        Ok(StoreLock { _file: file })
    }

    /// Removes staging directories left by killed runs. Call with the lock held.
    pub fn clean_staging(&self) -> Result<usize> {
        let mut n = 0;
        let tmp = self.root.join("tmp");
        for e in fs::read_dir(&tmp).with_context(|| format!("reading {}", tmp.display()))? {
            let p = e?.path();
            fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))?;
            n += 1;
        }
        Ok(n)
    }

    pub fn object_dir(&self, key: &str) -> PathBuf {
        self.root.join("objects").join(key)
    }

    pub fn downloads_dir(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// The committed artifact for `key`, verified against its manifest. A corrupt artifact is
    /// moved to `trash/`, reported, and treated as missing.
    pub fn lookup(&self, key: &str) -> Result<Option<Artifact>> {
        let dir = self.object_dir(key);
        if !dir.exists() {
            return Ok(None);
        }
        match verify(&dir, key) {
            Ok(manifest) => Ok(Some(Artifact { dir, manifest })),
            Err(why) => {
                tracing::warn!(
                    "artifact {} is corrupt ({why:#}); moving it to trash and recomputing",
                    dir.display()
                );
                eprintln!(
                    "warning: artifact {} is corrupt: {why:#}; recomputing",
                    dir.display()
                );
                let dest = self.root.join("trash").join(format!(
                    "{key}.{}",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or(0)
                ));
                fs::rename(&dir, &dest)
                    .with_context(|| format!("moving {} to {}", dir.display(), dest.display()))?;
                Ok(None)
            }
        }
    }

    /// Reads the manifest of `key` without verifying file digests (for `status`).
    pub fn peek(&self, key: &str) -> Option<Manifest> {
        let text = fs::read_to_string(self.object_dir(key).join("manifest.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// A fresh staging directory for building `key`.
    pub fn staging(&self, key: &str) -> Result<Staging> {
        let n = STAGING_SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = self
            .root
            .join("tmp")
            .join(format!("{key}.{}.{n}", std::process::id()));
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Staging { dir, done: false })
    }

    /// Seals a staging directory: hashes its files, writes key.json and manifest.json (last),
    /// then renames it to `objects/<key>`.
    pub fn commit(
        &self,
        mut staging: Staging,
        node: &str,
        parts: &KeyParts,
        wall_secs: f64,
        counters: BTreeMap<String, serde_json::Value>,
    ) -> Result<Artifact> {
        let key = parts.key();
        write_file(
            &staging.dir.join("key.json"),
            &serde_json::to_vec_pretty(parts)?,
        )?;
        let files = hash_files(&staging.dir)?;
        let digest = files_digest(&files);
        let manifest = Manifest {
            key: key.clone(),
            node: node.to_string(),
            parts: parts.clone(),
            files,
            digest,
            wall_secs,
            seqsynth_version: env!("CARGO_PKG_VERSION").to_string(),
            counters,
        };
        write_file(
            &staging.dir.join("manifest.json"),
            &serde_json::to_vec_pretty(&manifest)?,
        )?;
        let dest = self.object_dir(&key);
        let manifest = if dest.exists() {
            // An equal key means equal content: keep the existing one, after checking it.
            fs::remove_dir_all(&staging.dir).ok();
            staging.done = true;
            verify(&dest, &key)?
        } else {
            fs::rename(&staging.dir, &dest).with_context(|| {
                format!("renaming {} to {}", staging.dir.display(), dest.display())
            })?;
            staging.done = true;
            // the files were hashed just above; the manifest describes them
            manifest
        };
        Ok(Artifact {
            dir: dest,
            manifest,
        })
    }

    /// Points `refs/<node>` at the artifact `key` (atomically: a new link renamed over the old).
    pub fn set_ref(&self, node: &str, key: &str) -> Result<()> {
        let refs = self.root.join("refs");
        let link = refs.join(node);
        let tmp = refs.join(format!(".{node}.{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let target = Path::new("..").join("objects").join(key);
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, &tmp)
            .with_context(|| format!("linking {}", tmp.display()))?;
        #[cfg(not(unix))]
        fs::write(&tmp, key).with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, &link).with_context(|| format!("renaming to {}", link.display()))?;
        Ok(())
    }

    /// The key `refs/<node>` points at, if any.
    pub fn get_ref(&self, node: &str) -> Option<String> {
        let link = self.root.join("refs").join(node);
        let target = fs::read_link(&link).ok()?;
        Some(target.file_name()?.to_string_lossy().into_owned())
    }
}

/// A staging directory; removed on drop unless committed.
pub struct Staging {
    pub dir: PathBuf,
    done: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Writes a file through a temporary in the same directory and a rename.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    use std::io::Write;
    tmp.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// blake3 hex digest of a file's bytes.
pub fn file_digest(path: &Path) -> Result<String> {
    let mut h = blake3::Hasher::new();
    let mut f = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    std::io::copy(&mut f, &mut h).with_context(|| format!("reading {}", path.display()))?;
    Ok(h.finalize().to_hex().to_string())
}

fn hash_files(dir: &Path) -> Result<Vec<FileEntry>> {
    let mut names: Vec<String> = Vec::new();
    for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "manifest.json" || name == "key.json" {
            continue;
        }
        if !e.file_type()?.is_file() {
            bail!("{}: stage outputs must be plain files", e.path().display());
        }
        names.push(name);
    }
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let p = dir.join(&name);
            let rows = if name.ends_with(".parquet") {
                Some(crate::table::parquet_rows(&p)?)
            } else {
                None
            };
            Ok(FileEntry {
                digest: file_digest(&p)?,
                bytes: fs::metadata(&p)?.len(),
                rows,
                name,
            })
        })
        .collect()
}

fn files_digest(files: &[FileEntry]) -> String {
    let mut h = blake3::Hasher::new();
    for f in files {
        h.update(f.name.as_bytes());
        h.update(&[0]);
        h.update(f.digest.as_bytes());
        h.update(&[0]);
    }
    h.finalize().to_hex().to_string()
}

/// Checks a committed artifact against its manifest and key.
fn verify(dir: &Path, key: &str) -> Result<Manifest> {
    let mpath = dir.join("manifest.json");
    let text =
        fs::read_to_string(&mpath).with_context(|| format!("reading {}", mpath.display()))?;
    let m: Manifest =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", mpath.display()))?;
    if m.key != key || m.parts.key() != key {
        bail!("manifest key does not match the directory");
    }
    let on_disk = hash_files(dir)?;
    for f in &m.files {
        match on_disk.iter().find(|g| g.name == f.name) {
            None => bail!("{} is missing", f.name),
            Some(g) if g.digest != f.digest || g.bytes != f.bytes => {
                bail!("{} does not match its digest", f.name)
            }
            Some(_) => {}
        }
    }
    if on_disk.len() != m.files.len() {
        bail!("unexpected extra files");
    }
    if files_digest(&m.files) != m.digest {
        bail!("artifact digest mismatch");
    }
    Ok(m)
}
