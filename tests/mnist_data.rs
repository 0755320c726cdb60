//! The real MNIST, when `scripts/fetch_mnist.sh` has put it in data/mnist (skipped otherwise).

use std::path::Path;

use modrepro::data::mnist::locate;

#[test]
fn the_classic_pickle_has_the_classic_splits() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    if !dir.join("mnist.pkl.gz").is_file() {
        eprintln!(
            "skipped: {} has no mnist.pkl.gz (run scripts/fetch_mnist.sh)",
            dir.display()
        );
        return;
    }
    let mnist = locate(&dir).unwrap();
    assert_eq!(
        (mnist.train.len(), mnist.validation.len(), mnist.test.len()),
        (50_000, 10_000, 10_000)
    );
    let mut counts = [0usize; 10];
    for &l in &mnist.train.labels {
        counts[l as usize] += 1;
    }
    // Every digit is present in roughly its share (MNIST's classes run 4.5k–5.7k of 50k).
    assert!(counts.iter().all(|&c| (4_000..6_000).contains(&c)), "{counts:?}");
    let mean = mnist.train.images.iter().map(|&v| v as f64).sum::<f64>() / mnist.train.images.len() as f64;
    assert!((mean - 0.13).abs() < 0.01, "mean pixel {mean}");
}
