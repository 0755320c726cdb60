//! The student of Dorrell et al. 2025, Fig 3f–g (the authors' `disentangled_rnn_train_clean.py`):
//! a ReLU RNN — the network of [`super::frequency_rnn`] — trained on minibatches of teacher
//! sequences, its fit weight β adapted GECO-style so that the fit settles near a tolerance.
//!
//! Loss per batch: β·MSE + activity·mean h² + weight·Σ_matrices mean(W²): the mean over the
//! batch's sequences of `frequency_rnn::loss_and_gradient` (each sequence's loss carries the
//! same weight cost, so the mean counts it once), computed for the batch at once in f32, the
//! authors' precision ([`super::student_batch`]). The weights and Adam's state stay f64.

use serde::{Deserialize, Serialize};

use super::adam::{Adam, AdamSettings};
use super::frequency_rnn::{Objective, Shape, Weights};
use super::student_batch::{self, Minibatch, Workspace};
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
/// Each minibatch's passes run on up to `threads` threads; the result does not depend on how
/// many (tested).
pub fn train(
    init: Weights,
    objective: &Objective,
    training: &Training,
    data: &[Sequence],
    threads: usize,
    mut on_iteration: impl FnMut(usize),
) -> Trained {
    let mut weights = init;
    let mut adam = Adam::new(training.adam, weights.values.len());
    let mut objective = *objective;
    let mut smoothed_mse: Option<f64> = None;
    let log_every = (training.iterations / 100).max(1);
    let (mut curve, mut diverged_at) = (Vec::new(), None);
    let mut workspace = Workspace::default();
    for iteration in 0..training.iterations {
        let batch: Vec<&Sequence> = (0..training.batch)
            .map(|k| &data[(iteration * training.batch + k) % data.len()])
            .collect();
        let minibatch = Minibatch::new(&weights.shape, &batch, threads);
        let (terms, mut grad) = student_batch::loss_and_gradient(&weights, &objective, &minibatch, &mut workspace);
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
    fn the_f32_batch_gradient_is_the_mean_of_the_f64_sequences_gradients() {
        // 20 sequences: a padded batch (16 + 4 columns). 8 units take the weight gradients'
        // dot-product path, 64 the blocked one.
        for hidden in [8, 64] {
            let shape = Shape { hidden, ..SHAPE };
            f32_batch_matches_f64_sequences(shape);
        }
    }

    fn f32_batch_matches_f64_sequences(shape: Shape) {
        let (w, data) = (init(shape, 3), data(20));
        let batch: Vec<&Sequence> = data.iter().collect();
        let minibatch = Minibatch::new(&shape, &batch, 1);
        let (terms, grad) = student_batch::loss_and_gradient(&w, &objective(), &minibatch, &mut Workspace::default());
        let singles: Vec<_> = data
            .iter()
            .map(|s| frequency_rnn::loss_and_gradient(&w, Activation::Relu, &objective(), s))
            .collect();
        let count = data.len() as f64;
        let mean_loss = singles.iter().map(|(t, _)| t.total()).sum::<f64>() / count;
        assert!(
            (terms.total() - mean_loss).abs() < 1e-5 * mean_loss,
            "{} vs {mean_loss}",
            terms.total()
        );
        let scale = grad.iter().map(|g| g.abs()).fold(0.0, f64::max);
        for (k, g) in grad.iter().enumerate() {
            let mean = singles.iter().map(|(_, s)| s[k]).sum::<f64>() / count;
            // f32 products: relative error ~1e-6 of the largest entry.
            assert!((g - mean).abs() < 1e-5 * scale, "parameter {k}: {g} vs {mean}");
        }
        // The weight cost is counted once, not once per sequence.
        assert!((terms.weight - singles[0].0.weight).abs() < 1e-12);
    }

    /// Adam 5e-3 with clip 2 and GECO toward a tiny tolerance.
    fn training(iterations: usize, batch: usize) -> Training {
        Training {
            iterations,
            batch,
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
        }
    }

    #[test]
    fn training_on_two_threads_gives_one_thread_s_bits() {
        // 40 sequences: three blocks of 16 columns, so two threads take two parts.
        let training = training(20, 40);
        let shape = Shape { hidden: 16, ..SHAPE };
        let data = data(80);
        let one = train(init(shape, 7), &objective(), &training, &data, 1, |_| {});
        let two = train(init(shape, 7), &objective(), &training, &data, 2, |_| {});
        let bits = |t: &Trained| t.weights.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one), bits(&two));
        assert_eq!(one, two);
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
        let training = training(300, 4);
        let data = data(16);
        let a = train(init(SHAPE, 7), &objective(), &training, &data, 1, |_| {});
        let b = train(init(SHAPE, 7), &objective(), &training, &data, 2, |_| {});
        // (Four sequences make one part whatever `threads` says; student_batch's tests split
        // larger batches.)
        assert_eq!(a, b);
        let (first, last) = (a.curve[0], a.curve[a.curve.len() - 1]);
        assert!(last.mse < 0.5 * first.mse, "{first:?} → {last:?}");
        // The fit stays above the tiny tolerance, so β only grows.
        assert!(last.fit_weight > first.fit_weight, "{first:?} → {last:?}");
    }
}
