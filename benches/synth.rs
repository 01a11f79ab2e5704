//! Synth throughput: unique (sequence, program) pairs per second at 10k and at a larger scale
//! (1M by default, the scale of d'Ascoli et al.), with peak memory.
//!
//! `cargo bench --bench synth` (results in docs/perf.md). `SEQSYNTH_BENCH_PAIRS` is a comma list
//! of scales (default "10000,1000000").

use seqsynth::dsl::{Evaluator, Limits};
use seqsynth::pipeline::config::SynthConfig;
use seqsynth::stages::synth::{generate, write_pairs};
use std::time::Instant;

/// Peak resident memory of this process so far (VmHWM), in MiB.
fn peak_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() {
    let scales: Vec<usize> = std::env::var("SEQSYNTH_BENCH_PAIRS")
        .unwrap_or_else(|_| "10000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let ev = Evaluator::new(Limits::default());
    println!(
        "synth bench: constrained flavour, max_len 48, L 35, {} cores",
        rayon::current_num_threads()
    );
    for pairs in scales {
        let cfg = SynthConfig {
            pairs,
            validation: 0,
            max_draws_factor: 100_000,
            ..SynthConfig::default()
        };
        let t = Instant::now();
        let g = generate(
            &cfg,
            0,
            seqsynth::stages::synth::Grammar {
                max_len: 48,
                dialect: seqsynth::dsl::Dialect::Paper,
            },
            &ev,
            true,
        )
        .unwrap();
        let gen_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let dir = tempfile::tempdir().unwrap();
        write_pairs(&dir.path().join("p.parquet"), &g.pairs).unwrap();
        let write_s = t.elapsed().as_secs_f64();
        println!(
            "  {pairs:>8} pairs: {:.1}s ({:.0} pairs/s, {} draws, {:.2}% accepted), parquet {:.1}s, peak RSS {:.0} MiB",
            gen_s,
            pairs as f64 / gen_s,
            g.counts["draws"],
            100.0 * pairs as f64 / g.counts["draws"] as f64,
            write_s,
            peak_mib()
        );
    }
}
