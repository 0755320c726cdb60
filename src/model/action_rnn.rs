//! The action-conditioned linear RNN of Dorrell et al. 2025, Fig 4 (the authors'
//! `Grid_Warp_Train.ipynb`): one recurrent matrix per action.
//!
//! g_0 = I·x + b, g_t = W_{a_{t−1}} g_{t−1} + b_{a_{t−1}}, y_t = R g_t, with x a 0/1 input
//! given at t = 0 only (Fig 4: one-hot of the reward's cell; Fig 5: one-hot of each object's
//! cell). Loss:
//! fit·relu(MSE − tolerance) + activity·mean_t Σ_n g² + weight·(Σ_a ‖W_a‖² + ‖R‖² + ‖I‖²)
//! + negativity·mean_t Σ_n relu(−g).
//!
//! BPTT is written out for the reason given in `frequency_rnn.rs` (tiny per-step work, where a
//! framework's per-op overhead dominates); the gradient is tested against central differences.

use serde::{Deserialize, Serialize};

use super::adam::{Adam, AdamSettings};
use super::frequency_rnn::orthogonal;
use super::outer_products::add_outer_products;
use crate::data::grid_room::ACTIONS;
use crate::rng::SplitMix64;

/// One room: the inputs that are 1 at t = 0, the actions taken, and the targets of every state
/// g_0 … g_T (states × outputs, row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub active_inputs: Vec<usize>,
    pub actions: Vec<usize>,
    pub targets: Vec<f64>,
}

/// Loss weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    /// Weight of the hinge on the fit (the authors: 100).
    pub fit: f64,
    /// The fit's MSE below which it is not penalised (the authors: 0.001).
    pub fit_tolerance: f64,
    pub activity: f64,
    pub weight: f64,
    pub negativity: f64,
}

/// Sizes: `hidden` units, `inputs` (the length of x), `outputs` (the length of y).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub hidden: usize,
    pub inputs: usize,
    pub outputs: usize,
}

impl Shape {
    /// Offsets of W_a (all actions), b_a, I, b, R in the flat vector, and its length.
    fn offsets(&self) -> [usize; 6] {
        let n = self.hidden;
        let mut at = [0; 6];
        for (k, len) in [ACTIONS * n * n, ACTIONS * n, n * self.inputs, n, self.outputs * n]
            .into_iter()
            .enumerate()
        {
            at[k + 1] = at[k] + len;
        }
        at
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub shape: Shape,
    pub values: Vec<f64>,
}

impl Weights {
    /// W_a orthogonal; biases, I and R ~ N(0, `scale`²) (the authors: 0.1).
    pub fn init(shape: Shape, scale: f64, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let n = shape.hidden;
        let at = shape.offsets();
        let mut values = Vec::with_capacity(at[5]);
        for _ in 0..ACTIONS {
            values.extend(orthogonal(n, n, &mut rng));
        }
        values.extend((at[1]..at[5]).map(|_| scale * rng.normal()));
        Self { shape, values }
    }

    /// The states g_0 … g_T of an episode (states × hidden, row-major).
    pub fn states(&self, episode: &Episode) -> Vec<f64> {
        states(&self.shape, &self.values, episode)
    }

    /// The outputs R g for states from [`Weights::states`] (states × outputs).
    #[inline(always)]
    pub fn outputs(&self, states: &[f64]) -> Vec<f64> {
        let (n, o) = (self.shape.hidden, self.shape.outputs);
        let at = self.shape.offsets();
        let r = &self.values[at[4]..at[5]];
        // Loops writing into a filled vector rather than `collect()`, here and in `states`:
        // the iterator's code is a separate function, which would not be compiled for the
        // AVX2 or AVX-512 build that inlines this one (a third of a Fig 4 run in `perf`).
        let mut y = vec![0.0; states.len() / n * o];
        let eight_at_a_time = eight_rows_at_a_time(n);
        for (g, y) in states.chunks(n).zip(y.chunks_mut(o)) {
            row_dots(r, g, None, y, eight_at_a_time);
        }
        y
    }
}

/// a · b with eight independent partial sums, so the compiler can keep them in vector
/// registers (a single running sum is a serial dependency chain it may not reorder).
/// Inlined, so that it is compiled for AVX2 inside the AVX2 build of the gradient.
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut partial = [0.0f64; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for k in 0..8 {
            partial[k] += x[k] * y[k];
        }
    }
    partial.iter().sum::<f64>() + tail
}

#[inline(always)]
fn states(shape: &Shape, values: &[f64], walk: &Episode) -> Vec<f64> {
    let n = shape.hidden;
    let at = shape.offsets();
    let (w, b_a, i_in, b0) = (
        &values[at[0]..at[1]],
        &values[at[1]..at[2]],
        &values[at[2]..at[3]],
        &values[at[3]..at[4]],
    );
    let ni = shape.inputs;
    let mut g = vec![0.0; (walk.actions.len() + 1) * n];
    for (r, g) in g[..n].iter_mut().enumerate() {
        *g = walk.active_inputs.iter().map(|&k| i_in[r * ni + k]).sum::<f64>() + b0[r];
    }
    let eight_at_a_time = eight_rows_at_a_time(n);
    for (t, &a) in walk.actions.iter().enumerate() {
        let wa = &w[a * n * n..(a + 1) * n * n];
        let (before, after) = g.split_at_mut((t + 1) * n);
        let bias = &b_a[a * n..(a + 1) * n];
        row_dots(wa, &before[t * n..], Some(bias), &mut after[..n], eight_at_a_time);
    }
    g
}

/// `out[r] = dot(rows[r], x) (+ bias[r])` for the `out.len()` rows of `rows` (row-major, each
/// `x.len()` long): with `eight_at_a_time` (from [`eight_rows_at_a_time`]), whole blocks of 8
/// rows through `action_rnn_avx512` (the same bits), the rest one row at a time.
#[inline(always)]
fn row_dots(rows: &[f64], x: &[f64], bias: Option<&[f64]>, out: &mut [f64], eight_at_a_time: bool) {
    let n = x.len();
    let blocked = if eight_at_a_time { out.len() / 8 * 8 } else { 0 };
    #[cfg(target_arch = "x86_64")]
    for r in (0..blocked).step_by(8) {
        // SAFETY: `eight_rows_at_a_time` checked that the CPU has AVX-512 F.
        unsafe {
            super::action_rnn_avx512::dots_of_eight_rows(
                &rows[r * n..(r + 8) * n],
                x,
                bias.map(|b| &b[r..r + 8]),
                &mut out[r..r + 8],
            );
        }
    }
    for (r, value) in out.iter_mut().enumerate().skip(blocked) {
        let sum = dot(&rows[r * n..(r + 1) * n], x);
        *value = bias.map_or(sum, |b| sum + b[r]);
    }
}

/// Whether [`row_dots`] may take eight rows at a time (`action_rnn_avx512`, the same bits): on
/// AVX-512 CPUs, for rows of a multiple of 8 units.
fn eight_rows_at_a_time(units: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    if units.is_multiple_of(8) {
        return super::avx512_available();
    }
    let _ = units;
    false
}

/// Loss terms, each weighted; `mse` is the fit's unweighted MSE.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LossTerms {
    pub mse: f64,
    pub fit: f64,
    pub activity: f64,
    pub weight: f64,
    pub negativity: f64,
}

impl LossTerms {
    pub fn total(&self) -> f64 {
        self.fit + self.activity + self.weight + self.negativity
    }
}

/// The loss over a batch of episodes and its gradient.
///
/// On x86-64 CPUs with AVX-512 (or AVX2) the same loops run compiled for it (8 or 4 f64 lanes
/// instead of SSE2's 2). No product is fused with its sum (Rust never contracts `a * b + c`),
/// so every build gives the same bits (tested).
pub fn loss_and_gradient(weights: &Weights, objective: &Objective, walks: &[Episode]) -> (LossTerms, Vec<f64>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx2")
    {
        // SAFETY: the CPU has AVX-512 F and VL and AVX2, checked just above.
        return unsafe { loss_and_gradient_avx512(weights, objective, walks) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { loss_and_gradient_avx2(weights, objective, walks) };
    }
    loss_and_gradient_portable(weights, objective, walks)
}

/// 8 f64 lanes: the 64-unit products in half the instructions of the AVX2 build (Fig 4's
/// iterations +20 %, `cargo bench --bench small_rnns`); the same bits, for the same reason.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2")]
fn loss_and_gradient_avx512(weights: &Weights, objective: &Objective, walks: &[Episode]) -> (LossTerms, Vec<f64>) {
    loss_and_gradient_portable(weights, objective, walks)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn loss_and_gradient_avx2(weights: &Weights, objective: &Objective, walks: &[Episode]) -> (LossTerms, Vec<f64>) {
    loss_and_gradient_portable(weights, objective, walks)
}

/// A batch's forward pass: every walk's states and output errors, and the weighted loss terms.
struct Forward {
    all_states: Vec<Vec<f64>>,
    errors: Vec<Vec<f64>>,
    terms: LossTerms,
    /// Whether the fit's MSE is above its tolerance (else the fit has no gradient).
    hinge_active: bool,
    per_state: f64,
    per_output: f64,
}

#[inline(always)]
fn forward(weights: &Weights, objective: &Objective, walks: &[Episode]) -> Forward {
    let shape = &weights.shape;
    let o = shape.outputs;
    let values = &weights.values;
    let at = shape.offsets();
    let w = &values[at[0]..at[1]];
    let r_out = &values[at[4]..at[5]];
    let mut all_states: Vec<Vec<f64>> = Vec::with_capacity(walks.len());
    for walk in walks {
        all_states.push(states(shape, values, walk));
    }
    let state_count: usize = walks.iter().map(|walk| walk.actions.len() + 1).sum();
    let per_state = state_count as f64;
    let per_output = (state_count * o) as f64;

    // Forward: outputs, errors, the fit's MSE.
    let mut errors: Vec<Vec<f64>> = Vec::with_capacity(walks.len());
    let mut squared = 0.0;
    for (walk, g) in walks.iter().zip(&all_states) {
        let y = weights.outputs(g);
        let e: Vec<f64> = y.iter().zip(&walk.targets).map(|(y, t)| y - t).collect();
        squared += e.iter().map(|d| d * d).sum::<f64>();
        errors.push(e);
    }
    let mut terms = LossTerms {
        mse: squared / per_output,
        ..Default::default()
    };
    let hinge_active = terms.mse > objective.fit_tolerance;
    terms.fit = objective.fit * (terms.mse - objective.fit_tolerance).max(0.0);
    let squares = |m: &[f64]| m.iter().map(|v| v * v).sum::<f64>();
    terms.weight = objective.weight * (squares(w) + squares(r_out) + squares(&values[at[2]..at[3]]));
    for g in &all_states {
        for &v in g {
            terms.activity += objective.activity * v * v / per_state;
            terms.negativity += objective.negativity * (-v).max(0.0) / per_state;
        }
    }
    Forward {
        all_states,
        errors,
        terms,
        hinge_active,
        per_state,
        per_output,
    }
}

#[inline(always)]
fn loss_and_gradient_portable(weights: &Weights, objective: &Objective, walks: &[Episode]) -> (LossTerms, Vec<f64>) {
    let shape = &weights.shape;
    let (n, o, ni) = (shape.hidden, shape.outputs, shape.inputs);
    let values = &weights.values;
    let at = shape.offsets();
    let w = &values[at[0]..at[1]];
    let r_out = &values[at[4]..at[5]];

    let Forward {
        all_states,
        errors,
        terms,
        hinge_active,
        per_state,
        per_output,
    } = forward(weights, objective, walks);

    // Backward.
    let mut grad = vec![0.0; values.len()];
    for k in (at[0]..at[1]).chain(at[2]..at[3]).chain(at[4]..at[5]) {
        grad[k] = 2.0 * objective.weight * values[k];
    }
    let dy_scale = if hinge_active {
        objective.fit * 2.0 / per_output
    } else {
        0.0
    };
    // dL/dy per state (zero when the hinge is off), and dL/dg per state, walk by walk.
    let output_deltas: Vec<Vec<f64>> = errors
        .iter()
        .map(|e| e.iter().map(|&e| dy_scale * e).collect())
        .collect();
    let mut all_deltas: Vec<Vec<f64>> = Vec::with_capacity(walks.len());
    for ((walk, g), dy) in walks.iter().zip(&all_states).zip(&output_deltas) {
        let steps = walk.actions.len() + 1;
        let mut deltas = vec![0.0; steps * n];
        for t in (0..steps).rev() {
            let gt = &g[t * n..(t + 1) * n];
            let dy_t = &dy[t * o..(t + 1) * o];
            let (now, later) = deltas.split_at_mut((t + 1) * n);
            let delta = &mut now[t * n..];
            let recurrent = (t + 1 < steps).then(|| {
                let a = walk.actions[t];
                (&w[a * n * n..(a + 1) * n * n], &later[..n])
            });
            let units = DeltaUnits {
                n,
                state: gt,
                output_deltas: dy_t,
                readout: r_out,
                recurrent,
                objective,
                per_state,
            };
            let mut r0 = 0;
            while r0 + 32 <= n {
                delta[r0..r0 + 32].copy_from_slice(&units.block::<32>(r0));
                r0 += 32;
            }
            while r0 + 8 <= n {
                delta[r0..r0 + 8].copy_from_slice(&units.block::<8>(r0));
                r0 += 8;
            }
            for r in r0..n {
                delta[r..r + 1].copy_from_slice(&units.block::<1>(r));
            }
            // Biases and input weights, state by state in the order of the rank-one updates.
            let delta = &deltas[t * n..(t + 1) * n];
            if t == 0 {
                for r in 0..n {
                    for &k in &walk.active_inputs {
                        grad[at[2] + r * ni + k] += delta[r];
                    }
                    grad[at[3] + r] += delta[r];
                }
            } else {
                let a = walk.actions[t - 1];
                for r in 0..n {
                    grad[at[1] + a * n + r] += delta[r];
                }
            }
        }
        all_deltas.push(deltas);
    }

    // Rank-one updates, each entry summed over walks in order and, within a walk, from the
    // last state back: dR += dy_t g_tᵀ (where dy_t ≠ 0) and dW_a += δ_t g_{t−1}ᵀ.
    let mut readout_terms = Vec::new();
    let mut recurrent_terms: Vec<Vec<(&[f64], &[f64])>> = vec![Vec::new(); ACTIONS];
    for (((walk, g), dy), deltas) in walks.iter().zip(&all_states).zip(&output_deltas).zip(&all_deltas) {
        let steps = walk.actions.len() + 1;
        for t in (0..steps).rev() {
            readout_terms.push((&dy[t * o..(t + 1) * o], &g[t * n..(t + 1) * n]));
            if t > 0 {
                recurrent_terms[walk.actions[t - 1]].push((&deltas[t * n..(t + 1) * n], &g[(t - 1) * n..t * n]));
            }
        }
    }
    for (a, terms) in recurrent_terms.iter().enumerate() {
        add_outer_products::<_, false, 8>(&mut grad[at[0] + a * n * n..at[0] + (a + 1) * n * n], n, terms);
    }
    add_outer_products::<_, true, 8>(&mut grad[at[4]..at[5]], n, &readout_terms);
    (terms, grad)
}

/// What δ_t = dL/dg_t of one state is made of.
struct DeltaUnits<'a> {
    n: usize,
    /// g_t.
    state: &'a [f64],
    /// dL/dy_t (all zero when the fit's hinge is off).
    output_deltas: &'a [f64],
    /// The readout R, outputs × n.
    readout: &'a [f64],
    /// W_{a_t} and δ_{t+1}, unless g_t is the walk's last state.
    recurrent: Option<(&'a [f64], &'a [f64])>,
    objective: &'a Objective,
    per_state: f64,
}

impl DeltaUnits<'_> {
    /// δ_t of units `r0..r0 + W`. Each entry sums, in this order: the direct terms (activity,
    /// negativity), the readout's rows, then W_{a_t}ᵀ δ_{t+1}. `W` is a constant so that the
    /// block stays in registers: with a run-time width it had been kept on the stack, stored
    /// and reloaded for every entry of δ_{t+1} (half of a Fig 4 gradient's time in `perf`).
    #[inline(always)]
    fn block<const W: usize>(&self, r0: usize) -> [f64; W] {
        let (n, objective, per_state) = (self.n, self.objective, self.per_state);
        let mut acc: [f64; W] = std::array::from_fn(|i| {
            let v = self.state[r0 + i];
            objective.activity * 2.0 * v / per_state - if v < 0.0 { objective.negativity / per_state } else { 0.0 }
        });
        for (k, &dyk) in self.output_deltas.iter().enumerate() {
            if dyk != 0.0 {
                let row: &[f64; W] = self.readout[k * n + r0..][..W].try_into().unwrap();
                for (d, &x) in acc.iter_mut().zip(row) {
                    *d += x * dyk;
                }
            }
        }
        if let Some((wa, next)) = self.recurrent {
            for (q, &dq) in next.iter().enumerate() {
                let row: &[f64; W] = wa[q * n + r0..][..W].try_into().unwrap();
                for (d, &x) in acc.iter_mut().zip(row) {
                    *d += x * dq;
                }
            }
        }
        acc
    }
}

/// What training produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trained {
    /// The final weights, or the last finite ones if training diverged.
    pub weights: Weights,
    /// Total loss and MSE on the batch, every `iterations / 100` iterations.
    pub loss_curve: Vec<(usize, f64, f64)>,
    pub diverged_at: Option<usize>,
}

/// Adam on fresh batches from `batch(iteration)`; `on_iteration(i)` after each iteration.
pub fn train(
    init: Weights,
    objective: &Objective,
    adam: AdamSettings,
    iterations: usize,
    mut batch: impl FnMut(usize) -> Vec<Episode>,
    mut on_iteration: impl FnMut(usize),
) -> Trained {
    let mut weights = init;
    let mut optimiser = Adam::new(adam, weights.values.len());
    let log_every = (iterations / 100).max(1);
    let mut loss_curve = Vec::new();
    let mut diverged_at = None;
    for iteration in 0..iterations {
        let walks = batch(iteration);
        let (terms, mut grad) = loss_and_gradient(&weights, objective, &walks);
        if !terms.total().is_finite() || grad.iter().any(|g| !g.is_finite()) {
            diverged_at = Some(iteration);
            break;
        }
        if iteration % log_every == 0 {
            loss_curve.push((iteration, terms.total(), terms.mse));
        }
        optimiser.step(&mut weights.values, &mut grad, None);
        on_iteration(iteration + 1);
    }
    Trained {
        weights,
        loss_curve,
        diverged_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::grid_room::{RewardPlacement, random_walks};

    const ROOM: usize = 3;

    #[test]
    fn eight_rows_at_a_time_have_each_row_s_dot_bits() {
        if !eight_rows_at_a_time(8) {
            eprintln!("skipped: this CPU has no AVX-512, so the eight-row step never runs here");
            return;
        }
        let mut rng = SplitMix64::new(21);
        for n in [8, 16, 64, 72] {
            for _ in 0..50 {
                let x: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
                // Magnitudes over six decades, and some exact zeros (signed), as states have.
                let mut value = || match rng.next_u64() % 10 {
                    0 => 0.0,
                    1 => -0.0,
                    _ => rng.normal() * 1e3f64.powf(rng.uniform() - 0.5),
                };
                let rows: Vec<f64> = (0..8 * n).map(|_| value()).collect();
                let bias: Vec<f64> = (0..8).map(|_| value()).collect();
                let (mut with_bias, mut without) = ([f64::NAN; 8], [f64::NAN; 8]);
                // SAFETY: eight_rows_at_a_time checked for AVX-512 F.
                #[cfg(target_arch = "x86_64")]
                unsafe {
                    use crate::model::action_rnn_avx512::dots_of_eight_rows;
                    dots_of_eight_rows(&rows, &x, Some(&bias), &mut with_bias);
                    dots_of_eight_rows(&rows, &x, None, &mut without);
                };
                for r in 0..8 {
                    let expected = dot(&rows[r * n..(r + 1) * n], &x);
                    assert_eq!(without[r].to_bits(), expected.to_bits(), "n {n}, row {r}");
                    assert_eq!(with_bias[r].to_bits(), (expected + bias[r]).to_bits(), "n {n}, row {r}");
                }
            }
        }
        // All-zero rows and state: the signs of zero sums survive too.
        let mut out = [f64::NAN; 8];
        #[cfg(target_arch = "x86_64")]
        unsafe {
            crate::model::action_rnn_avx512::dots_of_eight_rows(&[-0.0; 64], &[0.0; 8], Some(&[-0.0; 8]), &mut out)
        };
        let expected = dot(&[-0.0; 8], &[0.0; 8]) + -0.0;
        assert!(
            out.iter().all(|v| v.to_bits() == expected.to_bits()),
            "{out:?} vs {expected}"
        );
    }

    fn shape(hidden: usize) -> Shape {
        Shape {
            hidden,
            inputs: ROOM * ROOM,
            outputs: 2 * ROOM * ROOM,
        }
    }

    fn episodes(rooms: usize, steps: usize, placement: &RewardPlacement, rng: &mut SplitMix64) -> Vec<Episode> {
        random_walks(rooms, steps, ROOM, placement, rng)
            .iter()
            .map(|w| w.episode(ROOM))
            .collect()
    }

    /// The loss and gradient as first written: one rank-one update of the whole matrix per
    /// state. The register-blocked version must give the same bits.
    fn reference_loss_and_gradient(
        weights: &Weights,
        objective: &Objective,
        walks: &[Episode],
    ) -> (LossTerms, Vec<f64>) {
        let shape = &weights.shape;
        let (n, o, ni) = (shape.hidden, shape.outputs, shape.inputs);
        let values = &weights.values;
        let at = shape.offsets();
        let w = &values[at[0]..at[1]];
        let r_out = &values[at[4]..at[5]];

        let Forward {
            all_states,
            errors,
            terms,
            hinge_active,
            per_state,
            per_output,
        } = forward(weights, objective, walks);

        // Backward.
        let mut grad = vec![0.0; values.len()];
        for k in (at[0]..at[1]).chain(at[2]..at[3]).chain(at[4]..at[5]) {
            grad[k] = 2.0 * objective.weight * values[k];
        }
        let dy_scale = if hinge_active {
            objective.fit * 2.0 / per_output
        } else {
            0.0
        };
        let mut delta = vec![0.0; n];
        let mut delta_next = vec![0.0; n];
        for ((walk, g), e) in walks.iter().zip(&all_states).zip(&errors) {
            let steps = walk.actions.len() + 1;
            delta_next.iter_mut().for_each(|d| *d = 0.0);
            for t in (0..steps).rev() {
                let gt = &g[t * n..(t + 1) * n];
                // Direct terms: readout, activity, negativity.
                for (r, d) in delta.iter_mut().enumerate() {
                    let v = gt[r];
                    *d = objective.activity * 2.0 * v / per_state
                        - if v < 0.0 { objective.negativity / per_state } else { 0.0 };
                }
                for k in 0..o {
                    let dy = dy_scale * e[t * o + k];
                    if dy != 0.0 {
                        let row = &r_out[k * n..(k + 1) * n];
                        for r in 0..n {
                            delta[r] += row[r] * dy;
                            grad[at[4] + k * n + r] += dy * gt[r];
                        }
                    }
                }
                // From the next state: g_{t+1} = W_{a_t} g_t + b_{a_t}.
                if t + 1 < steps {
                    let a = walk.actions[t];
                    let wa = &w[a * n * n..(a + 1) * n * n];
                    for (q, dq) in delta_next.iter().enumerate() {
                        let row = &wa[q * n..(q + 1) * n];
                        for r in 0..n {
                            delta[r] += row[r] * dq;
                        }
                    }
                }
                // Parameters that produced g_t.
                if t == 0 {
                    for r in 0..n {
                        for &k in &walk.active_inputs {
                            grad[at[2] + r * ni + k] += delta[r];
                        }
                        grad[at[3] + r] += delta[r];
                    }
                } else {
                    let a = walk.actions[t - 1];
                    let prev = &g[(t - 1) * n..t * n];
                    for r in 0..n {
                        let d = delta[r];
                        grad[at[1] + a * n + r] += d;
                        let row = &mut grad[at[0] + a * n * n + r * n..at[0] + a * n * n + (r + 1) * n];
                        for (cell, p) in row.iter_mut().zip(prev) {
                            *cell += d * p;
                        }
                    }
                }
                std::mem::swap(&mut delta, &mut delta_next);
            }
        }
        (terms, grad)
    }

    fn assert_same_bits(walks: &[Episode], weights: &Weights, objective: &Objective) {
        let (terms, grad) = loss_and_gradient(weights, objective, walks);
        let (reference_terms, reference_grad) = reference_loss_and_gradient(weights, objective, walks);
        assert_eq!(terms.total().to_bits(), reference_terms.total().to_bits());
        let bits = |g: &[f64]| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&grad), bits(&reference_grad));
        let portable = loss_and_gradient_portable(weights, objective, walks).1;
        assert_eq!(bits(&portable), bits(&grad), "portable and accelerated builds differ");
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 checked just above.
            let avx2 = unsafe { loss_and_gradient_avx2(weights, objective, walks) }.1;
            assert_eq!(bits(&avx2), bits(&grad), "AVX2 and the dispatched build differ");
        }
    }

    #[test]
    fn register_blocked_updates_give_the_reference_bits() {
        let placement = RewardPlacement {
            share_fixed: 0.5,
            fixed_cells: vec![(1, 1)],
        };
        let mut rng = SplitMix64::new(4);
        // 64 units (blocked path, 18 outputs: a partial row block), 44 (δ in blocks of 32, 8 and
        // single units; the gradients' last 4 columns one entry at a time) and 4 (only those);
        // the hinge active (tolerance 0) and off (tolerance 1e9: every dL/dy is zero).
        for hidden in [64, 44, 4] {
            for fit_tolerance in [0.0, 1e9] {
                let walks = episodes(10, 25, &placement, &mut rng);
                let objective = Objective {
                    fit: 100.0,
                    fit_tolerance,
                    activity: 0.1,
                    weight: 0.01,
                    negativity: 100.0,
                };
                assert_same_bits(&walks, &Weights::init(shape(hidden), 0.1, 5), &objective);
            }
        }
    }

    #[test]
    fn the_gradient_matches_central_differences() {
        let shape = shape(4);
        let mut rng = SplitMix64::new(9);
        let placement = RewardPlacement {
            share_fixed: 0.5,
            fixed_cells: vec![(1, 1)],
        };
        let mut walks = episodes(2, 5, &placement, &mut rng);
        // A second active input, as Fig 5's object inputs have.
        walks[0].active_inputs.push(4);
        let mut w = Weights::init(shape, 0.3, 1);
        // Shrink W so states stay O(1); some states negative, so every branch has a gradient.
        w.values.iter_mut().for_each(|v| *v *= 0.8);
        // fit_tolerance 0: the hinge is active.
        let objective = Objective {
            fit: 100.0,
            fit_tolerance: 0.0,
            activity: 0.1,
            weight: 0.01,
            negativity: 100.0,
        };
        let (_, grad) = loss_and_gradient(&w, &objective, &walks);
        for (k, analytic) in grad.iter().enumerate() {
            let h = 1e-6;
            let at = |delta: f64| {
                let mut moved = w.clone();
                moved.values[k] += delta;
                loss_and_gradient(&moved, &objective, &walks).0.total()
            };
            let numeric = (at(h) - at(-h)) / (2.0 * h);
            assert!(
                (numeric - analytic).abs() <= 1e-5 * (1.0 + numeric.abs()),
                "parameter {k}: analytic {analytic} vs numeric {numeric}"
            );
        }
    }

    #[test]
    fn training_learns_position_and_displacement() {
        let shape = shape(16);
        let placement = RewardPlacement {
            share_fixed: 0.0,
            fixed_cells: vec![(1, 1)],
        };
        let objective = Objective {
            fit: 100.0,
            fit_tolerance: 0.001,
            activity: 0.1,
            weight: 0.01,
            negativity: 100.0,
        };
        let adam = AdamSettings {
            learning_rate: 3e-3,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
        };
        let mut rng = SplitMix64::new(2);
        let mut batch = |_| episodes(10, 8, &placement, &mut rng);
        let first = loss_and_gradient(&Weights::init(shape, 0.1, 3), &objective, &batch(0)).0;
        let trained = train(Weights::init(shape, 0.1, 3), &objective, adam, 1500, &mut batch, |_| {});
        let last = loss_and_gradient(&trained.weights, &objective, &batch(0)).0;
        assert!(last.mse < 0.6 * first.mse, "{first:?} → {last:?}");
    }
}
