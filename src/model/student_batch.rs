//! The Fig 3f–g student's loss and gradient for a whole minibatch, written out in f32 — the
//! precision of the authors' PyTorch student (`disentangled_rnn_train_clean.py` casts inputs
//! and targets to `torch.float32` and keeps PyTorch's default float32 parameters).
//!
//! Activations are stored feature-major (unit × batch column), so that every inner loop runs
//! along the batch: a product is a few fused multiply-adds per 16 batch columns held in
//! registers, blocked over 4 output units. The batch is padded to a multiple of 16 columns;
//! padding columns carry zero states and zero errors, so they add nothing. Every product is
//! added with `mul_add` (exactly rounded) and no sum is reordered between builds, so the
//! AVX-512 build (its products in [`super::student_avx512`]), the AVX2+FMA one (chosen at run
//! time, in that order) and the portable one give the same bits (tested).
//!
//! The batch may be cut into parts (whole blocks of 16 columns) that run their forward and
//! backward passes on threads of their own: a column's states and errors never depend on
//! another column's. Every sum across columns (the loss, the weight gradients) then takes the
//! parts' columns in order, and the weight gradients' rows are shared among the threads, so
//! any number of parts gives the same bits (tested).

use super::dense_ae::sum_lanes;
use super::frequency_rnn::{LossTerms, Objective, Shape, Weights, blocks};
use crate::data::frequency_task::Sequence;

/// Batch columns per register block: two AVX2 registers of f32.
const LANES: usize = 16;
/// Output units per register block of a product.
const BLOCK_UNITS: usize = 4;
/// Lanes of a dot product along the batch (one AVX2 register), for the weight gradients.
const DOT_LANES: usize = 8;

/// A minibatch in the kernel's layout, cut into parts that are computed side by side.
#[derive(Debug, Clone)]
pub struct Minibatch {
    shape: Shape,
    steps: usize,
    parts: Vec<Part>,
}

/// Consecutive sequences of a minibatch: per step, inputs and targets feature-major.
#[derive(Debug, Clone)]
struct Part {
    /// Sequences in this part (the rest of its columns are padding).
    sequences: usize,
    /// Columns per row: a multiple of [`LANES`].
    columns: usize,
    /// steps × inputs × columns.
    inputs: Vec<f32>,
    /// steps × outputs × columns.
    targets: Vec<f32>,
}

impl Minibatch {
    /// Sequences of equal length, with `shape.inputs` inputs and `shape.outputs` targets, cut
    /// into at most `parts` parts of whole 16-column blocks (at least one), each computed on its
    /// own thread. The split changes the time a step takes, not its bits.
    pub fn new(shape: &Shape, sequences: &[&Sequence], parts: usize) -> Self {
        let batch = sequences.len();
        let steps = sequences.first().map_or(0, |s| s.inputs.len());
        let blocks = batch.div_ceil(LANES).max(1);
        let part_count = parts.clamp(1, blocks);
        let mut first = 0;
        let parts = (0..part_count)
            .map(|k| {
                let columns = (blocks / part_count + usize::from(k < blocks % part_count)) * LANES;
                let members = &sequences[first.min(batch)..(first + columns).min(batch)];
                first += columns;
                Part::new(shape, members, steps, columns)
            })
            .collect();
        Self {
            shape: *shape,
            steps,
            parts,
        }
    }
}

impl Part {
    fn new(shape: &Shape, sequences: &[&Sequence], steps: usize, columns: usize) -> Self {
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
            sequences: sequences.len(),
            columns,
            inputs,
            targets,
        }
    }

    fn input(&self, ni: usize, t: usize) -> &[f32] {
        &self.inputs[t * ni * self.columns..(t + 1) * ni * self.columns]
    }
}

/// Buffers kept from one training step to the next (one set per part, resized to each
/// minibatch), so that a step allocates none of its activations.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    parts: Vec<PartBuffers>,
}

#[derive(Debug, Clone, Default)]
struct PartBuffers {
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

/// What a part's passes need besides its data: the weights and the loss's constants.
struct Pass<'a> {
    shape: Shape,
    steps: usize,
    p: &'a Parameters,
    /// The fit's weight, and batch · steps · outputs.
    fit: f32,
    per_output: f32,
    /// The activity cost's weight, and batch · steps · hidden.
    activity: f32,
    per_unit: f32,
}

/// The mean loss terms over the minibatch and the gradient of their sum (flat order of
/// [`Weights`]). Activations and gradients are f32; the weight cost and its gradient are taken
/// in f64 from the f64 weights. Parts run on threads of their own.
pub fn loss_and_gradient(
    weights: &Weights,
    objective: &Objective,
    minibatch: &Minibatch,
    workspace: &mut Workspace,
) -> (LossTerms, Vec<f64>) {
    loss_and_gradient_in(Build::Detect, weights, objective, minibatch, workspace)
}

fn loss_and_gradient_in(
    build: Build,
    weights: &Weights,
    objective: &Objective,
    minibatch: &Minibatch,
    workspace: &mut Workspace,
) -> (LossTerms, Vec<f64>) {
    assert_eq!(
        weights.shape, minibatch.shape,
        "the minibatch was laid out for these weights"
    );
    let shape = weights.shape;
    let (n, no) = (shape.hidden, shape.outputs);
    let (batch, steps) = (
        minibatch.parts.iter().map(|p| p.sequences).sum::<usize>(),
        minibatch.steps,
    );
    let p = Parameters::new(weights);
    let (per_output, per_unit) = ((batch * steps * no) as f32, (batch * steps * n) as f32);
    let pass = Pass {
        shape,
        steps,
        p: &p,
        fit: objective.target as f32,
        per_output,
        activity: objective.activity as f32,
        per_unit,
    };
    let parts = &minibatch.parts;
    workspace.parts.resize_with(parts.len(), PartBuffers::default);
    let buffers = &mut workspace.parts[..];

    // Forward and backward, part by part: columns are independent until the sums below.
    std::thread::scope(|scope| {
        let (first_buffers, other_buffers) = buffers.split_first_mut().expect("at least one part");
        for (part, part_buffers) in parts[1..].iter().zip(other_buffers) {
            let pass = &pass;
            scope.spawn(move || run_part(build, pass, part, part_buffers));
        }
        run_part(build, &pass, &parts[0], first_buffers);
    });
    let buffers = &workspace.parts[..];
    let (squared_error, squared_activity) = squared_sums(build, &pass, parts, buffers);

    // Weight gradients, sums over steps and columns (parts in order): W's rows shared among
    // the threads, the small blocks on this one.
    let mut g_w = vec![0.0f32; n * n];
    let threads = parts.len();
    let rows_per_thread = n.div_ceil(threads).next_multiple_of(BLOCK_UNITS);
    std::thread::scope(|scope| {
        let mut chunks = g_w.chunks_mut(rows_per_thread * n).enumerate();
        let first = chunks.next();
        for (k, rows) in chunks {
            let pass = &pass;
            scope.spawn(move || recurrent_gradient_rows(build, pass, parts, buffers, k * rows_per_thread, rows));
        }
        if let Some((_, rows)) = first {
            recurrent_gradient_rows(build, &pass, parts, buffers, 0, rows);
        }
    });
    let (g_w_in, g_w_out, g_b, g_b_out) = small_gradients(build, &pass, parts, buffers);

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
    let ni = shape.inputs;
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

/// Which build of the loops runs: the fastest the CPU allows, or (for the tests) a slower one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Build {
    Detect,
    #[cfg_attr(not(test), allow(dead_code))]
    Avx2,
    #[cfg_attr(not(test), allow(dead_code))]
    Portable,
}

/// Runs `$body::<false>(args…)` compiled for AVX2 and FMA where the CPU has them: each
/// `mul_add` one instruction (the portable build calls the C library's `fmaf`, slower but
/// rounded the same); and `$body::<true>` compiled with AVX-512 F too where the CPU has that
/// (`WIDE`: the products in [`super::student_avx512`]'s registers). Every loop below is
/// `#[inline(always)]`, so each build has its own copy.
macro_rules! dispatch_fma {
    ($vis:vis fn $name:ident / $avx2:ident, $avx512:ident => $body:ident ($($arg:ident: $ty:ty),*) $(-> $ret:ty)?) => {
        $vis fn $name(build: Build, $($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            if build == Build::Detect
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU has AVX-512 F, AVX2 and FMA, checked just above.
                return unsafe { $avx512($($arg),*) };
            }
            #[cfg(target_arch = "x86_64")]
            if build != Build::Portable
                && std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU has AVX2 and FMA, checked just above.
                return unsafe { $avx2($($arg),*) };
            }
            $body::<false>($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        fn $avx2($($arg: $ty),*) $(-> $ret)? {
            $body::<false>($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma,avx512f")]
        fn $avx512($($arg: $ty),*) $(-> $ret)? {
            $body::<true>($($arg),*)
        }
    };
}

dispatch_fma!(fn run_part / run_part_avx2, run_part_avx512 => run_part_body(pass: &Pass, part: &Part, buffers: &mut PartBuffers));
dispatch_fma!(fn squared_sums / squared_sums_avx2, squared_sums_avx512 => squared_sums_body(pass: &Pass, parts: &[Part], buffers: &[PartBuffers]) -> (f64, f64));
dispatch_fma!(fn recurrent_gradient_rows / recurrent_gradient_rows_avx2, recurrent_gradient_rows_avx512 => recurrent_gradient_rows_body(pass: &Pass, parts: &[Part], buffers: &[PartBuffers], first_row: usize, rows: &mut [f32]));
dispatch_fma!(fn small_gradients / small_gradients_avx2, small_gradients_avx512 => small_gradients_body(pass: &Pass, parts: &[Part], buffers: &[PartBuffers]) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>));

/// A part's forward pass, dL/dy, δ, and (for the blocked weight gradients) its states
/// transposed.
#[inline(always)]
fn run_part_body<const WIDE: bool>(pass: &Pass, part: &Part, ws: &mut PartBuffers) {
    let Pass { shape, steps, p, .. } = *pass;
    let (n, ni, no) = (shape.hidden, shape.inputs, shape.outputs);
    let (batch, columns) = (part.sequences, part.columns);
    let (hidden_size, output_size) = (n * columns, no * columns);
    for (buffer, len) in [
        (&mut ws.states, steps * hidden_size),
        (&mut ws.outputs, steps * output_size),
        (&mut ws.output_deltas, steps * output_size),
        (&mut ws.deltas, steps * hidden_size),
    ] {
        // No clearing: every entry is written before it is read (`write_products` writes
        // whole rows), and zeroing ≈ 1 MB per part per iteration was 8 % of the student's time.
        buffer.resize(len, 0.0);
    }
    let target = |t: usize| &part.targets[t * output_size..(t + 1) * output_size];

    // Forward: a_t = W h_{t−1} + W_in x_t + b_rec + b_in, h_t = relu(a_t), y_t = W_out h_t + b_out.
    // Padding columns are given zero states, so they add nothing downstream.
    for t in 0..steps {
        let (done, rest) = ws.states.split_at_mut(t * hidden_size);
        let h = &mut rest[..hidden_size];
        let from_input = Term::new(&p.w_in, part.input(ni, t), columns);
        let terms = if t > 0 {
            vec![
                from_input,
                Term::new(&p.w, &done[(t - 1) * hidden_size..t * hidden_size], columns),
            ]
        } else {
            vec![from_input]
        };
        products::<WIDE>(
            h,
            columns,
            |u, _| p.bias[u],
            &terms,
            |_, c, a| if c < batch { a.max(0.0) } else { 0.0 },
        );
        let y = &mut ws.outputs[t * output_size..(t + 1) * output_size];
        products::<WIDE>(
            y,
            columns,
            |o, _| p.b_out[o],
            &[Term::new(&p.w_out, h, columns)],
            |_, _, v| v,
        );
    }

    let (fit, per_output, activity, per_unit) = (pass.fit, pass.per_output, pass.activity, pass.per_unit);
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
            for (c, (d, (&y, &target))) in dy_row.iter_mut().zip(y_row.iter().zip(t_row)).enumerate() {
                let e = if c < batch { y - target } else { 0.0 };
                *d = fit * 2.0 * e / per_output;
            }
        }
        let (now, later) = ws.deltas.split_at_mut((t + 1) * hidden_size);
        let delta = &mut now[t * hidden_size..];
        let from_output = Term::new(&p.w_out_transposed, dy, columns);
        let terms = if t + 1 < steps {
            vec![from_output, Term::new(&p.w_transposed, &later[..hidden_size], columns)]
        } else {
            vec![from_output]
        };
        // h > 0 exactly where a > 0; padding columns have h = 0, so their δ is 0.
        products::<WIDE>(
            delta,
            columns,
            |u, c| 2.0 * activity * h[u * columns + c] / per_unit,
            &terms,
            |u, c, d| if h[u * columns + c] > 0.0 { d } else { 0.0 },
        );
    }

    if n.is_multiple_of(LANES) {
        // The weight gradients' right factor, batch-major rows of `hidden`: their product loop
        // then runs along units, 16 at a time.
        let transposed = &mut ws.states_transposed;
        transposed.resize(steps * hidden_size, 0.0);
        for (h, h_t) in ws
            .states
            .chunks_exact(hidden_size)
            .zip(transposed.chunks_exact_mut(hidden_size))
        {
            // In tiles of 16 units × 16 columns, so that the reads and the writes both stay in
            // a few cache lines (one unit at a time, the writes strode 256 bytes: 13 % of the
            // student's time). A copy, so the order does not touch the bits.
            for u0 in (0..n).step_by(LANES) {
                for c0 in (0..columns).step_by(LANES) {
                    for u in u0..u0 + LANES {
                        let row = &h[u * columns + c0..][..LANES];
                        for (k, &v) in row.iter().enumerate() {
                            h_t[(c0 + k) * n + u] = v;
                        }
                    }
                }
            }
        }
    }
}

/// Σ (y − target)² and Σ h², over steps from the last, rows, and the parts' columns in order,
/// in 16 lanes (padding columns count zero errors and have zero states). No products, so
/// `WIDE` changes nothing here.
#[inline(always)]
fn squared_sums_body<const WIDE: bool>(pass: &Pass, parts: &[Part], buffers: &[PartBuffers]) -> (f64, f64) {
    let (n, no) = (pass.shape.hidden, pass.shape.outputs);
    let (mut squared_error, mut squared_activity) = (0.0f64, 0.0f64);
    for t in (0..pass.steps).rev() {
        for o in 0..no {
            let mut errors = [0.0f32; LANES];
            for (part, ws) in parts.iter().zip(buffers) {
                let row = (t * no + o) * part.columns..(t * no + o + 1) * part.columns;
                let (y_row, t_row) = (&ws.outputs[row.clone()], &part.targets[row]);
                for c0 in (0..part.columns).step_by(LANES) {
                    for (k, lane) in errors.iter_mut().enumerate() {
                        let c = c0 + k;
                        let e = if c < part.sequences { y_row[c] - t_row[c] } else { 0.0 };
                        *lane = e.mul_add(e, *lane);
                    }
                }
            }
            squared_error += f64::from(sum_lanes(errors));
        }
        let mut squares = [0.0f32; LANES];
        for u in 0..n {
            for (part, ws) in parts.iter().zip(buffers) {
                let row = &ws.states[(t * n + u) * part.columns..(t * n + u + 1) * part.columns];
                for chunk in row.chunks_exact(LANES) {
                    for k in 0..LANES {
                        squares[k] = chunk[k].mul_add(chunk[k], squares[k]);
                    }
                }
            }
        }
        squared_activity += f64::from(sum_lanes(squares));
    }
    (squared_error, squared_activity)
}

/// Rows `first_row..` of dL/dW = Σ_t δ_t · h_{t−1}ᵀ (`rows` holds as many rows as it has room
/// for), each entry a sum over steps and over the parts' columns in order.
#[inline(always)]
fn recurrent_gradient_rows_body<const WIDE: bool>(
    pass: &Pass,
    parts: &[Part],
    buffers: &[PartBuffers],
    first_row: usize,
    rows: &mut [f32],
) {
    let n = pass.shape.hidden;
    let count = rows.len() / n;
    let row_range = move |size: usize| first_row * size..(first_row + count) * size;
    if n.is_multiple_of(LANES) {
        // As products with the states transposed to batch-major rows of `hidden`: the product
        // loop then runs along units, 16 at a time.
        let terms: Vec<_> = (1..pass.steps)
            .flat_map(|t| {
                parts.iter().zip(buffers).map(move |(part, ws)| {
                    let size = n * part.columns;
                    Term::new(
                        &step_rows(&ws.deltas, size, t)[row_range(part.columns)],
                        step_rows(&ws.states_transposed, size, t - 1),
                        n,
                    )
                })
            })
            .collect();
        products::<WIDE>(rows, n, |_, _| 0.0, &terms, |_, _, v| v);
    } else {
        let pairs: Vec<_> = (1..pass.steps)
            .flat_map(|t| {
                parts.iter().zip(buffers).map(move |(part, ws)| {
                    let size = n * part.columns;
                    (
                        &step_rows(&ws.deltas, size, t)[row_range(part.columns)],
                        step_rows(&ws.states, size, t - 1),
                    )
                })
            })
            .collect();
        add_gram(rows, n, &pairs);
    }
}

/// dL/dW_in, dL/dW_out, dL/db (b_rec and b_in alike) and dL/db_out: sums over steps and the
/// parts' columns in order.
#[inline(always)]
fn small_gradients_body<const WIDE: bool>(
    pass: &Pass,
    parts: &[Part],
    buffers: &[PartBuffers],
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
    let (n, ni, no, steps) = (pass.shape.hidden, pass.shape.inputs, pass.shape.outputs, pass.steps);
    let mut g_w_in = vec![0.0f32; n * ni];
    let mut g_w_out = vec![0.0f32; no * n];
    let each_part = |t: usize| parts.iter().zip(buffers).map(move |(part, ws)| (t, part, ws));
    if n.is_multiple_of(LANES) {
        let readout: Vec<_> = (0..steps)
            .flat_map(each_part)
            .map(|(t, part, ws)| {
                Term::new(
                    step_rows(&ws.output_deltas, no * part.columns, t),
                    step_rows(&ws.states_transposed, n * part.columns, t),
                    n,
                )
            })
            .collect();
        products::<WIDE>(&mut g_w_out, n, |_, _| 0.0, &readout, |_, _, v| v);
    } else {
        let readout: Vec<_> = (0..steps)
            .flat_map(each_part)
            .map(|(t, part, ws)| {
                (
                    step_rows(&ws.output_deltas, no * part.columns, t),
                    step_rows(&ws.states, n * part.columns, t),
                )
            })
            .collect();
        add_gram(&mut g_w_out, n, &readout);
    }
    let from_inputs: Vec<_> = (0..steps)
        .flat_map(each_part)
        .map(|(t, part, ws)| (step_rows(&ws.deltas, n * part.columns, t), part.input(ni, t)))
        .collect();
    add_gram(&mut g_w_in, ni, &from_inputs);
    let deltas: Vec<_> = parts
        .iter()
        .zip(buffers)
        .map(|(part, ws)| (&ws.deltas[..], part.columns))
        .collect();
    let output_deltas: Vec<_> = parts
        .iter()
        .zip(buffers)
        .map(|(part, ws)| (&ws.output_deltas[..], part.columns))
        .collect();
    let (g_b, g_b_out) = (row_sums(n, steps, &deltas), row_sums(no, steps, &output_deltas));
    (g_w_in, g_w_out, g_b, g_b_out)
}

/// One product of [`write_products`]: a row-major matrix with `inner` columns times `inner`
/// feature-major rows.
pub(super) struct Term<'a> {
    pub matrix: &'a [f32],
    pub inner: usize,
    pub input: &'a [f32],
}

impl<'a> Term<'a> {
    fn new(matrix: &'a [f32], input: &'a [f32], columns: usize) -> Self {
        let inner = input.len() / columns;
        debug_assert_eq!(matrix.len() % inner, 0);
        Self { matrix, inner, input }
    }
}

/// [`write_products`], or with `WIDE` its AVX-512 version ([`super::student_avx512`]).
#[inline(always)]
fn products<const WIDE: bool>(
    out: &mut [f32],
    columns: usize,
    start: impl Fn(usize, usize) -> f32,
    terms: &[Term],
    finish: impl Fn(usize, usize, f32) -> f32,
) {
    #[cfg(target_arch = "x86_64")]
    if WIDE {
        // SAFETY: WIDE is true only inside the AVX-512 builds `dispatch_fma!` makes, which run
        // only on a CPU that has AVX-512 F.
        unsafe { super::student_avx512::write_products(out, columns, &start, terms, &finish) };
        return;
    }
    write_products(out, columns, start, terms, finish);
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
/// columns; each pair's matrices feature-major rows of that pair's columns (a multiple of
/// [`DOT_LANES`]).
#[inline(always)]
fn add_gram(gram: &mut [f32], right_rows: usize, pairs: &[(&[f32], &[f32])]) {
    let left_rows = gram.len() / right_rows;
    let (u_whole, v_whole) = (left_rows - left_rows % 4, right_rows - right_rows % 2);
    for u0 in (0..left_rows).step_by(4) {
        for v0 in (0..right_rows).step_by(2) {
            match (u0 < u_whole, v0 < v_whole) {
                (true, true) => add_gram_block::<4, 2>(gram, right_rows, pairs, u0, v0),
                (true, false) => add_gram_block::<4, 1>(gram, right_rows, pairs, u0, v0),
                (false, true) => {
                    for u in u0..left_rows {
                        add_gram_block::<1, 2>(gram, right_rows, pairs, u, v0);
                    }
                }
                (false, false) => {
                    for u in u0..left_rows {
                        add_gram_block::<1, 1>(gram, right_rows, pairs, u, v0);
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
    u0: usize,
    v0: usize,
) {
    let left_rows = gram.len() / right_rows;
    let mut acc = [[[0.0f32; DOT_LANES]; V]; U];
    for &(left, right) in pairs {
        let columns = left.len() / left_rows;
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

/// Per row, the sum over steps and columns of steps × rows × columns buffers, one per part
/// (with its columns): the parts' columns in order, in [`LANES`] lanes.
#[inline(always)]
fn row_sums(rows: usize, steps: usize, parts: &[(&[f32], usize)]) -> Vec<f32> {
    let mut lanes = vec![[0.0f32; LANES]; rows];
    for t in 0..steps {
        for (row, acc) in lanes.iter_mut().enumerate() {
            for &(buffer, columns) in parts {
                let k = t * rows + row;
                for chunk in buffer[k * columns..(k + 1) * columns].chunks_exact(LANES) {
                    for (a, &x) in acc.iter_mut().zip(chunk) {
                        *a += x;
                    }
                }
            }
        }
    }
    lanes.into_iter().map(sum_lanes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::teacher_rnn::{StateRange, Teacher, sequences};

    fn data(count: usize) -> Vec<Sequence> {
        sequences(&Teacher::new(1), StateRange::Uniform, count, 6, 2)
            .into_iter()
            .map(|s| s.sequence)
            .collect()
    }

    fn objective() -> Objective {
        Objective {
            target: 10.0,
            activity: 1.0,
            weight: 1.0,
            positivity: 0.0,
            weight_per_entry: true,
        }
    }

    fn bits(g: &[f64]) -> Vec<u64> {
        g.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn every_build_gives_the_same_bits() {
        // 64 units (the blocked weight-gradient path) and 8 (the dot-product path); 20
        // sequences (32 columns, four of them padding: one block of 32 in the AVX-512
        // products) and 40 (48 columns: a block of 32 and one of 16).
        for (hidden, sequences) in [(64, 20), (8, 20), (64, 40), (6, 40)] {
            let shape = Shape {
                hidden,
                inputs: 2,
                outputs: 2,
            };
            let data = data(sequences);
            let batch: Vec<&Sequence> = data.iter().collect();
            let minibatch = Minibatch::new(&shape, &batch, 1);
            let weights = crate::model::student_rnn::init(shape, 3);
            let (terms, grad) = loss_and_gradient(&weights, &objective(), &minibatch, &mut Workspace::default());
            for build in [Build::Avx2, Build::Portable] {
                let (other_terms, other_grad) =
                    loss_and_gradient_in(build, &weights, &objective(), &minibatch, &mut Workspace::default());
                assert_eq!(terms.total().to_bits(), other_terms.total().to_bits(), "{build:?}");
                assert_eq!(bits(&grad), bits(&other_grad), "hidden {hidden}, {build:?}");
            }
            assert!(grad.iter().any(|&g| g != 0.0));
        }
    }

    /// Buffers are not cleared between iterations (each entry is written before it is read):
    /// a workspace left full of another minibatch's numbers, on other weights, gives the bits
    /// of a fresh one.
    #[test]
    fn a_used_workspace_gives_the_bits_of_a_fresh_one() {
        for hidden in [64, 12] {
            let shape = Shape {
                hidden,
                inputs: 2,
                outputs: 2,
            };
            let (first, second) = (data(50), data(37));
            let mut used = Workspace::default();
            for parts in [1, 2] {
                let other: Vec<&Sequence> = first.iter().collect();
                let other_weights = crate::model::student_rnn::init(shape, 8);
                loss_and_gradient(
                    &other_weights,
                    &objective(),
                    &Minibatch::new(&shape, &other, parts),
                    &mut used,
                );
                let batch: Vec<&Sequence> = second.iter().rev().collect();
                let minibatch = Minibatch::new(&shape, &batch, parts);
                let weights = crate::model::student_rnn::init(shape, 9);
                let again = loss_and_gradient(&weights, &objective(), &minibatch, &mut used);
                let fresh = loss_and_gradient(&weights, &objective(), &minibatch, &mut Workspace::default());
                assert_eq!(again.0.total().to_bits(), fresh.0.total().to_bits());
                assert_eq!(bits(&again.1), bits(&fresh.1), "{hidden} units, {parts} parts");
            }
        }
    }

    #[test]
    fn any_number_of_parts_gives_the_same_bits() {
        // 50 sequences: four blocks of 16 columns, the last with 14 padding columns; one part,
        // or two, three or four (blocks shared unevenly), on as many threads. 64 units take
        // the blocked weight gradients (W's rows shared among the threads), 12 the gram path.
        for hidden in [64, 12] {
            let shape = Shape {
                hidden,
                inputs: 2,
                outputs: 2,
            };
            let data = data(50);
            let batch: Vec<&Sequence> = data.iter().collect();
            let weights = crate::model::student_rnn::init(shape, 4);
            let mut workspace = Workspace::default();
            let whole = loss_and_gradient(
                &weights,
                &objective(),
                &Minibatch::new(&shape, &batch, 1),
                &mut workspace,
            );
            for parts in [2, 3, 4, 9] {
                let minibatch = Minibatch::new(&shape, &batch, parts);
                assert_eq!(minibatch.parts.len(), parts.min(4));
                // The workspace sized for the last split serves this one.
                let split = loss_and_gradient(&weights, &objective(), &minibatch, &mut workspace);
                assert_eq!(split.0.total().to_bits(), whole.0.total().to_bits(), "{parts} parts");
                assert_eq!(bits(&split.1), bits(&whole.1), "{hidden} units, {parts} parts");
            }
        }
    }
}
