//! Property tests for the DSL (issue 4): print∘parse identity, sampled programs are valid and
//! accepted token by token, the automaton never offers a dead end, and evaluation of hostile
//! input never panics and respects the step budget.

use proptest::prelude::*;
use seqsynth::dsl::automaton::State;
use seqsynth::dsl::sample::{rng_for, sample_tokens};
use seqsynth::dsl::token::{Prim, Token};
use seqsynth::dsl::types::{self, Type as Ty};
use seqsynth::dsl::{eval, Dialect, Evaluator, Expr, Limits, Program};

fn limits() -> Limits {
    Limits {
        max_steps: 20_000,
        ..Limits::default()
    }
}

/// From any reachable state, following the cheapest tokens completes the program in exactly
/// `min_completion` tokens: no offered token leads to a dead end.
fn completes(mut s: State) -> bool {
    let expect = s.min_completion();
    let mut n = 0;
    while !s.is_complete() {
        let Some(t) = s.fastest().nth(0) else {
            return false;
        };
        s.push(t).unwrap();
        n += 1;
    }
    n == expect
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn sampled_programs_are_valid(seed in any::<u64>(), max_len in 6usize..64) {
        let dialect = if seed % 2 == 0 { Dialect::Paper } else { Dialect::Loops };
        let tokens = sample_tokens(&mut rng_for(seed, 0), max_len, dialect);
        // accepted token by token; every offered alternative completes
        let mut s = State::for_dialect(dialect);
        for &t in &tokens {
            prop_assert!(s.allowed().contains(t));
            for alt in s.allowed().iter() {
                let mut s2 = s.clone();
                s2.push(alt).unwrap();
                prop_assert!(completes(s2), "dead end after {alt}");
            }
            s.push(t).unwrap();
        }
        prop_assert!(s.is_complete());
        // parses, type-checks with the tree checker, prints back to the same tokens
        let p = Program::from_tokens(&tokens).unwrap();
        types::check_in(&p, dialect).unwrap();
        prop_assert!(p.dialect() <= dialect);
        prop_assert_eq!(p.tokens(), tokens.clone());
        let text = p.to_string();
        prop_assert_eq!(Program::parse(&text).unwrap().to_string(), text);
        // evaluation terminates within the budget
        let l = limits();
        if let Err(e) = eval(&p, &l) {
            prop_assert!(e.steps <= l.max_steps + 1);
        }
    }

    #[test]
    fn invariant_cache_changes_nothing(seed in any::<u64>(), steps in 50u64..30_000) {
        // same terms, same error kind, same step count, with and without the cache
        let l = Limits { max_steps: steps, ..Limits::default() };
        let cached = Evaluator::new(l.clone());
        let plain = Evaluator::new(l).without_cache();
        for i in 0..20 {
            let p = Program::from_tokens(&sample_tokens(&mut rng_for(seed, i), 48, Dialect::Loops)).unwrap();
            prop_assert_eq!(cached.eval_counted(&p), plain.eval_counted(&p), "{}", p);
        }
    }

    #[test]
    fn token_soup_never_panics(idx in proptest::collection::vec(0usize..Token::COUNT, 0..60)) {
        let tokens: Vec<Token> = idx.into_iter().map(Token::from_index).collect();
        if let Ok(p) = Program::from_tokens(&tokens) {
            types::check(&p).unwrap();
            let _ = eval(&p, &limits());
        }
    }

    #[test]
    fn text_soup_never_panics(s in "[ #0-9a-z()\\[\\]+*/%<>=!&-]{0,80}") {
        if let Ok(p) = Program::parse(&s) {
            let _ = eval(&p, &limits());
        }
    }

    #[test]
    fn typed_then_mutated_trees_checker_agrees(seed in any::<u64>()) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut body = typed(&mut rng, Ty::List, 1, 4);
        let mutated = rng.gen_bool(0.5);
        if mutated {
            mutate(&mut rng, &mut body);
        }
        let p = Program { body };
        let by_tree = types::check(&p).is_ok();
        prop_assert!(mutated || by_tree, "generated typed tree rejected: {}", p);
        prop_assert_eq!(by_tree, Program::from_tokens(&p.tokens()).is_ok(), "{}", p);
    }

    #[test]
    fn random_trees_checker_agrees_with_automaton(body in arb_expr(4)) {
        let p = Program { body };
        let by_tree = types::check(&p).is_ok();
        let by_automaton = Program::from_tokens(&p.tokens()).is_ok();
        prop_assert_eq!(by_tree, by_automaton, "{}", p);
        if by_tree {
            let l = limits();
            if let Err(e) = eval(&p, &l) {
                prop_assert!(e.steps <= l.max_steps + 1);
            }
        }
    }
}

/// Arbitrary (mostly ill-typed) trees over the DSL's constructors.
fn arb_expr(depth: u32) -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        (0u8..10).prop_map(Expr::Const),
        (0u8..4).prop_map(Expr::Var),
        (0usize..Prim::ALL.len()).prop_map(|i| Expr::Fn(Prim::ALL[i])),
    ];
    leaf.prop_recursive(depth, 48, 3, |inner| {
        prop_oneof![
            (
                0usize..Prim::ALL.len(),
                proptest::collection::vec(inner.clone(), 1..4)
            )
                .prop_map(|(i, args)| Expr::App(Prim::ALL[i], args)),
            (1u8..4, 1u8..3, inner).prop_map(|(first, params, body)| Expr::Lambda {
                first,
                params,
                body: Box::new(body)
            }),
        ]
    })
}

/// A random well-typed tree of type `ty` with `#0..#(d-1)` in scope.
fn typed(rng: &mut impl rand::Rng, ty: Ty, d: u8, budget: u32) -> Expr {
    let leaf = budget == 0 || rng.gen_bool(0.3);
    let b = budget.saturating_sub(1);
    let app = |rng: &mut _, p: Prim, tys: &[Ty]| {
        Expr::App(p, tys.iter().map(|&t| typed(rng, t, d, b)).collect())
    };
    let lam = |rng: &mut _, params: u8, body: Ty| Expr::Lambda {
        first: d,
        params,
        body: Box::new(typed(rng, body, d + params, b)),
    };
    match ty {
        Ty::Int if leaf => {
            if d > 1 && rng.gen_bool(0.5) {
                Expr::Var(rng.gen_range(1..d))
            } else {
                Expr::Const(rng.gen_range(0..10))
            }
        }
        Ty::Int => match rng.gen_range(0..7) {
            0 | 1 => {
                let p = Prim::INT2[rng.gen_range(0..8)];
                app(rng, p, &[Ty::Int, Ty::Int])
            }
            2 => app(rng, Prim::Sqrt, &[Ty::Int]),
            3 => app(rng, Prim::Reduce, &[Ty::List, Ty::Int, Ty::Fn2]),
            4 => app(rng, Prim::Loop, &[Ty::Fn2, Ty::Int, Ty::Int]),
            5 if d <= 15 => app(rng, Prim::Nth, &[Ty::Pred, Ty::Int, Ty::Int]),
            5 => app(rng, Prim::If, &[Ty::Bool, Ty::Int, Ty::Int]),
            _ => app(
                rng,
                Prim::Loop2,
                &[Ty::Fn2, Ty::Fn2, Ty::Int, Ty::Int, Ty::Int],
            ),
        },
        Ty::Bool if leaf || rng.gen_bool(0.7) => {
            let p = Prim::CMP[rng.gen_range(0..4)];
            app(rng, p, &[Ty::Int, Ty::Int])
        }
        Ty::Bool => app(rng, Prim::And, &[Ty::Bool, Ty::Bool]),
        Ty::List if leaf => Expr::Var(0),
        Ty::List if rng.gen_bool(0.5) => app(rng, Prim::Map, &[Ty::Fn1, Ty::List]),
        Ty::List => app(rng, Prim::Filter, &[Ty::Pred, Ty::List]),
        Ty::Fn1 if leaf => Expr::Fn(Prim::Sqrt),
        Ty::Fn1 => lam(rng, 1, Ty::Int),
        Ty::Pred => lam(rng, 1, Ty::Bool),
        Ty::Fn2 if leaf => Expr::Fn(Prim::INT2[rng.gen_range(0..8)]),
        Ty::Fn2 => lam(rng, 2, Ty::Int),
    }
}

/// Replaces one random node by a random leaf or shifts a lambda's parameters.
fn mutate(rng: &mut impl rand::Rng, e: &mut Expr) {
    let descend = rng.gen_bool(0.6);
    match e {
        Expr::App(_, args) if descend => {
            let i = rng.gen_range(0..args.len());
            mutate(rng, &mut args[i]);
        }
        Expr::Lambda { body, .. } if descend => mutate(rng, body),
        Expr::Lambda { first, .. } if rng.gen_bool(0.3) => *first += 1,
        _ => {
            *e = match rng.gen_range(0..3) {
                0 => Expr::Const(rng.gen_range(0..10)),
                1 => Expr::Var(rng.gen_range(0..4)),
                _ => Expr::Fn(Prim::ALL[rng.gen_range(0..Prim::ALL.len())]),
            }
        }
    }
}

#[test]
fn random_trees_include_well_typed_ones() {
    // guard against the agreement property passing vacuously
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut ok, mut bad) = (0, 0);
    for i in 0..400u64 {
        let body = if i % 2 == 0 {
            arb_expr(4).new_tree(&mut runner).unwrap().current()
        } else {
            use rand::SeedableRng;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(i);
            let mut b = typed(&mut rng, Ty::List, 1, 4);
            if i % 4 == 1 {
                mutate(&mut rng, &mut b);
            }
            b
        };
        match types::check(&Program { body }) {
            Ok(()) => ok += 1,
            Err(_) => bad += 1,
        }
    }
    assert!(ok > 100 && bad > 100, "{ok} well-typed, {bad} ill-typed");
}

#[test]
fn invariant_cache_on_nested_loops() {
    // the inner reduce does not depend on #2, so it is computed once per #1, not 35 times
    let p = Program::parse(
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( reduce ( map ( lambda [ #2 ] ( reduce ( #0 #1 + ) ) #0 ) 0 + ) ) #0 ) )",
    )
    .unwrap();
    for max_steps in [10, 5_000, 90_000, 100_000, 200_000] {
        let l = Limits {
            max_steps,
            ..Limits::default()
        };
        let a = Evaluator::new(l.clone()).eval_counted(&p);
        let b = Evaluator::new(l).without_cache().eval_counted(&p);
        assert_eq!(a, b, "max_steps {max_steps}");
    }
    let (terms, steps) = Evaluator::new(Limits {
        max_steps: 200_000,
        ..Limits::default()
    })
    .eval_counted(&p)
    .unwrap();
    assert_eq!(steps, 1 + 35 * (1 + 1 + 1 + 35 * (1 + 1 + 35 * 2) + 35 * 2));
    assert_eq!(terms[0].to_string(), (35 * (1 + 630)).to_string());
}

#[test]
fn deterministic_sampling_long_run() {
    // A longer randomized run (the fuzz substitute, see docs/dsl.md): 20k sampled programs, every
    // one parsed back from its canonical text and evaluated; the same seed must give the same
    // programs and the same outputs (or errors), another seed other programs.
    let l = limits();
    let run = |seed: u64| -> (blake3::Hash, usize) {
        let mut h = blake3::Hasher::new();
        let mut ok = 0;
        for i in 0..20_000 {
            let t = sample_tokens(&mut rng_for(seed, i), 48, seqsynth::dsl::Dialect::Paper);
            let p = Program::from_tokens(&t).unwrap();
            let text = p.to_string();
            assert_eq!(Program::parse(&text).unwrap(), p, "{text}");
            h.update(text.as_bytes());
            match eval(&p, &l) {
                Ok(v) => {
                    ok += 1;
                    h.update(seqsynth::dsl::format_terms(&v).as_bytes());
                }
                Err(e) => {
                    h.update(e.kind.name().as_bytes());
                }
            }
            h.update(b"\n");
        }
        (h.finalize(), ok)
    };
    let (a, ok) = run(99);
    assert_eq!(run(99).0, a, "sampling and evaluation are deterministic");
    assert_ne!(run(100).0, a, "another seed draws other programs");
    assert!(ok > 1_000, "most draws evaluate ({ok} of 20000 did)");
}
