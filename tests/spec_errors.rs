//! Bad specs and bad input files get one clear line naming the file (and line and column
//! where there is one), and never a panic.

mod util;
use util::{Project, assert_clean_error, random_sets_spec};

#[test]
fn malformed_ron_names_file_line_and_column() {
    let p = Project::new();
    p.write(
        "specs/t/bad.ron",
        "Spec(\n    paper: Dorrell2025,\n    figure: \"x\"\n    title: \"y\",\n)\n",
    );
    let run = p.modrepro(&["run", "t/bad"]);
    assert_clean_error(&run, &["specs/t/bad.ron:4:", "error:"]);
}

#[test]
fn unknown_field_is_rejected_with_its_position() {
    let p = Project::new();
    let spec = random_sets_spec(2, 10, "").replace("latent: 8,", "latent: 8,\n        latnet: 9,");
    p.write("specs/t/typo.ron", &spec);
    let run = p.modrepro(&["run", "specs/t/typo.ron"]);
    assert_clean_error(&run, &["specs/t/typo.ron:", "latnet"]);
    assert!(run.stderr.contains(":11:"), "line of the typo: {}", run.stderr);
}

#[test]
fn wrong_type_is_rejected_with_its_position() {
    let p = Project::new();
    let spec = random_sets_spec(2, 10, "").replace("n_points: 32", "n_points: \"many\"");
    p.write("specs/t/types.ron", &spec);
    let run = p.modrepro(&["run", "t/types"]);
    assert_clean_error(&run, &["specs/t/types.ron:7:"]);
}

#[test]
fn a_profile_override_of_an_unknown_parameter_names_it() {
    let p = Project::new();
    let spec = random_sets_spec(2, 10, r#"profiles: { smoke: {"training.stepz": 5} },"#);
    p.write("specs/t/override.ron", &spec);
    let run = p.modrepro(&["run", "t/override"]);
    assert_clean_error(&run, &["specs/t/override.ron:", "training.stepz", "steps"]);
}

#[test]
fn a_claim_on_an_unknown_measure_names_the_known_ones() {
    let p = Project::new();
    let claim = r#"claims: [Claim(id: "c", statement: "s", measure: "nonsense", expect: AtLeast(0.0), published: "p", source: "s")],"#;
    p.write("specs/t/claim.ron", &random_sets_spec(2, 10, claim));
    let run = p.modrepro(&["run", "t/claim"]);
    assert_clean_error(&run, &["specs/t/claim.ron:", "nonsense", "verdict_accuracy"]);
}

#[test]
fn an_unknown_artefact_id_lists_the_known_ones() {
    let p = Project::new();
    p.write("specs/t/real.ron", &random_sets_spec(2, 10, ""));
    let run = p.modrepro(&["run", "t/imaginary"]);
    assert_clean_error(&run, &["t/imaginary", "t/real"]);
}

#[test]
fn a_missing_spec_file_says_so() {
    let p = Project::new();
    p.write("specs/t/real.ron", &random_sets_spec(2, 10, ""));
    let run = p.modrepro(&["run", "specs/t/absent.ron"]);
    assert_clean_error(&run, &["specs/t/absent.ron", "cannot read"]);
}

#[test]
fn an_unreadable_points_file_is_reported() {
    let p = Project::new();
    let run = p.modrepro(&["theory", "nowhere.csv"]);
    assert_clean_error(&run, &["nowhere.csv", "cannot read"]);
    p.write("bad.csv", "s1,s2\n0.1,0.2\n0.3,x\n");
    let run = p.modrepro(&["theory", "bad.csv"]);
    assert_clean_error(&run, &["bad.csv:3:", "column 2"]);
}

#[test]
fn a_lange_claim_on_a_value_its_report_does_not_measure_is_refused_at_load() {
    // The wide-MLP spec claims Q-vs-dropout values; as an Agreement report it measures none.
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/lange2022/q_vs_dropout_wide.ron"),
    )
    .unwrap();
    let p = Project::new();
    p.write(
        "specs/t/wide.ron",
        &shipped.replace("report: ModularityVsRegularisation", "report: Agreement"),
    );
    let run = p.modrepro(&["plan", "t/wide"]);
    assert_clean_error(
        &run,
        &[
            "specs/t/wide.ron:",
            "spearman_q_vs_dropout",
            "agreement_within_upstream",
        ],
    );
}
