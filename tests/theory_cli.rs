//! `modrepro theory POINTS.csv` on a researcher's own samples.

mod util;
use util::Project;

#[test]
fn two_sources_get_a_verdict_and_the_energy_gain() {
    let p = Project::new();
    // The four corners of the unit square: modular (hand-checked in analysis::theory).
    p.write("square.csv", "x,y\n0,0\n1,0\n0,1\n1,1\n");
    let run = p.modrepro(&["theory", "square.csv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("verdict: modular"), "{}", run.stdout);
    assert!(run.stdout.contains("mixing energy gain: -"), "{}", run.stdout);
    // Cut the corner: mixed.
    p.write("triangle.csv", "x,y\n0,0\n1,0\n0,1\n");
    let run = p.modrepro(&["theory", "triangle.csv"]);
    assert!(run.stdout.contains("verdict: mixed"), "{}", run.stdout);
}

#[test]
fn more_than_two_sources_are_flagged_as_unsupported_with_pairwise_diagnostics() {
    let p = Project::new();
    p.write("three.csv", "a,b,c\n0,0,1\n1,0,0\n0,1,0\n1,1,1\n");
    let run = p.modrepro(&["theory", "three.csv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("not supported"), "{}", run.stdout);
    assert!(
        run.stdout.contains("a × b") && run.stdout.contains("b × c"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_papers_fig1c_points_straddle_the_condition() {
    // The authors' 28 points (shared data, when present): the set and the set less its last
    // point fall on opposite sides of the condition, as the paper says of Fig 1c.
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/dorrell2025/fig1_points.csv");
    let Ok(text) = std::fs::read_to_string(&shared) else {
        eprintln!("skipped: {} is absent", shared.display());
        return;
    };
    let p = Project::new();
    p.write("all.csv", &text);
    let lines: Vec<&str> = text.lines().collect();
    let verdict = |file: &str| {
        let run = p.modrepro(&["theory", file]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout
            .lines()
            .find(|l| l.starts_with("verdict:"))
            .unwrap()
            .to_string()
    };
    let full = verdict("all.csv");
    let flipped = (1..lines.len()).any(|drop| {
        let less: Vec<&str> = lines
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != drop)
            .map(|(_, l)| *l)
            .collect();
        p.write("less.csv", &(less.join("\n") + "\n"));
        verdict("less.csv") != full
    });
    assert!(flipped, "some single point decides the verdict (full set: {full})");
}

#[test]
fn header_less_constant_and_huge_inputs_are_refused_with_the_fix() {
    let p = util::Project::new();
    for (name, csv, needle) in [
        (
            "noheader.csv",
            "0.1,0.2\n0.3,0.4\n0.5,0.1\n",
            "holds numbers, not source names",
        ),
        ("constant.csv", "a,b\n1,0.2\n1,0.4\n1,0.1\n", "source `a` is constant"),
        (
            "huge.csv",
            "a,b\n1e308,0.2\n-1e308,0.4\n0,0.1\n",
            "magnitude at most 1e100",
        ),
    ] {
        p.write(name, csv);
        let run = p.modrepro(&["theory", name]);
        assert_eq!(run.code, 2, "{name}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(needle), "{name}: {}", run.stderr);
        assert!(!run.stdout.contains("verdict"), "{name}: no verdict: {}", run.stdout);
    }
}
