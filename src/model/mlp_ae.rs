//! A batch of independent MLP autoencoders (ReLU hidden layers, linear latent and output),
//! trained with AdamW on minibatches as one Burn program — Dorrell et al. 2025, Fig 2.
//!
//! Objective per run (authors' `train_autoencoder_low_d.py`): mean over samples of
//! λ_rec·mean_d (x − x̂)² + λ_act·mean_j zⱼ² + λ_nn·mean_j relu(−zⱼ), plus λ_w·Σ‖W‖² over weight
//! matrices (not biases). As in `linear_ae`, the run axis leads every parameter and the loss
//! is summed over runs, so each run's gradient, and its AdamW update, is its own.

use burn::module::{Module, Param};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};

use super::batched::{stack, unstack};
use super::{AutoencoderLossTerms, AutoencoderObjective};
use crate::rng::SplitMix64;

/// AdamW on shuffled minibatches (each epoch a fresh permutation of the run's data).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpTraining {
    pub steps: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Decoupled weight decay of AdamW (optax's default 1e-4).
    pub weight_decay: f64,
    /// Scale of the weight initialisation: N(0, (scale/√fan_in)²) (authors: 0.3).
    pub init_scale: f64,
}

/// Layer widths, input first: encoder [3, 16, 16, 6] and decoder [6, 16, 16, 3].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpShape {
    pub encoder: Vec<usize>,
    pub decoder: Vec<usize>,
}

/// One run's parameters as plain numbers; layer l has weights [in × out] row-major and a bias.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MlpWeights {
    pub widths: Vec<usize>,
    pub weights: Vec<Vec<f32>>,
    pub biases: Vec<Vec<f32>>,
}

impl MlpShape {
    /// Every layer, encoder then decoder, as (in, out).
    fn layers(&self) -> Vec<(usize, usize)> {
        let pairs = |w: &[usize]| w.windows(2).map(|p| (p[0], p[1])).collect::<Vec<_>>();
        [pairs(&self.encoder), pairs(&self.decoder)].concat()
    }

    fn encoder_layers(&self) -> usize {
        self.encoder.len() - 1
    }

    /// Weights N(0, (scale/√fan_in)²) (authors' `small_init`); biases uniform on ±1/√fan_in
    /// (equinox's default). Drawn from our generator: the same on every backend.
    pub fn init(&self, scale: f64, seed: u64) -> MlpWeights {
        let mut rng = SplitMix64::new(seed);
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for (fan_in, fan_out) in self.layers() {
            let sd = scale / (fan_in as f64).sqrt();
            weights.push((0..fan_in * fan_out).map(|_| (sd * rng.normal()) as f32).collect());
            let bound = 1.0 / (fan_in as f64).sqrt();
            biases.push((0..fan_out).map(|_| rng.uniform_in(-bound, bound) as f32).collect());
        }
        let mut widths = self.encoder.clone();
        widths.extend(&self.decoder[1..]);
        MlpWeights {
            widths,
            weights,
            biases,
        }
    }
}

impl MlpWeights {
    fn layer(&self, l: usize, x: &[f64]) -> Vec<f64> {
        let (n_in, n_out) = (self.widths[l], self.widths[l + 1]);
        (0..n_out)
            .map(|o| {
                self.biases[l][o] as f64
                    + (0..n_in)
                        .map(|i| x[i] * self.weights[l][i * n_out + o] as f64)
                        .sum::<f64>()
            })
            .collect()
    }

    /// The latent code of one input (f64), with `encoder_layers` layers.
    pub fn encode(&self, x: &[f64], encoder_layers: usize) -> Vec<f64> {
        let mut h = x.to_vec();
        for l in 0..encoder_layers {
            h = self.layer(l, &h);
            if l + 1 < encoder_layers {
                h.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        }
        h
    }

    pub fn decode(&self, z: &[f64], encoder_layers: usize) -> Vec<f64> {
        let total = self.weights.len();
        let mut h = z.to_vec();
        for l in encoder_layers..total {
            h = self.layer(l, &h);
            if l + 1 < total {
                h.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        }
        h
    }
}

#[derive(Module, Debug)]
struct BatchedMlpAe {
    weights: Vec<Param<Tensor<3>>>, // [R, in, out]
    biases: Vec<Param<Tensor<3>>>,  // [R, 1, out]
}

impl BatchedMlpAe {
    fn new(inits: &[MlpWeights], device: &Device) -> Self {
        let widths = &inits[0].widths;
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for l in 0..widths.len() - 1 {
            let (i, o) = (widths[l], widths[l + 1]);
            weights.push(stack(inits.iter().map(|r| r.weights[l].as_slice()), [i, o], device));
            biases.push(stack(inits.iter().map(|r| r.biases[l].as_slice()), [1, o], device));
        }
        Self { weights, biases }
    }

    /// x: [R, B, d] → (x̂, z)
    fn forward(&self, x: Tensor<3>, encoder_layers: usize) -> (Tensor<3>, Tensor<3>) {
        let total = self.weights.len();
        let mut h = x;
        let mut z = None;
        for l in 0..total {
            h = h.matmul(self.weights[l].val()) + self.biases[l].val();
            let is_output = l + 1 == encoder_layers || l + 1 == total;
            if !is_output {
                h = relu(h);
            }
            if l + 1 == encoder_layers {
                z = Some(h.clone());
            }
        }
        (h, z.expect("the encoder has at least one layer"))
    }

    fn loss(&self, x: Tensor<3>, encoder_layers: usize, objective: &AutoencoderObjective) -> Tensor<1> {
        let [_, batch, d] = x.dims();
        let (x_hat, z) = self.forward(x.clone(), encoder_layers);
        let latent = z.dims()[2];
        let reconstruction = (x_hat - x).powi_scalar(2).sum().div_scalar((batch * d) as f64);
        let activity = z.clone().powi_scalar(2).sum().div_scalar((batch * latent) as f64);
        let nonnegativity = relu(z.neg()).sum().div_scalar((batch * latent) as f64);
        let weights = self
            .weights
            .iter()
            .map(|w| w.val().powi_scalar(2).sum())
            .reduce(|a, b| a + b)
            .expect("at least one layer");
        // Sums over runs of per-run means: each run's gradient is its own.
        reconstruction.mul_scalar(objective.reconstruction)
            + activity.mul_scalar(objective.activity)
            + nonnegativity.mul_scalar(objective.nonnegativity)
            + weights.mul_scalar(objective.weight)
    }
}

/// Trains one batch of runs sharing shape, objective and schedule. `data[r]` is run r's
/// samples (any count ≥ 1); `batch_seeds[r]` seeds its minibatch order.
#[allow(clippy::too_many_arguments)]
pub fn train_batch(
    data: &[Vec<Vec<f64>>],
    inits: &[MlpWeights],
    batch_seeds: &[u64],
    shape: &MlpShape,
    objective: &AutoencoderObjective,
    training: &MlpTraining,
    device: &Device,
    mut on_step: impl FnMut(usize),
) -> Vec<MlpWeights> {
    let runs = data.len();
    assert!(runs > 0 && inits.len() == runs && batch_seeds.len() == runs);
    let d = shape.encoder[0];
    let device = device.clone().autodiff();
    let mut model = BatchedMlpAe::new(inits, &device);
    let mut optimiser = AdamWConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(training.weight_decay as f32)
        .init();
    let mut samplers: Vec<EpochSampler> = data
        .iter()
        .zip(batch_seeds)
        .map(|(x, &s)| EpochSampler::new(x.len(), s))
        .collect();
    let mut batch = vec![0f32; runs * training.batch_size * d];
    for step in 0..training.steps {
        for (r, sampler) in samplers.iter_mut().enumerate() {
            for b in 0..training.batch_size {
                let sample = &data[r][sampler.next_index()];
                let at = (r * training.batch_size + b) * d;
                for (slot, v) in batch[at..at + d].iter_mut().zip(sample) {
                    *slot = *v as f32;
                }
            }
        }
        let x = Tensor::<3>::from_data(TensorData::new(batch.clone(), [runs, training.batch_size, d]), &device);
        let loss = model.loss(x, shape.encoder_layers(), objective);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimiser.step(training.learning_rate, model, grads);
        on_step(step + 1);
    }
    let weights: Vec<Vec<Vec<f32>>> = model.weights.iter().map(|w| unstack(w.val())).collect();
    let biases: Vec<Vec<Vec<f32>>> = model.biases.iter().map(|b| unstack(b.val())).collect();
    (0..runs)
        .map(|r| MlpWeights {
            widths: inits[0].widths.clone(),
            weights: weights.iter().map(|layer| layer[r].clone()).collect(),
            biases: biases.iter().map(|layer| layer[r].clone()).collect(),
        })
        .collect()
}

/// Shuffled passes over a run's samples, reshuffled each epoch (Fisher–Yates).
struct EpochSampler {
    order: Vec<usize>,
    position: usize,
    rng: SplitMix64,
}

impl EpochSampler {
    fn new(n: usize, seed: u64) -> Self {
        let mut sampler = Self {
            order: (0..n).collect(),
            position: n,
            rng: SplitMix64::new(seed),
        };
        sampler.position = sampler.order.len();
        sampler
    }

    fn next_index(&mut self) -> usize {
        if self.position == self.order.len() {
            for i in (1..self.order.len()).rev() {
                let j = (self.rng.next_u64() % (i as u64 + 1)) as usize;
                self.order.swap(i, j);
            }
            self.position = 0;
        }
        self.position += 1;
        self.order[self.position - 1]
    }
}

/// Loss terms of one trained run on its data, in f64.
pub fn mlp_loss_terms(weights: &MlpWeights, shape: &MlpShape, data: &[Vec<f64>]) -> AutoencoderLossTerms {
    let layers = shape.encoder_layers();
    let n = data.len() as f64;
    let (mut rec, mut act, mut nn) = (0.0, 0.0, 0.0);
    for x in data {
        let z = weights.encode(x, layers);
        let x_hat = weights.decode(&z, layers);
        rec += x.iter().zip(&x_hat).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / x.len() as f64;
        act += z.iter().map(|v| v * v).sum::<f64>() / z.len() as f64;
        nn += z.iter().map(|v| (-v).max(0.0)).sum::<f64>() / z.len() as f64;
    }
    let w2: f64 = weights.weights.iter().flatten().map(|&v| (v as f64).powi(2)).sum();
    AutoencoderLossTerms {
        reconstruction: rec / n,
        activity: act / n,
        nonnegativity: nn / n,
        weight: w2,
    }
}
