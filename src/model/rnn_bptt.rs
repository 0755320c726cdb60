//! Backpropagation through time for the rate RNN of Krause et al. 2022, written out in f32
//! with matrix products — the loss and gradient [`super::rnn_training`] trains on. The products
//! are faer's, or on AVX-512 CPUs [`super::bptt_products`]' kernels with faer's bits.
//!
//! Row-vector form, batch rows: X_t = (1 − α) X_{t−1} + α R_{t−1} Wᵀ + α U_t Bᵀ + E_t,
//! R_t = tanh(X_t), z_t = R_t w_out, X_{−1} = R_{−1} = 0, E_t ~ N(0, (ασ)²) drawn per step
//! in (trial, unit) order; loss = mean over steps and trials of (z − y)².
//!
//! Why by hand rather than Burn's autodiff: per step the work is one (batch × 100)·(100 × 100)
//! product forward and one backward; Burn's graph adds a node and an allocation per operation
//! per step (≈ 30 per step, 42,000 per integration iteration), which cost more than the
//! arithmetic. Here the forward keeps each step's rates, the backward runs the recursion for
//! dX_t, and the two weight gradients are one large product each over all steps at the end
//! (Σ_t dX_tᵀ R_{t−1} as one (N × T·B)·(T·B × N) product), at full SIMD width.
//! `Par::Seq` everywhere and single-threaded kernels: a result never depends on how many cores
//! there are.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

use super::bptt_products::{add_scaled_product, input_gradient, weight_and_readout_gradients};
use super::rate_rnn::{ALPHA, NOISE_SD};
use super::sized;
use super::transpose;
use crate::data::krause_tasks::Trial;
use crate::rng::SplitMix64;

/// tanh in f32 as a rational function of x (odd degree 13 over even degree 6; the minimax fit
/// Eigen uses for its vectorised `tanh`), exact to a few ulp on [−7.9, 7.9] and ±1 beyond. It
/// is straight-line arithmetic, so the compiler vectorises the loops that call it; libm's
/// scalar `tanhf` was a quarter of a training iteration.
#[inline(always)]
pub fn fast_tanh(x: f32) -> f32 {
    const CLAMP: f32 = 7.905_311;
    const ALPHA: [f32; 7] = [
        4.893_524_6e-3,
        6.372_619_3e-4,
        1.485_722_4e-5,
        5.122_297e-8,
        -8.604_672e-11,
        2.000_188e-13,
        -2.760_768_5e-16,
    ];
    const BETA: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347e-4, 1.198_258_4e-6];
    let x = x.clamp(-CLAMP, CLAMP);
    let x2 = x * x;
    let mut p = ALPHA[6];
    for a in ALPHA[..6].iter().rev() {
        p = p * x2 + a;
    }
    let q = ((BETA[3] * x2 + BETA[2]) * x2 + BETA[1]) * x2 + BETA[0];
    // Near 0 the ratio is x·(α₁/β₀) to rounding; returning x keeps tanh(x) ≈ x exact there.
    if x.abs() < 4e-4 { x } else { x * p / q }
}

/// The trained parameters, f32, row-major: W (N × N), B (N × inputs), w_out (N).
#[derive(Debug, Clone, PartialEq)]
pub struct Parameters {
    pub n: usize,
    pub inputs: usize,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
    pub w_out: Vec<f32>,
}

/// Gradients of the loss, laid out as [`Parameters`].
#[derive(Debug, Clone, PartialEq)]
pub struct Gradient {
    pub w: Vec<f32>,
    pub b: Vec<f32>,
    pub w_out: Vec<f32>,
}

/// The large per-iteration buffers (inputs, rates and state gradients of every step:
/// ≈ 18 MB each at the authors' batch), kept from one training iteration to the next. Fresh
/// ones cost page faults and the kernel's zeroing on every iteration (≈ 13 % of a Krause
/// training step).
#[derive(Debug, Default)]
pub struct Workspace {
    inputs: Vec<f32>,
    rates: Vec<f32>,
    state_gradients: Vec<f32>,
}

/// The loss on `trials` (all of one length) with network noise drawn from `rng`, and its gradient.
pub fn loss_and_gradient(p: &Parameters, trials: &[Trial], rng: &mut SplitMix64) -> (f32, Gradient) {
    loss_and_gradient_in(p, trials, rng, &mut Workspace::default())
}

/// [`loss_and_gradient`] with its large buffers taken from `workspace`.
///
/// The elementwise passes (the state update, tanh, the backward step) are compiled for AVX2
/// too, chosen at run time: half the instructions of the SSE2 build. Nothing is fused or
/// reordered (Rust never contracts `a * b + c` on its own), so both builds give the same bits
/// (tested).
pub fn loss_and_gradient_in(
    p: &Parameters,
    trials: &[Trial],
    rng: &mut SplitMix64,
    workspace: &mut Workspace,
) -> (f32, Gradient) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { loss_and_gradient_avx2(p, trials, rng, workspace) };
    }
    loss_and_gradient_body(p, trials, rng, workspace)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn loss_and_gradient_avx2(
    p: &Parameters,
    trials: &[Trial],
    rng: &mut SplitMix64,
    workspace: &mut Workspace,
) -> (f32, Gradient) {
    loss_and_gradient_body(p, trials, rng, workspace)
}

#[inline(always)]
fn loss_and_gradient_body(
    p: &Parameters,
    trials: &[Trial],
    rng: &mut SplitMix64,
    workspace: &mut Workspace,
) -> (f32, Gradient) {
    let (n, ni) = (p.n, p.inputs);
    let (batch, steps) = (trials.len(), trials.first().map_or(0, |t| t.inputs.len()));
    let rows = batch * steps;
    let alpha = ALPHA as f32;
    // Wᵀ for the forward's per-step product R_{t−1} Wᵀ, laid out once (the backward's dX_{t+1} W
    // reads W in place).
    let w_transposed = transpose(&p.w, n, n);

    // Inputs of every step, step-major rows (row t·B + b is trial b at step t), as the rates.
    let Workspace {
        inputs,
        rates,
        state_gradients,
    } = workspace;
    assert!(
        trials
            .iter()
            .all(|tr| tr.inputs.len() == steps && tr.inputs.iter().all(|u| u.len() == ni)),
        "every trial has {steps} steps of {ni} inputs"
    );
    let inputs = sized(inputs, rows * ni);
    for (slot, value) in inputs
        .iter_mut()
        .zip((0..steps).flat_map(|t| trials.iter().flat_map(move |tr| tr.inputs[t].iter().map(|&v| v as f32))))
    {
        *slot = value;
    }
    let inputs_flat = &*inputs;

    // Forward. `rates` holds R_t for every step (each step's rows written before they are
    // read); `x` is the current state.
    let rates = sized(rates, rows * n);
    let mut x = vec![0f32; batch * n];
    let mut noise = vec![0f32; batch * n];
    let mut drive = vec![0f32; batch * n];
    let b_transposed = transpose(&p.b, n, ni);
    for t in 0..steps {
        rng.fill_normal_f32(&mut noise, ALPHA * NOISE_SD);
        let step = t * batch * n..(t + 1) * batch * n;
        input_drive(
            &mut drive,
            &b_transposed,
            &inputs_flat[t * batch * ni..(t + 1) * batch * ni],
            n,
            alpha,
        );
        for ((x, e), d) in x.iter_mut().zip(&noise).zip(&drive) {
            *x = (1.0 - alpha) * *x + d + e;
        }
        if t > 0 {
            let (before, current) = rates.split_at_mut(step.start);
            add_scaled_product(&mut x, &before[step.start - batch * n..], &w_transposed, n, alpha);
            current[..batch * n]
                .iter_mut()
                .zip(&x)
                .for_each(|(r, x)| *r = fast_tanh(*x));
        } else {
            rates[step].iter_mut().zip(&x).for_each(|(r, x)| *r = fast_tanh(*x));
        }
    }

    // Readout and loss: z = R w_out over all steps at once.
    let targets: Vec<f32> = (0..steps)
        .flat_map(|t| trials.iter().map(move |tr| tr.targets[t] as f32))
        .collect();
    let rates_all = MatRef::from_row_major_slice(rates, rows, n);
    let mut z = vec![0f32; rows];
    matmul(
        MatMut::from_column_major_slice_mut(&mut z, rows, 1),
        Accum::Replace,
        rates_all,
        MatRef::from_column_major_slice(&p.w_out, n, 1),
        1.0,
        Par::Seq,
    );
    let scale = 1.0 / rows as f32;
    let mut loss = 0f64;
    let dz: Vec<f32> = z
        .iter()
        .zip(&targets)
        .map(|(z, y)| {
            let e = z - y;
            loss += f64::from(e * e);
            2.0 * e * scale
        })
        .collect();

    // Backward: dR_t = dz_t w_outᵀ + α dX_{t+1} W; dX_t = dR_t ⊙ (1 − R_t²) + (1 − α) dX_{t+1}.
    // Every step's rows of dX are written before they are read.
    let dx_all = sized(state_gradients, rows * n);
    let mut d_rate = vec![0f32; batch * n];
    for t in (0..steps).rev() {
        let step = t * batch * n..(t + 1) * batch * n;
        for (row, chunk) in d_rate.chunks_mut(n).enumerate() {
            let g = dz[t * batch + row];
            chunk.iter_mut().zip(&p.w_out).for_each(|(d, w)| *d = g * w);
        }
        let (current, after) = dx_all.split_at_mut(step.end);
        let current = &mut current[step.clone()];
        if t + 1 < steps {
            let next = &after[..batch * n];
            add_scaled_product(&mut d_rate, next, &p.w, n, alpha);
            for (((dx, dr), r), next) in current.iter_mut().zip(&d_rate).zip(&rates[step.clone()]).zip(next) {
                *dx = dr * (1.0 - r * r) + (1.0 - alpha) * next;
            }
        } else {
            for ((dx, dr), r) in current.iter_mut().zip(&d_rate).zip(&rates[step.clone()]) {
                *dx = dr * (1.0 - r * r);
            }
        }
    }

    // Weight gradients, each one product over every step: g_W = α Σ_{t≥1} dX_tᵀ R_{t−1},
    // g_B = α Σ_t dX_tᵀ U_t, g_w_out = Σ_t R_tᵀ dz_t.
    let mut g_w = vec![0f32; n * n];
    let mut g_w_out = vec![0f32; n];
    let shifted = batch * n;
    weight_and_readout_gradients(&mut g_w, &mut g_w_out, &dx_all[shifted..], rates, &dz, n, alpha);
    let mut g_b = vec![0f32; n * ni];
    input_gradient(&mut g_b, dx_all, inputs_flat, n, ni, alpha);
    (
        (loss / rows as f64) as f32,
        Gradient {
            w: g_w,
            b: g_b,
            w_out: g_w_out,
        },
    )
}

/// One step's α U_t Bᵀ (batch × n, row-major) from `b_transposed` (Bᵀ, inputs × n) and the
/// step's inputs (batch × inputs), with the bits of faer's product of all steps at once, which
/// this replaces (an 18 MB buffer per integration iteration, written and read back): with one
/// input faer scales the input by α and multiplies (its rank-one update); with more, each
/// entry is a fused multiply–add over the inputs in order from +0, then times α (its matrix
/// product). Tested against faer's product.
#[inline(always)]
fn input_drive(drive: &mut [f32], b_transposed: &[f32], inputs: &[f32], n: usize, alpha: f32) {
    let ni = b_transposed.len() / n;
    for (row, u) in drive.chunks_exact_mut(n).zip(inputs.chunks_exact(ni)) {
        if ni == 1 {
            let scaled = alpha * u[0];
            row.iter_mut().zip(b_transposed).for_each(|(d, &b)| *d = b * scaled);
        } else {
            row.fill(0.0);
            for (column, &ui) in b_transposed.chunks_exact(n).zip(u) {
                row.iter_mut().zip(column).for_each(|(d, &b)| *d = b.mul_add(ui, *d));
            }
            row.iter_mut().for_each(|d| *d *= alpha);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_workspace_gives_a_fresh_one_s_bits() {
        let mut rng = SplitMix64::new(5);
        let (n, inputs) = (12, 4);
        let p = Parameters {
            n,
            inputs,
            w: (0..n * n).map(|_| 0.3 * rng.normal() as f32).collect(),
            b: (0..n * inputs).map(|_| rng.normal() as f32).collect(),
            w_out: (0..n).map(|_| 0.3 * rng.normal() as f32).collect(),
        };
        let trials = |length: usize, rng: &mut SplitMix64| -> Vec<Trial> {
            (0..3)
                .map(|_| Trial {
                    inputs: (0..length)
                        .map(|_| (0..inputs).map(|_| rng.normal()).collect())
                        .collect(),
                    targets: (0..length).map(|_| rng.normal()).collect(),
                    context: 0,
                })
                .collect()
        };
        let mut workspace = Workspace::default();
        // Dirty the workspace with a longer batch first, then compare on a shorter one.
        loss_and_gradient_in(&p, &trials(30, &mut rng), &mut SplitMix64::new(1), &mut workspace);
        let batch = trials(20, &mut rng);
        let reused = loss_and_gradient_in(&p, &batch, &mut SplitMix64::new(2), &mut workspace);
        let fresh = loss_and_gradient(&p, &batch, &mut SplitMix64::new(2));
        assert_eq!(reused.0.to_bits(), fresh.0.to_bits());
        let bits = |g: &Gradient| -> Vec<u32> { g.w.iter().chain(&g.b).chain(&g.w_out).map(|v| v.to_bits()).collect() };
        assert_eq!(bits(&reused.1), bits(&fresh.1));
    }

    #[test]
    fn the_accelerated_build_gives_the_portable_build_s_bits() {
        let net = crate::model::rnn_training::initial_network(crate::data::krause_tasks::Task::SineWave, 0.5, 3);
        let p = Parameters {
            n: net.n,
            inputs: net.inputs,
            w: net.w.iter().map(|&v| v as f32).collect(),
            b: net.b.iter().map(|&v| v as f32).collect(),
            w_out: net.w_out.iter().map(|&v| v as f32).collect(),
        };
        let trials: Vec<Trial> = [2, 17, 33].map(crate::data::krause_tasks::sine_trial).to_vec();
        let fast = loss_and_gradient(&p, &trials, &mut SplitMix64::new(4));
        let portable = loss_and_gradient_body(&p, &trials, &mut SplitMix64::new(4), &mut Workspace::default());
        assert_eq!(fast.0.to_bits(), portable.0.to_bits());
        let bits = |g: &Gradient| -> Vec<u32> { g.w.iter().chain(&g.b).chain(&g.w_out).map(|v| v.to_bits()).collect() };
        assert_eq!(bits(&fast.1), bits(&portable.1));
    }

    #[test]
    fn each_step_s_input_drive_has_the_bits_of_faer_s_product_over_all_steps() {
        let mut rng = SplitMix64::new(9);
        let (n, batch, steps, alpha) = (100, 7, 5, 0.1f32);
        for ni in [1, 2, 5] {
            let b: Vec<f32> = (0..n * ni).map(|_| rng.normal() as f32).collect();
            let inputs: Vec<f32> = (0..steps * batch * ni).map(|_| rng.normal() as f32).collect();
            let mut all = vec![0f32; steps * batch * n];
            matmul(
                MatMut::from_row_major_slice_mut(&mut all, steps * batch, n),
                Accum::Replace,
                MatRef::from_row_major_slice(&inputs, steps * batch, ni),
                MatRef::from_row_major_slice(&b, n, ni).transpose(),
                alpha,
                Par::Seq,
            );
            let b_transposed = transpose(&b, n, ni);
            let mut step = vec![0f32; batch * n];
            for t in 0..steps {
                input_drive(
                    &mut step,
                    &b_transposed,
                    &inputs[t * batch * ni..(t + 1) * batch * ni],
                    n,
                    alpha,
                );
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&step),
                    bits(&all[t * batch * n..(t + 1) * batch * n]),
                    "{ni} inputs, step {t}"
                );
            }
        }
    }

    #[test]
    fn fast_tanh_is_tanh_to_a_few_ulp() {
        let mut worst = 0f64;
        for k in -200_000..=200_000 {
            let x = k as f32 * 1e-4; // −20 … 20
            let exact = f64::from(x).tanh();
            let error = (f64::from(fast_tanh(x)) - exact).abs();
            worst = worst.max(error / exact.abs().clamp(1e-30, 1.0));
        }
        // Relative error below 1e-6 (f32's epsilon is 1.2e-7).
        assert!(worst < 1e-6, "worst relative error {worst}");
        assert_eq!(fast_tanh(0.0), 0.0);
        assert_eq!(fast_tanh(50.0), 1.0);
        assert_eq!(fast_tanh(-50.0), -1.0);
        assert_eq!(fast_tanh(f32::INFINITY), 1.0);
    }
}
