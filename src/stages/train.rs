//! `train`: the policy. Iteration 0 finetunes on the synthetic pairs; iteration k trains on the
//! `sample@k` draw, continuing from `train@(k-1)`.
//!
//! The Rust side prepares everything the Python program needs (the vocabulary file, the pairs as
//! token text, a JSON of settings), then starts `stages/train/train.py` in the project's own
//! Python environment (`scripts/setup-python.sh`) and checks what it wrote. The Python program
//! writes straight into the staging directory, so a failed or killed run leaves no artifact.
//! Its source files are part of the key, as are the settings and the input digests.

use super::{Ctx, Stage};
use crate::model::tokenizer::{sequence_text, vocabulary, write_tokenizer};
use crate::pipeline::config::{Loaded, Numerics, TrainConfig};
use crate::pipeline::dag::Node;
use crate::pipeline::store::{file_digest, Store};
use crate::tables::io::{column, list_strings};
use anyhow::{bail, Context, Result};
use arrow_array::{ArrayRef, ListArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

pub struct Train;

/// The model sizes `train.py` knows (its `SIZES`; a test keeps the two lists equal).
pub const SIZES: [&str; 3] = ["tiny", "small", "t5-small"];

/// Files the Python program must write.
pub const OUTPUTS: [&str; 7] = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "encoder.onnx",
    "decoder_init.onnx",
    "decoder_step.onnx",
    "metrics.json",
];

impl Stage for Train {
    fn name(&self) -> &'static str {
        "train"
    }
    fn version(&self) -> u32 {
        1
    }
    fn check(&self, loaded: &Loaded) -> Result<()> {
        let t = &loaded.config.train;
        let sizes = SIZES.join(", ");
        loaded.require(
            SIZES.contains(&t.size.as_str()),
            &["train.size"],
            format!(
                "train.size = {:?} is not a model size; the sizes are {sizes}",
                t.size
            ),
        )?;
        loaded.require(
            t.batch_size >= 1,
            &["train.batch_size"],
            "train.batch_size must be at least 1",
        )?;
        loaded.require(
            t.lr.is_finite() && t.lr > 0.0,
            &["train.lr"],
            format!("train.lr must be a finite number above 0, not {}", t.lr),
        )?;
        loaded.require(
            t.dropout.is_finite() && (0.0..1.0).contains(&t.dropout),
            &["train.dropout"],
            format!("train.dropout must be in [0, 1), not {}", t.dropout),
        )?;
        loaded.require(
            t.epochs >= 1,
            &["train.epochs"],
            "train.epochs must be at least 1 (train@0 with no epoch is an untrained policy)",
        )?;
        loaded.require(
            t.meta_epochs >= 1,
            &["train.meta_epochs"],
            "train.meta_epochs must be at least 1",
        )?;
        loaded.require(
            t.validate_every >= 1,
            &["train.validate_every"],
            "train.validate_every must be at least 1 (validation every N epochs, and after the last)",
        )?;
        let min = crate::dsl::State::new().min_completion();
        loaded.require(
            t.max_program_len as usize >= min,
            &["train.max_program_len"],
            format!(
                "train.max_program_len must be at least {min} (the shortest program's tokens), not {}",
                t.max_program_len
            ),
        )?;
        let l = loaded.config.dsl.input_len;
        loaded.require(
            t.input_terms >= 1 && t.input_terms < l,
            &["train.input_terms", "dsl.input_len"],
            format!(
                "train.input_terms = {} must be in 1..{l} (dsl.input_len = {l}): the terms after it are the verification window",
                t.input_terms
            ),
        )?;
        Ok(())
    }
    fn uses_gpu(&self) -> bool {
        true
    }
    fn iterated(&self, _: &Loaded) -> bool {
        true
    }
    fn params(&self, loaded: &Loaded, node: &Node) -> serde_json::Value {
        // single settings, declared per node: the finetune (train@0) reads `epochs` and `init`,
        // a meta-iteration (train@k) reads `meta_epochs` and continues from train@(k-1); where
        // things are (`stage_dir`, `python`, the path of `init`) is not what they are, so the
        // files' digests and the trainer's environment are in `external`
        let c = &loaded.config;
        let t = &c.train;
        let zero = node.iter.unwrap_or(0) == 0;
        let mut m = json!({
            "train.size": t.size,
            "train.spelling": t.spelling,
            "train.input_terms": t.input_terms,
            "train.batch_size": t.batch_size,
            "train.lr": t.lr,
            "train.dropout": t.dropout,
            "train.seed": t.seed,
            "train.validate_every": t.validate_every,
            "train.validate_grammar": t.validate_grammar,
            "train.max_program_len": t.max_program_len,
            "train.force_cpu": t.force_cpu,
            "train.group_by_length": t.group_by_length,
            "train.validate_size": t.validate_size,
            "iteration_zero": zero,
            "dsl.limits": c.dsl.limits_key(),
        });
        let o = m.as_object_mut().expect("an object");
        if zero {
            o.insert("train.epochs".into(), json!(t.epochs));
            o.insert("train.init".into(), json!(t.init != "random"));
        } else {
            o.insert("train.meta_epochs".into(), json!(t.meta_epochs));
        }
        m
    }
    fn inputs(&self, _: &Loaded, node: &Node) -> Vec<Node> {
        match node.iter.unwrap_or(0) {
            0 => vec![Node::new("synth", None)],
            k => vec![
                Node::new("sample", Some(k)),
                Node::new("train", Some(k - 1)),
                Node::new("synth", None),
            ],
        }
    }
    fn external(&self, loaded: &Loaded, _: &Store) -> Result<serde_json::Value> {
        let dir = stage_dir(loaded)?;
        let mut m = serde_json::Map::new();
        for f in ["train.py", "requirements.txt"] {
            m.insert(f.into(), json!(file_digest(&dir.join(f))?));
        }
        let init = &loaded.config.train.init;
        if init != "random" {
            let p = loaded.resolve(Path::new(init));
            m.insert("init".into(), json!(dir_digest(&p)?));
        }
        m.insert("trainer".into(), trainer_environment(loaded)?);
        Ok(serde_json::Value::Object(m))
    }
    fn run(&self, ctx: &mut Ctx) -> Result<()> {
        let cfg = &ctx.loaded.config.train;
        let iter = ctx.node.iter.unwrap_or(0);
        let work = ctx.store.work_dir("train")?;
        let w = work.path();
        let tokenizer = w.join("seqsynth-tokenizer.json");
        let synth = ctx.input("synth")?;
        let n_val = prepare(synth, "validation", &w.join("validation.parquet"), cfg)?;
        let (n_train, init, epochs) = if iter == 0 {
            write_tokenizer(&tokenizer, cfg.spelling, ctx.loaded.config.dsl.dialect)?;
            let n_train = prepare(synth, "train", &w.join("train.parquet"), cfg)?;
            let init = match cfg.init.as_str() {
                "random" => json!({"kind": "random"}),
                p => {
                    let path = ctx.loaded.resolve(Path::new(p));
                    if !path.join("config.json").is_file() {
                        bail!(
                            "train.init = {p:?}: {} is not a Hugging Face checkpoint directory (no config.json)",
                            path.display()
                        );
                    }
                    json!({"kind": "checkpoint", "path": path})
                }
            };
            (n_train, init, cfg.epochs)
        } else {
            // continue from the previous policy, with its vocabulary, on the sample@k draw
            let prev = ctx.input(&format!("train@{}", iter - 1))?.dir.clone();
            std::fs::copy(prev.join("tokenizer.json"), &tokenizer)
                .with_context(|| format!("copying the tokenizer of {}", prev.display()))?;
            let sample = ctx.input(&format!("sample@{iter}"))?;
            let n_train = prepare(sample, "train", &w.join("train.parquet"), cfg)?;
            let init = json!({"kind": "checkpoint", "path": prev, "seqsynth_vocab": true});
            (n_train, init, cfg.meta_epochs)
        };
        let dsl = &ctx.loaded.config.dsl;
        let settings = json!({
            "out": ctx.out,
            "train": w.join("train.parquet"),
            "validation": w.join("validation.parquet"),
            "tokenizer": tokenizer,
            "seqsynth_tokens": vocabulary(cfg.spelling, dsl.dialect),
            "seqsynth": std::env::current_exe()?,
            "dsl": dsl.limits_key(),
            "size": cfg.size,
            "init": init,
            "epochs": epochs,
            "batch_size": cfg.batch_size,
            "lr": cfg.lr,
            "dropout": cfg.dropout,
            "seed": cfg.seed,
            "validate_every": cfg.validate_every,
            "validate_grammar": cfg.validate_grammar,
            "max_program_len": cfg.max_program_len,
            "metric_first": cfg.input_terms + 1,
            "metric_last": dsl.input_len,
            "force_cpu": cfg.force_cpu,
            "group_by_length": cfg.group_by_length,
            "validate_size": cfg.validate_size,
            "threads": resolved_threads(cfg.threads),
            "log_every_steps": 200,
            "timings_out": w.join("timings.json"),
        });
        let settings_path = w.join("settings.json");
        std::fs::write(&settings_path, serde_json::to_vec_pretty(&settings)?)?;
        let python = python(ctx.loaded)?;
        let script = stage_dir(ctx.loaded)?.join("train.py");
        eprintln!(
            "train@{iter}: {} on {n_train} pairs ({n_val} validation), {epochs} epochs",
            cfg.size
        );
        // the trainer's progress lines (`[train] ...`) are relayed, or dropped with --quiet;
        // anything else it prints (warnings, a traceback) always is
        let quiet = crate::progress::is_quiet();
        let mut cmd = Command::new(&python);
        cmd.arg(&script)
            .arg(&settings_path)
            .env("PYTHONUNBUFFERED", "1")
            .stderr(std::process::Stdio::piped());
        // the CPU kernels the key names (harmless on a GPU: they steer only CPU kernels)
        for (k, v) in numerics_env(resolved_numerics(cfg.numerics)?) {
            cmd.env(k, v);
        }
        // cuBLAS's deterministic workspace, which train.py's deterministic mode needs on a GPU
        cmd.env("CUBLAS_WORKSPACE_CONFIG", ":4096:8");
        if quiet {
            // the libraries' own progress bars and advice (tqdm, Hugging Face) go too
            for (k, v) in [
                ("TQDM_DISABLE", "1"),
                ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
                ("TRANSFORMERS_VERBOSITY", "error"),
                ("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1"),
            ] {
                cmd.env(k, v);
            }
        }
        exit_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", python.display()))?;
        // everything else (the libraries' warnings, a traceback) goes to the stage's log file
        // in the store; the terminal gets one line that says how much and where
        let log_path = ctx.store.log_path(&format!("{}", ctx.node));
        let mut other = Vec::new();
        if let Some(err) = child.stderr.take() {
            use std::io::BufRead;
            for line in std::io::BufReader::new(err).lines() {
                let line = line.context("reading the trainer's output")?;
                if line.starts_with("[train]") {
                    if !quiet {
                        eprintln!("{line}");
                    }
                } else {
                    other.push(line);
                }
            }
        }
        let status = child.wait().context("waiting for the trainer")?;
        crate::pipeline::store::write_file(&log_path, (other.join("\n") + "\n").as_bytes())?;
        if !status.success() {
            // a failure shows its last lines (the traceback) as well as the log's place
            let tail = other[other.len().saturating_sub(20)..].join("\n");
            bail!(
                "{} {} failed ({status}); its output is in {}:\n{tail}",
                python.display(),
                script.display(),
                log_path.display()
            );
        }
        let warnings = other
            .iter()
            .filter(|l| l.contains("Warning:") || l.starts_with("[transformers]"))
            .count();
        if !other.is_empty() && !quiet {
            eprintln!(
                "train@{iter}: {warnings} library warning(s), {} line(s) in {}",
                other.len(),
                log_path.display()
            );
        }
        for f in OUTPUTS {
            if !ctx.out.join(f).is_file() {
                bail!("the trainer exited 0 but did not write {f}");
            }
        }
        let metrics: serde_json::Value =
            serde_json::from_slice(&std::fs::read(ctx.out.join("metrics.json"))?)?;
        ctx.count("train_pairs", n_train);
        ctx.count("validation_pairs", n_val);
        ctx.count("selected_epoch", metrics["selected_epoch"].clone());
        ctx.count("device", metrics["device"].clone());
        ctx.count("precision", metrics["precision"].clone());
        // wall times are not reproducible, so they live in the manifest, not in the artifact
        if let Ok(t) = std::fs::read(w.join("timings.json")) {
            let t: serde_json::Value = serde_json::from_slice(&t).context("timings.json")?;
            let epochs = t["epochs"].as_array().cloned().unwrap_or_default();
            let secs: f64 = epochs
                .iter()
                .filter_map(|e| e["train_seconds"].as_f64())
                .sum();
            ctx.count("train_seconds", secs);
            if let Some(last) = epochs.last() {
                ctx.count("pairs_per_second", last["pairs_per_second"].clone());
            }
            ctx.count("epoch_timings", epochs);
        }
        if let Some(last) = metrics["epochs"].as_array().and_then(|a| a.last()) {
            ctx.count("final_train_loss", last["train_loss"].clone());
            ctx.count("final_val_metric", last["val_metric"].clone());
        }
        Ok(())
    }
}

/// Writes the pairs of `table` as token text: `source` (the first `input_terms` terms),
/// `target` (the program), `terms` (all terms, for the validation metric).
fn prepare(
    a: &crate::pipeline::store::Artifact,
    table: &str,
    out: &Path,
    cfg: &TrainConfig,
) -> Result<usize> {
    let (mut src, mut tgt, mut all) = (Vec::new(), Vec::new(), Vec::new());
    for b in a.read_table(table)? {
        let prog = column::<StringArray>(&b, "program")?;
        let terms = column::<ListArray>(&b, "terms")?;
        for i in 0..b.num_rows() {
            let t = list_strings(terms, i);
            let head: Vec<&str> = t.iter().take(cfg.input_terms).map(|s| s.as_str()).collect();
            src.push(sequence_text(&head, cfg.spelling)?);
            tgt.push(prog.value(i).to_string());
            all.push(t);
        }
    }
    let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
    let schema = Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("target", DataType::Utf8, false),
        Field::new("terms", list, false),
    ]);
    let n = src.len();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(src)),
        Arc::new(StringArray::from_iter_values(tgt)),
        Arc::new(crate::tables::io::string_lists(
            all.iter().map(|t| t.iter()),
        )),
    ];
    crate::tables::io::write_parquet(out, &RecordBatch::try_new(Arc::new(schema), cols)?)?;
    Ok(n)
}

/// The child dies with this process, even when this process is killed with SIGKILL and has no
/// chance to stop it (Linux: `PR_SET_PDEATHSIG`, checked against a parent that died before the
/// call took effect). Its own children end with it: `dsl next` and `dsl eval` exit at the end
/// of the stdin the trainer held. The signal follows the thread that spawned the child, and
/// the runner builds nodes on the thread that lives for the whole run.
fn exit_with_parent(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: between fork and exec the closure only makes async-signal-safe calls (prctl,
        // getppid, _exit) and allocates nothing
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// The directory of the Python stage program.
pub fn stage_dir(loaded: &Loaded) -> Result<PathBuf> {
    let configured = loaded.resolve(Path::new(&loaded.config.train.stage_dir));
    if configured.join("train.py").is_file() {
        return Ok(configured);
    }
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("stages/train");
    if built_in.join("train.py").is_file() {
        return Ok(built_in);
    }
    bail!(
        "train.stage_dir: no train.py in {} (nor in {})",
        configured.display(),
        built_in.display()
    )
}

/// What the trainer's output depends on beyond its settings: the interpreter, the torch and
/// transformers versions, and the device and precision train.py will pick (bf16 on CUDA, fp32
/// on the CPU). Read without importing torch (importlib.metadata, and torch/version.py for the
/// CUDA build), so it costs one interpreter start, once per run. Never installs anything: with
/// no environment yet (before the first `scripts/setup-python.sh`), `"not installed"`.
fn trainer_environment(loaded: &Loaded) -> Result<serde_json::Value> {
    let p = &loaded.config.train.python;
    let python = if p.is_empty() {
        crate::model::onnx::python_env_dir().join("bin/python")
    } else {
        loaded.resolve(Path::new(p))
    };
    if !python.exists() {
        return Ok(json!("not installed"));
    }
    const PROBE: &str = r#"
import importlib.metadata as m, importlib.util as u, json, os, re, sys
def ver(p):
    try: return m.version(p)
    except Exception: return None
cuda = None
spec = u.find_spec("torch")
if spec and spec.submodule_search_locations:
    try:
        t = open(os.path.join(list(spec.submodule_search_locations)[0], "version.py")).read()
        g = re.search(r"^cuda[^=]*=\s*'([^']+)'", t, re.M)
        cuda = g.group(1) if g else None
    except OSError: pass
v = {p: ver(p) for p in ("torch", "transformers", "safetensors", "tokenizers", "numpy",
                          "onnx", "onnxscript", "pyarrow")}
v.update(python=sys.version.split()[0], torch_cuda=cuda)
print(json.dumps(v))
"#;
    let out = Command::new(&python)
        .args(["-c", PROBE])
        .output()
        .with_context(|| format!("train.python: starting {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "train.python: {} cannot run: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("the environment probe of {}", python.display()))?;
    let cuda =
        !loaded.config.train.force_cpu && crate::model::gpu_visible() && !v["torch_cuda"].is_null();
    v["device"] = json!(if cuda { "cuda" } else { "cpu" });
    v["precision"] = json!(if cuda { "bf16" } else { "fp32" });
    if cuda {
        // a GPU's kernels (and so its weights) differ by model: the GPU is part of the key
        v["gpu"] = json!(gpu_name());
    } else {
        v["cpu"] = cpu_numerics(loaded.config.train.threads, loaded.config.train.numerics)?;
    }
    Ok(v)
}

/// What decides a CPU training's bytes besides the settings and the pinned wheels (measured:
/// docs/results.md, "Figures that hold on another machine"): PyTorch's CPU reductions split
/// their work by the thread count, and ATen and MKL choose their kernels by the processor
/// (its vector instructions, and for MKL its maker), so two thread counts or two kernel sets
/// give different weights from the same inputs. The thread count and the kernel set are in the
/// key, and [`numerics_env`] pins the kernel set the key names, so one key never names two
/// different models.
fn cpu_numerics(threads: usize, numerics: Numerics) -> Result<serde_json::Value> {
    let threads = resolved_threads(threads);
    let mode = resolved_numerics(numerics)?;
    let mut v = json!({"threads": threads, "numerics": mode.name()});
    if mode == Numerics::Native {
        // whatever the machine picks: name the machine, and what in the environment steers it
        v["isa"] = json!(cpu_isa());
        v["cpu_model"] = json!(cpu_model());
        let steering: serde_json::Map<String, serde_json::Value> = NUMERICS_ENV
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|val| (k.to_string(), json!(val))))
            .collect();
        v["environment"] = serde_json::Value::Object(steering);
    }
    Ok(v)
}

/// The environment variables that choose ATen's, MKL's and oneDNN's CPU kernels.
const NUMERICS_ENV: [&str; 4] = [
    "ATEN_CPU_CAPABILITY",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "ONEDNN_MAX_CPU_ISA",
];

/// `train.numerics` with `auto` resolved on this processor; `avx2` where it lacks AVX2 is an
/// error naming the key.
fn resolved_numerics(numerics: Numerics) -> Result<Numerics> {
    let has_avx2 = matches!(cpu_isa(), "avx2" | "avx512");
    Ok(match numerics {
        Numerics::Auto if has_avx2 => Numerics::Avx2,
        Numerics::Auto => Numerics::Portable,
        Numerics::Avx2 if !has_avx2 => bail!(
            "train.numerics = \"avx2\": this processor has no AVX2 and FMA; \
             use \"portable\" (or \"auto\")"
        ),
        Numerics::Portable if !cfg!(target_arch = "x86_64") => bail!(
            "train.numerics = \"portable\" pins x86-64 kernels; on {} use \"native\"",
            std::env::consts::ARCH
        ),
        n => n,
    })
}

/// The trainer's environment for a kernel set: what pins it, overriding anything inherited
/// (`native` pins nothing). ATen's dispatch level, MKL's code path in strict conditional
/// numerical reproducibility (results independent of memory alignment, given the thread
/// count), and oneDNN's level to match (a T5's training on the CPU does not reach oneDNN today:
/// the bytes are the same with it capped lower; the cap keeps it so if a version does).
fn numerics_env(mode: Numerics) -> Vec<(&'static str, &'static str)> {
    match mode {
        Numerics::Avx2 => vec![
            ("ATEN_CPU_CAPABILITY", "avx2"),
            ("MKL_CBWR", "AVX2,STRICT"),
            ("MKL_ENABLE_INSTRUCTIONS", "AVX2"),
            ("ONEDNN_MAX_CPU_ISA", "AVX2"),
        ],
        Numerics::Portable => vec![
            ("ATEN_CPU_CAPABILITY", "default"),
            ("MKL_CBWR", "COMPATIBLE,STRICT"),
            ("MKL_ENABLE_INSTRUCTIONS", "SSE4_2"),
            ("ONEDNN_MAX_CPU_ISA", "SSE41"),
        ],
        Numerics::Auto | Numerics::Native => Vec::new(),
    }
}

/// The processor's model name (`/proc/cpuinfo`), for the key of a `native` training.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// The first visible GPU's model (`nvidia-smi`), or "unknown" where it cannot be asked.
fn gpu_name() -> String {
    Command::new("nvidia-smi")
        .args(["--query-gpu=name", "--format=csv,noheader", "--id=0"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(|l| l.trim().to_string())
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// `train.threads`, 0 resolved to every core (what train.py is told).
fn resolved_threads(threads: usize) -> usize {
    match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// The vector instruction level PyTorch's CPU dispatch picks (`torch.backends.cpu.
/// get_cpu_capability()`: AVX512 needs F, BW, VL and DQ; AVX2 needs AVX2 and FMA).
fn cpu_isa() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512dq")
        {
            return "avx512";
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return "avx2";
        }
        "x86-64"
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH
    }
}

/// The Python interpreter: `train.python`, else the project's environment (created on first use
/// by `scripts/setup-python.sh`).
fn python(loaded: &Loaded) -> Result<PathBuf> {
    let p = &loaded.config.train.python;
    if !p.is_empty() {
        return Ok(loaded.resolve(Path::new(p)));
    }
    let setup = stage_dir(loaded)?.join("../../scripts/setup-python.sh");
    let out = Command::new("bash")
        .arg(&setup)
        .output()
        .with_context(|| format!("running {}", setup.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed:\n{}",
            setup.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let venv = String::from_utf8(out.stdout)?.trim().to_string();
    Ok(PathBuf::from(venv).join("bin/python"))
}

/// blake3 over the sorted (name, digest) of the files in a directory (a checkpoint).
fn dir_digest(dir: &Path) -> Result<String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("train.init: reading {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    let mut h = blake3::Hasher::new();
    for p in names {
        h.update(p.file_name().unwrap_or_default().as_encoded_bytes());
        h.update(file_digest(&p)?.as_bytes());
    }
    Ok(h.finalize().to_hex().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::config;

    fn params(overrides: &[(&str, &str)], iter: u32) -> serde_json::Value {
        let ov: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let l = config::load(Path::new("/nonexistent/pipeline.toml"), false, &ov).unwrap();
        Train.params(&l, &Node::new("train", Some(iter)))
    }

    #[test]
    fn the_cpu_thread_count_and_kernels_are_part_of_what_keys_a_cpu_training() {
        let n = |t, m| cpu_numerics(t, m).unwrap();
        // train.threads = 1 and 2 once shared a key with different weights
        assert_ne!(n(1, Numerics::Auto), n(2, Numerics::Auto));
        assert_eq!(n(3, Numerics::Auto), n(3, Numerics::Auto));
        let all = std::thread::available_parallelism().unwrap().get();
        assert_eq!(n(0, Numerics::Auto), n(all, Numerics::Auto));
        // the kernel sets give different weights, so different keys
        let portable = n(1, Numerics::Portable);
        assert_eq!(portable, json!({"threads": 1, "numerics": "portable"}));
        assert_ne!(n(1, Numerics::Native), portable);
        // auto is whichever pinned set it resolves to: one key for the same kernels
        let auto = n(1, Numerics::Auto);
        let resolved = resolved_numerics(Numerics::Auto).unwrap();
        assert_ne!(resolved, Numerics::Auto);
        assert_eq!(auto, n(1, resolved));
        // a native training names the machine
        let native = n(1, Numerics::Native);
        assert!(!native["isa"].as_str().unwrap().is_empty());
        assert!(!native["cpu_model"].as_str().unwrap().is_empty());
    }

    #[test]
    fn each_pinned_kernel_set_sets_every_steering_variable() {
        for m in [Numerics::Avx2, Numerics::Portable] {
            let env: Vec<&str> = numerics_env(m).iter().map(|(k, _)| *k).collect();
            assert_eq!(env, NUMERICS_ENV, "{m:?}");
        }
        assert!(numerics_env(Numerics::Native).is_empty());
    }

    #[test]
    fn each_node_declares_only_the_epochs_it_trains() {
        // train@0 does not read meta_epochs; train@k does not read epochs (or init)
        assert_eq!(params(&[], 0), params(&[("train.meta_epochs", "9")], 0));
        assert_ne!(params(&[], 0), params(&[("train.epochs", "9")], 0));
        assert_eq!(params(&[], 3), params(&[("train.epochs", "9")], 3));
        assert_eq!(params(&[], 3), params(&[("train.init", "/models/t5")], 3));
        assert_ne!(params(&[], 3), params(&[("train.meta_epochs", "9")], 3));
        // shared settings are in both
        assert_ne!(params(&[], 0), params(&[("train.lr", "0.5")], 0));
        assert_ne!(params(&[], 3), params(&[("train.lr", "0.5")], 3));
        // where the files are is not what they are
        assert_eq!(
            params(&[], 0),
            params(&[("train.python", "/usr/bin/python3")], 0)
        );
    }

    #[test]
    fn the_dsl_semantics_version_is_in_the_key() {
        let p = params(&[], 0);
        assert_eq!(
            p["dsl.limits"]["semantics"],
            serde_json::json!(crate::dsl::SEMANTICS_VERSION)
        );
    }

    #[test]
    fn the_model_sizes_are_those_of_train_py() {
        let py = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stages/train/train.py"),
        )
        .unwrap();
        let block = &py[py.find("SIZES = {").unwrap()..];
        let block = &block[..block.find("\n}").unwrap()];
        let names: Vec<&str> = block
            .lines()
            .skip(1)
            .filter_map(|l| l.trim().strip_prefix('"')?.split('"').next())
            .collect();
        assert_eq!(names, SIZES);
    }
}
