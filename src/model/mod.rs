//! Burn modules and their training loops. Knows nothing of specs or files.

pub mod action_rnn;
pub mod adam;
pub mod classifier;
pub mod frequency_rnn;
pub mod linear_ae;
pub mod mlp_ae;
pub mod rate_rnn;
pub mod ridge_readout;
pub mod rnn_training;
pub mod student_rnn;
pub mod what_where;

use crate::rng::SplitMix64;

/// PyTorch's default `nn.Linear` initialisation, uniform on ±1/√fan_in, drawn from our own
/// generator so that it is the same on every backend and every Burn version.
pub fn uniform_fan_in(rng: &mut SplitMix64, count: usize, fan_in: usize) -> Vec<f32> {
    let bound = 1.0 / (fan_in as f64).sqrt();
    (0..count).map(|_| rng.uniform_in(-bound, bound) as f32).collect()
}
