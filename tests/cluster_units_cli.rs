//! `modrepro cluster-units` end to end on a network and inputs the test writes: a two-block
//! MLP (each half of the hidden units sees its own half of the inputs and drives its own
//! output) must come out modular, well above untrained networks of its shape.

mod util;

use modrepro::data::npy::npy_bytes_f64;
use modrepro::data::npz::write_npz;
use modrepro::rng::SplitMix64;
use util::Project;

const INPUTS: usize = 8;
const HIDDEN: usize = 6;
const OUTPUTS: usize = 2;

/// Block b of a (rows × cols) matrix in PyTorch's (out, in) layout: nonzero only where the row
/// and the column fall in the same half.
fn two_blocks(rows: usize, cols: usize, rng: &mut SplitMix64) -> Vec<f64> {
    let mut w = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            if (r * 2 / rows) == (c * 2 / cols) {
                w[r * cols + c] = 0.5 + rng.uniform();
            }
        }
    }
    w
}

fn write_block_network(p: &Project) {
    let mut rng = SplitMix64::new(11);
    let w1 = two_blocks(HIDDEN, INPUTS, &mut rng);
    let w2 = two_blocks(HIDDEN, HIDDEN, &mut rng);
    let w3 = two_blocks(OUTPUTS, HIDDEN, &mut rng);
    write_npz(
        &p.path().join("mlp.npz"),
        &[
            ("W1", &[HIDDEN, INPUTS], &w1),
            ("b1", &[HIDDEN], &[0.0; HIDDEN]),
            ("W2", &[HIDDEN, HIDDEN], &w2),
            ("b2", &[HIDDEN], &[0.0; HIDDEN]),
            ("W3", &[OUTPUTS, HIDDEN], &w3),
            ("b3", &[OUTPUTS], &[0.0; OUTPUTS]),
        ],
    )
    .unwrap();
    let x: Vec<f64> = (0..200 * INPUTS).map(|_| rng.uniform()).collect();
    std::fs::write(p.path().join("x.npy"), npy_bytes_f64(&[200, INPUTS], &x)).unwrap();
}

#[test]
fn a_two_block_network_is_found_modular_above_its_untrained_null() {
    let p = Project::new();
    write_block_network(&p);
    let run = p.modrepro(&["cluster-units", "mlp.npz", "x.npy", "--steps", "300", "--out", "q.csv"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("MLP 8→6→6→2 (ReLU), association matrices over 200 input samples"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("verdict: "), "{}", run.stdout);
    let csv = p.read("q.csv");
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(csv.lines().next().unwrap(), "layer,method,q,untrained_q,clusters");
    assert_eq!(rows.len(), 2 * 4, "two hidden layers × four methods: {csv}");
    for row in &rows {
        let (q, null, clusters): (f64, f64, f64) = (
            row[2].parse().unwrap(),
            row[3].parse().unwrap(),
            row[4].parse().unwrap(),
        );
        assert!(q.is_finite() && null.is_finite() && clusters >= 1.0, "{row:?}");
        // The output Hessian couples every pair of logits through the softmax
        // (diag(p) − ppᵀ), so it sees no blocks here, by the mathematics, not by a bug.
        if row[1] == "output_hessian" {
            continue;
        }
        // Two disconnected blocks: Q = 1/2 for the right split of block-diagonal matrices; the
        // input covariance has small sampling noise across blocks (200 samples), so less.
        assert!(q > 0.3, "{row:?}: the two blocks were not found");
        assert!(q > null + 0.1, "{row:?}: not above the untrained null");
        assert!((clusters - 2.0).abs() < 0.1, "{row:?}");
    }
    let agreement = p.read("q_agreement.csv");
    assert_eq!(agreement.lines().count(), 1 + 2 * 6, "{agreement}");
}

#[test]
fn mismatched_layers_and_inputs_are_clear_errors() {
    let p = Project::new();
    write_block_network(&p);
    let wrong = vec![0.0; 5 * 3];
    std::fs::write(p.path().join("x5.npy"), npy_bytes_f64(&[3, 5], &wrong)).unwrap();
    let inputs = p.modrepro(&["cluster-units", "mlp.npz", "x5.npy"]);
    assert_eq!(inputs.code, 2);
    assert!(
        inputs
            .stderr
            .contains("x5.npy: shape [3, 5] gives 5 values per sample, but the network takes 8"),
        "{}",
        inputs.stderr
    );
    write_npz(
        &p.path().join("broken.npz"),
        &[
            ("W1", &[6, 8], &[0.1; 48]),
            ("b1", &[6], &[0.0; 6]),
            ("W2", &[2, 5], &[0.1; 10]),
            ("b2", &[2], &[0.0; 2]),
        ],
    )
    .unwrap();
    let layers = p.modrepro(&["cluster-units", "broken.npz", "x.npy"]);
    assert_eq!(layers.code, 2);
    assert!(
        layers.stderr.contains("`W2` takes 5 inputs but layer 1 has 6 units"),
        "{}",
        layers.stderr
    );
}
