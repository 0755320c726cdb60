//! Dorrell et al. Fig 3a–d (the `TwoFrequencies` kind) end to end through the real binary: the
//! shipped spec at the smoke profile, determinism, keys that do not move when pairs are added,
//! load-time validation, and claims marked `not_reproduced`.

mod util;

use util::{CacheCounts, Project};

const LINEAR_SPEC: &str = include_str!("../specs/dorrell2025/fig3ab_frequencies_linear.ron");
const SPEC_PATH: &str = "specs/dorrell2025/fig3ab_frequencies_linear.ron";
const ID: &str = "dorrell2025/fig3ab_frequencies_linear";
const CSV: &str = "outputs/dorrell2025/fig3ab_frequencies_linear.csv";

#[test]
fn the_shipped_spec_runs_and_is_bit_identical_across_threads_and_reruns() {
    let (project, csv) = util::shipped_spec_is_deterministic(SPEC_PATH, LINEAR_SPEC, CSV, 5);
    // One row per neuron: 5 runs × 16 neurons, and every group present.
    assert_eq!(csv.lines().count(), 1 + 5 * 16);
    for group in ["rational", "irrational", "harmonic"] {
        assert!(csv.contains(&format!("\n{group},")), "{group} missing");
    }
    let manifest = project.read("outputs/dorrell2025/fig3ab_frequencies_linear.manifest.json");
    assert!(manifest.contains("\"median_modularity_irrational\""), "{manifest}");
}

#[test]
fn runs_trained_alone_equal_runs_trained_side_by_side() {
    // `--max-batch 1`: each run alone (one lane); the default: groups of up to four runs in the
    // vector lanes, with spare lanes when a group is short.
    let (alone, together) = (Project::new(), Project::new());
    for (project, extra) in [(&alone, &["--max-batch", "1"][..]), (&together, &[][..])] {
        project.write(SPEC_PATH, LINEAR_SPEC);
        let run = project.modrepro(&[&["--jobs", "1", "run"][..], extra].concat());
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert_eq!(alone.read(CSV), together.read(CSV));
}

#[test]
fn adding_a_pair_trains_only_the_new_run() {
    let p = Project::new();
    p.write(SPEC_PATH, LINEAR_SPEC);
    assert_eq!(p.modrepro(&["run"]).code, 0);
    let before = p.read(CSV);
    p.write(
        SPEC_PATH,
        &LINEAR_SPEC.replace("\"pairs.rational\": 2", "\"pairs.rational\": 3"),
    );
    let run = p.modrepro(&["run"]);
    assert_eq!(
        p.cache_counts(ID),
        CacheCounts { trained: 1, cached: 5 },
        "{}",
        run.stderr
    );
    // The old runs' rows are unchanged.
    let after = p.read(CSV);
    for row in before.lines().filter(|l| l.starts_with("irrational,")) {
        assert!(after.contains(row), "{row} changed");
    }
}

#[test]
fn out_of_domain_values_are_refused_at_load_with_their_position() {
    let p = Project::new();
    p.write(SPEC_PATH, &LINEAR_SPEC.replace("hidden: 16,", "hidden: 0,"));
    let run = p.modrepro(&["list"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let line = LINEAR_SPEC.lines().position(|l| l.contains("hidden: 16")).unwrap() + 1;
    assert!(
        run.stderr.contains(&format!("fig3ab_frequencies_linear.ron:{line}:9")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("`hidden` is 0; allowed: 1 to 1024"),
        "{}",
        run.stderr
    );

    // A bad value set by a profile is reported at the override, naming the profile.
    let bad = LINEAR_SPEC.replace(
        "smoke: {\"training.iterations\": 300,",
        "smoke: {\"training.iterations\": 300, \"training.learning_rate\": 0.0,",
    );
    p.write(SPEC_PATH, &bad);
    let run = p.modrepro(&["plan"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let line = bad
        .lines()
        .position(|l| l.contains("\"training.learning_rate\": 0.0"))
        .unwrap()
        + 1;
    assert!(run.stderr.contains(&format!(":{line}:")), "{}", run.stderr);
    assert!(run.stderr.contains("profile `smoke`"), "{}", run.stderr);
    assert!(run.stderr.contains("allowed: a number in (0, 1)"), "{}", run.stderr);
    assert!(!p.path().join("outputs/cache").exists(), "nothing may train");
}

#[test]
fn a_claim_marked_not_reproduced_is_reported_and_fails_verify_once_it_passes() {
    let p = Project::new();
    // Smoke training is too short for any claim to mean much; these two are about bookkeeping.
    let claims = r#"claims: [
        Claim(id: "known", statement: "s", measure: "share_diverged", expect: AtLeast(0.5),
              published: "p", source: "s", not_reproduced: Some("measured 0 here")),
    ],"#;
    let spec = |claims: &str| {
        let start = LINEAR_SPEC.find("    claims: [").unwrap();
        format!("{}    {claims}\n)\n", &LINEAR_SPEC[..start])
    };
    p.write(SPEC_PATH, &spec(claims));
    let run = p.modrepro(&["verify"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("not reproduced"), "{}", run.stdout);
    assert!(run.stdout.contains("claims: 0 passed, 0 failed"), "{}", run.stdout);

    p.write(SPEC_PATH, &spec(&claims.replace("AtLeast(0.5)", "AtMost(0.5)")));
    let run = p.modrepro(&["verify"]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("remove `not_reproduced`"), "{}", run.stdout);
    assert!(run.stdout.contains("claims: 0 passed, 1 failed"), "{}", run.stdout);
}
