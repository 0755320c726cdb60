//! One training step of the Lange classifier written out by hand: the forward pass, the
//! gradient of cross-entropy plus the L1/L2 penalties, and Adam — the same arithmetic, in the
//! same order, as the Burn program in [`super::classifier`] runs on the `flex` backend, so the
//! trained weights are the same bits (tested against it on every regularisation).
//!
//! Why by hand: at Lange's sizes (batches of 200 through 784 → 64 → 64 → 10) a step's matrix
//! products take a third of the time Burn spends on it; the rest is its autodiff graph and the
//! per-operation passes and allocations over the weights (the penalties' `abs`, `sign` and
//! `sum`, Adam's eight tensor operations per parameter), `perf`, session 16.
//!
//! What "the same order" takes, read off Burn 0.22's sources:
//! - The products call `gemm::gemm` exactly as `burn-flex`'s `matmul` does (its strides for
//!   the transposed operands of the backward pass, α = 0, β = 1), on one thread: `burn-flex`
//!   runs the first layer's products on threads, and gemm splits them across threads without
//!   changing a sum's order (the same bits, tested), but a run here already has its own core.
//! - The cross-entropy's gradient follows Burn's `log_softmax` (max-shifted log-sum-exp) and its
//!   autodiff rules: d logits = −(1/b)·y + ((1/b) · (1/Σe)) · e. The row sums Σe are taken by
//!   `burn-flex`'s own `sum_dim` (its SIMD order depends on the CPU), everything else is
//!   elementwise.
//! - A weight's gradient adds its contributions in the order Burn's tape registers them: the
//!   tape runs deepest operation first, and among the operations at depth 1 (the penalties'
//!   `abs` and `w · w`, and the first layer's product, whose input is not tracked) in the order
//!   its depth-first walk from the loss reached them: the penalty terms last added first, then
//!   the cross-entropy's graph. Each registration adds the new term to the sum so far.
//! - Adam is `burn-optim`'s: its first step sets the moments without decaying zeros, the bias
//!   corrections are f32 `powi`, and the update is (m·c) / (√v + ε·√(1 − β₂ᵗ)) · lr.

use burn::tensor::{Device, Tensor, TensorData};

use super::classifier::{ClassifierWeights, Regularisation};
use crate::rng::SplitMix64;

/// Burn's Adam defaults (`AdamConfig`), with the ε the classifier sets.
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-8;

/// A matrix operand for [`product`]: entry (i, j) at `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy)]
struct Operand<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Operand<'a> {
    fn row_major(data: &'a [f32], columns: usize) -> Self {
        Self {
            data,
            row_stride: columns,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix with `columns` columns, as a strided view.
    fn transposed(data: &'a [f32], columns: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: columns,
        }
    }

    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0 || cols == 0 || (rows - 1) * self.row_stride + (cols - 1) * self.col_stride < self.data.len()
    }
}

/// out (m × n, row-major, overwritten) = lhs (m × k) · rhs (k × n), as `burn-flex` computes it.
fn product(out: &mut [f32], m: usize, n: usize, k: usize, lhs: Operand<'_>, rhs: Operand<'_>) {
    assert!(out.len() == m * n && lhs.fits(m, k) && rhs.fits(k, n), "operand shapes");
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: every index gemm reads or writes lies in the slices (checked just above), and
    // `out` does not alias the operands (it is borrowed mutably).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `burn-flex`'s `relu`: NaN passes through.
fn relu(x: f32) -> f32 {
    if x.is_nan() || x > 0.0 { x } else { 0.0 }
}

/// `burn-flex`'s `sign`: 0 for 0 and NaN.
fn sign(x: f32) -> f32 {
    if x.is_nan() || x == 0.0 {
        0.0
    } else {
        1.0f32.copysign(x)
    }
}

/// Adam's moments of one parameter tensor.
#[derive(Debug, Clone, Default)]
struct Moments {
    first: Vec<f32>,
    second: Vec<f32>,
}

/// The per-layer values the backward pass reads: the layer's input and, for hidden layers,
/// the ReLU output and dropout mask that made the next layer's input.
#[derive(Debug, Default)]
struct LayerValues {
    /// The layer's input (b × in): the images for layer 0.
    input: Vec<f32>,
    /// ReLU of the layer's output (b × out), hidden layers only.
    rectified: Vec<f32>,
    /// The dropout mask applied to `rectified` (empty without dropout).
    mask: Vec<f32>,
}

/// The classifier's parameters and optimiser state, trained one minibatch at a time.
#[derive(Debug)]
pub struct ClassifierStepper {
    weights: ClassifierWeights,
    weight_moments: Vec<Moments>,
    bias_moments: Vec<Moments>,
    steps: i32,
    layers: Vec<LayerValues>,
    device: Device,
}

impl ClassifierStepper {
    pub fn new(init: &ClassifierWeights) -> Self {
        let count = init.weights.len();
        Self {
            weights: init.clone(),
            weight_moments: vec![Moments::default(); count],
            bias_moments: vec![Moments::default(); count],
            steps: 0,
            layers: (0..count).map(|_| LayerValues::default()).collect(),
            device: Device::flex(),
        }
    }

    pub fn weights(&self) -> &ClassifierWeights {
        &self.weights
    }

    /// One Adam step on the minibatch `images` (b × inputs, row-major) with `labels`, drawing
    /// dropout masks from `rng` as the Burn program does (hidden layer by hidden layer).
    pub fn step(
        &mut self,
        images: Vec<f32>,
        labels: &[u8],
        regularisation: &Regularisation,
        rng: &mut SplitMix64,
        learning_rate: f64,
    ) {
        let logits = self.forward(images, labels.len(), regularisation, rng);
        let (weight_grads, bias_grads) = self.backward(logits, labels, regularisation);
        self.adam(&weight_grads, &bias_grads, learning_rate);
    }

    /// The logits (b × classes), keeping what the backward pass needs in `self.layers`.
    fn forward(
        &mut self,
        images: Vec<f32>,
        b: usize,
        regularisation: &Regularisation,
        rng: &mut SplitMix64,
    ) -> Vec<f32> {
        let widths = &self.weights.widths;
        let count = self.weights.weights.len();
        let keep = 1.0 - regularisation.dropout;
        self.layers[0].input = images;
        for l in 0..count {
            let (n_in, n_out) = (widths[l], widths[l + 1]);
            let mut z = vec![0f32; b * n_out];
            product(
                &mut z,
                b,
                n_out,
                n_in,
                Operand::row_major(&self.layers[l].input, n_in),
                Operand::row_major(&self.weights.weights[l], n_out),
            );
            for row in z.chunks_exact_mut(n_out) {
                for (v, &bias) in row.iter_mut().zip(&self.weights.biases[l]) {
                    *v += bias;
                }
            }
            if l + 1 == count {
                return z;
            }
            let rectified: Vec<f32> = z.iter().map(|&v| relu(v)).collect();
            let (next_input, mask) = if regularisation.dropout > 0.0 {
                let mask = super::classifier::dropout_mask(rng, b * n_out, keep);
                (rectified.iter().zip(&mask).map(|(r, m)| r * m).collect(), mask)
            } else {
                (rectified.clone(), Vec::new())
            };
            self.layers[l].rectified = rectified;
            self.layers[l].mask = mask;
            self.layers[l + 1].input = next_input;
        }
        unreachable!("the loop returns at the output layer")
    }

    /// The gradients of the mean cross-entropy plus the penalties, per weight and bias.
    fn backward(
        &self,
        logits: Vec<f32>,
        labels: &[u8],
        regularisation: &Regularisation,
    ) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        let widths = &self.weights.widths;
        let count = self.weights.weights.len();
        let b = labels.len();
        let mut grad = self.logits_gradient(logits, labels);
        let mut weight_grads = vec![Vec::new(); count];
        let mut bias_grads = vec![Vec::new(); count];
        for l in (0..count).rev() {
            let (n_in, n_out) = (widths[l], widths[l + 1]);
            let mut dw = vec![0f32; n_in * n_out];
            product(
                &mut dw,
                n_in,
                n_out,
                b,
                Operand::transposed(&self.layers[l].input, n_in),
                Operand::row_major(&grad, n_out),
            );
            weight_grads[l] = self.with_penalties(l, dw, regularisation);
            // `burn-flex`'s first-dimension sum: rows added in order onto zeros.
            let mut db = vec![0f32; n_out];
            for row in grad.chunks_exact(n_out) {
                for (d, &g) in db.iter_mut().zip(row) {
                    *d += g;
                }
            }
            bias_grads[l] = db;
            if l == 0 {
                break;
            }
            let mut below = vec![0f32; b * n_in];
            product(
                &mut below,
                b,
                n_in,
                n_out,
                Operand::row_major(&grad, n_out),
                Operand::transposed(&self.weights.weights[l], n_out),
            );
            let values = &self.layers[l - 1];
            if !values.mask.is_empty() {
                for (g, &m) in below.iter_mut().zip(&values.mask) {
                    *g *= m;
                }
            }
            for (g, &r) in below.iter_mut().zip(&values.rectified) {
                if !(r.is_nan() || r > 0.0) {
                    *g = 0.0;
                }
            }
            grad = below;
        }
        (weight_grads, bias_grads)
    }

    /// d loss / d logits for the mean cross-entropy of `labels` (Burn's `log_softmax`).
    fn logits_gradient(&self, logits: Vec<f32>, labels: &[u8]) -> Vec<f32> {
        let b = labels.len();
        let classes = logits.len() / b.max(1);
        // div_scalar(b)'s backward multiplies by 1/b in f32; `neg` and the target mask follow.
        let inverse_batch = 1.0f32 / b as f32;
        let mut exps = logits;
        for row in exps.chunks_exact_mut(classes) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            for v in row.iter_mut() {
                *v = (*v - max).exp();
            }
        }
        let row_sums: Vec<f32> = Tensor::<2>::from_data(TensorData::new(exps.clone(), [b, classes]), &self.device)
            .sum_dim(1)
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32 sums");
        // The gradient reaching the log-sum-exp of a row is the sum of its targets' gradients,
        // (1/b)·1: one nonzero term, so exact in any order.
        for ((row, &sum), &label) in exps.chunks_exact_mut(classes).zip(&row_sums).zip(labels) {
            let through_sum = inverse_batch * (1.0 / sum);
            for (j, v) in row.iter_mut().enumerate() {
                let target = if j == label as usize { 1.0f32 } else { 0.0 };
                *v = -inverse_batch * target + through_sum * *v;
            }
        }
        exps
    }

    /// Layer `l`'s weight gradient with the penalties' terms added in Burn's order.
    fn with_penalties(&self, l: usize, mut grad: Vec<f32>, regularisation: &Regularisation) -> Vec<f32> {
        let (l1, l2) = (regularisation.l1 > 0.0, regularisation.l2 > 0.0);
        if !l1 && !l2 {
            return grad;
        }
        let (l1_scale, l2_scale) = (regularisation.l1 as f32, regularisation.l2 as f32);
        let first_layer = l == 0;
        for (g, &w) in grad.iter_mut().zip(&self.weights.weights[l]) {
            let absolute = l1_scale * sign(w);
            let square = l2_scale * w;
            *g = if first_layer {
                // The product is registered last, after the penalties.
                let penalties = match (l1, l2) {
                    (true, true) => absolute + (square + square),
                    (true, false) => absolute,
                    (false, _) => square + square,
                };
                *g + penalties
            } else {
                let with_square = if l2 { square + (square + *g) } else { *g };
                if l1 { absolute + with_square } else { with_square }
            };
        }
        grad
    }

    /// `burn-optim`'s Adam on every parameter.
    fn adam(&mut self, weight_grads: &[Vec<f32>], bias_grads: &[Vec<f32>], learning_rate: f64) {
        self.steps += 1;
        let t = self.steps;
        let bias_correction_2 = (1.0f32 - BETA_2.powi(t)).sqrt();
        let update = AdamUpdate {
            first_step: t == 1,
            combined: bias_correction_2 / (1.0f32 - BETA_1.powi(t)),
            epsilon: EPSILON * bias_correction_2,
            learning_rate: learning_rate as f32,
        };
        let weights = &mut self.weights;
        for (l, grad) in weight_grads.iter().enumerate() {
            update.apply(&mut weights.weights[l], grad, &mut self.weight_moments[l]);
        }
        for (l, grad) in bias_grads.iter().enumerate() {
            update.apply(&mut weights.biases[l], grad, &mut self.bias_moments[l]);
        }
    }
}

/// One Adam step's scalars.
struct AdamUpdate {
    first_step: bool,
    combined: f32,
    epsilon: f32,
    learning_rate: f32,
}

impl AdamUpdate {
    fn apply(&self, params: &mut [f32], grad: &[f32], moments: &mut Moments) {
        let (f1, f2) = (1.0f32 - BETA_1, 1.0f32 - BETA_2);
        if self.first_step {
            moments.first = grad.iter().map(|&g| g * f1).collect();
            moments.second = grad.iter().map(|&g| (g * g) * f2).collect();
        } else {
            for ((m, v), &g) in moments.first.iter_mut().zip(moments.second.iter_mut()).zip(grad) {
                *m = *m * BETA_1 + g * f1;
                *v = *v * BETA_2 + (g * g) * f2;
            }
        }
        for ((p, &m), &v) in params.iter_mut().zip(&moments.first).zip(&moments.second) {
            let step = (m * self.combined) / (v.sqrt() + self.epsilon);
            *p -= step * self.learning_rate;
        }
    }
}
