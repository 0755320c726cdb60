//! The network of Dorrell et al.'s Fig 1c as the authors train it (`Fig1_Basic.ipynb`): a ReLU
//! code g = relu(I [s̄; 1]) of the demeaned two-source samples s̄, read out by the linear map R
//! that ridge regression gives for the current code — solved in closed form at every step and
//! differentiated through, so only the encoder I is a parameter.
//!
//! Loss, as the notebook writes it (μ's in [`RidgeObjective`]):
//!   μ_fit · relu(‖S − Rᵀ g_b‖_F − τ) + μ_act Σ g² + μ_I Σ I[:, :2]² + μ_R Σ R[:, 0]²,
//! with g_b = [g; 1], R = (g_b g_bᵀ + λ I)⁻¹ g_b Sᵀ and S the samples as given. Two details are
//! the notebook's and kept: its readout penalty calls the encoder's penalty on R, which drops
//! R's last column (the second output's weights), not its bias row; and its positivity term
//! Σ relu(−g) is 0 for a ReLU code, so it is left out. The gradient is written out below
//! (checked against finite differences in the tests) because the model is a few hundred numbers
//! and the notebook's schedule is 10⁷ Adam steps: plain f64 loops beat a tensor library here.

use faer::dyn_stack::{MemBuffer, MemStack, StackReq};
use faer::linalg::cholesky::llt;
use faer::{Conj, Mat, Par};
use serde::{Deserialize, Serialize};

use super::adam::{Adam, AdamSettings};
use crate::rng::SplitMix64;

/// The loss's weights (the notebook's `mu_fit`, `fit_thresh`, `mu_G`, `mu_I`, `mu_R` and the
/// ridge in `generate_R`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RidgeObjective {
    pub fit: f64,
    /// The fit error ‖S − Rᵀg_b‖_F below which the fit term is 0.
    pub fit_threshold: f64,
    pub activity: f64,
    pub weight: f64,
    pub readout: f64,
    pub ridge: f64,
}

/// Adam on I from a small random start (the notebook: N(0, 1)·10⁻³, bias column 2); the
/// parameters with the lowest loss seen are what training keeps, as the notebook's `params_best`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RidgeTraining {
    pub steps: usize,
    pub adam: AdamSettings,
    pub init_sd: f64,
    pub init_bias: f64,
}

/// One point set as the network sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// [s̄₁, s̄₂, 1] per sample: demeaned sources and the bias input.
    pub inputs: Vec<[f64; 3]>,
    /// The samples as given (the notebook's targets are not demeaned; R has a bias row).
    pub targets: Vec<[f64; 2]>,
}

impl Problem {
    pub fn new(points: &[[f64; 2]]) -> Self {
        let n = points.len().max(1) as f64;
        let mean = [0, 1].map(|i| points.iter().map(|p| p[i]).sum::<f64>() / n);
        Self {
            inputs: points.iter().map(|p| [p[0] - mean[0], p[1] - mean[1], 1.0]).collect(),
            targets: points.to_vec(),
        }
    }
}

/// The loss and its terms at one encoder.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossParts {
    pub total: f64,
    /// ‖S − Rᵀ g_b‖_F.
    pub fit_error: f64,
    pub activity: f64,
}

/// The encoder I (hidden × 3, row-major: per unit its weights on s̄₁, s̄₂ and the bias).
pub type Encoder = Vec<[f64; 3]>;

/// The code relu(I x) of one input.
pub fn code(encoder: &[[f64; 3]], input: &[f64; 3]) -> Vec<f64> {
    encoder
        .iter()
        .map(|w| (w[0] * input[0] + w[1] * input[1] + w[2] * input[2]).max(0.0))
        .collect()
}

pub fn init(hidden: usize, training: &RidgeTraining, seed: u64) -> Encoder {
    let mut rng = SplitMix64::new(seed);
    (0..hidden)
        .map(|_| {
            let a = rng.normal() * training.init_sd;
            let b = rng.normal() * training.init_sd;
            rng.normal(); // the bias entry's draw, overwritten as the notebook does
            [a, b, training.init_bias]
        })
        .collect()
}

/// The loss at `encoder` and, into `grad` (same layout, flattened), its gradient.
pub fn loss_and_grad(
    encoder: &[[f64; 3]],
    problem: &Problem,
    objective: &RidgeObjective,
    grad: &mut [f64],
) -> LossParts {
    loss_and_grad_in(
        encoder,
        problem,
        objective,
        grad,
        &mut Workspace::new(encoder.len(), problem),
    )
}

/// The matrices of one step, kept from step to step. At this size (10 units, 28 points) a
/// step is ≈ 10 k multiply–adds, which faer's operators spent most of their time allocating
/// for and dispatching; keeping the buffers alone gained nothing measurable, the products
/// written out below (a vector of rows at a time) halved the step.
///
/// The matrices the products read and write are column-major with their rows padded to a
/// multiple of [`LANES`] (the padding stays 0), so that every column is whole vectors; the
/// ones faer's factorisation and solves and the norm work on are faer matrices, laid out as
/// the fresh ones it allocated, so that those run exactly as before.
pub struct Workspace {
    hidden: usize,
    points: usize,
    /// Padded row counts of k = hidden + 1 and p = points.
    ld_k: usize,
    ld_p: usize,
    /// The targets S, column-major p × 2 (fixed for a problem).
    targets: Vec<f64>,
    /// The code with its row of ones g_b (k × p) and its transpose (p × k).
    gb: Vec<f64>,
    gb_t: Vec<f64>,
    /// g_b g_bᵀ (k × k).
    gram: Vec<f64>,
    /// g_b g_bᵀ + λI as faer factors it (its lower triangle), then the factor.
    factor: Mat<f64>,
    /// C then R, and R̄ then C̄ (k × 2), solved in place; `r` and `c_bar` are copies to read.
    solved: Mat<f64>,
    solved_bar: Mat<f64>,
    r: Vec<f64>,
    c_bar: Vec<f64>,
    /// g_bᵀ R (p × 2), the error S − g_bᵀ R (p × 2) as faer takes its norm, and P̄ (p × 2).
    prediction: Vec<f64>,
    error: Mat<f64>,
    pred_bar: Vec<f64>,
    /// Ḡ_b (k × p) and a k × p product added to it.
    gb_bar: Vec<f64>,
    product: Vec<f64>,
    /// C̄ Rᵀ (k × k), then M̄ + M̄ᵀ.
    m_bar: Vec<f64>,
    m_bar_sym: Vec<f64>,
    scratch: MemBuffer,
}

/// Rows per vector of output: eight f64, one AVX-512 register (two AVX2 ones).
const LANES: usize = 8;

impl Workspace {
    pub fn new(hidden: usize, problem: &Problem) -> Self {
        let (k, p) = (hidden + 1, problem.inputs.len());
        let (ld_k, ld_p) = (k.next_multiple_of(LANES), p.next_multiple_of(LANES));
        let scratch = StackReq::any_of(&[
            llt::factor::cholesky_in_place_scratch::<f64>(k, Par::Seq, Default::default()),
            llt::solve::solve_in_place_scratch::<f64>(k, 2, Par::Seq),
        ]);
        Self {
            hidden,
            points: p,
            ld_k,
            ld_p,
            targets: (0..2).flat_map(|o| problem.targets.iter().map(move |t| t[o])).collect(),
            gb: vec![0.0; ld_k * p],
            gb_t: vec![0.0; ld_p * k],
            gram: vec![0.0; ld_k * k],
            factor: Mat::zeros(k, k),
            solved: Mat::zeros(k, 2),
            solved_bar: Mat::zeros(k, 2),
            r: vec![0.0; ld_k * 2],
            c_bar: vec![0.0; ld_k * 2],
            prediction: vec![0.0; ld_p * 2],
            error: Mat::zeros(p, 2),
            pred_bar: vec![0.0; p * 2],
            gb_bar: vec![0.0; ld_k * p],
            product: vec![0.0; ld_k * p],
            m_bar: vec![0.0; ld_k * k],
            m_bar_sym: vec![0.0; ld_k * k],
            scratch: MemBuffer::new(scratch),
        }
    }
}

/// out = lhs · rhs with lhs column-major (`ld` rows, a multiple of [`LANES`]; `depth`
/// columns) and out column-major (`ld` rows, `cols` columns), each entry summed as faer's small
/// products (nano-gemm) sum it: one fused multiply–add per term, in order of the depth, from
/// +0. Entries are summed side by side (a vector of rows, four columns), never reordered.
#[inline(always)]
fn product(out: &mut [f64], lhs: &[f64], ld: usize, depth: usize, cols: usize, rhs: impl Fn(usize, usize) -> f64) {
    debug_assert!(ld.is_multiple_of(LANES) && lhs.len() >= ld * depth && out.len() >= ld * cols);
    let mut c0 = 0;
    while c0 + 4 <= cols {
        product_block::<4>(out, lhs, ld, depth, c0, &rhs);
        c0 += 4;
    }
    for c in c0..cols {
        product_block::<1>(out, lhs, ld, depth, c, &rhs);
    }
}

#[inline(always)]
fn product_block<const COLS: usize>(
    out: &mut [f64],
    lhs: &[f64],
    ld: usize,
    depth: usize,
    c0: usize,
    rhs: &impl Fn(usize, usize) -> f64,
) {
    for i0 in (0..ld).step_by(LANES) {
        let mut acc = [[0.0f64; LANES]; COLS];
        for d in 0..depth {
            let column: &[f64; LANES] = lhs[d * ld + i0..][..LANES].try_into().expect("whole vectors");
            for (c, acc) in acc.iter_mut().enumerate() {
                let a = rhs(d, c0 + c);
                for (acc, l) in acc.iter_mut().zip(column) {
                    *acc = l.mul_add(a, *acc);
                }
            }
        }
        for (c, acc) in acc.iter().enumerate() {
            out[(c0 + c) * ld + i0..][..LANES].copy_from_slice(acc);
        }
    }
}

/// [`loss_and_grad`] with its matrices taken from `workspace` (made for this problem and
/// encoder size). The products are written out here with faer's order of operations (tested
/// bit for bit against faer's operators); the factorisation, the solves and the norm are faer's.
pub fn loss_and_grad_in(
    encoder: &[[f64; 3]],
    problem: &Problem,
    objective: &RidgeObjective,
    grad: &mut [f64],
    workspace: &mut Workspace,
) -> LossParts {
    assert_eq!(
        (encoder.len(), problem.inputs.len()),
        (workspace.hidden, workspace.points),
        "a workspace made for this encoder size and problem"
    );
    #[cfg(target_arch = "x86_64")]
    if super::avx512_available() {
        // SAFETY: the CPU has these features (checked just above).
        return unsafe { loss_and_grad_avx512(encoder, problem, objective, grad, workspace) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        return unsafe { loss_and_grad_fma(encoder, problem, objective, grad, workspace) };
    }
    loss_and_grad_body(encoder, problem, objective, grad, workspace)
}

/// The same operations with `mul_add` as one instruction, on vectors of four (elsewhere a
/// correctly rounded library call: the same bits, slower).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn loss_and_grad_fma(
    encoder: &[[f64; 3]],
    problem: &Problem,
    objective: &RidgeObjective,
    grad: &mut [f64],
    workspace: &mut Workspace,
) -> LossParts {
    loss_and_grad_body(encoder, problem, objective, grad, workspace)
}

/// The same operations on vectors of eight.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
fn loss_and_grad_avx512(
    encoder: &[[f64; 3]],
    problem: &Problem,
    objective: &RidgeObjective,
    grad: &mut [f64],
    workspace: &mut Workspace,
) -> LossParts {
    loss_and_grad_body(encoder, problem, objective, grad, workspace)
}

#[inline(always)]
fn loss_and_grad_body(
    encoder: &[[f64; 3]],
    problem: &Problem,
    objective: &RidgeObjective,
    grad: &mut [f64],
    workspace: &mut Workspace,
) -> LossParts {
    let Workspace {
        ld_k,
        ld_p,
        targets,
        gb,
        gb_t,
        gram,
        factor,
        solved,
        solved_bar,
        r,
        c_bar,
        prediction,
        error,
        pred_bar,
        gb_bar,
        product: sum,
        m_bar,
        m_bar_sym,
        scratch,
        ..
    } = workspace;
    let (ld_k, ld_p) = (*ld_k, *ld_p);
    let h = encoder.len();
    let k = h + 1;
    let p = problem.inputs.len();
    let targets = &*targets;
    let y = |j: usize, o: usize| targets[j + o * p];
    // Forward: g_b (the code, then a row of ones) and its transpose.
    for (j, x) in problem.inputs.iter().enumerate() {
        for (u, w) in encoder.iter().enumerate() {
            let a = w[0] * x[0] + w[1] * x[1] + w[2] * x[2];
            gb[u + j * ld_k] = a.max(0.0);
            gb_t[j + u * ld_p] = a.max(0.0);
        }
        gb[h + j * ld_k] = 1.0;
        gb_t[j + h * ld_p] = 1.0;
    }
    let (gb, gb_t) = (&*gb, &*gb_t);
    // M = g_b g_bᵀ + λI, factored in place (its lower triangle; the upper one zero, as
    // `Llt::new` leaves it).
    product(gram, gb, ld_k, p, k, |j, l| gb[l + j * ld_k]);
    for l in 0..k {
        for i in 0..k {
            factor[(i, l)] = if i >= l { gram[i + l * ld_k] } else { 0.0 };
        }
        factor[(l, l)] += objective.ridge;
    }
    let stack = MemStack::new(scratch);
    llt::factor::cholesky_in_place(factor.as_mut(), Default::default(), Par::Seq, stack, Default::default())
        .expect("g_b g_bᵀ + λI is positive definite for λ > 0");
    for l in 1..k {
        for i in 0..l {
            factor[(i, l)] = 0.0;
        }
    }
    // R = M⁻¹ C with C = g_b S (k × 2).
    product(sum, gb, ld_k, p, 2, y);
    copy_into_mat(solved, sum, ld_k);
    llt::solve::solve_in_place_with_conj(factor.as_ref(), Conj::No, solved.as_mut(), Par::Seq, stack);
    copy_from_mat(r, solved, ld_k);
    let r = &*r;
    // E = S − g_bᵀ R (p × 2).
    product(prediction, gb_t, ld_p, k, 2, |i, o| r[i + o * ld_k]);
    for o in 0..2 {
        for j in 0..p {
            error[(j, o)] = y(j, o) - prediction[j + o * ld_p];
        }
    }
    let fit_error = error.norm_l2();
    let activity: f64 = (0..h)
        .flat_map(|u| (0..p).map(move |j| (u, j)))
        .map(|(u, j)| gb[u + j * ld_k].powi(2))
        .sum();
    let weight: f64 = encoder.iter().map(|w| w[0] * w[0] + w[1] * w[1]).sum();
    let readout: f64 = (0..k).map(|i| r[i].powi(2)).sum();
    let total = objective.fit * (fit_error - objective.fit_threshold).max(0.0)
        + objective.activity * activity
        + objective.weight * weight
        + objective.readout * readout;
    // Backward. d/dE of μ_fit·relu(‖E‖ − τ) is μ_fit·E/‖E‖ above the threshold (JAX's relu
    // has gradient 0 at 0).
    let fit_scale = if fit_error > objective.fit_threshold && fit_error > 0.0 {
        objective.fit / fit_error
    } else {
        0.0
    };
    // P̄ = −(μ_fit/‖E‖) E (p × 2).
    for o in 0..2 {
        for j in 0..p {
            pred_bar[j + o * p] = error[(j, o)] * -fit_scale;
        }
    }
    let pb = |j: usize, o: usize| pred_bar[j + o * p];
    // R̄ = g_b P̄ plus the readout penalty's term (k × 2), then C̄ = M⁻¹ R̄.
    product(sum, gb, ld_k, p, 2, pb);
    for i in 0..k {
        sum[i] += 2.0 * objective.readout * r[i];
    }
    copy_into_mat(solved_bar, sum, ld_k);
    // Ḡ_b = R P̄ᵀ (k × p).
    product(gb_bar, r, ld_k, 2, p, |o, j| pb(j, o));
    // R = M⁻¹C: C̄ = M⁻¹R̄, M̄ = −C̄Rᵀ; M = g_b g_bᵀ + λI gives (M̄ + M̄ᵀ) g_b, C = g_b S gives C̄ Sᵀ.
    llt::solve::solve_in_place_with_conj(factor.as_ref(), Conj::No, solved_bar.as_mut(), Par::Seq, stack);
    copy_from_mat(c_bar, solved_bar, ld_k);
    let c_bar = &*c_bar;
    product(m_bar, c_bar, ld_k, 2, k, |o, l| r[l + o * ld_k]);
    for l in 0..k {
        for i in 0..k {
            m_bar_sym[i + l * ld_k] = -m_bar[i + l * ld_k] + -m_bar[l + i * ld_k];
        }
    }
    product(sum, m_bar_sym, ld_k, k, p, |l, j| gb[l + j * ld_k]);
    gb_bar.iter_mut().zip(sum.iter()).for_each(|(g, t)| *g += t);
    product(sum, c_bar, ld_k, 2, p, |o, j| y(j, o));
    gb_bar.iter_mut().zip(sum.iter()).for_each(|(g, t)| *g += t);
    // Ī = Σ_j ā_j x_jᵀ over the points where the unit is active (g > 0 exactly where its
    // pre-activation is > 0), with ā = ḡ + 2μ_act g; summed from +0 in order of j, a vector of
    // units at a time. An inactive point adds 0 · x (±0) where the reference adds nothing: the
    // same bits, since a sum from +0 that adds only products is never −0.
    let twice_activity = 2.0 * objective.activity;
    for u0 in (0..h).step_by(LANES) {
        let mut acc = [[0.0f64; LANES]; 3];
        for (j, x) in problem.inputs.iter().enumerate() {
            let g: &[f64; LANES] = gb[u0 + j * ld_k..][..LANES].try_into().expect("whole vectors");
            let g_bar: &[f64; LANES] = gb_bar[u0 + j * ld_k..][..LANES].try_into().expect("whole vectors");
            for t in 0..LANES {
                let a_bar = if g[t] > 0.0 {
                    g_bar[t] + twice_activity * g[t]
                } else {
                    0.0
                };
                for (acc, xc) in acc.iter_mut().zip(x) {
                    acc[t] += a_bar * xc;
                }
            }
        }
        for (u, w) in encoder.iter().enumerate().skip(u0).take(LANES) {
            let t = u - u0;
            grad[3 * u] = acc[0][t] + 2.0 * objective.weight * w[0];
            grad[3 * u + 1] = acc[1][t] + 2.0 * objective.weight * w[1];
            grad[3 * u + 2] = acc[2][t];
        }
    }
    LossParts {
        total,
        fit_error,
        activity,
    }
}

/// Writes the k × 2 column-major `from` (rows padded to `ld`) into the faer matrix `to`.
fn copy_into_mat(to: &mut Mat<f64>, from: &[f64], ld: usize) {
    for o in 0..to.ncols() {
        for i in 0..to.nrows() {
            to[(i, o)] = from[i + o * ld];
        }
    }
}

/// The reverse of [`copy_into_mat`] (the padding rows of `to` are left as they are: 0).
fn copy_from_mat(to: &mut [f64], from: &Mat<f64>, ld: usize) {
    for o in 0..from.ncols() {
        for i in 0..from.nrows() {
            to[i + o * ld] = from[(i, o)];
        }
    }
}

/// What training keeps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trained {
    /// The encoder with the lowest loss seen.
    pub encoder: Encoder,
    pub best: LossParts,
    pub best_step: usize,
    /// The step at which the loss or the encoder stopped being finite (training stops there).
    pub diverged_at: Option<usize>,
}

/// Adam on the encoder for `training.steps` steps; `on_step(i)` after each.
pub fn train(
    mut encoder: Encoder,
    problem: &Problem,
    objective: &RidgeObjective,
    training: &RidgeTraining,
    mut on_step: impl FnMut(usize),
) -> Trained {
    let mut adam = Adam::new(training.adam, encoder.len() * 3);
    let mut grad = vec![0.0; encoder.len() * 3];
    let mut flat: Vec<f64> = encoder.iter().flatten().copied().collect();
    let mut workspace = Workspace::new(encoder.len(), problem);
    let mut best = (
        loss_and_grad_in(&encoder, problem, objective, &mut grad, &mut workspace),
        encoder.clone(),
        0,
    );
    let mut diverged_at = None;
    for step in 1..=training.steps {
        // The notebook scores the parameters before each update (its `value` comes from the
        // same call as the gradient); so does this loop.
        let parts = loss_and_grad_in(&encoder, problem, objective, &mut grad, &mut workspace);
        if !parts.total.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            diverged_at = Some(step);
            break;
        }
        if parts.total < best.0.total {
            best = (parts, encoder.clone(), step - 1);
        }
        adam.step(&mut flat, &mut grad, None);
        for (w, chunk) in encoder.iter_mut().zip(flat.chunks_exact(3)) {
            w.copy_from_slice(chunk);
        }
        on_step(step);
    }
    if diverged_at.is_none() {
        let last = loss_and_grad_in(&encoder, problem, objective, &mut grad, &mut workspace);
        if last.total < best.0.total {
            best = (last, encoder.clone(), training.steps);
        }
    }
    Trained {
        encoder: best.1,
        best: best.0,
        best_step: best.2,
        diverged_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use faer::Side;
    use faer::linalg::solvers::Solve;

    /// The loss and gradient as first written, with faer's operators (a fresh matrix per
    /// product): the reference the hand-written products must match bit for bit.
    fn reference_loss_and_grad(
        encoder: &[[f64; 3]],
        problem: &Problem,
        objective: &RidgeObjective,
        grad: &mut [f64],
    ) -> LossParts {
        let h = encoder.len();
        let k = h + 1;
        let p = problem.inputs.len();
        // Forward. gb: k × p (the code, then a row of ones); pre-activations kept for the mask.
        let mut pre = Mat::<f64>::zeros(h, p);
        let mut gb = Mat::<f64>::zeros(k, p);
        for (j, x) in problem.inputs.iter().enumerate() {
            for (u, w) in encoder.iter().enumerate() {
                let a = w[0] * x[0] + w[1] * x[1] + w[2] * x[2];
                pre[(u, j)] = a;
                gb[(u, j)] = a.max(0.0);
            }
            gb[(h, j)] = 1.0;
        }
        let y = Mat::<f64>::from_fn(p, 2, |j, o| problem.targets[j][o]);
        let mut m = &gb * gb.transpose();
        for i in 0..k {
            m[(i, i)] += objective.ridge;
        }
        let llt = m
            .llt(Side::Lower)
            .expect("g_b g_bᵀ + λI is positive definite for λ > 0");
        let c = &gb * &y; // k × 2
        let r = llt.solve(&c); // k × 2
        let pred = gb.transpose() * &r; // p × 2
        let e = &y - &pred;
        let fit_error = e.norm_l2();
        let activity: f64 = (0..h)
            .flat_map(|u| (0..p).map(move |j| (u, j)))
            .map(|(u, j)| gb[(u, j)].powi(2))
            .sum();
        let weight: f64 = encoder.iter().map(|w| w[0] * w[0] + w[1] * w[1]).sum();
        let readout: f64 = (0..k).map(|i| r[(i, 0)].powi(2)).sum();
        let total = objective.fit * (fit_error - objective.fit_threshold).max(0.0)
            + objective.activity * activity
            + objective.weight * weight
            + objective.readout * readout;
        // Backward. d/dE of μ_fit·relu(‖E‖ − τ) is μ_fit·E/‖E‖ above the threshold (JAX's relu
        // has gradient 0 at 0).
        let fit_scale = if fit_error > objective.fit_threshold && fit_error > 0.0 {
            objective.fit / fit_error
        } else {
            0.0
        };
        let pred_bar = &e * faer::Scale(-fit_scale); // p × 2
        let mut r_bar = &gb * &pred_bar; // k × 2
        for i in 0..k {
            r_bar[(i, 0)] += 2.0 * objective.readout * r[(i, 0)];
        }
        let mut gb_bar = &r * pred_bar.transpose(); // k × p
        // R = M⁻¹C: C̄ = M⁻¹R̄, M̄ = −C̄Rᵀ; M = g_b g_bᵀ + λI gives (M̄ + M̄ᵀ) g_b, C = g_b S gives C̄ Sᵀ.
        let c_bar = llt.solve(&r_bar);
        let m_bar = -(&c_bar * r.transpose());
        gb_bar += (&m_bar + m_bar.transpose()) * &gb;
        gb_bar += &c_bar * y.transpose();
        for v in grad.iter_mut() {
            *v = 0.0;
        }
        for (u, w) in encoder.iter().enumerate() {
            for (j, x) in problem.inputs.iter().enumerate() {
                if pre[(u, j)] > 0.0 {
                    let a_bar = gb_bar[(u, j)] + 2.0 * objective.activity * gb[(u, j)];
                    for (c, xc) in x.iter().enumerate() {
                        grad[3 * u + c] += a_bar * xc;
                    }
                }
            }
            grad[3 * u] += 2.0 * objective.weight * w[0];
            grad[3 * u + 1] += 2.0 * objective.weight * w[1];
        }
        LossParts {
            total,
            fit_error,
            activity,
        }
    }

    #[test]
    fn the_hand_written_products_give_faer_s_bits() {
        let mut rng = SplitMix64::new(11);
        let points: Vec<[f64; 2]> = (0..28).map(|_| [rng.uniform() - 0.5, rng.uniform() - 0.5]).collect();
        let problem = Problem::new(&points);
        let objective = RidgeObjective {
            fit: 1e6,
            fit_threshold: 0.01,
            activity: 1.0,
            weight: 1.0,
            readout: 1.0,
            ridge: 0.01,
        };
        let mut workspace = Workspace::new(10, &problem);
        for trial in 0..50 {
            // Small and large encoders, some units dead on every point (a zero row of g_b).
            let scale = [1e-3, 0.3, 2.0][trial % 3];
            let encoder: Encoder = (0..10)
                .map(|_| [scale * rng.normal(), scale * rng.normal(), rng.normal()])
                .collect();
            let (mut expected, mut got) = (vec![0.0; 30], vec![0.0; 30]);
            let want = reference_loss_and_grad(&encoder, &problem, &objective, &mut expected);
            let have = loss_and_grad_in(&encoder, &problem, &objective, &mut got, &mut workspace);
            let bits = |parts: LossParts| [parts.total, parts.fit_error, parts.activity].map(f64::to_bits);
            assert_eq!(bits(have), bits(want), "trial {trial}");
            let bits = |g: &[f64]| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&expected), "trial {trial}");
        }
        // The portable build (a library fma) gives the same bits as the FMA build.
        let encoder = init(
            10,
            &RidgeTraining {
                steps: 1,
                adam: AdamSettings {
                    learning_rate: 1e-3,
                    beta_1: 0.9,
                    beta_2: 0.999,
                    epsilon: 1e-8,
                },
                init_sd: 0.3,
                init_bias: 2.0,
            },
            4,
        );
        let (mut fast, mut portable) = (vec![0.0; 30], vec![0.0; 30]);
        loss_and_grad_in(&encoder, &problem, &objective, &mut fast, &mut workspace);
        loss_and_grad_body(&encoder, &problem, &objective, &mut portable, &mut workspace);
        let bits = |g: &[f64]| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fast), bits(&portable));
    }

    fn objective() -> RidgeObjective {
        RidgeObjective {
            fit: 3.0,
            fit_threshold: 0.01,
            activity: 0.7,
            weight: 0.5,
            readout: 0.3,
            ridge: 0.01,
        }
    }

    fn problem() -> Problem {
        Problem::new(&[[0.1, 0.9], [0.4, 0.2], [0.8, 0.7], [0.3, 0.5], [0.9, 0.1], [0.6, 0.4]])
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let encoder: Encoder = vec![[0.7, -0.4, 0.5], [-0.3, 0.9, 0.2], [0.5, 0.6, -0.1], [1.1, 0.2, 0.3]];
        let (problem, objective) = (problem(), objective());
        let mut grad = vec![0.0; 12];
        let parts = loss_and_grad(&encoder, &problem, &objective, &mut grad);
        assert!(parts.fit_error > objective.fit_threshold, "the fit term must be active");
        let mut scratch = vec![0.0; 12];
        for i in 0..12 {
            let eps = 1e-6;
            let mut shifted = |d: f64| {
                let mut e = encoder.clone();
                e[i / 3][i % 3] += d;
                loss_and_grad(&e, &problem, &objective, &mut scratch).total
            };
            let numeric = (shifted(eps) - shifted(-eps)) / (2.0 * eps);
            assert!(
                (numeric - grad[i]).abs() < 1e-6 * (1.0 + numeric.abs()),
                "entry {i}: finite differences {numeric}, gradient {}",
                grad[i]
            );
        }
    }

    #[test]
    fn the_readout_is_the_ridge_solution() {
        // With a perfect code (the sources themselves, nonnegative) and no ridge, R reproduces S.
        let problem = problem();
        let encoder: Encoder = vec![[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]];
        let objective = RidgeObjective {
            ridge: 1e-12,
            ..objective()
        };
        let parts = loss_and_grad(&encoder, &problem, &objective, &mut [0.0; 6]);
        assert!(parts.fit_error < 1e-5, "{parts:?}");
    }

    #[test]
    fn training_lowers_the_loss_and_is_deterministic() {
        let (problem, objective) = (problem(), objective());
        let training = RidgeTraining {
            steps: 300,
            adam: AdamSettings {
                learning_rate: 1e-2,
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-8,
            },
            init_sd: 1e-3,
            init_bias: 2.0,
        };
        let start = init(4, &training, 3);
        let first = loss_and_grad(&start, &problem, &objective, &mut [0.0; 12]).total;
        let a = train(start.clone(), &problem, &objective, &training, |_| {});
        let b = train(start, &problem, &objective, &training, |_| {});
        assert_eq!(a, b);
        assert!(a.best.total < first, "{} !< {first}", a.best.total);
        assert!(a.diverged_at.is_none());
    }
}
