//! The command line: raw arguments and `KEY=VALUE` overrides. Resolution against
//! `pipeline.toml` happens in `pipeline::config`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "seqsynth",
    version,
    about = "Finds programs that generate integer sequences (OEIS)",
    long_about = "seqsynth finds DSL programs that generate OEIS integer sequences: synthetic \
                  pairs, a T5 policy, grammar-guided beam search, verification with hindsight \
                  and a prioritized buffer, as a cached pipeline of Parquet artifacts."
)]
pub struct Cli {
    /// More logging (-v info, -vv debug); SEQSYNTH_LOG=... overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// No progress bars or progress lines (errors, warnings and results still print).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the pipeline, or one stage and whatever it needs that is not cached.
    #[command(after_help = "Examples:\n  \
        seqsynth run                          # everything configured\n  \
        seqsynth run stage=ingest             # one stage (and its inputs)\n  \
        seqsynth run stage=synth synth.pairs=2000\n  \
        seqsynth run preset=baseline          # a method of the paper's experiment\n  \
        seqsynth run ingest.limit=500 synth.pairs=2000 --store /tmp/store\n  \
        seqsynth run --config my.toml ingest.keywords='[\"easy\"]'")]
    Run(PipelineArgs),
    /// Show, for every stage of the current config: cached or to run (and why), key, rows,
    /// bytes and the wall time of the run that made it.
    #[command(after_help = "Examples:\n  \
        seqsynth status\n  \
        seqsynth status synth.seed=3     # what would rerun after this edit
  \
        seqsynth status --verify         # also re-hash every file of every cached artifact
  \
        seqsynth status --all            # every artifact the store holds, and its size
\n\
        status never changes the store (it does not even create one).\n\n\
        The default check is fast: each manifest's own checksum, key.json, every file's size,\n\
        and a re-hash only of files whose mtime changed since commit. A file altered in place with\n\
        its size and mtime restored passes it; --verify is the full check (every byte re-hashed).")]
    Status(StatusArgs),
    /// SQL over the artifacts (Polars SQL): targets, pairs, candidates, executions, solved,
    /// buffer, entries, samples, levels, curve, solutions and runs.
    #[command(after_help = "Examples:\n  \
        seqsynth query --tables\n  \
        seqsynth query \"SELECT iteration, count(DISTINCT id) AS solved FROM solved GROUP BY iteration ORDER BY iteration\"\n  \
        seqsynth query \"SELECT * FROM curve\" preset=baseline\n  \
        seqsynth query \"SELECT node, key, rows FROM runs\" --all --format csv --output runs.csv\n  \
        seqsynth query \"SELECT count(*) AS n FROM pairs a, pairs b\" query.max_seconds=900\n\n\
        The tables are those of the artifacts the config (and its overrides) reaches, or of every \
        artifact with --all (then a `key` column tells them apart). docs/schemas.md lists the \
        columns and shows example queries. A query never changes the store.\n\n\
        Bounds (the [query] settings; override one per query as KEY=VALUE; 0: no limit): \
        query.max_memory_mb (default 4096: the most resident memory, in MiB), query.max_seconds \
        (default 300) and query.max_output_mb (default 4096: the most MiB of result written). Past \
        one the query stops with an error naming it, status 2. The result streams; --output FILE \
        is written beside FILE and renamed onto it only when complete, so a stopped query leaves \
        no half file. The SQL reads the store's tables only: read_csv, read_parquet, read_ipc and \
        read_json need --allow-files.")]
    Query(QueryArgs),
    /// Remove the artifacts that the config (and the given presets) no longer reach. Dry run
    /// unless --force.
    #[command(after_help = "Examples:\n  \
        seqsynth gc                          # what would go, keeping what the config reaches\n  \
        seqsynth gc --presets all            # keep every method's artifacts\n  \
        seqsynth gc --presets full,baseline --force")]
    Gc(GcArgs),
    /// Print, as JSON, the nodes a run would build, in order, with their keys (when known),
    /// states, inputs and the `seqsynth run` arguments that build each (and each shard): what
    /// an engine (Slurm, Ray) schedules from.
    #[command(after_help = "Examples:\n  \
        seqsynth plan\n  \
        seqsynth plan pipeline.shards=8 preset=baseline\n\n\
        plan never changes the store.")]
    Plan(PipelineArgs),
    /// Write Slurm batch scripts for the plan (one job array per level, chained with
    /// --dependency=afterok), and with --submit submit them.
    #[command(after_help = "Examples:\n  \
        seqsynth slurm pipeline.shards=8 --gres gpu:1 --partition gpu\n  \
        seqsynth slurm --submit --config configs/paper.toml pipeline.shards=16\n\n\
        See docs/distributed.md.")]
    Slurm(SlurmArgs),
    /// Work with single DSL programs.
    #[command(subcommand)]
    Dsl(DslCommand),
}

#[derive(Args, Debug)]
pub struct PipelineArgs {
    /// `stage=NAME`, `iter=K`, `shard=i/N` (one shard of a synth, search, enumerate or verify node),
    /// `preset=NAME` (full, baseline, uniform, random-init, no-hindsight: the paper's methods),
    /// and `KEY=VALUE` overrides of pipeline.toml settings.
    #[arg(value_name = "KEY=VALUE")]
    pub assignments: Vec<String>,
    /// The config file (default: ./pipeline.toml if present, else built-in defaults).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The artifact store directory (default: store.dir of the config).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Fail instead of waiting when another run holds the store's lock.
    #[arg(long)]
    pub no_wait: bool,
    /// Re-hash every file of every artifact used (the default checks sizes, mtimes and each
    /// manifest's own checksum, and re-hashes only files whose mtime changed). `status --verify`
    /// reports what is corrupt; `run --verify` also recomputes it.
    #[arg(long)]
    pub verify: bool,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// List every artifact of the store (node, key, rows, size, whether the config reaches it)
    /// and the store's total size, instead of the config's nodes.
    #[arg(long)]
    pub all: bool,
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The SQL query (`-`: read it from stdin).
    #[arg(value_name = "SQL", required_unless_present = "tables")]
    pub sql: Option<String>,
    /// List the tables and their columns, and exit.
    #[arg(long)]
    pub tables: bool,
    /// Every artifact of the store, not only those the config reaches (adds a `key` column).
    #[arg(long)]
    pub all: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: crate::query::Format,
    /// Write the result to FILE (must not be inside the store).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Rows shown by `--format table` (0: all).
    #[arg(long, default_value_t = 40)]
    pub limit: usize,
    /// Let the SQL read files: read_csv, read_parquet, read_ipc and read_json (any file you can
    /// read). Without it a query sees the store's tables only.
    #[arg(long)]
    pub allow_files: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Args, Debug)]
pub struct SlurmArgs {
    /// Where the scripts and the jobs' logs go (default: exports/slurm beside the config).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Submit the scripts (sbatch) after writing them.
    #[arg(long)]
    pub submit: bool,
    /// Slurm partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// CPUs per task.
    #[arg(long, default_value_t = 2)]
    pub cpus_per_task: u32,
    /// --gres for the train and search tasks (e.g. gpu:1); none by default. A level with both
    /// GPU and CPU tasks becomes two job arrays, so that CPU tasks hold no GPU.
    #[arg(long, value_name = "GRES")]
    pub gres: Option<String>,
    /// Time limit per task (e.g. 02:00:00).
    #[arg(long)]
    pub time: Option<String>,
    /// Memory per task (e.g. 16G).
    #[arg(long)]
    pub mem: Option<String>,
    /// The seqsynth binary the jobs run (default: this one).
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Args, Debug)]
pub struct GcArgs {
    /// Also keep what these presets reach (comma-separated, or `all`).
    #[arg(long, value_name = "NAMES")]
    pub presets: Option<String>,
    /// Delete (the default only lists what would be deleted).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Subcommand, Debug)]
pub enum DslCommand {
    /// Print a program's terms (or its error). With `-`, read one program per line from stdin
    /// and print one line each.
    #[command(after_help = "Examples:\n  \
        seqsynth dsl eval 'lambda [#0](map(lambda [#1]( *( / ( *(#1 8) 9) #1)) #0))'\n  \
        seqsynth dsl eval - < programs.txt")]
    Eval {
        program: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Print a program as runnable Python 3 with the same semantics.
    #[command(after_help = "Example:\n  \
        seqsynth dsl python 'lambda [ #0 ] ( map ( sqrt #0 ) )' | python3")]
    Python {
        program: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// The grammar as a co-process: for each program prefix read from stdin (one per line), print
    /// the tokens that may come next and still let the program close within --max-len tokens
    /// (`</s>` once the prefix is a whole program, `error: ...` for an invalid prefix). Used by
    /// the trainer's grammar-constrained greedy validation.
    #[command(
        after_help = "Example:\n  echo 'lambda [ #0 ] ( map (' | seqsynth dsl next --max-len 48"
    )]
    Next {
        #[arg(long, default_value_t = 48)]
        max_len: usize,
    },
    /// Print N random programs with their terms.
    #[command(after_help = "Example:\n  seqsynth dsl sample 5 --seed 42")]
    Sample {
        n: u64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Sampler length limit in tokens.
        #[arg(long, default_value_t = 48)]
        max_len: usize,
        /// The language drawn from: "paper" or "loops" (docs/dsl.md).
        #[arg(long, default_value = "loops", value_parser = parse_dialect)]
        dialect: crate::dsl::Dialect,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

fn parse_dialect(s: &str) -> Result<crate::dsl::Dialect, String> {
    crate::dsl::Dialect::from_name(s)
        .ok_or_else(|| format!("{s:?} is not a dialect: paper or loops"))
}

#[derive(Args, Debug, Clone)]
pub struct LimitArgs {
    /// Input length L of #0 = [1..L].
    #[arg(long, default_value_t = 35)]
    pub len: usize,
    /// Step budget.
    #[arg(long, default_value_t = 100_000)]
    pub max_steps: u64,
    /// Bound exponent: |v| <= 10^E.
    #[arg(long, default_value_t = 50)]
    pub max_abs_exp: u32,
}

impl LimitArgs {
    /// The limits, checked: `--len`, `--max-steps` and `--max-abs-exp` out of range are errors.
    pub fn limits(&self) -> anyhow::Result<crate::dsl::Limits> {
        let l = crate::dsl::Limits {
            input_len: self.len,
            max_steps: self.max_steps,
            max_abs_exp: self.max_abs_exp,
        };
        l.validate()
            .map_err(|why| anyhow::anyhow!("--len/--max-steps/--max-abs-exp: {why}"))?;
        Ok(l)
    }
}

/// `stage=`, `iter=` and the config overrides, split out of the positional assignments.
#[derive(Debug, Default, PartialEq)]
pub struct Assignments {
    pub stage: Option<String>,
    pub iter: Option<u32>,
    /// `preset=NAME`: a method of the paper's experiment (`pipeline::preset`).
    pub preset: Option<String>,
    /// `shard=i/N`: one shard of a shardable stage's node.
    pub shard: Option<crate::pipeline::dag::Shard>,
    pub overrides: Vec<(String, String)>,
}

pub fn split_assignments(args: &[String]) -> anyhow::Result<Assignments> {
    let mut out = Assignments::default();
    for a in args {
        let Some((k, v)) = a.split_once('=') else {
            anyhow::bail!("expected KEY=VALUE, got {a:?} (e.g. stage=ingest, ingest.limit=500)");
        };
        match k.trim() {
            "stage" => out.stage = Some(v.trim().to_string()),
            "iter" => {
                out.iter = Some(
                    v.trim()
                        .parse()
                        .map_err(|_| anyhow::anyhow!("iter={v}: not a non-negative integer"))?,
                )
            }
            "preset" => out.preset = Some(v.trim().to_string()),
            "shard" => out.shard = Some(crate::pipeline::dag::Shard::parse(v)?),
            "" => anyhow::bail!("empty key in {a:?}"),
            k => out.overrides.push((k.to_string(), v.to_string())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments() {
        let a = split_assignments(&[
            "stage=search".into(),
            "iter=7".into(),
            "search.beams=20".into(),
        ])
        .unwrap();
        assert_eq!(a.stage.as_deref(), Some("search"));
        assert_eq!(a.iter, Some(7));
        assert_eq!(a.overrides, vec![("search.beams".into(), "20".into())]);
        assert!(split_assignments(&["iter=x".into()]).is_err());
        assert!(split_assignments(&["beams".into()]).is_err());
    }

    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
