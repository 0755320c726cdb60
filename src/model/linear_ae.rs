//! A batch of independent linear autoencoders, trained as one Burn program.
//!
//! Each run r has its own encoder z = x·W_encʳ + b_encʳ and decoder x̂ = z·W_decʳ + b_decʳ; the
//! parameters carry a leading run axis and every product is a batched matmul. The loss is the
//! sum over runs of each run's own loss, so run r's gradient is exactly its own, and Adam (an
//! elementwise optimiser) updates each run as if it were alone. On a CPU this turns R tiny,
//! overhead-bound programs into one (see BENCHMARKS.md).
//!
//! Objective per run (Dorrell et al. 2025, Fig 1d; authors' `Figure 1d.ipynb`):
//! mean (x − x̂)² + λ_act·½·meanₙ Σⱼ zⱼ² + λ_nn·meanₙ Σⱼ relu(−zⱼ) + λ_w·½·(‖W_enc‖² + ‖W_dec‖²).

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};

use super::batched::{stack, unstack};
use super::{AutoencoderLossTerms, AutoencoderObjective};
use crate::rng::SplitMix64;

/// Adam with PyTorch's defaults (the authors' optimiser), full-batch.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    pub steps: usize,
    pub learning_rate: f64,
    #[serde(default = "default_beta_1")]
    pub beta_1: f64,
    #[serde(default = "default_beta_2")]
    pub beta_2: f64,
    #[serde(default = "default_epsilon")]
    pub epsilon: f64,
}

fn default_beta_1() -> f64 {
    0.9
}
fn default_beta_2() -> f64 {
    0.999
}
fn default_epsilon() -> f64 {
    1e-8
}

/// The trained parameters of one run, row-major, as plain numbers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinearAeWeights {
    pub inputs: usize,
    pub latent: usize,
    /// [inputs × latent]
    pub w_enc: Vec<f32>,
    pub b_enc: Vec<f32>,
    /// [latent × inputs]
    pub w_dec: Vec<f32>,
    pub b_dec: Vec<f32>,
}

impl LinearAeWeights {
    /// PyTorch's default `nn.Linear` initialisation (the authors'): every weight and bias
    /// uniform on ±1/√fan_in. Drawn from our own generator so that it is the same on every
    /// backend and every Burn version.
    pub fn init(inputs: usize, latent: usize, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let mut draw = |n: usize, fan_in: usize| super::uniform_fan_in(&mut rng, n, fan_in);
        Self {
            inputs,
            latent,
            w_enc: draw(inputs * latent, inputs),
            b_enc: draw(latent, inputs),
            w_dec: draw(latent * inputs, latent),
            b_dec: draw(inputs, latent),
        }
    }

    /// z for one sample, in f64.
    pub fn encode(&self, x: &[f64]) -> Vec<f64> {
        (0..self.latent)
            .map(|j| {
                let dot: f64 = (0..self.inputs)
                    .map(|i| x[i] * self.w_enc[i * self.latent + j] as f64)
                    .sum();
                dot + self.b_enc[j] as f64
            })
            .collect()
    }

    /// x̂ for one latent vector, in f64.
    pub fn decode(&self, z: &[f64]) -> Vec<f64> {
        (0..self.inputs)
            .map(|i| {
                let dot: f64 = (0..self.latent)
                    .map(|j| z[j] * self.w_dec[j * self.inputs + i] as f64)
                    .sum();
                dot + self.b_dec[i] as f64
            })
            .collect()
    }

    /// The encoder weights of neuron j on each input.
    pub fn neuron_weights(&self, j: usize) -> Vec<f64> {
        (0..self.inputs)
            .map(|i| self.w_enc[i * self.latent + j] as f64)
            .collect()
    }
}

pub fn loss_terms(weights: &LinearAeWeights, points: &[Vec<f64>]) -> AutoencoderLossTerms {
    let n = points.len() as f64;
    let (mut rec, mut act, mut nn) = (0.0, 0.0, 0.0);
    for x in points {
        let z = weights.encode(x);
        let x_hat = weights.decode(&z);
        rec += x.iter().zip(&x_hat).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / x.len() as f64;
        act += 0.5 * z.iter().map(|v| v * v).sum::<f64>();
        nn += z.iter().map(|v| (-v).max(0.0)).sum::<f64>();
    }
    let sq = |w: &[f32]| w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
    AutoencoderLossTerms {
        reconstruction: rec / n,
        activity: act / n,
        nonnegativity: nn / n,
        weight: 0.5 * (sq(&weights.w_enc) + sq(&weights.w_dec)),
    }
}

#[derive(Module, Debug)]
struct BatchedLinearAe {
    w_enc: Param<Tensor<3>>, // [R, d, H]
    b_enc: Param<Tensor<3>>, // [R, 1, H]
    w_dec: Param<Tensor<3>>, // [R, H, d]
    b_dec: Param<Tensor<3>>, // [R, 1, d]
}

impl BatchedLinearAe {
    fn new(inits: &[LinearAeWeights], device: &Device) -> Self {
        let (d, h) = (inits[0].inputs, inits[0].latent);
        Self {
            w_enc: stack(inits.iter().map(|w| w.w_enc.as_slice()), [d, h], device),
            b_enc: stack(inits.iter().map(|w| w.b_enc.as_slice()), [1, h], device),
            w_dec: stack(inits.iter().map(|w| w.w_dec.as_slice()), [h, d], device),
            b_dec: stack(inits.iter().map(|w| w.b_dec.as_slice()), [1, d], device),
        }
    }

    /// x: [R, N, d] → (x̂ [R, N, d], z [R, N, H])
    fn forward(&self, x: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
        let z = x.matmul(self.w_enc.val()) + self.b_enc.val();
        let x_hat = z.clone().matmul(self.w_dec.val()) + self.b_dec.val();
        (x_hat, z)
    }

    /// Σ over runs of each run's objective (a scalar).
    fn loss(&self, x: Tensor<3>, objective: &AutoencoderObjective) -> Tensor<1> {
        let [_, n, d] = x.dims();
        let (x_hat, z) = self.forward(x.clone());
        let per_sample_sum = |t: Tensor<3>| t.sum_dim(2).sum_dim(1); // [R, 1, 1]
        let reconstruction = per_sample_sum((x_hat - x).powi_scalar(2)).div_scalar((n * d) as f64);
        let activity = per_sample_sum(z.clone().powi_scalar(2)).mul_scalar(0.5 / n as f64);
        let nonnegativity = per_sample_sum(relu(z.neg())).div_scalar(n as f64);
        let weights = self.w_enc.val().powi_scalar(2).sum() + self.w_dec.val().powi_scalar(2).sum();
        let per_run = reconstruction.mul_scalar(objective.reconstruction)
            + activity.mul_scalar(objective.activity)
            + nonnegativity.mul_scalar(objective.nonnegativity);
        per_run.sum() + weights.mul_scalar(0.5 * objective.weight)
    }
}

/// Trains one batch of runs that share the architecture, objective and schedule; each run has
/// its own data (all with the same number of samples) and initialisation. `on_step` is called
/// after each optimiser step (for progress reporting).
pub fn train_batch(
    data: &[Vec<Vec<f64>>],
    inits: &[LinearAeWeights],
    objective: &AutoencoderObjective,
    training: &Training,
    device: &Device,
    mut on_step: impl FnMut(usize),
) -> Vec<LinearAeWeights> {
    assert_eq!(data.len(), inits.len(), "one initialisation per run");
    let (runs, n, d) = (data.len(), data[0].len(), inits[0].inputs);
    assert!(
        data.iter().all(|x| x.len() == n),
        "runs in one batch share their sample count"
    );
    let device = device.clone().autodiff();
    let flat: Vec<f32> = data.iter().flatten().flatten().map(|&v| v as f32).collect();
    let x = Tensor::<3>::from_data(TensorData::new(flat, [runs, n, d]), &device);

    let mut model = BatchedLinearAe::new(inits, &device);
    let mut optimiser = AdamConfig::new()
        .with_beta_1(training.beta_1 as f32)
        .with_beta_2(training.beta_2 as f32)
        .with_epsilon(training.epsilon as f32)
        .init();
    for step in 0..training.steps {
        let loss = model.loss(x.clone(), objective);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimiser.step(training.learning_rate, model, grads);
        on_step(step + 1);
    }

    let latent = inits[0].latent;
    let w_enc = unstack(model.w_enc.val());
    let b_enc = unstack(model.b_enc.val());
    let w_dec = unstack(model.w_dec.val());
    let b_dec = unstack(model.b_dec.val());
    (0..runs)
        .map(|r| LinearAeWeights {
            inputs: d,
            latent,
            w_enc: w_enc[r].clone(),
            b_enc: b_enc[r].clone(),
            w_dec: w_dec[r].clone(),
            b_dec: b_dec[r].clone(),
        })
        .collect()
}
