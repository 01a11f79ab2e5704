//! The model (issue 6): tokenizer agreement between Rust and Python, training the tiny T5 on CPU
//! from a fresh store, ONNX (through the Rust `ort` crate) vs PyTorch greedy decoding, and
//! initialisation from a local checkpoint with its own tokenizer.
//!
//! These tests need the project's Python environment (scripts/setup-python.sh; the first call
//! creates it, which downloads PyTorch).

mod common;
use arrow_array::{Float64Array, StringArray, UInt32Array};
use common::*;
use seqsynth::model::onnx::{python_env_dir, Policy};
use seqsynth::model::tokenizer::{sequence_text, Spelling, Vocab};
use seqsynth::tables::io::column;
use std::path::{Path, PathBuf};
use std::process::Command;

fn python() -> PathBuf {
    let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup-python.sh");
    let out = Command::new("bash").arg(setup).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let venv = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    assert_eq!(venv, python_env_dir());
    venv.join("bin/python")
}

fn config(extra: &str) -> String {
    format!(
        "[synth]\npairs = 120\nvalidation = 20\n\n[train]\nepochs = 2\nbatch_size = 16\nstage_dir = \"{}\"\n{extra}\n",
        Path::new(env!("CARGO_MANIFEST_DIR")).join("stages/train").display()
    )
}

fn inputs() -> Vec<String> {
    let seqs: [&[&str]; 4] = [
        &["1", "4", "9", "16", "25", "36", "49"],
        &["0", "-1", "2", "-3"],
        &["5"; 25],
        &[
            "1", "2", "6", "24", "120", "720", "5040", "40320", "362880", "3628800", "39916800",
        ],
    ];
    seqs.iter()
        .map(|s| sequence_text(s, Spelling::Decimal).unwrap())
        .collect()
}

/// Runs the venv's Python with `args`; asserts success and returns stdout.
fn run_python(py: &Path, args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let out = Command::new(py).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The ONNX runtime's greedy programs for `inputs()` (through the Rust `ort` crate).
fn onnx_greedy(dir: &Path, vocab: &Vocab, max_len: usize) -> Vec<Vec<u32>> {
    let mut policy = Policy::load(dir, 1).unwrap();
    let ids: Vec<Vec<u32>> = inputs().iter().map(|t| vocab.encode(t).unwrap()).collect();
    policy.greedy(&ids, vocab.pad, max_len).unwrap()
}

/// PyTorch's greedy programs and ids for `inputs()` from a train artifact.
fn torch_greedy(py: &Path, model: &Path, max_len: usize) -> (Vec<String>, Vec<Vec<u32>>) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("inputs.json");
    std::fs::write(&f, serde_json::to_string(&inputs()).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("stages/train/greedy.py");
    let max_len = max_len.to_string();
    let stdout = run_python(
        py,
        &[
            script.as_ref(),
            model.as_ref(),
            f.as_ref(),
            max_len.as_ref(),
        ],
    );
    let v: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    (
        serde_json::from_value(v["programs"].clone()).unwrap(),
        serde_json::from_value(v["ids"].clone()).unwrap(),
    )
}

#[test]
fn train_tiny_then_onnx_and_torch_agree() {
    let py = python();
    let p = Project::new(&config(""));
    let run = p.run(&["run", "stage=train"]);
    assert!(run.status.success());
    let out = String::from_utf8(run.stdout).unwrap();
    assert_eq!(built(&out), vec!["synth", "train@0"]);
    // the ONNX export's library warnings stay in the stage's log; the terminal gets one line
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!err.contains("Warning:"), "{err}");
    let log = std::fs::read_to_string(p.store().join("logs/train@0.log")).unwrap();
    assert!(log.contains("Warning"), "{log}");
    assert!(err.contains("library warning(s)"), "{err}");
    let dir = p.artifact("train@0");
    for f in seqsynth::stages::train::OUTPUTS {
        assert!(dir.join(f).is_file(), "{f}");
    }
    // the loss falls and the validation metric is recorded per epoch
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("metrics.json")).unwrap()).unwrap();
    let epochs = m["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    assert!(epochs[1]["train_loss"].as_f64() < epochs[0]["train_loss"].as_f64());
    assert!(epochs.iter().all(|e| e["val_metric"].is_number()));
    // model selection decodes within the grammar: every validation program is a whole program
    assert!(
        epochs.iter().all(|e| e["val_parsed"].as_f64() == Some(1.0)),
        "{epochs:?}"
    );
    // wall times are in the manifest, not in the artifact (a retrain gives the same bytes)
    assert!(epochs.iter().all(|e| e.get("train_seconds").is_none()));
    let counters = &p.manifest("train@0")["counters"];
    assert!(counters["train_seconds"].as_f64().is_some(), "{counters}");
    assert_eq!(counters["precision"], "fp32");
    // ties go to the later epoch
    let metrics: Vec<f64> = epochs
        .iter()
        .map(|e| e["val_metric"].as_f64().unwrap())
        .collect();
    let best = metrics.iter().cloned().fold(f64::MIN, f64::max);
    let last_best = metrics.iter().rposition(|&m| m == best).unwrap() + 1;
    assert_eq!(m["selected_epoch"], last_best as u64);

    // Rust and Python give the same ids for the same text
    let vocab = Vocab::load(&dir.join("tokenizer.json")).unwrap();
    let (torch_programs, torch_ids) = torch_greedy(&py, &dir, 40);
    let rust_ids: Vec<Vec<u32>> = inputs().iter().map(|t| vocab.encode(t).unwrap()).collect();
    assert_eq!(rust_ids, torch_ids);

    // ONNX through ort (with the key/value cache) gives PyTorch's greedy programs
    let onnx = onnx_greedy(&dir, &vocab, 40);
    let onnx_programs: Vec<String> = onnx.iter().map(|ids| vocab.decode(ids)).collect();
    assert_eq!(onnx_programs, torch_programs);
    assert!(
        onnx.iter().any(|ids| ids.len() > 3),
        "decoding ran several cached steps"
    );

    // cached on a second run; a new setting retrains
    assert!(built(&p.ok(&["run", "stage=train"])).is_empty());

    // a retrain from scratch gives the same bytes (no wall times in the artifact), so nothing
    // after it reruns
    let q = Project::new(&config(""));
    q.ok(&["run", "stage=train"]);
    assert_eq!(
        q.manifest("train@0")["digest"],
        p.manifest("train@0")["digest"],
        "train@0 is byte-identical across reruns"
    );
}

/// One key never names two models (issue 23): the CPU thread count and kernel set are keyed, and
/// the kernel set the key names is pinned whatever the caller's environment says.
#[test]
fn a_cpu_training_is_keyed_by_its_thread_count_and_pins_its_kernels() {
    python();
    let train = |extra: &str, env: &[(&str, &str)]| {
        let p = Project::new(&config(&format!("force_cpu = true\n{extra}")));
        let mut c = p.cmd(&["run", "stage=train"]);
        for var in [
            "ATEN_CPU_CAPABILITY",
            "MKL_CBWR",
            "MKL_ENABLE_INSTRUCTIONS",
            "ONEDNN_MAX_CPU_ISA",
        ] {
            c.env_remove(var);
        }
        c.envs(env.iter().copied());
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let key = p
            .artifact("train@0")
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let key_json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p.artifact("train@0").join("key.json")).unwrap())
                .unwrap();
        (p, key, key_json)
    };
    let (a, key_a, json_a) = train("threads = 1\n", &[]);
    assert_eq!(
        json_a["external"]["trainer"]["cpu"]["threads"], 1,
        "{json_a}"
    );
    // an inherited environment that would steer ATen and MKL elsewhere changes nothing: the
    // kernel set in the key is the one the trainer runs with
    let (b, key_b, _) = train(
        "threads = 1\n",
        &[
            ("ATEN_CPU_CAPABILITY", "default"),
            ("MKL_CBWR", "COMPATIBLE"),
        ],
    );
    assert_eq!(key_b, key_a);
    assert!(artifact_files(&b, "train@0") == artifact_files(&a, "train@0"));
    // another thread count is another key
    let (_c, key_c, json_c) = train("threads = 2\n", &[]);
    assert_ne!(key_c, key_a);
    assert_eq!(
        json_c["external"]["trainer"]["cpu"]["threads"], 2,
        "{json_c}"
    );
    // another kernel set is another key, and it is really used: other weights
    let (d, key_d, json_d) = train("threads = 1\nnumerics = \"portable\"\n", &[]);
    assert_ne!(key_d, key_a);
    assert_eq!(json_d["external"]["trainer"]["cpu"]["numerics"], "portable");
    let (fa, fd) = (artifact_files(&a, "train@0"), artifact_files(&d, "train@0"));
    assert!(
        fa["model.safetensors"] != fd["model.safetensors"],
        "the portable kernels were not used"
    );
}

#[test]
fn initialise_from_a_local_checkpoint_with_its_own_tokenizer() {
    let py = python();
    let p = Project::new(&config("init = \"ckpt\"\n"));
    // a small T5 checkpoint with a tokenizer that knows none of seqsynth's tokens
    let make = r#"
import sys
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import T5Config, T5ForConditionalGeneration, PreTrainedTokenizerFast
out = sys.argv[1]
vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, "hello": 3, "world": 4, "the": 5}
tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
fast.save_pretrained(out)
cfg = T5Config(vocab_size=6, d_model=32, d_ff=64, d_kv=8, num_heads=4, num_layers=1,
               num_decoder_layers=1, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
T5ForConditionalGeneration(cfg).save_pretrained(out)
"#;
    let ckpt = p.path().join("ckpt");
    run_python(&py, &["-c".as_ref(), make.as_ref(), ckpt.as_ref()]);
    let run = p.ok(&["run", "stage=train"]);
    assert_eq!(built(&run), vec!["synth", "train@0"]);
    let dir = p.artifact("train@0");
    // the checkpoint's tokens come first, seqsynth's are added after them
    let vocab = Vocab::load(&dir.join("tokenizer.json")).unwrap();
    let tok: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("tokenizer.json")).unwrap()).unwrap();
    assert_eq!(tok["model"]["vocab"]["hello"], 3);
    assert!(vocab.len() > 60);
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["d_model"], 32, "the checkpoint's architecture was kept");
    assert_eq!(cfg["vocab_size"].as_u64().unwrap() as usize, vocab.len());
    // the exported graphs run with the extended vocabulary
    let (torch_programs, _) = torch_greedy(&py, &dir, 20);
    let onnx: Vec<String> = onnx_greedy(&dir, &vocab, 20)
        .iter()
        .map(|i| vocab.decode(i))
        .collect();
    assert_eq!(onnx, torch_programs);
}

#[test]
fn bad_checkpoint_path_is_a_clear_error() {
    let p = Project::new(&config("init = \"no/such/dir\"\n"));
    let e = p.fails(&["run", "stage=train"]);
    assert!(e.contains("train.init") && e.contains("no/such/dir"), "{e}");
    assert!(p.objects().is_empty() || !p.store().join("refs/train@0").exists());
}

/// The policy's own log-probability of `program` (then `</s>`) for `input`, by teacher forcing
/// one token at a time through a fresh decoder cache.
fn teacher_forced_score(policy: &mut Policy, vocab: &Vocab, input: &[u32], program: &str) -> f64 {
    let enc = policy.encode(&[input.to_vec()], vocab.pad).unwrap();
    let mut ids: Vec<i64> = vocab
        .encode(program)
        .unwrap()
        .iter()
        .map(|&i| i as i64)
        .collect();
    assert_eq!(*ids.last().unwrap(), policy.eos);
    let mut token = policy.start;
    let mut cache = None;
    let mut total = 0.0;
    for next in ids.drain(..) {
        let (logp, _) = policy.step(&enc, &[token], &mut cache).unwrap();
        total += logp[next as usize] as f64;
        token = next;
    }
    total
}

#[test]
fn search_proposes_valid_programs_with_the_policy_scores() {
    python();
    let extra = format!(
        "\n[ingest]\nsource = \"{}\"\nlimit = 7\n\n[search]\nskip_enumerated = false\nbeams = 4\nbatch = 3\nmax_len = 30\nthreads = 1\n",
        shared_oeis().display()
    );
    let p = Project::new(&(config("") + &extra));
    let out = p.ok(&["run", "stage=search", "iter=1"]);
    assert_eq!(built(&out), vec!["ingest", "synth", "train@0", "search@1"]);
    let m = p.manifest("search@1");
    assert_eq!(m["counters"]["provider"], "cpu");
    assert_eq!(m["counters"]["targets"], 7);

    let dir = p.artifact("search@1");
    let batches =
        seqsynth::tables::io::read_parquet(&dir.join("candidates-00000.parquet")).unwrap();
    let b = &batches[0];
    let ids = column::<StringArray>(b, "id").unwrap();
    let ranks = column::<UInt32Array>(b, "rank").unwrap();
    let programs = column::<StringArray>(b, "program").unwrap();
    let scores = column::<Float64Array>(b, "score").unwrap();
    assert_eq!(
        b.num_rows(),
        7 * 4,
        "four programs for each of seven targets"
    );

    // the targets the policy saw: the first 25 terms of each
    let targets =
        seqsynth::tables::io::read_parquet(&p.artifact("ingest").join("targets-00000.parquet"))
            .unwrap();
    let t = &targets[0];
    let tid = column::<arrow_array::StringArray>(t, "id").unwrap();
    let tterms = column::<arrow_array::ListArray>(t, "terms").unwrap();
    let model = p.artifact("train@0");
    let vocab = Vocab::load(&model.join("tokenizer.json")).unwrap();
    let mut policy = Policy::load(&model, 1).unwrap();
    for r in 0..b.num_rows() {
        let target = r / 4;
        assert_eq!(ids.value(r), tid.value(target));
        assert_eq!(ranks.value(r) as usize, r % 4);
        if r % 4 > 0 {
            assert!(scores.value(r) <= scores.value(r - 1), "best first");
            assert_ne!(programs.value(r), programs.value(r - 1));
        }
        // every candidate is a valid program within the length limit
        let prog = seqsynth::dsl::Program::parse(programs.value(r)).unwrap();
        assert_eq!(prog.to_string(), programs.value(r));
        assert!(prog.tokens().len() <= 30);
        // and its score is the policy's log-probability (the beams' reordered caches are right)
        let terms = seqsynth::tables::io::list_strings(tterms, target);
        let head: Vec<&str> = terms.iter().take(25).map(|s| s.as_str()).collect();
        let input = vocab.encode_terms(&head).unwrap();
        let want = teacher_forced_score(&mut policy, &vocab, &input, programs.value(r));
        assert!(
            (scores.value(r) - want).abs() < 1e-3,
            "{}: beam score {} vs teacher-forced {want}",
            programs.value(r),
            scores.value(r)
        );
    }

    // cached on a second run; the same settings give the same bytes
    assert!(built(&p.ok(&["run", "stage=search", "iter=1"])).is_empty());
    let bytes = std::fs::read(dir.join("candidates-00000.parquet")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        built(&p.ok(&["run", "stage=search", "iter=1"])),
        vec!["search@1"]
    );
    assert_eq!(
        std::fs::read(p.artifact("search@1").join("candidates-00000.parquet")).unwrap(),
        bytes
    );
    // search@0 has no policy to use
    let e = p.fails(&["run", "stage=search", "iter=0"]);
    assert!(e.contains("starts at iter=1"), "{e}");
}

/// Reads one column of a table part as strings / numbers, for the loop test.
fn read_table(dir: &Path, table: &str) -> Vec<arrow_array::RecordBatch> {
    seqsynth::tables::io::read_parquet(&dir.join(format!("{table}-00000.parquet"))).unwrap()
}

fn strings(b: &arrow_array::RecordBatch, name: &str) -> Vec<String> {
    let c = column::<StringArray>(b, name).unwrap();
    c.iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect()
}

fn floats(b: &arrow_array::RecordBatch, name: &str) -> Vec<f64> {
    let c = column::<Float64Array>(b, name).unwrap();
    c.values().to_vec()
}

#[test]
fn one_meta_iteration_search_verify_buffer_sample_train() {
    python();
    let extra = format!(
        "\n[ingest]\nsource = \"{}\"\nlimit = 300\n\n[search]\nskip_enumerated = false\nbeams = 3\nlimit = 12\nmax_len = 30\nthreads = 1\n\n[sample]\nsize = 50\n\n[verify]\nenumerate = false\n\n[enumerate]\nmax_size = 5\ninverse_size = 2\n\n[enumerate.loops]\nloop_body = 3\nloop2_body = 3\nloop2_pair = 4\ninit_max = 2\npair_init_max = 1\nnth_expr = 3\n\n[loop]\niterations = 1\n",
        shared_oeis().display()
    );
    let p = Project::new(&(config("") + &extra));
    // a plain run builds the whole configured loop
    let out = p.ok(&["run"]);
    assert_eq!(
        built(&out),
        vec![
            "ingest",
            "synth",
            "train@0",
            "search@1",
            "verify@1",
            "buffer@1",
            "sample@1",
            "train@1",
            "enumerate",
            "report"
        ]
    );

    // verify: one execution per candidate; a solve means the window 26..35 matches exactly
    let v = p.artifact("verify@1");
    let ex = &read_table(&v, "executions")[0];
    assert_eq!(ex.num_rows(), 12 * 3);
    let targets = &read_table(&p.artifact("ingest"), "targets")[0];
    let ids = strings(targets, "id");
    let terms_col = column::<arrow_array::ListArray>(targets, "terms").unwrap();
    let window = |id: &str| {
        let i = ids.iter().position(|x| x == id).unwrap();
        seqsynth::tables::io::list_strings(terms_col, i)[25..35].to_vec()
    };
    let ev = seqsynth::dsl::Evaluator::new(seqsynth::dsl::Limits::default());
    let solved = &read_table(&v, "solved")[0];
    for (id, prog) in strings(solved, "id").iter().zip(strings(solved, "program")) {
        let out = ev
            .eval(&seqsynth::dsl::Program::parse(&prog).unwrap())
            .unwrap();
        let out: Vec<String> = out.iter().map(|n| n.to_string()).collect();
        assert_eq!(out[25..35].to_vec(), window(id), "{prog} solves {id}");
    }
    let vm = p.manifest("verify@1");
    assert_eq!(vm["counters"]["candidates"], 36);
    assert_eq!(
        vm["counters"]["targets_solved"].as_u64().unwrap() as usize,
        strings(solved, "id")
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );

    // buffer: programs with their own outputs; priority = best matched fraction (iteration 1)
    let b = &read_table(&p.artifact("buffer@1"), "programs")[0];
    let priorities = floats(b, "priority");
    assert!(priorities.iter().all(|&x| (0.0..=1.0).contains(&x)));
    for (prog, pr) in strings(b, "program").iter().zip(&priorities) {
        if strings(solved, "program").contains(prog) {
            assert_eq!(
                *pr, 1.0,
                "a solving program has priority 1 in its iteration"
            );
        }
    }

    // sample: 50 pairs x̂ → program, each x̂ the program's own output, drawn from the buffer
    let s = &read_table(&p.artifact("sample@1"), "train")[0];
    assert_eq!(s.num_rows(), 50);
    let buffered: std::collections::HashMap<String, f64> = strings(b, "program")
        .into_iter()
        .zip(priorities.iter().copied())
        .collect();
    let any_positive = priorities.iter().any(|&x| x > 0.0);
    let sample_terms = column::<arrow_array::ListArray>(s, "terms").unwrap();
    for (i, prog) in strings(s, "program").iter().enumerate() {
        let pr = buffered[prog];
        if any_positive {
            assert!(pr > 0.0, "prioritized draws never pick priority 0");
        }
        let out = ev
            .eval(&seqsynth::dsl::Program::parse(prog).unwrap())
            .unwrap();
        let out: Vec<String> = out.iter().map(|n| n.to_string()).collect();
        assert_eq!(seqsynth::tables::io::list_strings(sample_terms, i), out);
    }

    // train@1 continued from train@0 on the draw
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.artifact("train@1").join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(m["init"], "checkpoint");
    assert_eq!(p.manifest("train@1")["counters"]["train_pairs"], 50);

    // the report: the solve curve and the solutions, in the store and in exports/report
    let rm = p.manifest("report");
    assert_eq!(rm["counters"]["solved"], vm["counters"]["targets_solved"]);
    let curve = std::fs::read_to_string(p.path().join("exports/report/curve.csv")).unwrap();
    let line = curve.lines().nth(1).unwrap();
    assert!(
        line.starts_with(&format!("1,300,12,{}", vm["counters"]["targets_solved"])),
        "{curve}"
    );
    let svg = std::fs::read_to_string(p.path().join("exports/report/figure.svg")).unwrap();
    assert!(svg.contains("<polyline") && svg.contains("meta-iteration"));
    let sol = std::fs::read_to_string(p.path().join("exports/report/solutions.csv")).unwrap();
    assert_eq!(
        sol.lines().count() - 1,
        vm["counters"]["targets_solved"].as_u64().unwrap() as usize
    );

    // an edit of the buffer's decay reruns buffer, sample and train, not search or verify
    let run = p.run(&["run", "buffer.decay=0.25"]);
    assert!(run.status.success());
    let out = String::from_utf8_lossy(&run.stdout).into_owned();
    let rebuilt = built(&out);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!rebuilt.contains(&"search@1".to_string()));
    assert!(!rebuilt.contains(&"verify@1".to_string()));
    // iteration 1 has no decayed entries yet: the priorities, and so everything after, are equal
    assert_eq!(
        rebuilt,
        vec!["buffer@1"],
        "early cutoff after an identical buffer; the run said:\n{stderr}"
    );
}
