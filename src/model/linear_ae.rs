//! A batch of independent linear autoencoders, trained full-batch with Adam.
//!
//! Each run r has its own encoder z = x·W_encʳ + b_encʳ and decoder x̂ = z·W_decʳ + b_decʳ. On
//! the CPU (flex) the loss and gradient are written out by hand ([`super::dense_ae`]: ≈ 1.3 µs
//! per run-step, where Burn's graph took 8–83 µs). On other backends the runs train as one Burn
//! program: the parameters carry a leading run axis and every product is a batched matmul; the
//! loss is the sum over runs of each run's own loss, so run r's gradient is exactly its own, and
//! Adam (an elementwise optimiser) updates each run as if it were alone.
//!
//! Objective per run (Dorrell et al. 2025, Fig 1d; authors' `Figure 1d.ipynb`):
//! mean (x − x̂)² + λ_act·½·meanₙ Σⱼ zⱼ² + λ_nn·meanₙ Σⱼ relu(−zⱼ) + λ_w·½·(‖W_enc‖² + ‖W_dec‖²).

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};

use super::adam::{Adam, AdamSettings};
use super::batched::{stack, unstack};
use super::dense_ae::{DenseAutoencoder, DenseRun, LossWeights};
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
    on_step: impl FnMut(usize),
) -> Vec<LinearAeWeights> {
    assert_eq!(data.len(), inits.len(), "one initialisation per run");
    let n = data[0].len();
    assert!(
        data.iter().all(|x| x.len() == n),
        "runs in one batch share their sample count"
    );
    if *device == Device::flex() {
        train_by_hand(data, inits, objective, training, on_step)
    } else {
        train_with_burn(data, inits, objective, training, device, on_step)
    }
}

/// [`train_batch`] as one Burn program (batched matmuls over the run axis, Burn's autodiff and
/// Adam): the path for GPU backends, and the reference the hand-written CPU path is tested against.
fn train_with_burn(
    data: &[Vec<Vec<f64>>],
    inits: &[LinearAeWeights],
    objective: &AutoencoderObjective,
    training: &Training,
    device: &Device,
    mut on_step: impl FnMut(usize),
) -> Vec<LinearAeWeights> {
    let (runs, n, d) = (data.len(), data[0].len(), inits[0].inputs);
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

/// [`train_batch`] on the CPU: the same objective and Adam, with the loss and gradient written
/// out by hand ([`super::dense_ae`]); runs take their steps in turn.
fn train_by_hand(
    data: &[Vec<Vec<f64>>],
    inits: &[LinearAeWeights],
    objective: &AutoencoderObjective,
    training: &Training,
    mut on_step: impl FnMut(usize),
) -> Vec<LinearAeWeights> {
    let (n, d, latent) = (data[0].len(), inits[0].inputs, inits[0].latent);
    let net = DenseAutoencoder::new(vec![d, latent, d], 0);
    let loss = LossWeights {
        reconstruction: (objective.reconstruction / (n * d) as f64) as f32,
        activity: (objective.activity * 0.5 / n as f64) as f32,
        nonnegativity: (objective.nonnegativity / n as f64) as f32,
        weight: (objective.weight * 0.5) as f32,
    };
    let adam = AdamSettings {
        learning_rate: training.learning_rate,
        beta_1: training.beta_1,
        beta_2: training.beta_2,
        epsilon: training.epsilon,
    };
    // Full batch: each run's data, feature-major, copied into the shared workspace per step.
    let inputs: Vec<Vec<f32>> = data
        .iter()
        .map(|points| (0..d).flat_map(|i| points.iter().map(move |p| p[i] as f32)).collect())
        .collect();
    let mut runs: Vec<DenseRun> = inits
        .iter()
        .map(|w| {
            let parameters = net.flatten(&[w.w_enc.clone(), w.w_dec.clone()], &[w.b_enc.clone(), w.b_dec.clone()]);
            let count = parameters.len();
            DenseRun::new(parameters, Adam::new(adam, count))
        })
        .collect();
    let mut workspace = net.workspace(n);
    for step in 0..training.steps {
        for (run, input) in runs.iter_mut().zip(&inputs) {
            workspace.input_mut().copy_from_slice(input);
            run.step(&net, &loss, &mut workspace);
        }
        on_step(step + 1);
    }
    runs.iter()
        .map(|run| {
            let (mut weights, mut biases) = net.split(run.parameters());
            LinearAeWeights {
                inputs: d,
                latent,
                w_dec: weights.pop().expect("two layers"),
                w_enc: weights.pop().expect("two layers"),
                b_dec: biases.pop().expect("two layers"),
                b_enc: biases.pop().expect("two layers"),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_written_training_follows_burns() {
        // Two runs of the Fig 1 model on their own points, 300 Adam steps each way: the two
        // paths round differently (f32 throughout in Burn; f64 optimiser state here) but train
        // the same objective, so the weights stay close. (With a large learning rate Adam
        // hovers around the nonnegativity hinge, and rounding alone moves where.)
        let points = |shift: f64| -> Vec<Vec<f64>> {
            (0..12)
                .map(|k| vec![(k as f64 * 0.37 + shift).sin(), (k as f64 * 0.11).cos().abs()])
                .collect()
        };
        let data = vec![points(0.0), points(1.0)];
        let inits = vec![LinearAeWeights::init(2, 8, 1), LinearAeWeights::init(2, 8, 2)];
        let objective = AutoencoderObjective {
            reconstruction: 1.0,
            activity: 0.1,
            nonnegativity: 1.0,
            weight: 0.01,
        };
        let training = Training {
            steps: 300,
            learning_rate: 2e-3,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
        };
        let by_hand = train_by_hand(&data, &inits, &objective, &training, |_| {});
        let burn = train_with_burn(&data, &inits, &objective, &training, &Device::flex(), |_| {});
        for ((a, b), points) in by_hand.iter().zip(&burn).zip(&data) {
            // Within 2 % term by term (the second run is still far from converged, where
            // Adam's near-sign steps amplify rounding most; measured: ≤ 0.9 %).
            let (a, b) = (loss_terms(a, points), loss_terms(b, points));
            let close = |x: f64, y: f64| (x - y).abs() <= 2e-2 * y.abs().max(1e-3);
            assert!(
                close(a.reconstruction, b.reconstruction)
                    && close(a.activity, b.activity)
                    && close(a.nonnegativity, b.nonnegativity)
                    && close(a.weight, b.weight),
                "{a:?} vs {b:?}"
            );
        }
        let max_gap = by_hand
            .iter()
            .zip(&burn)
            .flat_map(|(a, b)| a.w_enc.iter().zip(&b.w_enc).chain(a.w_dec.iter().zip(&b.w_dec)))
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(max_gap < 1e-3, "largest weight difference {max_gap}");
    }
}
