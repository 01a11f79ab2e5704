//! `curve` (report): one meta-iteration of the solve curve per row, by both rules. The count
//! columns come before the four rates.

use super::{col, nullable, Col, Ty};

pub const COLUMNS: &[Col] = &[
    col("iteration", Ty::U32),
    col("targets", Ty::U32),
    col("searched", Ty::U32),
    col("solved", Ty::U32),
    col("solved_all_terms", Ty::U32),
    col("new", Ty::U32),
    col("new_all_terms", Ty::U32),
    col("cumulative", Ty::U32),
    col("cumulative_all_terms", Ty::U32),
    col("cumulative_searched", Ty::U32),
    col("cumulative_searched_all_terms", Ty::U32),
    col("search_solved", Ty::U32),
    col("search_solved_all_terms", Ty::U32),
    nullable("beyond_enumeration", Ty::U32),
    nullable("beyond_enumeration_all_terms", Ty::U32),
    col("distinct_programs", Ty::U32),
    col("mutate_solved", Ty::U32),
    col("mutate_solved_all_terms", Ty::U32),
    col("mutate_beyond_enumeration", Ty::U32),
    col("mutate_beyond_enumeration_all_terms", Ty::U32),
    col("rate", Ty::F64),
    col("rate_all_terms", Ty::F64),
    col("searched_rate", Ty::F64),
    col("searched_rate_all_terms", Ty::F64),
];

pub fn schema() -> arrow_schema::Schema {
    super::arrow_schema(COLUMNS)
}

/// The columns of a curve row a figure or a summary needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Point {
    pub iteration: u32,
    pub targets: u32,
    pub searched: u32,
    pub cumulative: u32,
    pub cumulative_all_terms: u32,
    pub search_solved: u32,
    pub search_solved_all_terms: u32,
    pub beyond_enumeration: Option<u32>,
    pub beyond_enumeration_all_terms: Option<u32>,
}

/// Reads the `curve` table of a report artifact.
pub fn read(a: &crate::pipeline::store::Artifact) -> anyhow::Result<Vec<Point>> {
    use super::io::column;
    use arrow_array::{Array, UInt32Array};
    let mut out = Vec::new();
    for b in a.read_table("curve")? {
        let u = |name: &str| column::<UInt32Array>(&b, name);
        let (it, tg, se) = (u("iteration")?, u("targets")?, u("searched")?);
        let (cu, ca) = (u("cumulative")?, u("cumulative_all_terms")?);
        let (ss, ssa) = (u("search_solved")?, u("search_solved_all_terms")?);
        let (be, bea) = (u("beyond_enumeration")?, u("beyond_enumeration_all_terms")?);
        let opt = |c: &UInt32Array, i: usize| (!c.is_null(i)).then(|| c.value(i));
        for i in 0..b.num_rows() {
            out.push(Point {
                iteration: it.value(i),
                targets: tg.value(i),
                searched: se.value(i),
                cumulative: cu.value(i),
                cumulative_all_terms: ca.value(i),
                search_solved: ss.value(i),
                search_solved_all_terms: ssa.value(i),
                beyond_enumeration: opt(be, i),
                beyond_enumeration_all_terms: opt(bea, i),
            });
        }
    }
    Ok(out)
}
