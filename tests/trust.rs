//! Faults a user trips over, through the real binary: bad flags, a cache that is a file, `gc`
//! while a spec's data is missing, a poisoned cache entry, the shard report.

mod util;

use util::{Project, random_sets_spec};

const ISAAC_SPEC: &str = r#"Spec(
    paper: Dorrell2025,
    figure: "Figure 2 (right)",
    title: "needs data",
    experiment: Isaac3dQlae((data_dir: "nowhere/isaac3d", sources: ["robot_x"], latents: 2,
        values_per_latent: 3, steps: 1, batch_size: 1, learning_rate: 1e-3)),
    seeds: [0],
    claims: [],
)"#;

#[test]
fn zero_jobs_batches_or_angles_are_refused_by_the_parser() {
    let p = Project::new();
    p.write("specs/t/s.ron", &random_sets_spec(2, 10, ""));
    for args in [
        &["--jobs", "0", "list"][..],
        &["--max-batch", "0", "list"],
        &["theory", "x.csv", "--angles", "0"],
    ] {
        let run = p.modrepro(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("invalid value"), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
    }
}

#[test]
fn a_cache_that_is_a_file_is_an_error_naming_it() {
    let p = Project::new();
    p.write("specs/t/s.ron", &random_sets_spec(2, 10, ""));
    p.write("not_a_dir", "x");
    for action in ["ls", "gc"] {
        let run = p.modrepro(&["--cache", "not_a_dir", "cache", action]);
        assert_eq!(run.code, 2, "{action}: {}", run.stderr);
        assert!(
            run.stderr.contains("not_a_dir is a file, not a directory"),
            "{action}: {}",
            run.stderr
        );
    }
}

#[test]
fn gc_deletes_nothing_while_a_spec_cannot_be_planned() {
    let p = Project::new();
    p.write("specs/t/s.ron", &random_sets_spec(2, 10, ""));
    assert_eq!(p.modrepro(&["run"]).code, 0);
    // An orphan entry and a spec whose data is missing: gc must not guess.
    p.write("specs/t/isaac.ron", ISAAC_SPEC);
    let orphan = p.path().join("outputs/cache/ab").join("ab".repeat(32));
    std::fs::create_dir_all(&orphan).unwrap();
    let run = p.modrepro(&["cache", "gc"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("t/isaac (data missing"), "{}", run.stderr);
    assert!(orphan.exists(), "gc deleted an entry while a spec could not be planned");
    // With the spec gone, the orphan goes and the referenced runs stay.
    std::fs::remove_file(p.path().join("specs/t/isaac.ron")).unwrap();
    let run = p.modrepro(&["cache", "gc"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!orphan.exists());
    assert!(run.stderr.contains("removed 1 unreferenced"), "{}", run.stderr);
    let rerun = p.modrepro(&["run"]);
    assert!(
        rerun.stderr.contains("(2 cached, 0 trained; measurements cached)"),
        "{}",
        rerun.stderr
    );
}

#[test]
fn a_result_copied_from_another_entry_is_detected_and_retrained_once() {
    let p = Project::new();
    p.write("specs/t/s.ron", &random_sets_spec(2, 10, ""));
    assert_eq!(p.modrepro(&["run"]).code, 0);
    let csv = p.read("outputs/t/s.csv");
    let entries: Vec<_> = walk_entries(&p.path().join("outputs/cache"));
    assert_eq!(entries.len(), 2);
    for file in ["result.json", "result.sha256"] {
        std::fs::copy(entries[1].join(file), entries[0].join(file)).unwrap();
    }
    // Without the cached summary, the runs are read again.
    std::fs::remove_dir_all(p.path().join("outputs/cache/summaries")).unwrap();
    let run = p.modrepro(&["run"]);
    assert!(run.stderr.contains("failed its check"), "{}", run.stderr);
    assert!(run.stderr.contains("(1 cached, 1 trained)"), "{}", run.stderr);
    assert_eq!(p.read("outputs/t/s.csv"), csv, "the poisoned entry changed the CSV");
    std::fs::remove_dir_all(p.path().join("outputs/cache/summaries")).unwrap();
    let again = p.modrepro(&["run"]);
    assert!(again.stderr.contains("(2 cached, 0 trained)"), "{}", again.stderr);
}

#[test]
fn a_shard_reports_its_share_one_based_in_words() {
    let p = Project::new();
    p.write("specs/t/s.ron", &random_sets_spec(4, 10, ""));
    let run = p.modrepro(&["run", "--shard", "1/2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("shard 1/2: 2 runs (0 cached, 2 trained)"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("Some(Shard"), "{}", run.stderr);
}

fn walk_entries(cache: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut entries = Vec::new();
    for prefix in std::fs::read_dir(cache).unwrap().flatten() {
        if prefix.file_name().len() == 2 {
            entries.extend(std::fs::read_dir(prefix.path()).unwrap().flatten().map(|e| e.path()));
        }
    }
    entries.sort();
    entries
}

#[test]
fn plan_estimates_cpu_time_from_the_last_training_here() {
    let p = Project::new();
    p.write("specs/t/s.ron", &random_sets_spec(2, 10, ""));
    let before = p.modrepro(&["plan"]);
    assert!(before.stdout.contains("no CPU-time estimate yet"), "{}", before.stdout);
    assert_eq!(p.modrepro(&["run"]).code, 0);
    // A rerun trains nothing and keeps the measured throughput; one more set is one run to train.
    assert_eq!(p.modrepro(&["run"]).code, 0);
    p.write("specs/t/s.ron", &random_sets_spec(3, 10, ""));
    let after = p.modrepro(&["plan"]);
    assert!(after.stdout.contains("1 to train; ≈ "), "{}", after.stdout);
    assert!(
        after
            .stdout
            .contains("CPU-hours at the throughput of its last training here"),
        "{}",
        after.stdout
    );
}

/// The planned runs of `spec` (smoke profile) as "key label" lines.
fn planned_runs(p: &Project, spec: &str) -> Vec<String> {
    p.write("specs/t/s.ron", spec);
    let plan = p.modrepro(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    plan.stdout
        .lines()
        .filter(|l| l.contains("seed "))
        .map(|l| l.trim().trim_end_matches("to train").trim().to_string())
        .collect()
}

#[test]
fn adding_a_sweep_point_leaves_every_other_runs_key_unchanged() {
    // Issue 11 §4: seeds came from a run's place in the list, so adding a corner cut gave an
    // unrelated `diag` run a new key (and a new CInfoM).
    let cases = [
        (
            "specs/dorrell2025/fig2_centre.ron",
            r#""corner_cuts": [0.8]"#,
            r#""corner_cuts": [0.5, 0.8]"#,
        ),
        (
            "specs/dorrell2025/fig2_left.ron",
            r#""corner_cuts": [8]"#,
            r#""corner_cuts": [6, 8]"#,
        ),
    ];
    for (shipped, before, after) in cases {
        let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(shipped))
            .expect("shipped spec");
        assert!(
            text.contains(before),
            "{shipped} no longer has {before} in its smoke profile"
        );
        let p = Project::new();
        let old = planned_runs(&p, &text);
        let new = planned_runs(&p, &text.replace(before, after));
        assert_eq!(new.len(), old.len() + 1, "{shipped}: {new:?}");
        for run in &old {
            assert!(
                new.contains(run),
                "{shipped}: run {run} changed its key when a cut was added: {new:?}"
            );
        }
    }
}

#[test]
fn four_processes_on_one_cache_train_each_run_once_and_agree() {
    // Issue 11 §2: two terminals or a job array on one cache must not train a run twice.
    let p = Project::new();
    p.write("specs/t/s.ron", &random_sets_spec(6, 3000, ""));
    let children: Vec<_> = (0..4)
        .map(|i| {
            let outputs = format!("out{i}");
            p.spawn_modrepro(&["--cache", "cache", "--outputs", &outputs, "--jobs", "1", "run"])
        })
        .collect();
    let mut trained = 0;
    let mut csvs = Vec::new();
    for (i, child) in children.into_iter().enumerate() {
        let run = util::Run::wait(child);
        assert_eq!(run.code, 0, "process {i}: {}", run.stderr);
        let manifest: serde_json::Value = serde_json::from_str(&p.read(&format!("out{i}/t/s.manifest.json"))).unwrap();
        let cache = &manifest["cache"];
        assert_eq!(
            cache["hits"].as_u64().unwrap() + cache["trained"].as_u64().unwrap(),
            6,
            "{cache}"
        );
        trained += cache["trained"].as_u64().unwrap();
        csvs.push(p.read(&format!("out{i}/t/s.csv")));
    }
    assert_eq!(trained, 6, "each of the 6 runs is trained by exactly one process");
    assert!(csvs.windows(2).all(|w| w[0] == w[1]), "the four CSVs differ");
}

#[test]
fn an_artefact_planning_more_work_than_allowed_is_refused_before_training() {
    // Issue 11 §1: a profile's `"training.steps": 1e18` hung; now such a plan is refused with
    // its size and the override, and nothing trains.
    let p = Project::new();
    p.write("specs/t/s.ron", &random_sets_spec(4, 1000, ""));
    let refused = p.modrepro(&["--max-work", "3999", "run"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("would train 4 runs, 4000 units of work")
            && refused.stderr.contains("--max-work 4000 to allow it"),
        "{}",
        refused.stderr
    );
    assert!(!p.path().join("outputs/cache").exists(), "nothing was trained");
    let allowed = p.modrepro(&["--max-work", "4000", "run"]);
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
}

fn spec_with_check(bound: &str) -> String {
    random_sets_spec(
        2,
        20,
        &format!(
            r#"checks: [Claim(id: "sets_drawn", statement: "s", measure: "max_reconstruction_loss",
                expect: AtLeast({bound}), published: "p", source: "s")],"#
        ),
    )
}

#[test]
fn a_check_on_generated_data_is_not_a_claim_and_its_failure_fails_verify() {
    // Issue 15: `comparable_nmi` was a claim on data the harness generates. It is a check now:
    // not counted among the claims, recorded in the manifest, and a failed one fails `verify`.
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/dorrell2025/fig2_centre.ron"),
    )
    .unwrap();
    let checks = &shipped[shipped.find("checks: [").expect("fig2_centre has checks")..];
    assert!(checks.contains(r#"id: "comparable_nmi""#));

    let p = Project::new();
    p.write("specs/t/s.ron", &spec_with_check("0.0"));
    let passing = p.modrepro(&["verify"]);
    assert_eq!(passing.code, 0, "{}{}", passing.stdout, passing.stderr);
    assert!(
        !passing.stdout.contains("sets_drawn"),
        "a check is not listed as a claim: {}",
        passing.stdout
    );
    assert!(
        passing.stdout.contains("claims: 0 passed, 0 failed"),
        "{}",
        passing.stdout
    );
    let manifest: serde_json::Value = serde_json::from_str(&p.read("outputs/t/s.manifest.json")).unwrap();
    assert_eq!(manifest["checks"][0]["id"], "sets_drawn");
    assert_eq!(manifest["checks"][0]["passed"], true);

    p.write("specs/t/s.ron", &spec_with_check("1e9"));
    let failing = p.modrepro(&["verify"]);
    assert_eq!(failing.code, 1, "{}", failing.stderr);
    assert!(
        failing
            .stdout
            .contains("checks failed (the spec's design does not hold, see REPORT.md): t/s: sets_drawn"),
        "{}",
        failing.stdout
    );
    assert!(
        failing.stderr.contains("Check `sets_drawn` DOES NOT HOLD"),
        "{}",
        failing.stderr
    );
}

#[test]
fn a_paper_names_every_spec_in_its_directory() {
    let p = Project::new();
    p.write("specs/t/a.ron", &random_sets_spec(2, 10, ""));
    p.write("specs/t/b.ron", &random_sets_spec(3, 10, ""));
    p.write("specs/u/c.ron", &random_sets_spec(1, 10, ""));
    let plan = p.modrepro(&["plan", "t"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout.contains("t/a (smoke): 2 runs") && plan.stdout.contains("t/b (smoke): 3 runs"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("u/c"), "{}", plan.stdout);
    let unknown = p.modrepro(&["plan", "v"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("unknown artefact `v`"), "{}", unknown.stderr);
}
