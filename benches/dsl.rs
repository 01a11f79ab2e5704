//! DSL throughput: sampled programs per second and program evaluations per second, on one core
//! and on all cores, next to the same programs run through their Python rendering.
//!
//! `cargo bench --bench dsl` (results in docs/perf.md). `SEQSYNTH_BENCH_N` sets the number of
//! programs (default 20000); Python runs the first `SEQSYNTH_BENCH_PY` of them (default 2000).

use rayon::prelude::*;
use seqsynth::dsl::sample::{rng_for, sample_program};
use seqsynth::dsl::{python, Evaluator, Limits, Program};
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

fn main() {
    let n = env("SEQSYNTH_BENCH_N", 20_000);
    let n_py = env("SEQSYNTH_BENCH_PY", 2_000).min(n);
    let limits = Limits::default();
    let ev = Evaluator::new(limits.clone());
    let cores = rayon::current_num_threads();
    println!(
        "dsl bench: {n} programs (max_len 48, L 35, max_steps {}), {cores} cores",
        limits.max_steps
    );

    let mut programs: Vec<Program> = Vec::new();
    for (label, threads) in [("1 core", 1), ("all cores", cores)] {
        let t = Instant::now();
        programs = pool(threads).install(|| {
            (0..n as u64)
                .into_par_iter()
                .map(|i| sample_program(&mut rng_for(1, i), 48, seqsynth::dsl::Dialect::Paper))
                .collect()
        });
        let s = t.elapsed().as_secs_f64();
        println!("  sample  {label:>9}: {:>10.0} programs/s", n as f64 / s);
    }
    let mut ok = 0;
    for (label, threads) in [("1 core", 1), ("all cores", cores)] {
        let t = Instant::now();
        ok = pool(threads).install(|| programs.par_iter().filter(|p| ev.eval(p).is_ok()).count());
        let s = t.elapsed().as_secs_f64();
        println!(
            "  eval    {label:>9}: {:>10.0} programs/s ({ok} of {n} without error)",
            n as f64 / s
        );
    }
    let _ = ok;

    // The same first n_py programs, Rust on one core vs Python, both timed in-process.
    let subset = &programs[..n_py];
    let t = Instant::now();
    for p in subset {
        let _ = ev.eval(p);
    }
    let rust_s = t.elapsed().as_secs_f64();
    let script = python::batch_script(subset, &limits, true);
    let stdout = match python::run_python3(&script) {
        Ok(s) => s,
        Err(e) => {
            println!("  python: not run ({e})");
            return;
        }
    };
    let py_s: f64 = stdout.trim().parse().unwrap_or(f64::NAN);
    println!(
        "  eval of the first {n_py}: rust 1 core {:.0}/s, python {:.0}/s, ratio {:.1}x",
        n_py as f64 / rust_s,
        n_py as f64 / py_s,
        py_s / rust_s
    );
}
