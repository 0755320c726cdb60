//! Simulation throughput of the Krause rate RNN in f64 (100 units), as the operative-dimension
//! analysis runs it: the output cost of all 51 sine trials (500 steps each, with noise), one W
//! after another. Prints unit-steps per second and ns per unit-step.
//! `cargo bench --bench rate_rnn [-- SECONDS]`.

use std::time::Instant;

use modrepro::data::krause_tasks::sine_trial;
use modrepro::model::rate_rnn::RateRnn;
use modrepro::rng::SplitMix64;

fn main() {
    let seconds: f64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(3.0);
    let n = 100;
    let mut rng = SplitMix64::new(1);
    let mut draw = |count: usize, scale: f64| -> Vec<f64> { (0..count).map(|_| scale * rng.normal()).collect() };
    let net = RateRnn {
        n,
        inputs: 1,
        w: draw(n * n, 1.2 / (n as f64).sqrt()),
        b: draw(n, 1.0),
        w_out: draw(n, 0.1),
        b_x: draw(n, 0.1),
        b_z: 0.0,
    };
    let trials: Vec<_> = (1..=51).map(sine_trial).collect();
    let unit_steps_per_cost = (trials.iter().map(|t| t.inputs.len()).sum::<usize>() * n) as f64;
    let started = Instant::now();
    let mut costs = 0;
    let mut total = 0.0;
    while started.elapsed().as_secs_f64() < seconds {
        total += net.output_cost(&net.w, &trials, 7);
        costs += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rate = costs as f64 * unit_steps_per_cost / elapsed;
    println!("| workload | costs | unit-steps / s | ns / unit-step |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| sine output cost, 51 trials × 500 steps × {n} units | {costs} | {rate:.3e} | {:.3} |",
        1e9 / rate
    );
    // Printed so the work cannot be optimised away.
    println!("mean cost {:.6}", total / costs as f64);
}
