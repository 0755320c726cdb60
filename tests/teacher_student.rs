//! Dorrell et al. Fig 3f–g (the `TeacherStudent` kind) end to end through the real binary: the
//! shipped spec at the smoke profile, determinism across threads and reruns, keys that do not
//! move when a condition is added, and a bad condition refused at load with its position.

mod util;

use util::{CacheCounts, Project};

const SPEC: &str = include_str!("../specs/dorrell2025/fig3fg_teacher_student.ron");
const SPEC_PATH: &str = "specs/dorrell2025/fig3fg_teacher_student.ron";
const ID: &str = "dorrell2025/fig3fg_teacher_student";
const CSV: &str = "outputs/dorrell2025/fig3fg_teacher_student.csv";
const CONDITIONS: usize = 14;

#[test]
fn the_shipped_spec_runs_and_is_bit_identical_across_threads_and_reruns() {
    let (project, csv) = util::shipped_spec_is_deterministic(SPEC_PATH, SPEC, CSV, CONDITIONS);
    // One row per student, every group present.
    assert_eq!(csv.lines().count(), 1 + CONDITIONS);
    for group in [
        "uniform",
        "corner cut",
        "diagonal oversampled",
        "both diagonals oversampled",
    ] {
        assert!(csv.contains(&format!("\n{group},")), "{group} missing");
    }
    let manifest = project.read("outputs/dorrell2025/fig3fg_teacher_student.manifest.json");
    assert!(manifest.contains("\"slope_corner_cut\""), "{manifest}");
}

#[test]
fn adding_a_condition_trains_only_the_new_run() {
    let p = Project::new();
    p.write(SPEC_PATH, SPEC);
    assert_eq!(p.modrepro(&["run"]).code, 0);
    let before = p.read(CSV);
    p.write(
        SPEC_PATH,
        &SPEC.replace(
            "            Uniform,\n",
            "            Uniform,\n            CornerCut(band: 0.3),\n",
        ),
    );
    let run = p.modrepro(&["run"]);
    assert_eq!(
        p.cache_counts(ID),
        CacheCounts {
            trained: 1,
            cached: CONDITIONS
        },
        "{}",
        run.stderr
    );
    let after = p.read(CSV);
    for row in before.lines().skip(1) {
        assert!(after.contains(row), "{row} changed");
    }
}

#[test]
fn a_condition_out_of_its_domain_is_refused_at_load_with_its_position() {
    let p = Project::new();
    p.write(SPEC_PATH, &SPEC.replace("CornerCut(band: 0.8)", "CornerCut(band: 0.0)"));
    let run = p.modrepro(&["plan"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("fig3fg_teacher_student.ron:"), "{}", run.stderr);
    assert!(run.stderr.contains("a band must be in (0, 1]"), "{}", run.stderr);
    assert!(!p.path().join("outputs/cache").exists(), "nothing may train");
}
