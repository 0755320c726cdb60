//! One-hidden-layer ReLU networks trained full-batch on weighted samples — the supervised
//! "what–where" task of Dorrell et al. 2025 (Fig 2 left): one-hot inputs, a 25-unit ReLU hidden
//! layer whose activity is penalised, linear outputs. On the CPU each run trains through the
//! hand-written loop ([`train`]); on the GPU backends a batch of runs is one Burn program
//! ([`train_batch`]).
//!
//! Objective per run: Σₙ pₙ·[mean_o (yₙ − ŷₙ)² + λ_act·mean_j hₙⱼ²] + λ_w·(‖W₁‖² + ‖W₂‖²), with pₙ
//! the sample weights (the data set's frequencies; 0 for absent inputs).
//!
//! The loss and its gradient are written out by hand in f32 (Adam keeps f64 parameters and
//! state, as for the other small Dorrell networks), for the reason given in `dense_ae.rs`: the
//! network is tiny (81 samples, 25 hidden units, 2 outputs), and Burn's graph spent most of a
//! step on bookkeeping and per-op dispatch. The inputs are one-hot, so the first layer is a row
//! lookup: x·W₁ picks W₁'s row of the sample's pair, exactly what the product computes.

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};

use super::adam::{Adam, AdamSettings, default_beta_1, default_beta_2, default_epsilon};
use super::batched::{stack, unstack};
use super::dense_ae::DenseRun;
use crate::rng::SplitMix64;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisedObjective {
    pub prediction: f64,
    pub activity: f64,
    pub weight: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatWhereTraining {
    pub steps: usize,
    pub learning_rate: f64,
}

/// One run's parameters: W₁ [inputs × hidden], b₁, W₂ [hidden × outputs], b₂.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TwoLayerWeights {
    pub inputs: usize,
    pub hidden: usize,
    pub outputs: usize,
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
}

impl TwoLayerWeights {
    /// PyTorch's default `nn.Linear` initialisation (uniform on ±1/√fan_in), from our generator.
    pub fn init(inputs: usize, hidden: usize, outputs: usize, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let mut draw = |n: usize, fan_in: usize| super::uniform_fan_in(&mut rng, n, fan_in);
        Self {
            inputs,
            hidden,
            outputs,
            w1: draw(inputs * hidden, inputs),
            b1: draw(hidden, inputs),
            w2: draw(hidden * outputs, hidden),
            b2: draw(outputs, hidden),
        }
    }

    /// Hidden activity for one input vector.
    pub fn hidden_activity(&self, x: &[f64]) -> Vec<f64> {
        (0..self.hidden)
            .map(|j| {
                let pre: f64 = (0..self.inputs)
                    .map(|i| x[i] * self.w1[i * self.hidden + j] as f64)
                    .sum::<f64>();
                (pre + self.b1[j] as f64).max(0.0)
            })
            .collect()
    }

    pub fn predict(&self, x: &[f64]) -> Vec<f64> {
        let h = self.hidden_activity(x);
        (0..self.outputs)
            .map(|o| {
                self.b2[o] as f64
                    + (0..self.hidden)
                        .map(|j| h[j] * self.w2[j * self.outputs + o] as f64)
                        .sum::<f64>()
            })
            .collect()
    }
}

/// The data of one run, feature-major (one row of `columns` values per output), so that every
/// loop of the passes runs along the samples: each sample's one-hot position, targets and
/// weight. Padding columns (weight 0, targets 0, position 0) add nothing to the loss or the
/// gradient.
struct Samples {
    /// Samples of nonzero weight; the others add exactly nothing and are left out.
    real: usize,
    /// `real` rounded up to whole vectors.
    columns: usize,
    /// Index of the input that is 1, per column.
    active: Vec<usize>,
    /// outputs × columns.
    targets: Vec<f32>,
    weights: Vec<f32>,
}

/// Columns per vector of the sample loops (two AVX2 registers of f32).
const COLUMN_BLOCK: usize = 16;

impl Samples {
    fn new(x: &[Vec<f64>], y: &[Vec<f64>], sample_weights: &[f64], inputs: usize, outputs: usize) -> Self {
        assert_eq!(x.len(), y.len(), "one target per input");
        assert_eq!(x.len(), sample_weights.len(), "one weight per input");
        let mut kept = Vec::new();
        for ((x, y), &p) in x.iter().zip(y).zip(sample_weights) {
            assert_eq!(x.len(), inputs, "input width");
            assert_eq!(y.len(), outputs, "target width");
            let mut ones = x.iter().enumerate().filter(|&(_, &v)| v != 0.0);
            let (k, &one) = ones.next().expect("a one-hot input has a 1");
            assert!(one == 1.0 && ones.next().is_none(), "inputs are one-hot");
            if p != 0.0 {
                kept.push((k, y, p as f32));
            }
        }
        let real = kept.len();
        let columns = real.next_multiple_of(COLUMN_BLOCK).max(COLUMN_BLOCK);
        let mut samples = Self {
            real,
            columns,
            active: vec![0; columns],
            targets: vec![0.0; outputs * columns],
            weights: vec![0.0; columns],
        };
        for (n, (k, y, p)) in kept.into_iter().enumerate() {
            samples.active[n] = k;
            samples.weights[n] = p;
            for (out, &v) in y.iter().enumerate() {
                samples.targets[out * columns + n] = v as f32;
            }
        }
        samples
    }
}

/// The passes' buffers, feature-major (units × columns), reused from step to step.
#[derive(Default)]
struct Workspace {
    hidden: Vec<f32>,
    /// dL/d(pre-activation) of the hidden units.
    hidden_delta: Vec<f32>,
    /// Per output: ŷ − y, then dL/dŷ.
    errors: Vec<f32>,
    /// Per column: Σ_j h², then the column's loss.
    per_column: Vec<f32>,
}

/// Offsets of W₁, b₁, W₂, b₂ in the flat parameter vector, and its length.
fn offsets(inputs: usize, hidden: usize, outputs: usize) -> [usize; 5] {
    let w1 = 0;
    let b1 = w1 + inputs * hidden;
    let w2 = b1 + hidden;
    let b2 = w2 + hidden * outputs;
    [w1, b1, w2, b2, b2 + outputs]
}

/// What one evaluation of the loss and gradient reads.
#[derive(Clone, Copy)]
struct Pass<'a> {
    /// Inputs, hidden units, outputs.
    shape: (usize, usize, usize),
    samples: &'a Samples,
    objective: &'a SupervisedObjective,
    /// f32, flat as in [`offsets`].
    parameters: &'a [f32],
}

/// The loss of one run at `pass.parameters` and its gradient, written into `gradient`.
///
/// Products are added with `mul_add` (exactly rounded everywhere), so the AVX2+FMA build,
/// chosen at run time, and the portable one give the same bits (tested); without the FMA
/// instruction `mul_add` is a library call, which was most of a step.
#[cfg(test)]
fn loss_and_gradient(pass: Pass, gradient: &mut [f32], workspace: &mut Workspace) -> f32 {
    dispatch::<true>(pass, gradient, workspace)
}

/// [`loss_and_gradient`]'s gradient, bit for bit, without the loss, which training does not
/// read (as `DenseAutoencoder::gradient`).
fn gradient_only(pass: Pass, gradient: &mut [f32], workspace: &mut Workspace) {
    dispatch::<false>(pass, gradient, workspace);
}

#[inline(always)]
fn dispatch<const WITH_LOSS: bool>(pass: Pass, gradient: &mut [f32], workspace: &mut Workspace) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { loss_and_gradient_avx2::<WITH_LOSS>(pass, gradient, workspace) };
    }
    loss_and_gradient_portable::<WITH_LOSS>(pass, gradient, workspace)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn loss_and_gradient_avx2<const WITH_LOSS: bool>(pass: Pass, gradient: &mut [f32], workspace: &mut Workspace) -> f32 {
    loss_and_gradient_portable::<WITH_LOSS>(pass, gradient, workspace)
}

/// The loss (0 unless `WITH_LOSS`) and the gradient.
#[inline(always)]
fn loss_and_gradient_portable<const WITH_LOSS: bool>(
    pass: Pass,
    gradient: &mut [f32],
    workspace: &mut Workspace,
) -> f32 {
    use super::dense_ae::{dot, reduce};
    let Pass {
        shape: (inputs, h, o),
        samples,
        objective,
        parameters,
    } = pass;
    let c = samples.columns;
    let at = offsets(inputs, h, o);
    let (w1, b1, w2, b2) = (
        &parameters[at[0]..at[1]],
        &parameters[at[1]..at[2]],
        &parameters[at[2]..at[3]],
        &parameters[at[3]..at[4]],
    );
    let prediction_scale = objective.prediction as f32 / o as f32;
    let activity_scale = objective.activity as f32 / h as f32;
    let weight_scale = objective.weight as f32;
    let Workspace {
        hidden,
        hidden_delta,
        errors,
        per_column,
    } = workspace;
    hidden.resize(h * c, 0.0);
    hidden_delta.resize(h * c, 0.0);
    errors.resize(o * c, 0.0);
    per_column.resize(c, 0.0);

    // Forward: h = relu(W₁[k] + b₁) (the one-hot product picks a row), ŷ = h·W₂ + b₂.
    for (n, &k) in samples.active.iter().enumerate() {
        for j in 0..h {
            hidden[j * c + n] = (w1[k * h + j] + b1[j]).max(0.0);
        }
    }
    for out in 0..o {
        let error = &mut errors[out * c..(out + 1) * c];
        error.fill(0.0);
        for (j, row) in hidden.chunks_exact(c).enumerate() {
            let weight = w2[j * o + out];
            for (e, &v) in error.iter_mut().zip(row) {
                *e = v.mul_add(weight, *e);
            }
        }
        for (e, &t) in error.iter_mut().zip(&samples.targets[out * c..(out + 1) * c]) {
            *e = *e + b2[out] - t;
        }
    }

    // The loss, column by column: p·(prediction·mean (ŷ − y)² + activity·mean h²). Nothing
    // below reads it.
    let mut loss = 0.0;
    if WITH_LOSS {
        per_column.fill(0.0);
        for row in hidden.chunks_exact(c) {
            for (s, &v) in per_column.iter_mut().zip(row) {
                *s = v.mul_add(v, *s);
            }
        }
        for (n, s) in per_column.iter_mut().enumerate() {
            let mut squared_error = 0.0f32;
            for out in 0..o {
                let e = errors[out * c + n];
                squared_error = e.mul_add(e, squared_error);
            }
            *s = samples.weights[n] * prediction_scale.mul_add(squared_error, activity_scale * *s);
        }
        loss = reduce(per_column, |v| v);
        let squares = reduce(w1, |v| v * v) + reduce(w2, |v| v * v);
        loss = weight_scale.mul_add(squares, loss);
    }

    // Backward. dL/dŷ = 2·p·prediction_scale·(ŷ − y).
    for error in errors.chunks_exact_mut(c) {
        for (e, &p) in error.iter_mut().zip(&samples.weights) {
            *e *= 2.0 * p * prediction_scale;
        }
    }
    for out in 0..o {
        gradient[at[3] + out] = reduce(&errors[out * c..(out + 1) * c], |v| v);
    }
    for j in 0..h {
        let row = &hidden[j * c..(j + 1) * c];
        for out in 0..o {
            let k = j * o + out;
            gradient[at[2] + k] = (2.0 * weight_scale).mul_add(w2[k], dot(row, &errors[out * c..(out + 1) * c]));
        }
        // dL/dh from the outputs and the activity term, through the ReLU (nothing where h = 0).
        let delta = &mut hidden_delta[j * c..(j + 1) * c];
        for (n, d) in delta.iter_mut().enumerate() {
            *d = 2.0 * samples.weights[n] * activity_scale * row[n];
        }
        for out in 0..o {
            let weight = w2[j * o + out];
            for (d, &e) in delta.iter_mut().zip(&errors[out * c..(out + 1) * c]) {
                *d = e.mul_add(weight, *d);
            }
        }
        for (d, &v) in delta.iter_mut().zip(row) {
            *d = if v > 0.0 { *d } else { 0.0 };
        }
        gradient[at[1] + j] = reduce(delta, |v| v);
    }
    for (g, &w) in gradient[at[0]..at[1]].iter_mut().zip(w1) {
        *g = 2.0 * weight_scale * w;
    }
    for (n, &k) in samples.active[..samples.real].iter().enumerate() {
        for j in 0..h {
            gradient[at[0] + k * h + j] += hidden_delta[j * c + n];
        }
    }
    loss
}

/// Trains one run with full-batch Adam on inputs `x` [N × I] (one-hot), targets `y` [N × O] and
/// this run's sample weights (summing to 1); `on_step(s)` after step s.
pub fn train(
    x: &[Vec<f64>],
    y: &[Vec<f64>],
    sample_weights: &[f64],
    init: &TwoLayerWeights,
    objective: &SupervisedObjective,
    training: &WhatWhereTraining,
    mut on_step: impl FnMut(usize),
) -> TwoLayerWeights {
    let (i, h, o) = (init.inputs, init.hidden, init.outputs);
    let samples = Samples::new(x, y, sample_weights, i, o);
    let parameters: Vec<f64> = [&init.w1, &init.b1, &init.w2, &init.b2]
        .into_iter()
        .flatten()
        .map(|&v| f64::from(v))
        .collect();
    let optimiser = Adam::new(
        AdamSettings {
            learning_rate: training.learning_rate,
            beta_1: default_beta_1(),
            beta_2: default_beta_2(),
            // As the Burn program's `AdamConfig::with_epsilon(1e-8)`.
            epsilon: default_epsilon(),
        },
        parameters.len(),
    );
    let mut run = DenseRun::new(parameters, optimiser);
    let mut workspace = Workspace::default();
    for step in 0..training.steps {
        run.step_with(|narrow, gradient| {
            let pass = Pass {
                shape: (i, h, o),
                samples: &samples,
                objective,
                parameters: narrow,
            };
            gradient_only(pass, gradient, &mut workspace);
        });
        on_step(step + 1);
    }
    let parameters = run.parameters();
    let at = offsets(i, h, o);
    let part = |a: usize, b: usize| parameters[at[a]..at[b]].iter().map(|&v| v as f32).collect();
    TwoLayerWeights {
        inputs: i,
        hidden: h,
        outputs: o,
        w1: part(0, 1),
        b1: part(1, 2),
        w2: part(2, 3),
        b2: part(3, 4),
    }
}

#[derive(Module, Debug)]
struct BatchedTwoLayer {
    w1: Param<Tensor<3>>, // [R, I, H]
    b1: Param<Tensor<3>>, // [R, 1, H]
    w2: Param<Tensor<3>>, // [R, H, O]
    b2: Param<Tensor<3>>, // [R, 1, O]
}

/// Trains one batch of runs on the same inputs `x` [N × I] and targets `y` [N × O], each run
/// with its own sample weights (summing to 1) and initialisation, as one batched Burn program:
/// the GPU backends' path (on the CPU, [`train`] runs one run at a time, ≈ 3× faster).
#[allow(clippy::too_many_arguments)]
pub fn train_batch(
    x: &[Vec<f64>],
    y: &[Vec<f64>],
    sample_weights: &[Vec<f64>],
    inits: &[TwoLayerWeights],
    objective: &SupervisedObjective,
    training: &WhatWhereTraining,
    device: &Device,
    mut on_step: impl FnMut(usize),
) -> Vec<TwoLayerWeights> {
    let (runs, n) = (inits.len(), x.len());
    let (i, h, o) = (inits[0].inputs, inits[0].hidden, inits[0].outputs);
    let device = device.clone().autodiff();
    let tile = |rows: &[Vec<f64>], width: usize| {
        let flat: Vec<f32> = (0..runs)
            .flat_map(|_| rows.iter().flatten().map(|&v| v as f32))
            .collect();
        Tensor::<3>::from_data(TensorData::new(flat, [runs, n, width]), &device)
    };
    let (xs, ys) = (tile(x, i), tile(y, o));
    let p: Vec<f32> = sample_weights.iter().flatten().map(|&v| v as f32).collect();
    let p = Tensor::<3>::from_data(TensorData::new(p, [runs, n, 1]), &device);
    let mut model = BatchedTwoLayer {
        w1: stack(inits.iter().map(|w| w.w1.as_slice()), [i, h], &device),
        b1: stack(inits.iter().map(|w| w.b1.as_slice()), [1, h], &device),
        w2: stack(inits.iter().map(|w| w.w2.as_slice()), [h, o], &device),
        b2: stack(inits.iter().map(|w| w.b2.as_slice()), [1, o], &device),
    };
    let mut optimiser = AdamConfig::new().with_epsilon(1e-8).init();
    for step in 0..training.steps {
        let hidden = relu(xs.clone().matmul(model.w1.val()) + model.b1.val());
        let prediction = hidden.clone().matmul(model.w2.val()) + model.b2.val();
        let error = (prediction - ys.clone()).powi_scalar(2).mean_dim(2); // [R, N, 1]
        let activity = hidden.powi_scalar(2).mean_dim(2);
        let per_sample = error.mul_scalar(objective.prediction) + activity.mul_scalar(objective.activity);
        let weights = model.w1.val().powi_scalar(2).sum() + model.w2.val().powi_scalar(2).sum();
        let loss = (per_sample * p.clone()).sum() + weights.mul_scalar(objective.weight);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimiser.step(training.learning_rate, model, grads);
        on_step(step + 1);
    }
    let (w1, b1, w2, b2) = (
        unstack(model.w1.val()),
        unstack(model.b1.val()),
        unstack(model.w2.val()),
        unstack(model.b2.val()),
    );
    (0..runs)
        .map(|r| TwoLayerWeights {
            inputs: i,
            hidden: h,
            outputs: o,
            w1: w1[r].clone(),
            b1: b1[r].clone(),
            w2: w2[r].clone(),
            b2: b2[r].clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loss in f64 from the definition, sample by sample, for the gradient check.
    fn reference_loss(
        x: &[Vec<f64>],
        y: &[Vec<f64>],
        p: &[f64],
        w: &TwoLayerWeights,
        objective: &SupervisedObjective,
    ) -> f64 {
        let mut loss = 0.0;
        for ((x, y), &p) in x.iter().zip(y).zip(p) {
            let hidden = w.hidden_activity(x);
            let prediction = w.predict(x);
            let mse = prediction.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / y.len() as f64;
            let activity = hidden.iter().map(|v| v * v).sum::<f64>() / hidden.len() as f64;
            loss += p * (objective.prediction * mse + objective.activity * activity);
        }
        let squares = |m: &[f32]| m.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>();
        loss + objective.weight * (squares(&w.w1) + squares(&w.w2))
    }

    type Problem = (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<f64>, TwoLayerWeights);

    fn problem() -> Problem {
        let inputs = 9;
        let mut rng = SplitMix64::new(3);
        let x: Vec<Vec<f64>> = (0..inputs)
            .map(|k| (0..inputs).map(|i| if i == k { 1.0 } else { 0.0 }).collect())
            .collect();
        let y: Vec<Vec<f64>> = (0..inputs)
            .map(|k| vec![(k / 3) as f64 / 2.0, (k % 3) as f64 / 2.0])
            .collect();
        // One absent input (weight 0), the rest unequal.
        let mut p: Vec<f64> = (0..inputs)
            .map(|k| if k == 4 { 0.0 } else { 1.0 + rng.uniform() })
            .collect();
        let total: f64 = p.iter().sum();
        p.iter_mut().for_each(|v| *v /= total);
        (x, y, p, TwoLayerWeights::init(inputs, 7, 2, 11))
    }

    /// The kernel's view of a problem: its samples, and the parameters flat in f32.
    fn samples_and_parameters(
        x: &[Vec<f64>],
        y: &[Vec<f64>],
        p: &[f64],
        init: &TwoLayerWeights,
    ) -> (Samples, Vec<f32>) {
        let samples = Samples::new(x, y, p, init.inputs, init.outputs);
        let flat = [&init.w1, &init.b1, &init.w2, &init.b2]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        (samples, flat)
    }

    const OBJECTIVE: SupervisedObjective = SupervisedObjective {
        prediction: 1.0,
        activity: 0.1,
        weight: 0.01,
    };

    #[test]
    fn the_gradient_matches_central_differences_of_the_f64_loss() {
        let (x, y, p, init) = problem();
        let (i, h, o) = (init.inputs, init.hidden, init.outputs);
        let (samples, flat) = samples_and_parameters(&x, &y, &p, &init);
        let mut gradient = vec![0.0; flat.len()];
        let pass = Pass {
            shape: (i, h, o),
            samples: &samples,
            objective: &OBJECTIVE,
            parameters: &flat,
        };
        let loss = loss_and_gradient(pass, &mut gradient, &mut Workspace::default());
        assert!((f64::from(loss) - reference_loss(&x, &y, &p, &init, &OBJECTIVE)).abs() < 1e-5);
        let at = offsets(i, h, o);
        let unflatten = |v: &[f64]| {
            let part = |a: usize, b: usize| v[at[a]..at[b]].iter().map(|&v| v as f32).collect();
            TwoLayerWeights {
                w1: part(0, 1),
                b1: part(1, 2),
                w2: part(2, 3),
                b2: part(3, 4),
                ..init.clone()
            }
        };
        let base: Vec<f64> = flat.iter().map(|&v| f64::from(v)).collect();
        let eps = 1e-3;
        let mut checked_w1 = 0;
        for k in 0..base.len() {
            let mut plus = base.clone();
            let mut minus = base.clone();
            plus[k] += eps;
            minus[k] -= eps;
            let numeric = (reference_loss(&x, &y, &p, &unflatten(&plus), &OBJECTIVE)
                - reference_loss(&x, &y, &p, &unflatten(&minus), &OBJECTIVE))
                / (2.0 * eps);
            // A ReLU at its kink makes the difference quotient meaningless; none is near here.
            assert!(
                (numeric - f64::from(gradient[k])).abs() < 2e-3 * (1.0 + numeric.abs()),
                "parameter {k}: {numeric} vs {}",
                gradient[k]
            );
            checked_w1 += usize::from(k < at[1] && gradient[k] != 2.0 * 0.01 * flat[k]);
        }
        assert!(checked_w1 > 0, "some of W₁ gets a data gradient");
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_avx2_and_portable_builds_agree_bit_for_bit() {
        if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")) {
            eprintln!("skipped: this CPU has no AVX2 and FMA");
            return;
        }
        let (x, y, p, init) = problem();
        let (i, h, o) = (init.inputs, init.hidden, init.outputs);
        let (samples, flat) = samples_and_parameters(&x, &y, &p, &init);
        let pass = Pass {
            shape: (i, h, o),
            samples: &samples,
            objective: &OBJECTIVE,
            parameters: &flat,
        };
        let run = |accelerated: bool| {
            let mut gradient = vec![0.0; flat.len()];
            let loss = if accelerated {
                // SAFETY: checked above.
                unsafe { loss_and_gradient_avx2::<true>(pass, &mut gradient, &mut Workspace::default()) }
            } else {
                loss_and_gradient_portable::<true>(pass, &mut gradient, &mut Workspace::default())
            };
            (loss.to_bits(), gradient.iter().map(|g| g.to_bits()).collect::<Vec<_>>())
        };
        assert_eq!(run(true), run(false));
    }

    #[test]
    fn the_gradient_without_the_loss_has_the_same_bits() {
        let (x, y, p, init) = problem();
        let (samples, flat) = samples_and_parameters(&x, &y, &p, &init);
        let pass = Pass {
            shape: (init.inputs, init.hidden, init.outputs),
            samples: &samples,
            objective: &OBJECTIVE,
            parameters: &flat,
        };
        let (mut with_loss, mut alone) = (vec![0.0; flat.len()], vec![0.0; flat.len()]);
        assert!(loss_and_gradient(pass, &mut with_loss, &mut Workspace::default()) > 0.0);
        gradient_only(pass, &mut alone, &mut Workspace::default());
        let bits = |g: &[f32]| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&with_loss), bits(&alone));
    }

    #[test]
    fn training_fits_the_targets_and_is_deterministic() {
        let (x, y, p, init) = problem();
        let objective = SupervisedObjective {
            prediction: 1.0,
            activity: 1e-3,
            weight: 1e-5,
        };
        let training = WhatWhereTraining {
            steps: 3000,
            learning_rate: 1e-2,
        };
        let before = reference_loss(&x, &y, &p, &init, &objective);
        let trained = train(&x, &y, &p, &init, &objective, &training, |_| {});
        let after = reference_loss(&x, &y, &p, &trained, &objective);
        assert!(after < 0.01 * before && after < 1e-3, "{before} → {after}");
        assert_eq!(trained, train(&x, &y, &p, &init, &objective, &training, |_| {}));
    }
}
