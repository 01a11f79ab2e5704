//! End-to-end tests of a URL source's bounds (`ingest.max_download_mb`,
//! `ingest.max_download_secs`), its progress lines, and the check that what arrived is OEIS
//! data: each against a raw HTTP/1.1 server started inside the test.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The paths requested of a test server, in order.
type Requests = Arc<Mutex<Vec<String>>>;

/// How long a test server keeps sending an endless or trickling body: long enough that a client
/// without the bounds under test fails its test, short enough that it does not hang.
const SERVER_LIFE: Duration = Duration::from_secs(30);

/// A raw HTTP/1.1 server on 127.0.0.1: each connection on its own thread, its request path
/// recorded, then answered by `answer(path, stream)`. Returns the base URL (`http://addr/oeis`)
/// and the requests. It lives until the test process ends.
fn server(answer: impl Fn(&str, &mut TcpStream) + Send + Sync + 'static) -> (String, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Requests::default();
    let (answer, reqs) = (Arc::new(answer), requests.clone());
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let (answer, reqs) = (answer.clone(), reqs.clone());
            std::thread::spawn(move || {
                let Some(path) = read_request(&mut s) else {
                    return;
                };
                reqs.lock().unwrap().push(path.clone());
                answer(&path, &mut s);
            });
        }
    });
    (format!("http://{addr}/oeis"), requests)
}

/// Reads a request's head; returns its path.
fn read_request(s: &mut TcpStream) -> Option<String> {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        let k = s.read(&mut buf).ok()?;
        if k == 0 {
            return None;
        }
        req.extend_from_slice(&buf[..k]);
    }
    let head = String::from_utf8_lossy(&req).into_owned();
    head.split_whitespace().nth(1).map(str::to_string)
}

fn requests(r: &Requests) -> Vec<String> {
    r.lock().unwrap().clone()
}

/// A 200 answer with `body`, sent in `pieces` parts `pause` apart.
fn send(s: &mut TcpStream, body: &[u8], pieces: usize, pause: Duration) {
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let size = body.len().div_ceil(pieces.max(1)).max(1);
    for (i, part) in body.chunks(size).enumerate() {
        if i > 0 {
            std::thread::sleep(pause);
        }
        if s.write_all(part).and_then(|_| s.flush()).is_err() {
            return;
        }
    }
}

/// A 200 answer whose body never ends (zeros, as fast as the client takes them), with the given
/// Content-Length header or none.
fn endless(s: &mut TcpStream, content_length: Option<u64>) {
    let len = content_length
        .map(|n| format!("Content-Length: {n}\r\n"))
        .unwrap_or_default();
    let _ = write!(s, "HTTP/1.1 200 OK\r\n{len}Connection: close\r\n\r\n");
    let chunk = vec![0u8; 1 << 16];
    let t = Instant::now();
    while t.elapsed() < SERVER_LIFE && s.write_all(&chunk).is_ok() {}
}

/// A 200 answer of 1000 bytes sent at 2 bytes a second: never silent for long.
fn trickle(s: &mut TcpStream) {
    let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    let t = Instant::now();
    while t.elapsed() < SERVER_LIFE && s.write_all(b"\x1f\x8b").is_ok() {
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// `stripped` and `names` of three sequences with 40 terms each, with comment lines as the
/// OEIS's own files have.
fn oeis_text() -> (String, String) {
    let line = |a: &str, t: &dyn Fn(u32) -> u64| {
        let terms: Vec<String> = (0..40).map(|n| t(n).to_string()).collect();
        format!("{a} ,{},\n", terms.join(","))
    };
    let fib = |n: u32| {
        let (mut a, mut b) = (0u64, 1u64);
        for _ in 0..n {
            (a, b) = (b, a + b);
        }
        a
    };
    let header = "# Greetings from The On-Line Encyclopedia of Integer Sequences!\n#\n";
    let stripped = format!(
        "{header}{}{}{}",
        line("A000027", &|n| u64::from(n) + 1),
        line("A000045", &fib),
        line("A000079", &|n| 1u64 << n)
    );
    let names = format!(
        "{header}A000027 The positive integers.\nA000045 Fibonacci numbers: F(n) = F(n-1) + \
         F(n-2) with F(0) = 0 and F(1) = 1.\nA000079 Powers of 2: a(n) = 2^n.\n"
    );
    (stripped, names)
}

/// Serves the small OEIS files (`stripped.gz` in `pieces` parts `pause` apart).
fn oeis_server(pieces: usize, pause: Duration) -> (String, Requests) {
    let (stripped, names) = oeis_text();
    let (stripped, names) = (gz(stripped.as_bytes()), gz(names.as_bytes()));
    server(move |path, s| match path {
        "/oeis/stripped.gz" => send(s, &stripped, pieces, pause),
        "/oeis/names.gz" => send(s, &names, 1, Duration::ZERO),
        _ => {
            let _ = write!(s, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
    })
}

/// Every file under the store's `downloads/` (none when it does not exist).
fn download_files(p: &Project) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![p.store().join("downloads")];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Runs `seqsynth run stage=ingest ARGS`, asserts it fails; returns stderr and the wall time.
fn fails_timed(p: &Project, args: &[&str]) -> (String, Duration) {
    let t = Instant::now();
    let e = p.fails(&[&["run", "stage=ingest"], args].concat());
    (e, t.elapsed())
}

#[test]
fn an_endless_body_is_stopped_at_max_download_mb() {
    // no Content-Length: counted while copying, stopped past the cap
    let (url, reqs) = server(|_, s| endless(s, None));
    let p = Project::new(&config(&url, ""));
    let (e, took) = fails_timed(&p, &["ingest.max_download_mb=1"]);
    eprintln!("endless body, max_download_mb = 1: failed in {took:?}");
    assert!(
        e.contains("stopped when more than 1.0 MiB had arrived")
            && e.contains("ingest.max_download_mb = 1 MiB")
            && e.contains("the next run retries"),
        "{e}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(download_files(&p).is_empty(), "{:?}", download_files(&p));
    assert_eq!(requests(&reqs), ["/oeis/stripped.gz"]);

    // a Content-Length over the cap (the default one, 1024 MiB): refused before reading
    let (url, _) = server(|_, s| endless(s, Some(10 << 30)));
    let p = Project::new(&config(&url, ""));
    let (e, took) = fails_timed(&p, &[]);
    eprintln!("Content-Length 10 GiB, default cap: failed in {took:?}");
    assert!(
        e.contains("Content-Length: 10737418240")
            && e.contains("ingest.max_download_mb = 1024 MiB"),
        "{e}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(download_files(&p).is_empty(), "{:?}", download_files(&p));
}

#[test]
fn a_slow_steady_server_is_stopped_at_max_download_secs() {
    // 2 bytes a second: never silent for ingest.timeout_secs, but never done either
    let (url, _) = server(|_, s| trickle(s));
    let p = Project::new(&config(&url, ""));
    let (e, took) = fails_timed(&p, &["ingest.timeout_secs=3", "ingest.max_download_secs=2"]);
    eprintln!("2 bytes/s, max_download_secs = 2: failed in {took:?}");
    assert!(
        e.contains("not done within ingest.max_download_secs = 2 s")
            && e.contains("the next run retries"),
        "{e}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "took {took:?}"
    );
    assert!(download_files(&p).is_empty(), "{:?}", download_files(&p));
}

#[test]
fn a_gzipped_html_page_is_refused_and_asked_for_again() {
    let html = gz(
        b"<html><head><title>503 Service Unavailable</title></head>\n\
                   <body><h1>Service Unavailable</h1><p>Try again later.</p></body></html>\n",
    );
    let (url, reqs) = server(move |_, s| send(s, &html, 1, Duration::ZERO));
    let p = Project::new(&config(&url, ""));
    for run in 1..=2 {
        let (e, took) = fails_timed(&p, &[]);
        eprintln!("gzipped HTML, run {run}: failed in {took:?}");
        assert!(
            e.contains("did not serve OEIS stripped data")
                && e.contains("<html><head><title>503 Service Unavailable")
                && e.contains("the next run retries"),
            "{e}"
        );
        // not kept, so not marked complete: nothing at all under downloads/
        assert!(download_files(&p).is_empty(), "{:?}", download_files(&p));
    }
    // the second run asked the server again (and neither went on to names.gz)
    assert_eq!(requests(&reqs), ["/oeis/stripped.gz", "/oeis/stripped.gz"]);

    // a good stripped.gz beside an HTML names.gz: refused as well
    let (stripped, _) = oeis_text();
    let stripped = gz(stripped.as_bytes());
    let html = gz(b"<!DOCTYPE html>\n<html><body>Not here</body></html>\n");
    let (url, reqs) = server(move |path, s| {
        let body = if path.ends_with("stripped.gz") {
            &stripped
        } else {
            &html
        };
        send(s, body, 1, Duration::ZERO)
    });
    let (e, _) = fails_timed(&p, &[&format!("ingest.source={url}")]);
    assert!(
        e.contains("did not serve OEIS names data") && e.contains("<!DOCTYPE html>"),
        "{e}"
    );
    assert!(download_files(&p).is_empty(), "{:?}", download_files(&p));
    assert_eq!(requests(&reqs), ["/oeis/stripped.gz", "/oeis/names.gz"]);

    // the server fixed: the next run downloads and ingests
    let (url, _) = oeis_server(1, Duration::ZERO);
    p.ok(&["run", "stage=ingest", &format!("ingest.source={url}")]);
    assert_eq!(p.manifest("ingest")["counters"]["kept"], 3);
}

#[test]
fn a_gzip_bomb_is_refused() {
    // a small, valid gzip whose data (OEIS lines, then 65 MiB of blank lines) is more than
    // 64 × ingest.max_download_mb
    let (stripped, _) = oeis_text();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(stripped.as_bytes()).unwrap();
    let blank = vec![b'\n'; 1 << 20];
    for _ in 0..65 {
        e.write_all(&blank).unwrap();
    }
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "{} bytes", bomb.len());
    let (url, reqs) = server(move |_, s| send(s, &bomb, 1, Duration::ZERO));
    let p = Project::new(&config(&url, ""));
    let (e, took) = fails_timed(&p, &["ingest.max_download_mb=1"]);
    eprintln!("gzip bomb, max_download_mb = 1: failed in {took:?}");
    assert!(
        e.contains("decompresses to more than 64 MiB")
            && e.contains("ingest.max_download_mb = 1")
            && e.contains("the next run retries"),
        "{e}"
    );
    assert!(download_files(&p).is_empty(), "{:?}", download_files(&p));
    assert_eq!(requests(&reqs), ["/oeis/stripped.gz"]);
}

#[test]
fn a_small_oeis_download_still_ingests() {
    let (url, reqs) = oeis_server(1, Duration::ZERO);
    let p = Project::new(&config(&url, ""));
    p.ok(&["run", "stage=ingest"]);
    let m = p.manifest("ingest");
    assert_eq!(m["counters"]["sequences_read"], 3);
    assert_eq!(m["counters"]["kept"], 3);
    assert_eq!(requests(&reqs), ["/oeis/stripped.gz", "/oeis/names.gz"]);
    // kept and complete: the next run does not ask the server
    p.ok(&["run", "stage=ingest"]);
    assert_eq!(requests(&reqs).len(), 2);
    let files = download_files(&p);
    for f in ["stripped.gz", "names.gz", "complete"] {
        assert!(files.iter().any(|p| p.ends_with(f)), "{f} in {files:?}");
    }
}

#[test]
fn a_long_download_prints_progress_lines_unless_quiet() {
    // stripped.gz arrives in 13 parts a second apart: past the 10 s between progress lines
    let (url, _) = oeis_server(13, Duration::from_secs(1));
    let run = move |quiet: bool| {
        let url = url.clone();
        std::thread::spawn(move || {
            let p = Project::new(&config(&url, ""));
            let mut args = vec!["run", "stage=ingest"];
            if quiet {
                args.push("--quiet");
            }
            let t = Instant::now();
            let out = p.run(&args);
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "{err}");
            assert_eq!(p.manifest("ingest")["counters"]["kept"], 3);
            (err, t.elapsed())
        })
    };
    // both at once: the test takes the one download's time
    let (loud, quiet) = (run(false), run(true));
    let (loud, took) = loud.join().unwrap();
    let (quiet, _) = quiet.join().unwrap();
    eprintln!("slow download: {took:?}");
    let lines: Vec<&str> = loud
        .lines()
        .filter(|l| l.starts_with("ingest: downloading http://") && l.contains("/stripped.gz"))
        .collect();
    assert!(!lines.is_empty(), "no progress line in:\n{loud}");
    // bytes so far of the total, and the rate
    assert!(
        lines[0].contains(" B of ") && lines[0].contains("/s, "),
        "{}",
        lines[0]
    );
    assert!(
        loud.contains("ingest: downloaded http://") && loud.contains("/stripped.gz: "),
        "{loud}"
    );
    assert!(!quiet.contains("ingest: download"), "{quiet}");
}
