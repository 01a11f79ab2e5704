//! Clean-up after killed runs (only what seqsynth made, of processes that are gone), the listing
//! of artifacts, their sizes and their removal (`gc`).

use super::fsio::{mark_own, own_pid, sync_dir, OWN_MARKER};
use super::manifest::{verify, Check, Manifest};
use super::Store;
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::Path;

impl Store {
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

/// Whether `link` is a symbolic link of ours: to `../objects/<64 hex key>`.
pub(super) fn points_at_object(link: &Path) -> bool {
    let Ok(t) = fs::read_link(link) else {
        return false;
    };
    let mut c = t.components();
    let parts = (c.next(), c.next(), c.next(), c.next());
    matches!(parts, (Some(std::path::Component::ParentDir), Some(std::path::Component::Normal(o)), Some(std::path::Component::Normal(k)), None)
        if o == "objects" && is_key(&k.to_string_lossy()))
}

pub(super) fn is_key(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether a directory under `objects/` is an artifact (sound or corrupt): a key's name, and a
/// manifest.json or key.json of its own. Anything else there is not the store's to judge.
pub(super) fn looks_like_artifact(dir: &Path, name: &str) -> bool {
    is_key(name)
        && ["manifest.json", "key.json"]
            .iter()
            .any(|f| fs::symlink_metadata(dir.join(f)).is_ok_and(|m| m.is_file()))
}

/// `<64 hex key>.<pid>.<n>` (staging) or `<what>-work.<pid>.<random>` (work directories).
pub(super) fn staging_pid(name: &str) -> Option<u32> {
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
pub(super) fn ref_tmp_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, pid) = rest.rsplit_once('.')?;
    pid.parse().ok()
}

/// `<id>.tmp.<pid>` (a download in progress).
pub(super) fn download_tmp_pid(name: &str) -> Option<u32> {
    let (head, pid) = name.rsplit_once(".tmp.")?;
    (!head.is_empty()).then_some(())?;
    pid.parse().ok()
}

/// Whether a process with this pid exists (Linux: /proc; elsewhere assume it does, so nothing
/// is removed that might be in use).
pub(super) fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}
