//! Throughput of the Krause RNN's training noise ([`modrepro::gaussian_noise`]): one
//! integration iteration's draws (32 trials × 1,400 steps × 100 units), filled step by step as
//! the training does. `cargo bench --bench gaussian_noise`.

use std::time::Instant;

use modrepro::rng::SplitMix64;

fn main() {
    let (steps, per_step) = (1_400, 32 * 100);
    let mut noise = vec![0f32; per_step];
    let mut rng = SplitMix64::new(0);
    let mut checksum = 0f64;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let started = Instant::now();
        for _ in 0..steps {
            rng.fill_normal_f32(&mut noise, 0.1);
            checksum += f64::from(noise[0]);
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    let draws = (steps * per_step) as f64;
    println!("| draws per iteration | best ms | ns / draw |");
    println!("| --- | --- | --- |");
    println!("| {draws} | {:.2} | {:.3} |", best * 1e3, best / draws * 1e9);
    // Printed so the draws cannot be optimised away.
    eprintln!("checksum {checksum}");
}
