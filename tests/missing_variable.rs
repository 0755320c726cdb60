//! Dorrell et al. Fig 5 (the `MissingVariable` kind) end to end through the real binary: the
//! shipped spec at the smoke profile, bit-identical across threads and cached reruns, and a
//! missing object outside the room's objects refused at load.

mod util;

use util::Project;

const SPEC: &str = include_str!("../specs/dorrell2025/fig5_missing_variable.ron");
const SPEC_PATH: &str = "specs/dorrell2025/fig5_missing_variable.ron";
const CSV: &str = "outputs/dorrell2025/fig5_missing_variable.csv";

#[test]
fn the_shipped_spec_runs_and_is_bit_identical_across_threads_and_reruns() {
    let (project, csv) = util::shipped_spec_is_deterministic(SPEC_PATH, SPEC, CSV, 2);
    // One row per share of correlated rooms (0.5 and the control, 0).
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.contains("\n0.5,") && csv.contains("\n0,"), "{csv}");
    let manifest = project.read("outputs/dorrell2025/fig5_missing_variable.manifest.json");
    assert!(manifest.contains("\"missing_variable_gap\""), "{manifest}");
}

#[test]
fn a_missing_object_that_is_not_in_the_room_is_refused_at_load() {
    let p = Project::new();
    p.write(SPEC_PATH, &SPEC.replace("missing_object: 2,", "missing_object: 3,"));
    let run = p.modrepro(&["plan"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let line = SPEC.lines().position(|l| l.contains("missing_object: 2,")).unwrap() + 1;
    assert!(
        run.stderr.contains(&format!("fig5_missing_variable.ron:{line}:")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("allowed: 0 to 2"), "{}", run.stderr);
}
