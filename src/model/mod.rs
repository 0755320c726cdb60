//! Burn modules and their training loops. Knows nothing of specs or files.

pub mod action_rnn;
#[cfg(target_arch = "x86_64")]
mod action_rnn_avx512;
pub mod adam;
pub mod batched;
pub mod bptt_products;
pub mod classifier;
mod classifier_backprop;
pub mod dense_ae;
#[cfg(target_arch = "x86_64")]
mod dense_ae_avx512;
pub mod frequency_rnn;
mod lanes;
pub mod linear_ae;
pub mod mlp_ae;
mod outer_products;
pub mod portable_tanh;
pub mod rate_rnn;
pub mod ridge_readout;
pub mod rnn_bptt;
pub mod rnn_training;
pub(crate) mod sparse_products;
#[cfg(target_arch = "x86_64")]
mod student_avx512;
pub mod student_batch;
pub mod student_rnn;
pub mod what_where;

use crate::rng::SplitMix64;

/// The weights of an autoencoder's loss terms in Dorrell et al. (reconstruction, activity energy,
/// nonnegativity, weight energy), shared by the linear (Fig 1) and MLP (Fig 2 centre) models.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoencoderObjective {
    pub reconstruction: f64,
    pub activity: f64,
    pub nonnegativity: f64,
    pub weight: f64,
}

/// The values of those terms for one trained autoencoder, evaluated in f64 on its data.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AutoencoderLossTerms {
    pub reconstruction: f64,
    pub activity: f64,
    pub nonnegativity: f64,
    pub weight: f64,
}

/// Whether this CPU runs the AVX-512 builds of the dense autoencoder's kernels
/// ([`dense_ae_avx512`]), the Lange training step ([`classifier_backprop`]), the ridge readout
/// and the Krause row search: AVX-512 F and DQ, with AVX2 and FMA for the code around them.
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx512_available() -> bool {
    is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512dq")
        && is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
}

/// The transpose (columns × rows, row-major) of `m` (rows × columns, row-major): copies only.
pub fn transpose<T: Copy>(m: &[T], rows: usize, columns: usize) -> Vec<T> {
    assert_eq!(m.len(), rows * columns, "m is {rows} × {columns}");
    (0..rows * columns)
        .map(|k| m[(k % rows) * columns + k / rows])
        .collect()
}

/// Resizes a kept buffer to `len` without clearing it: its contents are then unspecified, so
/// every caller overwrites each entry before reading it.
fn sized<T: Copy + Default>(buffer: &mut Vec<T>, len: usize) -> &mut [T] {
    buffer.resize(len, T::default());
    &mut buffer[..len]
}

/// PyTorch's default `nn.Linear` initialisation, uniform on ±1/√fan_in, drawn from our own
/// generator so that it is the same on every backend and every Burn version.
pub fn uniform_fan_in(rng: &mut SplitMix64, count: usize, fan_in: usize) -> Vec<f32> {
    let bound = 1.0 / (fan_in as f64).sqrt();
    (0..count).map(|_| rng.uniform_in(-bound, bound) as f32).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_transpose_moves_entry_r_c_to_c_r() {
        let m = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 × 3
        assert_eq!(super::transpose(&m, 2, 3), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        assert_eq!(super::transpose(&super::transpose(&m, 2, 3), 3, 2), m);
    }
}
