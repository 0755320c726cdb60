//! Dorrell et al. Fig 1c as the authors ran it (the `RidgeReadout` kind) end to end through the
//! real binary: the shipped spec at the smoke profile, determinism across threads and reruns,
//! its points checked against the authors' data file, and a bad `drop_point` refused at load.

mod util;

use util::Project;

const SPEC: &str = include_str!("../specs/dorrell2025/fig1c_authors.ron");
const SPEC_PATH: &str = "specs/dorrell2025/fig1c_authors.ron";
const CSV: &str = "outputs/dorrell2025/fig1c_authors.csv";
/// 3 seeds × 2 sets.
const RUNS: usize = 6;

#[test]
fn the_shipped_spec_runs_and_is_bit_identical_across_threads_and_reruns() {
    let (project, csv) = util::shipped_spec_is_deterministic(SPEC_PATH, SPEC, CSV, RUNS);
    assert_eq!(csv.lines().count(), 1 + RUNS);
    // The theory's verdicts on the authors' sets, from the data alone (no training involved).
    assert_eq!(csv.matches(",full_set,28,modular,").count(), 3, "{csv}");
    assert_eq!(csv.matches(",less_one_point,27,mixed,").count(), 3, "{csv}");
    let manifest = project.read("outputs/dorrell2025/fig1c_authors.manifest.json");
    assert!(manifest.contains("\"theory_gain_less_one_point\""), "{manifest}");
}

/// The spec copies the authors' 28 points (so that its cache keys hold the data, not a path);
/// this holds the copy to the file in ../shared, where that is present.
#[test]
fn the_specs_points_are_the_authors_file() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/dorrell2025/fig1_points.csv");
    let Ok(text) = std::fs::read_to_string(&file) else {
        eprintln!("skipped: {} is not here", file.display());
        return;
    };
    let from_file: Vec<(f64, f64)> = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (a, b) = l.split_once(',').expect("two columns");
            (a.trim().parse().unwrap(), b.trim().parse().unwrap())
        })
        .collect();
    let list = SPEC.split("points: [").nth(1).unwrap().split("],").next().unwrap();
    let from_spec: Vec<(f64, f64)> = list
        .lines()
        .filter_map(|l| l.trim().strip_prefix('(')?.strip_suffix("),"))
        .map(|pair| {
            let (a, b) = pair.split_once(',').unwrap();
            (a.trim().parse().unwrap(), b.trim().parse().unwrap())
        })
        .collect();
    assert_eq!(from_file.len(), 28);
    assert_eq!(from_spec, from_file, "bit for bit");
}

#[test]
fn a_drop_point_beyond_the_set_is_refused_at_load_with_its_position() {
    let p = Project::new();
    p.write(SPEC_PATH, &SPEC.replace("drop_point: 20,", "drop_point: 28,"));
    let run = p.modrepro(&["plan"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("fig1c_authors.ron:"), "{}", run.stderr);
    assert!(run.stderr.contains("drop_point"), "{}", run.stderr);
    assert!(!p.path().join("outputs/cache").exists(), "nothing may train");
}
