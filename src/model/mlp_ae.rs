//! A batch of independent MLP autoencoders (ReLU hidden layers, linear latent and output),
//! trained with AdamW on minibatches — Dorrell et al. 2025, Fig 2.
//!
//! Objective per run (authors' `train_autoencoder_low_d.py`): mean over samples of
//! λ_rec·mean_d (x − x̂)² + λ_act·mean_j zⱼ² + λ_nn·mean_j relu(−zⱼ), plus λ_w·Σ‖W‖² over weight
//! matrices (not biases).
//!
//! Two paths: on the CPU (flex) the loss and gradient are written out by hand
//! ([`super::dense_ae`], ≈ 3× Burn's speed on this model); on other backends the runs train as
//! one Burn program where, as in `linear_ae`, the run axis leads every parameter and the loss is
//! summed over runs, so each run's gradient, and its AdamW update, is its own.

use burn::module::{Module, Param};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};

use super::adam::{Adam, AdamSettings, default_beta_1, default_beta_2, default_epsilon};
use super::batched::{stack, unstack};
use super::dense_ae::{DenseAutoencoder, DenseRun, LossWeights};
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

/// One batch of runs sharing shape, objective and schedule: `data[r]` is run r's samples (any
/// count ≥ 1), `inits[r]` its initial weights, `batch_seeds[r]` the seed of its minibatch order.
#[derive(Clone, Copy)]
pub struct RunBatch<'a> {
    pub data: &'a [Vec<Vec<f64>>],
    pub inits: &'a [MlpWeights],
    pub batch_seeds: &'a [u64],
    pub shape: &'a MlpShape,
    pub objective: &'a AutoencoderObjective,
    pub training: &'a MlpTraining,
}

impl RunBatch<'_> {
    /// Each run's minibatch order.
    fn samplers(&self) -> Vec<EpochSampler> {
        self.data
            .iter()
            .zip(self.batch_seeds)
            .map(|(x, &s)| EpochSampler::new(x.len(), s))
            .collect()
    }
}

/// Whether [`train_batch`] trains its runs one after another on `device` (the hand-written CPU
/// path), rather than as one batched program.
pub fn trains_runs_in_turn(device: &Device) -> bool {
    *device == Device::flex()
}

/// Trains a batch of runs; `on_step` is called after each optimiser step of every run.
pub fn train_batch(batch: &RunBatch, device: &Device, on_step: impl FnMut(usize)) -> Vec<MlpWeights> {
    let runs = batch.data.len();
    assert!(runs > 0 && batch.inits.len() == runs && batch.batch_seeds.len() == runs);
    if trains_runs_in_turn(device) {
        train_by_hand(batch, on_step)
    } else {
        train_with_burn(batch, device, on_step)
    }
}

/// [`train_batch`] as one Burn program (batched matmuls over the run axis, Burn's autodiff and
/// AdamW): the path for GPU backends, and the reference the hand-written CPU path is tested against.
fn train_with_burn(batch: &RunBatch, device: &Device, mut on_step: impl FnMut(usize)) -> Vec<MlpWeights> {
    let RunBatch {
        data,
        inits,
        shape,
        objective,
        training,
        ..
    } = *batch;
    let runs = data.len();
    let d = shape.encoder[0];
    let device = device.clone().autodiff();
    let mut model = BatchedMlpAe::new(inits, &device);
    let mut optimiser = AdamWConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(training.weight_decay as f32)
        .init();
    let mut samplers = batch.samplers();
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

/// The objective of a minibatch of `batch` samples as sums ([`LossWeights`]): each term of
/// [`BatchedMlpAe::loss`] is a mean over the batch and units.
fn loss_weights(shape: &MlpShape, objective: &AutoencoderObjective, batch: usize) -> LossWeights {
    let (d, latent) = (shape.encoder[0], *shape.encoder.last().expect("an encoder has widths"));
    let per_value = |values: usize, weight: f64| (weight / values as f64) as f32;
    LossWeights {
        reconstruction: per_value(batch * d, objective.reconstruction),
        activity: per_value(batch * latent, objective.activity),
        nonnegativity: per_value(batch * latent, objective.nonnegativity),
        weight: objective.weight as f32,
    }
}

/// [`train_batch`] on the CPU: the same objective, minibatches and AdamW, with the loss and
/// gradient written out by hand ([`super::dense_ae`]); runs take their steps in turn, sharing
/// one workspace.
fn train_by_hand(batch: &RunBatch, mut on_step: impl FnMut(usize)) -> Vec<MlpWeights> {
    let RunBatch {
        data,
        inits,
        shape,
        objective,
        training,
        ..
    } = *batch;
    let widths = inits[0].widths.clone();
    let net = DenseAutoencoder::new(widths.clone(), shape.encoder_layers() - 1);
    let batch_size = training.batch_size;
    let loss = loss_weights(shape, objective, batch_size);
    let adam = AdamSettings {
        learning_rate: training.learning_rate,
        beta_1: default_beta_1(),
        beta_2: default_beta_2(),
        epsilon: default_epsilon(),
    };
    let mut runs: Vec<DenseRun> = inits
        .iter()
        .map(|w| {
            let parameters = net.flatten(&w.weights, &w.biases);
            let optimiser = Adam::new(adam, parameters.len()).with_decoupled_weight_decay(training.weight_decay);
            DenseRun::new(parameters, optimiser)
        })
        .collect();
    let mut samplers = batch.samplers();
    // Each run's samples as one f32 array, sample-major: a minibatch is `batch_size` short copies.
    let d = shape.encoder[0];
    let flat: Vec<Vec<f32>> = data
        .iter()
        .map(|x| x.iter().flatten().map(|&v| v as f32).collect())
        .collect();
    let mut workspace = net.workspace(batch_size);
    // Runs are independent, so each trains a stretch of steps before the next takes over: its
    // samples, weights and optimiser state then stay in cache for the whole stretch (28 runs'
    // worth do not fit in L2). Every run still takes the same steps in the same order.
    for start in (0..training.steps).step_by(STEPS_PER_STRETCH) {
        let end = (start + STEPS_PER_STRETCH).min(training.steps);
        for ((run, sampler), samples) in runs.iter_mut().zip(&mut samplers).zip(&flat) {
            for _ in start..end {
                sampler.gather_minibatch(samples, d, workspace.input_mut());
                run.step(&net, &loss, &mut workspace);
            }
        }
        on_step(end);
    }
    runs.iter()
        .map(|run| {
            let (weights, biases) = net.split(run.parameters());
            MlpWeights {
                widths: widths.clone(),
                weights,
                biases,
            }
        })
        .collect()
}

/// Steps one run trains before the next run of a batch takes over (progress is reported at
/// the end of each stretch).
const STEPS_PER_STRETCH: usize = 256;

/// Shuffled passes over a run's samples, reshuffled each epoch (Fisher–Yates).
struct EpochSampler {
    order: Vec<usize>,
    position: usize,
    rng: SplitMix64,
}

impl EpochSampler {
    fn new(n: usize, seed: u64) -> Self {
        let order: Vec<usize> = (0..n).collect();
        // At the end of an epoch: the first draw shuffles.
        Self {
            position: order.len(),
            order,
            rng: SplitMix64::new(seed),
        }
    }

    fn next_index(&mut self) -> usize {
        if self.position == self.order.len() {
            self.reshuffle();
        }
        self.position += 1;
        self.order[self.position - 1]
    }

    fn reshuffle(&mut self) {
        for i in (1..self.order.len()).rev() {
            let j = (self.rng.next_u64() % (i as u64 + 1)) as usize;
            self.order.swap(i, j);
        }
        self.position = 0;
    }

    /// The next minibatch of `samples` (sample-major, `d` values each) written feature-major
    /// into `input` (`d` rows of `input.len() / d`): the samples [`Self::next_index`] would
    /// give, in its order, crossing into the next epoch where this one runs out.
    ///
    /// Why not `next_index` per sample: its epoch test and a loop over a run-time `d` cost
    /// as much as the copies (`perf`: half of Fig 2's sampler); here the indices come as
    /// slices of one epoch, and Fig 2's three sources have their own unrolled copy.
    fn gather_minibatch(&mut self, samples: &[f32], d: usize, input: &mut [f32]) {
        let batch = input.len() / d;
        let mut filled = 0;
        while filled < batch {
            if self.position == self.order.len() {
                self.reshuffle();
            }
            let take = (batch - filled).min(self.order.len() - self.position);
            let indices = &self.order[self.position..self.position + take];
            match d {
                3 => gather_rows::<3>(samples, indices, input, batch, filled),
                _ => {
                    for (b, &k) in indices.iter().enumerate() {
                        for (i, &v) in samples[k * d..(k + 1) * d].iter().enumerate() {
                            input[i * batch + filled + b] = v;
                        }
                    }
                }
            }
            self.position += take;
            filled += take;
        }
    }
}

/// Samples `indices` of `samples` (`D` values each) into columns `first..` of the `D`
/// feature rows of `input` (each `batch` long).
#[inline(always)]
fn gather_rows<const D: usize>(samples: &[f32], indices: &[usize], input: &mut [f32], batch: usize, first: usize) {
    let columns: [&mut [f32]; D] = {
        let mut rest = input;
        std::array::from_fn(|_| {
            let (row, tail) = std::mem::take(&mut rest).split_at_mut(batch);
            rest = tail;
            &mut row[first..first + indices.len()]
        })
    };
    for (b, &k) in indices.iter().enumerate() {
        let sample: &[f32; D] = samples[k * D..k * D + D].try_into().expect("D values");
        for i in 0..D {
            columns[i][b] = sample[i];
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> MlpShape {
        MlpShape {
            encoder: vec![3, 16, 16, 6],
            decoder: vec![6, 16, 16, 3],
        }
    }

    const OBJECTIVE: AutoencoderObjective = AutoencoderObjective {
        reconstruction: 1.0,
        activity: 0.01,
        nonnegativity: 1.0,
        weight: 1e-3,
    };

    #[test]
    fn a_gathered_minibatch_holds_the_samples_drawn_one_at_a_time() {
        // 7 samples and minibatches of 5: every other minibatch crosses into the next epoch.
        for d in [1, 3, 4] {
            let n = 7;
            let samples: Vec<f32> = (0..n * d).map(|v| v as f32).collect();
            let (mut one_by_one, mut gathered) = (EpochSampler::new(n, 9), EpochSampler::new(n, 9));
            for _ in 0..6 {
                let mut expected = vec![0f32; 5 * d];
                for b in 0..5 {
                    let k = one_by_one.next_index();
                    for i in 0..d {
                        expected[i * 5 + b] = samples[k * d + i];
                    }
                }
                let mut input = vec![f32::NAN; 5 * d];
                gathered.gather_minibatch(&samples, d, &mut input);
                assert_eq!(input, expected, "{d} values per sample");
            }
        }
    }

    #[test]
    fn the_hand_written_gradient_is_burns_autodiff_gradient() {
        // One run, a batch of 100 (a full 64-column chunk and a ragged one).
        let (shape, batch) = (shape(), 100);
        let init = shape.init(0.3, 3);
        let samples: Vec<f32> = (0..batch * 3).map(|k| (k * 37 % 101) as f32 / 50.0 - 1.0).collect();
        let device = Device::flex().autodiff();
        let model = BatchedMlpAe::new(std::slice::from_ref(&init), &device);
        let x = Tensor::<3>::from_data(TensorData::new(samples.clone(), [1, batch, 3]), &device);
        let burn_loss = model.loss(x, shape.encoder_layers(), &OBJECTIVE);
        let burn_value = burn_loss.clone().into_data().try_to_vec::<f32>().expect("f32")[0];
        let grads = burn_loss.backward();
        let flat = |p: &Param<Tensor<3>>| {
            p.grad(&grads)
                .expect("a gradient")
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32")
        };
        let burn: Vec<f32> = model
            .weights
            .iter()
            .zip(&model.biases)
            .flat_map(|(w, b)| [flat(w), flat(b)].concat())
            .collect();

        let net = DenseAutoencoder::new(init.widths.clone(), shape.encoder_layers() - 1);
        let mut workspace = net.workspace(batch);
        for b in 0..batch {
            for i in 0..3 {
                workspace.input_mut()[i * batch + b] = samples[b * 3 + i];
            }
        }
        let parameters: Vec<f32> = net
            .flatten(&init.weights, &init.biases)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let mut gradient = vec![0.0; parameters.len()];
        let value = net.loss_and_gradient(
            &parameters,
            &loss_weights(&shape, &OBJECTIVE, batch),
            &mut workspace,
            &mut gradient,
        );

        assert!(
            (value - burn_value).abs() < 1e-5 * burn_value,
            "{value} vs {burn_value}"
        );
        let largest = burn.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        for (k, (a, b)) in gradient.iter().zip(&burn).enumerate() {
            assert!((a - b).abs() < 1e-4 * largest, "parameter {k}: {a} vs Burn's {b}");
        }
    }

    #[test]
    fn the_hand_written_training_follows_burns() {
        // Two runs of the Fig 2 model, batch 40 from 100 samples (so the minibatches straddle
        // epochs), 200 AdamW steps each way: the paths round differently (f32 throughout in
        // Burn; f64 optimiser state here) but train the same objective on the same batches.
        let shape = shape();
        let sample = |k: usize| vec![(k as f64 * 0.3).sin(), (k as f64 * 0.7).cos(), (k % 5) as f64 / 5.0];
        let data = vec![(0..100).map(sample).collect::<Vec<_>>(), (7..107).map(sample).collect()];
        let inits = vec![shape.init(0.3, 1), shape.init(0.3, 2)];
        let objective = OBJECTIVE;
        let training = MlpTraining {
            steps: 200,
            batch_size: 40,
            learning_rate: 1e-3,
            weight_decay: 1e-2,
            init_scale: 0.3,
        };
        let seeds = [5, 6];
        let batch = RunBatch {
            data: &data,
            inits: &inits,
            batch_seeds: &seeds,
            shape: &shape,
            objective: &objective,
            training: &training,
        };
        let by_hand = train_by_hand(&batch, |_| {});
        let burn = train_with_burn(&batch, &Device::flex(), |_| {});
        let mut max_gap = 0.0f32;
        for ((a, b), x) in by_hand.iter().zip(&burn).zip(&data) {
            let (la, lb) = (mlp_loss_terms(a, &shape, x), mlp_loss_terms(b, &shape, x));
            assert!(
                (la.reconstruction - lb.reconstruction).abs() < 1e-4 * lb.reconstruction.max(1.0),
                "{la:?} vs {lb:?}"
            );
            for (wa, wb) in a.weights.iter().flatten().zip(b.weights.iter().flatten()) {
                max_gap = max_gap.max((wa - wb).abs());
            }
        }
        assert!(max_gap < 1e-3, "largest weight difference {max_gap}");
        assert!(by_hand != inits, "training moved the weights");
        assert_eq!(
            train_by_hand(&batch, |_| {}),
            by_hand,
            "same inputs, same bits (CPU determinism)"
        );
    }

    #[test]
    fn each_run_of_a_batch_trains_as_it_would_alone() {
        // 600 steps: stretches of 256, 256 and 88, so runs hand over mid-training.
        let shape = shape();
        let sample = |k: usize| vec![(k as f64 * 0.3).sin(), (k as f64 * 0.7).cos(), (k % 5) as f64 / 5.0];
        let data = vec![(0..60).map(sample).collect::<Vec<_>>(), (7..67).map(sample).collect()];
        let inits = vec![shape.init(0.3, 1), shape.init(0.3, 2)];
        let training = MlpTraining {
            steps: 600,
            batch_size: 16,
            learning_rate: 1e-3,
            weight_decay: 1e-2,
            init_scale: 0.3,
        };
        let seeds = [5, 6];
        let batch = RunBatch {
            data: &data,
            inits: &inits,
            batch_seeds: &seeds,
            shape: &shape,
            objective: &OBJECTIVE,
            training: &training,
        };
        let mut reported = Vec::new();
        let together = train_by_hand(&batch, |step| reported.push(step));
        assert_eq!(reported, vec![256, 512, 600]);
        for k in 0..2 {
            let alone = RunBatch {
                data: &data[k..k + 1],
                inits: &inits[k..k + 1],
                batch_seeds: &seeds[k..k + 1],
                ..batch
            };
            assert_eq!(train_by_hand(&alone, |_| {}), vec![together[k].clone()], "run {k}");
        }
    }
}
