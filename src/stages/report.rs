//! `report`: the solve curve over meta-iterations and the solutions found, for people.
//!
//! Reads `verify@1..=n` (n = `loop.iterations`) and the targets. Writes, into its artifact:
//! - `curve` (Parquet) and `curve.csv`: per iteration, the targets solved in it, the new ones, and
//!   the cumulative count and rate (the paper's headline number is the rate after 20);
//! - `curve.svg`: that curve as a plot;
//! - `solutions` (Parquet) and `solutions.csv`: per solved target, the first program found (best
//!   rank in the earliest iteration), with its name, iteration and whether it came by hindsight.
//!
//! After each run that asks for it, the files are also copied to `exports/report/` beside the
//! config (see [`Report::export`]).

use super::{Ctx, Stage};
use crate::pipeline::config::Loaded;
use crate::pipeline::dag::Node;
use crate::pipeline::store::Artifact;
use crate::stages::ingest::read_targets;
use crate::stages::verify::{read_solved, Solve};
use anyhow::{Context, Result};
use arrow_array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Field, Schema};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::Arc;

pub struct Report;

/// Files of the artifact copied to `exports/report/`.
pub const EXPORTED: [&str; 3] = ["curve.csv", "curve.svg", "solutions.csv"];

impl Stage for Report {
    fn name(&self) -> &'static str {
        "report"
    }
    fn version(&self) -> u32 {
        2
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
        for k in 1..=n {
            let v = ctx.input(&format!("verify@{k}"))?;
            let solved = read_solved(v)?;
            let this: BTreeSet<&str> = solved.iter().map(|s| s.id.as_str()).collect();
            let new = this.iter().filter(|id| !first.contains_key(**id)).count();
            for s in &solved {
                let better = match first.get(&s.id) {
                    None => true,
                    Some(f) => f.iteration == k && s.rank < f.solve.rank,
                };
                if better {
                    let solve = s.clone();
                    first.insert(
                        s.id.clone(),
                        Solution {
                            iteration: k,
                            solve,
                        },
                    );
                }
            }
            let searched = v
                .manifest
                .counters
                .get("targets_searched")
                .and_then(|x| x.as_u64());
            curve.push(
                k,
                total,
                searched.unwrap_or(0),
                this.len(),
                new,
                first.len(),
            );
        }
        ctx.count("iterations", n);
        ctx.count("targets", total);
        ctx.count("solved", first.len());
        ctx.count("solve_rate", first.len() as f64 / total.max(1) as f64);
        eprintln!(
            "report: {} of {total} targets solved after {n} iterations ({:.2}%)",
            first.len(),
            100.0 * first.len() as f64 / total.max(1) as f64
        );
        std::fs::write(ctx.out.join("curve.csv"), curve.csv())?;
        std::fs::write(ctx.out.join("curve.svg"), curve.svg())?;
        std::fs::write(ctx.out.join("solutions.csv"), solutions_csv(&first, &names))?;
        ctx.write_table("curve", &curve.batch()?)?;
        ctx.write_table("solutions", &solutions_batch(&first, &names)?)
    }
    fn export(&self, loaded: &Loaded, artifact: &Artifact) -> Result<()> {
        let dir = loaded.resolve(std::path::Path::new("exports/report"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for f in EXPORTED {
            let to = dir.join(f);
            crate::pipeline::store::write_file(&to, &std::fs::read(artifact.dir.join(f))?)?;
        }
        eprintln!("report exported to {}", dir.display());
        Ok(())
    }
}

/// The first solve of a target: the iteration and the best-ranked solve in it.
#[derive(Clone)]
struct Solution {
    iteration: u32,
    solve: Solve,
}

/// The solve curve, one row per iteration.
#[derive(Default)]
struct Curve {
    iteration: Vec<u32>,
    targets: Vec<u32>,
    searched: Vec<u32>,
    solved: Vec<u32>,
    new: Vec<u32>,
    cumulative: Vec<u32>,
    rate: Vec<f64>,
}

impl Curve {
    fn push(
        &mut self,
        k: u32,
        targets: usize,
        searched: u64,
        solved: usize,
        new: usize,
        cumulative: usize,
    ) {
        self.iteration.push(k);
        self.targets.push(targets as u32);
        self.searched.push(searched as u32);
        self.solved.push(solved as u32);
        self.new.push(new as u32);
        self.cumulative.push(cumulative as u32);
        self.rate.push(cumulative as f64 / targets.max(1) as f64);
    }

    fn csv(&self) -> String {
        let mut s =
            String::from("iteration,targets,searched,solved,new,cumulative,cumulative_rate\n");
        for i in 0..self.iteration.len() {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{:.6}",
                self.iteration[i],
                self.targets[i],
                self.searched[i],
                self.solved[i],
                self.new[i],
                self.cumulative[i],
                self.rate[i]
            );
        }
        s
    }

    /// A self-contained SVG line plot of the cumulative solve rate (percent) per iteration.
    fn svg(&self) -> String {
        let (w, h, left, bottom, top, right) = (640.0, 400.0, 60.0, 50.0, 30.0, 20.0);
        let pw = w - left - right;
        let ph = h - top - bottom;
        let n = self.iteration.len().max(1) as f64;
        let ymax = self
            .rate
            .iter()
            .fold(0.0f64, |a, &r| a.max(r * 100.0))
            .max(1.0);
        let ymax = nice_ceiling(ymax);
        let x = |i: usize| {
            left + if n > 1.0 {
                pw * i as f64 / (n - 1.0)
            } else {
                pw / 2.0
            }
        };
        let y = |pct: f64| top + ph * (1.0 - pct / ymax);
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="18" text-anchor="middle" font-size="14">Targets solved (cumulative %) per meta-iteration</text>"#,
            w / 2.0
        );
        // enough decimals that the quarter ticks of a small axis stay distinct
        let decimals = if ymax <= 2.0 {
            2
        } else if ymax <= 20.0 {
            1
        } else {
            0
        };
        for t in 0..=4 {
            let v = ymax * t as f64 / 4.0;
            let yy = y(v);
            let _ = writeln!(
                s,
                "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v:.decimals$}</text>",
                left + pw,
                left - 6.0,
                yy + 4.0
            );
        }
        for (i, k) in self.iteration.iter().enumerate() {
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{k}</text>"#,
                x(i),
                top + ph + 18.0
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">meta-iteration</text>"#,
            left + pw / 2.0,
            h - 8.0
        );
        let points: Vec<String> = self
            .rate
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{:.1},{:.1}", x(i), y(r * 100.0)))
            .collect();
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"{}\"/>",
            points.join(" ")
        );
        for p in &points {
            let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                s,
                "<circle cx=\"{px}\" cy=\"{py}\" r=\"3\" fill=\"#1f77b4\"/>"
            );
        }
        s.push_str("</svg>\n");
        s
    }

    fn batch(&self) -> Result<RecordBatch> {
        let schema = Schema::new(vec![
            Field::new("iteration", DataType::UInt32, false),
            Field::new("targets", DataType::UInt32, false),
            Field::new("searched", DataType::UInt32, false),
            Field::new("solved", DataType::UInt32, false),
            Field::new("new", DataType::UInt32, false),
            Field::new("cumulative", DataType::UInt32, false),
            Field::new("cumulative_rate", DataType::Float64, false),
        ]);
        let cols: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(self.iteration.clone())),
            Arc::new(UInt32Array::from(self.targets.clone())),
            Arc::new(UInt32Array::from(self.searched.clone())),
            Arc::new(UInt32Array::from(self.solved.clone())),
            Arc::new(UInt32Array::from(self.new.clone())),
            Arc::new(UInt32Array::from(self.cumulative.clone())),
            Arc::new(Float64Array::from(self.rate.clone())),
        ];
        Ok(RecordBatch::try_new(Arc::new(schema), cols)?)
    }
}

/// The smallest of 1, 2, 5 × 10^n at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn solutions_csv(first: &BTreeMap<String, Solution>, names: &BTreeMap<String, String>) -> String {
    let mut s = String::from("id,name,iteration,program,searched_for,rank,hindsight\n");
    for (id, f) in first {
        let _ = writeln!(
            s,
            "{id},{},{},{},{},{},{}",
            csv_field(names.get(id).map_or("", |n| n.as_str())),
            f.iteration,
            csv_field(&f.solve.program),
            f.solve.searched_for,
            f.solve.rank,
            f.solve.hindsight
        );
    }
    s
}

fn solutions_batch(
    first: &BTreeMap<String, Solution>,
    names: &BTreeMap<String, String>,
) -> Result<RecordBatch> {
    let schema = Schema::new(vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("iteration", DataType::UInt32, false),
        Field::new("program", DataType::Utf8, false),
        Field::new("searched_for", DataType::Utf8, false),
        Field::new("rank", DataType::UInt32, false),
        Field::new("hindsight", DataType::Boolean, false),
    ]);
    let v: Vec<(&String, &Solution)> = first.iter().collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            v.iter().map(|(id, _)| id.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            v.iter()
                .map(|(id, _)| names.get(*id).map_or("", |n| n.as_str())),
        )),
        Arc::new(UInt32Array::from_iter_values(
            v.iter().map(|(_, f)| f.iteration),
        )),
        Arc::new(StringArray::from_iter_values(
            v.iter().map(|(_, f)| f.solve.program.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            v.iter().map(|(_, f)| f.solve.searched_for.as_str()),
        )),
        Arc::new(UInt32Array::from_iter_values(
            v.iter().map(|(_, f)| f.solve.rank),
        )),
        Arc::new(BooleanArray::from_iter(
            v.iter().map(|(_, f)| Some(f.solve.hindsight)),
        )),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), cols)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_csv_and_svg() {
        let mut c = Curve::default();
        c.push(1, 200, 100, 3, 3, 3);
        c.push(2, 200, 100, 4, 2, 5);
        assert_eq!(
            c.csv(),
            "iteration,targets,searched,solved,new,cumulative,cumulative_rate\n\
             1,200,100,3,3,3,0.015000\n2,200,100,4,2,5,0.025000\n"
        );
        let svg = c.svg();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert_eq!(nice_ceiling(2.5), 5.0);
        assert_eq!(nice_ceiling(11.5), 20.0);
        assert_eq!(csv_field("a, \"b\""), "\"a, \"\"b\"\"\"");
    }
}
