//! BPTT training throughput of the Krause et al. 2022 rate RNN (N = 100), the hand-written f32
//! BPTT of `model::rnn_bptt` on the CPU: context-dependent integration, batch 32 × 1,400 steps,
//! and sine generation, batch 51 × 500 steps; Adam with a global gradient-norm clip. Prints a
//! markdown table and,
//! last, `modrepro_iterations_per_second=<integration>` for scripts/bench_rnn_vs_jax.py. The
//! validation checkpoints training makes (f64 simulation, every 50 iterations) are timed and
//! left out.
//! `cargo bench --bench rnn_bptt [-- ITERATIONS]`.

use std::time::Instant;

use modrepro::data::krause_tasks::Task;
use modrepro::model::rnn_training::{RnnTraining, initial_network, train, validation_trials};

fn main() {
    let iterations: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10);
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
        train(task, &init, &warm, 0, |_, _| {});
        let started = Instant::now();
        train(task, &init, &training, 0, |_, _| {});
        let total = started.elapsed().as_secs_f64();
        // Training checks a validation cost at iteration 0 and at the end (and every 50): time
        // one and leave those out, so that the figure is BPTT iterations as in the JAX script.
        let checks = 2 + iterations.saturating_sub(1) / 50;
        let started = Instant::now();
        init.output_cost(&init.w, &validation_trials(task, 0), 0);
        let check = started.elapsed().as_secs_f64();
        let seconds = (total - checks as f64 * check) / iterations as f64;
        if task == Task::ContextIntegration {
            integration = 1.0 / seconds;
        }
        println!("| {task:?} | {shape} | {seconds:.3} | {:.2} |", 1.0 / seconds);
    }
    println!("modrepro_iterations_per_second={integration:.3}");
}
