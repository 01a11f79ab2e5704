//! The enumerator against the DSL evaluator: brute force, known programs, determinism, budgets.

use super::*;
use crate::dsl::{Limits, Program};
use std::collections::HashMap;

fn settings(max_size: u32) -> Settings {
    Settings {
        max_size,
        max_seconds: 0.0,
        max_bytes: 1 << 34,
        fold_size: 2,
        ops: OPS.to_vec(),
        folds: IndexSet::ALL.to_vec(),
        per_target: 2,
        inverse_size: 0,
        loops: None,
        match_len: 0,
        costs: UNIFORM,
        deep: false,
    }
}

fn evaluator(len: usize) -> Evaluator {
    Evaluator::new(Limits {
        input_len: len,
        ..Limits::default()
    })
}

/// Every program text of exactly each size up to `max`, with whether it has a fold, built here
/// independently of the enumerator's own spelling.
fn brute_force(max: u32) -> Vec<Vec<(String, bool)>> {
    let bin = ["+", "-", "*", "/", "%", "**", "min", "max"];
    let preds = ["< ( #2 + ( #1 1 ) )", "< ( #2 #1 )", "== ( % ( #1 #2 ) 0 )"];
    let mut by: Vec<Vec<(String, bool)>> = vec![Vec::new(); max as usize + 1];
    by[1] = std::iter::once("#1".to_string())
        .chain((0..10).map(|c| c.to_string()))
        .map(|t| (t, false))
        .collect();
    for s in 2..=max as usize {
        let mut level = Vec::new();
        for (a, f) in &by[s - 1] {
            level.push((format!("sqrt ( {a} )"), *f));
        }
        for i in 1..s - 1 {
            for (a, fa) in &by[i] {
                for (b, fb) in &by[s - 1 - i] {
                    for op in bin {
                        level.push((format!("{op} ( {a} {b} )"), *fa || *fb));
                    }
                }
            }
        }
        if s > 2 {
            for (body, folded) in &by[s - 2] {
                if *folded {
                    continue;
                }
                let inner = body
                    .split(' ')
                    .map(|t| if t == "#1" { "#3" } else { t })
                    .collect::<Vec<_>>()
                    .join(" ");
                for p in preds {
                    for (op, init) in [("+", 0), ("*", 1)] {
                        level.push((
                            format!(
                                "reduce ( filter ( lambda [ #2 ] ( {p} ) #0 ) {init} lambda [ #2 #3 ] ( {op} ( #2 {inner} ) ) )"
                            ),
                            true,
                        ));
                    }
                }
            }
        }
        by[s] = level;
    }
    by
}

fn wrap(e: &str) -> String {
    format!("lambda [ #0 ] ( map ( lambda [ #1 ] ( {e} ) #0 ) )")
}

#[test]
fn pruning_keeps_exactly_one_smallest_program_per_distinct_vector() {
    const MAX: u32 = 5;
    let ev = evaluator(8);
    // brute force: the smallest size of every valid vector
    let mut smallest: HashMap<Vec<Num>, u32> = HashMap::new();
    let mut programs = 0;
    for (size, level) in brute_force(MAX).iter().enumerate().skip(1) {
        for (e, _) in level {
            programs += 1;
            let p: Program = wrap(e).parse().unwrap_or_else(|err| panic!("{e}: {err}"));
            if let Ok(v) = ev.eval(&p) {
                smallest.entry(v).or_insert(size as u32);
            }
        }
    }
    assert!(programs > 100_000, "{programs} programs");
    let kept = distinct(&settings(MAX), &ev, 5).unwrap();
    let mut seen: HashMap<Vec<Num>, u32> = HashMap::new();
    for (size, program, vals) in &kept {
        // every kept program re-evaluates through the DSL evaluator to its vector
        let got = ev.eval(&program.parse().unwrap()).unwrap();
        assert_eq!(&got, vals, "{program}");
        assert!(
            seen.insert(vals.clone(), *size).is_none(),
            "{program}: kept twice"
        );
        assert_eq!(
            smallest.get(vals),
            Some(size),
            "{program}: not the smallest size of its vector"
        );
    }
    assert_eq!(
        seen.len(),
        smallest.len(),
        "the distinct vectors of brute force and of the enumerator"
    );
}

fn targets(len: usize) -> Vec<(&'static str, Vec<Num>)> {
    let n = || (1..=len as i64).map(num_bigint::BigInt::from);
    let nums = |v: Vec<num_bigint::BigInt>| v.into_iter().map(Num::from).collect::<Vec<_>>();
    let fact = |k: i64| {
        (1..=k)
            .map(num_bigint::BigInt::from)
            .product::<num_bigint::BigInt>()
    };
    vec![
        ("squares", nums(n().map(|k| &k * &k).collect())),
        (
            "powers of two",
            nums(
                n().map(|k| num_bigint::BigInt::from(2).pow(k.try_into().unwrap()))
                    .collect(),
            ),
        ),
        ("triangular", nums(n().map(|k| &k * (&k + 1) / 2).collect())),
        (
            "divisors",
            nums(
                (1..=len as i64)
                    .map(|k| (1..=k).filter(|d| k % d == 0).count().into())
                    .collect(),
            ),
        ),
        (
            "factorial squared",
            nums((1..=len as i64).map(|k| fact(k) * fact(k)).collect()),
        ),
    ]
}

#[test]
fn known_programs_are_found_at_their_sizes() {
    let len = 20;
    let ev = evaluator(len);
    let ts = targets(len);
    let out = enumerate(
        &settings(5),
        &ev,
        14,
        ts.iter().map(|(_, v)| v.clone()).collect(),
        &|_| {},
    )
    .unwrap();
    let want = [
        ("squares", 3, "* ( #1 #1 )"),
        ("powers of two", 3, "** ( 2 #1 )"),
        ("triangular", 3, "reduce ( filter"),
        ("divisors", 3, "== ( % ( #1 #2 ) 0 )"),
        // (n!)^2: the prefix product n! squared
        (
            "factorial squared",
            5,
            "reduce ( filter ( lambda [ #2 ] ( < ( #2 + ( #1 1 ) ) ) #0 ) 1 * )",
        ),
    ];
    for ((name, size, part), (tname, terms)) in want.iter().zip(&ts) {
        assert_eq!(name, tname);
        let c = &out.candidates[ts.iter().position(|t| t.0 == *name).unwrap()];
        let best = c.first().unwrap_or_else(|| panic!("{name}: no candidate"));
        assert_eq!(best.category, Category::All, "{name}: {best:?}");
        assert_eq!(best.size, *size, "{name}: {}", best.program);
        assert!(best.program.contains(part), "{name}: {}", best.program);
        assert_eq!(&ev.eval(&best.program.parse().unwrap()).unwrap(), terms);
    }
    // (20!)^2 is past i64: the exact path found it
    assert!(ts[4].1.iter().any(|v| v.as_i64().is_none()));
}

#[test]
fn the_inverse_step_finds_a_sum_past_the_stored_levels() {
    // n^2 + 2^n + 7 is of size 9 (7 nodes stored at most with max_size 6 ... plus the inverse)
    let len = 16;
    let ev = evaluator(len);
    let t: Vec<Num> = (1..=len as i64)
        .map(|n| Num::from(n * n + (1i64 << n) + 7))
        .collect();
    let mut s = settings(6);
    let none = enumerate(&s, &ev, 10, vec![t.clone()], &|_| {}).unwrap();
    assert!(none.candidates[0].is_empty(), "{:?}", none.candidates[0]);
    s.inverse_size = 3;
    let out = enumerate(&s, &ev, 10, vec![t.clone()], &|_| {}).unwrap();
    let best = &out.candidates[0][0];
    assert_eq!(best.category, Category::All, "{best:?}");
    assert_eq!(&ev.eval(&best.program.parse().unwrap()).unwrap(), &t);
    assert!(out.inverse.as_ref().unwrap().solved_all == 1);
}

/// Per level: size, evaluated, errors, new, store bytes.
type LevelFigures = Vec<(u32, u64, u64, u64, u64)>;

fn figures(o: &Outcome) -> (LevelFigures, Vec<Vec<Candidate>>, u32) {
    let levels = o
        .levels
        .iter()
        .map(|l| (l.size, l.evaluated, l.errors, l.new, l.store_bytes))
        .collect();
    (levels, o.candidates.clone(), o.completed)
}

#[test]
fn the_same_output_for_one_and_two_threads() {
    let len = 20;
    let ev = evaluator(len);
    let ts: Vec<Vec<Num>> = targets(len).into_iter().map(|t| t.1).collect();
    let mut s = settings(7);
    s.inverse_size = 3;
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| enumerate(&s, &ev, 14, ts.clone(), &|_| {}).unwrap())
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(figures(&one), figures(&two));
    assert!(one.levels.last().unwrap().cumulative > 10_000);
}

#[test]
fn each_budget_stops_at_a_level_boundary() {
    let len = 20;
    let ev = evaluator(len);
    let ts: Vec<Vec<Num>> = targets(len).into_iter().map(|t| t.1).collect();
    let check = |o: &Outcome| {
        // the levels are whole: every size up to the last one completed, none after it
        let sizes: Vec<u32> = o.levels.iter().map(|l| l.size).collect();
        assert_eq!(sizes, (1..=o.completed).collect::<Vec<_>>());
        for c in o.candidates.iter().flatten() {
            assert!(c.size <= o.completed, "{c:?}");
        }
    };
    // max_size: the last level is matched only
    let o = enumerate(&settings(6), &ev, 14, ts.clone(), &|_| {}).unwrap();
    check(&o);
    assert_eq!((o.stop, o.completed), (Stop::MaxSize, 6));
    assert_eq!(o.levels.last().unwrap().mode, "matched");

    // memory: the level that would not fit is matched only, and nothing stored passes the limit
    let mut s = settings(9);
    s.max_bytes = 2_000_000;
    let o = enumerate(&s, &ev, 14, ts.clone(), &|_| {}).unwrap();
    check(&o);
    assert_eq!(o.stop, Stop::Memory, "{}", o.reason);
    assert!(o.completed < 9);
    assert_eq!(o.levels.last().unwrap().mode, "matched");
    for l in &o.levels {
        assert!(l.store_bytes <= s.max_bytes, "{l:?}");
    }
    assert!(o.reason.contains("max_bytes"), "{}", o.reason);

    // wall time: a level that passes the limit is discarded, the ones before it are kept
    let mut s = settings(9);
    s.max_seconds = 1e-9;
    let o = enumerate(&s, &ev, 14, ts.clone(), &|_| {}).unwrap();
    check(&o);
    assert_eq!((o.stop, o.completed), (Stop::Time, 1), "{}", o.reason);
    assert!(o.reason.contains("max_seconds"), "{}", o.reason);
}

#[test]
fn the_step_budget_is_the_evaluators() {
    // a fold costs about 2 + 3L + n(2 + body) steps at position n: with a tight budget the
    // enumerator must reject exactly the programs the evaluator rejects
    let len = 10;
    let ev = Evaluator::new(Limits {
        input_len: len,
        max_steps: 600,
        ..Limits::default()
    });
    for (_, program, vals) in distinct(&settings(5), &ev, 6).unwrap() {
        let p: Program = program.parse().unwrap();
        assert_eq!(ev.eval(&p).as_ref(), Ok(&vals), "{program}");
    }
    // and keeps the folds that fit: a sum over the prefix of 10 costs 1 + 10 + 10*(2 + 3*10)
    // + 2*55 = 441 steps
    let kept = distinct(&settings(3), &ev, 6).unwrap();
    assert!(kept.iter().any(|(_, p, _)| p.contains("reduce")));
    let tight = Evaluator::new(Limits {
        input_len: len,
        max_steps: 300,
        ..Limits::default()
    });
    let kept = distinct(&settings(3), &tight, 6).unwrap();
    assert!(!kept.iter().any(|(_, p, _)| p.contains("reduce")));
}

#[test]
fn every_kept_program_holds_under_a_tiny_bound() {
    // with values bounded by 10, the prefix predicate's n + 1 and the divisors predicate's n mod k
    // overflow for n >= 10: those folds are left out, and every kept program is what the
    // evaluator computes
    let ev = Evaluator::new(Limits {
        input_len: 12,
        max_abs_exp: 1,
        ..Limits::default()
    });
    let kept = distinct(&settings(4), &ev, 8).unwrap();
    for (_, program, vals) in &kept {
        assert_eq!(
            ev.eval(&program.parse().unwrap()).as_ref(),
            Ok(vals),
            "{program}"
        );
    }
    assert!(!kept
        .iter()
        .any(|(_, p, _)| p.contains("% ( #1 #2 )") || p.contains("+ ( #1 1 )")));
}

/// Targets with many matches of every kind: polynomials, powers and sums of both (some only
/// the inverse step reaches), and near misses that agree on the prefix only.
fn many_targets(len: usize) -> Vec<Vec<Num>> {
    let mut ts: Vec<Vec<Num>> = targets(len).into_iter().map(|t| t.1).collect();
    for c in 0..12i64 {
        let f = |n: i64| -> [i64; 4] {
            [
                n * n + c,
                c * n + (1i64 << n) - 1,
                n * n * n - c * n,
                (n / 2) * c + n,
            ]
        };
        for k in 0..4 {
            ts.push((1..=len as i64).map(|n| Num::from(f(n)[k])).collect());
        }
        // the squares, then off by c on the window
        ts.push(
            (1..=len as i64)
                .map(|n| Num::from(n * n + if n > 10 { c + 1 } else { 0 }))
                .collect(),
        );
    }
    ts
}

/// What an outcome says, wall times and memory left out.
fn whole_figures(o: &Outcome) -> String {
    let levels: Vec<String> = o.levels.iter().map(Level::figures).collect();
    let inverse = o
        .inverse
        .as_ref()
        .map(|i| (i.found, i.solved_window, i.solved_all));
    format!(
        "{levels:?} {inverse:?} {:?} {} {} {:?}",
        o.stop, o.completed, o.reason, o.candidates
    )
}

fn sharded(s: &Settings, ev: &Evaluator, ts: &[Vec<Num>], count: u32) -> Outcome {
    let parts: Vec<ShardPart> = (0..count)
        .map(|index| {
            let (_, p) = enumerate_part(
                s,
                ev,
                10,
                ts.to_vec(),
                &|_| {},
                Part::Shard { index, count },
            )
            .unwrap();
            p.expect("a shard's part")
        })
        .collect();
    // every shard did its part of the last level: together, the whole level's work
    assert!(parts.iter().all(|p| p.size == parts[0].size));
    enumerate_part(s, ev, 10, ts.to_vec(), &|_| {}, Part::Merge(&parts))
        .unwrap()
        .0
}

#[test]
fn shards_merge_into_the_unsharded_outcome() {
    let len = 16;
    let ev = evaluator(len);
    let ts = many_targets(len);
    let mut cases = Vec::new();
    // the last level at max_size, with the inverse step
    let mut s = settings(6);
    s.inverse_size = 3;
    cases.push(s.clone());
    // the last level where memory ends the enumeration
    s.max_size = 9;
    s.max_bytes = 2_000_000;
    cases.push(s.clone());
    // one level only: the leaves, which one shard computes
    cases.push(settings(1));
    for s in &cases {
        let whole = enumerate(s, &ev, 10, ts.clone(), &|_| {}).unwrap();
        let want = whole_figures(&whole);
        assert!(whole.candidates.iter().any(|c| !c.is_empty()), "{want}");
        if s.max_size > 1 {
            assert!(whole.candidates.iter().any(|c| c.len() > 1), "{want}");
        }
        for count in [1, 2, 3, 7] {
            assert_eq!(
                whole_figures(&sharded(s, &ev, &ts, count)),
                want,
                "{count} shards of max_size {} max_bytes {}",
                s.max_size,
                s.max_bytes
            );
        }
    }
    // the case with the inverse step had matches in the last level and the inverse step, and
    // they came from more than one shard
    let s = &cases[0];
    let parts: Vec<ShardPart> = (0..2)
        .map(|index| {
            enumerate_part(
                s,
                &ev,
                10,
                ts.clone(),
                &|_| {},
                Part::Shard { index, count: 2 },
            )
            .unwrap()
            .1
            .unwrap()
        })
        .collect();
    let whole = whole_evaluated(s, &ev, &ts);
    for p in &parts {
        assert!(p.hits.iter().any(|h| h.inverse), "{p:?}");
        assert!(p.evaluated > 0 && p.evaluated < whole, "{p:?}");
    }
    assert_eq!(parts.iter().map(|p| p.evaluated).sum::<u64>(), whole);
    assert!(parts.iter().any(|p| p.hits.iter().any(|h| !h.inverse)));
}

fn whole_evaluated(s: &Settings, ev: &Evaluator, ts: &[Vec<Num>]) -> u64 {
    let o = enumerate(s, ev, 10, ts.to_vec(), &|_| {}).unwrap();
    o.levels.last().unwrap().evaluated
}

#[test]
fn a_merge_refuses_parts_of_another_enumeration() {
    let len = 16;
    let ev = evaluator(len);
    let ts = many_targets(len);
    let part = |s: &Settings| {
        enumerate_part(
            s,
            &ev,
            10,
            ts.clone(),
            &|_| {},
            Part::Shard { index: 0, count: 1 },
        )
        .unwrap()
        .1
        .unwrap()
    };
    let mut s = settings(5);
    // parts of a smaller enumeration: they matched another level
    let small = part(&settings(4));
    let err = enumerate_part(&s, &ev, 10, ts.clone(), &|_| {}, Part::Merge(&[small]))
        .err()
        .unwrap();
    assert!(err.contains("matched size 4"), "{err}");
    // parts without the inverse step, for a merge with one
    let plain = part(&s);
    s.inverse_size = 2;
    let err = enumerate_part(&s, &ev, 10, ts.clone(), &|_| {}, Part::Merge(&[plain]))
        .err()
        .unwrap();
    assert!(err.contains("no inverse step"), "{err}");
    // a match for a target the merge does not have
    let mut far = part(&settings(5));
    far.hits[0].target = 10_000;
    let err = enumerate_part(&s, &ev, 10, ts.clone(), &|_| {}, Part::Merge(&[far]))
        .err()
        .unwrap();
    assert!(err.contains("target 10000"), "{err}");
    // no parts; a shard past the count
    assert!(enumerate_part(&s, &ev, 10, ts.clone(), &|_| {}, Part::Merge(&[])).is_err());
    let err = enumerate_part(&s, &ev, 10, ts, &|_| {}, Part::Shard { index: 2, count: 2 })
        .err()
        .unwrap();
    assert!(err.contains("no such shard"), "{err}");
}

#[test]
fn a_shard_that_runs_out_of_time_fails() {
    let len = 16;
    let ev = evaluator(len);
    let mut s = settings(9);
    s.max_seconds = 1e-9;
    let err = enumerate_part(
        &s,
        &ev,
        10,
        many_targets(len),
        &|_| {},
        Part::Shard { index: 0, count: 2 },
    )
    .err()
    .unwrap();
    assert!(err.contains("max_seconds"), "{err}");
}

/// The terms of a program on `#0 = [1..len]` (a test's target).
fn terms_of(src: &str, len: usize) -> Vec<Num> {
    let limits = Limits {
        input_len: len,
        max_steps: 10_000_000,
        ..Limits::default()
    };
    crate::dsl::eval(&Program::parse(src).unwrap(), &limits).unwrap()
}

#[test]
fn the_loops_families_find_recurrences_at_their_sizes() {
    let ev = evaluator(35);
    let mut s = settings(3);
    // small enough for a debug build: the defaults take minutes there
    s.loops = Some(family::LoopsSettings {
        loop_body: 5,
        loop2_body: 3,
        loop2_pair: 4,
        init_max: 2,
        pair_init_max: 1,
        nth_expr: 0,
        linrec_order: 0,
        hyper_degree: 0,
        precur_degree: 0,
        quasi_period: 0,
        quasi_degree: 0,
        decimal_digits: 0,
    });
    let targets: Vec<(&str, Vec<Num>)> = vec![
        // Fibonacci from F(1): loop2 with the shift
        (
            "fibonacci",
            terms_of(&wrap("loop2 ( + lambda [ #2 #3 ] ( #2 ) #1 1 0 )"), 60),
        ),
        // Lucas numbers 1, 3, 4, 7, 11, ...
        (
            "lucas",
            terms_of(
                &wrap("loop2 ( + lambda [ #2 #3 ] ( #2 ) - ( #1 1 ) 1 2 )"),
                60,
            ),
        ),
        // a linear recurrence with a constant term: a(n) = 3 a(n-1) - 2, from 2
        (
            "affine",
            terms_of(
                &wrap("loop ( lambda [ #2 #3 ] ( - ( * ( 3 #2 ) 2 ) ) - ( #1 1 ) 2 )"),
                40,
            ),
        ),
        // n! through the index
        ("factorial", terms_of(&wrap("loop ( * #1 1 )"), 40)),
    ];
    let names: Vec<&str> = targets.iter().map(|t| t.0).collect();
    let out = enumerate(
        &s,
        &ev,
        25,
        targets.into_iter().map(|t| t.1).collect(),
        &|_| {},
    )
    .unwrap();
    assert_eq!(out.families.len(), 2);
    for f in &out.families {
        assert_eq!(f.unconfirmed, 0, "{f:?}");
        assert!(f.confirmed > 0, "{f:?}");
    }
    for (name, cands) in names.iter().zip(&out.candidates) {
        let best = cands
            .iter()
            .find(|c| c.category == Category::All)
            .unwrap_or_else(|| panic!("{name}: no all-terms candidate in {cands:?}"));
        // and it holds past the 35 terms it was matched on
        let p: Program = best.program.parse().unwrap();
        let long = Evaluator::new(Limits {
            input_len: 40,
            max_steps: 10_000_000,
            ..Limits::default()
        });
        let want = terms_of(&best.program, 40);
        assert_eq!(long.eval(&p).unwrap(), want, "{name}: {}", best.program);
        assert!(
            best.size <= 12,
            "{name}: {} of size {}",
            best.program,
            best.size
        );
    }
}

#[test]
fn the_nth_family_finds_the_primes_and_numbers_k_with_k2_plus_1_prime() {
    let ev = Evaluator::new(Limits {
        input_len: 35,
        max_steps: 2_000_000,
        ..Limits::default()
    });
    let mut s = settings(3);
    s.loops = Some(family::LoopsSettings {
        loop_body: 0,
        loop2_body: 0,
        nth_expr: 5,
        linrec_order: 0,
        hyper_degree: 0,
        precur_degree: 0,
        quasi_period: 0,
        ..family::LoopsSettings::default()
    });
    let prime = |p: i64| p >= 2 && (2..p).take_while(|d| d * d <= p).all(|d| p % d != 0);
    let primes: Vec<Num> = (0..)
        .filter(|&p| prime(p))
        .take(40)
        .map(Num::Small)
        .collect();
    let k2: Vec<Num> = (1..)
        .filter(|&k| prime(k * k + 1))
        .take(40)
        .map(Num::Small)
        .collect();
    // k = 1 mod 4, a comparison form
    let mod4: Vec<Num> = (0..)
        .filter(|k| k % 4 == 1)
        .take(40)
        .map(Num::Small)
        .collect();
    let out = enumerate(&s, &ev, 25, vec![primes, k2, mod4], &|_| {}).unwrap();
    let nth = &out.families[0];
    assert_eq!((nth.family, nth.unconfirmed), ("nth", 0), "{nth:?}");
    for (name, cands) in ["primes", "k^2+1 prime", "1 mod 4"]
        .iter()
        .zip(&out.candidates)
    {
        let best = cands
            .iter()
            .find(|c| c.category == Category::All)
            .unwrap_or_else(|| panic!("{name}: no all-terms candidate in {cands:?}"));
        assert!(best.program.contains("nth"), "{name}: {}", best.program);
    }
}

#[test]
fn a_longer_equivalence_window_keeps_what_is_right_past_the_matched_terms() {
    // t(n) = n mod 36: n up to 35, then 0, 1, 2, ... On terms 1..35 it is `#1`.
    let target = terms_of(&wrap("% ( #1 ** ( 6 2 ) )"), 60);
    let mut s = settings(5);
    s.per_target = 1;
    let short = enumerate(&s, &evaluator(35), 25, vec![target.clone()], &|_| {}).unwrap();
    let all = |o: &Outcome| {
        o.candidates[0]
            .iter()
            .find(|c| c.category == Category::All)
            .map(|c| c.program.clone())
    };
    assert_eq!(all(&short).as_deref(), Some(wrap("#1").as_str()));
    // vectors of 45 terms, matched on 35: `#1` is a window match now, the right one all-terms
    s.match_len = 35;
    let long = enumerate(&s, &evaluator(45), 25, vec![target.clone()], &|_| {}).unwrap();
    let program = all(&long).expect("an all-terms candidate");
    let got = terms_of(&program, 60);
    assert_eq!(got, target, "{program}");
    // a target with fewer known terms than the vectors is matched on those it has
    let few = target[..40].to_vec();
    let long = enumerate(&s, &evaluator(45), 25, vec![few], &|_| {}).unwrap();
    assert_eq!(terms_of(&all(&long).unwrap(), 40), target[..40].to_vec());
}

#[test]
fn the_linrec_family_solves_recurrences_the_small_families_cannot() {
    let ev = Evaluator::new(Limits {
        input_len: 35,
        max_steps: 2_000_000,
        ..Limits::default()
    });
    let mut s = settings(3);
    s.loops = Some(family::LoopsSettings {
        loop_body: 0,
        loop2_body: 0,
        loop2_pair: 0,
        nth_expr: 0,
        linrec_order: 4,
        hyper_degree: 0,
        precur_degree: 0,
        quasi_period: 0,
        ..family::LoopsSettings::default()
    });
    let run = |coefs: &[i64], c: i64, init: &[i64], n: usize| -> Vec<Num> {
        let mut a: Vec<i128> = init.iter().map(|&x| x as i128).collect();
        while a.len() < n {
            let k = a.len();
            let v = c as i128
                + coefs
                    .iter()
                    .enumerate()
                    .map(|(i, &ci)| ci as i128 * a[k - 1 - i])
                    .sum::<i128>();
            a.push(v);
        }
        a.into_iter().map(Num::from).collect()
    };
    let targets = vec![
        // order 2 with a constant and coefficients no small body has: 7 a(n-1) - 12 a(n-2) + 5
        run(&[7, -12], 5, &[2, 9], 35),
        // order 3 with the root 1: partial sums of the Pell numbers 3 a(n-1) - a(n-2) - a(n-3)
        run(&[3, -1, -1], 0, &[1, 3, 8], 35),
        // tribonacci: no integer root, no program
        run(&[1, 1, 1], 0, &[1, 1, 2], 35),
    ];
    let out = enumerate(&s, &ev, 25, targets.clone(), &|_| {}).unwrap();
    let fig = out.families.iter().find(|f| f.family == "linrec").unwrap();
    assert_eq!(fig.unconfirmed, 0, "{fig:?}");
    for (i, want) in targets.iter().enumerate().take(2) {
        let best = out.candidates[i]
            .iter()
            .find(|c| c.category == Category::All)
            .unwrap_or_else(|| panic!("target {i}: no all-terms candidate"));
        assert!(best.program.contains("loop"), "{}", best.program);
        assert_eq!(&terms_of(&best.program, 35), want, "{}", best.program);
    }
    assert!(
        out.candidates[2]
            .iter()
            .all(|c| c.category != Category::All || !c.program.contains("loop")),
        "{:?}",
        out.candidates[2]
    );
}

/// The cost of an enumerated expression, computed from its text: leaves 1, a primitive its cost
/// plus its arguments' (no folds).
fn cost_of(e: &crate::dsl::Expr, costs: &[u32; 9]) -> u32 {
    use crate::dsl::Expr;
    match e {
        Expr::Const(_) | Expr::Var(_) => 1,
        Expr::App(p, args) => {
            let i = OPS
                .iter()
                .position(|o| o == p)
                .expect("an enumerated primitive");
            costs[i] + args.iter().map(|a| cost_of(a, costs)).sum::<u32>()
        }
        other => panic!("not an enumerated expression: {other:?}"),
    }
}

/// The body `E` of `map ( lambda [ #1 ] ( E ) #0 )`.
fn map_body(p: &Program) -> &crate::dsl::Expr {
    use crate::dsl::Expr;
    let Expr::App(_, args) = &p.body else {
        panic!("not a map: {p}")
    };
    match &args[0] {
        Expr::Lambda { body, .. } => body,
        other => panic!("not a lambda: {other:?}"),
    }
}

#[test]
fn a_level_is_a_cost_under_costs() {
    let ev = evaluator(12);
    let mut s = settings(7);
    s.folds.clear();
    // `+` and `*` cheap, the others dear (Probe's costs)
    s.costs = [1, 2, 1, 3, 3, 4, 3, 3, 2];
    let all = distinct(&s, &ev, 6).unwrap();
    assert!(all.len() > 1000, "{}", all.len());
    let mut dear = 0;
    for (level, text, _) in &all {
        let p = Program::parse(text).unwrap();
        assert_eq!(cost_of(map_body(&p), &s.costs), *level, "{text}");
        dear += text.contains("**") as usize;
    }
    // uniform costs: the level is the size in nodes, and the two differ
    let uniform = distinct(&settings(7), &ev, 6).unwrap();
    let of = |v: &[(u32, String, Vec<Num>)], n: u32| v.iter().filter(|x| x.0 == n).count();
    assert_ne!(of(&all, 5), of(&uniform, 5));
    assert!(
        dear > 0,
        "a dear primitive still appears at the higher levels"
    );
    // a cost of 0 is refused
    s.costs[0] = 0;
    assert!(distinct(&s, &ev, 6).unwrap_err().contains("cost"));
}

#[test]
fn deep_levels_match_past_the_memory_bound() {
    let len = 20;
    let ev = evaluator(len);
    let ts = many_targets(len);
    let mut s = settings(10);
    s.max_bytes = 2_000_000;
    let bound = enumerate(&s, &ev, 14, ts.clone(), &|_| {}).unwrap();
    assert_eq!(bound.stop, Stop::Memory, "{}", bound.reason);
    let last = bound.completed;
    assert!(last < 9, "{}", bound.reason);
    s.deep = true;
    let deep = enumerate(&s, &ev, 14, ts.clone(), &|_| {}).unwrap();
    let modes: Vec<&str> = deep.levels.iter().map(|l| l.mode).collect();
    assert_eq!(deep.levels.len(), 10, "{modes:?} {}", deep.reason);
    assert!(
        modes[last as usize..].iter().all(|&m| m == "matched"),
        "{modes:?}"
    );
    assert!(deep.reason.contains("stored sizes"), "{}", deep.reason);
    for l in &deep.levels {
        assert!(l.store_bytes <= s.max_bytes, "{l:?}");
    }
    // everything the bounded run found, and more, from the deeper levels
    let solved = |o: &Outcome| -> Vec<bool> {
        o.candidates
            .iter()
            .map(|c| c.iter().any(|c| c.category == Category::All))
            .collect()
    };
    let (a, b) = (solved(&bound), solved(&deep));
    assert!(a.iter().zip(&b).all(|(x, y)| !x || *y));
    assert!(b.iter().filter(|&&x| x).count() > a.iter().filter(|&&x| x).count());
    assert!(deep
        .candidates
        .iter()
        .flatten()
        .any(|c| c.size > last && c.category == Category::All));
    // each is right: the program reproduces its target
    for (t, cs) in deep.candidates.iter().enumerate() {
        for c in cs.iter().filter(|c| c.category == Category::All) {
            let out = ev.eval(&Program::parse(&c.program).unwrap()).unwrap();
            assert_eq!(out, ts[t], "{}", c.program);
        }
    }
    // a shard refuses to go deep
    let part = enumerate_part(&s, &ev, 14, ts, &|_| {}, Part::Shard { index: 0, count: 2 });
    let Err(e) = part else {
        panic!("a shard went deep")
    };
    assert!(e.contains("enumerate.deep"), "{e}");
}
