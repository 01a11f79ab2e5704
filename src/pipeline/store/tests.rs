//! The store's unit tests: durable writes, manifests, clean-up, one key one output, foreign
//! directories.

use super::gc::{download_tmp_pid, ref_tmp_pid, staging_pid};
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
