//! BPTT training throughput of the Krause et al. 2022 rate RNN (N = 100) on the default
//! backend: context-dependent integration, batch 32 × 1,400 steps, and sine generation,
//! batch 51 × 500 steps; Adam with a global gradient-norm clip. Prints a markdown table and,
//! last, `modrepro_iterations_per_second=<integration>` for scripts/bench_rnn_vs_jax.py.
//! `cargo bench --bench rnn_bptt [-- ITERATIONS]`.

use std::time::Instant;

use burn::tensor::Device;
use modrepro::data::krause_tasks::Task;
use modrepro::model::rnn_training::{RnnTraining, initial_network, train};

fn main() {
    let iterations: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10);
    let device = Device::flex();
    let training = RnnTraining {
        iterations,
        batch_size: 32,
        learning_rate: 2e-3,
        clip_norm: 1.0,
        init_density: 0.5,
    };
    println!("| task | batch × steps | s / iteration | iterations / s |");
    println!("| --- | --- | --- | --- |");
    let mut integration = 0.0;
    for (task, shape) in [(Task::ContextIntegration, "32 × 1,400"), (Task::SineWave, "51 × 500")] {
        let init = initial_network(task, training.init_density, 0);
        let warm = RnnTraining {
            iterations: 1,
            ..training
        };
        train(task, &init, &warm, 0, &device, |_, _| {});
        let started = Instant::now();
        train(task, &init, &training, 0, &device, |_, _| {});
        let seconds = started.elapsed().as_secs_f64() / iterations as f64;
        if task == Task::ContextIntegration {
            integration = 1.0 / seconds;
        }
        println!("| {task:?} | {shape} | {seconds:.3} | {:.2} |", 1.0 / seconds);
    }
    println!("modrepro_iterations_per_second={integration:.3}");
}
