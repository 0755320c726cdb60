//! The Fig 3f–g student's loss and gradient for a whole minibatch, written out in f32 — the
//! precision of the authors' PyTorch student (`disentangled_rnn_train_clean.py` casts inputs
//! and targets to `torch.float32` and keeps PyTorch's default float32 parameters).
//!
//! Activations are stored feature-major (unit × batch column), so that every inner loop runs
//! along the batch: a product is a few fused multiply-adds per 16 batch columns held in
//! registers, blocked over 4 output units. The batch is padded to a multiple of 16 columns;
//! padding columns carry zero states and zero errors, so they add nothing. Every product is
//! added with `mul_add` (exactly rounded) and no sum is reordered between builds, so the
//! AVX2+FMA loop (chosen at run time) and the portable one give the same bits (tested).

use super::dense_ae::sum_lanes;
use super::frequency_rnn::{LossTerms, Objective, Shape, Weights, blocks};
use crate::data::frequency_task::Sequence;

/// Batch columns per register block: two AVX2 registers of f32.
const LANES: usize = 16;
/// Output units per register block of a product.
const BLOCK_UNITS: usize = 4;
/// Lanes of a dot product along the batch (one AVX2 register), for the weight gradients.
const DOT_LANES: usize = 8;

/// A minibatch in the kernel's layout: per step, inputs and targets feature-major.
#[derive(Debug, Clone)]
pub struct Minibatch {
    batch: usize,
    /// Columns per row: `batch` rounded up to a multiple of [`LANES`].
    columns: usize,
    steps: usize,
    /// steps × inputs × columns.
    inputs: Vec<f32>,
    /// steps × outputs × columns.
    targets: Vec<f32>,
}

impl Minibatch {
    /// Sequences of equal length, with `shape.inputs` inputs and `shape.outputs` targets.
    pub fn new(shape: &Shape, sequences: &[&Sequence]) -> Self {
        let batch = sequences.len();
        let steps = sequences.first().map_or(0, |s| s.inputs.len());
        let columns = batch.div_ceil(LANES) * LANES;
        let (ni, no) = (shape.inputs, shape.outputs);
        let mut inputs = vec![0.0; steps * ni * columns];
        let mut targets = vec![0.0; steps * no * columns];
        for (r, sequence) in sequences.iter().enumerate() {
            assert_eq!(sequence.inputs.len(), steps, "sequences of a minibatch have one length");
            for t in 0..steps {
                for c in 0..ni {
                    inputs[(t * ni + c) * columns + r] = sequence.inputs[t][c] as f32;
                }
                for o in 0..no {
                    targets[(t * no + o) * columns + r] = sequence.targets[t][o] as f32;
                }
            }
        }
        Self {
            batch,
            columns,
            steps,
            inputs,
            targets,
        }
    }
}

/// Buffers kept from one training step to the next (resized to each minibatch), so that a
/// step allocates none of its activations.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    /// States h_t, steps × hidden × columns.
    states: Vec<f32>,
    /// Outputs y_t, steps × outputs × columns.
    outputs: Vec<f32>,
    /// dL/dy_t, steps × outputs × columns.
    output_deltas: Vec<f32>,
    /// dL/da_t (a_t the pre-activation), steps × hidden × columns.
    deltas: Vec<f32>,
    /// States h_t batch-major, steps × columns × hidden: the weight gradients' right factor.
    states_transposed: Vec<f32>,
}

/// The weights in f32, and the transposes the backward pass multiplies by.
struct Parameters {
    w: Vec<f32>,
    w_transposed: Vec<f32>,
    bias: Vec<f32>,
    w_in: Vec<f32>,
    w_out: Vec<f32>,
    w_out_transposed: Vec<f32>,
    b_out: Vec<f32>,
}

impl Parameters {
    fn new(weights: &Weights) -> Self {
        let (n, no) = (weights.shape.hidden, weights.shape.outputs);
        let p = blocks(&weights.shape, &weights.values);
        let single = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let transpose = |m: &[f64], rows: usize, cols: usize| -> Vec<f32> {
            (0..cols * rows)
                .map(|k| m[(k % rows) * cols + k / rows] as f32)
                .collect()
        };
        Self {
            w: single(p.w),
            w_transposed: transpose(p.w, n, n),
            // b_rec and b_in always appear summed (a_t = … + b_rec + b_in).
            bias: p.b_rec.iter().zip(p.b_in).map(|(r, i)| (r + i) as f32).collect(),
            w_in: single(p.w_in),
            w_out: single(p.w_out),
            w_out_transposed: transpose(p.w_out, no, n),
            b_out: single(p.b_out),
        }
    }
}

/// The mean loss terms over the minibatch and the gradient of their sum (flat order of
/// [`Weights`]). Activations and gradients are f32; the weight cost and its gradient are taken
/// in f64 from the f64 weights.
pub fn loss_and_gradient(
    weights: &Weights,
    objective: &Objective,
    minibatch: &Minibatch,
    workspace: &mut Workspace,
) -> (LossTerms, Vec<f64>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { loss_and_gradient_avx2(weights, objective, minibatch, workspace) };
    }
    loss_and_gradient_portable(weights, objective, minibatch, workspace)
}

/// The same loops compiled for AVX2 and FMA: each `mul_add` one instruction (the portable
/// build calls the C library's `fmaf`, slower but rounded the same).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn loss_and_gradient_avx2(
    weights: &Weights,
    objective: &Objective,
    minibatch: &Minibatch,
    workspace: &mut Workspace,
) -> (LossTerms, Vec<f64>) {
    loss_and_gradient_portable(weights, objective, minibatch, workspace)
}

#[inline(always)]
fn loss_and_gradient_portable(
    weights: &Weights,
    objective: &Objective,
    minibatch: &Minibatch,
    workspace: &mut Workspace,
) -> (LossTerms, Vec<f64>) {
    let shape = weights.shape;
    let (n, ni, no) = (shape.hidden, shape.inputs, shape.outputs);
    let (batch, columns, steps) = (minibatch.batch, minibatch.columns, minibatch.steps);
    let p = Parameters::new(weights);
    let (hidden_size, output_size) = (n * columns, no * columns);
    let ws = workspace;
    for (buffer, len) in [
        (&mut ws.states, steps * hidden_size),
        (&mut ws.outputs, steps * output_size),
        (&mut ws.output_deltas, steps * output_size),
        (&mut ws.deltas, steps * hidden_size),
    ] {
        buffer.clear();
        buffer.resize(len, 0.0);
    }
    let input = |t: usize| &minibatch.inputs[t * ni * columns..(t + 1) * ni * columns];
    let target = |t: usize| &minibatch.targets[t * output_size..(t + 1) * output_size];

    // Forward: a_t = W h_{t−1} + W_in x_t + b_rec + b_in, h_t = relu(a_t), y_t = W_out h_t + b_out.
    // Padding columns are given zero states, so they add nothing downstream.
    for t in 0..steps {
        let (done, rest) = ws.states.split_at_mut(t * hidden_size);
        let h = &mut rest[..hidden_size];
        let from_input = Term::new(&p.w_in, input(t), columns);
        let terms = if t > 0 {
            vec![
                from_input,
                Term::new(&p.w, &done[(t - 1) * hidden_size..t * hidden_size], columns),
            ]
        } else {
            vec![from_input]
        };
        write_products(
            h,
            columns,
            |u, _| p.bias[u],
            &terms,
            |_, c, a| if c < batch { a.max(0.0) } else { 0.0 },
        );
        let y = &mut ws.outputs[t * output_size..(t + 1) * output_size];
        write_products(
            y,
            columns,
            |o, _| p.b_out[o],
            &[Term::new(&p.w_out, h, columns)],
            |_, _, v| v,
        );
    }

    let (per_output, per_unit) = ((batch * steps * no) as f32, (batch * steps * n) as f32);
    let (fit, activity) = (objective.target as f32, objective.activity as f32);
    let (mut squared_error, mut squared_activity) = (0.0f64, 0.0f64);
    // Backward, from the last step: dy_t, then δ_t = relu'(a_t) ⊙ (2·activity·h_t / per_unit +
    // W_outᵀ dy_t + Wᵀ δ_{t+1}). The ReLU student's states are never negative, so the
    // positivity penalty (on negative states) and its gradient are zero.
    for t in (0..steps).rev() {
        let h = &ws.states[t * hidden_size..(t + 1) * hidden_size];
        let y = &ws.outputs[t * output_size..(t + 1) * output_size];
        let dy = &mut ws.output_deltas[t * output_size..(t + 1) * output_size];
        for ((dy_row, y_row), t_row) in dy
            .chunks_exact_mut(columns)
            .zip(y.chunks_exact(columns))
            .zip(target(t).chunks_exact(columns))
        {
            let mut errors = [0.0f32; LANES];
            for c0 in (0..columns).step_by(LANES) {
                for (k, lane) in errors.iter_mut().enumerate() {
                    let c = c0 + k;
                    let e = if c < batch { y_row[c] - t_row[c] } else { 0.0 };
                    *lane = e.mul_add(e, *lane);
                    dy_row[c] = fit * 2.0 * e / per_output;
                }
            }
            squared_error += f64::from(sum_lanes(errors));
        }
        let mut squares = [0.0f32; LANES];
        for row in h.chunks_exact(columns) {
            for chunk in row.chunks_exact(LANES) {
                for k in 0..LANES {
                    squares[k] = chunk[k].mul_add(chunk[k], squares[k]);
                }
            }
        }
        squared_activity += f64::from(sum_lanes(squares));
        let (now, later) = ws.deltas.split_at_mut((t + 1) * hidden_size);
        let delta = &mut now[t * hidden_size..];
        let from_output = Term::new(&p.w_out_transposed, dy, columns);
        let terms = if t + 1 < steps {
            vec![from_output, Term::new(&p.w_transposed, &later[..hidden_size], columns)]
        } else {
            vec![from_output]
        };
        // h > 0 exactly where a > 0; padding columns have h = 0, so their δ is 0.
        write_products(
            delta,
            columns,
            |u, c| 2.0 * activity * h[u * columns + c] / per_unit,
            &terms,
            |u, c, d| if h[u * columns + c] > 0.0 { d } else { 0.0 },
        );
    }

    // Weight gradients: sums over steps and batch columns of outer products.
    let mut g_w = vec![0.0f32; n * n];
    let mut g_w_in = vec![0.0f32; n * ni];
    let mut g_w_out = vec![0.0f32; no * n];
    if n % LANES == 0 {
        // As products `Σ_t δ_t · h_{t−1}ᵀ`, with the states transposed to batch-major rows of
        // `hidden`: the product loop above then runs along units, 16 at a time.
        let transposed = &mut ws.states_transposed;
        transposed.clear();
        transposed.resize(steps * hidden_size, 0.0);
        for (h, h_t) in ws
            .states
            .chunks_exact(hidden_size)
            .zip(transposed.chunks_exact_mut(hidden_size))
        {
            for (u, row) in h.chunks_exact(columns).enumerate() {
                for (c, &v) in row.iter().enumerate() {
                    h_t[c * n + u] = v;
                }
            }
        }
        let recurrent: Vec<_> = (1..steps)
            .map(|t| {
                Term::new(
                    step_rows(&ws.deltas, hidden_size, t),
                    step_rows(transposed, hidden_size, t - 1),
                    n,
                )
            })
            .collect();
        write_products(&mut g_w, n, |_, _| 0.0, &recurrent, |_, _, v| v);
        let readout: Vec<_> = (0..steps)
            .map(|t| {
                Term::new(
                    step_rows(&ws.output_deltas, output_size, t),
                    step_rows(transposed, hidden_size, t),
                    n,
                )
            })
            .collect();
        write_products(&mut g_w_out, n, |_, _| 0.0, &readout, |_, _, v| v);
    } else {
        let recurrent: Vec<_> = (1..steps)
            .map(|t| {
                (
                    step_rows(&ws.deltas, hidden_size, t),
                    step_rows(&ws.states, hidden_size, t - 1),
                )
            })
            .collect();
        add_gram(&mut g_w, n, &recurrent, columns);
        let readout: Vec<_> = (0..steps)
            .map(|t| {
                (
                    step_rows(&ws.output_deltas, output_size, t),
                    step_rows(&ws.states, hidden_size, t),
                )
            })
            .collect();
        add_gram(&mut g_w_out, n, &readout, columns);
    }
    let from_inputs: Vec<_> = (0..steps)
        .map(|t| (step_rows(&ws.deltas, hidden_size, t), input(t)))
        .collect();
    add_gram(&mut g_w_in, ni, &from_inputs, columns);
    let g_b = row_sums(&ws.deltas, n, columns);
    let g_b_out = row_sums(&ws.output_deltas, no, columns);

    let factors = objective.weight_factors(&shape);
    let weight_blocks = blocks(&shape, &weights.values);
    let squares = |m: &[f64]| m.iter().map(|v| v * v).sum::<f64>();
    let terms = LossTerms {
        target: objective.target * squared_error / f64::from(per_output),
        activity: objective.activity * squared_activity / f64::from(per_unit),
        weight: factors[0] * squares(weight_blocks.w)
            + factors[1] * squares(weight_blocks.w_in)
            + factors[2] * squares(weight_blocks.w_out),
        ..LossTerms::default()
    };
    let double = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
    let mut grad = [
        double(&g_w),
        double(&g_b),
        double(&g_w_in),
        double(&g_b),
        double(&g_w_out),
        double(&g_b_out),
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

/// One product of [`write_products`]: a row-major matrix with `inner` columns times `inner`
/// feature-major rows.
struct Term<'a> {
    matrix: &'a [f32],
    inner: usize,
    input: &'a [f32],
}

impl<'a> Term<'a> {
    fn new(matrix: &'a [f32], input: &'a [f32], columns: usize) -> Self {
        let inner = input.len() / columns;
        debug_assert_eq!(matrix.len() % inner, 0);
        Self { matrix, inner, input }
    }
}

/// `out[u][c] = finish(u, c, start(u, c) + Σ_terms (matrix · input)[u][c])` for feature-major
/// rows of `columns` (a multiple of [`LANES`]): each block of 4 rows × 16 columns is summed
/// in registers over every term and finished (a ReLU, a mask) as it is written.
#[inline(always)]
fn write_products(
    out: &mut [f32],
    columns: usize,
    start: impl Fn(usize, usize) -> f32,
    terms: &[Term],
    finish: impl Fn(usize, usize, f32) -> f32,
) {
    let rows = out.len() / columns;
    let whole = rows - rows % BLOCK_UNITS;
    for r0 in (0..whole).step_by(BLOCK_UNITS) {
        write_product_block::<BLOCK_UNITS>(out, columns, r0, &start, terms, &finish);
    }
    for r0 in whole..rows {
        write_product_block::<1>(out, columns, r0, &start, terms, &finish);
    }
}

#[inline(always)]
fn write_product_block<const ROWS: usize>(
    out: &mut [f32],
    columns: usize,
    r0: usize,
    start: &impl Fn(usize, usize) -> f32,
    terms: &[Term],
    finish: &impl Fn(usize, usize, f32) -> f32,
) {
    for c0 in (0..columns).step_by(LANES) {
        let mut acc: [[f32; LANES]; ROWS] = std::array::from_fn(|i| std::array::from_fn(|k| start(r0 + i, c0 + k)));
        for term in terms {
            acc = add_term_block(acc, term, columns, r0, c0);
        }
        for (i, row) in acc.iter().enumerate() {
            let written: [f32; LANES] = std::array::from_fn(|k| finish(r0 + i, c0 + k, row[k]));
            out[(r0 + i) * columns + c0..][..LANES].copy_from_slice(&written);
        }
    }
}

/// `acc[i][k] += Σ_j matrix[r0 + i][j] · input[j][c0 + k]`, one `mul_add` per product in the
/// order of `j`. The block goes in and out by value and the rows are sliced once, so that the
/// accumulators stay in registers and the inner loop checks no bounds (they had been kept on
/// the stack, stored and reloaded for every `j`).
#[inline(always)]
fn add_term_block<const ROWS: usize>(
    mut acc: [[f32; LANES]; ROWS],
    term: &Term,
    columns: usize,
    r0: usize,
    c0: usize,
) -> [[f32; LANES]; ROWS] {
    let inner = term.inner;
    let rows: [&[f32]; ROWS] = std::array::from_fn(|i| &term.matrix[(r0 + i) * inner..][..inner]);
    let input = &term.input[..inner * columns];
    for (j, input_row) in input.chunks_exact(columns).enumerate() {
        let v: [f32; LANES] = input_row[c0..c0 + LANES].try_into().unwrap();
        let f: [f32; ROWS] = std::array::from_fn(|i| rows[i][j]);
        for i in 0..ROWS {
            for k in 0..LANES {
                acc[i][k] = f[i].mul_add(v[k], acc[i][k]);
            }
        }
    }
    acc
}

/// `gram[u][v] += Σ_pairs Σ_c left[u][c] · right[v][c]`: `gram` row-major with `right_rows`
/// columns; each pair's matrices feature-major rows of `columns`.
#[inline(always)]
fn add_gram(gram: &mut [f32], right_rows: usize, pairs: &[(&[f32], &[f32])], columns: usize) {
    let left_rows = gram.len() / right_rows;
    let (u_whole, v_whole) = (left_rows - left_rows % 4, right_rows - right_rows % 2);
    for u0 in (0..left_rows).step_by(4) {
        for v0 in (0..right_rows).step_by(2) {
            match (u0 < u_whole, v0 < v_whole) {
                (true, true) => add_gram_block::<4, 2>(gram, right_rows, pairs, columns, u0, v0),
                (true, false) => add_gram_block::<4, 1>(gram, right_rows, pairs, columns, u0, v0),
                (false, true) => {
                    for u in u0..left_rows {
                        add_gram_block::<1, 2>(gram, right_rows, pairs, columns, u, v0);
                    }
                }
                (false, false) => {
                    for u in u0..left_rows {
                        add_gram_block::<1, 1>(gram, right_rows, pairs, columns, u, v0);
                    }
                }
            }
        }
    }
}

#[inline(always)]
fn add_gram_block<const U: usize, const V: usize>(
    gram: &mut [f32],
    right_rows: usize,
    pairs: &[(&[f32], &[f32])],
    columns: usize,
    u0: usize,
    v0: usize,
) {
    let mut acc = [[[0.0f32; DOT_LANES]; V]; U];
    for &(left, right) in pairs {
        let left_rows: [&[f32]; U] = std::array::from_fn(|i| &left[(u0 + i) * columns..][..columns]);
        let right_rows: [&[f32]; V] = std::array::from_fn(|j| &right[(v0 + j) * columns..][..columns]);
        for c0 in (0..columns).step_by(DOT_LANES) {
            // Copies into fixed-size arrays, so that the loops below compile to whole registers.
            let l: [[f32; DOT_LANES]; U] =
                std::array::from_fn(|i| left_rows[i][c0..c0 + DOT_LANES].try_into().unwrap());
            let r: [[f32; DOT_LANES]; V] =
                std::array::from_fn(|j| right_rows[j][c0..c0 + DOT_LANES].try_into().unwrap());
            for i in 0..U {
                for j in 0..V {
                    for k in 0..DOT_LANES {
                        acc[i][j][k] = l[i][k].mul_add(r[j][k], acc[i][j][k]);
                    }
                }
            }
        }
    }
    for (i, acc_u) in acc.iter().enumerate() {
        for (j, &lanes) in acc_u.iter().enumerate() {
            gram[(u0 + i) * right_rows + v0 + j] += sum_lanes(lanes);
        }
    }
}

/// Step `t`'s rows of a steps × rows × columns buffer (`size` = rows × columns).
#[inline(always)]
fn step_rows(buffer: &[f32], size: usize, t: usize) -> &[f32] {
    &buffer[t * size..(t + 1) * size]
}

/// Per row of a steps × rows × columns buffer, the sum over steps and columns.
#[inline(always)]
fn row_sums(buffer: &[f32], rows: usize, columns: usize) -> Vec<f32> {
    let mut lanes = vec![[0.0f32; LANES]; rows];
    for (k, row) in buffer.chunks_exact(columns).enumerate() {
        let acc = &mut lanes[k % rows];
        for chunk in row.chunks_exact(LANES) {
            for (a, &x) in acc.iter_mut().zip(chunk) {
                *a += x;
            }
        }
    }
    lanes.into_iter().map(sum_lanes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::teacher_rnn::{StateRange, Teacher, sequences};

    #[test]
    fn the_avx2_and_portable_builds_give_the_same_bits() {
        // 64 units (the blocked weight-gradient path) and 8 (the dot-product path); 20
        // sequences, so four padding columns.
        for hidden in [64, 8] {
            let shape = Shape {
                hidden,
                inputs: 2,
                outputs: 2,
            };
            let data: Vec<Sequence> = sequences(&Teacher::new(1), StateRange::Uniform, 20, 6, 2)
                .into_iter()
                .map(|s| s.sequence)
                .collect();
            let batch: Vec<&Sequence> = data.iter().collect();
            let minibatch = Minibatch::new(&shape, &batch);
            let weights = crate::model::student_rnn::init(shape, 3);
            let objective = Objective {
                target: 10.0,
                activity: 1.0,
                weight: 1.0,
                positivity: 0.0,
                weight_per_entry: true,
            };
            let (terms, grad) = loss_and_gradient(&weights, &objective, &minibatch, &mut Workspace::default());
            let (portable_terms, portable_grad) =
                loss_and_gradient_portable(&weights, &objective, &minibatch, &mut Workspace::default());
            assert_eq!(terms.total().to_bits(), portable_terms.total().to_bits());
            let bits = |g: &[f64]| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&grad), bits(&portable_grad), "hidden {hidden}");
            assert!(grad.iter().any(|&g| g != 0.0));
        }
    }
}
