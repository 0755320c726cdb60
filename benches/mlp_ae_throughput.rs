//! Training throughput of the Fig 2 autoencoder (3→16→16→6→16→16→3, batch 512, AdamW) on the
//! CPU (the hand-written path of `mlp_ae::train_batch`), one run and 8 runs per program. Prints a
//! markdown table and, last, `modrepro_steps_per_second=<one run>` and
//! `modrepro_run_steps_per_second_8=<8 runs>` for scripts/bench_fig2_vs_jax.py to read (and a
//! row for 28 runs, as many as Fig 2 centre trains in one program on 2 cores).
//! `cargo bench --bench mlp_ae_throughput [-- STEPS]`.

use std::time::Instant;

use burn::tensor::Device;
use modrepro::data::grid3d::{Manipulation, generate};
use modrepro::model::AutoencoderObjective;
use modrepro::model::mlp_ae::{MlpShape, MlpTraining, RunBatch, train_batch};

fn main() {
    let steps: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(2_000);
    let device = Device::flex();
    let shape = MlpShape {
        encoder: vec![3, 16, 16, 6],
        decoder: vec![6, 16, 16, 3],
    };
    let objective = AutoencoderObjective {
        reconstruction: 1.0,
        activity: 1e-2,
        nonnegativity: 1.0,
        weight: 1e-4,
    };
    let training = MlpTraining {
        steps,
        batch_size: 512,
        learning_rate: 1e-3,
        weight_decay: 1e-4,
        init_scale: 0.3,
    };
    let grid = generate(21, &Manipulation::Untouched).values;
    println!("| runs per program | steps/s (program) | run-steps/s |");
    println!("| --- | --- | --- |");
    let mut rates = Vec::new();
    // 28 runs: one of `--jobs 2`'s two chunks of Fig 2 centre's 55 runs.
    for runs in [1usize, 8, 28] {
        let data = vec![grid.clone(); runs];
        let inits: Vec<_> = (0..runs).map(|r| shape.init(0.3, r as u64)).collect();
        let seeds: Vec<u64> = (0..runs as u64).collect();
        let warm = MlpTraining { steps: 50, ..training };
        let batch = RunBatch {
            data: &data,
            inits: &inits,
            batch_seeds: &seeds,
            shape: &shape,
            objective: &objective,
            training: &warm,
        };
        train_batch(&batch, &device, |_| {});
        let started = Instant::now();
        train_batch(
            &RunBatch {
                training: &training,
                ..batch
            },
            &device,
            |_| {},
        );
        let rate = steps as f64 / started.elapsed().as_secs_f64();
        println!("| {runs} | {rate:.0} | {:.0} |", rate * runs as f64);
        rates.push(rate * runs as f64);
    }
    println!("modrepro_steps_per_second={:.1}", rates[0]);
    println!("modrepro_run_steps_per_second_8={:.1}", rates[1]);
}
