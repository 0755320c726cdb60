//! A corpus of malformed specs: each is one edit of a shipped spec (or a whole bad file), with
//! the message fragment it must produce and, where the edit is on one line, that line. Every case
//! must be refused at load time by `modrepro list` with exit 2, one clean error line naming the
//! file (and line and column), no panic, no Rust jargon. Then a deterministic mutation fuzzer
//! feeds thousands of mutated specs to the loader in process: zero panics.

mod util;

use modrepro::rng::SplitMix64;
use util::Project;

const FIG1C: &str = include_str!("../specs/dorrell2025/fig1c.ron");
const FIG1D: &str = include_str!("../specs/dorrell2025/fig1d.ron");
const FIG2_CENTRE: &str = include_str!("../specs/dorrell2025/fig2_centre.ron");
const FIG2_LEFT: &str = include_str!("../specs/dorrell2025/fig2_left.ron");
const FIG3AB: &str = include_str!("../specs/dorrell2025/fig3ab_frequencies_linear.ron");
const SINE_TRAINED: &str = include_str!("../specs/krause2022/fig3_sine_wave_trained.ron");
const LANGE: &str = include_str!("../specs/lange2022/q_vs_regularisation.ron");

struct Case {
    name: &'static str,
    base: &'static str,
    /// Replace the first occurrence of `from` by `to` (empty `from`: the whole file is `to`).
    from: &'static str,
    to: &'static str,
    expect: &'static str,
}

const fn case(
    name: &'static str,
    base: &'static str,
    from: &'static str,
    to: &'static str,
    expect: &'static str,
) -> Case {
    Case {
        name,
        base,
        from,
        to,
        expect,
    }
}

fn corpus() -> Vec<Case> {
    vec![
        // Sizes that panicked, aborted or allocated without bound.
        case(
            "latent 0",
            FIG1D,
            "latent: 16,",
            "latent: 0,",
            "`latent` is 0; allowed: 1 to 4096",
        ),
        case(
            "latent 4e9",
            FIG1D,
            "latent: 16,",
            "latent: 4000000000,",
            "`latent` is 4000000000",
        ),
        case(
            "n_points 0",
            FIG1D,
            "n_points: 32,",
            "n_points: 0,",
            "`n_points` is 0; allowed: 2 to",
        ),
        case(
            "n_points 1",
            FIG1C,
            "n_points: 28,",
            "n_points: 1,",
            "`n_points` is 1; allowed: 2 to",
        ),
        case("n_sets 0", FIG1D, "n_sets: 100,", "n_sets: 0,", "`n_sets` is 0"),
        case(
            "what-where values 0",
            FIG2_LEFT,
            "values: 9,",
            "values: 0,",
            "`values` is 0; allowed: 2 to 100",
        ),
        case(
            "what-where values 1",
            FIG2_LEFT,
            "values: 9,",
            "values: 1,",
            "`values` is 1; allowed: 2 to 100",
        ),
        case(
            "what-where values 1e5",
            FIG2_LEFT,
            "values: 9,",
            "values: 100000,",
            "`values` is 100000",
        ),
        case(
            "what-where hidden 0",
            FIG2_LEFT,
            "hidden: 25,",
            "hidden: 0,",
            "`hidden` is 0",
        ),
        case(
            "what-where corner cut past the grid",
            FIG2_LEFT,
            "corner_cuts: [2, 4, 6, 8],",
            "corner_cuts: [2, 4, 6, 1000],",
            "`corner_cuts` is 1000",
        ),
        case(
            "range corner cut 1000",
            FIG2_CENTRE,
            "corner_cuts: [0.3, 0.5, 0.7, 0.8, 0.9, 1.0],",
            "corner_cuts: [0.3, 1000.0],",
            "`corner_cuts` is 1000",
        ),
        case(
            "range values_per_source 1",
            FIG2_CENTRE,
            "\"values_per_source\": 6",
            "\"values_per_source\": 1",
            "`values_per_source` is 1",
        ),
        case(
            "range batch 0",
            FIG2_CENTRE,
            "batch_size: 512,",
            "batch_size: 0,",
            "`training.batch_size` is 0",
        ),
        case(
            "frequency hidden 0",
            FIG3AB,
            "hidden: 16,",
            "hidden: 0,",
            "`hidden` is 0",
        ),
        case("frequency dt 0", FIG3AB, "dt: 0.1", "dt: 0.0", "`time.dt` is 0"),
        case(
            "frequency min gap 50",
            FIG3AB,
            "min_gap: 1.0",
            "min_gap: 50.0",
            "`pairs.min_gap` is 50",
        ),
        // Schedules that hang or train nothing.
        case(
            "steps 0",
            FIG1D,
            "training: (steps: 1000000,",
            "training: (steps: 0,",
            "`training.steps` is 0",
        ),
        case(
            "profile steps 1e18",
            FIG1D,
            "smoke: {\"training.steps\": 200,",
            "smoke: {\"training.steps\": 1000000000000000000,",
            "`training.steps` is 1000000000000000000",
        ),
        case(
            "iterations 0",
            FIG3AB,
            "iterations: 30000,",
            "iterations: 0,",
            "`training.iterations` is 0",
        ),
        case(
            "200000 seeds",
            FIG1D,
            "seeds: [0],",
            "seeds: [SEEDS],",
            "seeds; allowed: at most 10000",
        ),
        case(
            "init density 0",
            SINE_TRAINED,
            "init_density: 0.5,",
            "init_density: 0.0,",
            "`networks.Trained.init_density` is 0",
        ),
        case(
            "init density negative",
            SINE_TRAINED,
            "init_density: 0.5,",
            "init_density: -1.0,",
            "`networks.Trained.init_density` is -1",
        ),
        // Optimiser settings outside their domain.
        case(
            "learning rate 0",
            FIG1D,
            "learning_rate: 1e-3",
            "learning_rate: 0.0",
            "`training.learning_rate` is 0; allowed: a number in (0, 1)",
        ),
        case(
            "learning rate negative",
            FIG1D,
            "learning_rate: 1e-3",
            "learning_rate: -1e-3",
            "`training.learning_rate` is -0.001",
        ),
        case(
            "learning rate 1e30",
            FIG1D,
            "learning_rate: 1e-3",
            "learning_rate: 1e30",
            "`training.learning_rate` is 1000000000000000000000000000000",
        ),
        case(
            "beta_1 1.5",
            FIG1D,
            "learning_rate: 1e-3)",
            "learning_rate: 1e-3, beta_1: 1.5)",
            "`training.beta_1` is 1.5",
        ),
        case(
            "profile learning rate 0",
            FIG3AB,
            "smoke: {\"training.iterations\": 300,",
            "smoke: {\"training.iterations\": 300, \"training.learning_rate\": 0.0,",
            "profile `smoke`",
        ),
        // Claims that cannot be evaluated.
        case(
            "Near tolerance NaN",
            FIG1D,
            "expect: AtLeast(0.5),",
            "expect: Near(value: 0.5, tolerance: NaN),",
            "needs a finite value and a finite tolerance",
        ),
        case(
            "Near tolerance negative",
            FIG1D,
            "expect: AtLeast(0.5),",
            "expect: Near(value: 0.5, tolerance: -0.1),",
            "needs a finite value and a finite tolerance ≥ 0",
        ),
        case(
            "AtLeast inf",
            FIG1D,
            "expect: AtLeast(0.5),",
            "expect: AtLeast(inf),",
            "not a finite number",
        ),
        case(
            "claim on an unmeasured value",
            FIG1D,
            "measure: \"spearman_gain_vs_angle\",",
            "measure: \"nonsense\",",
            "which RandomPointSets does not produce",
        ),
        case(
            "duplicate claim id",
            FIG1D,
            "id: \"multiinformation_does_not\",",
            "id: \"theory_predicts_mixing\",",
            "two claims share the id",
        ),
        // Duplicates that silently changed what runs.
        case(
            "duplicate seeds",
            FIG1D,
            "seeds: [0],",
            "seeds: [0, 0],",
            "seed 0 is listed twice",
        ),
        case(
            "duplicate sweep values",
            FIG1D,
            "seeds: [0],",
            "seeds: [0],\n    sweep: [SweepAxis(param: \"objective.activity\", values: [1e-3, 1e-3])],",
            "lists 0.001 twice",
        ),
        case(
            "duplicate sweep axis",
            FIG1D,
            "seeds: [0],",
            "seeds: [0],\n    sweep: [SweepAxis(param: \"latent\", values: [8]), SweepAxis(param: \"latent\", values: [16])],",
            "two axes for `latent`",
        ),
        case(
            "sweep value NaN",
            FIG1D,
            "seeds: [0],",
            "seeds: [0],\n    sweep: [SweepAxis(param: \"objective.activity\", values: [NaN])],",
            "allowed: finite numbers",
        ),
        case(
            "profile value inf",
            FIG1D,
            "smoke: {\"training.steps\": 200,",
            "smoke: {\"training.steps\": inf,",
            "allowed: finite numbers",
        ),
        case(
            "profile type error blames its override",
            FIG1D,
            "smoke: {\"training.steps\": 200, \"n_sets\": 6}",
            "smoke: {\"training.steps\": 200, \"n_sets\": \"six\"}",
            "sets `n_sets` to six",
        ),
        case(
            "sweep of an unknown parameter",
            FIG1D,
            "seeds: [0],",
            "seeds: [0],\n    sweep: [SweepAxis(param: \"objective.activty\", values: [1e-3])],",
            "no parameter `activty`",
        ),
        // The wrong paper for the experiment.
        case(
            "Lange paper, Dorrell experiment",
            FIG1D,
            "paper: Dorrell2025,",
            "paper: Lange2022,",
            "is an experiment of Dorrell2025",
        ),
        case(
            "Dorrell paper, Lange experiment",
            LANGE,
            "paper: Lange2022,",
            "paper: Dorrell2025,",
            "is an experiment of Lange2022",
        ),
        // Syntax, fields, types, encodings.
        case(
            "unknown field",
            FIG1D,
            "latent: 16,",
            "latent: 16, latnet: 3,",
            "latnet",
        ),
        case("wrong type", FIG1D, "n_points: 32,", "n_points: \"many\",", "n_points"),
        case("missing comma", FIG1D, "n_sets: 100,", "n_sets: 100", ""),
        case(
            "unknown experiment",
            FIG1D,
            "RandomPointSets((",
            "RandomPointSet((",
            "RandomPointSet",
        ),
        case("empty file", FIG1D, "", "", ""),
        case("not a spec", FIG1D, "", "[1, 2, 3]", ""),
        case("unclosed", FIG1D, "", "Spec(paper: Dorrell2025,", ""),
        case("deep nesting", FIG1D, "", "DEEP", ""),
        case("garbage bytes", FIG1D, "", "GARBAGE", "not UTF-8"),
    ]
}

fn materialise(case: &Case) -> Vec<u8> {
    match (case.from, case.to) {
        ("", "DEEP") => format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
        ("", "GARBAGE") => (0..10_000_000u32).map(|i| (i % 251) as u8 | 0x80).collect(),
        ("", whole) => whole.as_bytes().to_vec(),
        (from, to) => {
            assert!(case.base.contains(from), "{}: the base spec lacks {from:?}", case.name);
            let seeds = (0..200_000).map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
            case.base.replacen(from, &to.replace("SEEDS", &seeds), 1).into_bytes()
        }
    }
}

#[test]
fn every_malformed_spec_is_refused_cleanly_at_load() {
    let corpus = corpus();
    assert!(corpus.len() >= 40, "the corpus keeps at least the 40 reported cases");
    for case in &corpus {
        let p = Project::new();
        let bytes = materialise(case);
        std::fs::create_dir_all(p.path().join("specs/t")).unwrap();
        std::fs::write(p.path().join("specs/t/case.ron"), &bytes).unwrap();
        let run = p.modrepro(&["list"]);
        let name = case.name;
        assert_eq!(run.code, 2, "{name}: exit code; stderr: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{name}: panicked: {}", run.stderr);
        assert!(
            run.stderr.len() < 2_000,
            "{name}: the error echoes too much ({} bytes)",
            run.stderr.len()
        );
        assert!(
            run.stderr.contains("specs/t/case.ron"),
            "{name}: no file in {}",
            run.stderr
        );
        assert!(
            run.stderr.contains(case.expect),
            "{name}: `{}` not in {}",
            case.expect,
            run.stderr
        );
        for jargon in ["serde_stacker", "ExceededRecursionLimit", "unwrap", "RUST_BACKTRACE"] {
            assert!(
                !run.stderr.contains(jargon),
                "{name}: jargon `{jargon}` in {}",
                run.stderr
            );
        }
        // A one-line edit is reported on its line (a syntax error where the parser notices it,
        // which may be the next token: those cases expect no fragment).
        if !case.expect.is_empty()
            && !case.from.is_empty()
            && !case.from.contains('\n')
            && !case.to.contains('\n')
            && !case.to.contains("SEEDS")
        {
            let text = String::from_utf8(bytes).unwrap();
            let line = text
                .lines()
                .position(|l| l.contains(case.to.lines().next().unwrap()))
                .unwrap()
                + 1;
            assert!(
                run.stderr.contains(&format!("case.ron:{line}:")),
                "{name}: not at line {line}: {}",
                run.stderr
            );
        }
    }
}

/// Edits a spec at random: delete, duplicate or replace a span; swap a number for an extreme.
fn mutate(spec: &str, rng: &mut SplitMix64) -> String {
    let mut s = spec.to_string();
    for _ in 0..1 + rng.next_u64() % 3 {
        let chars: Vec<char> = s.chars().collect();
        if chars.is_empty() {
            break;
        }
        let at = (rng.next_u64() % chars.len() as u64) as usize;
        let len = (1 + rng.next_u64() % 8) as usize;
        let end = (at + len).min(chars.len());
        let extremes = [
            "0",
            "-1",
            "1e308",
            "-1e308",
            "1e-320",
            "NaN",
            "inf",
            "4294967296",
            "18446744073709551615",
            "\"\"",
            "[]",
            "()",
            "Some(1)",
            "None",
        ];
        let replacement: String = match rng.next_u64() % 4 {
            0 => String::new(),
            1 => chars[at..end].iter().collect::<String>().repeat(2),
            2 => extremes[(rng.next_u64() % extremes.len() as u64) as usize].to_string(),
            _ => {
                let alphabet = b" (),:[]{}\"0123456789.e-abcXYZ";
                (0..len)
                    .map(|_| char::from(alphabet[(rng.next_u64() % alphabet.len() as u64) as usize]))
                    .collect()
            }
        };
        s = chars[..at].iter().collect::<String>() + &replacement + &chars[end..].iter().collect::<String>();
    }
    s
}

#[test]
fn mutated_specs_never_panic_the_loader() {
    // Also swaps numbers for extremes where a number stood, which reaches the domain checks.
    let bases = [FIG1C, FIG1D, FIG2_CENTRE, FIG2_LEFT, FIG3AB, SINE_TRAINED, LANGE];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("specs/t/fuzz.ron");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut rng = SplitMix64::new(2026);
    let cases = 3_000;
    let mut refused = 0;
    for case in 0..cases {
        let spec = mutate(bases[case % bases.len()], &mut rng);
        std::fs::write(&path, &spec).unwrap();
        let outcome = std::panic::catch_unwind(|| modrepro::spec::load(&path));
        match outcome {
            Err(_) => panic!("case {case} panicked the loader:\n{spec}"),
            Ok(Err(_)) => refused += 1,
            Ok(Ok(_)) => {}
        }
    }
    assert!(refused > cases / 2, "most mutations are refused ({refused} of {cases})");
}
