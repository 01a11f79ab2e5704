//! The typed configuration: `pipeline.toml` plus `KEY=VALUE` overrides.
//!
//! Loading is two-level, like ripgrep's low and high args: the file is parsed into a TOML value,
//! overrides are applied by key path, and the result is deserialized into [`Config`] with unknown
//! keys refused. Errors name the file and line (for the file) or the override (for the command
//! line), and the key path.

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub pipeline: PipelineConfig,
    #[serde(default)]
    pub dsl: DslConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub synth: SynthConfig,
    #[serde(default)]
    pub train: TrainConfig,
    #[serde(default)]
    pub search: SearchConfig,
    #[serde(default)]
    pub verify: VerifyConfig,
    #[serde(default)]
    pub enumerate: EnumerateConfig,
    #[serde(default)]
    pub buffer: BufferConfig,
    #[serde(default)]
    pub sample: SampleConfig,
    #[serde(default)]
    pub mutate: MutateConfig,
    #[serde(default, rename = "loop")]
    pub meta: LoopConfig,
    #[serde(default)]
    pub query: QueryConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub dir: PathBuf,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            dir: PathBuf::from("data"),
        }
    }
}

/// What `seqsynth run` (without `stage=`) builds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// The stages to build; empty means every built stage.
    pub stages: Vec<String>,
    /// N > 1: a shardable stage's node (synth, search, enumerate, verify) is built as the merge of
    /// its N shards
    /// (`search@3#0/N` ...), each its own node, which `shard=i/N` runs alone (a Slurm array task,
    /// a Ray task); the merged bytes equal an unsharded build. Not part of any key.
    pub shards: u32,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            stages: Vec::new(),
            shards: 1,
        }
    }
}

/// DSL settings: the evaluation limits are part of the semantics, so part of every key that
/// evaluates programs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DslConfig {
    /// "paper" (DESIGN.md section 2) or "loops" (the paper's DSL plus `loop`, `loop2`, `nth`
    /// and `if`; docs/dsl.md).
    pub dialect: crate::dsl::Dialect,
    pub input_len: usize,
    pub max_len: usize,
    pub max_steps: u64,
    pub max_abs_exp: u32,
}

impl Default for DslConfig {
    fn default() -> Self {
        DslConfig {
            dialect: crate::dsl::Dialect::Loops,
            input_len: 35,
            max_len: 48,
            // the loops dialect's (docs/dsl.md); configs/paper.toml pins the paper's 100,000
            max_steps: 2_000_000,
            max_abs_exp: 50,
        }
    }
}

impl DslConfig {
    /// The evaluation limits as they go into the key of every stage that runs programs, with the
    /// evaluator's semantics version ([`crate::dsl::SEMANTICS_VERSION`]): an evaluator fix bumps
    /// that one number and every stage that evaluates programs reruns.
    ///
    /// The dialect is part of it too, but only when it is not the paper's, so that the paper
    /// dialect's keys (and so its artifacts) are what they were before the loops dialect existed.
    pub fn limits_key(&self) -> serde_json::Value {
        let mut key = serde_json::json!({
            "semantics": crate::dsl::SEMANTICS_VERSION,
            "input_len": self.input_len,
            "max_steps": self.max_steps,
            "max_abs_exp": self.max_abs_exp,
        });
        if self.dialect != crate::dsl::Dialect::Paper {
            key["dialect"] = self.dialect.name().into();
        }
        key
    }

    pub fn limits(&self) -> crate::dsl::Limits {
        crate::dsl::Limits {
            input_len: self.input_len,
            max_steps: self.max_steps,
            max_abs_exp: self.max_abs_exp,
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    Auto,
    Flat,
    Internal,
    Url,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OnBadLine {
    Error,
    Skip,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    pub source: String,
    pub format: SourceFormat,
    pub keywords: Vec<String>,
    pub exclude_keywords: Vec<String>,
    pub min_terms: usize,
    pub limit: usize,
    pub on_bad_line: OnBadLine,
    /// A URL source: give up when the server sends nothing for this many seconds.
    pub timeout_secs: u64,
    /// A URL source: the most bytes one downloaded file may have (MiB); a larger one is refused.
    /// Not part of the key (the downloaded data's digests are).
    pub max_download_mb: u64,
    /// A URL source: the most seconds one file's whole download may take, however steadily the
    /// server sends. Not part of the key.
    pub max_download_secs: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            source: "../shared/data/oeis".into(),
            format: SourceFormat::Auto,
            keywords: vec![],
            exclude_keywords: vec!["dead".into()],
            min_terms: 36,
            limit: 10_000,
            on_bad_line: OnBadLine::Error,
            timeout_secs: 60,
            max_download_mb: 1024,
            max_download_secs: 1800,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SynthFlavour {
    /// The paper's constraints (90% rule, unique outputs).
    #[default]
    Constrained,
    /// Unconstrained draws (ablation 1's fresh samples).
    Baseline,
}

/// Where the finetuning programs come from.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SynthSource {
    /// Uniform token sampling within the grammar (the paper).
    #[default]
    Random,
    /// The bottom-up enumerator's distinct programs of at most `synth.enumerate_size` nodes.
    Enumerate,
    /// Half of each (the random ones first drawn, then enumerated ones with new outputs).
    Mixed,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SynthConfig {
    pub pairs: usize,
    pub validation: usize,
    pub seed: u64,
    pub min_terms: usize,
    pub max_len: Option<usize>,
    /// Not a setting: `constrained` for the finetuning set; `sample.mode = "fresh"` (ablation 1,
    /// the one switch for it) draws with `baseline`.
    #[serde(skip)]
    pub flavour: SynthFlavour,
    pub max_draws_factor: u64,
    pub source: SynthSource,
    /// With `source = "enumerate"` or `"mixed"`: the largest expression (AST nodes) whose
    /// distinct programs are drawn from (the enumerator's primitives and folds are those of the
    /// `enumerate` section).
    pub enumerate_size: u32,
    /// The step budget a drawn program is evaluated with (0: `dsl.max_steps`). Random programs
    /// of the loops dialect often loop until the budget; a smaller one here rejects them sooner
    /// (as `step_limit`), and every accepted pair holds under the larger budget too.
    pub max_steps: u64,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            pairs: 10_000,
            validation: 1_000,
            seed: 0,
            min_terms: 3,
            max_len: None,
            flavour: SynthFlavour::Constrained,
            max_draws_factor: 1000,
            source: SynthSource::Random,
            enumerate_size: 7,
            // the loops dialect's; configs/paper.toml sets 0 (dsl.max_steps)
            max_steps: 10_000,
        }
    }
}

/// The `train` stage (the policy); see `stages/train/train.py`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub size: String,
    pub init: String,
    pub spelling: crate::model::tokenizer::Spelling,
    pub input_terms: usize,
    pub epochs: u32,
    /// Epochs of each meta-iteration's training (train@k, k ≥ 1; the paper: 200).
    pub meta_epochs: u32,
    pub batch_size: u32,
    pub lr: f64,
    pub dropout: f64,
    pub seed: u64,
    pub validate_every: u32,
    /// Model selection decodes greedily within the DSL's grammar (as the search does); false:
    /// the paper's unconstrained greedy decoding.
    pub validate_grammar: bool,
    pub max_program_len: u32,
    pub force_cpu: bool,
    pub stage_dir: String,
    pub python: String,
    /// Batches of similar lengths (less padding); false: plain shuffled batches (the paper).
    pub group_by_length: bool,
    /// Validation pairs decoded for model selection (0: all of synth's validation split).
    pub validate_size: usize,
    /// PyTorch CPU threads (0: every core). On the CPU the resolved count is part of train's
    /// key: PyTorch's reductions split by it, so the weights depend on it (docs/results.md).
    pub threads: usize,
    /// Which CPU kernels a CPU training may use (docs/results.md, "Figures that hold on another
    /// machine"): part of train's key, with the thread count.
    pub numerics: Numerics,
}

/// `train.numerics`: which CPU kernels PyTorch and MKL run during a CPU training. The weights
/// depend on them, so the resolved choice is part of train's key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Numerics {
    /// `avx2` where the processor has AVX2 and FMA, else `portable`.
    #[default]
    Auto,
    /// The AVX2 kernels, pinned (ATen's AVX2 dispatch, MKL's AVX2 code path in strict
    /// reproducibility mode): the same bytes on any processor with AVX2 and FMA, an AVX-512 one
    /// included.
    Avx2,
    /// The baseline x86-64 kernels (ATen's default dispatch, MKL's COMPATIBLE path): the same
    /// bytes on any x86-64 processor; about 1.8x slower than `avx2`.
    Portable,
    /// Whatever the processor and the environment pick (the fastest): the key then names the
    /// processor model and instruction level, so a store shared by different machines keeps
    /// one model per kind of machine.
    Native,
}

impl Numerics {
    /// The setting's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Numerics::Auto => "auto",
            Numerics::Avx2 => "avx2",
            Numerics::Portable => "portable",
            Numerics::Native => "native",
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            size: "tiny".into(),
            init: "random".into(),
            spelling: crate::model::tokenizer::Spelling::Decimal,
            input_terms: 25,
            epochs: 2,
            meta_epochs: 1,
            batch_size: 64,
            lr: 1e-3,
            dropout: 0.0,
            seed: 0,
            validate_every: 1,
            validate_grammar: true,
            max_program_len: 64,
            force_cpu: false,
            stage_dir: "stages/train".into(),
            python: String::new(),
            group_by_length: true,
            validate_size: 200,
            threads: 0,
            numerics: Numerics::Auto,
        }
    }
}

/// The `search` stage: grammar-constrained beam search with the policy of the previous iteration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Programs kept per target (the paper: 10 beams).
    pub beams: usize,
    /// Longest program in tokens, the `lambda [ #0 ] (` header included.
    pub max_len: usize,
    /// Targets decoded together (the decoder runs `batch × beams` rows).
    pub batch: usize,
    /// Search only the first N targets (0 = all).
    pub limit: usize,
    /// ONNX Runtime execution provider.
    pub device: crate::model::onnx::Device,
    /// ONNX Runtime intra-op threads (0 = all cores). Not part of the key.
    pub threads: usize,
    /// How candidates are drawn from the policy: beam search (the paper) or sampling.
    pub method: SearchMethod,
    /// With `method = "sample"`: programs drawn per target (its distinct ones are kept), the
    /// temperature and the seed of the draws.
    pub samples: usize,
    pub temperature: f64,
    pub seed: u64,
    /// Leave out the targets that the enumerator's candidates solve by the paper's rule.
    pub skip_enumerated: bool,
    /// The control of the policy as a proposer: every searched target is given another searched
    /// target's terms (a seeded permutation without fixed points). If solves do not drop, the
    /// policy is not reading its input.
    pub shuffle_inputs: bool,
}

/// How `search` draws candidates from the policy.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SearchMethod {
    /// Grammar-constrained beam search, `beams` programs per target (the paper).
    #[default]
    Beam,
    /// `samples` grammar-constrained draws per target at `temperature`, distinct ones kept.
    Sample,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            beams: 10,
            max_len: 48,
            batch: 8,
            limit: 0,
            device: crate::model::onnx::Device::Auto,
            threads: 0,
            method: SearchMethod::Beam,
            samples: 32,
            temperature: 1.0,
            seed: 0,
            skip_enumerated: true,
            shuffle_inputs: false,
        }
    }
}

/// The `verify` stage: which candidates solve which targets.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct VerifyConfig {
    /// Record a program as solving every target whose terms 26..35 it reproduces, not only the
    /// one it was searched for (off: the paper's ablation 4).
    pub hindsight: bool,
    /// Add the `enumerate` stage's candidates to every iteration's search candidates.
    pub enumerate: bool,
    /// The all-known-terms rule checks a solving program on `#0 = [1..n]`, n = the target's
    /// number of known terms capped at `max_terms` (DESIGN.md section 6).
    pub max_terms: usize,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        VerifyConfig {
            hindsight: true,
            enumerate: true,
            max_terms: 100,
        }
    }
}

/// The `enumerate` stage: bottom-up enumeration with observational equivalence, without a model
/// (docs/enumerate.md).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EnumerateConfig {
    /// The largest expression size in AST nodes (a fold counts `fold_size` plus its body).
    pub max_size: u32,
    /// Wall-time limit in seconds (0: none). A level that would pass it is not started.
    pub max_seconds: f64,
    /// Limit on the bytes of the vector store; the level that would pass it is matched only.
    pub max_bytes: u64,
    /// The size of a fold's scaffolding (`reduce`, `filter`, the lambdas).
    pub fold_size: u32,
    /// The primitives expressions apply.
    pub ops: Vec<String>,
    /// The index sets folds (sums and products) range over: `prefix` (k <= n), `before`
    /// (k < n), `divisors` (d | n).
    pub folds: Vec<String>,
    /// Candidates kept per target and kind of match (all terms, window, prefix).
    pub per_target: usize,
    /// The inverse step: for expressions a of at most this size, the b with t = a + b, a - b,
    /// b - a or a * b is looked up among the stored vectors (0: off).
    pub inverse_size: u32,
    /// Where memory stops storing before `max_size`, go on matching the next levels from the
    /// stored ones (their combinations of stored children) within `max_seconds`.
    pub deep: bool,
    /// The cost of each primitive of `ops`' full list (`+ - * / % ** min max sqrt`, in that
    /// order; leaves cost 1): a level is then a cost, not a size in nodes (Probe's cost-ordered
    /// enumeration). Empty (the default): every primitive costs 1. `scripts/fit-costs.py` fits
    /// them to what a store's loop has solved (docs/results.md measures them against uniform).
    pub costs: Vec<u32>,
    /// The loops dialect's families (`[enumerate.loops]`; not read, and not in the key, in the
    /// paper dialect).
    pub loops: crate::enumerator::family::LoopsSettings,
    /// Observational equivalence over this many terms (at least `dsl.input_len`; 0: exactly
    /// `dsl.input_len`, the paper dialect's behaviour): an expression that agrees with a kept one
    /// on terms 1..35 but not later is kept too, so an all-terms match holds this far.
    pub equivalence_len: usize,
}

impl Default for EnumerateConfig {
    fn default() -> Self {
        EnumerateConfig {
            max_size: 9,
            max_seconds: 600.0,
            max_bytes: 4 << 30,
            fold_size: 2,
            ops: ["+", "-", "*", "/", "%", "**", "min", "max", "sqrt"]
                .map(String::from)
                .to_vec(),
            folds: ["prefix", "before", "divisors"].map(String::from).to_vec(),
            per_target: 3,
            inverse_size: 5,
            deep: false,
            costs: Vec::new(),
            loops: crate::enumerator::family::LoopsSettings::default(),
            equivalence_len: 0,
        }
    }
}

/// The `buffer` stage: which programs are kept and how their priority decays.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BufferConfig {
    /// A program enters the buffer when its output has at least this many terms (paper: > 2).
    pub min_terms: usize,
    /// An entry's priority is fraction × decay^(iterations since it was found) (paper: 0.5).
    pub decay: f64,
}

impl Default for BufferConfig {
    fn default() -> Self {
        BufferConfig {
            min_terms: 3,
            decay: 0.5,
        }
    }
}

/// How `sample` draws from the buffer.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SampleMode {
    /// Proportional to priority (the paper).
    Prioritized,
    /// Every buffered program alike (ablation 2).
    Uniform,
    /// No buffer: fresh unconstrained DSL samples each iteration (ablation 1, the baseline).
    Fresh,
}

/// The `sample` stage: the training set of each meta-iteration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SampleConfig {
    /// Programs drawn (with replacement) per meta-iteration (paper: 10,000).
    pub size: usize,
    pub mode: SampleMode,
    pub seed: u64,
    /// Programs longer than this many tokens are not drawn (0: no limit): what the search
    /// cannot propose (`search.max_len`) only slows training down.
    pub max_len: usize,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig {
            size: 10_000,
            mode: SampleMode::Prioritized,
            seed: 0,
            max_len: 48,
        }
    }
}

/// How `mutate` draws its parents from the buffer.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ParentDraw {
    /// Proportional to the buffer's priorities.
    Prioritized,
    /// Every buffered program alike (the control).
    Uniform,
}

/// The `mutate` stage: neighbours of the buffer's programs, matched up to transforms
/// (`crate::mutation`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MutateConfig {
    /// Rounds per meta-iteration (0: no mutate stage).
    pub rounds: usize,
    pub parents: usize,
    pub per_parent: usize,
    pub parent_draw: ParentDraw,
    pub max_coef: i64,
    pub max_offset: i64,
    pub max_shift: u8,
    pub max_steps: u64,
    pub max_len: usize,
    pub per_target: usize,
    pub seed: u64,
    /// Library items (0: none), their largest size in nodes, and where they come from.
    pub library: usize,
    pub library_max_size: usize,
    pub library_from: LibraryFrom,
    /// Compose the library's items (op ( A B ), A[#1 := B]) before the rounds.
    pub compose: bool,
    /// Also match first differences and partial sums of pointwise programs.
    pub derive: bool,
    /// Also match the further forms (second differences, double partial sums, p², n·p, divisor
    /// sums, binomial transform and its inverse; bisections of the found programs).
    pub derive_more: bool,
    /// Join two found sequences (A + B, A - B, A·B, A(B(n))): at most this many of the
    /// programs that solve targets on all known terms, the shortest first (0: off).
    pub pairs: usize,
    /// ... and convolve every two of the first this many (whole, and halved as in Kimberling's
    /// sequences), with the sources' offsets 0 and 1 (0: off).
    pub convolve: usize,
    /// The held-out check: parents and library only from what was found for targets up to
    /// this A-number (0: all).
    pub learn_up_to: u64,
    /// Also match the candidates of `search@k` (the policy's proposals) up to the transforms,
    /// beside the parents; what they confirm is mutated in the first round.
    pub search: bool,
}

/// Where `mutate`'s library comes from.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LibraryFrom {
    /// The most frequent fragments of the programs that solve targets on all known terms.
    Solutions,
    /// Fragments of the same sizes drawn at random from all the buffer's programs (the control).
    Random,
}

impl Default for MutateConfig {
    fn default() -> Self {
        MutateConfig {
            rounds: 2,
            parents: 2000,
            per_parent: 100,
            parent_draw: ParentDraw::Uniform,
            max_coef: 1000,
            max_offset: 1_000_000,
            max_shift: 2,
            max_steps: 100_000,
            max_len: 96,
            per_target: 2,
            seed: 0,
            library: 0,
            library_max_size: 12,
            library_from: LibraryFrom::Solutions,
            compose: true,
            derive: true,
            derive_more: true,
            pairs: 3000,
            convolve: 0,
            learn_up_to: 0,
            search: true,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LoopConfig {
    pub iterations: u32,
}

impl Default for LoopConfig {
    fn default() -> Self {
        LoopConfig { iterations: 5 }
    }
}

/// `seqsynth query`: the bounds of one query (no stage reads them, so no key does).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// The most memory (resident, MiB) the query process may use; past it the query stops with
    /// an error (0: no limit).
    pub max_memory_mb: u64,
    /// The most seconds a query may run, writing its result included (0: no limit).
    pub max_seconds: u64,
    /// The most bytes (MiB) a query may write as its result, to a file or stdout (0: no limit).
    pub max_output_mb: u64,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            max_memory_mb: 4096,
            max_seconds: 300,
            max_output_mb: 4096,
        }
    }
}

/// A loaded configuration with where it came from.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    /// Directory that relative paths in the config are relative to.
    pub base_dir: PathBuf,
    /// The whole config as a TOML value (overrides applied), for the key of each section.
    pub value: toml::Value,
    /// Where the settings came from, so that an error names the line or override of a bad one.
    pub origin: Origin,
}

/// Where the effective settings came from: the config file (when it exists) and the overrides
/// of the command line (presets' included), in order.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// The config file as given (`pipeline.toml`, `configs/paper.toml`).
    pub file: String,
    /// Its text, when it exists (absent: the built-in defaults).
    pub text: Option<String>,
    pub overrides: Vec<(String, String)>,
}

impl Origin {
    /// Where `key` was set: the last override of it (or of a table above it), else its line in
    /// the file; None when it has its built-in default.
    fn place(&self, key: &str) -> Option<String> {
        let covers = |k: &str| key == k || key.starts_with(&format!("{k}."));
        if let Some((k, v)) = self.overrides.iter().rev().find(|(k, _)| covers(k)) {
            return Some(format!("override {k}={v}"));
        }
        let text = self.text.as_deref()?;
        let line = key_line(text, key)?;
        Some(format!("{}:{line}", self.file))
    }

    /// The place to blame for a bad value of one of `keys` (they are checked together): the
    /// first that was set somewhere, else the file (or, with no file, the defaults).
    pub fn blame(&self, keys: &[&str]) -> String {
        keys.iter()
            .find_map(|k| self.place(k))
            .unwrap_or_else(|| match &self.text {
                Some(_) => self.file.clone(),
                None => "the built-in defaults".into(),
            })
    }
}

/// The 1-based line of `key` (`section.name`) in a TOML text: `name = ...` under `[section]`,
/// or a dotted `section.name = ...`. A plain scan, for error messages only.
fn key_line(text: &str, key: &str) -> Option<usize> {
    let mut table = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(h) = line.strip_prefix('[') {
            table = h
                .trim_start_matches('[')
                .split(']')
                .next()?
                .trim()
                .to_string();
            continue;
        }
        let Some((k, _)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim().trim_matches('"');
        let full = if table.is_empty() {
            k.to_string()
        } else {
            format!("{table}.{k}")
        };
        if full == key {
            return Some(i + 1);
        }
    }
    None
}

impl Loaded {
    /// Resolves a path setting against the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// An error about the setting(s) `keys`, placed where the user set them: `override
    /// train.lr=-1: ...`, `pipeline.toml:12: ...`. `msg` names the key and what it must be.
    pub fn setting_error(&self, keys: &[&str], msg: impl std::fmt::Display) -> anyhow::Error {
        anyhow!("{}: {msg}", self.origin.blame(keys))
    }

    /// Fails with [`Loaded::setting_error`] unless `ok`.
    pub fn require(&self, ok: bool, keys: &[&str], msg: impl std::fmt::Display) -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(self.setting_error(keys, msg))
        }
    }

    /// The checks of the settings no stage owns (dsl, pipeline, loop, query); each stage checks
    /// its own section ([`crate::pipeline::stage::Stage::check`]).
    fn check(&self) -> Result<()> {
        let c = &self.config;
        let d = &c.dsl;
        use crate::dsl::eval::{MAX_ABS_EXP, MAX_INPUT_LEN};
        self.require(
            (1..=MAX_INPUT_LEN).contains(&d.input_len),
            &["dsl.input_len"],
            format!(
                "dsl.input_len must be in 1..={MAX_INPUT_LEN}, not {}",
                d.input_len
            ),
        )?;
        self.require(
            d.max_steps >= 1,
            &["dsl.max_steps"],
            "dsl.max_steps must be at least 1",
        )?;
        self.require(
            (1..=MAX_ABS_EXP).contains(&d.max_abs_exp),
            &["dsl.max_abs_exp"],
            format!(
                "dsl.max_abs_exp must be in 1..={MAX_ABS_EXP}, not {}",
                d.max_abs_exp
            ),
        )?;
        let min = crate::dsl::State::new().min_completion();
        self.require(
            d.max_len >= min,
            &["dsl.max_len"],
            format!(
                "dsl.max_len must be at least {min} (the shortest program's tokens), not {}",
                d.max_len
            ),
        )?;
        self.require(
            c.pipeline.shards >= 1,
            &["pipeline.shards"],
            "pipeline.shards = 0: it must be at least 1 (1: no shards)",
        )?;
        self.require(
            c.meta.iterations <= crate::pipeline::dag::MAX_ITER,
            &["loop.iterations"],
            format!(
                "loop.iterations = {} is beyond the largest meta-iteration seqsynth resolves ({})",
                c.meta.iterations,
                crate::pipeline::dag::MAX_ITER
            ),
        )?;
        Ok(())
    }

    /// One section (or nested key) of the effective config as canonical JSON, for stage keys.
    pub fn section(&self, path: &str) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.config).expect("config serializes");
        for part in path.split('.') {
            v = v.get(part).cloned().unwrap_or(serde_json::Value::Null);
        }
        v
    }
}

/// Loads `file` (if it exists; the defaults otherwise when `required` is false) and applies
/// `overrides` (`a.b=value`).
pub fn load(file: &Path, required: bool, overrides: &[(String, String)]) -> Result<Loaded> {
    let (text, exists) = match std::fs::read_to_string(file) {
        Ok(t) => (t, true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => (String::new(), false),
        Err(e) => return Err(e).with_context(|| format!("reading config {}", file.display())),
    };
    let display = file.display().to_string();
    // First pass: the file alone, so errors point at its lines.
    let file_value: toml::Value = toml::from_str(&text).map_err(|e| {
        // a value TOML cannot read (an integer past 64 bits) fails before any key is known:
        // name the key of its line
        let msg = match e.span().and_then(|r| key_at(&text, r.start)) {
            Some(k) => format!("{k}: {}", e.message()),
            None => e.message().to_string(),
        };
        anyhow!("{}", located(&display, &text, e.span(), &msg))
    })?;
    deserialize(&text, &display)?;
    let mut value = file_value;
    for (key, raw) in overrides {
        set_path(&mut value, key, parse_override(raw))
            .with_context(|| format!("override {key}={raw}"))?;
        let config: Result<Config, _> = serde_path_to_error::deserialize(value.clone());
        if let Err(e) = config {
            let path = path_or_root(e.path().to_string());
            bail!("override {key}={raw}: {path}: {}{}", e.inner(), hint(&path));
        }
    }
    let config: Config = value
        .clone()
        .try_into()
        .with_context(|| format!("config {display}"))?;
    let base_dir = match file.parent() {
        Some(p) if exists && !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let loaded = Loaded {
        config,
        base_dir,
        value,
        origin: Origin {
            file: display,
            text: exists.then_some(text),
            overrides: overrides.to_vec(),
        },
    };
    loaded.check()?;
    Ok(loaded)
}

/// The full key (`ingest.limit`) of the `key = value` line holding byte `at`, if it is one.
fn key_at(text: &str, at: usize) -> Option<String> {
    let at = at.min(text.len());
    let line_no = text[..at].matches('\n').count();
    let line = text.lines().nth(line_no)?.trim();
    let (k, _) = line.split_once('=')?;
    let k = k.trim().trim_matches('"');
    if k.is_empty() || k.starts_with('[') {
        return None;
    }
    let table = text
        .lines()
        .take(line_no)
        .filter_map(|l| l.trim().strip_prefix('['))
        .last()
        .and_then(|h| h.trim_start_matches('[').split(']').next())
        .map(|h| h.trim().to_string());
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{k}"),
        _ => k.to_string(),
    })
}

fn path_or_root(p: String) -> String {
    if p == "." {
        "(root)".into()
    } else {
        p
    }
}

fn deserialize(text: &str, display: &str) -> Result<Config> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = path_or_root(e.path().to_string());
        let inner = e.into_inner();
        anyhow!(
            "{}",
            located(
                display,
                text,
                inner.span(),
                &format!("{path}: {}{}", inner.message(), hint(&path))
            )
        )
    })
}

/// Where a removed setting went.
fn hint(path: &str) -> &'static str {
    match path {
        "synth.flavour" => {
            " (synth.flavour was removed: ablation 1 is the one switch sample.mode = \"fresh\")"
        }
        "enumerate.max_len" | "enumerate.max_programs" => {
            " (the enumerator is bottom-up now: its budget is enumerate.max_size, in AST nodes)"
        }
        _ => "",
    }
}

fn located(file: &str, text: &str, span: Option<std::ops::Range<usize>>, msg: &str) -> String {
    match span {
        Some(r) => {
            let line = text[..r.start.min(text.len())].matches('\n').count() + 1;
            let line_text = text.lines().nth(line - 1).unwrap_or("").trim();
            format!("{file}:{line}: {msg}\n    {line_text}")
        }
        None => format!("{file}: {msg}"),
    }
}

/// Parses an override value as TOML (`3`, `true`, `["easy"]`, `"x"`), falling back to a bare
/// string (`ingest.source=/data/oeis`).
fn parse_override(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t.remove("v").expect("v is set"),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn set_path(root: &mut toml::Value, key: &str, v: toml::Value) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        bail!("bad key path {key:?}");
    }
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        let table = cur
            .as_table_mut()
            .ok_or_else(|| anyhow!("{} is not a table", parts[..i].join(".")))?;
        if i + 1 == parts.len() {
            table.insert(part.to_string(), v);
            return Ok(());
        }
        cur = table
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn shipped_pipeline_toml_equals_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline.toml");
        let l = load(&path, true, &[]).unwrap();
        assert_eq!(l.config, Config::default());
    }

    #[test]
    fn paper_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/paper.toml");
        let l = load(&path, true, &[]).unwrap();
        assert_eq!(l.config.train.epochs, 300);
        assert_eq!(l.config.ingest.keywords, vec!["easy".to_string()]);
        assert_eq!(l.config.meta.iterations, 20);
        // the paper dialect, with its budget, drawn as before the loops dialect
        assert_eq!(l.config.dsl.dialect, crate::dsl::Dialect::Paper);
        assert_eq!(l.config.dsl.max_steps, 100_000);
        assert_eq!(l.config.synth.max_steps, 0);
        assert_eq!(l.config.enumerate.equivalence_len, 0);
    }

    #[test]
    fn unknown_key_names_file_line_and_path() {
        let f = write("[ingest]\nlimit = 5\nlimitt = 3\n");
        let err = load(f.path(), true, &[]).unwrap_err().to_string();
        assert!(err.contains(":3:"), "{err}");
        assert!(err.contains("limitt"), "{err}");
        let f = write("[synth]\npairs = \"many\"\n");
        let err = load(f.path(), true, &[]).unwrap_err().to_string();
        assert!(err.contains(":2:") && err.contains("synth.pairs"), "{err}");
    }

    #[test]
    fn overrides_apply_and_are_checked() {
        let f = write("[ingest]\nlimit = 5\n");
        let l = load(
            f.path(),
            true,
            &[
                ("ingest.limit".into(), "7".into()),
                ("ingest.keywords".into(), "[\"easy\"]".into()),
                ("ingest.source".into(), "/x/y".into()),
            ],
        )
        .unwrap();
        assert_eq!(l.config.ingest.limit, 7);
        assert_eq!(l.config.ingest.keywords, vec!["easy".to_string()]);
        assert_eq!(l.config.ingest.source, "/x/y");
        let err = load(f.path(), true, &[("ingest.limit".into(), "x".into())])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("override ingest.limit=x") && err.contains("ingest.limit"),
            "{err}"
        );
        let err = load(f.path(), true, &[("search.beamz".into(), "3".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("search"), "{err}");
        let err = load(
            f.path(),
            true,
            &[("ingest.on_bad_line".into(), "maybe".into())],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("ingest.on_bad_line"), "{err}");
    }

    #[test]
    fn sections_are_canonical_json() {
        let l = load(Path::new("/nonexistent/p.toml"), false, &[]).unwrap();
        assert_eq!(l.section("dsl.input_len"), serde_json::json!(35));
        assert_eq!(l.section("synth")["pairs"], serde_json::json!(10000));
    }
}
