//! `Derived(base: …)` specs: several artefacts of one experiment share its runs, seeds, sweep and
//! profiles, and a bad derived spec gets one clear error naming the file, line and fix.

mod util;
use util::{CacheCounts, Project, assert_clean_error, random_sets_spec};

const CLAIM: &str =
    r#"Claim(id: "c", statement: "s", measure: "verdict_accuracy", expect: AtLeast(0.0), published: "p", source: "s")"#;

fn derived(set: &str, claims: &str) -> String {
    format!(
        "// A second artefact of base.ron.\nDerived(\n    base: \"base.ron\",\n    figure: \"Figure 1d (variant)\",\n    title: \"derived\",\n    set: {{{set}}},\n    claims: [{claims}],\n)\n"
    )
}

#[test]
fn a_derived_spec_reads_its_base_runs_from_the_cache() {
    let p = Project::new();
    p.write("specs/t/base.ron", &random_sets_spec(2, 10, ""));
    // `mixed_angle_threshold` is read by the summary only, so the runs stay the base's.
    p.write(
        "specs/t/variant.ron",
        &derived(r#""mixed_angle_threshold": 0.1"#, CLAIM),
    );
    let base = p.modrepro(&["run", "t/base"]);
    assert_eq!(base.code, 0, "{}", base.stderr);
    assert_eq!(p.cache_counts("t/base"), CacheCounts { trained: 2, cached: 0 });
    let variant = p.modrepro(&["verify", "t/variant"]);
    assert_eq!(variant.code, 0, "{}", variant.stderr);
    assert_eq!(
        p.cache_counts("t/variant"),
        CacheCounts { trained: 0, cached: 2 },
        "shared runs: {}",
        variant.stderr
    );
    assert!(
        variant.stdout.contains("t/variant"),
        "its own claims: {}",
        variant.stdout
    );
}

#[test]
fn a_derived_spec_that_changes_a_run_parameter_gets_runs_of_its_own() {
    let p = Project::new();
    p.write("specs/t/base.ron", &random_sets_spec(2, 10, ""));
    p.write("specs/t/variant.ron", &derived(r#""n_points": 24"#, ""));
    let plan_of = |id: &str| {
        let run = p.modrepro(&["plan", id]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        run.stdout
            .lines()
            .filter(|l| l.contains("seed"))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let (base, variant) = (plan_of("t/base"), plan_of("t/variant"));
    assert_eq!(base.len(), 2);
    assert_eq!(variant.len(), 2);
    assert!(base.iter().all(|k| !variant.contains(k)), "{base:?} vs {variant:?}");
}

#[test]
fn setting_an_unknown_parameter_names_the_line_and_the_known_ones() {
    let p = Project::new();
    p.write("specs/t/base.ron", &random_sets_spec(2, 10, ""));
    p.write("specs/t/variant.ron", &derived(r#""n_pionts": 24"#, ""));
    let run = p.modrepro(&["run", "t/variant"]);
    assert_clean_error(&run, &["specs/t/variant.ron:6:", "n_pionts", "n_points"]);
}

#[test]
fn setting_a_value_of_the_wrong_type_is_refused() {
    let p = Project::new();
    p.write("specs/t/base.ron", &random_sets_spec(2, 10, ""));
    p.write("specs/t/variant.ron", &derived(r#""n_points": "many""#, ""));
    let run = p.modrepro(&["run", "t/variant"]);
    assert_clean_error(&run, &["specs/t/variant.ron:6:", "n_points"]);
}

#[test]
fn setting_a_value_outside_its_domain_is_refused() {
    let p = Project::new();
    p.write("specs/t/base.ron", &random_sets_spec(2, 10, ""));
    p.write("specs/t/variant.ron", &derived(r#""n_points": 0"#, ""));
    let run = p.modrepro(&["run", "t/variant"]);
    assert_clean_error(&run, &["specs/t/variant.ron:6:", "n_points"]);
}

#[test]
fn a_missing_base_names_the_base_field() {
    let p = Project::new();
    p.write("specs/t/variant.ron", &derived("", ""));
    let run = p.modrepro(&["run", "t/variant"]);
    assert_clean_error(&run, &["specs/t/variant.ron:3:", "base `base.ron`", "cannot be read"]);
}

#[test]
fn a_base_with_an_error_is_reported_through_the_derived_spec() {
    let p = Project::new();
    let broken = random_sets_spec(2, 10, "").replace("latent: 8,", "latnet: 8,");
    p.write("specs/t/base.ron", &broken);
    p.write("specs/t/variant.ron", &derived("", ""));
    let run = p.modrepro(&["run", "t/variant"]);
    assert_clean_error(
        &run,
        &["specs/t/variant.ron:3:", "does not load", "specs/t/base.ron:", "latnet"],
    );
}

#[test]
fn a_base_must_be_a_full_spec() {
    let p = Project::new();
    p.write("specs/t/base.ron", &derived("", "").replace("base.ron", "other.ron"));
    p.write("specs/t/other.ron", &random_sets_spec(2, 10, ""));
    p.write("specs/t/variant.ron", &derived("", ""));
    let run = p.modrepro(&["run", "t/variant"]);
    assert_clean_error(&run, &["specs/t/variant.ron:3:", "itself a Derived spec"]);
}

#[test]
fn a_derived_claim_on_an_unknown_measure_is_refused() {
    let p = Project::new();
    p.write("specs/t/base.ron", &random_sets_spec(2, 10, ""));
    p.write(
        "specs/t/variant.ron",
        &derived("", &CLAIM.replace("verdict_accuracy", "nonsense")),
    );
    let run = p.modrepro(&["run", "t/variant"]);
    assert_clean_error(&run, &["specs/t/variant.ron:", "nonsense", "verdict_accuracy"]);
}

#[test]
fn an_unknown_field_of_a_derived_spec_is_refused() {
    let p = Project::new();
    p.write("specs/t/base.ron", &random_sets_spec(2, 10, ""));
    p.write(
        "specs/t/variant.ron",
        &derived("", "").replace("set:", "seeds: [1],\n    set:"),
    );
    let run = p.modrepro(&["run", "t/variant"]);
    assert_clean_error(&run, &["specs/t/variant.ron:6:", "seeds"]);
}
