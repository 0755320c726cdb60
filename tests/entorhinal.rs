//! Dorrell et al. Fig 4 (the `Entorhinal` kind) end to end through the real binary: the shipped
//! spec at the smoke profile, bit-identical across threads and cached reruns, with its claims
//! marked not reproduced reported as such.

mod util;

const SPEC: &str = include_str!("../specs/dorrell2025/fig4_entorhinal.ron");
const SPEC_PATH: &str = "specs/dorrell2025/fig4_entorhinal.ron";
const CSV: &str = "outputs/dorrell2025/fig4_entorhinal.csv";

#[test]
fn the_shipped_spec_runs_and_is_bit_identical_across_threads_and_reruns() {
    let (_, csv) = util::shipped_spec_is_deterministic(SPEC_PATH, SPEC, CSV, 2);
    // One row per share of fixed rewards at smoke (1 and 0).
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(
        csv.lines()
            .skip(1)
            .all(|row| row.starts_with("1,") || row.starts_with("0,")),
        "{csv}"
    );
}
