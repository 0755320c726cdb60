//! `modrepro operative-dims` end to end on a network archive the test writes: the verdict, the
//! CSV, and the errors a user meets (wrong task, missing network, malformed file).

mod util;

use modrepro::data::npz::write_npz;
use modrepro::rng::SplitMix64;
use util::Project;

/// A random rate RNN with N units and `inputs` input columns, as `net01_*` arrays.
fn write_network(path: &std::path::Path, n: usize, inputs: usize) {
    let mut rng = SplitMix64::new(5);
    let mut draw = |count: usize, scale: f64| -> Vec<f64> { (0..count).map(|_| scale * rng.normal()).collect() };
    let w = draw(n * n, 1.2 / (n as f64).sqrt());
    let b = draw(n * inputs, 1.0);
    let w_out = draw(n, 1.0 / (n as f64).sqrt());
    write_npz(
        path,
        &[
            ("net01_W", &[n, n], &w),
            ("net01_B", &[n, inputs], &b),
            ("net01_w_out", &[1, n], &w_out),
            ("net01_b_x", &[n], &vec![0.0; n]),
            ("net01_b_z", &[1], &[0.0]),
        ],
    )
    .unwrap();
}

#[test]
fn a_networks_operative_dimensions_are_reported_and_tabulated() {
    let p = Project::new();
    write_network(&p.path().join("net.npz"), 12, 1);
    let run = p.modrepro(&[
        "operative-dims",
        "net.npz",
        "--task",
        "sine-wave",
        "--ranks",
        "1,2,4,8",
        "--sampling-repeats",
        "1",
        "--row-dims",
        "4",
        "--out",
        "dims.csv",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("12 units, 1 input(s), task SineWave"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("W's own singular vectors"), "{}", run.stdout);
    assert!(run.stdout.contains("verdict: "), "{}", run.stdout);
    let csv = p.read("dims.csv");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "method,rank,output_cost,state_distance");
    for method in ["operative_columns", "operative_rows", "svd", "random_locations"] {
        for rank in [1, 2, 4, 8, 12] {
            let prefix = format!("{method},{rank},");
            let row = rows
                .iter()
                .find(|r| r.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no {prefix} in {csv}"));
            let cost: f64 = row.split(',').nth(2).unwrap().parse().unwrap();
            assert!(cost.is_finite() && cost >= 0.0, "{row}");
        }
    }
    // At full rank every reduction is W itself (up to rounding): the same cost for every method.
    let full: Vec<f64> = rows
        .iter()
        .filter(|r| r.contains(",12,"))
        .map(|r| r.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert_eq!(full.len(), 4);
    assert!(
        full.windows(2).all(|w| (w[0] - w[1]).abs() <= 1e-9 * w[0].abs()),
        "{full:?}"
    );
}

#[test]
fn a_wrong_task_a_missing_network_and_a_bad_file_are_clear_errors() {
    let p = Project::new();
    write_network(&p.path().join("net.npz"), 6, 1);
    let wrong_task = p.modrepro(&["operative-dims", "net.npz", "--task", "context-integration"]);
    assert_eq!(wrong_task.code, 2);
    assert!(
        wrong_task
            .stderr
            .contains("net01_B has 1 input column(s), but the ContextIntegration task feeds 5"),
        "{}",
        wrong_task.stderr
    );
    let missing = p.modrepro(&["operative-dims", "net.npz", "--task", "sine-wave", "--network", "2"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("no array `net02_W`"), "{}", missing.stderr);
    p.write("garbage.npz", "not a zip");
    let garbage = p.modrepro(&["operative-dims", "garbage.npz", "--task", "sine-wave"]);
    assert_eq!(garbage.code, 2);
    assert!(
        garbage.stderr.contains("garbage.npz: not a zip archive"),
        "{}",
        garbage.stderr
    );
}
