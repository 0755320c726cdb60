//! The harness end to end on tiny specs: caching, invalidation, corruption, determinism,
//! batch invariance, exit codes.

mod util;
use util::{CacheCounts, Project, random_sets_spec};

#[test]
fn rerunning_trains_nothing_and_one_changed_sweep_point_retrains_only_its_runs() {
    let p = Project::new();
    let sweep = r#"sweep: [SweepAxis(param: "objective.activity", values: [1e-3, 2e-3])],"#;
    p.write("specs/t/sweep.ron", &random_sets_spec(2, 20, sweep));
    let first = p.modrepro(&["run", "t/sweep"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(p.cache_counts("t/sweep"), CacheCounts { trained: 4, cached: 0 });
    let csv = p.read("outputs/t/sweep.csv");
    assert!(
        csv.starts_with("objective.activity,seed,set,"),
        "sweep values are columns: {csv}"
    );
    assert_eq!(csv.lines().count(), 5);

    let again = p.modrepro(&["run", "t/sweep"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(p.cache_counts("t/sweep"), CacheCounts { trained: 0, cached: 4 });

    let changed = r#"sweep: [SweepAxis(param: "objective.activity", values: [1e-3, 3e-3])],"#;
    p.write("specs/t/sweep.ron", &random_sets_spec(2, 20, changed));
    let partial = p.modrepro(&["run", "t/sweep"]);
    assert_eq!(partial.code, 0, "{}", partial.stderr);
    assert_eq!(p.cache_counts("t/sweep"), CacheCounts { trained: 2, cached: 2 });
}

#[test]
fn a_corrupted_cache_entry_is_reported_and_recomputed() {
    let p = Project::new();
    p.write("specs/t/c.ron", &random_sets_spec(2, 20, ""));
    assert_eq!(p.modrepro(&["run", "t/c"]).code, 0);
    let before = p.read("outputs/t/c.csv");
    // Damage one run entry's result; drop the cached summary so the runs are read again.
    let cache = p.path().join("outputs/cache");
    std::fs::remove_dir_all(cache.join("summaries")).unwrap();
    let entry = walk(&cache).into_iter().find(|f| f.ends_with("result.json")).unwrap();
    std::fs::write(&entry, b"{\"LinearAe\": 1}").unwrap();
    let run = p.modrepro(&["run", "t/c"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("failed its check"), "{}", run.stderr);
    assert_eq!(p.cache_counts("t/c"), CacheCounts { trained: 1, cached: 1 });
    assert_eq!(before, p.read("outputs/t/c.csv"), "the recomputed result is the same");
}

#[test]
fn an_unchanged_rerun_reads_the_cached_summary_and_a_claim_edit_recomputes_nothing() {
    let p = Project::new();
    let claim = |bound: &str| {
        format!(
            r#"claims: [Claim(id: "c", statement: "s", measure: "verdict_accuracy", expect: AtLeast({bound}), published: "p", source: "s")],"#
        )
    };
    p.write("specs/t/m.ron", &random_sets_spec(2, 20, &claim("0.0")));
    let first = p.modrepro(&["verify", "t/m"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(!first.stderr.contains("measurements cached"), "{}", first.stderr);
    let csv = p.read("outputs/t/m.csv");
    let png = std::fs::read(p.path().join("outputs/t/m.png")).unwrap();

    // A stricter claim: evaluated afresh, nothing measured again.
    p.write("specs/t/m.ron", &random_sets_spec(2, 20, &claim("2.0")));
    let second = p.modrepro(&["verify", "t/m"]);
    assert_eq!(second.code, 1, "{}", second.stdout);
    assert!(
        second.stderr.contains("(2 cached, 0 trained; measurements cached)"),
        "{}",
        second.stderr
    );
    assert_eq!(p.read("outputs/t/m.csv"), csv);
    assert_eq!(std::fs::read(p.path().join("outputs/t/m.png")).unwrap(), png);
    let manifest = p.read("outputs/t/m.manifest.json");
    assert!(manifest.contains("\"summary_cached\": true"), "{manifest}");

    // A damaged summary is reported and recomputed, to the same bytes.
    let summaries = p.path().join("outputs/cache/summaries");
    let entry = walk(&summaries)
        .into_iter()
        .find(|f| f.ends_with("result.json"))
        .unwrap();
    std::fs::write(&entry, b"{}").unwrap();
    let third = p.modrepro(&["run", "t/m"]);
    assert!(
        third.stderr.contains("cached summary of t/m failed its check"),
        "{}",
        third.stderr
    );
    assert!(!third.stderr.contains("measurements cached"), "{}", third.stderr);
    assert_eq!(p.read("outputs/t/m.csv"), csv);

    // A deleted figure is drawn again from the cached summary.
    std::fs::remove_file(p.path().join("outputs/t/m.png")).unwrap();
    let fourth = p.modrepro(&["run", "t/m"]);
    assert!(fourth.stderr.contains("measurements cached"), "{}", fourth.stderr);
    assert_eq!(std::fs::read(p.path().join("outputs/t/m.png")).unwrap(), png);
}

#[test]
fn same_spec_and_seed_give_bit_identical_csv_whatever_the_batching() {
    let p = Project::new();
    p.write("specs/t/d.ron", &random_sets_spec(4, 50, ""));
    assert_eq!(p.modrepro(&["run", "t/d", "--cache", "cache-a"]).code, 0);
    let first = p.read("outputs/t/d.csv");
    // A fresh cache, and every run trained alone rather than in one batch of 4.
    let run = p.modrepro(&["run", "t/d", "--cache", "cache-b", "--max-batch", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(p.cache_counts("t/d"), CacheCounts { trained: 4, cached: 0 });
    assert_eq!(first, p.read("outputs/t/d.csv"));
}

#[test]
fn verify_prints_every_claim_and_fails_when_one_does() {
    let p = Project::new();
    let claims = r#"claims: [
        Claim(id: "reconstructs", statement: "s", measure: "max_reconstruction_loss", expect: AtMost(1e9), published: "p", source: "s"),
        Claim(id: "impossible", statement: "s", measure: "verdict_accuracy", expect: AtLeast(2.0), published: "p", source: "s"),
    ],"#;
    p.write("specs/t/v.ron", &random_sets_spec(2, 10, claims));
    let run = p.modrepro(&["verify"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("reconstructs") && run.stdout.contains("pass"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("impossible") && run.stdout.contains("FAIL"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 passed, 1 failed"), "{}", run.stdout);
    let report = p.read("outputs/REPORT.md");
    assert!(report.contains("1 of 2 pass") && report.contains("t/v.png"), "{report}");
    let manifest = p.read("outputs/t/v.manifest.json");
    assert!(
        manifest.contains("\"profile\": \"smoke\"") && manifest.contains("spec_sha256"),
        "{manifest}"
    );
}

#[test]
fn list_shows_runs_per_profile() {
    let p = Project::new();
    let profiles = r#"profiles: { smoke: {"n_sets": 2}, quick: {"n_sets": 4} },"#;
    p.write("specs/t/l.ron", &random_sets_spec(6, 10, profiles));
    let run = p.modrepro(&["list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let row = run.stdout.lines().find(|l| l.starts_with("t/l")).unwrap();
    let numbers: Vec<&str> = row.split_whitespace().filter(|w| w.parse::<usize>().is_ok()).collect();
    assert_eq!(numbers, ["2", "4", "6"], "{row}");
}

#[test]
fn a_shard_trains_only_its_share() {
    let p = Project::new();
    p.write("specs/t/s.ron", &random_sets_spec(4, 10, ""));
    assert_eq!(p.modrepro(&["run", "t/s", "--shard", "1/2"]).code, 0);
    let run = p.modrepro(&["run", "t/s"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(p.cache_counts("t/s"), CacheCounts { trained: 2, cached: 2 });
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn an_artefact_whose_data_is_missing_is_reported_not_failed_and_not_passed() {
    let p = Project::new();
    p.write("specs/t/ok.ron", &random_sets_spec(2, 10, ""));
    p.write(
        "specs/t/isaac.ron",
        r#"Spec(
    paper: Dorrell2025,
    figure: "Figure 2 (right)",
    title: "needs data",
    experiment: Isaac3dQlae((data_dir: "nowhere/isaac3d", sources: ["robot_x"], latents: 2,
        values_per_latent: 3, steps: 1, batch_size: 1, learning_rate: 1e-3)),
    seeds: [0],
    claims: [Claim(id: "c", statement: "s", measure: "cinfom_independent", expect: AtLeast(0.0), published: "p", source: "s")],
)"#,
    );
    let run = p.modrepro(&["verify"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("skipped (data missing)") && run.stderr.contains("nowhere/isaac3d/labels.npy"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("data missing"), "{}", run.stdout);
    assert!(run.stdout.contains("0 passed, 0 failed, 1 skipped"), "{}", run.stdout);
    let report = p.read("outputs/REPORT.md");
    assert!(
        report.contains("**data missing**") && report.contains("1 artefact(s) unavailable"),
        "{report}"
    );
}

#[test]
fn nonlinear_runs_are_identical_across_batching_and_threads() {
    let p = Project::new();
    p.write(
        "specs/t/mlp.ron",
        r#"Spec(
    paper: Dorrell2025,
    figure: "Figure 2 (centre)",
    title: "t",
    experiment: RangeManipulation((
        values_per_source: 5, corner_cuts: [0.5, 1.0], diagonal_remove_radii: [0.2], diagonal_strengthen_radius: 0.1,
        diagonal_strengthen_copies: [2],
        shape: (encoder: [3, 8, 4], decoder: [4, 8, 3]),
        objective: (reconstruction: 1.0, activity: 1e-2, nonnegativity: 1.0, weight: 1e-4),
        training: (steps: 40, batch_size: 16, learning_rate: 1e-3, weight_decay: 1e-4, init_scale: 0.3),
        metrics: (neighbours: 2, duplicate: 2, z_noise: 0.01, noise_seed: 0),
        reconstruction_filter: None,
    )),
    seeds: [1, 2],
)"#,
    );
    let run = p.modrepro(&["run", "t/mlp", "--cache", "a", "--jobs", "2"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let first = p.read("outputs/t/mlp.csv");
    let run = p.modrepro(&["run", "t/mlp", "--cache", "b", "--jobs", "1", "--max-batch", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(p.cache_counts("t/mlp"), CacheCounts { trained: 10, cached: 0 });
    assert_eq!(first, p.read("outputs/t/mlp.csv"));
}

/// Tiny MNIST-format IDX files (random pixels) for driving the Lange experiment end to end.
fn write_tiny_idx(p: &Project, dir: &str, train: usize, test: usize) {
    let mut rng: u64 = 12345;
    let mut byte = || {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (rng >> 56) as u8
    };
    let idx = |magic: u32, shape: &[u32], data: Vec<u8>| {
        let mut out = magic.to_be_bytes().to_vec();
        for d in shape {
            out.extend(d.to_be_bytes());
        }
        out.extend(data);
        out
    };
    for (stem, n) in [("train", train), ("t10k", test)] {
        let pixels: Vec<u8> = (0..n * 784).map(|_| byte()).collect();
        let labels: Vec<u8> = (0..n).map(|k| (k % 10) as u8).collect();
        let images = idx(0x0803, &[n as u32, 28, 28], pixels);
        let labels = idx(0x0801, &[n as u32], labels);
        std::fs::create_dir_all(p.path().join(dir)).unwrap();
        std::fs::write(p.path().join(format!("{dir}/{stem}-images-idx3-ubyte")), images).unwrap();
        std::fs::write(p.path().join(format!("{dir}/{stem}-labels-idx1-ubyte")), labels).unwrap();
    }
}

#[test]
fn unit_clustering_runs_end_to_end_on_idx_files_and_reports_missing_mnist() {
    let p = Project::new();
    let spec = |data_dir: &str| {
        format!(
            r#"Spec(
    paper: Lange2022,
    figure: "Fig. 3",
    title: "t",
    experiment: UnitClustering((
        data_dir: "{data_dir}", hidden: [8, 8], dropout: [0.1, 0.5], l1: [], l2: [1e-3], default_l2: 1e-5,
        training: (max_epochs: 2, batch_size: 20, learning_rate: 1e-3, plateau_factor: 0.25,
                   plateau_patience: 3, stopping_patience: 6, train_subset: None),
        untrained: true, eval_samples: 30, normed: true,
        monte_carlo: (steps: 200, target_entropy: 0.15, seed: 0),
        accuracy_filter: None, report: ModularityVsRegularisation,
    )),
    seeds: [0],
    claims: [Claim(id: "null", statement: "s", measure: "untrained_q", expect: AtLeast(-1.0), published: "p", source: "s")],
)"#
        )
    };
    write_tiny_idx(&p, "mnist", 120, 30);
    p.write("specs/t/lange.ron", &spec("mnist"));
    p.write("specs/t/absent.ron", &spec("nowhere"));
    let run = p.modrepro(&["verify"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("t/absent") && run.stderr.contains("skipped (data missing)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("scripts/fetch_mnist.sh"), "{}", run.stderr);
    assert!(run.stdout.contains("1 passed, 0 failed, 1 skipped"), "{}", run.stdout);
    let csv = p.read("outputs/t/lange.csv");
    // 4 runs (2 dropout, 1 l2, 1 untrained) × 2 layers × 4 methods.
    assert_eq!(csv.lines().count(), 1 + 4 * 2 * 4, "{csv}");
    let manifest = p.read("outputs/t/lange.manifest.json");
    assert!(
        manifest.contains("IDX files in mnist: 100 train / 20 validation / 30 test"),
        "{manifest}"
    );
    // Same spec and seed, fresh cache, one thread: bit-identical numbers.
    let again = p.modrepro(&["run", "t/lange", "--cache", "other", "--jobs", "1"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(csv, p.read("outputs/t/lange.csv"));

    // Cache keys hold the data's fingerprint, not its path: moving the files retrains nothing…
    std::fs::rename(p.path().join("mnist"), p.path().join("moved")).unwrap();
    p.write("specs/t/lange.ron", &spec("moved"));
    let moved = p.modrepro(&["run", "t/lange"]);
    assert_eq!(moved.code, 0, "{}", moved.stderr);
    assert_eq!(p.cache_counts("t/lange"), CacheCounts { trained: 0, cached: 4 });
    assert_eq!(csv, p.read("outputs/t/lange.csv"));
    // …and changing their content retrains every run that reads them.
    write_tiny_idx(&p, "moved", 130, 30);
    let changed = p.modrepro(&["run", "t/lange"]);
    assert_eq!(changed.code, 0, "{}", changed.stderr);
    assert_eq!(p.cache_counts("t/lange"), CacheCounts { trained: 4, cached: 0 });
}

/// A Krause spec whose networks are trained here, tiny: one sine network, a few iterations.
fn trained_rnn_spec(iterations: usize) -> String {
    format!(
        r#"Spec(
    paper: Krause2022,
    figure: "Figure 3 e–g",
    title: "trained here",
    experiment: OperativeDimensions((
        task: SineWave,
        networks: Trained((iterations: {iterations}, batch_size: 32, learning_rate: 0.002, clip_norm: 1.0, init_density: 0.5)),
        network_count: 1,
        ranks: [3, 100],
        eval_repeats: 1,
        sampling_repeats: 1,
        noise_seed: 0,
        rows: (max_dims: 3, relative_floor: 1e-3),
    )),
    seeds: [0],
    claims: [Claim(id: "c", statement: "s", measure: "training_loss_at_kept_median", expect: AtMost(10.0), published: "p", source: "s")],
)"#
    )
}

#[test]
fn a_network_trained_here_is_analysed_cached_and_bit_identical_in_a_fresh_project() {
    let p = Project::new();
    p.write("specs/t/rnn.ron", &trained_rnn_spec(3));
    let first = p.modrepro(&["verify"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(p.cache_counts("t/rnn"), CacheCounts { trained: 1, cached: 0 });
    let csv = p.read("outputs/t/rnn.csv");
    for method in ["operative_columns", "operative_rows", "svd", "random_locations"] {
        assert!(
            csv.contains(&format!("sine_wave,01,{method},3,")),
            "{method} missing: {csv}"
        );
    }
    // At full rank every reduced network is W itself: zero state distance.
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let column = header
        .iter()
        .position(|h| *h == "state_distance")
        .expect("a state_distance column");
    for line in csv.lines().filter(|l| l.contains(",100,")) {
        let distance: f64 = line.split(',').nth(column).unwrap().parse().unwrap();
        assert!(distance < 1e-6, "full rank is not W: {line}");
    }
    assert_eq!(p.modrepro(&["run", "t/rnn"]).code, 0);
    assert_eq!(p.cache_counts("t/rnn"), CacheCounts { trained: 0, cached: 1 });
    assert_eq!(
        csv,
        p.read("outputs/t/rnn.csv"),
        "measured from the cache → the same bytes as fresh"
    );
    let other = Project::new();
    other.write("specs/t/rnn.ron", &trained_rnn_spec(3));
    assert_eq!(other.modrepro(&["run", "t/rnn"]).code, 0);
    assert_eq!(csv, other.read("outputs/t/rnn.csv"), "same spec and seed → same bytes");
    // A different training length is a different run.
    p.write("specs/t/rnn.ron", &trained_rnn_spec(4));
    assert_eq!(p.modrepro(&["run", "t/rnn"]).code, 0);
    assert_eq!(p.cache_counts("t/rnn"), CacheCounts { trained: 1, cached: 0 });
}
