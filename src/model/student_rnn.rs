//! The student of Dorrell et al. 2025, Fig 3f–g (the authors' `disentangled_rnn_train_clean.py`):
//! a ReLU RNN — the network of [`super::frequency_rnn`] — trained on minibatches of teacher
//! sequences, its fit weight β adapted GECO-style so that the fit settles near a tolerance.
//!
//! Loss per batch: β·MSE + activity·mean h² + weight·Σ_matrices mean(W²): the mean over the
//! batch's sequences of `frequency_rnn::loss_and_gradient` (each sequence's loss carries the
//! same weight cost, so the mean counts it once), computed for the batch at once.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use serde::{Deserialize, Serialize};

use super::adam::{Adam, AdamSettings};
use super::frequency_rnn::{LossTerms, Objective, Shape, Weights, blocks};
use crate::data::frequency_task::Sequence;
use crate::rng::SplitMix64;

/// GECO's update of the fit weight after each step: β ← β·exp(rate·(EMA(MSE) − tolerance)),
/// the EMA with factor `smoothing` (the authors: tolerance 3e-4, rate 0.2, smoothing 0.9).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geco {
    pub tolerance: f64,
    pub rate: f64,
    pub smoothing: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    pub iterations: usize,
    /// Sequences per step (the authors: 128).
    pub batch: usize,
    pub adam: AdamSettings,
    pub clip_norm: f64,
    /// Adapt the fit weight (`None`: keep `objective.target` fixed).
    pub geco: Option<Geco>,
}

/// The authors' initialisation: PyTorch's defaults, U(−1/√n, 1/√n), for the recurrent weights,
/// biases and readout, except W_in ~ U(0, 1) scaled to unit Frobenius norm.
pub fn init(shape: Shape, seed: u64) -> Weights {
    let mut rng = SplitMix64::new(seed);
    let (n, i, o) = (shape.hidden, shape.inputs, shape.outputs);
    let bound = 1.0 / (n as f64).sqrt();
    let mut uniform = |count: usize| -> Vec<f64> { (0..count).map(|_| rng.uniform_in(-bound, bound)).collect() };
    let (w, b_rec) = (uniform(n * n), uniform(n));
    let (b_in, w_out, b_out) = (uniform(n), uniform(o * n), uniform(o));
    let mut w_in: Vec<f64> = (0..n * i).map(|_| rng.uniform()).collect();
    let norm = w_in.iter().map(|v| v * v).sum::<f64>().sqrt();
    w_in.iter_mut().for_each(|v| *v /= norm);
    // The flat order of `frequency_rnn::Weights`: W, b_rec, W_in, b_in, W_out, b_out.
    let values = [w, b_rec, w_in, b_in, w_out, b_out].concat();
    Weights { shape, values }
}

/// The mean loss terms over `batch` and the gradient of their sum: the mean over sequences of
/// [`frequency_rnn::loss_and_gradient`] with a ReLU (tested against it), computed for the whole
/// batch at once — per step one (batch × hidden) · (hidden × hidden) product forward and two
/// backward, through faer's SIMD matrix product, instead of one matrix–vector product per
/// sequence (≈ 6× faster at the authors' batch of 128).
pub fn batch_loss_and_gradient(weights: &Weights, objective: &Objective, batch: &[&Sequence]) -> (LossTerms, Vec<f64>) {
    let shape = weights.shape;
    let (n, ni, no) = (shape.hidden, shape.inputs, shape.outputs);
    let (b, steps) = (batch.len(), batch.first().map_or(0, |s| s.inputs.len()));
    let p = blocks(&shape, &weights.values);
    let w = MatRef::from_row_major_slice(p.w, n, n);
    let w_out = MatRef::from_row_major_slice(p.w_out, no, n);
    let input = |t: usize| Mat::from_fn(b, ni, |r, c| batch[r].inputs[t][c]);

    // Forward: A_t = H_{t−1} Wᵀ + X_t W_inᵀ + b_rec + b_in, H_t = relu(A_t), Y_t = H_t W_outᵀ + b_out.
    let mut pre: Vec<Mat<f64>> = Vec::with_capacity(steps);
    let mut states: Vec<Mat<f64>> = Vec::with_capacity(steps);
    let mut outputs: Vec<Mat<f64>> = Vec::with_capacity(steps);
    for t in 0..steps {
        let x = input(t);
        let mut a = Mat::from_fn(b, n, |r, u| {
            p.b_rec[u] + p.b_in[u] + (0..ni).map(|c| p.w_in[u * ni + c] * x[(r, c)]).sum::<f64>()
        });
        if t > 0 {
            matmul(
                a.as_mut(),
                Accum::Add,
                states[t - 1].as_ref(),
                w.transpose(),
                1.0,
                Par::Seq,
            );
        }
        let h = Mat::from_fn(b, n, |r, u| a[(r, u)].max(0.0));
        let mut y = Mat::from_fn(b, no, |_, o| p.b_out[o]);
        matmul(y.as_mut(), Accum::Add, h.as_ref(), w_out.transpose(), 1.0, Par::Seq);
        pre.push(a);
        states.push(h);
        outputs.push(y);
    }

    let (per_output, per_unit) = ((b * steps * no) as f64, (b * steps * n) as f64);
    let factors = objective.weight_factors(&shape);
    let squares = |m: &[f64]| m.iter().map(|v| v * v).sum::<f64>();
    let mut terms = LossTerms {
        weight: factors[0] * squares(p.w) + factors[1] * squares(p.w_in) + factors[2] * squares(p.w_out),
        ..LossTerms::default()
    };
    let (mut g_w, mut g_w_in, mut g_w_out) = (
        Mat::<f64>::zeros(n, n),
        Mat::<f64>::zeros(n, ni),
        Mat::<f64>::zeros(no, n),
    );
    let (mut g_b, mut g_b_out) = (vec![0.0; n], vec![0.0; no]);
    let mut delta_next: Option<Mat<f64>> = None;
    for t in (0..steps).rev() {
        let (h, a, y) = (&states[t], &pre[t], &outputs[t]);
        let dy = Mat::from_fn(b, no, |r, o| {
            let e = y[(r, o)] - batch[r].targets[t][o];
            terms.target += objective.target * e * e / per_output;
            objective.target * 2.0 * e / per_output
        });
        matmul(g_w_out.as_mut(), Accum::Add, dy.transpose(), h.as_ref(), 1.0, Par::Seq);
        let mut dh = Mat::from_fn(b, n, |r, u| {
            let v = h[(r, u)];
            let negative = v.min(0.0);
            terms.activity += objective.activity * v * v / per_unit;
            terms.positivity += objective.positivity * 2.0 * negative * negative / per_unit;
            2.0 * objective.activity * v / per_unit + 4.0 * objective.positivity * negative / per_unit
        });
        matmul(dh.as_mut(), Accum::Add, dy.as_ref(), w_out, 1.0, Par::Seq);
        if let Some(next) = &delta_next {
            matmul(dh.as_mut(), Accum::Add, next.as_ref(), w, 1.0, Par::Seq);
        }
        let delta = Mat::from_fn(b, n, |r, u| if a[(r, u)] > 0.0 { dh[(r, u)] } else { 0.0 });
        if t > 0 {
            matmul(
                g_w.as_mut(),
                Accum::Add,
                delta.transpose(),
                states[t - 1].as_ref(),
                1.0,
                Par::Seq,
            );
        }
        let x = input(t);
        matmul(
            g_w_in.as_mut(),
            Accum::Add,
            delta.transpose(),
            x.as_ref(),
            1.0,
            Par::Seq,
        );
        for r in 0..b {
            (0..n).for_each(|u| g_b[u] += delta[(r, u)]);
            (0..no).for_each(|o| g_b_out[o] += dy[(r, o)]);
        }
        delta_next = Some(delta);
    }

    // Back to the flat layout W, b_rec, W_in, b_in, W_out, b_out, plus the weight cost.
    let row_major = |m: &Mat<f64>| -> Vec<f64> {
        (0..m.nrows())
            .flat_map(|r| (0..m.ncols()).map(move |c| (r, c)))
            .map(|(r, c)| m[(r, c)])
            .collect()
    };
    let mut grad = [
        row_major(&g_w),
        g_b.clone(),
        row_major(&g_w_in),
        g_b,
        row_major(&g_w_out),
        g_b_out,
    ]
    .concat();
    let at = [0, n * n + n, n * n + 2 * n + n * ni];
    let lengths = [n * n, n * ni, no * n];
    for ((start, len), factor) in at.into_iter().zip(lengths).zip(factors) {
        let values = &weights.values[start..start + len];
        for (g, v) in grad[start..start + len].iter_mut().zip(values) {
            *g += 2.0 * factor * v;
        }
    }
    (terms, grad)
}

/// A point of the training curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LogPoint {
    pub iteration: usize,
    /// The batch's unweighted output MSE.
    pub mse: f64,
    pub loss: f64,
    pub fit_weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trained {
    /// The final weights, or the last finite ones if training diverged.
    pub weights: Weights,
    /// Every `iterations / 100` iterations.
    pub curve: Vec<LogPoint>,
    pub diverged_at: Option<usize>,
}

/// Adam with gradient-norm clip on minibatches taken in order from `data` (wrapping around).
pub fn train(
    init: Weights,
    objective: &Objective,
    training: &Training,
    data: &[Sequence],
    mut on_iteration: impl FnMut(usize),
) -> Trained {
    let mut weights = init;
    let mut adam = Adam::new(training.adam, weights.values.len());
    let mut objective = *objective;
    let mut smoothed_mse: Option<f64> = None;
    let log_every = (training.iterations / 100).max(1);
    let (mut curve, mut diverged_at) = (Vec::new(), None);
    for iteration in 0..training.iterations {
        let batch: Vec<&Sequence> = (0..training.batch)
            .map(|k| &data[(iteration * training.batch + k) % data.len()])
            .collect();
        let (terms, mut grad) = batch_loss_and_gradient(&weights, &objective, &batch);
        let loss = terms.total();
        if !loss.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            diverged_at = Some(iteration);
            break;
        }
        let mse = if objective.target > 0.0 {
            terms.target / objective.target
        } else {
            0.0
        };
        if iteration % log_every == 0 {
            curve.push(LogPoint {
                iteration,
                mse,
                loss,
                fit_weight: objective.target,
            });
        }
        adam.step(&mut weights.values, &mut grad, Some(training.clip_norm));
        if let Some(geco) = training.geco {
            let ema = smoothed_mse.map_or(mse, |e| geco.smoothing * e + (1.0 - geco.smoothing) * mse);
            smoothed_mse = Some(ema);
            objective.target *= (geco.rate * (ema - geco.tolerance)).exp();
        }
        on_iteration(iteration + 1);
    }
    Trained {
        weights,
        curve,
        diverged_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::teacher_rnn::{StateRange, Teacher, sequences};
    use crate::model::frequency_rnn::{self, Activation};

    const SHAPE: Shape = Shape {
        hidden: 8,
        inputs: 2,
        outputs: 2,
    };

    fn objective() -> Objective {
        Objective {
            target: 10.0,
            activity: 1.0,
            weight: 1.0,
            positivity: 0.0,
            weight_per_entry: true,
        }
    }

    fn data(count: usize) -> Vec<Sequence> {
        sequences(&Teacher::new(1), StateRange::Uniform, count, 6, 2)
            .into_iter()
            .map(|s| s.sequence)
            .collect()
    }

    #[test]
    fn the_batch_gradient_is_the_mean_of_the_sequences_gradients() {
        let (w, data) = (init(SHAPE, 3), data(3));
        let batch: Vec<&Sequence> = data.iter().collect();
        let (terms, grad) = batch_loss_and_gradient(&w, &objective(), &batch);
        let singles: Vec<_> = data
            .iter()
            .map(|s| frequency_rnn::loss_and_gradient(&w, Activation::Relu, &objective(), s))
            .collect();
        let mean_loss = singles.iter().map(|(t, _)| t.total()).sum::<f64>() / 3.0;
        assert!((terms.total() - mean_loss).abs() < 1e-12);
        for (k, g) in grad.iter().enumerate() {
            let mean = singles.iter().map(|(_, s)| s[k]).sum::<f64>() / 3.0;
            assert!(
                (g - mean).abs() < 1e-12 * (1.0 + mean.abs()),
                "parameter {k}: {g} vs {mean}"
            );
        }
        // The weight cost is counted once, not once per sequence.
        assert!((terms.weight - singles[0].0.weight).abs() < 1e-12);
    }

    #[test]
    fn the_input_weights_start_nonnegative_with_unit_norm() {
        let w = init(SHAPE, 5);
        let (n, i) = (SHAPE.hidden, SHAPE.inputs);
        let w_in = &w.values[n * n + n..n * n + n + n * i];
        assert!(w_in.iter().all(|&v| v >= 0.0));
        assert!((w_in.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(w.values.len(), SHAPE.parameter_count());
    }

    #[test]
    fn training_fits_the_teacher_deterministically_and_geco_raises_the_fit_weight() {
        let training = Training {
            iterations: 300,
            batch: 4,
            adam: AdamSettings {
                learning_rate: 5e-3,
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-8,
            },
            clip_norm: 2.0,
            geco: Some(Geco {
                tolerance: 1e-6,
                rate: 0.2,
                smoothing: 0.9,
            }),
        };
        let data = data(16);
        let a = train(init(SHAPE, 7), &objective(), &training, &data, |_| {});
        let b = train(init(SHAPE, 7), &objective(), &training, &data, |_| {});
        assert_eq!(a, b);
        let (first, last) = (a.curve[0], a.curve[a.curve.len() - 1]);
        assert!(last.mse < 0.5 * first.mse, "{first:?} → {last:?}");
        // The fit stays above the tiny tolerance, so β only grows.
        assert!(last.fit_weight > first.fit_weight, "{first:?} → {last:?}");
    }
}
