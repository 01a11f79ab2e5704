//! For analysts (issue 11): `seqsynth query` over a real store (one meta-iteration of the whole
//! loop with the tiny T5 on the CPU), the report's figure and summary, `status --all`, `gc` and
//! `--quiet`, all through the real binary.
//!
//! The first test needs the project's Python environment (scripts/setup-python.sh), as the model
//! tests; those of the query's bounds, of reading files and of closed pipes run on a store of
//! ingest and synth only.

mod common;
use arrow_array::{
    Array, BooleanArray, Float64Array, Int64Array, LargeListArray, LargeStringArray, ListArray,
    RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use common::*;
use seqsynth::tables::CATALOGUE;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn project() -> Project {
    setup_script("scripts/setup-python.sh").expect("the train stage's Python environment");
    let config = format!(
        "[synth]\npairs = 120\nvalidation = 20\n\n[train]\nepochs = 2\nbatch_size = 16\nstage_dir = \"{}\"\n\n\
         [ingest]\nsource = \"{}\"\nlimit = 300\n\n[search]\nskip_enumerated = false\nbeams = 3\nlimit = 12\nmax_len = 30\nthreads = 1\n\n\
         [sample]\nsize = 50\n\n[enumerate]\nmax_size = 5\ninverse_size = 2\n\n[enumerate.loops]\nloop_body = 3\nloop2_body = 3\nloop2_pair = 4\ninit_max = 2\npair_init_max = 1\nnth_expr = 3\n\n[loop]\niterations = 1\n",
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("stages/train")
            .display(),
        shared_oeis().display()
    );
    let p = Project::new(&config);
    let run = p.run(&["--quiet", "run"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        !stderr.contains("[train]") && !stderr.contains(" computed, "),
        "--quiet silences the trainer's and the enumerator's progress:\n{stderr}"
    );
    p
}

/// Every file under the store with its size and mtime: what a read-only command must not change.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                stack.push(e.path());
            }
            out.insert(e.path(), (m.len(), m.modified().unwrap()));
        }
    }
    out
}

/// A cell of an Arrow column as JSON (the types the catalogue uses, and Polars' large ones).
fn cell(c: &dyn Array, i: usize) -> Value {
    if c.is_null(i) {
        return Value::Null;
    }
    let a = c.as_any();
    if let Some(s) = a.downcast_ref::<StringArray>() {
        return json!(s.value(i));
    }
    if let Some(s) = a.downcast_ref::<LargeStringArray>() {
        return json!(s.value(i));
    }
    if let Some(s) = a.downcast_ref::<arrow_array::StringViewArray>() {
        return json!(s.value(i));
    }
    if let Some(v) = a.downcast_ref::<UInt32Array>() {
        return json!(v.value(i));
    }
    if let Some(v) = a.downcast_ref::<UInt64Array>() {
        return json!(v.value(i));
    }
    if let Some(v) = a.downcast_ref::<Int64Array>() {
        return json!(v.value(i));
    }
    if let Some(v) = a.downcast_ref::<Float64Array>() {
        return json!(v.value(i));
    }
    if let Some(v) = a.downcast_ref::<BooleanArray>() {
        return json!(v.value(i));
    }
    if let Some(l) = a.downcast_ref::<ListArray>() {
        let v = l.value(i);
        return Value::Array((0..v.len()).map(|j| cell(v.as_ref(), j)).collect());
    }
    if let Some(l) = a.downcast_ref::<LargeListArray>() {
        let v = l.value(i);
        return Value::Array((0..v.len()).map(|j| cell(v.as_ref(), j)).collect());
    }
    panic!("unexpected column type {:?}", c.data_type());
}

/// Rows of batches as JSON objects, restricted to `columns`.
fn rows(batches: &[RecordBatch], columns: &[&str]) -> Vec<Value> {
    let mut out = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            let mut o = serde_json::Map::new();
            for c in columns {
                let col = b.column_by_name(c).unwrap_or_else(|| panic!("column {c}"));
                o.insert(c.to_string(), cell(col.as_ref(), i));
            }
            out.push(Value::Object(o));
        }
    }
    out
}

fn query_json(p: &Project, sql: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["query", sql, "--format", "json"];
    args.extend_from_slice(extra);
    let out = p.ok(&args);
    serde_json::from_str::<Value>(&out)
        .unwrap_or_else(|e| panic!("{e}: {out}"))
        .as_array()
        .unwrap()
        .clone()
}

/// The nodes of the loop and the SQL table parts each holds.
fn parts_of(p: &Project, table: &str) -> Vec<(String, Option<u32>, Option<&'static str>)> {
    let def = CATALOGUE.iter().find(|d| d.name == table).unwrap();
    let mut out = Vec::new();
    for node in std::fs::read_dir(p.store().join("refs")).unwrap() {
        let node = node.unwrap().file_name().to_string_lossy().into_owned();
        let (stage, iter) = match node.split_once('@') {
            Some((s, k)) => (s.to_string(), Some(k.parse().unwrap())),
            None => (node.clone(), None),
        };
        for part in def.parts.iter().filter(|x| x.stage == stage) {
            out.push((format!("{node}/{}", part.file), iter, part.tag.map(|t| t.1)));
        }
    }
    out.sort();
    out
}

#[test]
fn query_report_status_and_gc_on_a_real_store() {
    let p = project();
    let before = snapshot(&p.store());

    // every registered table returns exactly the rows of its Parquet files
    for def in &CATALOGUE {
        let own: Vec<&str> = def.columns.iter().map(|c| c.name).collect();
        let mut expected = Vec::new();
        for (part, iter, tag) in parts_of(&p, def.name) {
            let (node, file) = part.split_once('/').unwrap();
            let path = p.artifact(node).join(format!("{file}-00000.parquet"));
            let batches = seqsynth::tables::io::read_parquet(&path).unwrap();
            // the writers' schema is the catalogue's
            let schema = seqsynth::tables::arrow_schema(def.columns);
            assert_eq!(
                batches[0].schema().fields(),
                schema.fields(),
                "{} in {node}",
                def.name
            );
            for mut r in rows(&batches, &own) {
                let o = r.as_object_mut().unwrap();
                if def.iterated() {
                    o.insert("iteration".into(), json!(iter));
                }
                for t in def.tags() {
                    o.insert(t.into(), json!(tag));
                }
                expected.push(r);
            }
        }
        let got = query_json(&p, &format!("SELECT * FROM {}", def.name), &[]);
        assert!(!expected.is_empty(), "the loop writes {}", def.name);
        let norm = |v: &Vec<Value>| {
            let mut s: Vec<String> = v.iter().map(|r| r.to_string()).collect();
            s.sort();
            s
        };
        // Polars' JSON lists the added columns first: compare as objects; floats to 12
        // significant digits (serde_json's default float parsing may miss the last ulp)
        let as_objects = |v: Vec<Value>| -> Vec<Value> {
            v.into_iter()
                .map(|r| {
                    let m: BTreeMap<String, Value> = serde_json::from_value(r).unwrap();
                    let m: BTreeMap<String, Value> = m
                        .into_iter()
                        .map(|(k, v)| match v.as_f64() {
                            Some(f) if v.is_f64() => (k, json!(format!("{f:.11e}"))),
                            _ => (k, v),
                        })
                        .collect();
                    serde_json::to_value(m).unwrap()
                })
                .collect()
        };
        let (got, expected) = (norm(&as_objects(got)), norm(&as_objects(expected)));
        assert_eq!(got.len(), expected.len(), "rows of table {}", def.name);
        if let Some(i) = (0..got.len()).find(|&i| got[i] != expected[i]) {
            panic!(
                "table {}: row {i} differs:\n query:   {}\n parquet: {}",
                def.name, got[i], expected[i]
            );
        }
    }

    // COUNT(*) over a table of several artifacts (search@1 and enumerate) and with --all
    let total: usize = parts_of(&p, "candidates")
        .iter()
        .map(|(part, _, _)| {
            let (node, file) = part.split_once('/').unwrap();
            seqsynth::tables::io::parquet_rows(
                &p.artifact(node).join(format!("{file}-00000.parquet")),
            )
            .unwrap() as usize
        })
        .sum();
    for extra in [&[][..], &["--all"][..]] {
        let r = query_json(&p, "SELECT count(*) AS n FROM candidates", extra);
        assert_eq!(r[0]["n"].as_u64().unwrap() as usize, total, "{extra:?}");
    }

    // joins across tables
    let solved = query_json(&p, "SELECT * FROM solved", &[]);
    let joined = query_json(
        &p,
        "SELECT s.id, t.name, s.program FROM solved s JOIN targets t ON s.id = t.id",
        &[],
    );
    assert_eq!(joined.len(), solved.len());
    assert!(joined.iter().all(|r| r["name"].is_string()));

    // the report's numbers are a query over `solved`
    let count = |sql: &str| query_json(&p, sql, &[])[0]["n"].as_u64().unwrap();
    let paper = count("SELECT count(DISTINCT id) AS n FROM solved WHERE iteration = 1");
    let strict =
        count("SELECT count(DISTINCT id) AS n FROM solved WHERE iteration = 1 AND all_terms");
    let curve = query_json(&p, "SELECT * FROM curve", &[]);
    assert_eq!(curve.len(), 1);
    assert_eq!(curve[0]["cumulative"].as_u64().unwrap(), paper);
    assert_eq!(curve[0]["cumulative_all_terms"].as_u64().unwrap(), strict);
    let by_search =
        count("SELECT count(DISTINCT id) AS n FROM solved WHERE by_search AND all_terms");
    assert_eq!(
        curve[0]["search_solved_all_terms"].as_u64().unwrap(),
        by_search
    );
    let beyond = count(
        "SELECT count(*) AS n FROM (SELECT id FROM solved WHERE by_search \
         EXCEPT SELECT id FROM solved WHERE by_enumerate)",
    );
    assert_eq!(curve[0]["beyond_enumeration"].as_u64().unwrap(), beyond);

    // CSV, JSON and Parquet outputs read back equal
    let sql = "SELECT id, program, rank, all_terms, checked_terms FROM solved ORDER BY id, program";
    let out = p.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let from_json = query_json(&p, sql, &[]);
    p.ok(&["query", sql, "--format", "csv", "--output", "out/s.csv"]);
    p.ok(&[
        "query",
        sql,
        "--format",
        "parquet",
        "--output",
        "out/s.parquet",
    ]);
    let csv = std::fs::read_to_string(out.join("s.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "id,program,rank,all_terms,checked_terms"
    );
    let from_csv: Vec<Value> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            json!({"id": f[0], "program": f[1], "rank": f[2].parse::<u64>().unwrap(),
                   "all_terms": f[3] == "true", "checked_terms": f[4].parse::<u64>().unwrap()})
        })
        .collect();
    let cols = ["id", "program", "rank", "all_terms", "checked_terms"];
    let from_parquet = rows(
        &seqsynth::tables::io::read_parquet(&out.join("s.parquet")).unwrap(),
        &cols,
    );
    assert!(!from_json.is_empty());
    assert_eq!(from_csv, from_json);
    assert_eq!(from_parquet, from_json);
    // the aligned table names its columns and counts its rows
    let table = p.ok(&[
        "query",
        "SELECT id, rank FROM candidates WHERE source = 'search'",
        "--limit",
        "5",
    ]);
    assert!(table.contains("id") && table.contains("rank"), "{table}");
    assert!(table.contains("(36 rows, 5 shown"), "{table}");

    // errors: exit 2, naming what is wrong and what exists
    let bad = p.run(&["query", "SELEC nonsense"]);
    assert_eq!(bad.status.code(), Some(2));
    let unknown = p.run(&["query", "SELECT * FROM nosuchtable"]);
    assert_eq!(unknown.status.code(), Some(2));
    let e = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        e.contains("nosuchtable") && e.contains("targets, pairs, candidates"),
        "{e}"
    );
    let col = p.run(&["query", "SELECT nosuchcolumn FROM targets"]);
    assert_eq!(col.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&col.stderr).contains("nosuchcolumn"));
    let inside = p.run(&[
        "query",
        "SELECT 1 AS x",
        "--format",
        "csv",
        "--output",
        "data/x.csv",
    ]);
    assert_eq!(inside.status.code(), Some(2), "never writes into the store");

    // `--all`: every artifact, with its key; `runs` has one row per artifact
    let runs = query_json(&p, "SELECT node, key, rows FROM runs", &["--all"]);
    assert_eq!(runs.len(), p.objects().len());
    let keyed = query_json(&p, "SELECT DISTINCT key FROM targets", &["--all"]);
    assert_eq!(keyed.len(), 1);

    // nothing the queries did changed the store
    assert_eq!(
        snapshot(&p.store()),
        before,
        "a query never changes the store"
    );

    // the report: the figure as PNG and SVG, the summary
    let png = p.path().join("exports/report/figure.png");
    let img = image::open(&png).unwrap().to_rgb8();
    assert_eq!(
        (img.width(), img.height()),
        (
            seqsynth::stages::report::plot::WIDTH,
            seqsynth::stages::report::plot::HEIGHT
        )
    );
    let colours: BTreeSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(colours.len() > 20, "not blank: {} colours", colours.len());
    let dark = img
        .pixels()
        .filter(|p| p.0.iter().all(|&c| c < 100))
        .count();
    assert!(dark > 2000, "text and axes are drawn: {dark} dark pixels");
    let svg = std::fs::read_to_string(p.path().join("exports/report/figure.svg")).unwrap();
    assert!(svg.contains("full") && svg.contains("enumeration") && svg.contains("paper"));
    let summary = std::fs::read_to_string(p.path().join("exports/report/summary.md")).unwrap();
    // with one iteration every method's report reads the same verify@1: one line for all
    assert!(
        summary.contains(&format!(
            "| full, baseline, uniform, random-init, no-hindsight | 1 | {strict} |"
        )),
        "{summary}"
    );
    assert!(summary.contains(&p.manifest("verify@1")["key"].as_str().unwrap().to_string()));
    let sol = std::fs::read_to_string(p.path().join("exports/report/solutions.csv")).unwrap();
    assert!(sol.starts_with("id,name,iteration,iteration_all_terms,program,python,"));
    assert!(sol.contains("lambda x0:"), "the Python rendering");

    // status --all: every artifact, all reached by the config
    let st = p.ok(&["status", "--all"]);
    assert!(
        st.contains(&format!("{} artifact(s)", p.objects().len())),
        "{st}"
    );
    assert!(!st.lines().any(|l| l.trim_end().ends_with(" no")), "{st}");

    // gc: an artifact of another config is unreachable; exactly it goes, and only with --force
    p.ok(&["--quiet", "run", "stage=synth", "synth.seed=7"]);
    let all = p.objects();
    let extra = p.artifact("synth");
    let extra_key = extra.file_name().unwrap().to_string_lossy().into_owned();
    let dry = p.ok(&["gc"]);
    assert!(
        dry.contains(&format!("would remove synth        {}", &extra_key[..12])),
        "{dry}"
    );
    assert!(dry.contains("would remove 1 artifact(s)"), "{dry}");
    assert_eq!(p.objects(), all, "a dry run removes nothing");
    // the config that reaches it keeps it
    let kept = p.ok(&["gc", "synth.seed=7"]);
    assert!(
        !kept.contains(&format!("would remove synth        {}", &extra_key[..12])),
        "{kept}"
    );
    p.ok(&["gc", "--force"]);
    let after: Vec<String> = all.iter().filter(|k| **k != extra_key).cloned().collect();
    assert_eq!(p.objects(), after);
    // everything the config reaches is still cached
    let out = p.ok(&["--quiet", "run"]);
    assert!(built(&out).is_empty(), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Bounds, files and pipes, on a tiny store (ingest and synth only: no Python, a few seconds)

/// A store of `targets` (ingest of 60 flat sequences) and `pairs` (synth of 60 pairs).
fn tiny() -> Project {
    let p = Project::new(&config("oeis", ""));
    flat_fixture(&p.path().join("oeis"), 60);
    let run = p.run(&["--quiet", "run"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    p
}

/// Runs the query; its exit status, stderr and wall time.
fn timed(p: &Project, args: &[&str]) -> (Option<i32>, String, f64) {
    let t = std::time::Instant::now();
    let out = p.run(args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        t.elapsed().as_secs_f64(),
    )
}

/// Every file in `dir` (names).
fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// A cross join far too large to finish: 60^4 rows of pairs.
const CROSS4: &str = "SELECT * FROM pairs a, pairs b, pairs c, pairs d";

#[test]
fn query_bounds_stop_runaway_queries_with_status_2() {
    let p = tiny();
    let out = p.path().join("out");
    std::fs::create_dir(&out).unwrap();

    // memory: a sorted cross join holds its rows; stopped past 200 MiB, quickly
    let (code, err, secs) = timed(
        &p,
        &[
            "query",
            &format!("{CROSS4} ORDER BY a.program, b.program, c.program, d.program"),
            "query.max_memory_mb=200",
            "query.max_seconds=0",
        ],
    );
    eprintln!("max_memory_mb=200: {secs:.2} s: {err}");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with("error: the query passed query.max_memory_mb = 200 (resident ")
            && err.contains("raise it with query.max_memory_mb=N"),
        "{err}"
    );
    assert!(secs < 30.0, "stopped quickly: {secs:.1} s");
    // the table of the same join without ORDER BY streams: 40 rows shown, the rest counted, in
    // little memory (stopped by the time bound while counting, never by the memory bound)
    let (code, err, secs) = timed(
        &p,
        &[
            "query",
            CROSS4,
            "query.max_memory_mb=2000",
            "query.max_seconds=3",
        ],
    );
    eprintln!("table, max_seconds=3: {secs:.2} s: {err}");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("query.max_seconds = 3"), "{err}");

    // time: a long count (little memory), stopped after a second
    let (code, err, secs) = timed(
        &p,
        &[
            "query",
            "SELECT count(*) AS n FROM pairs a, pairs b, pairs c, pairs d, pairs e, pairs f",
            "query.max_seconds=1",
        ],
    );
    eprintln!("max_seconds=1: {secs:.2} s: {err}");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with("error: the query passed query.max_seconds = 1 (still running after ")
            && err.contains("raise it with query.max_seconds=N"),
        "{err}"
    );
    assert!(secs < 6.0, "stopped within a few seconds: {secs:.1} s");

    // a stopped query leaves no output file (nor its temporary), and keeps the one there
    std::fs::write(out.join("keep.csv"), "good\n").unwrap();
    for (bound, target) in [
        ("query.max_seconds=1", "out/keep.csv"),
        ("query.max_seconds=1", "out/new.csv"),
        ("query.max_memory_mb=200", "out/new.csv"),
    ] {
        let (code, err, _) = timed(
            &p,
            &[
                "query",
                &format!("{CROSS4} ORDER BY a.program, b.program, c.program, d.program"),
                "--format",
                "csv",
                "--output",
                target,
                bound,
            ],
        );
        assert_eq!(code, Some(2), "{bound}: {err}");
        assert_eq!(
            names(&out),
            BTreeSet::from(["keep.csv".to_string()]),
            "{bound} {target}"
        );
        assert_eq!(
            std::fs::read_to_string(out.join("keep.csv")).unwrap(),
            "good\n"
        );
    }

    // output: a big CSV to a file stops at 1 MiB, and leaves nothing
    for target in ["out/keep.csv", "out/big.csv"] {
        let (code, err, secs) = timed(
            &p,
            &[
                "query",
                "SELECT a.id, a.name, b.id AS b, c.id AS c FROM targets a, targets b, targets c",
                "--format",
                "csv",
                "--output",
                target,
                "query.max_output_mb=1",
            ],
        );
        eprintln!("max_output_mb=1: {secs:.2} s: {err}");
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.starts_with("error: the query passed query.max_output_mb = 1 (")
                && err.contains("raise it with query.max_output_mb=N")
                && err.contains(&format!("{target} was not written")),
            "{err}"
        );
        assert_eq!(names(&out), BTreeSet::from(["keep.csv".to_string()]));
        assert_eq!(
            std::fs::read_to_string(out.join("keep.csv")).unwrap(),
            "good\n"
        );
    }
    // and to stdout: at most 1 MiB comes out
    let big = p.run(&[
        "query",
        "SELECT * FROM pairs a, pairs b, pairs c",
        "--format",
        "json",
        "query.max_output_mb=1",
    ]);
    assert_eq!(big.status.code(), Some(2));
    assert!(big.stdout.len() <= 1 << 20, "{}", big.stdout.len());
    assert!(String::from_utf8_lossy(&big.stderr).contains("query.max_output_mb = 1"));

    // within the bounds, queries work as before: a file written whole replaces the one there
    let n = |extra: &[&str]| -> u64 {
        let mut args = vec![
            "query",
            "SELECT count(*) AS n FROM pairs a, pairs b",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let v: Value = serde_json::from_str(&p.ok(&args)).unwrap();
        v[0]["n"].as_u64().unwrap()
    };
    let pairs = query_json(&p, "SELECT * FROM pairs", &[]).len() as u64;
    assert!(pairs >= 60, "{pairs}");
    assert_eq!(n(&[]), pairs * pairs);
    assert_eq!(
        n(&[
            "query.max_memory_mb=0",
            "query.max_seconds=0",
            "query.max_output_mb=0"
        ]),
        pairs * pairs
    );
    p.ok(&[
        "query",
        "SELECT id, name FROM targets ORDER BY id",
        "--format",
        "csv",
        "--output",
        "out/keep.csv",
    ]);
    let csv = std::fs::read_to_string(out.join("keep.csv")).unwrap();
    let targets = query_json(&p, "SELECT id FROM targets ORDER BY id", &[]);
    assert!(
        csv.starts_with("id,name\nA000001,Sequence number 1.\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), targets.len() + 1);
    assert_eq!(names(&out), BTreeSet::from(["keep.csv".to_string()]));
    // the streamed JSON is one array of every row, in order
    let ids: Vec<Value> = targets.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids.first(), Some(&json!("A000001")));
    assert!(ids.windows(2).all(|w| w[0].as_str() < w[1].as_str()));
    // the table: the head, then the count
    let table = p.ok(&[
        "query",
        "SELECT id FROM targets ORDER BY id",
        "--limit",
        "3",
    ]);
    assert!(
        table.contains("A000001") && !table.contains(ids[3].as_str().unwrap()),
        "{table}"
    );
    assert!(
        table.contains(&format!("({} rows, 3 shown;", targets.len())),
        "{table}"
    );
    let all = p.ok(&["query", "SELECT id FROM targets", "--limit", "0"]);
    assert!(all.contains(&format!("({} rows)", targets.len())), "{all}");
    let none = p.ok(&["query", "SELECT id FROM targets WHERE id = 'none'"]);
    assert!(none.contains("(0 rows)"), "{none}");
    // Parquet, written in row groups, reads back whole (with --allow-files, by the SQL itself)
    p.ok(&[
        "query",
        "SELECT a.id AS x, b.id AS y FROM targets a, targets b",
        "--format",
        "parquet",
        "--output",
        "out/t.parquet",
    ]);
    let back = query_json(
        &p,
        "SELECT count(*) AS n, count(DISTINCT x) AS d FROM read_parquet('out/t.parquet')",
        &["--allow-files"],
    );
    let t = targets.len() as u64;
    assert_eq!(back[0]["n"].as_u64(), Some(t * t));
    assert_eq!(back[0]["d"].as_u64(), Some(t));
}

/// `x [NOT] IN (SELECT ...)` over large tables: Polars 0.55's streaming engine broadcast the
/// subquery's column to every outer row (here t^4 rows times (t-1)·t^3 keys for the t targets
/// of the tiny store, t = 36: tens of TB, and the process aborted on the allocation); the query
/// runs it in the in-memory engine instead.
#[test]
fn query_in_subquery_over_large_tables_answers() {
    let p = tiny();
    let t = query_json(&p, "SELECT count(*) AS n FROM targets", &[])[0]["n"]
        .as_u64()
        .unwrap();
    assert!(t >= 30, "{t} targets");
    let big = "WITH big AS (SELECT a.id AS a, a.id || b.id || c.id || d.id AS k \
               FROM targets a, targets b, targets c, targets d), \
               rest AS (SELECT k FROM big WHERE a NOT IN (SELECT min(id) AS id FROM targets))";
    let not_in = query_json(
        &p,
        &format!("{big} SELECT count(*) AS n FROM big WHERE k NOT IN (SELECT k FROM rest)"),
        &[],
    );
    assert_eq!(not_in[0]["n"].as_u64(), Some(t * t * t), "{not_in:?}");
    let within = query_json(
        &p,
        &format!("{big} SELECT count(*) AS n FROM big WHERE k IN (SELECT k FROM rest)"),
        &[],
    );
    assert_eq!(
        within[0]["n"].as_u64(),
        Some((t - 1) * t * t * t),
        "{within:?}"
    );
}

#[test]
fn query_reads_only_the_store_unless_allow_files() {
    let p = tiny();
    std::fs::write(p.path().join("plain.csv"), "a,b\n1,x\n2,y\n").unwrap();
    std::fs::write(p.path().join("rows.json"), "{\"a\":1}\n{\"a\":2}\n").unwrap();
    let sqls = [
        ("read_json", "SELECT * FROM read_json('/etc/passwd')"),
        ("read_csv", "SELECT * FROM read_csv('plain.csv')"),
        ("READ_PARQUET", "select * from READ_PARQUET('x.parquet')"),
        ("read_ipc", "SELECT * FROM \"read_ipc\" ('x.ipc')"),
        (
            "read_csv",
            "SELECT id FROM targets WHERE id IN (SELECT a FROM read_csv /* c */ ('plain.csv'))",
        ),
        (
            "read_json",
            "WITH t AS (SELECT * FROM read_json('rows.json')) SELECT * FROM t",
        ),
        ("read_csv", "EXPLAIN SELECT * FROM read_csv('plain.csv')"),
    ];
    for (name, sql) in sqls {
        let out = p.run(&["query", sql]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sql}: {err}");
        assert!(
            err.starts_with(&format!(
                "error: the SQL calls {name}(...), which reads a file"
            )) && err.contains("--allow-files"),
            "{sql}: {err}"
        );
        assert!(out.stdout.is_empty());
    }
    // a string or a column that only looks like one is no call
    let ok = query_json(
        &p,
        "SELECT 'read_csv(' AS read_csv FROM targets LIMIT 1",
        &[],
    );
    assert_eq!(ok, vec![json!({"read_csv": "read_csv("})]);

    // with --allow-files: a plain CSV (which made Polars panic: this build of Polars has no
    // date types for the CSV reader's inference) is an ordinary error, not a panic
    let out = p.run(&[
        "query",
        "SELECT a, b FROM read_csv('plain.csv') ORDER BY a",
        "--allow-files",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("error: read_csv cannot read this file")
            && err.contains("without date types")
            && !err.contains("panicked")
            && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    // (a CSV of numbers only reads)
    std::fs::write(p.path().join("numbers.csv"), "a,b\n1,2\n3,4\n").unwrap();
    let numbers = query_json(
        &p,
        "SELECT a + b AS s FROM read_csv('numbers.csv') ORDER BY s",
        &["--allow-files"],
    );
    assert_eq!(numbers, vec![json!({"s": 3}), json!({"s": 7})]);
    let nd = query_json(
        &p,
        "SELECT sum(a) AS s FROM read_json('rows.json')",
        &["--allow-files"],
    );
    assert_eq!(nd, vec![json!({"s": 3})]);
    // every error, a missing file's and a panic's included, is `error: ...` and status 2
    for sql in [
        "SELECT * FROM read_csv('missing.csv')",
        "SELECT * FROM read_parquet('plain.csv')",
        "SELECT * FROM read_json('plain.csv')",
        "SELECT * FROM read_csv('plain.csv', 'x')",
    ] {
        let out = p.run(&["query", sql, "--allow-files"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sql}: {err}");
        assert!(err.starts_with("error: "), "{sql}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{sql}: {err}"
        );
    }
}

#[test]
fn query_ends_quietly_when_the_reader_goes() {
    use std::io::Read;
    use std::process::Stdio;
    let p = tiny();
    // each well past a pipe's buffer (64 KiB), so that writing really fails
    for args in [
        &[
            "query",
            "SELECT * FROM targets a, targets b",
            "--limit",
            "0",
        ][..],
        &["query", "SELECT * FROM targets a, targets b"][..],
        &[
            "query",
            "SELECT a.id, a.name, b.id AS id2 FROM targets a, targets b",
            "--format",
            "csv",
        ][..],
        &[
            "query",
            "SELECT * FROM pairs a, pairs b",
            "--format",
            "json",
        ][..],
    ] {
        let mut child = p
            .cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 16];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        assert_eq!(err, "", "{args:?}");
    }
    // and what they write is that large
    let all = p.run(&[
        "query",
        "SELECT * FROM targets a, targets b",
        "--limit",
        "0",
    ]);
    assert!(all.stdout.len() > 1 << 20, "{}", all.stdout.len());
}

#[test]
fn query_output_to_a_named_pipe_is_written_directly() {
    use std::os::unix::fs::FileTypeExt;
    let p = tiny();
    let fifo = p.path().join("out.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("no mkfifo: skipped");
        return;
    }
    // (as `--output /dev/stdout` or `--output >(gzip > r.gz)`: no temporary file, no rename)
    let path = fifo.clone();
    let reader = std::thread::spawn(move || std::fs::read_to_string(path).unwrap());
    p.ok(&[
        "query",
        "SELECT id FROM targets ORDER BY id LIMIT 2",
        "--format",
        "csv",
        "--output",
        "out.fifo",
    ]);
    assert_eq!(reader.join().unwrap(), "id\nA000001\nA000002\n");
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(!names(p.path()).iter().any(|n| n.contains("partial")));
}
