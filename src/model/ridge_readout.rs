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

use faer::linalg::solvers::Solve;
use faer::{Mat, Side};
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
    let mut best = (
        loss_and_grad(&encoder, problem, objective, &mut grad),
        encoder.clone(),
        0,
    );
    let mut diverged_at = None;
    for step in 1..=training.steps {
        // The notebook scores the parameters before each update (its `value` comes from the
        // same call as the gradient); so does this loop.
        let parts = loss_and_grad(&encoder, problem, objective, &mut grad);
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
        let last = loss_and_grad(&encoder, problem, objective, &mut grad);
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
