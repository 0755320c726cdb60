//! Training the rate RNN of Krause et al. 2022 with backpropagation through time:
//! x_{t+1} = (1 − α) x_t + α (B u_t + W tanh(x_t) + σ ξ_t), z_t = w_out · tanh(x_t),
//! with W, B and w_out trained by Adam on the mean squared error over every step of every
//! trial, and the gradient clipped to a global norm (PyTorch's `clip_grad_norm_`, optax's
//! `clip_by_global_norm`). b_x, b_z and x₀ stay zero.
//!
//! The loss and gradient are [`super::rnn_bptt`]'s, written out in f32 with faer (tested
//! against Burn's autodiff of the same graph below): ≈ 2.6× faster than that graph on these
//! CPUs, since per step the arithmetic is small and the graph's bookkeeping was most of the cost.
//!
//! All random numbers (initial weights, trials, noise) come from our own generator, so a run
//! depends only on its seed.

use serde::{Deserialize, Serialize};

use super::adam::{Adam, AdamSettings};
use super::rate_rnn::RateRnn;
use super::rnn_bptt::{Parameters, Workspace, loss_and_gradient_in};
use crate::data::krause_tasks::{COHERENCES, Task, Trial, integration_evaluation, integration_trial, sine_trial};
use crate::rng::SplitMix64;

pub const UNITS: usize = 100;

/// Version of the training code: part of every trained network's cache key, so a change to
/// what training computes must bump it. 3: the validation cost that picks the kept checkpoint
/// averages every step of an integration trial (as the loss does), not the stimulus period.
/// 4: BPTT written out with faer (was Burn's autodiff; rounding differs), PyTorch's clip
/// (scale by max / (norm + 1e-6)). 5: the noise drawn by erfinv of 24-bit uniforms, many at a
/// time (`gaussian_noise`; was the ziggurat, one at a time: a quarter of the training's time),
/// in the BPTT and in the validation runs that pick the kept checkpoint (were Box–Muller).
/// 6: the validation runs' tanh is `portable_tanh` (was the C library's; the last bits of the
/// validation cost, and so possibly the kept checkpoint, differ).
pub const TRAINING_VERSION: u32 = 6;

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
    mut on_iteration: impl FnMut(usize, f64),
) -> TrainedRnn {
    let (n, inputs) = (init.n, init.inputs);
    // Adam keeps f64 parameters (as the cached network); the BPTT runs on their f32 copy.
    let mut values: Vec<f64> = [init.w.as_slice(), &init.b, &init.w_out].concat();
    let mut optimiser = Adam::new(
        AdamSettings {
            learning_rate: training.learning_rate,
            beta_1: super::adam::default_beta_1(),
            beta_2: super::adam::default_beta_2(),
            epsilon: super::adam::default_epsilon(),
        },
        values.len(),
    );
    let network = |values: &[f64]| RateRnn {
        w: values[..n * n].to_vec(),
        b: values[n * n..n * n + n * inputs].to_vec(),
        w_out: values[n * n + n * inputs..].to_vec(),
        ..init.clone()
    };
    let mut trial_rng = SplitMix64::derive(seed, 2);
    let mut noise_rng = SplitMix64::derive(seed, 3);
    let mut losses = Vec::with_capacity(training.iterations);
    let validation_set = validation_trials(task, seed);
    let validation_seed = SplitMix64::derive(seed, 5).next_u64();
    let mut validation = Vec::new();
    let mut kept = (f64::INFINITY, init.clone(), 0);
    let mut check = |iteration: usize, values: &[f64], validation: &mut Vec<(usize, f64)>| {
        let net = network(values);
        let cost = net.output_cost(&net.w, &validation_set, validation_seed);
        validation.push((iteration, cost));
        if cost < kept.0 {
            kept = (cost, net, iteration);
        }
    };
    check(0, &values, &mut validation);
    let mut workspace = Workspace::default();
    for iteration in 1..=training.iterations {
        let trials = training_trials(task, training.batch_size, &mut trial_rng);
        let f32s = |range: std::ops::Range<usize>| values[range].iter().map(|&v| v as f32).collect();
        let parameters = Parameters {
            n,
            inputs,
            w: f32s(0..n * n),
            b: f32s(n * n..n * n + n * inputs),
            w_out: f32s(n * n + n * inputs..values.len()),
        };
        let (loss, gradient) = loss_and_gradient_in(&parameters, &trials, &mut noise_rng, &mut workspace);
        let mut grad: Vec<f64> = [gradient.w, gradient.b, gradient.w_out]
            .concat()
            .into_iter()
            .map(f64::from)
            .collect();
        optimiser.step(&mut values, &mut grad, Some(training.clip_norm));
        let value = f64::from(loss);
        losses.push(value);
        if iteration % CHECKPOINT_EVERY == 0 || iteration == training.iterations {
            check(iteration, &values, &mut validation);
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
    use crate::model::rnn_bptt::loss_and_gradient;

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

    /// The same graph in Burn, differentiated by its autodiff: the reference the hand-written
    /// gradient is checked against.
    mod burn_reference {
        use burn::module::{Module, Param};
        use burn::tensor::{Device, Tensor, TensorData};

        use crate::data::krause_tasks::Trial;
        use crate::model::rate_rnn::{ALPHA, NOISE_SD};
        use crate::model::rnn_bptt::Parameters;
        use crate::rng::SplitMix64;

        #[derive(Module, Debug)]
        pub struct RnnModule {
            pub w_t: Param<Tensor<2>>,
            pub b_t: Param<Tensor<2>>,
            pub w_out: Param<Tensor<2>>,
        }

        impl RnnModule {
            pub fn new(p: &Parameters, device: &Device) -> Self {
                let param = |v: Vec<f32>, shape: [usize; 2]| {
                    Param::from_tensor(Tensor::<2>::from_data(TensorData::new(v, shape), device))
                };
                Self {
                    w_t: param(crate::model::transpose(&p.w, p.n, p.n), [p.n, p.n]),
                    b_t: param(crate::model::transpose(&p.b, p.n, p.inputs), [p.inputs, p.n]),
                    w_out: param(p.w_out.clone(), [p.n, 1]),
                }
            }

            /// The gradient of W, B and w_out, laid out as `Parameters`.
            pub fn gradient(
                p: &Parameters,
                trials: &[Trial],
                rng: &mut SplitMix64,
            ) -> (f32, Vec<f32>, Vec<f32>, Vec<f32>) {
                let device = Device::flex().autodiff();
                let module = Self::new(p, &device);
                let loss = module.loss(trials, rng, &device);
                let value = loss.clone().into_scalar::<f32>();
                let grads = loss.backward();
                let flat = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().expect("f32");
                let g_w_t = flat(module.w_t.grad(&grads).expect("grad"));
                let g_b_t = flat(module.b_t.grad(&grads).expect("grad"));
                let g_w_out = flat(module.w_out.grad(&grads).expect("grad"));
                (
                    value,
                    crate::model::transpose(&g_w_t, p.n, p.n),
                    crate::model::transpose(&g_b_t, p.inputs, p.n),
                    g_w_out,
                )
            }

            fn loss(&self, trials: &[Trial], rng: &mut SplitMix64, device: &Device) -> Tensor<1> {
                let (batch, steps) = (trials.len(), trials[0].inputs.len());
                let (n, inputs) = (self.w_t.dims()[0], self.b_t.dims()[0]);
                let w_t = self.w_t.val().mul_scalar(ALPHA);
                let b_t = self.b_t.val().mul_scalar(ALPHA);
                let mut x = Tensor::<2>::zeros([batch, n], device);
                let mut r = x.clone().tanh();
                let mut rates = Vec::with_capacity(steps);
                for t in 0..steps {
                    let u: Vec<f32> = trials
                        .iter()
                        .flat_map(|tr| tr.inputs[t].iter().map(|&v| v as f32))
                        .collect();
                    let mut noise = vec![0f32; batch * n];
                    rng.fill_normal_f32(&mut noise, ALPHA * NOISE_SD);
                    let u = Tensor::<2>::from_data(TensorData::new(u, [batch, inputs]), device);
                    let noise = Tensor::<2>::from_data(TensorData::new(noise, [batch, n]), device);
                    x = x.mul_scalar(1.0 - ALPHA) + r.matmul(w_t.clone()) + u.matmul(b_t.clone()) + noise;
                    r = x.clone().tanh();
                    rates.push(r.clone());
                }
                let targets: Vec<f32> = (0..steps)
                    .flat_map(|t| trials.iter().map(move |tr| tr.targets[t] as f32))
                    .collect();
                let targets = Tensor::<2>::from_data(TensorData::new(targets, [steps * batch, 1]), device);
                (Tensor::cat(rates, 0).matmul(self.w_out.val()) - targets)
                    .square()
                    .mean()
            }
        }
    }

    fn parameters(net: &RateRnn) -> Parameters {
        let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect();
        Parameters {
            n: net.n,
            inputs: net.inputs,
            w: f32s(&net.w),
            b: f32s(&net.b),
            w_out: f32s(&net.w_out),
        }
    }

    #[test]
    fn the_hand_written_gradient_is_burns_autodiff_gradient() {
        // Integration trials (5 inputs, random coherences) cut to 60 steps, with noise.
        let net = initial_network(Task::ContextIntegration, 0.5, 3);
        let p = parameters(&net);
        let mut rng = SplitMix64::new(7);
        let trials: Vec<Trial> = training_trials(Task::ContextIntegration, 3, &mut rng)
            .into_iter()
            .map(|t| Trial {
                inputs: t.inputs[640..700].to_vec(),
                targets: t.targets[640..700].to_vec(),
                ..t
            })
            .collect();
        let (loss, g) = loss_and_gradient(&p, &trials, &mut SplitMix64::new(11));
        let (burn_loss, g_w, g_b, g_w_out) = burn_reference::RnnModule::gradient(&p, &trials, &mut SplitMix64::new(11));
        assert!(
            (loss - burn_loss).abs() <= 1e-5 * burn_loss.abs().max(1e-3),
            "{loss} vs {burn_loss}"
        );
        for (name, ours, theirs) in [("W", &g.w, &g_w), ("B", &g.b, &g_b), ("w_out", &g.w_out, &g_w_out)] {
            let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(scale > 0.0, "{name}: a zero gradient tests nothing");
            for (a, b) in ours.iter().zip(theirs.iter()) {
                assert!((a - b).abs() <= 1e-4 * scale, "{name}: {a} vs {b} (scale {scale})");
            }
        }
    }

    #[test]
    fn the_loss_matches_the_f64_simulator() {
        // The f32 BPTT and the f64 simulator, fed the same trials and the same noise draws,
        // give the same loss (to f32 rounding).
        let net = initial_network(Task::SineWave, 0.5, 1);
        let trials: Vec<Trial> = [3, 40].map(sine_trial).to_vec();
        // With noise, both sides draw from the same stream in the same order (step, trial, unit).
        let (loss, _) = loss_and_gradient(&parameters(&net), &trials, &mut SplitMix64::new(9));
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
            (f64::from(loss) - expected).abs() < 1e-4 * expected.max(1e-3),
            "f32 BPTT {loss} vs f64 {expected}"
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
        let a = train(Task::SineWave, &init, &training, 5, |_, _| {});
        let b = train(Task::SineWave, &init, &training, 5, |_, _| {});
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
