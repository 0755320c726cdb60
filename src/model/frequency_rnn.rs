//! The small recurrent network of Dorrell et al. 2025, Fig 3a–d, and its training.
//!
//! h_t = φ(W h_{t−1} + b_rec + W_in x_t + b_in), h_{−1} = 0, y_t = W_out h_t + b_out, with φ the
//! identity (linear RNN) or ReLU. Loss, as in the authors' code:
//! target·mean (y − ŷ)² + activity·mean h² + weight·(‖W‖² + ‖W_in‖² + ‖W_out‖²)
//! + positivity·mean ½(h − |h|)².
//!
//! Why not Burn here: one sequence of 200 steps through a 16-unit network is a few hundred
//! kiloflops per iteration, so a framework's per-op overhead (≈ 150 µs per step for the Krause
//! RNN's forward and backward) would be ~100× the arithmetic; 20k–40k iterations per run
//! would take ~10 min each. BPTT written out is ~1 ms per iteration. The gradient is tested
//! against central finite differences, and the optimiser is PyTorch's Adam and gradient-norm
//! clip, which the authors ran.

use serde::{Deserialize, Serialize};

use super::adam::{Adam, AdamSettings, default_beta_1, default_beta_2, default_epsilon};
use super::outer_products::add_outer_products;
use crate::data::frequency_task::Sequence;
use crate::rng::SplitMix64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    Linear,
    Relu,
}

/// Loss weights (the authors' names: λ_target, λ_activity, λ_weight, λ_positivity).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    pub target: f64,
    pub activity: f64,
    pub weight: f64,
    pub positivity: f64,
    /// The weight cost as `weight`·Σ_matrices mean(W²) (the Fig 3f–g student's loss) instead of
    /// `weight`·Σ‖W‖². Left out of a spec (and of cache keys) when false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub weight_per_entry: bool,
}

impl Objective {
    /// The factor on each weight matrix's Σ W² (W, W_in, W_out).
    pub(crate) fn weight_factors(&self, shape: &Shape) -> [f64; 3] {
        if self.weight_per_entry {
            let (n, i, o) = (shape.hidden as f64, shape.inputs as f64, shape.outputs as f64);
            [self.weight / (n * n), self.weight / (n * i), self.weight / (o * n)]
        } else {
            [self.weight; 3]
        }
    }
}

/// Adam with a global gradient-norm clip, PyTorch's definitions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    pub iterations: usize,
    pub learning_rate: f64,
    pub clip_norm: f64,
    #[serde(default = "default_beta_1")]
    pub beta_1: f64,
    #[serde(default = "default_beta_2")]
    pub beta_2: f64,
    #[serde(default = "default_epsilon")]
    pub epsilon: f64,
}

/// Sizes of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub hidden: usize,
    pub inputs: usize,
    pub outputs: usize,
}

impl Shape {
    /// Offsets of W, b_rec, W_in, b_in, W_out, b_out in the flat parameter vector, and its length.
    fn offsets(&self) -> [usize; 7] {
        let (n, i, o) = (self.hidden, self.inputs, self.outputs);
        let mut at = [0; 7];
        for (k, len) in [n * n, n, n * i, n, o * n, o].into_iter().enumerate() {
            at[k + 1] = at[k] + len;
        }
        at
    }

    pub fn parameter_count(&self) -> usize {
        self.offsets()[6]
    }
}

/// All parameters in one flat vector (so Adam and the clip see one array).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub shape: Shape,
    pub values: Vec<f64>,
}

/// The six parameter blocks of a flat vector.
pub(crate) struct Blocks<'a> {
    pub w: &'a [f64],
    pub b_rec: &'a [f64],
    pub w_in: &'a [f64],
    pub b_in: &'a [f64],
    pub w_out: &'a [f64],
    pub b_out: &'a [f64],
}

pub(crate) fn blocks<'a>(shape: &Shape, values: &'a [f64]) -> Blocks<'a> {
    let at = shape.offsets();
    let block = |k: usize| &values[at[k]..at[k + 1]];
    Blocks {
        w: block(0),
        b_rec: block(1),
        w_in: block(2),
        b_in: block(3),
        w_out: block(4),
        b_out: block(5),
    }
}

/// A (rows × cols) matrix with orthonormal columns (rows ≥ cols) or rows (rows < cols), as
/// PyTorch's `orthogonal_`: QR of a standard normal matrix, signs fixed by R's diagonal.
pub fn orthogonal(rows: usize, cols: usize, rng: &mut SplitMix64) -> Vec<f64> {
    let (tall, short) = (rows.max(cols), rows.min(cols));
    let gaussian = faer::Mat::<f64>::from_fn(tall, short, |_, _| rng.normal());
    let qr = gaussian.qr();
    let (q, r) = (qr.compute_thin_Q(), qr.thin_R());
    let sign = |j: usize| if r[(j, j)] < 0.0 { -1.0 } else { 1.0 };
    (0..rows * cols)
        .map(|k| {
            let (i, j) = (k / cols, k % cols);
            // Q is tall × short; a wide matrix is its transpose.
            if rows >= cols {
                q[(i, j)] * sign(j)
            } else {
                q[(j, i)] * sign(i)
            }
        })
        .collect()
}

impl Weights {
    /// Orthogonal matrices, zero biases (the authors' initialisation).
    pub fn init(shape: Shape, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let (n, i, o) = (shape.hidden, shape.inputs, shape.outputs);
        let mut values = Vec::with_capacity(shape.parameter_count());
        values.extend(orthogonal(n, n, &mut rng));
        values.extend(std::iter::repeat_n(0.0, n));
        values.extend(orthogonal(n, i, &mut rng));
        values.extend(std::iter::repeat_n(0.0, n));
        values.extend(orthogonal(o, n, &mut rng));
        values.extend(std::iter::repeat_n(0.0, o));
        Self { shape, values }
    }

    /// Hidden states h_t (steps × hidden, row-major) and outputs y_t (steps × outputs).
    pub fn run(&self, activation: Activation, inputs: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
        let trace = forward(&self.shape, &self.values, activation, inputs);
        (trace.h, trace.y)
    }
}

/// Loss terms, each already weighted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LossTerms {
    pub target: f64,
    pub activity: f64,
    pub weight: f64,
    pub positivity: f64,
}

impl LossTerms {
    pub fn total(&self) -> f64 {
        self.target + self.activity + self.weight + self.positivity
    }
}

struct Trace {
    /// Pre-activations a_t.
    a: Vec<f64>,
    h: Vec<f64>,
    y: Vec<f64>,
}

#[inline(always)]
fn forward(shape: &Shape, values: &[f64], activation: Activation, inputs: &[Vec<f64>]) -> Trace {
    let (n, ni, no) = (shape.hidden, shape.inputs, shape.outputs);
    let p = blocks(shape, values);
    let steps = inputs.len();
    let (mut a, mut h, mut y) = (vec![0.0; steps * n], vec![0.0; steps * n], vec![0.0; steps * no]);
    // Only the recurrent sums wait on the step before; the input sums of every step are taken
    // first and the readout after, side by side over units or steps. Every value is the same
    // sum in the same order as one step at a time gives it (the reference in the tests).
    //
    // Σ_c W_in[r][c] x_t[c] from −0.0 in order of c (as `Iterator::sum` adds), units side by
    // side: W_inᵀ makes each input's weights one contiguous row.
    let w_in_transposed: Vec<f64> = (0..n * ni).map(|k| p.w_in[(k % n) * ni + k / n]).collect();
    let mut input_sums = vec![-0.0; steps * n];
    for (sums, x) in input_sums.chunks_exact_mut(n).zip(inputs) {
        for (column, &xc) in w_in_transposed.chunks_exact(n).zip(x) {
            sums.iter_mut().zip(column).for_each(|(s, &w)| *s += w * xc);
        }
    }
    let bias: Vec<f64> = p.b_rec.iter().zip(p.b_in).map(|(r, i)| r + i).collect();
    // Wᵀ, so that the recurrent sums of several units are added side by side (below).
    let w_transposed = super::transpose(p.w, n, n);
    let mut recurrent = vec![0.0; n];
    for t in 0..steps {
        let a_t = &mut a[t * n..(t + 1) * n];
        let input_t = &input_sums[t * n..(t + 1) * n];
        if t > 0 {
            // Σ_c W[r][c] h_{t−1}[c] of every unit r, each a running sum over c in order from
            // −0.0, as `Iterator::sum` adds; one unit's sum alone is a chain of dependent
            // additions.
            recurrent.fill(-0.0);
            add_unit_sums(&mut recurrent, &[(&w_transposed, &h[(t - 1) * n..t * n])]);
            for (((a, &b), &rec), &inp) in a_t.iter_mut().zip(&bias).zip(&recurrent).zip(input_t) {
                *a = b + rec + inp;
            }
        } else {
            for ((a, &b), &inp) in a_t.iter_mut().zip(&bias).zip(input_t) {
                *a = b + inp;
            }
        }
        let h_t = &mut h[t * n..(t + 1) * n];
        match activation {
            Activation::Linear => h_t.copy_from_slice(a_t),
            Activation::Relu => h_t.iter_mut().zip(&*a_t).for_each(|(h, &a)| *h = a.max(0.0)),
        }
    }
    // y_t = b_out + Σ_r W_out[o][r] h_t[r] (the sum from −0.0 in order of r), four steps side
    // by side: their sums do not wait on each other.
    let mut t0 = 0;
    while t0 < steps {
        let width = (steps - t0).min(4);
        for o in 0..no {
            let row = &p.w_out[o * n..(o + 1) * n];
            let mut acc = [-0.0f64; 4];
            for (r, &w) in row.iter().enumerate() {
                for (i, acc) in acc.iter_mut().enumerate().take(width) {
                    *acc += w * h[(t0 + i) * n + r];
                }
            }
            for (i, acc) in acc.iter().enumerate().take(width) {
                y[(t0 + i) * no + o] = p.b_out[o] + acc;
            }
        }
        t0 += width;
    }
    Trace { a, h, y }
}

/// The loss terms and the gradient of their sum with respect to the flat parameters.
///
/// On x86-64 CPUs with AVX2 the same loops run compiled for AVX2 (4 f64 lanes instead of
/// SSE2's 2). No product is fused with its sum (Rust never contracts `a * b + c`), so both
/// builds give the same bits (tested).
pub fn loss_and_gradient(
    weights: &Weights,
    activation: Activation,
    objective: &Objective,
    sequence: &Sequence,
) -> (LossTerms, Vec<f64>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { loss_and_gradient_avx2(weights, activation, objective, sequence) };
    }
    loss_and_gradient_portable(weights, activation, objective, sequence)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn loss_and_gradient_avx2(
    weights: &Weights,
    activation: Activation,
    objective: &Objective,
    sequence: &Sequence,
) -> (LossTerms, Vec<f64>) {
    loss_and_gradient_portable(weights, activation, objective, sequence)
}

#[inline(always)]
fn loss_and_gradient_portable(
    weights: &Weights,
    activation: Activation,
    objective: &Objective,
    sequence: &Sequence,
) -> (LossTerms, Vec<f64>) {
    let shape = &weights.shape;
    let (n, ni, no) = (shape.hidden, shape.inputs, shape.outputs);
    let values = &weights.values;
    let steps = sequence.inputs.len();
    let trace = forward(shape, values, activation, &sequence.inputs);
    let p = blocks(shape, values);
    let (per_output, per_unit) = ((steps * no) as f64, (steps * n) as f64);

    let mut terms = LossTerms::default();
    let squares = |m: &[f64]| m.iter().map(|v| v * v).sum::<f64>();
    let factors = objective.weight_factors(shape);
    terms.weight = factors[0] * squares(p.w) + factors[1] * squares(p.w_in) + factors[2] * squares(p.w_out);
    let mut dy = vec![0.0; steps * no];
    for t in 0..steps {
        for o in 0..no {
            let e = trace.y[t * no + o] - sequence.targets[t][o];
            terms.target += objective.target * e * e / per_output;
            dy[t * no + o] = objective.target * 2.0 * e / per_output;
        }
    }
    for &v in &trace.h {
        terms.activity += objective.activity * v * v / per_unit;
        let negative = v.min(0.0);
        // ½(h − |h|)² = 2 min(h, 0)².
        terms.positivity += objective.positivity * 2.0 * negative * negative / per_unit;
    }

    let at = shape.offsets();
    let mut grad = vec![0.0; values.len()];
    // Weight energy.
    for (k, factor) in [0usize, 2, 4].into_iter().zip(factors) {
        for idx in at[k]..at[k + 1] {
            grad[idx] = 2.0 * factor * values[idx];
        }
    }
    // Only Wᵀδ_{t+1} waits on the step after; every other term of every step is taken before
    // or after the loop, side by side over units, each gradient entry and each δ receiving the
    // same terms in the same order as the one-step-at-a-time reference in the tests.
    //
    // The readout's gradient: from the last step back, b_out += dy_t, W_out[o] += dy_t[o] h_t.
    for o in 0..no {
        let mut b_out = grad[at[5] + o];
        let w_out = &mut grad[at[4] + o * n..at[4] + (o + 1) * n];
        for t in (0..steps).rev() {
            let dyo = dy[t * no + o];
            b_out += dyo;
            add_scaled(w_out, &trace.h[t * n..(t + 1) * n], dyo);
        }
        grad[at[5] + o] = b_out;
    }
    // Each unit's δ starts from its direct terms, then adds the readout's rows (W_outᵀ dy_t),
    // then (in the loop) Wᵀ δ_{t+1}, one product at a time.
    let mut deltas = vec![0.0; steps * n];
    for (t, delta) in deltas.chunks_exact_mut(n).enumerate() {
        let ht = &trace.h[t * n..(t + 1) * n];
        for (g, &h) in delta.iter_mut().zip(ht) {
            *g = 2.0 * objective.activity * h / per_unit + 4.0 * objective.positivity * h.min(0.0) / per_unit;
        }
        let dyt = &dy[t * no..(t + 1) * no];
        for (row, &d) in p.w_out.chunks_exact(n).zip(dyt) {
            delta.iter_mut().zip(row).for_each(|(g, &w)| *g += w * d);
        }
    }
    for t in (0..steps).rev() {
        let (now, later) = deltas.split_at_mut((t + 1) * n);
        let delta = &mut now[t * n..];
        if t + 1 < steps {
            add_unit_sums(delta, &[(p.w, &later[..n])]);
        }
        if activation == Activation::Relu {
            for (g, &a) in delta.iter_mut().zip(&trace.a[t * n..(t + 1) * n]) {
                *g *= f64::from(a > 0.0);
            }
        }
    }
    // The biases' and W_in's gradients, from the last step back; W_in's a column (one input's
    // weights, strided in the flat vector) at a time.
    for t in (0..steps).rev() {
        let delta = &deltas[t * n..(t + 1) * n];
        add_scaled(&mut grad[at[1]..at[2]], delta, 1.0);
        add_scaled(&mut grad[at[3]..at[4]], delta, 1.0);
    }
    let mut column = vec![0.0; n];
    for c in 0..ni {
        for (r, v) in column.iter_mut().enumerate() {
            *v = grad[at[2] + r * ni + c];
        }
        for t in (0..steps).rev() {
            if let Some(&xc) = sequence.inputs[t].get(c) {
                add_scaled(&mut column, &deltas[t * n..(t + 1) * n], xc);
            }
        }
        for (r, v) in column.iter().enumerate() {
            grad[at[2] + r * ni + c] = *v;
        }
    }
    // W's gradient: += δ_t h_{t−1}ᵀ from the last step back, summed in registers block by
    // block (one pass over W per step had been a fifth of a step); each entry gets the same
    // products in the same order as that pass gave it.
    let updates: Vec<(&[f64], &[f64])> = (1..steps)
        .rev()
        .map(|t| (&deltas[t * n..(t + 1) * n], &trace.h[(t - 1) * n..t * n]))
        .collect();
    add_outer_products::<false>(&mut grad[at[0]..at[1]], n, &updates);
    (terms, grad)
}

/// `sums[r] += Σ_pairs Σ_j matrix[j][r] · x[j]` for every unit r (each pair's matrix row-major
/// with `sums.len()` columns), one product added at a time, pair by pair and j by j in order.
/// Units go side by side in blocks of 16, then 4, then one, each block's width a constant so
/// that its sums stay in registers: one unit's sum alone is a chain of dependent additions.
#[inline(always)]
fn add_unit_sums(sums: &mut [f64], pairs: &[(&[f64], &[f64])]) {
    let units = sums.len();
    let mut start = 0;
    while start + 16 <= units {
        add_block_sums::<16>(sums, start, pairs);
        start += 16;
    }
    while start + 4 <= units {
        add_block_sums::<4>(sums, start, pairs);
        start += 4;
    }
    for start in start..units {
        add_block_sums::<1>(sums, start, pairs);
    }
}

#[inline(always)]
fn add_block_sums<const W: usize>(sums: &mut [f64], start: usize, pairs: &[(&[f64], &[f64])]) {
    let units = sums.len();
    let mut acc: [f64; W] = sums[start..start + W].try_into().unwrap();
    for &(matrix, x) in pairs {
        for (j, &xj) in x.iter().enumerate() {
            let row: &[f64; W] = matrix[j * units + start..][..W].try_into().unwrap();
            for (a, &m) in acc.iter_mut().zip(row) {
                *a += m * xj;
            }
        }
    }
    sums[start..start + W].copy_from_slice(&acc);
}

/// `sums[r] += x[r] · factor` for every r (a bias's gradient with factor 1: `d · 1.0` is `d`,
/// the same bits as adding `d`).
#[inline(always)]
fn add_scaled(sums: &mut [f64], x: &[f64], factor: f64) {
    sums.iter_mut().zip(x).for_each(|(s, &v)| *s += v * factor);
}

/// What training produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trained {
    /// The final weights, or the last finite ones if training diverged.
    pub weights: Weights,
    /// The loss terms of the returned weights.
    pub final_loss: LossTerms,
    /// Total loss every `iterations / 100` iterations (for the training panel).
    pub loss_curve: Vec<(usize, f64)>,
    /// The iteration at which the loss or a weight became non-finite, if it did.
    pub diverged_at: Option<usize>,
}

/// Adam on the full loss with PyTorch's gradient-norm clip; one sequence per iteration (the
/// authors' batch of one fixed sequence). Calls `on_iteration(i)` after each iteration.
pub fn train(
    init: Weights,
    activation: Activation,
    objective: &Objective,
    training: &Training,
    sequence: &Sequence,
    mut on_iteration: impl FnMut(usize),
) -> Trained {
    let mut weights = init;
    let mut adam = Adam::new(
        AdamSettings {
            learning_rate: training.learning_rate,
            beta_1: training.beta_1,
            beta_2: training.beta_2,
            epsilon: training.epsilon,
        },
        weights.values.len(),
    );
    let log_every = (training.iterations / 100).max(1);
    let mut loss_curve = Vec::new();
    let mut diverged_at = None;
    for iteration in 0..training.iterations {
        let (terms, mut grad) = loss_and_gradient(&weights, activation, objective, sequence);
        let total = terms.total();
        if !total.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            diverged_at = Some(iteration);
            break;
        }
        if iteration % log_every == 0 {
            loss_curve.push((iteration, total));
        }
        adam.step(&mut weights.values, &mut grad, Some(training.clip_norm));
        on_iteration(iteration + 1);
    }
    let (final_loss, _) = loss_and_gradient(&weights, activation, objective, sequence);
    Trained {
        weights,
        final_loss,
        loss_curve,
        diverged_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::frequency_task::{Drive, TimeBase, sequence};

    const OBJECTIVE: Objective = Objective {
        target: 1.0,
        activity: 0.5,
        weight: 0.02,
        positivity: 5.0,
        weight_per_entry: false,
    };

    fn task() -> Sequence {
        sequence(Drive::AtTargets, (2.3, 4.1), TimeBase { steps: 40, dt: 0.1 })
    }

    fn perturbed(shape: Shape, seed: u64) -> Weights {
        // Non-zero biases and some negative states, so every term and branch has a gradient;
        // shrunk so that 40 steps of the recurrence stay O(1) and differences stay accurate.
        let mut w = Weights::init(shape, seed);
        let mut rng = SplitMix64::new(seed + 1);
        w.values.iter_mut().for_each(|v| *v = 0.7 * *v + 0.1 * rng.normal());
        w
    }

    /// The forward pass and gradient as first written, one unit's sum at a time. The blocked
    /// version must give the same bits.
    fn reference_forward(shape: &Shape, values: &[f64], activation: Activation, inputs: &[Vec<f64>]) -> Trace {
        let (n, ni, no) = (shape.hidden, shape.inputs, shape.outputs);
        let p = blocks(shape, values);
        let steps = inputs.len();
        let (mut a, mut h, mut y) = (vec![0.0; steps * n], vec![0.0; steps * n], vec![0.0; steps * no]);
        for t in 0..steps {
            for r in 0..n {
                let mut s = p.b_rec[r] + p.b_in[r];
                if t > 0 {
                    let prev = &h[(t - 1) * n..t * n];
                    s += p.w[r * n..(r + 1) * n]
                        .iter()
                        .zip(prev)
                        .map(|(w, v)| w * v)
                        .sum::<f64>();
                }
                s += p.w_in[r * ni..(r + 1) * ni]
                    .iter()
                    .zip(&inputs[t])
                    .map(|(w, v)| w * v)
                    .sum::<f64>();
                a[t * n + r] = s;
                h[t * n + r] = match activation {
                    Activation::Linear => s,
                    Activation::Relu => s.max(0.0),
                };
            }
            let ht = &h[t * n..(t + 1) * n];
            for o in 0..no {
                y[t * no + o] = p.b_out[o]
                    + p.w_out[o * n..(o + 1) * n]
                        .iter()
                        .zip(ht)
                        .map(|(w, v)| w * v)
                        .sum::<f64>();
            }
        }
        Trace { a, h, y }
    }

    fn reference_loss_and_gradient(
        weights: &Weights,
        activation: Activation,
        objective: &Objective,
        sequence: &Sequence,
    ) -> (LossTerms, Vec<f64>) {
        let shape = &weights.shape;
        let (n, ni, no) = (shape.hidden, shape.inputs, shape.outputs);
        let values = &weights.values;
        let steps = sequence.inputs.len();
        let trace = reference_forward(shape, values, activation, &sequence.inputs);
        let p = blocks(shape, values);
        let (per_output, per_unit) = ((steps * no) as f64, (steps * n) as f64);

        let mut terms = LossTerms::default();
        let squares = |m: &[f64]| m.iter().map(|v| v * v).sum::<f64>();
        let factors = objective.weight_factors(shape);
        terms.weight = factors[0] * squares(p.w) + factors[1] * squares(p.w_in) + factors[2] * squares(p.w_out);
        let mut dy = vec![0.0; steps * no];
        for t in 0..steps {
            for o in 0..no {
                let e = trace.y[t * no + o] - sequence.targets[t][o];
                terms.target += objective.target * e * e / per_output;
                dy[t * no + o] = objective.target * 2.0 * e / per_output;
            }
        }
        for &v in &trace.h {
            terms.activity += objective.activity * v * v / per_unit;
            let negative = v.min(0.0);
            // ½(h − |h|)² = 2 min(h, 0)².
            terms.positivity += objective.positivity * 2.0 * negative * negative / per_unit;
        }

        let at = shape.offsets();
        let mut grad = vec![0.0; values.len()];
        // Weight energy.
        for (k, factor) in [0usize, 2, 4].into_iter().zip(factors) {
            for idx in at[k]..at[k + 1] {
                grad[idx] = 2.0 * factor * values[idx];
            }
        }
        // δ_{t+1} = ∂L/∂a_{t+1}, carried backwards.
        let mut delta_next = vec![0.0; n];
        let mut delta = vec![0.0; n];
        for t in (0..steps).rev() {
            let ht = &trace.h[t * n..(t + 1) * n];
            let dyt = &dy[t * no..(t + 1) * no];
            for o in 0..no {
                grad[at[5] + o] += dyt[o];
                for r in 0..n {
                    grad[at[4] + o * n + r] += dyt[o] * ht[r];
                }
            }
            for r in 0..n {
                let mut g = 2.0 * objective.activity * ht[r] / per_unit
                    + 4.0 * objective.positivity * ht[r].min(0.0) / per_unit;
                for (o, d) in dyt.iter().enumerate() {
                    g += p.w_out[o * n + r] * d;
                }
                if t + 1 < steps {
                    for (q, d) in delta_next.iter().enumerate() {
                        g += p.w[q * n + r] * d;
                    }
                }
                let slope = match activation {
                    Activation::Linear => 1.0,
                    Activation::Relu => f64::from(trace.a[t * n + r] > 0.0),
                };
                delta[r] = g * slope;
            }
            for r in 0..n {
                let d = delta[r];
                grad[at[1] + r] += d;
                grad[at[3] + r] += d;
                if t > 0 {
                    let prev = &trace.h[(t - 1) * n..t * n];
                    for (c, v) in prev.iter().enumerate() {
                        grad[at[0] + r * n + c] += d * v;
                    }
                }
                for (c, x) in sequence.inputs[t].iter().enumerate().take(ni) {
                    grad[at[2] + r * ni + c] += d * x;
                }
            }
            std::mem::swap(&mut delta, &mut delta_next);
        }
        (terms, grad)
    }

    fn assert_same_bits(shape: Shape, activation: Activation, steps: usize) {
        let w = perturbed(shape, 11);
        let seq = sequence(Drive::AtTargets, (2.3, 4.1), TimeBase { steps, dt: 0.1 });
        let (terms, grad) = loss_and_gradient(&w, activation, &OBJECTIVE, &seq);
        let (reference_terms, reference_grad) = reference_loss_and_gradient(&w, activation, &OBJECTIVE, &seq);
        let bits = |g: &[f64]| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(terms.total().to_bits(), reference_terms.total().to_bits());
        assert_eq!(bits(&grad), bits(&reference_grad), "{shape:?} {activation:?}");
        let portable = loss_and_gradient_portable(&w, activation, &OBJECTIVE, &seq).1;
        assert_eq!(bits(&portable), bits(&grad), "portable and AVX2 builds differ");
        let (states, outputs) = w.run(activation, &seq.inputs);
        let reference = reference_forward(&w.shape, &w.values, activation, &seq.inputs);
        assert_eq!(
            (bits(&states), bits(&outputs)),
            (bits(&reference.h), bits(&reference.y))
        );
    }

    #[test]
    fn blocked_sums_give_the_reference_bits() {
        // 16 units (one block), 21 (blocks of 16, 4 and 1) and 3 (single units); W's gradient
        // in register blocks at 16 and 24 units, with a tail of columns one entry at a time at
        // 21, only that tail at 3.
        for hidden in [16, 21, 3, 24] {
            let shape = Shape {
                hidden,
                inputs: 2,
                outputs: 2,
            };
            for activation in [Activation::Linear, Activation::Relu] {
                // Readouts four steps side by side: whole blocks only, and a last partial one.
                for steps in [40, 43] {
                    assert_same_bits(shape, activation, steps);
                }
            }
        }
    }

    #[test]
    fn the_gradient_matches_central_differences() {
        let shape = Shape {
            hidden: 5,
            inputs: 2,
            outputs: 2,
        };
        let seq = task();
        let per_entry = Objective {
            weight_per_entry: true,
            ..OBJECTIVE
        };
        for (activation, objective) in [
            (Activation::Linear, OBJECTIVE),
            (Activation::Relu, OBJECTIVE),
            (Activation::Relu, per_entry),
        ] {
            let w = perturbed(shape, 3);
            let (_, grad) = loss_and_gradient(&w, activation, &objective, &seq);
            for (k, analytic) in grad.iter().enumerate() {
                let h = 1e-6;
                let at = |delta: f64| {
                    let mut moved = w.clone();
                    moved.values[k] += delta;
                    loss_and_gradient(&moved, activation, &objective, &seq).0.total()
                };
                let numeric = (at(h) - at(-h)) / (2.0 * h);
                assert!(
                    (numeric - analytic).abs() <= 1e-6 * (1.0 + numeric.abs()),
                    "{activation:?} parameter {k}: analytic {analytic} vs numeric {numeric}"
                );
            }
        }
    }

    #[test]
    fn orthogonal_init_has_orthonormal_columns_or_rows() {
        let mut rng = SplitMix64::new(1);
        for (rows, cols) in [(6, 6), (6, 2), (2, 6)] {
            let m = orthogonal(rows, cols, &mut rng);
            let (outer, inner) = if rows >= cols { (cols, rows) } else { (rows, cols) };
            let entry = |vec: usize, k: usize| {
                if rows >= cols {
                    m[k * cols + vec]
                } else {
                    m[vec * cols + k]
                }
            };
            for a in 0..outer {
                for b in 0..outer {
                    let dot: f64 = (0..inner).map(|k| entry(a, k) * entry(b, k)).sum();
                    assert!(
                        (dot - f64::from(a == b)).abs() < 1e-12,
                        "{rows}×{cols}: {a},{b} → {dot}"
                    );
                }
            }
        }
    }

    #[test]
    fn training_lowers_the_loss_and_is_deterministic() {
        let shape = Shape {
            hidden: 8,
            inputs: 2,
            outputs: 2,
        };
        let seq = task();
        let training = Training {
            iterations: 300,
            learning_rate: 1e-2,
            clip_norm: 2.0,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
        };
        let init = Weights::init(shape, 5);
        let (before, _) = loss_and_gradient(&init, Activation::Linear, &OBJECTIVE, &seq);
        let a = train(init.clone(), Activation::Linear, &OBJECTIVE, &training, &seq, |_| {});
        let b = train(init, Activation::Linear, &OBJECTIVE, &training, &seq, |_| {});
        assert!(
            a.final_loss.total() < 0.5 * before.total(),
            "{:?} vs {before:?}",
            a.final_loss
        );
        assert_eq!(a, b);
        assert_eq!(a.diverged_at, None);
    }

    #[test]
    fn divergence_stops_training_and_keeps_finite_weights() {
        let shape = Shape {
            hidden: 4,
            inputs: 2,
            outputs: 2,
        };
        let mut init = Weights::init(shape, 2);
        // An exploding recurrent matrix: 1e3 × orthogonal over 40 steps overflows.
        let n = shape.hidden * shape.hidden;
        init.values[..n].iter_mut().for_each(|v| *v *= 1e9);
        let training = Training {
            iterations: 10,
            learning_rate: 1e-3,
            clip_norm: 2.0,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
        };
        let out = train(init, Activation::Linear, &OBJECTIVE, &training, &task(), |_| {});
        assert_eq!(out.diverged_at, Some(0));
        assert!(out.weights.values.iter().all(|v| v.is_finite()));
    }
}
