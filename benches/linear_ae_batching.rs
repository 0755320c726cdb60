//! Training throughput of the Fig 1c/1d linear autoencoder (2→16→2, 32 samples, full batch,
//! Adam) on the default backend: one run at a time vs runs batched along a leading axis.
//! `cargo bench --bench linear_ae_batching`; results go in BENCHMARKS.md.

use std::time::Instant;

use burn::tensor::Device;
use modrepro::model::AutoencoderObjective;
use modrepro::model::linear_ae::{LinearAeWeights, Training, train_batch};
use modrepro::rng::SplitMix64;

fn main() {
    let device = Device::flex();
    let objective = AutoencoderObjective {
        reconstruction: 1.0,
        activity: 1e-3,
        nonnegativity: 0.5,
        weight: 1e-4,
    };
    let steps = 20_000;
    let training = Training {
        steps,
        learning_rate: 1e-3,
        beta_1: 0.9,
        beta_2: 0.999,
        epsilon: 1e-8,
    };
    let mut single = 0.0;
    println!("| runs per program | steps/s (program) | run-steps/s | µs per run-step |");
    println!("| --- | --- | --- | --- |");
    for runs in [1usize, 8, 32, 100] {
        let mut rng = SplitMix64::new(runs as u64);
        let data: Vec<Vec<Vec<f64>>> = (0..runs)
            .map(|_| (0..32).map(|_| vec![rng.uniform(), rng.uniform()]).collect())
            .collect();
        let inits: Vec<LinearAeWeights> = (0..runs).map(|r| LinearAeWeights::init(2, 16, r as u64)).collect();
        // Warm-up (allocations, thread pool).
        train_batch(
            &data,
            &inits,
            &objective,
            &Training { steps: 50, ..training },
            &device,
            |_| {},
        );
        let started = Instant::now();
        train_batch(&data, &inits, &objective, &training, &device, |_| {});
        let seconds = started.elapsed().as_secs_f64();
        let rate = steps as f64 / seconds;
        println!(
            "| {runs} | {rate:.0} | {:.0} | {:.1} |",
            rate * runs as f64,
            1e6 / (rate * runs as f64)
        );
        if runs == 1 {
            single = 1e6 / rate;
        }
    }
    // For scripts/bench_vs_pytorch.py.
    println!("modrepro_us_per_step={single:.2}");
}
