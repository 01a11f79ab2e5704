//! `report`: the solve curve over meta-iterations and the solutions found, for people.
//!
//! Reads `verify@1..=n` (n = `loop.iterations`) and the targets. Writes, into its artifact:
//! - `curve` (Parquet) and `curve.csv`: per iteration, the targets solved in it, the new ones, and
//!   the cumulative counts and rates, by both solve rules of DESIGN.md section 6 (all known terms,
//!   the headline, and the paper's terms 26..35), over all targets and over the searched ones;
//! - `figure.png`, `figure.svg`: the cumulative rates of both rules as the paper's Figure 2
//!   (`plot`), with enumeration as a flat line and the paper's reported points;
//! - `summary.md`: the table behind the figure, the scale of the run and its inputs' keys;
//! - `solutions` (Parquet) and `solutions.csv`: per solved target, the program shown (earliest
//!   iteration; in it, one that holds on all known terms, then a direct one, then the best rank),
//!   with its name, iteration, whether it came by hindsight and whether it holds on all known terms.
//!
//! Every figure is computed from the `solved` and `executions` tables of the verify artifacts
//! (the targets solved by [`crate::stages::verify::solved_ids`], as the verify manifest's
//! counters are).
//!
//! After each run that asks for it, the files are also copied to `exports/report/` beside the
//! config (see [`Report::export`]); there the figure and summary show every method (preset) with
//! a report in the store ([`methods`]).

pub mod methods;
pub mod plot;

use super::{Ctx, Export, Stage};
use crate::pipeline::config::Loaded;
use crate::pipeline::dag::Node;
use crate::stages::verify::{read_searched, read_solved, solved_ids, solved_ids_where, Solve};
use crate::tables::curve::Point;
use crate::tables::targets::read as read_targets;
use anyhow::{Context, Result};
use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt32Array};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::Arc;

pub struct Report;

/// Files of the artifact copied to `exports/report/`. The artifact's own figure and summary
/// (`figure.png`, `figure.svg`, `summary.md`: this run alone) are not: the export draws them
/// there with every method of the store ([`methods::write`]).
pub const EXPORTED: [&str; 2] = ["curve.csv", "solutions.csv"];

impl Stage for Report {
    fn name(&self) -> &'static str {
        "report"
    }
    fn version(&self) -> u32 {
        // 7: the curve counts what mutate@k solves
        7
    }
    fn iterated(&self, _: &Loaded) -> bool {
        false
    }
    fn params(&self, loaded: &Loaded, _: &Node) -> serde_json::Value {
        json!({"iterations": loaded.config.meta.iterations})
    }
    fn inputs(&self, loaded: &Loaded, _: &Node) -> Vec<Node> {
        let mut v = vec![Node::new("ingest", None)];
        v.extend((1..=loaded.config.meta.iterations).map(|k| Node::new("verify", Some(k))));
        v
    }
    fn run(&self, ctx: &mut Ctx) -> Result<()> {
        let n = ctx.loaded.config.meta.iterations;
        let targets = read_targets(ctx.input("ingest")?)?;
        let names: BTreeMap<String, String> = targets
            .iter()
            .map(|t| {
                (
                    format!("A{:06}", t.number),
                    t.name.clone().unwrap_or_default(),
                )
            })
            .collect();
        let total = targets.len();
        let mut curve = Curve::default();
        let mut first: BTreeMap<String, Solution> = BTreeMap::new();
        // cumulative sets: (solved by the paper's rule, solved on all known terms, searched)
        let mut paper: BTreeSet<String> = BTreeSet::new();
        let mut strict: BTreeSet<String> = BTreeSet::new();
        let mut searched: BTreeSet<String> = BTreeSet::new();
        // cumulative targets solved by programs of the search, by each rule
        let mut by_search: BTreeSet<String> = BTreeSet::new();
        let mut by_search_strict: BTreeSet<String> = BTreeSet::new();
        // cumulative targets solved by programs only mutate@k proposed, by each rule
        let mut by_mutate: BTreeSet<String> = BTreeSet::new();
        let mut by_mutate_strict: BTreeSet<String> = BTreeSet::new();
        let enumeration = ctx.loaded.config.verify.enumerate;
        // targets some program of the enumerator solves, by each rule (the same every iteration)
        let mut enumerated: BTreeSet<String> = BTreeSet::new();
        let mut enumerated_strict: BTreeSet<String> = BTreeSet::new();
        for k in 1..=n {
            let v = ctx.input(&format!("verify@{k}"))?;
            let solved = read_solved(v)?;
            let this_searched = read_searched(v)?;
            let by = |strict: bool| solved_ids_where(&solved, strict, |s| s.by_search);
            by_search.extend(by(false).into_iter().map(str::to_string));
            by_search_strict.extend(by(true).into_iter().map(str::to_string));
            let mutated = |strict: bool| {
                solved_ids_where(&solved, strict, |s| {
                    s.source == crate::stages::verify::SOURCE_MUTATE
                })
            };
            by_mutate.extend(mutated(false).into_iter().map(str::to_string));
            by_mutate_strict.extend(mutated(true).into_iter().map(str::to_string));
            // the enumerator's candidates are the same in every iteration
            let (beyond_enumeration, beyond_enumeration_all_terms) = if enumeration {
                let e = solved_ids_where(&solved, false, |s| s.by_enumerate);
                let e_strict = solved_ids_where(&solved, true, |s| s.by_enumerate);
                let beyond = |mine: &BTreeSet<String>, e: &BTreeSet<&str>| {
                    mine.iter().filter(|id| !e.contains(id.as_str())).count()
                };
                let figures = (
                    Some(beyond(&by_search, &e)),
                    Some(beyond(&by_search_strict, &e_strict)),
                );
                enumerated.extend(e.into_iter().map(str::to_string));
                enumerated_strict.extend(e_strict.into_iter().map(str::to_string));
                figures
            } else {
                (None, None)
            };
            let this = solved_ids(&solved, false);
            let this_strict = solved_ids(&solved, true);
            let new = this.iter().filter(|id| !paper.contains(**id)).count();
            let new_strict = this_strict
                .iter()
                .filter(|id| !strict.contains(**id))
                .count();
            for s in &solved {
                let f = first.entry(s.id.clone()).or_insert_with(|| Solution {
                    iteration: k,
                    iteration_all_terms: None,
                    solve: s.clone(),
                    program_all_terms: None,
                });
                if f.iteration == k && better(s, &f.solve) {
                    f.solve = s.clone();
                }
                if s.all_terms && f.iteration_all_terms.is_none_or(|i| i == k) {
                    f.iteration_all_terms = Some(k);
                    let replace = match &f.program_all_terms {
                        None => true,
                        Some(p) => better(s, p),
                    };
                    if replace {
                        f.program_all_terms = Some(s.clone());
                    }
                }
            }
            paper.extend(this.iter().map(|s| s.to_string()));
            strict.extend(this_strict.iter().map(|s| s.to_string()));
            let distinct_programs = this_searched.programs.len();
            searched.extend(this_searched.targets);
            let within =
                |set: &BTreeSet<String>| set.iter().filter(|id| searched.contains(*id)).count();
            curve.push(Row {
                iteration: k,
                targets: total,
                searched: searched.len(),
                solved: this.len(),
                solved_all_terms: this_strict.len(),
                new,
                new_all_terms: new_strict,
                cumulative: paper.len(),
                cumulative_all_terms: strict.len(),
                cumulative_searched: within(&paper),
                cumulative_searched_all_terms: within(&strict),
                search_solved: by_search.len(),
                search_solved_all_terms: by_search_strict.len(),
                beyond_enumeration,
                beyond_enumeration_all_terms,
                distinct_programs,
                mutate_solved: by_mutate.len(),
                mutate_solved_all_terms: by_mutate_strict.len(),
                mutate_beyond_enumeration: by_mutate
                    .iter()
                    .filter(|id| !enumerated.contains(*id))
                    .count(),
                mutate_beyond_enumeration_all_terms: by_mutate_strict
                    .iter()
                    .filter(|id| !enumerated_strict.contains(*id))
                    .count(),
            });
        }
        let last = curve.rows.last().cloned().unwrap_or_default();
        ctx.count("iterations", n);
        ctx.count("targets", total);
        ctx.count("searched", last.searched);
        ctx.count("solved", last.cumulative);
        ctx.count("solved_all_terms", last.cumulative_all_terms);
        ctx.count("solve_rate", last.rate(last.cumulative, false));
        ctx.count(
            "solve_rate_all_terms",
            last.rate(last.cumulative_all_terms, false),
        );
        ctx.count(
            "searched_solve_rate",
            last.rate(last.cumulative_searched, true),
        );
        ctx.count(
            "searched_solve_rate_all_terms",
            last.rate(last.cumulative_searched_all_terms, true),
        );
        ctx.count("search_solved", last.search_solved);
        ctx.count("mutate_solved", last.mutate_solved);
        ctx.count("mutate_solved_all_terms", last.mutate_solved_all_terms);
        ctx.count("mutate_beyond_enumeration", last.mutate_beyond_enumeration);
        ctx.count(
            "mutate_beyond_enumeration_all_terms",
            last.mutate_beyond_enumeration_all_terms,
        );
        ctx.count("search_solved_all_terms", last.search_solved_all_terms);
        ctx.count("beyond_enumeration", last.beyond_enumeration);
        ctx.count(
            "beyond_enumeration_all_terms",
            last.beyond_enumeration_all_terms,
        );
        let enumeration_counts = enumeration.then_some((enumerated.len(), enumerated_strict.len()));
        ctx.count("enumeration_solved", enumeration_counts.map(|e| e.0));
        ctx.count(
            "enumeration_solved_all_terms",
            enumeration_counts.map(|e| e.1),
        );
        match (last.beyond_enumeration, last.beyond_enumeration_all_terms) {
            (Some(p), Some(a)) => eprintln!(
                "report: the policy's search solved {} targets ({} on all known terms); {p} of them \
                 ({a} on all known terms) are not solved by enumeration",
                last.search_solved, last.search_solved_all_terms
            ),
            _ => eprintln!(
                "report: the policy's search solved {} targets ({} on all known terms); \
                 enumeration was not verified in this run (verify.enumerate = false)",
                last.search_solved, last.search_solved_all_terms
            ),
        }
        eprintln!(
            "report after {n} iterations: all known terms {} of {total} targets ({:.2}%), {} of {} searched ({:.2}%); \
             terms 26..35 (the paper's rule) {} ({:.2}%), {} of the searched ({:.2}%)",
            last.cumulative_all_terms,
            100.0 * last.rate(last.cumulative_all_terms, false),
            last.cumulative_searched_all_terms,
            last.searched,
            100.0 * last.rate(last.cumulative_searched_all_terms, true),
            last.cumulative,
            100.0 * last.rate(last.cumulative, false),
            last.cumulative_searched,
            100.0 * last.rate(last.cumulative_searched, true),
        );
        let solutions = solution_rows(&first, &names);
        std::fs::write(ctx.out.join("curve.csv"), curve.csv())?;
        std::fs::write(ctx.out.join("solutions.csv"), solutions_csv(&solutions))?;
        let this_run = methods::Method {
            label: "this run".into(),
            key: None,
            points: curve.points(),
            enumeration: enumeration_counts,
        };
        let keys: Vec<(String, String)> = ctx
            .inputs
            .iter()
            .map(|(node, a)| (node.clone(), a.manifest.key.clone()))
            .collect();
        methods::write(ctx.out, ctx.loaded, &[this_run], &keys)?;
        ctx.write_table("curve", &curve.batch()?)?;
        ctx.write_table("solutions", &solutions_batch(&solutions)?)
    }
    /// `curve.csv` and `solutions.csv` of this run, and the figure and summary drawn with every
    /// method that has a report in this store.
    fn export(&self, e: &Export) -> Result<()> {
        let dir = e.loaded.resolve(std::path::Path::new("exports/report"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for f in EXPORTED {
            let to = dir.join(f);
            crate::pipeline::store::write_file(&to, &std::fs::read(e.artifact.dir.join(f))?)?;
        }
        eprintln!("report exported to {}", dir.display());
        let methods = methods::find(e.config_file, e.config_required, e.overrides, e.store)?;
        methods::write(&dir, e.loaded, &methods, e.keys)?;
        let labels: Vec<&str> = methods.iter().map(|m| m.label.as_str()).collect();
        eprintln!(
            "report figure (exports/report/figure.png) shows: {}",
            labels.join("; ")
        );
        Ok(())
    }
}

/// Which of two solves of one target in one iteration the report shows: one that holds on all
/// known terms, then a direct one, then the better rank.
fn better(a: &Solve, b: &Solve) -> bool {
    (!a.all_terms, a.hindsight, a.rank) < (!b.all_terms, b.hindsight, b.rank)
}

/// The first solve of a target: the iteration and the best solve in it.
#[derive(Clone)]
struct Solution {
    iteration: u32,
    /// The first iteration with a solve that holds on all known terms.
    iteration_all_terms: Option<u32>,
    solve: Solve,
    /// The best solve of that iteration that holds on all known terms (the headline's program;
    /// the same as `solve` when the first solve already holds).
    program_all_terms: Option<Solve>,
}

/// One iteration of the solve curve. Rates are over all targets and over the targets searched
/// in iterations 1..=k, by both rules.
#[derive(Clone, Debug, Default)]
struct Row {
    iteration: u32,
    targets: usize,
    searched: usize,
    solved: usize,
    solved_all_terms: usize,
    new: usize,
    new_all_terms: usize,
    cumulative: usize,
    cumulative_all_terms: usize,
    cumulative_searched: usize,
    cumulative_searched_all_terms: usize,
    /// Targets solved (cumulative) by programs that `search` proposed, by each rule.
    search_solved: usize,
    search_solved_all_terms: usize,
    /// Of those, the targets that no program of `enumerate` solves by the same rule (None when
    /// the run did not verify the enumerator's candidates, `verify.enumerate = false`).
    beyond_enumeration: Option<usize>,
    beyond_enumeration_all_terms: Option<usize>,
    /// Distinct programs that `search@k` proposed.
    distinct_programs: usize,
    /// Targets solved (cumulative) by programs that only `mutate` proposed (source = mutate),
    /// by each rule, and those of them no program of `enumerate` solves by the same rule.
    mutate_solved: usize,
    mutate_solved_all_terms: usize,
    mutate_beyond_enumeration: usize,
    mutate_beyond_enumeration_all_terms: usize,
}

impl Row {
    fn rate(&self, n: usize, over_searched: bool) -> f64 {
        let d = if over_searched {
            self.searched
        } else {
            self.targets
        };
        n as f64 / d.max(1) as f64
    }
}

/// The columns of the curve, in order: (name, value of a row). Counts first, then the four rates.
const CURVE_COUNTS: [&str; 20] = [
    "iteration",
    "targets",
    "searched",
    "solved",
    "solved_all_terms",
    "new",
    "new_all_terms",
    "cumulative",
    "cumulative_all_terms",
    "cumulative_searched",
    "cumulative_searched_all_terms",
    "search_solved",
    "search_solved_all_terms",
    "beyond_enumeration",
    "beyond_enumeration_all_terms",
    "distinct_programs",
    "mutate_solved",
    "mutate_solved_all_terms",
    "mutate_beyond_enumeration",
    "mutate_beyond_enumeration_all_terms",
];
const CURVE_RATES: [&str; 4] = [
    "rate",
    "rate_all_terms",
    "searched_rate",
    "searched_rate_all_terms",
];

/// The solve curve, one row per iteration.
#[derive(Default)]
struct Curve {
    rows: Vec<Row>,
}

impl Curve {
    fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// The count columns of a row (None: not measured in this run).
    fn counts(r: &Row) -> [Option<u32>; 20] {
        let c = |v: usize| Some(v as u32);
        [
            Some(r.iteration),
            c(r.targets),
            c(r.searched),
            c(r.solved),
            c(r.solved_all_terms),
            c(r.new),
            c(r.new_all_terms),
            c(r.cumulative),
            c(r.cumulative_all_terms),
            c(r.cumulative_searched),
            c(r.cumulative_searched_all_terms),
            c(r.search_solved),
            c(r.search_solved_all_terms),
            r.beyond_enumeration.map(|v| v as u32),
            r.beyond_enumeration_all_terms.map(|v| v as u32),
            c(r.distinct_programs),
            c(r.mutate_solved),
            c(r.mutate_solved_all_terms),
            c(r.mutate_beyond_enumeration),
            c(r.mutate_beyond_enumeration_all_terms),
        ]
    }

    fn rates(r: &Row) -> [f64; 4] {
        [
            r.rate(r.cumulative, false),
            r.rate(r.cumulative_all_terms, false),
            r.rate(r.cumulative_searched, true),
            r.rate(r.cumulative_searched_all_terms, true),
        ]
    }

    fn csv(&self) -> String {
        let mut s = CURVE_COUNTS.join(",") + "," + &CURVE_RATES.join(",") + "\n";
        for r in &self.rows {
            let c: Vec<String> = Self::counts(r)
                .iter()
                .map(|x| x.map_or(String::new(), |v| v.to_string()))
                .collect();
            let f: Vec<String> = Self::rates(r).iter().map(|x| format!("{x:.6}")).collect();
            let _ = writeln!(s, "{},{}", c.join(","), f.join(","));
        }
        s
    }

    /// The rows as the curve table's points.
    fn points(&self) -> Vec<Point> {
        let u = |v: usize| v as u32;
        self.rows
            .iter()
            .map(|r| Point {
                iteration: r.iteration,
                targets: u(r.targets),
                searched: u(r.searched),
                cumulative: u(r.cumulative),
                cumulative_all_terms: u(r.cumulative_all_terms),
                search_solved: u(r.search_solved),
                search_solved_all_terms: u(r.search_solved_all_terms),
                beyond_enumeration: r.beyond_enumeration.map(u),
                beyond_enumeration_all_terms: r.beyond_enumeration_all_terms.map(u),
            })
            .collect()
    }

    fn batch(&self) -> Result<RecordBatch> {
        let mut cols: Vec<ArrayRef> = (0..CURVE_COUNTS.len())
            .map(|i| {
                Arc::new(UInt32Array::from_iter(
                    self.rows.iter().map(|r| Self::counts(r)[i]),
                )) as ArrayRef
            })
            .collect();
        cols.extend((0..CURVE_RATES.len()).map(|i| {
            Arc::new(Float64Array::from_iter_values(
                self.rows.iter().map(|r| Self::rates(r)[i]),
            )) as ArrayRef
        }));
        Ok(RecordBatch::try_new(
            Arc::new(crate::tables::curve::schema()),
            cols,
        )?)
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One row of the solutions table (and CSV).
struct SolutionRow<'a> {
    id: &'a str,
    name: &'a str,
    f: &'a Solution,
    /// The program as Python (`dsl::python::expression`).
    python: String,
    /// `search` (the policy proposed it for this target), `hindsight` (the policy proposed it for
    /// another target) or `enumeration`.
    found_by: &'static str,
}

fn found_by(s: &Solve) -> &'static str {
    if s.source == crate::stages::verify::SOURCE_ENUMERATE {
        "enumeration"
    } else if s.hindsight {
        "hindsight"
    } else {
        "search"
    }
}

fn solution_rows<'a>(
    first: &'a BTreeMap<String, Solution>,
    names: &'a BTreeMap<String, String>,
) -> Vec<SolutionRow<'a>> {
    first
        .iter()
        .map(|(id, f)| SolutionRow {
            id,
            name: names.get(id).map_or("", |n| n.as_str()),
            f,
            python: crate::dsl::Program::parse(&f.solve.program)
                .map(|p| crate::dsl::python::expression(&p))
                .unwrap_or_default(),
            found_by: found_by(&f.solve),
        })
        .collect()
}

fn solutions_csv(rows: &[SolutionRow]) -> String {
    let mut s = crate::tables::solutions::COLUMNS
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(",");
    s.push('\n');
    for r in rows {
        let f = r.f;
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.id,
            csv_field(r.name),
            f.iteration,
            f.iteration_all_terms
                .map_or(String::new(), |k| k.to_string()),
            csv_field(&f.solve.program),
            csv_field(&r.python),
            f.solve.searched_for,
            f.solve.rank,
            f.solve.hindsight,
            f.solve.source,
            r.found_by,
            f.solve.all_terms,
            f.solve.checked_terms,
            csv_field(
                f.program_all_terms
                    .as_ref()
                    .map_or("", |p| p.program.as_str())
            )
        );
    }
    s
}

fn solutions_batch(rows: &[SolutionRow]) -> Result<RecordBatch> {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.id))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.name))),
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| r.f.iteration),
        )),
        Arc::new(UInt32Array::from_iter(
            rows.iter().map(|r| r.f.iteration_all_terms),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.f.solve.program.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.python.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.f.solve.searched_for.as_str()),
        )),
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| r.f.solve.rank),
        )),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.f.solve.hindsight)),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.f.solve.source.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.found_by),
        )),
        Arc::new(BooleanArray::from_iter(
            rows.iter().map(|r| Some(r.f.solve.all_terms)),
        )),
        Arc::new(UInt32Array::from_iter_values(
            rows.iter().map(|r| r.f.solve.checked_terms),
        )),
        Arc::new(StringArray::from_iter(rows.iter().map(|r| {
            r.f.program_all_terms.as_ref().map(|p| p.program.as_str())
        }))),
    ];
    Ok(RecordBatch::try_new(
        Arc::new(crate::tables::solutions::schema()),
        cols,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;

    fn row(k: u32, searched: usize, cum: usize, cum_all: usize, cs: usize, csa: usize) -> Row {
        Row {
            iteration: k,
            targets: 200,
            searched,
            solved: cum,
            solved_all_terms: cum_all,
            new: 1,
            new_all_terms: 1,
            cumulative: cum,
            cumulative_all_terms: cum_all,
            cumulative_searched: cs,
            cumulative_searched_all_terms: csa,
            ..Row::default()
        }
    }

    #[test]
    fn curve_csv_and_table() {
        let mut c = Curve::default();
        c.push(Row {
            search_solved: 2,
            search_solved_all_terms: 1,
            beyond_enumeration: None,
            beyond_enumeration_all_terms: None,
            distinct_programs: 40,
            ..row(1, 100, 3, 2, 3, 1)
        });
        c.push(Row {
            search_solved: 4,
            search_solved_all_terms: 3,
            beyond_enumeration: Some(1),
            beyond_enumeration_all_terms: Some(0),
            distinct_programs: 30,
            mutate_solved: 3,
            mutate_solved_all_terms: 2,
            mutate_beyond_enumeration: 1,
            mutate_beyond_enumeration_all_terms: 1,
            ..row(2, 100, 5, 4, 4, 2)
        });
        assert_eq!(
            c.csv(),
            "iteration,targets,searched,solved,solved_all_terms,new,new_all_terms,cumulative,\
             cumulative_all_terms,cumulative_searched,cumulative_searched_all_terms,\
             search_solved,search_solved_all_terms,beyond_enumeration,beyond_enumeration_all_terms,\
             distinct_programs,mutate_solved,mutate_solved_all_terms,mutate_beyond_enumeration,\
             mutate_beyond_enumeration_all_terms,rate,rate_all_terms,searched_rate,\
             searched_rate_all_terms\n\
             1,200,100,3,2,1,1,3,2,3,1,2,1,,,40,0,0,0,0,0.015000,0.010000,0.030000,0.010000\n\
             2,200,100,5,4,1,1,5,4,4,2,4,3,1,0,30,3,2,1,1,0.025000,0.020000,0.040000,0.020000\n"
        );
        assert_eq!(csv_field("a, \"b\""), "\"a, \"\"b\"\"\"");
        let b = c.batch().unwrap();
        let names: Vec<String> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let expected: Vec<&str> = CURVE_COUNTS
            .iter()
            .chain(CURVE_RATES.iter())
            .copied()
            .collect();
        assert_eq!(names, expected, "the catalogue's columns are the CSV's");
        assert_eq!(b.num_columns(), CURVE_COUNTS.len() + CURVE_RATES.len());
        let beyond = b.column_by_name("beyond_enumeration").unwrap();
        assert_eq!(beyond.null_count(), 1, "not measured in iteration 1");
    }

    #[test]
    fn the_shown_solve_prefers_all_terms_then_direct_then_rank() {
        let solve = |all: bool, hind: bool, rank: u32| Solve {
            id: "A1".into(),
            program: "p".into(),
            searched_for: "A1".into(),
            rank,
            hindsight: hind,
            source: "search".into(),
            all_terms: all,
            checked_terms: 40,
            by_search: true,
            by_enumerate: false,
        };
        assert!(better(&solve(true, true, 9), &solve(false, false, 0)));
        assert!(better(&solve(true, false, 9), &solve(true, true, 0)));
        assert!(better(&solve(true, false, 1), &solve(true, false, 2)));
        assert!(!better(&solve(false, false, 0), &solve(true, true, 9)));
    }
}
