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

pub struct Store {
    root: PathBuf,
    /// Opened by `status`: nothing may be created, downloaded or moved.
    read_only: bool,
    /// `run --verify`: re-hash every file of every artifact looked up.
    pub full_check: bool,
}

/// Held while a run uses the store; released on drop.
pub struct StoreLock {
    _file: fs::File,
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

    /// Takes the store's exclusive lock. If another run holds it, says so and waits (or fails
    /// when `wait` is false).
    pub fn lock(&self, wait: bool) -> Result<StoreLock> {
        self.store_lock(wait, true)
    }

    /// The store's lock shared with other runs (`seqsynth run`: runs and shards on other
    /// machines go on side by side; each node is built by one of them, under its node lock).
    pub fn lock_shared(&self, wait: bool) -> Result<StoreLock> {
        self.store_lock(wait, false)
    }

    /// A shared lock for a reader that must not create anything (`query`): waits while `gc`
    /// holds the store. None when the store has no lock file yet (nothing ran there).
    pub fn read_lock(&self) -> Result<Option<StoreLock>> {
        let path = self.root.join("lock");
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
        };
        fs2::FileExt::lock_shared(&file).with_context(|| format!("locking {}", path.display()))?;
        Ok(Some(StoreLock { _file: file }))
    }

    /// The exclusive lock if no other run holds the store now (None otherwise, at once).
    pub fn try_lock_exclusive(&self) -> Result<Option<StoreLock>> {
        let file = self.lock_file(&self.root.join("lock"))?;
        Ok(file
            .try_lock_exclusive()
            .ok()
            .map(|_| StoreLock { _file: file }))
    }

    fn lock_file(&self, path: &Path) -> Result<fs::File> {
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))
    }

    fn store_lock(&self, wait: bool, exclusive: bool) -> Result<StoreLock> {
        let busy = format!(
            "the store {} is locked by another seqsynth run (run again without --no-wait to wait for it)",
            self.root.display()
        );
        let waiting = format!(
            "Blocking: waiting for the lock on {} held by another seqsynth {}",
            self.root.display(),
            if exclusive {
                "run"
            } else {
                "command (gc, or a run briefly cleaning up after killed runs)"
            }
        );
        self.flock(&self.root.join("lock"), exclusive, wait, busy, waiting)
    }

    /// The lock on building artifact `key` (node `name`): exclusive, waited for unless `!wait`.
    pub fn node_lock(&self, key: &str, name: &str, wait: bool) -> Result<StoreLock> {
        let dir = self.root.join("locks");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let busy = format!(
            "{name} is being built by another seqsynth process (run again without --no-wait to wait for it)"
        );
        let waiting = format!(
            "waiting for {name} ({}), which another process is building",
            &key[..12]
        );
        self.flock(&dir.join(key), true, wait, busy, waiting)
    }

    /// Takes an flock on `path` (created if missing): at once if free; else says `waiting` and
    /// waits, or fails with `busy` when `!wait`.
    fn flock(
        &self,
        path: &Path,
        exclusive: bool,
        wait: bool,
        busy: String,
        waiting: String,
    ) -> Result<StoreLock> {
        let file = self.lock_file(path)?;
        let got = if exclusive {
            file.try_lock_exclusive()
        } else {
            fs2::FileExt::try_lock_shared(&file)
        };
        if got.is_err() {
            if !wait {
                bail!("{busy}");
            }
            eprintln!("{waiting}");
            if exclusive {
                file.lock_exclusive()
            } else {
                fs2::FileExt::lock_shared(&file)
            }
            .with_context(|| format!("locking {}", path.display()))?;
        }
        Ok(StoreLock { _file: file })
    }

    /// Removes what killed runs left behind, and only that: the directories this store made
    /// under `tmp/` (staging `tmp/<key>.<pid>.<n>`, work directories `tmp/<what>-work.<pid>.*`)
    /// and `downloads/` (`<id>.tmp.<pid>`), recognised by the [`OWN_MARKER`] file seqsynth wrote
    /// into each when it made it (with the maker's pid), never by a name alone; and half-made refs
    /// (`refs/.<node>.<pid>`), which are symbolic links to `../objects/<key>`. Only those whose
    /// process is gone are removed; anything else is left alone (and reported). Call with the
    /// lock held.
    pub fn clean_staging(&self) -> Result<usize> {
        let mut n = 0;
        let me = std::process::id();
        let dead = |pid: u32| pid == me || !process_alive(pid);
        for (sub, named) in [
            ("tmp", staging_pid as fn(&str) -> Option<u32>),
            ("downloads", download_tmp_pid),
        ] {
            let dir = self.root.join(sub);
            for e in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
                let e = e?;
                let p = e.path();
                let name = e.file_name().to_string_lossy().into_owned();
                let ours = e.file_type()?.is_dir() && named(&name).is_some();
                // (this process has made nothing yet: an entry with its pid is a dead process's
                // whose pid was reused, as PID 1 is in every container)
                match ours.then(|| own_pid(&p)).flatten() {
                    Some(pid) if dead(pid) => {
                        fs::remove_dir_all(&p)
                            .with_context(|| format!("removing {}", p.display()))?;
                        n += 1;
                    }
                    Some(_) => {}
                    None if sub == "tmp" || named(&name).is_some() => eprintln!(
                        "note: leaving {} alone: it holds no {OWN_MARKER} of seqsynth's (remove it \
                         by hand if it is an old seqsynth's leftover)",
                        p.display()
                    ),
                    None => {}
                }
            }
        }
        let refs = self.root.join("refs");
        for e in fs::read_dir(&refs).with_context(|| format!("reading {}", refs.display()))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = ref_tmp_pid(&name) else {
                continue;
            };
            let p = e.path();
            if e.file_type()?.is_symlink() && points_at_object(&p) && dead(pid) {
                fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
                n += 1;
            }
        }
        Ok(n)
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

    /// The manifest of every committed artifact that passes the fast check, sorted by node then
    /// key (`status --all`, `query --all`, `gc`). A corrupt artifact is left out with a warning.
    pub fn list_artifacts(&self) -> Result<Vec<Manifest>> {
        let (ok, corrupt) = self.scan_artifacts()?;
        for (key, why) in corrupt {
            eprintln!("warning: artifact {key} is corrupt ({why}); left out");
        }
        Ok(ok)
    }

    /// Every directory of `objects/`: the artifacts that pass the fast check (sorted by node,
    /// then key), and the keys of those that do not, with why.
    pub fn scan_artifacts(&self) -> Result<(Vec<Manifest>, Vec<Corrupt>)> {
        let dir = self.root.join("objects");
        let (mut ok, mut corrupt, mut foreign) = (Vec::new(), Vec::new(), Vec::new());
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((ok, corrupt)),
            Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
        };
        for e in entries {
            let e = e.with_context(|| format!("listing {}", dir.display()))?;
            let key = e.file_name().to_string_lossy().into_owned();
            if !e.path().is_dir() {
                continue;
            }
            if !looks_like_artifact(&e.path(), &key) {
                // not ours: neither listed nor ever removed as corrupt
                foreign.push(e.path());
                continue;
            }
            match verify(&e.path(), &key, Check::Fast) {
                Ok(m) => ok.push(m),
                Err(why) => corrupt.push((key, format!("{why:#}"))),
            }
        }
        ok.sort_by(|a, b| (&a.node, &a.key).cmp(&(&b.node, &b.key)));
        corrupt.sort();
        foreign.sort();
        for p in foreign {
            eprintln!(
                "note: leaving {} alone: not an artifact (no 64-hex key name with a manifest.json \
                 or key.json)",
                p.display()
            );
        }
        Ok((ok, corrupt))
    }

    /// Sizes of what the store holds besides artifacts: (what, bytes).
    pub fn other_sizes(&self) -> Result<Vec<(&'static str, u64)>> {
        Ok(vec![
            (
                "tmp/ (staging of running or killed runs)",
                dir_size(&self.root.join("tmp")),
            ),
            (
                "trash/ (corrupt artifacts kept for inspection)",
                dir_size(&self.root.join("trash")),
            ),
            ("downloads/", dir_size(&self.root.join("downloads"))),
            (
                "logs/ (what tools printed besides progress)",
                dir_size(&self.root.join("logs")),
            ),
        ])
    }

    /// Removes the artifact `key` (`gc --force`; the caller holds the lock): renamed out of
    /// `objects/` first, so that it disappears at once, then deleted; refs that pointed at it
    /// are removed.
    pub fn remove_artifact(&self, key: &str) -> Result<()> {
        if self.read_only {
            bail!("the store is open read-only");
        }
        let dir = self.object_dir(key);
        let doomed = self
            .root
            .join("tmp")
            .join(format!("gc-work.{}.{key}", std::process::id()));
        fs::rename(&dir, &doomed)
            .with_context(|| format!("moving {} out of objects/", dir.display()))?;
        // a kill before the removal below ends leaves it for clean-up, which knows it by this
        mark_own(&doomed)?;
        sync_dir(&self.root.join("objects"))?;
        fs::remove_dir_all(&doomed).with_context(|| format!("removing {}", doomed.display()))?;
        let _ = fs::remove_file(self.root.join("locks").join(key));
        if let Ok(refs) = fs::read_dir(self.root.join("refs")) {
            for r in refs.flatten() {
                let points = fs::read_link(r.path())
                    .ok()
                    .and_then(|t| t.file_name().map(|f| f.to_string_lossy().into_owned()));
                if points.as_deref() == Some(key) {
                    let _ = fs::remove_file(r.path());
                }
            }
        }
        Ok(())
    }

    /// The key `refs/<node>` points at, if any.
    pub fn get_ref(&self, node: &str) -> Option<String> {
        let link = self.root.join("refs").join(node);
        let target = fs::read_link(&link).ok()?;
        Some(target.file_name()?.to_string_lossy().into_owned())
    }
}

/// Total bytes of the files under `dir` (0 when it does not exist).
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// An artifact directory that fails its check: (key, why).
pub type Corrupt = (String, String);

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
    // A temporary file is created 0600; what is written here is for others to read (exports,
    // artifacts of a store that several machines share), as a plain file would be.
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("syncing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    sync_dir(dir)?;
    Ok(())
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
fn output_names(dir: &Path) -> Result<Vec<String>> {
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

fn hash_files(dir: &Path) -> Result<Vec<FileEntry>> {
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

/// How much [`verify`] re-reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// The manifest's checksum, key.json, the file names and sizes; a file is re-hashed only when
    /// its mtime differs from the one recorded at commit.
    Fast,
    /// Every file re-hashed.
    Full,
}

/// Checks a committed artifact against its manifest and key.
fn verify(dir: &Path, key: &str, check: Check) -> Result<Manifest> {
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

fn mtime_ns(meta: &fs::Metadata) -> Option<u64> {
    let t = meta.modified().ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(d.as_nanos()).ok()
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

/// The file seqsynth writes into every directory it makes under `tmp/` and `downloads/`: what
/// clean-up goes by (a name alone proves nothing: anyone can make `tmp/home-work.2023.final`).
pub const OWN_MARKER: &str = ".seqsynth-made";

/// Writes the [`OWN_MARKER`] (with this process's pid) into `dir`, which this process just made.
pub fn mark_own(dir: &Path) -> Result<()> {
    let text = format!(
        "{{\"made_by\": \"seqsynth\", \"pid\": {}}}\n",
        std::process::id()
    );
    fs::write(dir.join(OWN_MARKER), text)
        .with_context(|| format!("marking {} as seqsynth's", dir.display()))
}

/// Makes `dir` (which must not exist yet) and marks it as this store's own.
pub fn make_own_dir(dir: &Path) -> Result<()> {
    fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    mark_own(dir)
}

/// Whether `dir` holds seqsynth's [`OWN_MARKER`].
pub fn is_own_dir(dir: &Path) -> bool {
    own_pid(dir).is_some()
}

/// The pid in `dir`'s [`OWN_MARKER`]: None when there is no marker of ours.
fn own_pid(dir: &Path) -> Option<u32> {
    let meta = fs::symlink_metadata(dir.join(OWN_MARKER)).ok()?;
    if !meta.is_file() || meta.len() > 256 {
        return None;
    }
    let v: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join(OWN_MARKER)).ok()?).ok()?;
    if v["made_by"] != "seqsynth" {
        return None;
    }
    u32::try_from(v["pid"].as_u64()?).ok()
}

/// Whether `link` is a symbolic link of ours: to `../objects/<64 hex key>`.
fn points_at_object(link: &Path) -> bool {
    let Ok(t) = fs::read_link(link) else {
        return false;
    };
    let mut c = t.components();
    let parts = (c.next(), c.next(), c.next(), c.next());
    matches!(parts, (Some(std::path::Component::ParentDir), Some(std::path::Component::Normal(o)), Some(std::path::Component::Normal(k)), None)
        if o == "objects" && is_key(&k.to_string_lossy()))
}

fn is_key(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether a directory under `objects/` is an artifact (sound or corrupt): a key's name, and a
/// manifest.json or key.json of its own. Anything else there is not the store's to judge.
fn looks_like_artifact(dir: &Path, name: &str) -> bool {
    is_key(name)
        && ["manifest.json", "key.json"]
            .iter()
            .any(|f| fs::symlink_metadata(dir.join(f)).is_ok_and(|m| m.is_file()))
}

/// `<64 hex key>.<pid>.<n>` (staging) or `<what>-work.<pid>.<random>` (work directories).
fn staging_pid(name: &str) -> Option<u32> {
    let mut it = name.split('.');
    let first = it.next()?;
    let pid = it.next()?.parse().ok()?;
    let rest = it.next()?;
    if it.next().is_some() {
        return None;
    }
    let staging = first.len() == 64
        && first.bytes().all(|b| b.is_ascii_hexdigit())
        && rest.parse::<u64>().is_ok();
    let work = first.ends_with("-work") && !rest.is_empty();
    (staging || work).then_some(pid)
}

/// `.<node>.<pid>` (a ref being replaced).
fn ref_tmp_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, pid) = rest.rsplit_once('.')?;
    pid.parse().ok()
}

/// `<id>.tmp.<pid>` (a download in progress).
fn download_tmp_pid(name: &str) -> Option<u32> {
    let (head, pid) = name.rsplit_once(".tmp.")?;
    (!head.is_empty()).then_some(())?;
    pid.parse().ok()
}

/// Whether a process with this pid exists (Linux: /proc; elsewhere assume it does, so nothing
/// is removed that might be in use).
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// fsync every file of a directory, then the directory.
pub fn sync_dir_files(dir: &Path) -> Result<()> {
    for e in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.is_file() {
            fs::File::open(&p)
                .and_then(|f| f.sync_all())
                .with_context(|| format!("syncing {}", p.display()))?;
        }
    }
    sync_dir(dir)
}

/// fsync a directory (its entries: a rename into it is durable after this).
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_files_are_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("summary.md");
        write_file(&p, b"x").unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{mode:o}");
    }

    #[test]
    fn the_manifest_checksum_is_over_its_own_bytes() {
        let mut m = Manifest {
            key: "k".into(),
            node: "n".into(),
            parts: KeyParts {
                stage: "s".into(),
                version: 1,
                params: serde_json::Value::Null,
                inputs: BTreeMap::new(),
                external: serde_json::Value::Null,
            },
            files: vec![],
            digest: "d".into(),
            // floats that a best-effort parser may not read back exactly
            wall_secs: 0.1 + 0.2,
            seqsynth_version: "0".into(),
            counters: BTreeMap::from([(
                "t".to_string(),
                serde_json::json!([1.0000000000000002, 3.141592653589793e-300]),
            )]),
            checksum: String::new(),
        };
        let text = String::from_utf8(m.to_file_text()).unwrap();
        assert!(Manifest::text_is_intact(&text));
        assert_eq!(m.checksum.len(), 64);
        assert!(text.contains(&m.checksum));
        assert!(!Manifest::text_is_intact(
            &text.replacen("\"n\"", "\"m\"", 1)
        ));
        assert!(!Manifest::text_is_intact(&text.replace(&m.checksum, "")));
    }

    #[test]
    fn only_our_own_leftovers_are_recognised() {
        let key = "a".repeat(64);
        assert_eq!(staging_pid(&format!("{key}.123.0")), Some(123));
        assert_eq!(staging_pid("train-work.77.AbC12"), Some(77));
        assert_eq!(staging_pid("notes.txt"), None);
        assert_eq!(staging_pid("my-photos"), None);
        assert_eq!(staging_pid(&format!("{}.123.0", "a".repeat(63))), None);
        assert_eq!(ref_tmp_pid(".search@3.991"), Some(991));
        assert_eq!(ref_tmp_pid("search@3"), None);
        assert_eq!(download_tmp_pid("0123abcd.tmp.55"), Some(55));
        assert_eq!(download_tmp_pid("0123abcd"), None);
    }

    fn stale_pid() -> u32 {
        // a pid that is not running: past the kernel's default pid_max
        4_194_305
    }

    #[test]
    fn clean_removes_dead_leftovers_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        let root = store.root().to_path_buf();
        let dead = stale_pid();
        let key = "b".repeat(64);
        // what seqsynth made: a directory with the marker, naming its maker's pid
        let made = |rel: &str, pid: u32| {
            let d = root.join(rel);
            fs::create_dir_all(&d).unwrap();
            fs::write(
                d.join(OWN_MARKER),
                format!("{{\"made_by\": \"seqsynth\", \"pid\": {pid}}}"),
            )
            .unwrap();
        };
        made(&format!("tmp/{key}.{dead}.0"), dead);
        made(&format!("tmp/train-work.{dead}.x1"), dead);
        made(&format!("tmp/gc-work.{dead}.{key}"), dead);
        // a live process's (pid 1 is always alive; this test does not run as pid 1)
        made(&format!("tmp/{key}.1.0"), 1);
        // this process has staged nothing: an entry with its pid is a dead run's
        let me = std::process::id();
        made(&format!("tmp/{key}.{me}.7"), me);
        made(&format!("downloads/abc.tmp.{dead}"), dead);
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            Path::new("..").join("objects").join(&key),
            root.join(format!("refs/.ingest.{dead}")),
        )
        .unwrap();
        // what others made, whatever its name: never touched
        fs::write(root.join("tmp/a-plain-file"), "mine").unwrap();
        fs::create_dir_all(root.join("tmp/someone-elses")).unwrap();
        fs::create_dir_all(root.join("tmp/home-work.2023.final")).unwrap();
        fs::create_dir_all(root.join(format!("tmp/{key}.{dead}.1"))).unwrap();
        // a marker that is not ours, and one in a file rather than a directory
        fs::create_dir_all(root.join(format!("tmp/x-work.{dead}.y"))).unwrap();
        fs::write(
            root.join(format!("tmp/x-work.{dead}.y/{OWN_MARKER}")),
            "{\"made_by\": \"me\", \"pid\": 5}",
        )
        .unwrap();
        fs::write(root.join(format!("refs/.x.{dead}")), "notes").unwrap();
        fs::write(root.join(format!("downloads/photos.tmp.{dead}")), "").unwrap();
        fs::create_dir_all(root.join(format!("downloads/mine.tmp.{dead}"))).unwrap();
        let removed = if cfg!(unix) { 6 } else { 5 };
        assert_eq!(store.clean_staging().unwrap(), removed);
        let list = |sub: &str| {
            let mut v: Vec<String> = fs::read_dir(root.join(sub))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let mut want = vec![
            format!("{key}.1.0"),
            format!("{key}.{dead}.1"),
            format!("x-work.{dead}.y"),
            "a-plain-file".to_string(),
            "home-work.2023.final".to_string(),
            "someone-elses".to_string(),
        ];
        want.sort();
        assert_eq!(list("tmp"), want);
        assert_eq!(list("refs"), vec![format!(".x.{dead}")]);
        let mut want = vec![format!("mine.tmp.{dead}"), format!("photos.tmp.{dead}")];
        want.sort();
        assert_eq!(list("downloads"), want);
        // what the store makes carries the marker; a committed artifact does not
        let st = store.staging(&key).unwrap();
        assert_eq!(own_pid(&st.dir), Some(me));
        let work = store.work_dir("train").unwrap();
        assert_eq!(own_pid(work.path()), Some(me));
    }

    #[test]
    fn one_key_never_holds_two_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        let parts = KeyParts {
            stage: "synth".into(),
            version: 1,
            params: serde_json::json!({}),
            inputs: BTreeMap::new(),
            external: serde_json::json!({}),
        };
        let key = parts.key();
        let commit = |bytes: &[u8]| {
            let staging = store.staging(&key).unwrap();
            fs::write(staging.dir.join("out.txt"), bytes).unwrap();
            store
                .commit(staging, "synth", &parts, 0.0, BTreeMap::new())
                .unwrap()
        };
        let first = commit(b"first");
        // a second writer of the same key with other bytes (another machine) keeps the first
        let second = commit(b"second, longer");
        assert_eq!(second.manifest.digest, first.manifest.digest);
        assert_eq!(second.dir, first.dir);
        assert_eq!(fs::read(first.dir.join("out.txt")).unwrap(), b"first");
        verify(&first.dir, &key, Check::Full).unwrap();
        // nothing is left in tmp/
        assert_eq!(fs::read_dir(store.root().join("tmp")).unwrap().count(), 0);
        // an artifact whose key.json says something else than its directory is refused
        let other = KeyParts {
            version: 2,
            ..parts.clone()
        };
        let moved = store.object_dir(&other.key());
        fs::rename(&first.dir, &moved).unwrap();
        let e = verify(&moved, &other.key(), Check::Full).unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
    }

    #[test]
    fn gc_and_listing_leave_foreign_directories_under_objects_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        let objects = store.root().join("objects");
        let key = "c".repeat(64);
        // an artifact whose manifest was damaged: corrupt, and ours to remove
        fs::create_dir_all(objects.join(&key)).unwrap();
        fs::write(objects.join(&key).join("manifest.json"), "{").unwrap();
        // someone's directory: neither an artifact nor corrupt
        fs::create_dir_all(objects.join("my-backup")).unwrap();
        fs::write(objects.join("my-backup/manifest.json"), "{}").unwrap();
        fs::create_dir_all(objects.join("d".repeat(64))).unwrap();
        fs::write(objects.join("d".repeat(64)).join("notes.txt"), "x").unwrap();
        let (ok, corrupt) = store.scan_artifacts().unwrap();
        assert!(ok.is_empty());
        assert_eq!(corrupt.len(), 1, "{corrupt:?}");
        assert_eq!(corrupt[0].0, key);
    }

    #[test]
    fn a_foreign_directory_is_never_a_store() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("thesis.tex"), "precious").unwrap();
        let e = Store::open(dir.path()).err().unwrap();
        assert!(
            format!("{e:#}").contains("is not a seqsynth store"),
            "{e:#}"
        );
        assert!(!dir.path().join("objects").exists());
        assert!(Store::open(Path::new("")).is_err());
        // an empty directory becomes one, and is one from then on
        let empty = tempfile::tempdir().unwrap();
        Store::open(empty.path()).unwrap();
        assert!(empty.path().join(MARKER).is_file());
        fs::write(empty.path().join("notes"), "x").unwrap();
        Store::open(empty.path()).unwrap();
        // a symlinked tmp is refused: cleaning it would reach outside the store
        let s = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::create_dir_all(s.path().join("st")).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path(), s.path().join("st/tmp")).unwrap();
            let e = Store::open(&s.path().join("st")).err().unwrap();
            assert!(format!("{e:#}").contains("symbolic link"), "{e:#}");
        }
    }

    #[test]
    fn status_reads_never_create_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("nothing-here");
        assert!(Store::open_read_only(&root).unwrap().is_none());
        assert!(!root.exists());
    }
}
