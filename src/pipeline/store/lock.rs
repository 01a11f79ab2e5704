//! The store's lock (shared by runs, exclusive for `gc`) and the lock on building one node.

use super::Store;
use anyhow::{bail, Context, Result};
use fs2::FileExt;
use std::fs;
use std::path::Path;

/// Held while a run uses the store; released on drop.
pub struct StoreLock {
    _file: fs::File,
}

impl Store {
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
}
