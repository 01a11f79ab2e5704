//! The `seqsynth` binary: parses the command line, runs, prints the error chain.

use anyhow::{bail, Context, Result};
use clap::Parser;
use seqsynth::cli::{
    self, Cli, Command, DslCommand, GcArgs, PipelineArgs, QueryArgs, SlurmArgs, StatusArgs,
};
use seqsynth::dsl::{self, Evaluator, Program};
use seqsynth::pipeline::{config, dag, runner, store::Store};
use seqsynth::stages;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

/// `println!` that ends the process quietly (status 0) when the reader has gone (`seqsynth status
/// | head`), as a Unix filter does, instead of panicking.
macro_rules! out {
    ($($t:tt)*) => {
        print_line(format_args!($($t)*))
    };
}

fn print_line(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if let Err(e) = writeln!(o, "{args}") {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing stdout: {e}");
        std::process::exit(2);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    seqsynth::progress::set_quiet(cli.quiet);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SEQSYNTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run_pipeline(&args),
        Command::Status(args) if args.all => status_all(&args),
        Command::Status(args) => status(&args.pipeline),
        Command::Query(args) => query(&args),
        Command::Plan(args) => plan(&args),
        Command::Slurm(args) => slurm(&args),
        Command::Gc(args) => gc(&args),
        Command::Dsl(cmd) => run_dsl(cmd),
    }
}

/// Loads the config and opens the store named by the arguments.
fn load(args: &PipelineArgs) -> Result<(cli::Assignments, config::Loaded)> {
    let asg = cli::split_assignments(&args.assignments)?;
    let (path, required) = config_file(args);
    let loaded =
        seqsynth::pipeline::preset::load(&path, required, asg.preset.as_deref(), &asg.overrides)?;
    // every setting, before any stage runs
    stages::check_all(&stages::registry(), &loaded)?;
    Ok((asg, loaded))
}

/// The config file and whether it must exist (`--config`) or may be absent (./pipeline.toml).
fn config_file(args: &PipelineArgs) -> (PathBuf, bool) {
    match &args.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from("pipeline.toml"), false),
    }
}

fn store_root(args: &PipelineArgs, loaded: &config::Loaded) -> PathBuf {
    match &args.store {
        Some(s) => s.clone(),
        None if loaded.config.store.dir.as_os_str().is_empty() => PathBuf::new(),
        None => loaded.resolve(&loaded.config.store.dir),
    }
}

/// The config and the store, read-only: a store that does not exist yet holds nothing, and is
/// not created.
fn open_read_only(args: &PipelineArgs) -> Result<(cli::Assignments, config::Loaded, Store)> {
    let (asg, loaded) = load(args)?;
    let root = store_root(args, &loaded);
    let store = Store::open_read_only(&root)?.unwrap_or_else(|| Store::read_only_at(&root));
    Ok((asg, loaded, store))
}

fn open(args: &PipelineArgs) -> Result<(cli::Assignments, config::Loaded, Store)> {
    let (asg, loaded) = load(args)?;
    let root = store_root(args, &loaded);
    let mut store = Store::open(&root).with_context(|| {
        format!(
            "store.dir = {:?}",
            loaded.config.store.dir.display().to_string()
        )
    })?;
    store.full_check = args.verify;
    Ok((asg, loaded, store))
}

/// The nodes a command is about: `stage=` (at `iter=`) or the default targets.
fn targets(
    asg: &cli::Assignments,
    loaded: &config::Loaded,
    stages: &[Box<dyn stages::Stage>],
) -> Result<Vec<dag::Node>> {
    match &asg.stage {
        Some(name) => {
            let stage = runner::find_stage(stages, name)?;
            let iter = if stage.iterated(loaded) {
                let k = asg.iter.unwrap_or(stage.first_iter());
                if k > dag::MAX_ITER {
                    bail!(
                        "iter={k} is beyond the largest meta-iteration seqsynth resolves ({}): \
                         each iteration adds five nodes to the DAG",
                        dag::MAX_ITER
                    );
                }
                if k < stage.first_iter() {
                    bail!(
                        "stage {name} starts at iter={} (iter={k} has no node)",
                        stage.first_iter()
                    );
                }
                Some(k)
            } else {
                if asg.iter.is_some() {
                    eprintln!(
                        "note: stage {name} has one node for all iterations here; iter= is ignored"
                    );
                }
                None
            };
            let node = dag::Node::new(name, iter);
            match asg.shard {
                Some(sh) if !stage.shardable(loaded) => {
                    let can: Vec<&str> = stages
                        .iter()
                        .filter(|s| s.shardable(loaded))
                        .map(|s| s.name())
                        .collect();
                    bail!(
                        "shard={sh}: stage {name} does not split into shards (the stages that do: {})",
                        can.join(", ")
                    )
                }
                Some(sh) => Ok(vec![node.sharded(sh)]),
                None => Ok(vec![node]),
            }
        }
        None => {
            if asg.iter.is_some() {
                bail!("iter= needs stage= (e.g. stage=search iter=7)");
            }
            if asg.shard.is_some() {
                bail!("shard= needs stage= (e.g. stage=search iter=1 shard=0/4)");
            }
            for name in &loaded.config.pipeline.stages {
                runner::find_stage(stages, name).context("pipeline.stages")?;
            }
            Ok(dag::default_targets(stages, loaded))
        }
    }
}

fn run_pipeline(args: &PipelineArgs) -> Result<ExitCode> {
    let (asg, loaded, store) = open(args)?;
    let stages = stages::registry();
    let targets = targets(&asg, &loaded, &stages)?;
    // what killed runs left behind is cleaned only while no other run uses the store; runs
    // then share the store, and each node is built once, under its own lock
    if let Some(exclusive) = store.try_lock_exclusive()? {
        let cleaned = store.clean_staging()?;
        if cleaned > 0 {
            eprintln!("removed {cleaned} unfinished staging dir(s) left by an interrupted run");
        }
        drop(exclusive);
    }
    let _lock = store.lock_shared(!args.no_wait)?;
    let mut r = runner::Runner::new(&loaded, &store, &stages);
    r.wait = !args.no_wait;
    // one pass over the DAG: each node after its inputs, so every ensure finds them resolved
    for n in dag::closure_many(&stages, &loaded, &targets)? {
        r.ensure(&n)?;
    }
    let artifacts = targets
        .iter()
        .map(|t| r.ensure(t))
        .collect::<Result<Vec<_>>>()?;
    let keys: Vec<(String, String)> = r
        .log
        .iter()
        .map(|(n, k, _)| (n.to_string(), k.clone()))
        .collect();
    let (config_file, config_required) = config_file(args);
    for (t, artifact) in targets.iter().zip(&artifacts) {
        r.stage(&t.stage)?.export(&stages::Export {
            loaded: &loaded,
            artifact,
            store: &store,
            config_file: &config_file,
            config_required,
            overrides: &asg.overrides,
            keys: &keys,
        })?;
    }
    let built = r
        .log
        .iter()
        .filter(|(_, _, o)| matches!(o, runner::Outcome::Built { .. }))
        .count();
    out!(
        "{} node(s): {built} built, {} cached (store {})",
        r.log.len(),
        r.log.len() - built,
        store.root().display()
    );
    for (node, key, outcome) in &r.log {
        match outcome {
            runner::Outcome::Cached => out!("  {node:<12} cached  {}", &key[..12]),
            runner::Outcome::Built { secs } => {
                out!("  {node:<12} built   {} in {secs:.2}s", &key[..12])
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn status(args: &PipelineArgs) -> Result<ExitCode> {
    let (asg, loaded, store) = open_read_only(args)?;
    let stages = stages::registry();
    let targets = targets(&asg, &loaded, &stages)?;
    let mut r = runner::Runner::new(&loaded, &store, &stages);
    r.verify_full = args.verify;
    let mut corrupt = 0;
    out!(
        "{:<12} {:<8} {:<12} {:>10} {:>12} {:>9}  why",
        "node",
        "state",
        "key",
        "rows",
        "bytes",
        "wall"
    );
    for node in dag::closure_many(&stages, &loaded, &targets)? {
        match r.status(&node)? {
            runner::NodeStatus::Cached { key, manifest } => out!(
                "{:<12} {:<8} {:<12} {:>10} {:>12} {:>8.2}s",
                node.to_string(),
                "cached",
                &key[..12],
                manifest.rows(),
                manifest.bytes(),
                manifest.wall_secs
            ),
            runner::NodeStatus::ToRun { key, why } => out!(
                "{:<12} {:<8} {:<12} {:>10} {:>12} {:>9}  {}",
                node.to_string(),
                "to run",
                &key[..12],
                "-",
                "-",
                "-",
                why.iter()
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            runner::NodeStatus::Corrupt { key, why } => {
                corrupt += 1;
                out!(
                    "{:<12} {:<8} {:<12} {:>10} {:>12} {:>9}  corrupt: {why} (`seqsynth run --verify` recomputes it)",
                    node.to_string(),
                    "corrupt",
                    &key[..12],
                    "-",
                    "-",
                    "-"
                )
            }
            runner::NodeStatus::Waiting { on } => out!(
                "{:<12} {:<8} {:<12} {:>10} {:>12} {:>9}  waits on {on}",
                node.to_string(),
                "to run",
                "?",
                "-",
                "-",
                "-"
            ),
        }
    }
    if corrupt > 0 {
        eprintln!("{corrupt} corrupt artifact(s)");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The `seqsynth run` arguments that repeat this invocation's config, store and settings.
/// A path that is not UTF-8 is refused: the engines' scripts and JSON would name another path,
/// with U+FFFD in place of its bad bytes.
fn common_args(args: &PipelineArgs, asg: &cli::Assignments) -> Result<Vec<String>> {
    let mut v = Vec::new();
    if let Some(c) = &args.config {
        v.push(format!(
            "--config={}",
            seqsynth::distributed::slurm::utf8_path("--config", c)?
        ));
    }
    if let Some(s) = &args.store {
        v.push(format!(
            "--store={}",
            seqsynth::distributed::slurm::utf8_path("--store", s)?
        ));
    }
    if let Some(p) = &asg.preset {
        v.push(format!("preset={p}"));
    }
    v.extend(asg.overrides.iter().map(|(k, val)| format!("{k}={val}")));
    Ok(v)
}

/// The plan of the invocation's targets, resolved read-only.
fn make_plan(args: &PipelineArgs) -> Result<(config::Loaded, seqsynth::distributed::plan::Plan)> {
    let (asg, loaded, store) = open_read_only(args)?;
    let stages = stages::registry();
    let targets = targets(&asg, &loaded, &stages)?;
    let plan = seqsynth::distributed::plan::plan(
        &loaded,
        &store,
        &stages,
        &targets,
        &common_args(args, &asg)?,
    )?;
    Ok((loaded, plan))
}

fn plan(args: &PipelineArgs) -> Result<ExitCode> {
    let (_, plan) = make_plan(args)?;
    out!("{}", plan.to_json()?);
    Ok(ExitCode::SUCCESS)
}

fn slurm(args: &SlurmArgs) -> Result<ExitCode> {
    let (loaded, plan) = make_plan(&args.pipeline)?;
    // absolute, without `.` components (the scripts run elsewhere)
    let abs = |p: PathBuf| -> Result<PathBuf> {
        let p = if p.is_absolute() {
            p
        } else {
            std::env::current_dir()?.join(p)
        };
        Ok(p.components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect())
    };
    let workdir = abs(std::env::current_dir()?)?;
    let dir = abs(match &args.dir {
        Some(d) => d.clone(),
        None => loaded.resolve(std::path::Path::new("exports/slurm")),
    })?;
    let binary = abs(match &args.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe().context("finding this binary")?,
    })?;
    let units = seqsynth::distributed::plan::units(&plan);
    if units.is_empty() {
        out!("nothing to run: every node is cached");
        return Ok(ExitCode::SUCCESS);
    }
    let o = seqsynth::distributed::slurm::Options {
        binary,
        workdir,
        dir: dir.clone(),
        partition: args.partition.clone(),
        cpus_per_task: args.cpus_per_task,
        gpu_gres: args.gres.clone(),
        time: args.time.clone(),
        mem: args.mem.clone(),
    };
    let written = seqsynth::distributed::slurm::write(&plan, &o)?;
    out!(
        "{} units in {} levels, {} job arrays: {}",
        units.len(),
        seqsynth::distributed::plan::levels(&units).len(),
        written.len() - 1,
        dir.display()
    );
    for p in &written {
        out!("  {}", p.display());
    }
    if args.submit {
        let ids = seqsynth::distributed::slurm::submit(&dir)?;
        out!("submitted: {}", ids.join(" "));
    }
    Ok(ExitCode::SUCCESS)
}

/// The artifacts a query reads: every verified artifact of the store (`--all`), or those the
/// config reaches (the default targets' nodes that are cached).
fn query_sources(
    args: &PipelineArgs,
    all: bool,
) -> Result<(config::Loaded, Store, Vec<seqsynth::query::Source>)> {
    let (asg, loaded) = load(args)?;
    let root = store_root(args, &loaded);
    let Some(store) = Store::open_read_only(&root)? else {
        bail!(
            "{} is not a seqsynth store (nothing has run there yet; `seqsynth run` makes one)",
            root.display()
        );
    };
    let mut out = Vec::new();
    if all {
        for manifest in store.list_artifacts()? {
            out.push(seqsynth::query::Source {
                node: seqsynth::query::parse_node(&manifest.node),
                artifact: seqsynth::pipeline::store::Artifact {
                    dir: store.object_dir(&manifest.key),
                    manifest,
                },
            });
        }
    } else {
        let stages = stages::registry();
        let targets = targets(&asg, &loaded, &stages)?;
        let mut r = runner::Runner::new(&loaded, &store, &stages);
        for node in dag::closure_many(&stages, &loaded, &targets)? {
            if let runner::NodeStatus::Cached { key, manifest } = r.status(&node)? {
                out.push(seqsynth::query::Source {
                    node,
                    artifact: seqsynth::pipeline::store::Artifact {
                        dir: store.object_dir(&key),
                        manifest: *manifest,
                    },
                });
            }
        }
    }
    Ok((loaded, store, out))
}

fn query(args: &QueryArgs) -> Result<ExitCode> {
    if args.tables {
        out!("{}", seqsynth::query::describe(args.all)?.trim_end());
        return Ok(ExitCode::SUCCESS);
    }
    let sql = match args.sql.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .context("reading the SQL from stdin")?;
            s
        }
        Some(s) => s.to_string(),
        None => bail!("no SQL given (see `seqsynth query --help`)"),
    };
    let (loaded, store, sources) = query_sources(&args.pipeline, args.all)?;
    // no `gc` removes what the query reads while it reads it
    let _read = store.read_lock()?;
    if let Some(out) = &args.output {
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let (a, b) = (parent.canonicalize(), store.root().canonicalize());
        if let (Ok(a), Ok(b)) = (a, b) {
            if a.starts_with(&b) {
                bail!(
                    "--output {}: inside the store {} (a query never writes into the store)",
                    out.display(),
                    store.root().display()
                );
            }
        }
    }
    let options = seqsynth::query::Options {
        sql: &sql,
        with_key: args.all,
        format: args.format,
        output: args.output.as_deref(),
        limit: args.limit,
        allow_files: args.allow_files,
        bounds: loaded.config.query.clone(),
    };
    seqsynth::query::run(&sources, &options)?;
    Ok(ExitCode::SUCCESS)
}

/// What the configs reach: the keys of their nodes (built or not, for the shards of a node that
/// is not merged yet), and the nodes that are not built or corrupt (after those, keys are not
/// known, so what the config reaches is not known either).
struct Reached {
    keys: BTreeSet<String>,
    unresolved: Vec<String>,
}

impl Reached {
    /// Whether an artifact is reached: its key, or, for a shard, its whole node's key.
    fn contains(&self, m: &seqsynth::pipeline::store::Manifest) -> bool {
        if self.keys.contains(&m.key) {
            return true;
        }
        m.parts
            .whole()
            .is_some_and(|whole| self.keys.contains(&whole.key()))
    }
}

/// What the config (`args` with its assignments `asg`) and the presets `presets` reach.
fn reachable(
    args: &PipelineArgs,
    asg: &cli::Assignments,
    presets: Option<&str>,
    store: &Store,
) -> Result<Reached> {
    let mut configs: Vec<Option<String>> = vec![asg.preset.clone()];
    if let Some(p) = presets {
        let names: Vec<String> = if p.trim() == "all" {
            seqsynth::pipeline::preset::PRESETS
                .iter()
                .map(|(n, _, _)| n.to_string())
                .collect()
        } else {
            p.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        for n in names {
            seqsynth::pipeline::preset::overrides(&n).context("--presets")?;
            configs.push(Some(n));
        }
    }
    let (file, required) = config_file(args);
    let stages = stages::registry();
    let mut keep = BTreeSet::new();
    let mut unresolved = Vec::new();
    for preset in configs {
        let loaded =
            seqsynth::pipeline::preset::load(&file, required, preset.as_deref(), &asg.overrides)?;
        let targets = dag::default_targets(&stages, &loaded);
        let mut r = runner::Runner::new(&loaded, store, &stages);
        let label = preset.as_deref().unwrap_or("the config");
        for node in dag::closure_many(&stages, &loaded, &targets)? {
            match r.status(&node)? {
                runner::NodeStatus::Cached { key, .. } => {
                    keep.insert(key);
                }
                runner::NodeStatus::ToRun { key, .. } => {
                    unresolved.push(format!("{node} ({label}: not built)"));
                    keep.insert(key);
                }
                runner::NodeStatus::Corrupt { key, .. } => {
                    unresolved.push(format!("{node} ({label}: corrupt)"));
                    keep.insert(key);
                }
                runner::NodeStatus::Waiting { .. } => {}
            }
        }
    }
    Ok(Reached {
        keys: keep,
        unresolved,
    })
}

fn human_bytes(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

fn status_all(args: &StatusArgs) -> Result<ExitCode> {
    let (asg, loaded) = load(&args.pipeline)?;
    let root = store_root(&args.pipeline, &loaded);
    let Some(store) = Store::open_read_only(&root)? else {
        out!("{}: no store (nothing has run there yet)", root.display());
        return Ok(ExitCode::SUCCESS);
    };
    let keep = reachable(&args.pipeline, &asg, None, &store)?;
    let artifacts = store.list_artifacts()?;
    if !keep.unresolved.is_empty() {
        eprintln!(
            "note: not built: {} (what is after them is not known yet)",
            keep.unresolved.join(", ")
        );
    }
    out!(
        "{:<12} {:<12} {:>10} {:>11} {:>9}  reached by the config",
        "node",
        "key",
        "rows",
        "size",
        "wall"
    );
    let (mut total, mut reached) = (0, 0);
    for m in &artifacts {
        total += m.bytes();
        let reaches = keep.contains(m);
        reached += usize::from(reaches);
        out!(
            "{:<12} {:<12} {:>10} {:>11} {:>8.1}s  {}",
            m.node,
            &m.key[..12],
            m.rows(),
            human_bytes(m.bytes()),
            m.wall_secs,
            if reaches { "yes" } else { "no" }
        );
    }
    out!(
        "{} artifact(s), {} ({reached} reached by the config); store {}",
        artifacts.len(),
        human_bytes(total),
        store.root().display()
    );
    for (what, bytes) in store.other_sizes()? {
        if bytes > 0 {
            out!("  {what}: {}", human_bytes(bytes));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn gc(args: &GcArgs) -> Result<ExitCode> {
    // gc never makes a store: a mistyped --store is an error, not a new empty store
    let (asg, loaded) = load(&args.pipeline)?;
    let root = store_root(&args.pipeline, &loaded);
    let Some(existing) = Store::open_read_only(&root)? else {
        bail!(
            "{} is not a seqsynth store (nothing to collect; check --store and store.dir)",
            root.display()
        );
    };
    // the dry run only reads, under a shared lock; --force takes the store for itself
    let (store, _lock) = if args.force {
        let (_, _, store) = open(&args.pipeline)?;
        let lock = store.lock(!args.pipeline.no_wait)?;
        (store, Some(lock))
    } else {
        let lock = existing.read_lock()?;
        (existing, lock)
    };
    let keep = reachable(&args.pipeline, &asg, args.presets.as_deref(), &store)?;
    if !keep.unresolved.is_empty() {
        // keys after an unbuilt or corrupt node are unknown: what looks unreachable may be
        // what the next run finds in the cache (a rebuilt node with the same bytes)
        let why = format!(
            "these nodes are not built or corrupt: {}; the keys after them are not known, so gc \
             cannot tell what the config reaches (run `seqsynth run` first, or name only the \
             presets that are built)",
            keep.unresolved.join(", ")
        );
        if args.force {
            bail!("gc --force refused: {why}");
        }
        eprintln!("note: {why}; the list below would remove more than it should");
    }
    let (artifacts, corrupt) = store.scan_artifacts()?;
    let gone: Vec<_> = artifacts
        .into_iter()
        .filter(|m| !keep.contains(m))
        .collect();
    let bytes: u64 = gone.iter().map(|m| m.bytes()).sum();
    let verb = if args.force {
        "removed"
    } else {
        "would remove"
    };
    for m in &gone {
        out!(
            "{verb} {:<12} {}  {}",
            m.node,
            &m.key[..12],
            human_bytes(m.bytes())
        );
        if args.force {
            store.remove_artifact(&m.key)?;
        }
    }
    // a corrupt artifact is never used (a run recomputes its node): it goes too
    for (key, why) in &corrupt {
        out!(
            "{verb} {:<12} {}  corrupt: {why}",
            "?",
            &key[..key.len().min(12)]
        );
        if args.force {
            store.remove_artifact(key)?;
        }
    }
    out!(
        "{verb} {} artifact(s), {}{}; kept {} reached by the config{}",
        gone.len(),
        human_bytes(bytes),
        if corrupt.is_empty() {
            String::new()
        } else {
            format!(", and {} corrupt", corrupt.len())
        },
        keep.keys.len(),
        if args.force {
            String::new()
        } else {
            " (dry run: --force deletes)".into()
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn parse_program(src: &str) -> Result<Program> {
    Program::parse(src).with_context(|| format!("parsing {}", abbreviate(src, 80)))
}

/// `s` quoted, cut to about `max` characters with the total length said (an error message
/// never echoes a 64 KB program).
fn abbreviate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return format!("{s:?}");
    }
    let head: String = s.chars().take(max).collect();
    format!("{head:?}... ({} bytes in all)", s.len())
}

/// One line of stdin, read with a bounded buffer.
enum Line {
    /// The line without its `\n` / `\r\n`.
    Text(Vec<u8>),
    /// Longer than the limit: its length in bytes (it was skipped, not held).
    TooLong(u64),
}

/// Reads the next line of at most `max` bytes (line ending not counted); `None` at the end.
fn read_line_bounded(input: &mut impl std::io::BufRead, max: usize) -> Result<Option<Line>> {
    use std::io::{BufRead, Read};
    let mut buf = Vec::new();
    let got = input
        .by_ref()
        .take(max as u64 + 2)
        .read_until(b'\n', &mut buf)
        .context("reading stdin")?;
    if got == 0 {
        return Ok(None);
    }
    let complete = buf.last() == Some(&b'\n');
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    if buf.len() <= max {
        return Ok(Some(Line::Text(buf)));
    }
    if complete {
        return Ok(Some(Line::TooLong(buf.len() as u64)));
    }
    // skip the rest of an over-long line without holding it
    let mut skipped = buf.len() as u64;
    loop {
        let chunk = input.fill_buf().context("reading stdin")?;
        if chunk.is_empty() {
            break;
        }
        match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => {
                skipped += i as u64;
                input.consume(i + 1);
                break;
            }
            None => {
                let l = chunk.len();
                skipped += l as u64;
                input.consume(l);
            }
        }
    }
    Ok(Some(Line::TooLong(skipped)))
}

/// `dsl eval -`: one program per stdin line, one output line each (terms, or `error: ...`). A
/// line that is not UTF-8 or longer than the program limit is an error line, and the batch goes
/// on; a closed stdout (`| head`) ends it quietly.
fn eval_lines(limits: &dsl::Limits) -> Result<()> {
    let ev = Evaluator::new(limits.clone());
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let max = dsl::syntax::MAX_PROGRAM_BYTES;
    let mut n = 0u64;
    while let Some(line) = read_line_bounded(&mut input, max)? {
        n += 1;
        let answer = match line {
            Line::TooLong(len) => {
                format!("error: line {n}: {len} bytes, longer than the limit of {max} bytes")
            }
            Line::Text(buf) => match std::str::from_utf8(&buf) {
                Err(e) => format!("error: line {n} is not UTF-8 ({e})"),
                Ok(text) => match Program::parse(text) {
                    Ok(p) => match ev.eval(&p) {
                        Ok(t) => dsl::format_terms(&t),
                        Err(e) => format!("error: {e}"),
                    },
                    Err(e) => format!("error: parse: {e}"),
                },
            },
        };
        if !emit(&mut out, &answer)? {
            return Ok(());
        }
    }
    flush_quietly(&mut out)?;
    Ok(())
}

/// `dsl next`: the allowed next tokens of each prefix on stdin, one line each, flushed per line
/// (the caller reads each answer before it writes the next prefix).
fn next_tokens(max_len: usize) -> Result<()> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stdout().lock();
    while let Some(line) = read_line_bounded(&mut input, dsl::syntax::MAX_PROGRAM_BYTES)? {
        let answer = match line {
            Line::TooLong(_) => "error: longer than the program limit".to_string(),
            Line::Text(buf) => match std::str::from_utf8(&buf) {
                Err(_) => "error: not UTF-8".to_string(),
                Ok(text) => next_answer(text, max_len),
            },
        };
        if !emit(&mut out, &answer)? || !flush_quietly(&mut out)? {
            return Ok(());
        }
    }
    Ok(())
}

fn next_answer(prefix: &str, max_len: usize) -> String {
    let tokens = match dsl::lex::lex(prefix) {
        Ok(t) => t,
        Err(e) => return format!("error: {e}"),
    };
    let mut state = dsl::State::new();
    for s in &tokens {
        if let Err(e) = state.push(s.token) {
            return format!("error: {e}");
        }
    }
    if state.is_complete() {
        return "</s>".into();
    }
    // a prefix already past the limit (never one of ours) closes as fast as it can
    let fits = state.allowed_within(max_len);
    if fits.is_empty() {
        state.fastest().to_string()
    } else {
        fits.to_string()
    }
}

/// Flushes; `false` when the reader has gone (a closed pipe is not an error).
fn flush_quietly(out: &mut impl std::io::Write) -> Result<bool> {
    match out.flush() {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("writing stdout"),
    }
}

/// Writes one line; `false` when the reader has gone (a closed pipe is not an error).
fn emit(out: &mut impl std::io::Write, line: &str) -> Result<bool> {
    match writeln!(out, "{line}") {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("writing stdout"),
    }
}

fn run_dsl(cmd: DslCommand) -> Result<ExitCode> {
    match cmd {
        DslCommand::Eval { program, limits } if program == "-" => {
            eval_lines(&limits.limits()?)?;
            Ok(ExitCode::SUCCESS)
        }
        DslCommand::Eval { program, limits } => {
            let limits = limits.limits()?;
            let p = parse_program(&program)?;
            match dsl::eval(&p, &limits) {
                Ok(terms) => {
                    out!("{}", dsl::format_terms(&terms));
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    out!("error: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        DslCommand::Next { max_len } => {
            next_tokens(max_len)?;
            Ok(ExitCode::SUCCESS)
        }
        DslCommand::Python { program, limits } => {
            let limits = limits.limits()?;
            let p = parse_program(&program)?;
            let mut out = std::io::stdout().lock();
            emit(
                &mut out,
                dsl::python::script(&p, &limits).trim_end_matches('\n'),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        DslCommand::Sample {
            n,
            seed,
            max_len,
            dialect,
            limits,
        } => {
            let ev = Evaluator::new(limits.limits()?);
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            for i in 0..n {
                let p = dsl::sample::sample_program(
                    &mut dsl::sample::rng_for(seed, i),
                    max_len,
                    dialect,
                );
                let out = match ev.eval(&p) {
                    Ok(t) => dsl::format_terms(&t),
                    Err(e) => format!("error: {e}"),
                };
                if !emit(&mut stdout, &format!("{p}\n    {out}"))? {
                    return Ok(ExitCode::SUCCESS);
                }
            }
            flush_quietly(&mut stdout)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
