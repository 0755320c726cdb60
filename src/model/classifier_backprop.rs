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
//!   the transposed operands of the backward pass, α = 0, β = 1), on one thread, as
//!   `burn-flex` does when built without its `rayon` feature (as here). With that feature it
//!   runs the first layer's products on gemm's threads, which split the output, not a sum: I
//!   tried it, and the bits are the same and each run slower, since a run already has a core.
//! - The cross-entropy's gradient follows Burn's `log_softmax` (max-shifted log-sum-exp) and its
//!   autodiff rules: d logits = −(1/b)·y + ((1/b) · (1/Σe)) · e. The row sums Σe are taken by
//!   `burn-flex`'s own `sum_dim`, whose order depends on its build (sequential here, SIMD
//!   lanes with its `simd` feature); everything else is elementwise.
//! - A weight's gradient adds its contributions in the order Burn's tape registers them: the
//!   tape runs deepest operation first, and among the operations at depth 1 (the penalties'
//!   `abs` and `w · w`, and the first layer's product, whose input is not tracked) in the order
//!   its depth-first walk from the loss reached them: the penalty terms last added first, then
//!   the cross-entropy's graph. Each registration adds the new term to the sum so far.
//! - Adam is `burn-optim`'s: its first step sets the moments without decaying zeros, the bias
//!   corrections are f32 `powi`, and the update is (m·c) / (√v + ε·√(1 − β₂ᵗ)) · lr.

use burn::tensor::{Device, Tensor, TensorData};

use super::classifier::{ClassifierWeights, Regularisation};
use super::sized;
use super::sparse_products::{self, SparseRows};
use crate::rng::SplitMix64;

/// Burn's Adam defaults (`AdamConfig`), with the ε the classifier sets.
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-8;

/// A matrix operand for [`product`]: entry (i, j) at `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy)]
pub(super) struct Operand<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Operand<'a> {
    pub(super) fn row_major(data: &'a [f32], columns: usize) -> Self {
        Self {
            data,
            row_stride: columns,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix with `columns` columns, as a strided view.
    pub(super) fn transposed(data: &'a [f32], columns: usize) -> Self {
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
pub(super) fn product(out: &mut [f32], m: usize, n: usize, k: usize, lhs: Operand<'_>, rhs: Operand<'_>) {
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

/// Whether `burn-flex`'s `relu` keeps x (NaN passes through), and its backward the gradient
/// where the ReLU's output is x.
fn relu_keeps(x: f32) -> bool {
    x.is_nan() || x > 0.0
}

/// `burn-flex`'s `relu`.
fn relu(x: f32) -> f32 {
    if relu_keeps(x) { x } else { 0.0 }
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

/// One layer's values from the forward pass that the backward pass reads, and its gradients.
/// Kept from step to step: every entry is overwritten before it is read.
#[derive(Debug, Default)]
struct LayerValues {
    /// The layer's input (b × in): the images for layer 0.
    input: LayerInput,
    /// The layer's output (b × out) before the ReLU; for the output layer, the logits and
    /// then their gradient.
    output: Vec<f32>,
    /// ReLU of `output`, hidden layers only.
    rectified: Vec<f32>,
    /// The dropout mask applied to `rectified` (empty without dropout).
    mask: Vec<f32>,
    weight_grad: Vec<f32>,
    bias_grad: Vec<f32>,
}

/// A minibatch for [`ClassifierStepper::step`]: rows `chosen` of a data set's images, held as
/// their nonzero entries.
#[derive(Debug, Clone, Copy)]
pub(super) struct Minibatch<'a> {
    pub images: &'a SparseRows,
    pub chosen: &'a [usize],
}

impl Minibatch<'_> {
    /// The chosen images as dense rows (b × pixels, row-major), for the Burn program.
    pub(super) fn dense(&self) -> Vec<f32> {
        let mut rows = SparseRows::default();
        rows.gather(self.images, self.chosen);
        let mut dense = Vec::new();
        rows.dense_into(&mut dense);
        dense
    }
}

/// A layer's input as the step holds it: dense, as lists of each row's nonzero entries, or
/// both, each made from the other when first asked for.
#[derive(Debug, Default)]
struct LayerInput {
    dense: Vec<f32>,
    dense_ready: bool,
    sparse: SparseRows,
    sparse_ready: bool,
}

impl LayerInput {
    /// The new input is `dense`'s first `len` entries, which the caller writes.
    fn dense_to_write(&mut self, len: usize) -> &mut [f32] {
        self.dense_ready = true;
        self.sparse_ready = false;
        sized(&mut self.dense, len)
    }

    /// The new input is the minibatch's lists (the first layer's input).
    fn set(&mut self, batch: Minibatch<'_>) {
        self.sparse.gather(batch.images, batch.chosen);
        self.sparse_ready = true;
        self.dense_ready = false;
    }

    /// The input (rows × cols, row-major).
    fn dense(&mut self) -> &[f32] {
        if !self.dense_ready {
            self.sparse.dense_into(&mut self.dense);
            self.dense_ready = true;
        }
        &self.dense
    }

    /// The input's nonzero entries (rows × cols).
    #[cfg(target_arch = "x86_64")]
    fn sparse(&mut self, rows: usize, cols: usize) -> &SparseRows {
        if !self.sparse_ready {
            self.sparse.fill(&self.dense, rows, cols);
            self.sparse_ready = true;
        }
        &self.sparse
    }
}

/// The classifier's parameters and optimiser state, trained one minibatch at a time.
#[derive(Debug)]
pub struct ClassifierStepper {
    weights: ClassifierWeights,
    regularisation: Regularisation,
    weight_moments: Vec<Moments>,
    bias_moments: Vec<Moments>,
    steps: i32,
    layers: Vec<LayerValues>,
    device: Device,
    /// Whether the elementwise passes may run compiled for AVX-512 (checked once).
    wide: bool,
}

impl ClassifierStepper {
    pub fn new(init: &ClassifierWeights, regularisation: Regularisation) -> Self {
        let count = init.weights.len();
        Self {
            weights: init.clone(),
            regularisation,
            weight_moments: vec![Moments::default(); count],
            bias_moments: vec![Moments::default(); count],
            steps: 0,
            layers: (0..count).map(|_| LayerValues::default()).collect(),
            device: Device::flex(),
            wide: wide_available(),
        }
    }

    /// A stepper that never takes the AVX-512 build (to test it against).
    #[cfg(test)]
    pub fn portable(init: &ClassifierWeights, regularisation: Regularisation) -> Self {
        Self {
            wide: false,
            ..Self::new(init, regularisation)
        }
    }

    pub fn weights(&self) -> &ClassifierWeights {
        &self.weights
    }

    /// One Adam step on the minibatch `images` (b of them) with `labels`, drawing dropout masks
    /// from `rng` as the Burn program does (hidden layer by hidden layer).
    ///
    /// On CPUs with AVX-512 the elementwise passes run compiled for it: nothing is fused or
    /// reordered (Rust never contracts `a * b + c`), so the bits are the same (tested).
    pub fn step(&mut self, images: Minibatch<'_>, labels: &[u8], rng: &mut SplitMix64, learning_rate: f64) {
        #[cfg(target_arch = "x86_64")]
        if self.wide {
            // SAFETY: `wide` is set only where the CPU has these features.
            unsafe { self.step_wide(images, labels, rng, learning_rate) };
            return;
        }
        self.step_body(images, labels, rng, learning_rate);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    fn step_wide(&mut self, images: Minibatch<'_>, labels: &[u8], rng: &mut SplitMix64, learning_rate: f64) {
        self.step_body(images, labels, rng, learning_rate);
    }

    #[inline(always)]
    fn step_body(&mut self, images: Minibatch<'_>, labels: &[u8], rng: &mut SplitMix64, learning_rate: f64) {
        self.forward(images, labels.len(), rng);
        self.logits_gradient(labels);
        self.backward(labels.len());
        self.adam(learning_rate);
    }

    /// The logits (b × classes) into the output layer's `output`, keeping what the backward
    /// pass needs.
    #[inline(always)]
    fn forward(&mut self, images: Minibatch<'_>, b: usize, rng: &mut SplitMix64) {
        let regularisation = self.regularisation;
        let widths = &self.weights.widths;
        let count = self.weights.weights.len();
        let keep = 1.0 - regularisation.dropout;
        self.layers[0].input.set(images);
        for l in 0..count {
            let (n_in, n_out) = (widths[l], widths[l + 1]);
            let (this, above) = self.layers.split_at_mut(l + 1);
            let values = &mut this[l];
            let z = sized(&mut values.output, b * n_out);
            input_times_weights(
                z,
                (b, n_in, n_out),
                &mut values.input,
                &self.weights.weights[l],
                self.wide,
            );
            let bias = &self.weights.biases[l];
            for row in z.chunks_exact_mut(n_out) {
                for (v, &c) in row.iter_mut().zip(bias) {
                    *v += c;
                }
            }
            if l + 1 == count {
                return;
            }
            let rectified = sized(&mut values.rectified, b * n_out);
            for (r, &v) in rectified.iter_mut().zip(&*z) {
                *r = relu(v);
            }
            let next = above[0].input.dense_to_write(b * n_out);
            if regularisation.dropout > 0.0 {
                values.mask = super::classifier::dropout_mask(rng, b * n_out, keep);
                for ((h, &r), &m) in next.iter_mut().zip(&*rectified).zip(&values.mask) {
                    *h = r * m;
                }
            } else {
                values.mask.clear();
                next.copy_from_slice(rectified);
            }
        }
    }

    /// Replaces the logits with d loss / d logits for the mean cross-entropy of `labels`
    /// (Burn's `log_softmax`).
    #[inline(always)]
    fn logits_gradient(&mut self, labels: &[u8]) {
        let b = labels.len();
        let exps = &mut self.layers.last_mut().expect("an output layer").output;
        let classes = exps.len() / b.max(1);
        // div_scalar(b)'s backward multiplies by 1/b in f32; `neg` and the target mask follow.
        let inverse_batch = 1.0f32 / b as f32;
        for row in exps.chunks_exact_mut(classes) {
            let mut max = f32::NEG_INFINITY;
            for &v in row.iter() {
                max = max.max(v);
            }
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
    }

    /// The gradients of the mean cross-entropy plus the penalties, per weight and bias, from
    /// the logits' gradient in the output layer's `output`.
    #[inline(always)]
    fn backward(&mut self, b: usize) {
        let regularisation = &self.regularisation;
        let widths = &self.weights.widths;
        let count = self.weights.weights.len();
        for l in (0..count).rev() {
            let (n_in, n_out) = (widths[l], widths[l + 1]);
            let (below, this) = self.layers.split_at_mut(l);
            let values = &mut this[0];
            let grad = &values.output;
            let dw = sized(&mut values.weight_grad, n_in * n_out);
            input_gradient_product(dw, (b, n_in, n_out), &mut values.input, grad, self.wide);
            add_penalties(dw, &self.weights.weights[l], l == 0, regularisation);
            // `burn-flex`'s first-dimension sum: rows added in order onto zeros.
            let db = sized(&mut values.bias_grad, n_out);
            db.fill(0.0);
            for row in grad.chunks_exact(n_out) {
                for (d, &g) in db.iter_mut().zip(row) {
                    *d += g;
                }
            }
            let Some(under) = below.last_mut() else { break };
            // The gradient of the layer below's output, through its dropout and ReLU.
            let down = sized(&mut under.output, b * n_in);
            product(
                down,
                b,
                n_in,
                n_out,
                Operand::row_major(grad, n_out),
                Operand::transposed(&self.weights.weights[l], n_out),
            );
            if !under.mask.is_empty() {
                for (g, &m) in down.iter_mut().zip(&under.mask) {
                    *g *= m;
                }
            }
            for (g, &r) in down.iter_mut().zip(&under.rectified) {
                if !relu_keeps(r) {
                    *g = 0.0;
                }
            }
        }
    }

    /// `burn-optim`'s Adam on every parameter.
    #[inline(always)]
    fn adam(&mut self, learning_rate: f64) {
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
        for (l, values) in self.layers.iter().enumerate() {
            update.apply(
                &mut weights.weights[l],
                &values.weight_grad,
                &mut self.weight_moments[l],
            );
            update.apply(&mut weights.biases[l], &values.bias_grad, &mut self.bias_moments[l]);
        }
    }
}

/// out (b × out) = input (b × in) · w (in × out): over the input's nonzero entries where `wide`
/// (the AVX-512 build), the shapes take gemm's blocked kernel and w is finite (then the same
/// bits, [`sparse_products`]); else gemm, as `burn-flex` calls it.
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
fn input_times_weights(
    out: &mut [f32],
    (b, n_in, n_out): (usize, usize, usize),
    input: &mut LayerInput,
    w: &[f32],
    wide: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if wide
        && let Some(kc) = sparse_products::gemm_depth_block(b, n_out, n_in)
        && sparse_products::all_finite(w)
    {
        let rows = input.sparse(b, n_in);
        // SAFETY: `wide` is set only where the CPU has AVX-512 F and DQ.
        unsafe { sparse_products::sparse_rows_times_dense(out, (b, n_out, n_in), rows, w, kc) };
        return;
    }
    let input = input.dense();
    product(
        out,
        b,
        n_out,
        n_in,
        Operand::row_major(input, n_in),
        Operand::row_major(w, n_out),
    );
}

/// out (in × out) = inputᵀ (in × b) · grad (b × out), the weight gradient's product: over the
/// input's nonzero entries where `wide`, gemm sums it in one depth block and grad is finite;
/// else gemm.
#[inline(always)]
#[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
fn input_gradient_product(
    out: &mut [f32],
    (b, n_in, n_out): (usize, usize, usize),
    input: &mut LayerInput,
    grad: &[f32],
    wide: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if wide
        && let Some(kc) = sparse_products::gemm_depth_block(n_in, n_out, b)
        && kc >= b
        && sparse_products::all_finite(grad)
    {
        let rows = input.sparse(b, n_in);
        // SAFETY: `wide` is set only where the CPU has AVX-512 F and DQ.
        unsafe { sparse_products::sparse_transposed_times_dense(out, (b, n_in, n_out), rows, grad) };
        return;
    }
    let input = input.dense();
    product(
        out,
        n_in,
        n_out,
        b,
        Operand::transposed(input, n_in),
        Operand::row_major(grad, n_out),
    );
}

/// Whether [`ClassifierStepper::step`] may take its AVX-512 build.
fn wide_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return super::avx512_available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Adds the penalties' terms to a weight gradient `grad` in the order Burn's tape registers
/// them (`first_layer`: the product's term comes last, after the penalties').
#[inline(always)]
fn add_penalties(grad: &mut [f32], weights: &[f32], first_layer: bool, regularisation: &Regularisation) {
    let (l1, l2) = (regularisation.l1 > 0.0, regularisation.l2 > 0.0);
    if !l1 && !l2 {
        return;
    }
    let (l1_scale, l2_scale) = (regularisation.l1 as f32, regularisation.l2 as f32);
    for (entry, &w) in grad.iter_mut().zip(weights) {
        let absolute = l1_scale * sign(w);
        let square = l2_scale * w;
        let g = *entry;
        *entry = if first_layer {
            let penalties = match (l1, l2) {
                (true, true) => absolute + (square + square),
                (true, false) => absolute,
                (false, _) => square + square,
            };
            g + penalties
        } else {
            let with_square = if l2 { square + (square + g) } else { g };
            if l1 { absolute + with_square } else { with_square }
        };
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
    #[inline(always)]
    fn apply(&self, params: &mut [f32], grad: &[f32], moments: &mut Moments) {
        let (f1, f2) = (1.0f32 - BETA_1, 1.0f32 - BETA_2);
        let n = params.len();
        let first = sized(&mut moments.first, n);
        let second = sized(&mut moments.second, n);
        if self.first_step {
            // Burn's first step sets the moments (no decay of zeros, which could flip a sign).
            for ((m, v), &g) in first.iter_mut().zip(second.iter_mut()).zip(grad) {
                *m = g * f1;
                *v = (g * g) * f2;
            }
        } else {
            for ((m, v), &g) in first.iter_mut().zip(second.iter_mut()).zip(grad) {
                *m = *m * BETA_1 + g * f1;
                *v = *v * BETA_2 + (g * g) * f2;
            }
        }
        for ((p, &m), &v) in params.iter_mut().zip(&*first).zip(&*second) {
            let step = (m * self.combined) / (v.sqrt() + self.epsilon);
            *p -= step * self.learning_rate;
        }
    }
}
