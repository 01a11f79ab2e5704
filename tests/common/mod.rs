//! Helpers for end-to-end tests: a fresh temp project per test, the real binary, fixtures.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_seqsynth"))
}

/// The shared OEIS copy beside the repository.
pub fn shared_oeis() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/oeis")
}

pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    /// A temp dir with `pipeline.toml` = `config`.
    pub fn new(config: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("pipeline.toml"), config).unwrap();
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.path())
            .args(args)
            .env_remove("SEQSYNTH_LOG");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "seqsynth {args:?} failed:\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and asserts failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "seqsynth {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    pub fn store(&self) -> PathBuf {
        self.path().join("data")
    }

    /// Keys of the committed artifacts.
    pub fn objects(&self) -> Vec<String> {
        let mut v: Vec<String> = match fs::read_dir(self.store().join("objects")) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => vec![],
        };
        v.sort();
        v
    }

    /// The artifact directory `refs/<node>` points at.
    pub fn artifact(&self, node: &str) -> PathBuf {
        let link = self.store().join("refs").join(node);
        fs::canonicalize(link).unwrap()
    }

    pub fn manifest(&self, node: &str) -> serde_json::Value {
        let text = fs::read_to_string(self.artifact(node).join("manifest.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

/// Lines of `run` output that report a built node.
pub fn built(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| l.contains(" built "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect()
}

pub fn terms(n: usize, f: impl Fn(usize) -> String) -> String {
    let v: Vec<String> = (0..n).map(f).collect();
    format!(",{},", v.join(","))
}

/// A small flat OEIS directory: `n` sequences A000001.. with 40 terms each (some shorter),
/// names, offsets and keywords.
pub fn flat_fixture(dir: &Path, n: usize) {
    fs::create_dir_all(dir).unwrap();
    let mut stripped = String::from("# OEIS stripped fixture\n# comment lines are skipped\n");
    let mut names = String::from("# names\n");
    let mut offsets = String::from("# offsets\n");
    let mut keywords = String::new();
    for i in 1..=n {
        let len = if i % 5 == 0 { 20 } else { 40 };
        stripped.push_str(&format!(
            "A{i:06} {}\n",
            terms(len, |k| ((k * i) as i64 - 3).to_string())
        ));
        names.push_str(&format!("A{i:06} Sequence number {i}.\n"));
        offsets.push_str(&format!("A{i:06} {}\n", i % 2));
        let kw = match i % 4 {
            0 => "nonn,easy",
            1 => "sign,easy",
            2 => "nonn",
            _ => "easy,dead",
        };
        keywords.push_str(&format!("A{i:06} {kw}\n"));
    }
    fs::write(dir.join("stripped"), stripped).unwrap();
    fs::write(dir.join("names"), names).unwrap();
    fs::write(dir.join("offsets"), offsets).unwrap();
    fs::write(dir.join("keywords"), keywords).unwrap();
}

pub fn gzip(path: &Path) {
    use std::io::Write;
    let data = fs::read(path).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&data).unwrap();
    fs::write(path.with_extension("gz"), gz.finish().unwrap()).unwrap();
    fs::remove_file(path).unwrap();
}

/// A config with a small synth and the given ingest source.
pub fn config(source: &str, extra: &str) -> String {
    format!(
        "[pipeline]\nstages = [\"ingest\", \"synth\"]\n\n[ingest]\nsource = \"{source}\"\nlimit = 0\nmin_terms = 36\n\n[synth]\npairs = 60\nvalidation = 10\n\n{extra}\n"
    )
}

/// A one-iteration loop on 200 targets with the tiny T5 (1 epoch, one thread), search and verify
/// small enough to run in seconds: the config of the sharding, Ray and Slurm tests.
pub fn loop_config() -> String {
    format!(
        "[synth]\npairs = 120\nvalidation = 20\n\n[train]\nepochs = 1\nbatch_size = 16\nthreads = 1\nstage_dir = \"{}\"\n\n\
         [ingest]\nsource = \"{}\"\nlimit = 200\n\n[search]\nskip_enumerated = false\nbeams = 3\nlimit = 37\nbatch = 4\nmax_len = 30\nthreads = 1\n\n\
         [sample]\nsize = 50\n\n[enumerate]\nmax_size = 5\ninverse_size = 2\n\n[enumerate.loops]\nloop_body = 3\nloop2_body = 3\nloop2_pair = 4\ninit_max = 2\npair_init_max = 1\nnth_expr = 3\n\n[loop]\niterations = 1\n",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("stages/train")
            .display(),
        shared_oeis().display()
    )
}

/// Runs a set-up script of the project; its stdout (a path) or None, saying why, when it fails.
pub fn setup_script(script: &str) -> Option<PathBuf> {
    let s = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let out = Command::new("bash").arg(&s).output().unwrap();
    if !out.status.success() {
        eprintln!("{script} failed:\n{}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    Some(PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()))
}

/// Every whole node's artifact in the store: node → (key, files other than the manifest and
/// key.json). Shards are left out (only a sharded run has them).
pub fn artifacts(
    p: &Project,
) -> std::collections::BTreeMap<String, (String, std::collections::BTreeMap<String, Vec<u8>>)> {
    let mut out = std::collections::BTreeMap::new();
    for r in fs::read_dir(p.store().join("refs")).unwrap() {
        let node = r.unwrap().file_name().to_string_lossy().into_owned();
        if node.contains('#') {
            continue;
        }
        let dir = p.artifact(&node);
        let key = dir.file_name().unwrap().to_string_lossy().into_owned();
        out.insert(node.clone(), (key, artifact_files(p, &node)));
    }
    out
}

/// Every file of the artifact `node` points at: name → bytes (the manifest and key.json aside).
pub fn artifact_files(p: &Project, node: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    fs::read_dir(p.artifact(node))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !["manifest.json", "key.json"].contains(&&*e.file_name().to_string_lossy()))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// Asserts that two runs hold the same nodes with the same keys and bytes.
pub fn assert_same_artifacts(got: &Project, want: &Project) {
    let (got, want) = (artifacts(got), artifacts(want));
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (node, (key, files)) in &want {
        assert_eq!(&got[node].0, key, "{node}: the key of the local run");
        assert!(got[node].1 == *files, "{node}: the bytes of the local run");
    }
}
