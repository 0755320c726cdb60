//! Training throughput of Lange et al.'s MNIST MLP (784→64→64→10, ReLU then dropout 0.3, L2
//! 1e-5, Adam lr 1e-3, batch 200) on the CPU, as `modrepro` trains it (the hand-written step of
//! `model/classifier_backprop.rs`): epochs of 50,000 images (250 Adam steps each),
//! MNIST's when data/mnist has it; the per-epoch validation uses 200 images, a small share. Prints a
//! markdown row (and one for the same training through Burn's autodiff, the reference path)
//! and, last, `modrepro_steps_per_second=` for scripts/bench_vs_pytorch.py.
//! `cargo bench --bench classifier_throughput [-- EPOCHS]`.

use std::time::Instant;

use burn::tensor::Device;
use modrepro::model::classifier::{Classification, ClassifierTraining, ClassifierWeights, Regularisation};
use modrepro::rng::SplitMix64;

fn main() {
    let epochs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(2);
    // MNIST from data/mnist when present (the first layer skips unlit pixels, so the speed
    // depends on how many there are); else random images lit like MNIST's (≈ 19 % of pixels).
    let (train_x, train_y, valid_x, valid_y, data) =
        match modrepro::data::mnist::locate(std::path::Path::new("data/mnist")) {
            Ok(mnist) => (
                mnist.train.images,
                mnist.train.labels,
                mnist.validation.images[..200 * 784].to_vec(),
                mnist.validation.labels[..200].to_vec(),
                "MNIST",
            ),
            Err(_) => {
                let mut rng = SplitMix64::new(0);
                let mut lit = |count: usize| -> Vec<f32> {
                    (0..count * 784)
                        .map(|_| {
                            if rng.uniform() < 0.19 {
                                rng.uniform() as f32
                            } else {
                                0.0
                            }
                        })
                        .collect()
                };
                let labels = |count: usize| (0..count).map(|k| (k % 10) as u8).collect::<Vec<u8>>();
                (
                    lit(50_000),
                    labels(50_000),
                    lit(200),
                    labels(200),
                    "random, MNIST-sparse",
                )
            }
        };
    let (train_x, train_y, valid_x, valid_y) =
        (&train_x[..50_000 * 784], &train_y[..50_000], &valid_x[..], &valid_y[..]);
    let images: usize = 50_000;
    let init = ClassifierWeights::init(&[784, 64, 64, 10], 0);
    let regularisation = Regularisation {
        dropout: 0.3,
        l1: 0.0,
        l2: 1e-5,
    };
    let training = ClassifierTraining {
        max_epochs: epochs,
        batch_size: 200,
        learning_rate: 1e-3,
        plateau_factor: 0.25,
        plateau_patience: 1000,
        stopping_patience: 1000,
        train_subset: None,
    };
    let device = Device::flex();
    let classification = Classification {
        train: (train_x, train_y),
        validation: (valid_x, valid_y),
        init: &init,
        regularisation: &regularisation,
        training: &training,
        seed: 0,
    };
    // The same training through Burn's autodiff (the reference the CPU path gives the bits of),
    // then as `modrepro` trains on the CPU.
    let started = Instant::now();
    let reference = classification.train_with_burn(&device, |_| {});
    let burn_rate = (reference.epochs * images.div_ceil(200)) as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let trained = classification.train(&device, |_| {});
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(trained, reference, "the CPU path gives Burn's bits");
    let steps = trained.epochs * images.div_ceil(200);
    let rate = steps as f64 / seconds;
    println!("| the same through Burn's autodiff and Adam (flex) | | {burn_rate:.0} steps/s |");
    println!(
        "| Lange MLP 784→64→64→10, batch 200 ({data} images) | {:.2} s/epoch | {rate:.0} steps/s |",
        seconds / trained.epochs as f64
    );
    println!("modrepro_steps_per_second={rate:.1}");
}
