//! Training the rate RNN of Krause et al. 2022 with backpropagation through time in Burn:
//! x_{t+1} = (1 − α) x_t + α (B u_t + W tanh(x_t) + σ ξ_t), z_t = w_out · tanh(x_t),
//! with W, B and w_out trained by Adam on the mean squared error over every step of every
//! trial, and the gradient clipped to a global norm (as PyTorch's `clip_grad_norm_` and optax's
//! `clip_by_global_norm`; Burn's own clipping works per tensor). b_x, b_z and x₀ stay zero.
//!
//! Speed: everything that does not depend on the weights — each step's inputs, targets and
//! noise — is made on the host and enters the graph as its own small constant tensor. Slicing a
//! [T, B, N] tensor inside the graph instead makes the backward pass O(T²) in memory traffic
//! (../shared/NOTES-burn.md: ≈ 9 s vs ≈ 0.5 s per iteration at T = 1,400). The readout is one
//! matmul over all steps at the end rather than one per step.
//!
//! All random numbers (initial weights, trials, noise) come from our own generator, so a run
//! depends only on its seed and backend.

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::rate_rnn::{ALPHA, NOISE_SD, RateRnn};
use crate::data::krause_tasks::{COHERENCES, Task, Trial, integration_evaluation, integration_trial, sine_trial};
use crate::rng::SplitMix64;

pub const UNITS: usize = 100;

/// Version of the training code: part of every trained network's cache key, so a change to
/// what training computes must bump it. 3: the validation cost that picks the kept checkpoint
/// averages every step of an integration trial (as the loss does), not the stimulus period.
pub const TRAINING_VERSION: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RnnTraining {
    pub iterations: usize,
    /// Integration: trials per iteration (random context and coherences). Sine generation
    /// always uses its 51 trials.
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Global gradient-norm clip.
    pub clip_norm: f64,
    /// Fraction of nonzero entries in each unit's input weights and in the readout at
    /// initialisation (the documented initialisation is "sparse Gaussian, unit norm").
    pub init_density: f64,
}

/// The documented initialisation: W ~ N(0, 1/N); each unit's input weights sparse Gaussian
/// scaled to unit norm (so ±1 with one input); w_out sparse Gaussian with unit norm.
pub fn initial_network(task: Task, density: f64, seed: u64) -> RateRnn {
    let n = UNITS;
    let inputs = match task {
        Task::ContextIntegration => 5,
        Task::SineWave => 1,
    };
    let mut rng = SplitMix64::derive(seed, 1);
    let scale = 1.0 / (n as f64).sqrt();
    let w = (0..n * n).map(|_| scale * rng.normal()).collect();
    let mut sparse_unit = |len: usize| -> Vec<f64> {
        loop {
            let v: Vec<f64> = (0..len)
                .map(|_| if rng.uniform() < density { rng.normal() } else { 0.0 })
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 0.0 {
                return v.into_iter().map(|x| x / norm).collect();
            }
        }
    };
    let b = (0..n).flat_map(|_| sparse_unit(inputs)).collect();
    let w_out = sparse_unit(n);
    RateRnn {
        n,
        inputs,
        w,
        b,
        w_out,
        b_x: vec![0.0; n],
        b_z: 0.0,
    }
}

/// One iteration's trials: integration draws contexts and coherences; sine uses all 51.
pub fn training_trials(task: Task, batch_size: usize, rng: &mut SplitMix64) -> Vec<Trial> {
    match task {
        Task::ContextIntegration => (0..batch_size)
            .map(|_| {
                let context = (rng.next_u64() % 2) as usize;
                let coherence = [0, 1].map(|_| COHERENCES[(rng.next_u64() % 6) as usize]);
                integration_trial(context, coherence, true, rng)
            })
            .collect(),
        Task::SineWave => (1..=51).map(sine_trial).collect(),
    }
}

/// tanh(x) as 2σ(2x) − 1. Burn's autodiff tanh recomputes tanh(x) in its backward pass and then
/// takes four more elementwise passes (1 − t², times the gradient), and flex's tanh is scalar
/// libm `tanhf`; sigmoid's backward is one fused pass on its saved output. Profiled: tanh and its
/// backward were ≈ 28% of a BPTT iteration.
fn rate(x: Tensor<2>) -> Tensor<2> {
    sigmoid(x.mul_scalar(2.0)).mul_scalar(2.0).sub_scalar(1.0)
}

/// Parameters stored transposed for row-vector batches: x [B, N] · Wt [N, N].
#[derive(Module, Debug)]
struct RnnModule {
    w_t: Param<Tensor<2>>,
    b_t: Param<Tensor<2>>,
    w_out: Param<Tensor<2>>, // [N, 1]
}

fn transposed(values: &[f64], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols)
        .flat_map(|c| (0..rows).map(move |r| values[r * cols + c] as f32))
        .collect()
}

impl RnnModule {
    fn new(net: &RateRnn, device: &Device) -> Self {
        let param = |v: Vec<f32>, shape: [usize; 2]| {
            Param::from_tensor(Tensor::<2>::from_data(TensorData::new(v, shape), device))
        };
        Self {
            w_t: param(transposed(&net.w, net.n, net.n), [net.n, net.n]),
            b_t: param(transposed(&net.b, net.n, net.inputs), [net.inputs, net.n]),
            w_out: param(net.w_out.iter().map(|&v| v as f32).collect(), [net.n, 1]),
        }
    }

    fn to_network(&self, like: &RateRnn) -> RateRnn {
        let flat = |t: Tensor<2>| -> Vec<f64> {
            t.into_data()
                .try_to_vec::<f32>()
                .expect("f32 parameters")
                .into_iter()
                .map(f64::from)
                .collect()
        };
        let (n, inputs) = (like.n, like.inputs);
        let w_t = flat(self.w_t.val());
        let b_t = flat(self.b_t.val());
        RateRnn {
            w: transposed(&w_t, n, n).into_iter().map(f64::from).collect(),
            b: transposed(&b_t, inputs, n).into_iter().map(f64::from).collect(),
            w_out: flat(self.w_out.val()),
            ..like.clone()
        }
    }

    /// Mean squared error over every step and trial, with network noise from `rng`.
    fn loss(&self, trials: &[Trial], rng: &mut SplitMix64, device: &Device) -> Tensor<1> {
        let (batch, steps) = (trials.len(), trials[0].inputs.len());
        let (n, inputs) = (self.w_t.dims()[0], self.b_t.dims()[0]);
        let w_t = self.w_t.val().mul_scalar(ALPHA);
        let b_t = self.b_t.val().mul_scalar(ALPHA);
        let mut x = Tensor::<2>::zeros([batch, n], device);
        let mut r = x.clone().tanh();
        let mut rates = Vec::with_capacity(steps);
        let noise_scale = ALPHA * NOISE_SD;
        for t in 0..steps {
            let u: Vec<f32> = trials
                .iter()
                .flat_map(|tr| tr.inputs[t].iter().map(|&v| v as f32))
                .collect();
            let mut noise = vec![0f32; batch * n];
            rng.fill_normal_f32(&mut noise, noise_scale);
            let u = Tensor::<2>::from_data(TensorData::new(u, [batch, inputs]), device);
            let noise = Tensor::<2>::from_data(TensorData::new(noise, [batch, n]), device);
            x = x.mul_scalar(1.0 - ALPHA) + r.matmul(w_t.clone()) + u.matmul(b_t.clone()) + noise;
            r = rate(x.clone());
            rates.push(r.clone());
        }
        // Step-major rows: row t·B + b is trial b at step t.
        let targets: Vec<f32> = (0..steps)
            .flat_map(|t| trials.iter().map(move |tr| tr.targets[t] as f32))
            .collect();
        let targets = Tensor::<2>::from_data(TensorData::new(targets, [steps * batch, 1]), device);
        let outputs = Tensor::cat(rates, 0).matmul(self.w_out.val());
        (outputs - targets).square().mean()
    }
}

/// What training produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainedRnn {
    /// The checkpoint with the lowest validation cost.
    pub network: RateRnn,
    /// The training loss (with noise) of every iteration.
    pub losses: Vec<f64>,
    /// (iteration, validation output cost) at every checkpoint.
    pub validation: Vec<(usize, f64)>,
    /// The iteration after which `network` was taken.
    pub kept_iteration: usize,
}

/// Iterations between checkpoints.
pub const CHECKPOINT_EVERY: usize = 50;

/// The fixed validation set: integration, one noisy trial per relevant coherence and context
/// (12; drawn from a stream of the training seed, not the analysis's); sine, its 51 trials.
pub fn validation_trials(task: Task, seed: u64) -> Vec<Trial> {
    match task {
        Task::ContextIntegration => integration_evaluation(1, SplitMix64::derive(seed, 4).next_u64()),
        Task::SineWave => (1..=51).map(sine_trial).collect(),
    }
}

/// Scales every gradient so that their joint L2 norm is at most `max_norm`.
fn clip_global_norm(grads: &mut GradientsParams, module: &RnnModule, max_norm: f64) {
    let ids = [module.w_t.id, module.b_t.id, module.w_out.id];
    let squared: f64 = ids
        .iter()
        .filter_map(|&id| grads.get::<2>(id))
        .map(|g| f64::from(g.square().sum().into_scalar::<f32>()))
        .sum();
    let norm = squared.sqrt();
    if norm > max_norm {
        let scale = max_norm / norm;
        for id in ids {
            if let Some(g) = grads.remove::<2>(id) {
                grads.register(id, g.mul_scalar(scale));
            }
        }
    }
}

/// Trains `init` on `task`; `on_iteration(i, loss)` is called after each iteration.
///
/// BPTT through thousands of steps with Adam occasionally spikes late in training (we saw a
/// sine network's loss jump 10× in its last 100 of 3,000 iterations), so every
/// [`CHECKPOINT_EVERY`] iterations the network's output cost on a fixed validation set (with
/// network noise, fixed seed) is measured and the best checkpoint is what training returns.
pub fn train(
    task: Task,
    init: &RateRnn,
    training: &RnnTraining,
    seed: u64,
    device: &Device,
    mut on_iteration: impl FnMut(usize, f64),
) -> TrainedRnn {
    let device = device.clone().autodiff();
    let mut module = RnnModule::new(init, &device);
    let mut optimiser = AdamConfig::new().with_epsilon(1e-8).init();
    let mut trial_rng = SplitMix64::derive(seed, 2);
    let mut noise_rng = SplitMix64::derive(seed, 3);
    let mut losses = Vec::with_capacity(training.iterations);
    let validation_set = validation_trials(task, seed);
    let validation_seed = SplitMix64::derive(seed, 5).next_u64();
    let mut validation = Vec::new();
    let mut kept = (f64::INFINITY, init.clone(), 0);
    let mut check = |iteration: usize, module: &RnnModule, validation: &mut Vec<(usize, f64)>| {
        let net = module.to_network(init);
        let cost = net.output_cost(&net.w, &validation_set, validation_seed);
        validation.push((iteration, cost));
        if cost < kept.0 {
            kept = (cost, net, iteration);
        }
    };
    check(0, &module, &mut validation);
    for iteration in 1..=training.iterations {
        let trials = training_trials(task, training.batch_size, &mut trial_rng);
        let loss = module.loss(&trials, &mut noise_rng, &device);
        let value = f64::from(loss.clone().into_scalar::<f32>());
        let mut grads = GradientsParams::from_grads(loss.backward(), &module);
        clip_global_norm(&mut grads, &module, training.clip_norm);
        module = optimiser.step(training.learning_rate, module, grads);
        losses.push(value);
        if iteration % CHECKPOINT_EVERY == 0 || iteration == training.iterations {
            check(iteration, &module, &mut validation);
        }
        on_iteration(iteration, value);
    }
    TrainedRnn {
        network: kept.1,
        losses,
        validation,
        kept_iteration: kept.2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialisation_is_as_documented() {
        let net = initial_network(Task::ContextIntegration, 0.5, 4);
        let var = net.w.iter().map(|v| v * v).sum::<f64>() / net.w.len() as f64;
        assert!((var - 0.01).abs() < 0.001, "W variance {var}, want 1/N");
        for row in net.b.chunks(5) {
            assert!((row.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-12);
        }
        assert!((net.w_out.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-12);
        let zeros = net.w_out.iter().filter(|&&v| v == 0.0).count();
        assert!((30..70).contains(&zeros), "{zeros} of 100 readout weights are zero");
        let sine = initial_network(Task::SineWave, 0.5, 4);
        assert!(sine.b.iter().all(|v| v.abs() == 1.0));
    }

    #[test]
    fn the_burn_forward_pass_matches_the_f64_simulator() {
        // The Burn graph and the f64 simulator, fed the same trials and the same noise draws,
        // give the same loss (to f32 rounding).
        let net = initial_network(Task::SineWave, 0.5, 1);
        let device = Device::flex();
        let module = RnnModule::new(&net, &device);
        let back = module.to_network(&net);
        for (a, b) in back.w.iter().zip(&net.w) {
            assert!((a - b).abs() < 1e-6);
        }
        let trials: Vec<Trial> = [3, 40].map(sine_trial).to_vec();
        // With noise, both sides draw from the same stream in the same order (step, trial, unit).
        let mut rng = SplitMix64::new(9);
        let burn_loss = f64::from(module.loss(&trials, &mut rng, &device).into_scalar::<f32>());
        let mut rng = SplitMix64::new(9);
        let mut noises: Vec<Vec<f64>> = vec![Vec::new(); 2];
        let mut step = vec![0f32; 2 * net.n];
        for _ in 0..trials[0].inputs.len() {
            rng.fill_normal_f32(&mut step, 1.0);
            for (noise, draws) in noises.iter_mut().zip(step.chunks(net.n)) {
                noise.extend(draws.iter().map(|&v| f64::from(v)));
            }
        }
        let x0 = vec![0.0; net.n];
        let mut total = 0.0;
        for (trial, noise) in trials.iter().zip(&noises) {
            let mut replay = noise.iter().copied();
            let traj = net.simulate_with_noise(&net.w, &trial.inputs, &x0, &mut || replay.next().expect("noise"));
            total += traj
                .outputs
                .iter()
                .zip(&trial.targets)
                .map(|(z, y)| (z - y).powi(2))
                .sum::<f64>();
        }
        let expected = total / (2 * trials[0].inputs.len()) as f64;
        assert!(
            (burn_loss - expected).abs() < 1e-4 * expected.max(1e-3),
            "burn {burn_loss} vs f64 {expected}"
        );
    }

    #[test]
    fn training_lowers_the_loss_and_is_deterministic() {
        let init = initial_network(Task::SineWave, 0.5, 2);
        let training = RnnTraining {
            iterations: 12,
            batch_size: 0,
            learning_rate: 2e-3,
            clip_norm: 1.0,
            init_density: 0.5,
        };
        let device = Device::flex();
        let a = train(Task::SineWave, &init, &training, 5, &device, |_, _| {});
        let b = train(Task::SineWave, &init, &training, 5, &device, |_, _| {});
        assert_eq!(a, b, "same seed, same backend → bit-identical");
        assert!(a.losses[11] < a.losses[0], "{:?}", a.losses);
        // Checkpoints at 0 and at the end (12 < 50); the kept one has the lowest cost.
        assert_eq!(a.validation.iter().map(|v| v.0).collect::<Vec<_>>(), vec![0, 12]);
        let best = a.validation.iter().min_by(|x, y| x.1.total_cmp(&y.1)).unwrap();
        assert_eq!(a.kept_iteration, best.0);
        let kept_cost = a.network.output_cost(
            &a.network.w,
            &validation_trials(Task::SineWave, 5),
            SplitMix64::derive(5, 5).next_u64(),
        );
        assert_eq!(kept_cost, best.1);
        assert_ne!(a.network.w, init.w);
    }
}
