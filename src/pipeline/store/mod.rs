//! The artifact store: content-addressed stage outputs, atomic commits, a lock, and manifests.
//!
//! Layout under the store root (`data/` by default):
//!
//! ```text
//! lock                      shared (flock) by every running `seqsynth run`, exclusive for `gc`
//!                           and for cleaning up after killed runs
//! locks/<key>               held (flock, exclusive) while a process builds that artifact
//! objects/<key>/            one committed artifact: manifest.json, key.json, *.parquet, ...
//! refs/<node>               symlink to the artifact the last run built for that node (ingest, search@7)
//! seqsynth-store.json       the marker: this directory is a store (and its format version)
//! tmp/<key>.<pid>.<n>/      staging; renamed into objects/ only when complete
//! tmp/<what>-work.<pid>.*/  a stage's scratch directory (train)
//! downloads/<hash>/         cached downloads (ingest from a URL)
//! logs/<node>.log           what a node's tool printed beyond its progress (the trainer's warnings)
//! trash/                    artifacts found corrupt, kept for inspection
//! ```
//!
//! A stage writes into a staging directory; the manifest (with the blake3 digest, size and row
//! count of every file) is written last, then the directory is renamed into `objects/`. A killed
//! run therefore leaves only a staging directory, which is never trusted and is cleaned up by the
//! next run (only what seqsynth made, of processes that are gone). Reading an artifact checks it
//! against its manifest (which carries its own checksum): sizes always, and the digest of every
//! file whose mtime changed since commit (`seqsynth status --verify` re-hashes every file). A
//! truncated or altered file makes the artifact corrupt, and it is moved to `trash/` and
//! recomputed. Files and directories are fsynced before the rename that publishes an artifact.
//!
//! The module is split by concern: `manifest` (what an artifact is and how it is checked),
//! `lock` (the store's and each node's flock), `gc` (clean-up after killed runs, listing and
//! removal) and `fsio` (durable writes and the marker of what seqsynth made). This file holds the
//! store itself: opening it, staging, commit, lookup and refs.

mod fsio;
mod gc;
mod lock;
mod manifest;
#[cfg(test)]
mod tests;

pub use fsio::{
    is_own_dir, make_own_dir, mark_own, sync_dir, sync_dir_files, write_file, OWN_MARKER,
};
pub use gc::Corrupt;
pub use lock::StoreLock;
pub use manifest::{file_digest, Artifact, FileEntry, Manifest};

use super::key::KeyParts;
use anyhow::{bail, Context, Result};
use fsio::own_pid;
use gc::points_at_object;
use manifest::{files_digest, hash_files, verify, Check};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Store {
    root: PathBuf,
    /// Opened by `status`: nothing may be created, downloaded or moved.
    read_only: bool,
    /// `run --verify`: re-hash every file of every artifact looked up.
    pub full_check: bool,
}

static STAGING_SEQ: AtomicU64 = AtomicU64::new(0);

impl Store {
    /// Opens a store at `root`, creating it when `root` does not exist or is an empty directory.
    /// Any other directory must already be a seqsynth store (it has the [`MARKER`] file, or,
    /// for stores made before the marker, nothing but a store's own entries): a run never writes
    /// into, or cleans, a directory that is not its own.
    pub fn open(root: &Path) -> Result<Store> {
        if root.as_os_str().is_empty() {
            bail!("store.dir is empty: set it to a directory for seqsynth's artifacts (\"data\")");
        }
        let marker = root.join(MARKER);
        match fs::read_dir(root) {
            Ok(entries) => {
                if !marker.is_file() {
                    let foreign: Vec<String> = entries
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| {
                            !STORE_ENTRIES.contains(&n.as_str())
                                && !n.starts_with(&format!(".{MARKER}."))
                        })
                        .collect();
                    if !foreign.is_empty() {
                        let mut shown = foreign.clone();
                        shown.sort();
                        shown.truncate(5);
                        bail!(
                            "{} is not a seqsynth store (no {MARKER} file) and is not empty ({}{}): \
                             refusing to use it as store.dir; choose an empty or new directory",
                            root.display(),
                            shown.join(", "),
                            if foreign.len() > 5 { ", ..." } else { "" }
                        );
                    }
                } else {
                    check_marker(&marker)?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("opening the store {}", root.display()))
            }
        }
        fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        for sub in [
            "objects",
            "refs",
            "tmp",
            "downloads",
            "trash",
            "locks",
            "logs",
        ] {
            let d = root.join(sub);
            if let Ok(m) = fs::symlink_metadata(&d) {
                if !m.is_dir() {
                    bail!(
                        "{} must be a directory of the store, not a {}: refusing to use the store",
                        d.display(),
                        if m.file_type().is_symlink() {
                            "symbolic link"
                        } else {
                            "file"
                        }
                    );
                }
            }
            fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        }
        if !marker.is_file() {
            // through a temporary whose name a concurrent first open recognises as ours
            let mut tmp = tempfile::Builder::new()
                .prefix(&format!(".{MARKER}."))
                .tempfile_in(root)
                .with_context(|| format!("creating {}", marker.display()))?;
            use std::io::Write;
            tmp.write_all(MARKER_TEXT.as_bytes())?;
            tmp.as_file().sync_all()?;
            tmp.persist(&marker)
                .with_context(|| format!("writing {}", marker.display()))?;
            sync_dir(root)?;
        }
        Ok(Store {
            root: root.to_path_buf(),
            read_only: false,
            full_check: false,
        })
    }

    /// Opens an existing store without creating or changing anything (for `status`): `None` when
    /// there is no store at `root` yet.
    pub fn open_read_only(root: &Path) -> Result<Option<Store>> {
        let marker = root.join(MARKER);
        if marker.is_file() {
            check_marker(&marker)?;
        } else if !root.join("objects").is_dir() {
            return Ok(None);
        }
        Ok(Some(Store::read_only_at(root)))
    }

    /// A read-only view of `root`, which need not exist (then it holds nothing).
    pub fn read_only_at(root: &Path) -> Store {
        Store {
            root: root.to_path_buf(),
            read_only: true,
            full_check: false,
        }
    }

    /// Whether this is a read-only view (`status`).
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A work directory under `tmp/` that [`Store::clean_staging`] recognises (removed on drop).
    pub fn work_dir(&self, what: &str) -> Result<tempfile::TempDir> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{what}-work.{}.", std::process::id()))
            .tempdir_in(self.root.join("tmp"))
            .with_context(|| format!("creating a {what} work directory"))?;
        mark_own(dir.path())?;
        Ok(dir)
    }

    pub fn object_dir(&self, key: &str) -> PathBuf {
        self.root.join("objects").join(key)
    }

    /// Where a stage keeps what a tool it runs printed besides its progress (the trainer's
    /// library warnings): `logs/<name>.log`, the latest build's. Not part of any artifact.
    pub fn log_path(&self, name: &str) -> PathBuf {
        self.root.join("logs").join(format!("{name}.log"))
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
        let check = if self.full_check {
            Check::Full
        } else {
            Check::Fast
        };
        match verify(&dir, key, check) {
            Ok(manifest) => Ok(Some(Artifact { dir, manifest })),
            Err(why) => {
                // (once: with tracing's default level a warn! as well printed it twice)
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

    /// Reads the manifest of `key` with the fast check (manifest checksum, key.json, sizes and
    /// mtimes; no re-hash of unchanged files), without changing anything (for `status`).
    /// `Err` says why the artifact is corrupt; `Ok(None)`: there is none.
    pub fn peek_checked(&self, key: &str) -> Result<Option<Manifest>> {
        let dir = self.object_dir(key);
        if !dir.exists() {
            return Ok(None);
        }
        verify(&dir, key, Check::Fast).map(Some)
    }

    /// The full check of `key`: every file re-hashed (`status --verify`).
    pub fn verify_full(&self, key: &str) -> Result<Option<Manifest>> {
        let dir = self.object_dir(key);
        if !dir.exists() {
            return Ok(None);
        }
        verify(&dir, key, Check::Full).map(Some)
    }

    /// Reads the manifest of `key` without checking it (the last build of a node, to say why it
    /// is stale).
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
        // a fresh directory, never a leftover with the same name (the pid of a dead run); what
        // is there without our marker is not ours to remove
        if dir.exists() {
            if own_pid(&dir).is_none() {
                bail!(
                    "{} is in the way and is not seqsynth's (no {OWN_MARKER}): move it",
                    dir.display()
                );
            }
            fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        mark_own(&dir)?;
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
            checksum: String::new(),
        };
        let mut manifest = manifest;
        let text = manifest.to_file_text();
        write_file(&staging.dir.join("manifest.json"), &text)?;
        // durable before published: every file and the directory itself reach the disk before
        // the rename, so a power loss cannot publish an empty file
        sync_dir_files(&staging.dir)?;
        let dest = self.object_dir(&key);
        // the artifact is not a leftover any more (a kill in the moment before the rename leaves
        // an unmarked staging directory, which clean-up reports and leaves alone)
        let _ = fs::remove_file(staging.dir.join(OWN_MARKER));
        // An equal key means equal content: when the key is already there (or another writer
        // commits it first, on a filesystem whose locks do not reach across machines), keep the
        // existing artifact, after checking it.
        let published = !dest.exists()
            && match fs::rename(&staging.dir, &dest) {
                Ok(()) => true,
                Err(_) if dest.exists() => false,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("renaming {} to {}", staging.dir.display(), dest.display())
                    })
                }
            };
        staging.done = true;
        let manifest = if published {
            sync_dir(&self.root.join("objects"))?;
            // the files were hashed just above; the manifest describes them
            manifest
        } else {
            fs::remove_dir_all(&staging.dir).ok();
            let kept = verify(&dest, &key, Check::Full)?;
            if kept.digest != manifest.digest {
                // one key, two outputs: the stage's key misses something that decides its bytes
                // (another machine's kernels, say). The store keeps the first, which every
                // dependent then reads; the second is dropped and named.
                tracing::warn!(
                    "{node}: key {} already holds other bytes (kept {}, dropped {}): \
                     this stage's key does not name everything that decides its output",
                    &key[..12],
                    &kept.digest[..12.min(kept.digest.len())],
                    &manifest.digest[..12.min(manifest.digest.len())]
                );
            }
            kept
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
        // a leftover of ours (a dead process's, same pid) goes; a foreign file of that name is
        // an error rather than deleted
        if fs::symlink_metadata(&tmp).is_ok() {
            if !points_at_object(&tmp) {
                bail!(
                    "{} is in the way and is not seqsynth's (a link to ../objects/<key>): move it",
                    tmp.display()
                );
            }
            fs::remove_file(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
        }
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

/// The file that marks a directory as a seqsynth store.
pub const MARKER: &str = "seqsynth-store.json";
/// The store layout version in the marker.
pub const STORE_FORMAT: u32 = 1;
const MARKER_TEXT: &str = "{\"seqsynth_store_format\": 1}\n";
/// What a store directory holds (a directory with only these is a store made before the marker).
const STORE_ENTRIES: [&str; 9] = [
    "objects",
    "logs",
    "refs",
    "tmp",
    "downloads",
    "trash",
    "lock",
    "locks",
    MARKER,
];

fn check_marker(marker: &Path) -> Result<()> {
    let v: serde_json::Value = serde_json::from_slice(
        &fs::read(marker).with_context(|| format!("reading {}", marker.display()))?,
    )
    .with_context(|| format!("{}: not a seqsynth store marker", marker.display()))?;
    match v["seqsynth_store_format"].as_u64() {
        Some(f) if f == STORE_FORMAT as u64 => Ok(()),
        Some(f) => bail!(
            "{}: store format {f}, this seqsynth reads format {STORE_FORMAT}",
            marker.display()
        ),
        None => bail!("{}: not a seqsynth store marker", marker.display()),
    }
}
