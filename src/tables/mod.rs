//! The catalogue of artifact tables: every Parquet table a stage writes, with its columns, the
//! node and file it lives in, and the name SQL knows it by (`seqsynth query`).
//!
//! One module per table holds its column list (the single definition of its schema), and the
//! readers and writers the stages share. The Arrow schema the stages write, the Polars schema the
//! query engine registers (for a table no artifact holds yet) and the column lists of
//! docs/schemas.md are all derived from the same [`Col`] lists (tested).

pub mod candidates;
pub mod curve;
pub mod draws;
pub mod entries;
pub mod executions;
pub mod io;
pub mod levels;
pub mod matches;
pub mod outcomes;
pub mod pairs;
pub mod programs;
pub mod solutions;
pub mod solved;
pub mod targets;

use arrow_schema::{DataType, Field, Schema};
use std::sync::Arc;

/// A column type, as written to Parquet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Utf8,
    U32,
    U64,
    I64,
    F64,
    Bool,
    /// `list<utf8>`: terms, tokens, keywords.
    Utf8List,
}

/// One column of a table.
#[derive(Clone, Copy, Debug)]
pub struct Col {
    pub name: &'static str,
    pub ty: Ty,
    pub nullable: bool,
}

/// A non-null column.
pub const fn col(name: &'static str, ty: Ty) -> Col {
    Col {
        name,
        ty,
        nullable: false,
    }
}

/// A nullable column.
pub const fn nullable(name: &'static str, ty: Ty) -> Col {
    Col {
        name,
        ty,
        nullable: true,
    }
}

impl Ty {
    pub fn arrow(self) -> DataType {
        match self {
            Ty::Utf8 => DataType::Utf8,
            Ty::U32 => DataType::UInt32,
            Ty::U64 => DataType::UInt64,
            Ty::I64 => DataType::Int64,
            Ty::F64 => DataType::Float64,
            Ty::Bool => DataType::Boolean,
            Ty::Utf8List => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        }
    }

    /// The type as SQL (Polars) sees it.
    pub fn polars(self) -> polars::prelude::DataType {
        use polars::prelude::DataType as P;
        match self {
            Ty::Utf8 => P::String,
            Ty::U32 => P::UInt32,
            Ty::U64 => P::UInt64,
            Ty::I64 => P::Int64,
            Ty::F64 => P::Float64,
            Ty::Bool => P::Boolean,
            Ty::Utf8List => P::List(Box::new(P::String)),
        }
    }

    /// The name docs/schemas.md uses.
    pub fn doc_name(self) -> &'static str {
        match self {
            Ty::Utf8 => "utf8",
            Ty::U32 => "uint32",
            Ty::U64 => "uint64",
            Ty::I64 => "int64",
            Ty::F64 => "float64",
            Ty::Bool => "bool",
            Ty::Utf8List => "list<utf8>",
        }
    }
}

/// The Arrow schema of a column list.
pub fn arrow_schema(cols: &[Col]) -> Schema {
    Schema::new(
        cols.iter()
            .map(|c| Field::new(c.name, c.ty.arrow(), c.nullable))
            .collect::<Vec<_>>(),
    )
}

/// Where a SQL table's rows come from: table `file` of every artifact of `stage`, with constant
/// columns added in front (`iteration`, `split`, `source`) that tell the parts apart.
#[derive(Clone, Copy, Debug)]
pub struct Part {
    pub stage: &'static str,
    /// The artifact's table (`train` → `train-00000.parquet`).
    pub file: &'static str,
    /// A constant column for this part: (name, value).
    pub tag: Option<(&'static str, &'static str)>,
}

/// A table as SQL sees it.
#[derive(Clone, Copy, Debug)]
pub struct TableDef {
    /// The SQL name.
    pub name: &'static str,
    /// What one row is.
    pub about: &'static str,
    pub parts: &'static [Part],
    /// The columns of the Parquet files (before the added ones).
    pub columns: &'static [Col],
}

impl TableDef {
    /// Whether rows carry an `iteration` column: the stage has one node per meta-iteration (the
    /// column is null for parts of a stage that has one node for all).
    pub fn iterated(&self) -> bool {
        self.parts
            .iter()
            .any(|p| ITERATED_STAGES.contains(&p.stage))
    }

    /// The names of the constant columns its parts add (`split`, `source`).
    pub fn tags(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = Vec::new();
        for p in self.parts {
            if let Some((name, _)) = p.tag {
                if !v.contains(&name) {
                    v.push(name);
                }
            }
        }
        v
    }
}

/// Stages with one node per meta-iteration.
pub const ITERATED_STAGES: [&str; 5] = ["search", "verify", "buffer", "sample", "train"];

const fn part(stage: &'static str, file: &'static str) -> Part {
    Part {
        stage,
        file,
        tag: None,
    }
}

const fn tagged(
    stage: &'static str,
    file: &'static str,
    name: &'static str,
    value: &'static str,
) -> Part {
    Part {
        stage,
        file,
        tag: Some((name, value)),
    }
}

/// Every table `seqsynth query` registers (besides `runs`, built from the manifests).
pub const CATALOGUE: [TableDef; 11] = [
    TableDef {
        name: "targets",
        about: "one target sequence (ingest)",
        parts: &[part("ingest", "targets")],
        columns: targets::COLUMNS,
    },
    TableDef {
        name: "pairs",
        about: "one synthetic (sequence, program) pair (synth), split = train or validation",
        parts: &[
            tagged("synth", "train", "split", "train"),
            tagged("synth", "validation", "split", "validation"),
        ],
        columns: pairs::COLUMNS,
    },
    TableDef {
        name: "candidates",
        about: "one program proposed for a target: by search@k (source = search, iteration = k), \
                by mutate@k (source = mutate) or by the enumerator (source = enumerate, \
                iteration null)",
        parts: &[
            tagged("search", "candidates", "source", "search"),
            tagged("mutate", "candidates", "source", "mutate"),
            tagged("enumerate", "candidates", "source", "enumerate"),
        ],
        columns: candidates::COLUMNS,
    },
    TableDef {
        name: "executions",
        about: "one candidate run by verify@k",
        parts: &[part("verify", "executions")],
        columns: executions::COLUMNS,
    },
    TableDef {
        name: "solved",
        about:
            "one (target, program) solve of verify@k (the paper's rule; all_terms tells the other)",
        parts: &[part("verify", "solved")],
        columns: solved::COLUMNS,
    },
    TableDef {
        name: "buffer",
        about: "one program of the buffer after iteration k, with its priority",
        parts: &[part("buffer", "programs")],
        columns: programs::COLUMNS,
    },
    TableDef {
        name: "entries",
        about: "one (program, target) entry of the buffer after iteration k",
        parts: &[part("buffer", "entries")],
        columns: entries::COLUMNS,
    },
    TableDef {
        name: "samples",
        about: "one training pair drawn from the buffer for iteration k (sample@k)",
        parts: &[part("sample", "train")],
        columns: pairs::COLUMNS,
    },
    TableDef {
        name: "levels",
        about: "one size level of the bottom-up enumerator",
        parts: &[part("enumerate", "levels")],
        columns: levels::COLUMNS,
    },
    TableDef {
        name: "curve",
        about: "one meta-iteration of the solve curve (report)",
        parts: &[part("report", "curve")],
        columns: curve::COLUMNS,
    },
    TableDef {
        name: "solutions",
        about: "one solved target with the program shown for it (report)",
        parts: &[part("report", "solutions")],
        columns: solutions::COLUMNS,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<&str> = CATALOGUE.iter().map(|d| d.name).collect();
        names.push("runs");
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        for d in &CATALOGUE {
            assert!(!d.parts.is_empty() && !d.columns.is_empty(), "{}", d.name);
        }
        assert!(CATALOGUE.iter().find(|d| d.name == "pairs").unwrap().tags() == ["split"]);
        assert!(CATALOGUE
            .iter()
            .find(|d| d.name == "solved")
            .unwrap()
            .iterated());
        assert!(!CATALOGUE
            .iter()
            .find(|d| d.name == "targets")
            .unwrap()
            .iterated());
    }

    #[test]
    fn docs_list_every_column_as_sql_sees_it() {
        let doc = include_str!("../../docs/schemas.md");
        let sql = doc
            .split("## SQL: `seqsynth query`")
            .nth(1)
            .expect("docs/schemas.md has the SQL section");
        for d in &CATALOGUE {
            let head = format!("### `{}`", d.name);
            let section = sql
                .split(&head)
                .nth(1)
                .unwrap_or_else(|| panic!("docs/schemas.md: no section {head}"));
            let section = section.split("\n### ").next().unwrap();
            for c in d.columns {
                let row = format!("| `{}` | {} |", c.name, c.ty.polars());
                assert!(
                    section.contains(&row),
                    "docs/schemas.md, {head}: no row {row:?}"
                );
            }
        }
    }
}
