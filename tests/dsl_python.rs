//! The Python rendering agrees with the Rust evaluator on 1,000+ sampled programs: the same
//! terms, or the same error kind.

use seqsynth::dsl::sample::{rng_for, sample_program};
use seqsynth::dsl::{format_terms, python, Evaluator, Limits, Program};

/// The loops dialect's edge cases (docs/dsl.md), with the terms they must give where the
/// semantics pins them (`None`: only the agreement with Python is checked).
const LOOPS_CASES: [(&str, Option<&str>); 14] = [
    // Fibonacci: (x, y) <- (x + y, x) from (0, 1)
    ("lambda [ #0 ] ( map ( lambda [ #1 ] ( loop2 ( + lambda [ #2 #3 ] ( #2 ) #1 0 1 ) ) #0 ) )", Some("1,1,2,3,5,8,13,21,34,55")),
    // n! : x_k = x_(k-1) * k
    ("lambda [ #0 ] ( map ( lambda [ #1 ] ( loop ( * #1 1 ) ) #0 ) )", Some("1,2,6,24,120,720")),
    // a(n) = 2 a(n-1) + 1 from 0, with the index unused
    ("lambda [ #0 ] ( map ( lambda [ #1 ] ( loop ( lambda [ #2 #3 ] ( + ( * ( 2 #2 ) 1 ) ) #1 0 ) ) #0 ) )", Some("1,3,7,15,31")),
    // a count <= 0 runs no iteration
    ("lambda [ #0 ] ( map ( lambda [ #1 ] ( loop ( + - ( 0 #1 ) 7 ) ) #0 ) )", Some("7,7,7")),
    ("lambda [ #0 ] ( map ( lambda [ #1 ] ( loop2 ( + + - ( 2 #1 ) 5 1 ) ) #0 ) )", Some("6,5,5,5")),
    // the n-th prime: d < k dividing k sum to 1 (divisors up to 35 suffice below 37^2)
    ("lambda [ #0 ] ( map ( lambda [ #1 ] ( nth ( lambda [ #2 ] ( == ( reduce ( filter ( lambda [ #3 ] ( & ( < ( #3 #2 ) == ( % ( #2 #3 ) 0 ) ) ) #0 ) 0 + ) 1 ) ) #1 1 ) ) #0 ) )", Some("2,3,5,7,11,13,17,19,23,29,31,37")),
    // numbers k >= 0 with k mod 3 = 1, and the same from 5 on
    ("lambda [ #0 ] ( map ( lambda [ #1 ] ( nth ( lambda [ #2 ] ( == ( % ( #2 3 ) 1 ) ) #1 0 ) ) #0 ) )", Some("1,4,7,10")),
    ("lambda [ #0 ] ( map ( lambda [ #1 ] ( nth ( lambda [ #2 ] ( == ( % ( #2 3 ) 1 ) ) #1 5 ) ) #0 ) )", Some("7,10,13")),
    // a count < 1 is an error; a predicate never true ends at the step budget
    ("lambda [ #0 ] ( map ( lambda [ #1 ] ( nth ( lambda [ #2 ] ( > ( #2 0 ) ) - ( #1 1 ) 0 ) ) #0 ) )", None),
    ("lambda [ #0 ] ( map ( lambda [ #1 ] ( nth ( lambda [ #2 ] ( < ( #2 0 ) ) #1 0 ) ) #0 ) )", None),
    // a huge count ends at the step budget
    ("lambda [ #0 ] ( map ( lambda [ #1 ] ( loop ( + ** ( 9 9 ) 0 ) ) #0 ) )", None),
    // if is lazy: the branch not taken may divide by zero
    ("lambda [ #0 ] ( map ( lambda [ #1 ] ( if ( == ( #1 3 ) 0 / ( 6 - ( #1 3 ) ) ) ) #0 ) )", Some("-3,-6,0,6,3,2")),
    // loops inside loops, and a loop whose state passes the bound
    ("lambda [ #0 ] ( map ( lambda [ #1 ] ( loop ( lambda [ #2 #3 ] ( loop ( + #3 #2 ) ) #1 1 ) ) #0 ) )", None),
    ("lambda [ #0 ] ( map ( lambda [ #1 ] ( loop ( lambda [ #2 #3 ] ( ** ( #2 2 ) ) #1 2 ) ) #0 ) )", None),
];

#[test]
fn loops_edge_cases_give_their_terms() {
    // the n-th prime by trial division takes about 500,000 steps over 35 positions
    let ev = Evaluator::new(Limits {
        max_steps: 1_000_000,
        ..Limits::default()
    });
    for (src, want) in LOOPS_CASES {
        let p = Program::parse(src).unwrap();
        assert_eq!(p.to_string(), src);
        if let Some(want) = want {
            let got = format_terms(&ev.eval(&p).unwrap_or_else(|e| panic!("{src}: {e}")));
            assert!(got.starts_with(want), "{src}: {got}");
        }
    }
    let kind = |src: &str| ev.eval(&Program::parse(src).unwrap()).unwrap_err().kind;
    assert_eq!(kind(LOOPS_CASES[8].0), seqsynth::dsl::ErrorKind::BadCount);
    assert_eq!(kind(LOOPS_CASES[9].0), seqsynth::dsl::ErrorKind::StepLimit);
    assert_eq!(kind(LOOPS_CASES[10].0), seqsynth::dsl::ErrorKind::StepLimit);
    assert_eq!(kind(LOOPS_CASES[13].0), seqsynth::dsl::ErrorKind::Overflow);
}

#[test]
fn loops_steps_are_counted_as_documented() {
    // loop: 1 + n x (call 1 + body); here the body `*` is a bare symbol (call 1 + apply 1)
    let ev = Evaluator::new(Limits {
        input_len: 5,
        ..Limits::default()
    });
    let steps = |src: &str| ev.eval_counted(&Program::parse(src).unwrap()).unwrap().1;
    let sum = |f: &dyn Fn(u64) -> u64| (1..=5).map(f).sum::<u64>();
    assert_eq!(
        steps("lambda [ #0 ] ( map ( lambda [ #1 ] ( loop ( * #1 1 ) ) #0 ) )"),
        1 + sum(&|n| 1 + 1 + n * 2)
    );
    // loop2: 1 + n x (2 calls + the two bodies: + is 1 application, #2 none)
    assert_eq!(
        steps("lambda [ #0 ] ( map ( lambda [ #1 ] ( loop2 ( + lambda [ #2 #3 ] ( #2 ) #1 0 1 ) ) #0 ) )"),
        1 + sum(&|n| 1 + 1 + n * (2 + 1))
    );
    // nth: 1 + one call per k tried, each with its body (% and ==: 2 applications)
    // k = 0..(3n - 2) for the n-th k = 1 mod 3
    assert_eq!(
        steps("lambda [ #0 ] ( map ( lambda [ #1 ] ( nth ( lambda [ #2 ] ( == ( % ( #2 3 ) 1 ) ) #1 0 ) ) #0 ) )"),
        1 + sum(&|n| 1 + 1 + (3 * n - 1) * 3)
    );
    // if: the condition, 1, and the branch taken only
    assert_eq!(
        steps("lambda [ #0 ] ( map ( lambda [ #1 ] ( if ( == ( #1 3 ) 0 / ( 6 - ( #1 3 ) ) ) ) #0 ) )"),
        1 + sum(&|n| 1 + 1 + 1 + if n == 3 { 0 } else { 2 })
    );
}

#[test]
fn python_rendering_matches_rust_on_sampled_programs() {
    for dialect in seqsynth::dsl::Dialect::ALL {
        python_matches(dialect);
    }
}

fn python_matches(dialect: seqsynth::dsl::Dialect) {
    let limits = Limits {
        max_steps: 20_000,
        ..Limits::default()
    };
    let ev = Evaluator::new(limits.clone());
    let mut programs: Vec<Program> = (0..1200)
        .map(|i| sample_program(&mut rng_for(2024, i), 48, dialect))
        .collect();
    if dialect == seqsynth::dsl::Dialect::Loops {
        let with_loops = programs
            .iter()
            .filter(|p| p.dialect() == seqsynth::dsl::Dialect::Loops)
            .count();
        assert!(
            with_loops > 300,
            "{with_loops} sampled programs use the loops primitives"
        );
        programs.extend(LOOPS_CASES.iter().map(|(s, _)| Program::parse(s).unwrap()));
    }
    // edge cases that sampled programs rarely hit
    for src in [
        "lambda [#0](map(lambda [#1]( *( / ( *(#1 8) 9) #1)) #0))",
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( / ( #1 - ( 0 2 ) ) ) #0 ) )",
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( % ( - ( 0 #1 ) 4 ) ) #0 ) )",
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( ** ( #1 #1 ) ) #0 ) )",
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( ** ( - ( 0 #1 ) * ( 9 9 ) ) ) #0 ) )",
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( reduce ( #0 #1 / ) ) #0 ) )",
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( reduce ( #0 #1 lambda [ #2 #3 ] ( ** ( #2 #3 ) ) ) ) #0 ) )",
        "lambda [ #0 ] ( map ( lambda [ #1 ] ( reduce ( map ( lambda [ #2 ] ( reduce ( #0 #2 + ) ) #0 ) 0 + ) ) #0 ) )",
    ] {
        programs.push(Program::parse(src).unwrap());
    }
    let script = python::batch_script(&programs, &limits, false);
    let text = python::run_python3(&script).expect("python3 runs the rendering");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), programs.len());
    let (mut ok, mut err) = (0, 0);
    for (p, line) in programs.iter().zip(lines) {
        let want = match ev.eval(p) {
            Ok(t) => {
                ok += 1;
                format_terms(&t)
            }
            Err(e) => {
                err += 1;
                format!("error: {}", e.kind)
            }
        };
        assert_eq!(line, want, "program {p}");
    }
    // both outcomes are exercised
    assert!(ok > 100 && err > 50, "ok {ok}, err {err}");
}
