//! `seqsynth slurm`: the plan as Slurm batch scripts. One script per level of the plan's units
//! ([`super::plan::levels`]): a job array whose task i runs the level's i-th unit (a node, or one
//! shard of a sharded node, as `seqsynth run ... shard=i/N`), and a `submit.sh` that submits the
//! levels in order, each with `--dependency=afterok` on the arrays of the level before (and
//! `--kill-on-invalid-dep=yes`, so a failure cancels what depends on it). The node that merges
//! shards is a unit of the next level. Resources are settings: CPUs per task for every unit, and
//! a GPU request (`--gres`) for the train and search units only: with `--gres`, a level holding
//! both GPU and CPU units (search shards beside enumerate shards) is two arrays,
//! `level-NN-gpu.sbatch` and `level-NN-cpu.sbatch`, so that no CPU unit holds a GPU.

use super::plan::{levels, units, Plan, Unit};
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Resources and places of the jobs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The seqsynth binary the jobs run (a path every node sees).
    pub binary: PathBuf,
    /// The project directory (where `pipeline.toml` is), the jobs' working directory.
    pub workdir: PathBuf,
    /// Where the scripts and the jobs' logs go.
    pub dir: PathBuf,
    pub partition: Option<String>,
    pub cpus_per_task: u32,
    /// `--gres` for levels with a train or search unit (`gpu:1`); None: no GPU request.
    pub gpu_gres: Option<String>,
    pub time: Option<String>,
    pub mem: Option<String>,
}

/// Quotes a word for bash.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=./:@#,+%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// One job array: a level's units, or its GPU or CPU units when the level has both.
struct Array {
    /// `level-NN`, `level-NN-gpu` or `level-NN-cpu`: the script's and the logs' name.
    name: String,
    /// The shell variable its job id goes in.
    var: String,
    members: Vec<usize>,
    gpu: bool,
}

/// The arrays of each level, in level order.
fn arrays(levels: &[Vec<usize>], units: &[Unit], o: &Options) -> Vec<Vec<Array>> {
    levels
        .iter()
        .enumerate()
        .map(|(l, members)| {
            let (gpu, cpu): (Vec<usize>, Vec<usize>) = members
                .iter()
                .partition(|&&i| o.gpu_gres.is_some() && units[i].gpu);
            if gpu.is_empty() || cpu.is_empty() {
                return vec![Array {
                    name: format!("level-{l:02}"),
                    var: format!("j{l}"),
                    gpu: !gpu.is_empty(),
                    members: members.clone(),
                }];
            }
            [(gpu, "gpu"), (cpu, "cpu")]
                .into_iter()
                .map(|(members, kind)| Array {
                    name: format!("level-{l:02}-{kind}"),
                    var: format!("j{l}{kind}"),
                    gpu: kind == "gpu",
                    members,
                })
                .collect()
        })
        .collect()
}

/// The scripts: (file name, text), the levels' in order, then `submit.sh`.
pub fn scripts(plan: &Plan, o: &Options) -> Vec<(String, String)> {
    let units = units(plan);
    let levels = arrays(&levels(&units), &units, o);
    let mut out = Vec::new();
    for (l, arrays) in levels.iter().enumerate() {
        for a in arrays {
            out.push((format!("{}.sbatch", a.name), level_script(l, a, &units, o)));
        }
    }
    let mut submit = String::from(
        "#!/usr/bin/env bash\n# Submits the levels in order, each after the one before succeeded; prints the job ids.\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\n",
    );
    let id = |a: &Array| format!("${{{}%%;*}}", a.var);
    for (l, arrays) in levels.iter().enumerate() {
        for a in arrays {
            if l == 0 {
                let _ = writeln!(submit, "{}=$(sbatch --parsable {}.sbatch)", a.var, a.name);
            } else {
                let after: Vec<String> = levels[l - 1].iter().map(id).collect();
                let _ = writeln!(
                    submit,
                    "{}=$(sbatch --parsable --kill-on-invalid-dep=yes --dependency=afterok:{} {}.sbatch)",
                    a.var,
                    after.join(":"),
                    a.name
                );
            }
        }
    }
    let ids: Vec<String> = levels.iter().flatten().map(id).collect();
    let _ = writeln!(submit, "echo {}", ids.join(" "));
    out.push(("submit.sh".into(), submit));
    out
}

fn level_script(l: usize, a: &Array, units: &[Unit], o: &Options) -> String {
    let members = &a.members;
    let mut s = String::from("#!/usr/bin/env bash\n");
    let names: Vec<&str> = members.iter().map(|&i| units[i].name.as_str()).collect();
    let _ = writeln!(s, "# level {l}: {}", names.join(", "));
    let _ = writeln!(
        s,
        "#SBATCH --job-name=seqsynth-{}",
        &a.name["level-".len()..]
    );
    let _ = writeln!(s, "#SBATCH --array=0-{}", members.len() - 1);
    let _ = writeln!(s, "#SBATCH --cpus-per-task={}", o.cpus_per_task);
    let _ = writeln!(s, "#SBATCH --chdir={}", o.workdir.display());
    let _ = writeln!(
        s,
        "#SBATCH --output={}/logs/{}-%a.out",
        o.dir.display(),
        a.name
    );
    if let Some(p) = &o.partition {
        let _ = writeln!(s, "#SBATCH --partition={p}");
    }
    if let Some(t) = &o.time {
        let _ = writeln!(s, "#SBATCH --time={t}");
    }
    if let Some(m) = &o.mem {
        let _ = writeln!(s, "#SBATCH --mem={m}");
    }
    if let (Some(g), true) = (&o.gpu_gres, a.gpu) {
        let _ = writeln!(s, "#SBATCH --gres={g}");
    }
    s.push_str("set -euo pipefail\ncase \"$SLURM_ARRAY_TASK_ID\" in\n");
    for (t, &i) in members.iter().enumerate() {
        let args: Vec<String> = units[i].args.iter().map(|a| quote(a)).collect();
        let _ = writeln!(
            s,
            "  {t}) exec {} --quiet {} ;;  # {}",
            quote(&o.binary.display().to_string()),
            args.join(" "),
            units[i].name
        );
    }
    s.push_str("  *) echo \"no unit $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\nesac\n");
    s
}

/// `#SBATCH` lines are not shell: a path there cannot be quoted, and `%` in `--output` is a
/// Slurm pattern. Such paths are refused, as is a path that is not UTF-8 (the script would name
/// another path, with U+FFFD in place of the bad bytes).
fn check_directive_path(what: &str, p: &Path) -> Result<()> {
    let s = utf8_path(what, p)?;
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '%' || c == '"' || c == '\'')
    {
        anyhow::bail!(
            "{what} {s:?}: a path in an #SBATCH line may not hold spaces, control characters, \
             quotes or '%' (move the project or pass --dir)"
        );
    }
    Ok(())
}

/// The path as UTF-8, or an error: the scripts are text, and a lossy spelling names another path.
pub fn utf8_path<'a>(what: &str, p: &'a Path) -> Result<&'a str> {
    p.to_str().with_context(|| {
        format!(
            "{what} {}: the path is not UTF-8, so a script cannot name it (rename it)",
            p.display()
        )
    })
}

/// What each option of an `#SBATCH` line may hold (Slurm's own syntax, nothing else): a value
/// ends its line, so a newline or any control character in it would start a shell command.
fn check_option(flag: &str, value: &str) -> Result<()> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let name = |s: &str| {
        !s.is_empty()
            && !s.starts_with('-')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    };
    let (ok, syntax) = match flag {
        // a partition or a comma-separated list of them
        "--partition" => (
            value.split(',').all(name),
            "partition names (letters, digits, '_', '.', '-'), separated by commas",
        ),
        // minutes, minutes:seconds, hours:minutes:seconds, days-hours[:minutes[:seconds]], or
        // UNLIMITED / INFINITE
        "--time" => {
            let special = ["unlimited", "infinite"].contains(&value.to_ascii_lowercase().as_str());
            let (days, clock) = match value.split_once('-') {
                Some((d, c)) => (Some(d), c),
                None => (None, value),
            };
            let parts: Vec<&str> = clock.split(':').collect();
            let clock_ok = parts.iter().all(|p| digits(p))
                && match days {
                    Some(d) => digits(d) && parts.len() <= 3,
                    None => parts.len() <= 3,
                };
            (
                special || clock_ok,
                "MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or UNLIMITED",
            )
        }
        // a size with an optional unit: 4096, 16G, 500M
        "--mem" => {
            let num = value.trim_end_matches(|c: char| "KMGTkmgt".contains(c));
            (
                digits(num) && value.len() - num.len() <= 1,
                "a size such as 4096, 500M or 16G",
            )
        }
        // name[:type][:count], comma-separated: gpu:1, gpu:a100:2
        "--gres" => (
            value.split(',').all(|g| {
                let mut it = g.split(':');
                let first = it.next().unwrap_or("");
                let first_ok = first.strip_prefix("gres/").map_or(name(first), name);
                first_ok && it.all(&name) && g.split(':').count() <= 3
            }),
            "name[:type][:count] items separated by commas, such as gpu:1 or gpu:a100:2",
        ),
        _ => (false, "a known option"),
    };
    if !ok {
        anyhow::bail!("{flag} {value:?}: not valid Slurm syntax (expected {syntax})");
    }
    Ok(())
}

impl Options {
    /// Refuses any value that would not be one `#SBATCH` directive of Slurm's own syntax, and
    /// any path that a script cannot name exactly.
    pub fn check(&self) -> Result<()> {
        check_directive_path("the working directory", &self.workdir)?;
        check_directive_path("--dir", &self.dir)?;
        utf8_path("--binary", &self.binary)?;
        for (flag, v) in [
            ("--partition", &self.partition),
            ("--time", &self.time),
            ("--mem", &self.mem),
            ("--gres", &self.gpu_gres),
        ] {
            if let Some(v) = v {
                check_option(flag, v)?;
            }
        }
        if self.cpus_per_task == 0 {
            anyhow::bail!("--cpus-per-task 0: a task needs at least one CPU");
        }
        Ok(())
    }
}

/// Writes the scripts into `o.dir` (and its `logs/`); returns their paths.
pub fn write(plan: &Plan, o: &Options) -> Result<Vec<PathBuf>> {
    o.check()?;
    std::fs::create_dir_all(o.dir.join("logs"))
        .with_context(|| format!("creating {}", o.dir.display()))?;
    // the scripts of an earlier plan written here would only mislead: remove them (ours only)
    for e in std::fs::read_dir(&o.dir).with_context(|| format!("reading {}", o.dir.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("level-") && name.ends_with(".sbatch") {
            std::fs::remove_file(e.path())
                .with_context(|| format!("removing {}", e.path().display()))?;
        }
    }
    let mut paths = Vec::new();
    for (name, text) in scripts(plan, o) {
        let p = o.dir.join(&name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))?;
        }
        paths.push(p);
    }
    Ok(paths)
}

/// Runs `submit.sh` in `dir`; returns the job ids, one per array.
pub fn submit(dir: &Path) -> Result<Vec<String>> {
    let out = std::process::Command::new("bash")
        .arg(dir.join("submit.sh"))
        .output()
        .context("running submit.sh (is sbatch on the PATH?)")?;
    if !out.status.success() {
        anyhow::bail!(
            "submitting to Slurm failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributed::plan::{PlanNode, PlanShard};

    #[test]
    fn scripts_are_job_arrays_chained_by_afterok() {
        let n = |name: &str, inputs: &[&str], shards: usize, gpu: bool| PlanNode {
            node: name.into(),
            stage: name.split('@').next().unwrap().into(),
            iter: None,
            shard: None,
            key: None,
            state: "to_run",
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            gpu,
            shards: (0..shards)
                .map(|i| PlanShard {
                    node: format!("{name}#{i}/{shards}"),
                    args: vec!["run".into(), format!("shard={i}/{shards}")],
                })
                .collect(),
            args: vec!["run".into(), format!("stage={name}"), "x=a b".into()],
        };
        let plan = Plan {
            store: "data".into(),
            shards: 2,
            nodes: vec![
                n("ingest", &[], 0, false),
                n("search@1", &["ingest"], 2, true),
            ],
        };
        let o = Options {
            binary: "/opt/seqsynth".into(),
            workdir: "/proj".into(),
            dir: "/proj/exports/slurm".into(),
            partition: Some("gpu".into()),
            cpus_per_task: 4,
            gpu_gres: Some("gpu:1".into()),
            time: None,
            mem: None,
        };
        let s = scripts(&plan, &o);
        let names: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "level-00.sbatch",
                "level-01.sbatch",
                "level-02.sbatch",
                "submit.sh"
            ]
        );
        assert!(s[0].1.contains("#SBATCH --array=0-0") && !s[0].1.contains("--gres"));
        assert!(s[1].1.contains("#SBATCH --array=0-1") && s[1].1.contains("#SBATCH --gres=gpu:1"));
        assert!(s[1]
            .1
            .contains("1) exec /opt/seqsynth --quiet run shard=1/2 ;;"));
        assert!(s[2].1.contains("'x=a b'"), "{}", s[2].1);
        assert!(s[3]
            .1
            .contains("--dependency=afterok:${j1%%;*} level-02.sbatch"));
        assert_eq!(quote("it's"), "'it'\\''s'");

        // a level with GPU and CPU units is two arrays, the GPU only on the GPU one; the next
        // level waits for both
        let mixed = Plan {
            nodes: vec![
                n("ingest", &[], 0, false),
                n("search@1", &["ingest"], 2, true),
                n("enumerate", &["ingest"], 2, false),
                n("verify@1", &["search@1", "enumerate"], 0, false),
            ],
            ..plan.clone()
        };
        let s = scripts(&mixed, &o);
        let names: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "level-00.sbatch",
                "level-01-gpu.sbatch",
                "level-01-cpu.sbatch",
                "level-02.sbatch",
                "level-03.sbatch",
                "submit.sh"
            ]
        );
        let (gpu, cpu) = (&s[1].1, &s[2].1);
        assert!(
            gpu.contains("# level 1: search@1#0/2, search@1#1/2"),
            "{gpu}"
        );
        assert!(gpu.contains("#SBATCH --gres=gpu:1") && gpu.contains("level-01-gpu-%a.out"));
        assert!(gpu.contains("--job-name=seqsynth-01-gpu") && cpu.contains("seqsynth-01-cpu"));
        assert!(
            cpu.contains("# level 1: enumerate#0/2, enumerate#1/2"),
            "{cpu}"
        );
        assert!(!cpu.contains("--gres") && cpu.contains("#SBATCH --array=0-1"));
        let submit = &s[5].1;
        assert!(
            submit.contains("j1gpu=$(sbatch --parsable --kill-on-invalid-dep=yes --dependency=afterok:${j0%%;*} level-01-gpu.sbatch)"),
            "{submit}"
        );
        assert!(
            submit.contains("j2=$(sbatch --parsable --kill-on-invalid-dep=yes --dependency=afterok:${j1gpu%%;*}:${j1cpu%%;*} level-02.sbatch)"),
            "{submit}"
        );
        assert!(submit.contains("echo ${j0%%;*} ${j1gpu%%;*} ${j1cpu%%;*} ${j2%%;*} ${j3%%;*}"));
        // without --gres nothing asks for a GPU, and a level is one array
        let plain = scripts(
            &mixed,
            &Options {
                gpu_gres: None,
                ..o.clone()
            },
        );
        assert_eq!(plain.len(), 5);
        assert!(plain.iter().all(|(_, t)| !t.contains("--gres")));
        let bad = Options {
            dir: "/my proj/slurm".into(),
            ..o.clone()
        };
        // scripts of an earlier plan are removed, nothing else
        let dir = tempfile::tempdir().unwrap();
        for f in ["level-07-cpu.sbatch", "notes.txt"] {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let here = Options {
            dir: dir.path().to_path_buf(),
            ..o.clone()
        };
        let written = write(&plan, &here).unwrap();
        assert_eq!(written.len(), 4);
        assert!(!dir.path().join("level-07-cpu.sbatch").exists());
        assert!(
            dir.path().join("notes.txt").exists() && dir.path().join("level-02.sbatch").exists()
        );
        let e = write(&plan, &bad).unwrap_err().to_string();
        assert!(e.contains("may not hold spaces"), "{e}");
    }

    fn options(dir: &Path) -> Options {
        Options {
            binary: "/opt/seqsynth".into(),
            workdir: "/proj".into(),
            dir: dir.to_path_buf(),
            partition: None,
            cpus_per_task: 2,
            gpu_gres: None,
            time: None,
            mem: None,
        }
    }

    #[test]
    fn options_outside_slurm_syntax_are_refused_and_nothing_is_written() {
        let plan = Plan {
            store: "data".into(),
            shards: 1,
            nodes: vec![PlanNode {
                node: "ingest".into(),
                stage: "ingest".into(),
                iter: None,
                shard: None,
                key: None,
                state: "to_run",
                inputs: vec![],
                gpu: false,
                shards: vec![],
                args: vec!["run".into(), "stage=ingest".into()],
            }],
        };
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("slurm");
        let o = options(&at);
        let bad: [(&str, Options); 9] = [
            (
                "--partition",
                Options {
                    partition: Some("gpu\ntouch PWNED".into()),
                    ..o.clone()
                },
            ),
            (
                "--partition",
                Options {
                    partition: Some("gpu;touch x".into()),
                    ..o.clone()
                },
            ),
            (
                "--time",
                Options {
                    time: Some("1:00:00\nrm -rf ~".into()),
                    ..o.clone()
                },
            ),
            (
                "--time",
                Options {
                    time: Some("$(id)".into()),
                    ..o.clone()
                },
            ),
            (
                "--mem",
                Options {
                    mem: Some("4G\rtouch x".into()),
                    ..o.clone()
                },
            ),
            (
                "--mem",
                Options {
                    mem: Some("4 G".into()),
                    ..o.clone()
                },
            ),
            (
                "--gres",
                Options {
                    gpu_gres: Some("gpu:1\ntouch x".into()),
                    ..o.clone()
                },
            ),
            (
                "--gres",
                Options {
                    gpu_gres: Some("gpu:`id`".into()),
                    ..o.clone()
                },
            ),
            (
                "--dir",
                Options {
                    dir: at.join("a\tb"),
                    ..o.clone()
                },
            ),
        ];
        for (flag, opts) in bad {
            let e = write(&plan, &opts).unwrap_err().to_string();
            assert!(e.contains(flag), "{flag}: {e}");
            assert!(
                !at.exists(),
                "{flag}: nothing may be written before the check"
            );
        }
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let raw = std::ffi::OsStr::from_bytes(b"/tmp/st\xffore");
            let e = write(
                &plan,
                &Options {
                    dir: raw.into(),
                    ..o.clone()
                },
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("not UTF-8"), "{e}");
            let e = write(
                &plan,
                &Options {
                    binary: raw.into(),
                    ..o.clone()
                },
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains("--binary") && e.contains("not UTF-8"), "{e}");
        }
        // Slurm's own spellings pass
        let good = Options {
            partition: Some("gpu,debug-2".into()),
            time: Some("1-12:30:00".into()),
            mem: Some("16G".into()),
            gpu_gres: Some("gpu:a100:2".into()),
            ..o.clone()
        };
        let written = write(&plan, &good).unwrap();
        let text = std::fs::read_to_string(&written[0]).unwrap();
        assert!(text.contains("#SBATCH --partition=gpu,debug-2\n"), "{text}");
        assert!(text.contains("#SBATCH --time=1-12:30:00\n"), "{text}");
        for t in ["30", "30:00", "2:30:00", "3-0", "UNLIMITED"] {
            check_option("--time", t).unwrap();
        }
        for m in ["4096", "500M", "0"] {
            check_option("--mem", m).unwrap();
        }
        for g in ["gpu", "gpu:1", "gres/gpu:1", "gpu:1,mps:100"] {
            check_option("--gres", g).unwrap();
        }
        for t in ["1:2:3:4", "-5", "1-", "x"] {
            assert!(check_option("--time", t).is_err(), "{t}");
        }
    }
}
