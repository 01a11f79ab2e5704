//! Durable writes (a temporary, fsync, rename, fsync of the directory) and the marker seqsynth
//! writes into every directory it makes, which clean-up goes by.

use anyhow::{Context, Result};
use std::fs;
use std::path::Path;

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
pub(super) fn own_pid(dir: &Path) -> Option<u32> {
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
