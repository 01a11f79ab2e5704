//! End-to-end tests of the ingest stage (issue 3): each source format, each filter, exact big
//! integers, malformed input with clear errors.

mod common;
use arrow_array::{Array, Int64Array, ListArray, StringArray, UInt32Array};
use common::*;
use seqsynth::tables::io::{column, list_strings, read_parquet};
use std::fs;
use std::path::Path;

/// (id, name, offset, keywords, terms) rows of the ingest artifact.
type Row = (
    String,
    Option<String>,
    Option<i64>,
    Vec<String>,
    Vec<String>,
);

fn targets(p: &Project) -> Vec<Row> {
    let mut rows = Vec::new();
    for b in read_parquet(&p.artifact("ingest").join("targets-00000.parquet")).unwrap() {
        let id = column::<StringArray>(&b, "id").unwrap();
        let name = column::<StringArray>(&b, "name").unwrap();
        let off = column::<Int64Array>(&b, "offset").unwrap();
        let kw = column::<ListArray>(&b, "keywords").unwrap();
        let t = column::<ListArray>(&b, "terms").unwrap();
        let n = column::<UInt32Array>(&b, "n_terms").unwrap();
        for i in 0..b.num_rows() {
            let terms = list_strings(t, i);
            assert_eq!(n.value(i) as usize, terms.len());
            rows.push((
                id.value(i).to_string(),
                (!name.is_null(i)).then(|| name.value(i).to_string()),
                (!off.is_null(i)).then(|| off.value(i)),
                list_strings(kw, i),
                terms,
            ));
        }
    }
    rows
}

fn ids(rows: &[Row]) -> Vec<String> {
    rows.iter().map(|r| r.0.clone()).collect()
}

fn flat_project(n: usize, extra: &str) -> Project {
    let p = Project::new(&config("oeis", extra));
    flat_fixture(&p.path().join("oeis"), n);
    p
}

#[test]
fn flat_files_with_keywords_and_each_filter() {
    let p = flat_project(12, "");
    p.ok(&["run", "stage=ingest"]);
    let rows = targets(&p);
    // default filters: no required keyword, exclude dead (i % 4 == 3), >= 36 terms (i % 5 != 0)
    assert_eq!(
        ids(&rows),
        ["A000001", "A000002", "A000004", "A000006", "A000008", "A000009", "A000012"]
    );
    let first = &rows[0];
    assert_eq!(first.1.as_deref(), Some("Sequence number 1."));
    assert_eq!(first.2, Some(1));
    assert_eq!(first.3, vec!["sign", "easy"]);
    assert_eq!(first.4[..3], ["-3", "-2", "-1"]);
    // required keyword
    p.ok(&["run", "stage=ingest", "ingest.keywords=[\"easy\"]"]);
    assert_eq!(
        ids(&targets(&p)),
        ["A000001", "A000004", "A000008", "A000009", "A000012"]
    );
    // no exclusion, limit
    p.ok(&[
        "run",
        "stage=ingest",
        "ingest.exclude_keywords=[]",
        "ingest.limit=3",
    ]);
    assert_eq!(ids(&targets(&p)), ["A000001", "A000002", "A000003"]);
    let m = p.manifest("ingest");
    assert_eq!(m["counters"]["excluded_over_limit"], 7);
    assert_eq!(m["counters"]["excluded_too_few_terms"], 2);
    // min_terms
    p.ok(&["run", "stage=ingest", "ingest.min_terms=10"]);
    assert_eq!(targets(&p).len(), 9);
}

#[test]
fn no_target_kept_is_an_error_and_required_keywords_need_a_keywords_source() {
    // filters that keep nothing: a clear error, no artifact
    let p = flat_project(12, "");
    let e = p.fails(&["run", "stage=ingest", "ingest.min_terms=1000"]);
    assert!(
        e.contains("ingest keeps no target") && e.contains("excluded_too_few_terms: 9"),
        "{e}"
    );
    assert!(p.store().join("refs/ingest").symlink_metadata().is_err());
    // keywords required, but the source has no keywords at all
    let p = flat_project(12, "");
    fs::remove_file(p.path().join("oeis/keywords")).unwrap();
    let e = p.fails(&["run", "stage=ingest", "ingest.keywords=[\"easy\"]"]);
    assert!(
        e.contains("requires keywords") && e.contains("has none"),
        "{e}"
    );
    // without a keyword requirement the same source is fine
    p.ok(&["run", "stage=ingest"]);
}

#[test]
fn gzipped_flat_files() {
    let p = flat_project(12, "");
    for f in ["stripped", "names", "keywords"] {
        gzip(&p.path().join("oeis").join(f));
    }
    p.ok(&["run", "stage=ingest", "ingest.keywords=[\"easy\"]"]);
    assert_eq!(targets(&p).len(), 5);
}

#[test]
fn big_integers_are_preserved_exactly() {
    let p = flat_project(3, "");
    let big = "-123456789012345678901234567890123456789012345678901234567890";
    let path = p.path().join("oeis/stripped");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replacen(",-3,", &format!(",{big},"), 1)).unwrap();
    p.ok(&["run", "stage=ingest"]);
    assert_eq!(targets(&p)[0].4[0], big);
}

fn write_seq(root: &Path, a: u32, lines: &[String]) {
    let dir = root.join("seq").join(format!("A{:03}", a / 1000));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(format!("A{a:06}.seq")), lines.join("\n") + "\n").unwrap();
}

#[test]
fn internal_format_tree() {
    let p = Project::new(&config("tree", ""));
    let root = p.path().join("tree");
    let t = |from: i64, n: i64| {
        (from..from + n)
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    write_seq(
        &root,
        45,
        &[
            "%I A000045 M0692 N0256".into(),
            format!("%S A000045 {},", t(0, 20)),
            format!("%T A000045 {},", t(20, 15)),
            format!("%U A000045 {}", t(35, 5)),
            "%N A000045 Fibonacci numbers: F(n) = F(n-1) + F(n-2).".into(),
            "%C A000045 A comment that is ignored.".into(),
            "%K A000045 core,nonn,nice,easy,hear".into(),
            "%O A000045 0,4".into(),
        ],
    );
    // signed terms live in %V %W %X
    write_seq(
        &root,
        1057,
        &[
            format!("%S A001057 {}", t(0, 40)),
            format!(
                "%V A001057 {}",
                (0..40)
                    .map(|x: i64| (-x).to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            "%N A001057 Negatives.".into(),
            "%K A001057 sign,easy".into(),
            "%O A001057 1,2".into(),
        ],
    );
    write_seq(
        &root,
        2,
        &[
            format!("%S A000002 {}", t(0, 40)),
            "%N A000002 Dead one.".into(),
            "%K A000002 dead".into(),
            "%O A000002 1".into(),
        ],
    );
    p.ok(&["run", "stage=ingest"]);
    let rows = targets(&p);
    assert_eq!(ids(&rows), ["A000045", "A001057"]);
    assert_eq!(rows[0].4.len(), 40);
    assert_eq!(rows[0].4[39], "39");
    assert_eq!(rows[0].2, Some(0));
    assert_eq!(rows[0].3, vec!["core", "nonn", "nice", "easy", "hear"]);
    assert_eq!(rows[1].4[5], "-5");
    assert_eq!(rows[1].2, Some(1));
    // a malformed line in the tree names its file and line
    write_seq(&root, 3, &["%S A00000x 1,2,3".into()]);
    let e = p.fails(&["run", "stage=ingest"]);
    assert!(
        e.contains("A000003.seq:1") && e.contains("bad A-number"),
        "{e}"
    );
}

#[test]
fn download_from_a_local_http_server() {
    let src = tempfile::tempdir().unwrap();
    flat_fixture(src.path(), 12);
    gzip(&src.path().join("stripped"));
    gzip(&src.path().join("names"));
    // serves exactly the two expected requests, then stops
    let (addr, server) = serve_files(2, src.path().to_path_buf());
    let p = Project::new(&config(&format!("http://{addr}/oeis"), ""));
    p.ok(&["run", "stage=ingest"]);
    assert_eq!(
        server.join().unwrap(),
        ["/oeis/stripped.gz", "/oeis/names.gz"]
    );
    assert_eq!(targets(&p).len(), 10); // keywords are not downloaded: only the short ones go
                                       // cached in the store: a second run needs no server
    assert!(built(&p.ok(&["run", "stage=ingest"])).is_empty());
    assert_eq!(
        fs::read_dir(p.store().join("downloads")).unwrap().count(),
        1
    );
}

#[test]
fn malformed_input_has_clear_errors() {
    // bad A-number
    let p = flat_project(5, "");
    let path = p.path().join("oeis/stripped");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replace("A000004 ", "X000004 ")).unwrap();
    let e = p.fails(&["run", "stage=ingest"]);
    assert!(
        e.contains("oeis/stripped:6") && e.contains("bad A-number \"X000004\""),
        "{e}"
    );
    assert!(e.contains("on_bad_line"), "{e}");
    // skip mode counts it
    p.ok(&["run", "stage=ingest", "ingest.on_bad_line=skip"]);
    assert_eq!(p.manifest("ingest")["counters"]["bad_lines_skipped"], 1);

    // non-integer term
    let p = flat_project(5, "");
    let path = p.path().join("oeis/stripped");
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replacen(",-1,", ",1.5,", 1)).unwrap();
    let e = p.fails(&["run", "stage=ingest"]);
    assert!(
        e.contains("stripped:3") && e.contains("term \"1.5\" is not an integer"),
        "{e}"
    );

    // truncated .gz
    let p = flat_project(200, "");
    let sp = p.path().join("oeis/stripped");
    gzip(&sp);
    let gz = sp.with_extension("gz");
    let bytes = fs::read(&gz).unwrap();
    fs::write(&gz, &bytes[..bytes.len() / 2]).unwrap();
    let e = p.fails(&["run", "stage=ingest"]);
    assert!(
        e.contains("stripped.gz:") && e.contains("truncated or corrupt"),
        "{e}"
    );

    // missing file
    let p = flat_project(5, "");
    fs::remove_file(p.path().join("oeis/names")).unwrap();
    let e = p.fails(&["run", "stage=ingest"]);
    assert!(e.contains("no names or names.gz file"), "{e}");
    // missing source
    let p = Project::new(&config("nowhere", ""));
    let e = p.fails(&["run", "stage=ingest"]);
    assert!(
        e.contains("nowhere") && e.contains("not a directory"),
        "{e}"
    );
    // nothing was committed by the failed runs
    assert!(p.objects().is_empty());
}

#[test]
fn shared_oeis_data_gives_ten_thousand_targets() {
    let src = shared_oeis();
    assert!(
        src.is_dir(),
        "expected the shared OEIS copy at {}",
        src.display()
    );
    let p = Project::new(&format!(
        "[ingest]\nsource = \"{}\"\nkeywords = []\nlimit = 10000\n",
        src.display()
    ));
    p.ok(&["run", "stage=ingest"]);
    let m = p.manifest("ingest");
    assert_eq!(m["counters"]["kept"], 10000);
    assert_eq!(m["counters"]["sequences_read"], 140185);
    let rows = targets(&p);
    assert_eq!(rows.len(), 10000);
    assert!(rows.iter().all(|r| r.4.len() > 35));
    assert_eq!(rows[0].0, "A000002"); // A000001 is not in this copy
    let mut sorted = ids(&rows);
    sorted.sort();
    assert_eq!(sorted, ids(&rows), "sorted by A-number");
}

/// Serves each request with `respond(path)` (status line and body) until `n` requests are served.
fn serve(
    n: usize,
    respond: impl Fn(&str) -> Option<(String, Vec<u8>)> + Send + 'static,
) -> (std::net::SocketAddr, std::thread::JoinHandle<Vec<String>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let mut served = Vec::new();
        for _ in 0..n {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let k = s.read(&mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..k]).to_string();
            let path = req.split_whitespace().nth(1).unwrap().to_string();
            match respond(&path) {
                Some((status, body)) => {
                    let _ = write!(
                        s,
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = s.write_all(&body);
                }
                // stall: headers promised, then silence until the client gives up
                None => {
                    let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
                    std::thread::sleep(std::time::Duration::from_secs(4));
                }
            }
            served.push(path);
        }
        served
    });
    (addr, h)
}

/// Serves `/oeis/<file>` from `root` for `n` requests.
fn serve_files(
    n: usize,
    root: std::path::PathBuf,
) -> (std::net::SocketAddr, std::thread::JoinHandle<Vec<String>>) {
    serve(n, move |path| {
        Some((
            "200 OK".into(),
            fs::read(root.join(path.trim_start_matches("/oeis/"))).unwrap(),
        ))
    })
}

#[test]
fn a_bad_download_is_discarded_and_retried() {
    let src = tempfile::tempdir().unwrap();
    flat_fixture(src.path(), 12);
    gzip(&src.path().join("stripped"));
    gzip(&src.path().join("names"));
    // an HTML error page served with status 200 instead of the gzip file
    let (addr, h) = serve(1, |_| {
        Some((
            "200 OK".into(),
            b"<html><body>Service unavailable</body></html>".to_vec(),
        ))
    });
    let p = Project::new(&config(&format!("http://{addr}/oeis"), ""));
    let e = p.fails(&["run", "stage=ingest"]);
    h.join().unwrap();
    assert!(
        e.contains("did not serve gzip") && e.contains("<html>"),
        "{e}"
    );
    assert_eq!(
        fs::read_dir(p.store().join("downloads")).unwrap().count(),
        0
    );
    // a stalled server: a clear error after ingest.timeout_secs, nothing kept
    let (addr2, h) = serve(1, |_| None);
    let e = p.fails(&[
        "run",
        "stage=ingest",
        &format!("ingest.source=http://{addr2}/oeis"),
        "ingest.timeout_secs=1",
    ]);
    h.join().unwrap();
    assert!(e.contains("ingest.timeout_secs"), "{e}");
    assert_eq!(
        fs::read_dir(p.store().join("downloads")).unwrap().count(),
        0
    );
    // the next run (the server fixed) downloads again and succeeds
    let (addr3, h) = serve_files(2, src.path().to_path_buf());
    p.ok(&[
        "run",
        "stage=ingest",
        &format!("ingest.source=http://{addr3}/oeis"),
    ]);
    assert_eq!(h.join().unwrap().len(), 2);
    assert_eq!(targets(&p).len(), 10);
}
