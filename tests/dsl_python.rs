//! The Python rendering agrees with the Rust evaluator on 1,000+ sampled programs: the same
//! terms, or the same error kind.

use seqsynth::dsl::sample::{rng_for, sample_program};
use seqsynth::dsl::{format_terms, python, Evaluator, Limits, Program};

#[test]
fn python_rendering_matches_rust_on_sampled_programs() {
    let limits = Limits {
        max_steps: 20_000,
        ..Limits::default()
    };
    let ev = Evaluator::new(limits.clone());
    let mut programs: Vec<Program> = (0..1200)
        .map(|i| sample_program(&mut rng_for(2024, i), 48))
        .collect();
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
