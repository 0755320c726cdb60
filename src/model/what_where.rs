//! A batch of one-hidden-layer ReLU networks trained full-batch on weighted samples — the
//! supervised "what–where" task of Dorrell et al. 2025 (Fig 2 left): one-hot inputs, a 25-unit
//! ReLU hidden layer whose activity is penalised, linear outputs.
//!
//! Objective per run: Σₙ pₙ·[mean_o (yₙ − ŷₙ)² + λ_act·mean_j hₙⱼ²] + λ_w·(‖W₁‖² + ‖W₂‖²), with pₙ
//! the sample weights (the data set's frequencies; 0 for absent inputs), so every run of a
//! batch has the same input set and shape.

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};

use super::batched::{stack, unstack};
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

#[derive(Module, Debug)]
struct BatchedTwoLayer {
    w1: Param<Tensor<3>>, // [R, I, H]
    b1: Param<Tensor<3>>, // [R, 1, H]
    w2: Param<Tensor<3>>, // [R, H, O]
    b2: Param<Tensor<3>>, // [R, 1, O]
}

/// Trains one batch of runs on the same inputs `x` [N × I] and targets `y` [N × O], each run
/// with its own sample weights (summing to 1) and initialisation.
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
