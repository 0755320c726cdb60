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
use super::lanes::{Lanes, Real};
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

/// The six parameter blocks of a flat vector (of f64, or of [`Lanes`] for runs side by side).
pub(crate) struct Blocks<'a, T = f64> {
    pub w: &'a [T],
    pub b_rec: &'a [T],
    pub w_in: &'a [T],
    pub b_in: &'a [T],
    pub w_out: &'a [T],
    pub b_out: &'a [T],
}

pub(crate) fn blocks<'a, T>(shape: &Shape, values: &'a [T]) -> Blocks<'a, T> {
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
        let flat = flatten(inputs, self.shape.inputs, "inputs");
        let mut buffers = Buffers::default();
        forward(&self.shape, &self.values, activation, &flat, inputs.len(), &mut buffers);
        (buffers.h, buffers.y)
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

/// The loss terms of one run, or of runs side by side.
struct Terms<T> {
    target: T,
    activity: T,
    weight: T,
    positivity: T,
}

impl<const L: usize> Terms<Lanes<L>> {
    fn lane(&self, lane: usize) -> LossTerms {
        LossTerms {
            target: self.target.0[lane],
            activity: self.activity.0[lane],
            weight: self.weight.0[lane],
            positivity: self.positivity.0[lane],
        }
    }
}

/// A sequence's inputs (steps × inputs) and targets (steps × outputs), row-major.
struct Task<T> {
    steps: usize,
    inputs: Vec<T>,
    targets: Vec<T>,
}

impl Task<f64> {
    fn of(shape: &Shape, sequence: &Sequence) -> Self {
        assert_eq!(
            sequence.inputs.len(),
            sequence.targets.len(),
            "one target per input step"
        );
        Self {
            steps: sequence.inputs.len(),
            inputs: flatten(&sequence.inputs, shape.inputs, "inputs"),
            targets: flatten(&sequence.targets, shape.outputs, "targets"),
        }
    }
}

impl<const L: usize> Task<Lanes<L>> {
    fn side_by_side(tasks: [&Task<f64>; L]) -> Self {
        assert!(
            tasks.iter().all(|t| t.steps == tasks[0].steps),
            "runs side by side have equal steps"
        );
        Self {
            steps: tasks[0].steps,
            inputs: Lanes::interleave(tasks.map(|t| t.inputs.as_slice())),
            targets: Lanes::interleave(tasks.map(|t| t.targets.as_slice())),
        }
    }
}

/// One row per step, each `width` values, as one row-major vector.
fn flatten(rows: &[Vec<f64>], width: usize, what: &str) -> Vec<f64> {
    for row in rows {
        assert_eq!(row.len(), width, "each step's {what} has one value per network {what}");
    }
    rows.concat()
}

/// The forward and backward passes' larger arrays, kept from one iteration to the next: four
/// runs' states side by side are 100 kB an array, which the allocator would map and unmap, page
/// by page, every iteration.
#[derive(Default)]
struct Buffers<T> {
    /// Pre-activations a_t (steps × hidden).
    a: Vec<T>,
    /// States h_t (steps × hidden).
    h: Vec<T>,
    /// Outputs y_t (steps × outputs).
    y: Vec<T>,
    /// Σ_c W_in[r][c] x_t[c] (steps × hidden).
    input_sums: Vec<T>,
    /// ∂L/∂a_t (steps × hidden).
    deltas: Vec<T>,
}

/// Fills `buffers`' a, h and y.
#[inline(always)]
fn forward<T: Real>(
    shape: &Shape,
    values: &[T],
    activation: Activation,
    inputs: &[T],
    steps: usize,
    buffers: &mut Buffers<T>,
) {
    let (n, ni, no) = (shape.hidden, shape.inputs, shape.outputs);
    let p = blocks(shape, values);
    let zero = T::splat(0.0);
    // Every entry of a, h and y is written below.
    let Buffers {
        a, h, y, input_sums, ..
    } = buffers;
    let (a, h, y) = (
        super::sized(a, steps * n),
        super::sized(h, steps * n),
        super::sized(y, steps * no),
    );
    // Only the recurrent sums wait on the step before; the input sums of every step are taken
    // first and the readout after, side by side over units or steps. Every value is the same
    // sum in the same order as one step at a time gives it (the reference in the tests).
    //
    // Σ_c W_in[r][c] x_t[c] from −0.0 in order of c (as `Iterator::sum` adds), units side by
    // side: W_inᵀ makes each input's weights one contiguous row.
    let w_in_transposed: Vec<T> = (0..n * ni).map(|k| p.w_in[(k % n) * ni + k / n]).collect();
    let input_sums = super::sized(input_sums, steps * n);
    input_sums.fill(T::splat(-0.0));
    for (t, sums) in input_sums.chunks_exact_mut(n).enumerate() {
        let x = &inputs[t * ni..(t + 1) * ni];
        for (column, &xc) in w_in_transposed.chunks_exact(n).zip(x) {
            sums.iter_mut().zip(column).for_each(|(s, &w)| *s += w * xc);
        }
    }
    let bias: Vec<T> = p.b_rec.iter().zip(p.b_in).map(|(&r, &i)| r + i).collect();
    // Wᵀ, so that the recurrent sums of several units are added side by side (below).
    let w_transposed = super::transpose(p.w, n, n);
    let mut recurrent = vec![zero; n];
    for t in 0..steps {
        let a_t = &mut a[t * n..(t + 1) * n];
        let input_t = &input_sums[t * n..(t + 1) * n];
        if t > 0 {
            // Σ_c W[r][c] h_{t−1}[c] of every unit r, each a running sum over c in order from
            // −0.0, as `Iterator::sum` adds; one unit's sum alone is a chain of dependent
            // additions.
            recurrent.fill(T::splat(-0.0));
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
            Activation::Relu => h_t.iter_mut().zip(&*a_t).for_each(|(h, &a)| *h = a.relu()),
        }
    }
    // y_t = b_out + Σ_r W_out[o][r] h_t[r] (the sum from −0.0 in order of r), four steps side
    // by side: their sums do not wait on each other.
    let mut t0 = 0;
    while t0 < steps {
        let width = (steps - t0).min(4);
        for o in 0..no {
            let row = &p.w_out[o * n..(o + 1) * n];
            let mut acc = [T::splat(-0.0); 4];
            for (r, &w) in row.iter().enumerate() {
                for (i, acc) in acc.iter_mut().enumerate().take(width) {
                    *acc += w * h[(t0 + i) * n + r];
                }
            }
            for (i, acc) in acc.iter().enumerate().take(width) {
                y[(t0 + i) * no + o] = p.b_out[o] + *acc;
            }
        }
        t0 += width;
    }
}

/// The loss terms and the gradient of their sum with respect to the flat parameters.
pub fn loss_and_gradient(
    weights: &Weights,
    activation: Activation,
    objective: &Objective,
    sequence: &Sequence,
) -> (LossTerms, Vec<f64>) {
    let task = Task::of(&weights.shape, sequence);
    let mut buffers = Buffers::default();
    let (terms, grad) = loss_and_gradient_fastest(
        &weights.shape,
        &weights.values,
        activation,
        objective,
        &task,
        &mut buffers,
    );
    let Terms {
        target,
        activity,
        weight,
        positivity,
    } = terms;
    let terms = LossTerms {
        target,
        activity,
        weight,
        positivity,
    };
    (terms, grad)
}

/// [`loss_and_gradient_portable`] compiled for the widest vector instructions this CPU has:
/// AVX-512 (for its 32 vector registers, which hold four runs' 16 units side by side), else
/// AVX2, else SSE2. No product is fused with its sum (Rust never contracts `a * b + c`), so
/// every build gives the same bits (tested).
fn loss_and_gradient_fastest<T: Real>(
    shape: &Shape,
    values: &[T],
    activation: Activation,
    objective: &Objective,
    task: &Task<T>,
    buffers: &mut Buffers<T>,
) -> (Terms<T>, Vec<T>) {
    #[cfg(target_arch = "x86_64")]
    {
        if super::avx512_available() && std::arch::is_x86_feature_detected!("avx512vl") {
            // SAFETY: the CPU has these features, checked just above.
            return unsafe { loss_and_gradient_avx512(shape, values, activation, objective, task, buffers) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { loss_and_gradient_avx2(shape, values, activation, objective, task, buffers) };
        }
    }
    loss_and_gradient_portable(shape, values, activation, objective, task, buffers)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,avx512f,avx512dq,avx512vl")]
fn loss_and_gradient_avx512<T: Real>(
    shape: &Shape,
    values: &[T],
    activation: Activation,
    objective: &Objective,
    task: &Task<T>,
    buffers: &mut Buffers<T>,
) -> (Terms<T>, Vec<T>) {
    loss_and_gradient_portable(shape, values, activation, objective, task, buffers)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn loss_and_gradient_avx2<T: Real>(
    shape: &Shape,
    values: &[T],
    activation: Activation,
    objective: &Objective,
    task: &Task<T>,
    buffers: &mut Buffers<T>,
) -> (Terms<T>, Vec<T>) {
    loss_and_gradient_portable(shape, values, activation, objective, task, buffers)
}

#[inline(always)]
fn loss_and_gradient_portable<T: Real>(
    shape: &Shape,
    values: &[T],
    activation: Activation,
    objective: &Objective,
    task: &Task<T>,
    buffers: &mut Buffers<T>,
) -> (Terms<T>, Vec<T>) {
    let (n, ni, no) = (shape.hidden, shape.inputs, shape.outputs);
    let steps = task.steps;
    forward(shape, values, activation, &task.inputs, steps, buffers);
    let p = blocks(shape, values);
    let Buffers { a, h, y, deltas, .. } = buffers;
    let (a, h, y) = (&a[..], &h[..], &y[..]);
    let (per_output, per_unit) = (T::splat((steps * no) as f64), T::splat((steps * n) as f64));
    // Each scalar factor is the product the one-run expression forms first (left to right),
    // so every lane computes the one-run expression.
    let splat = T::splat;

    let zero = splat(0.0);
    let mut terms = Terms {
        target: zero,
        activity: zero,
        weight: zero,
        positivity: zero,
    };
    // From −0.0, as `Iterator::sum` adds.
    let squares = |m: &[T]| m.iter().fold(splat(-0.0), |sum, &v| sum + v * v);
    let factors = objective.weight_factors(shape);
    terms.weight =
        splat(factors[0]) * squares(p.w) + splat(factors[1]) * squares(p.w_in) + splat(factors[2]) * squares(p.w_out);
    let mut dy = vec![zero; steps * no];
    let (target, target_slope) = (splat(objective.target), splat(objective.target * 2.0));
    for t in 0..steps {
        for o in 0..no {
            let e = y[t * no + o] - task.targets[t * no + o];
            terms.target += target * e * e / per_output;
            dy[t * no + o] = target_slope * e / per_output;
        }
    }
    let (activity, positivity) = (splat(objective.activity), splat(objective.positivity * 2.0));
    for &v in h {
        terms.activity += activity * v * v / per_unit;
        let negative = v.negative_part();
        // ½(h − |h|)² = 2 min(h, 0)².
        terms.positivity += positivity * negative * negative / per_unit;
    }

    let at = shape.offsets();
    let mut grad = vec![zero; values.len()];
    // Weight energy.
    for (k, factor) in [0usize, 2, 4].into_iter().zip(factors) {
        for idx in at[k]..at[k + 1] {
            grad[idx] = splat(2.0 * factor) * values[idx];
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
            add_scaled(w_out, &h[t * n..(t + 1) * n], dyo);
        }
        grad[at[5] + o] = b_out;
    }
    // Each unit's δ starts from its direct terms, then adds the readout's rows (W_outᵀ dy_t),
    // then (in the loop) Wᵀ δ_{t+1}, one product at a time.
    let (activity_slope, positivity_slope) = (splat(2.0 * objective.activity), splat(4.0 * objective.positivity));
    // Every δ is written here first.
    let deltas = super::sized(deltas, steps * n);
    for (t, delta) in deltas.chunks_exact_mut(n).enumerate() {
        let ht = &h[t * n..(t + 1) * n];
        for (g, &h) in delta.iter_mut().zip(ht) {
            *g = activity_slope * h / per_unit + positivity_slope * h.negative_part() / per_unit;
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
            for (g, &a) in delta.iter_mut().zip(&a[t * n..(t + 1) * n]) {
                *g *= a.positive_indicator();
            }
        }
    }
    // The biases' and W_in's gradients, from the last step back; W_in's a column (one input's
    // weights, strided in the flat vector) at a time.
    for t in (0..steps).rev() {
        let delta = &deltas[t * n..(t + 1) * n];
        add_scaled(&mut grad[at[1]..at[2]], delta, splat(1.0));
        add_scaled(&mut grad[at[3]..at[4]], delta, splat(1.0));
    }
    let mut column = vec![zero; n];
    for c in 0..ni {
        for (r, v) in column.iter_mut().enumerate() {
            *v = grad[at[2] + r * ni + c];
        }
        for t in (0..steps).rev() {
            add_scaled(&mut column, &deltas[t * n..(t + 1) * n], task.inputs[t * ni + c]);
        }
        for (r, v) in column.iter().enumerate() {
            grad[at[2] + r * ni + c] = *v;
        }
    }
    // W's gradient: += δ_t h_{t−1}ᵀ from the last step back, summed in registers block by
    // block (one pass over W per step had been a fifth of a step); each entry gets the same
    // products in the same order as that pass gave it.
    let updates: Vec<(&[T], &[T])> = (1..steps)
        .rev()
        .map(|t| (&deltas[t * n..(t + 1) * n], &h[(t - 1) * n..t * n]))
        .collect();
    // Blocks of 4 rows × 8 columns of f64 (two AVX2 registers a row); of runs side by side,
    // 4 × 2 (small_rnns: 4 % faster than 4 × 4, 12 % faster than 4 × 1).
    if T::LANES == 1 {
        add_outer_products::<T, false, 8>(&mut grad[at[0]..at[1]], n, &updates);
    } else {
        add_outer_products::<T, false, 2>(&mut grad[at[0]..at[1]], n, &updates);
    }
    (terms, grad)
}

/// `sums[r] += Σ_pairs Σ_j matrix[j][r] · x[j]` for every unit r (each pair's matrix row-major
/// with `sums.len()` columns), one product added at a time, pair by pair and j by j in order.
/// Units go side by side in blocks (16 f64, or 8 of runs side by side), then 4, then one, each
/// block's width a constant so that its sums stay in registers: one unit's sum alone is a chain
/// of dependent additions.
#[inline(always)]
fn add_unit_sums<T: Real>(sums: &mut [T], pairs: &[(&[T], &[T])]) {
    if T::LANES == 1 {
        add_unit_sums_in_blocks::<T, 16>(sums, pairs);
    } else {
        add_unit_sums_in_blocks::<T, 8>(sums, pairs);
    }
}

#[inline(always)]
fn add_unit_sums_in_blocks<T: Real, const WIDE: usize>(sums: &mut [T], pairs: &[(&[T], &[T])]) {
    let units = sums.len();
    let mut start = 0;
    while start + WIDE <= units {
        add_block_sums::<T, WIDE>(sums, start, pairs);
        start += WIDE;
    }
    while start + 4 <= units {
        add_block_sums::<T, 4>(sums, start, pairs);
        start += 4;
    }
    for start in start..units {
        add_block_sums::<T, 1>(sums, start, pairs);
    }
}

#[inline(always)]
fn add_block_sums<T: Real, const W: usize>(sums: &mut [T], start: usize, pairs: &[(&[T], &[T])]) {
    let units = sums.len();
    let mut acc: [T; W] = sums[start..start + W].try_into().unwrap();
    for &(matrix, x) in pairs {
        for (matrix_row, &xj) in matrix.chunks_exact(units).zip(x) {
            let row: &[T; W] = matrix_row[start..start + W].try_into().unwrap();
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
fn add_scaled<T: Real>(sums: &mut [T], x: &[T], factor: T) {
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

/// Runs trained side by side in one program: four f64 fill an AVX2 register.
const SIDE_BY_SIDE: usize = 4;

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
    let mut trained = train_side_by_side(
        &[(init, sequence)],
        activation,
        objective,
        training,
        &mut [&mut on_iteration],
    );
    trained.pop().expect("one run in, one out")
}

/// [`train`] for runs of one shape (their sequences of one length), each from its own initial
/// weights on its own sequence, four at a time in vector lanes ([`Lanes`]): a 16-unit network's
/// recurrence alone leaves most of a core idle. Each run gets the bits it would get alone
/// (tested); a run that diverges stops there while the others go on. `on_iteration[k]` is run
/// k's callback.
pub fn train_side_by_side(
    runs: &[(Weights, &Sequence)],
    activation: Activation,
    objective: &Objective,
    training: &Training,
    on_iteration: &mut [&mut dyn FnMut(usize)],
) -> Vec<Trained> {
    assert_eq!(runs.len(), on_iteration.len(), "one callback per run");
    runs.chunks(SIDE_BY_SIDE)
        .zip(on_iteration.chunks_mut(SIDE_BY_SIDE))
        .flat_map(|(group, callbacks)| match group.len() {
            // A run alone: its units side by side are the wider vectors.
            1 => train_lanes::<1>(group, activation, objective, training, callbacks),
            _ => train_lanes::<SIDE_BY_SIDE>(group, activation, objective, training, callbacks),
        })
        .collect()
}

/// At most `L` runs in the `L` lanes; spare lanes repeat the last run, and their results are
/// dropped.
fn train_lanes<const L: usize>(
    group: &[(Weights, &Sequence)],
    activation: Activation,
    objective: &Objective,
    training: &Training,
    on_iteration: &mut [&mut dyn FnMut(usize)],
) -> Vec<Trained> {
    let count = group.len();
    assert!((1..=L).contains(&count), "1 to {L} runs side by side, not {count}");
    let shape = group[0].0.shape;
    assert!(
        group.iter().all(|(w, _)| w.shape == shape),
        "runs side by side have one shape"
    );
    let run_in_lane = |lane: usize| &group[lane.min(count - 1)];
    let tasks: Vec<Task<f64>> = (0..L).map(|lane| Task::of(&shape, run_in_lane(lane).1)).collect();
    let task = Task::<Lanes<L>>::side_by_side(std::array::from_fn(|lane| &tasks[lane]));
    let settings = AdamSettings {
        learning_rate: training.learning_rate,
        beta_1: training.beta_1,
        beta_2: training.beta_2,
        epsilon: training.epsilon,
    };
    let mut weights: Vec<Weights> = group.iter().map(|(w, _)| w.clone()).collect();
    let mut adams = vec![Adam::new(settings, shape.parameter_count()); count];
    let side_by_side = |weights: &[Weights]| {
        Lanes::<L>::interleave(std::array::from_fn(|lane| {
            weights[lane.min(count - 1)].values.as_slice()
        }))
    };
    let log_every = (training.iterations / 100).max(1);
    let mut loss_curves = vec![Vec::new(); count];
    let mut diverged_at = vec![None; count];
    let mut buffers = Buffers::default();
    for iteration in 0..training.iterations {
        if diverged_at.iter().all(Option::is_some) {
            break;
        }
        let (terms, grad) = loss_and_gradient_fastest(
            &shape,
            &side_by_side(&weights),
            activation,
            objective,
            &task,
            &mut buffers,
        );
        for run in 0..count {
            if diverged_at[run].is_some() {
                continue;
            }
            let total = terms.lane(run).total();
            let mut grad = Lanes::lane(&grad, run);
            if !total.is_finite() || grad.iter().any(|g| !g.is_finite()) {
                diverged_at[run] = Some(iteration);
                continue;
            }
            if iteration % log_every == 0 {
                loss_curves[run].push((iteration, total));
            }
            adams[run].step(&mut weights[run].values, &mut grad, Some(training.clip_norm));
            on_iteration[run](iteration + 1);
        }
    }
    let (final_terms, _) = loss_and_gradient_fastest(
        &shape,
        &side_by_side(&weights),
        activation,
        objective,
        &task,
        &mut buffers,
    );
    weights
        .into_iter()
        .zip(loss_curves)
        .zip(diverged_at)
        .enumerate()
        .map(|(run, ((weights, loss_curve), diverged_at))| Trained {
            weights,
            final_loss: final_terms.lane(run),
            loss_curve,
            diverged_at,
        })
        .collect()
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

    struct Trace {
        a: Vec<f64>,
        h: Vec<f64>,
        y: Vec<f64>,
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
        let task = Task::of(&w.shape, &seq);
        let portable = loss_and_gradient_portable(
            &w.shape,
            &w.values,
            activation,
            &OBJECTIVE,
            &task,
            &mut Buffers::default(),
        )
        .1;
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

    /// Four runs' weights and sequences, all different.
    fn four_runs(shape: Shape, steps: usize) -> Vec<(Weights, Sequence)> {
        let pairs = [(2.3, 4.1), (1.0, 3.0), (5.5, 2.0), (3.3, 0.7)];
        pairs
            .iter()
            .enumerate()
            .map(|(k, &pair)| {
                let drive = if k % 2 == 0 {
                    Drive::AtTargets
                } else {
                    Drive::SumAndDifference
                };
                (
                    perturbed(shape, 20 + k as u64),
                    sequence(drive, pair, TimeBase { steps, dt: 0.1 }),
                )
            })
            .collect()
    }

    #[test]
    fn runs_side_by_side_get_the_bits_of_runs_alone() {
        // 16 units (two blocks of 8), 21 (8, 8, 4, 1); W's gradient in blocks of 4 columns and
        // a tail one entry at a time at 21.
        for hidden in [16, 21] {
            let shape = Shape {
                hidden,
                inputs: 2,
                outputs: 2,
            };
            let runs = four_runs(shape, 43);
            let tasks: Vec<Task<f64>> = runs.iter().map(|(_, s)| Task::of(&shape, s)).collect();
            let task = Task::<Lanes<4>>::side_by_side(std::array::from_fn(|k| &tasks[k]));
            let values = Lanes::<4>::interleave(std::array::from_fn(|k| runs[k].0.values.as_slice()));
            for activation in [Activation::Linear, Activation::Relu] {
                let (terms, grad) =
                    loss_and_gradient_fastest(&shape, &values, activation, &OBJECTIVE, &task, &mut Buffers::default());
                let portable =
                    loss_and_gradient_portable(&shape, &values, activation, &OBJECTIVE, &task, &mut Buffers::default())
                        .1;
                assert_eq!(portable, grad, "portable and vector builds differ");
                for (k, (w, seq)) in runs.iter().enumerate() {
                    let (alone_terms, alone_grad) = loss_and_gradient(w, activation, &OBJECTIVE, seq);
                    assert_eq!(terms.lane(k), alone_terms, "run {k}, {hidden} units, {activation:?}");
                    let bits = |g: &[f64]| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&Lanes::lane(&grad, k)),
                        bits(&alone_grad),
                        "run {k}, {hidden} units"
                    );
                }
            }
        }
    }

    /// Training one run at a time with the one-run gradient, as `train` was first written.
    fn train_alone(init: Weights, activation: Activation, training: &Training, sequence: &Sequence) -> Trained {
        let mut weights = init;
        let settings = AdamSettings {
            learning_rate: training.learning_rate,
            beta_1: training.beta_1,
            beta_2: training.beta_2,
            epsilon: training.epsilon,
        };
        let mut adam = Adam::new(settings, weights.values.len());
        let log_every = (training.iterations / 100).max(1);
        let (mut loss_curve, mut diverged_at) = (Vec::new(), None);
        for iteration in 0..training.iterations {
            let (terms, mut grad) = loss_and_gradient(&weights, activation, &OBJECTIVE, sequence);
            let total = terms.total();
            if !total.is_finite() || grad.iter().any(|g| !g.is_finite()) {
                diverged_at = Some(iteration);
                break;
            }
            if iteration % log_every == 0 {
                loss_curve.push((iteration, total));
            }
            adam.step(&mut weights.values, &mut grad, Some(training.clip_norm));
        }
        let (final_loss, _) = loss_and_gradient(&weights, activation, &OBJECTIVE, sequence);
        Trained {
            weights,
            final_loss,
            loss_curve,
            diverged_at,
        }
    }

    #[test]
    fn training_side_by_side_gives_each_run_its_own_result() {
        let shape = Shape {
            hidden: 8,
            inputs: 2,
            outputs: 2,
        };
        let training = Training {
            iterations: 120,
            learning_rate: 1e-2,
            clip_norm: 2.0,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
        };
        // Five runs: a full group of four and one alone (the one-lane path); run 1 explodes at
        // once (as in the divergence test below) while the others train on. Then two runs: a
        // group with two spare lanes.
        let mut runs = four_runs(shape, 40);
        runs.push((Weights::init(shape, 9), task()));
        runs[1].0.values[..64].iter_mut().for_each(|v| *v *= 1e9);
        let pairs: Vec<(Weights, &Sequence)> = runs.iter().map(|(w, s)| (w.clone(), s)).collect();
        let mut counts = [0usize; 5];
        let mut callbacks: Vec<Box<dyn FnMut(usize)>> = Vec::new();
        for count in counts.iter_mut() {
            callbacks.push(Box::new(move |i| *count = i));
        }
        let mut callback_refs: Vec<&mut dyn FnMut(usize)> = callbacks.iter_mut().map(|c| c.as_mut() as _).collect();
        let together = train_side_by_side(&pairs, Activation::Relu, &OBJECTIVE, &training, &mut callback_refs);
        drop(callback_refs);
        drop(callbacks);
        assert_eq!(counts, [120, 0, 120, 120, 120], "callbacks run for the runs that train");
        assert_eq!(together[1].diverged_at, Some(0));
        // As bits: a diverged run's final loss is NaN, which `==` never equals.
        let bits = |t: &Trained| {
            let terms = [
                t.final_loss.target,
                t.final_loss.activity,
                t.final_loss.weight,
                t.final_loss.positivity,
            ];
            let curve = t.loss_curve.iter().map(|&(i, v)| (i, v.to_bits())).collect::<Vec<_>>();
            let values = t.weights.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            (values, terms.map(f64::to_bits), curve, t.diverged_at)
        };
        let alone: Vec<Trained> = runs
            .iter()
            .map(|(init, seq)| train_alone(init.clone(), Activation::Relu, &training, seq))
            .collect();
        for (k, (trained, alone)) in together.iter().zip(&alone).enumerate() {
            assert_eq!(bits(trained), bits(alone), "run {k}");
        }
        let two = train_side_by_side(
            &pairs[2..4],
            Activation::Relu,
            &OBJECTIVE,
            &training,
            &mut [&mut |_| {}, &mut |_| {}],
        );
        for (k, (trained, alone)) in two.iter().zip(&alone[2..4]).enumerate() {
            assert_eq!(bits(trained), bits(alone), "run {} in a group of two", k + 2);
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
