//! The range-independence condition of Dorrell et al. (ICLR 2025) for two sources.
//!
//! The optimal nonnegative, energy-efficient linear representation of two sources is modular
//! iff the convex hull of the centred samples contains the ellipse vᵀS⁻¹v ≤ 1, with
//! S = [[e₁², −c], [−c, e₂²]], eᵢ = min(|min s̃ᵢ|, |max s̃ᵢ|) and c = mean(s̃₁ s̃₂). It is checked,
//! as the authors do, on a grid of directions w(θ): modular iff for every θ
//! (minₙ w·s̃⁽ⁿ⁾)² ≥ wᵀSw. The slack's worst case, negated, is the "mixing energy gain".
//! (Paper §2; authors' `check_modular` in `Figure 1d.ipynb`: 500 angles, offset 0.01 rad.)

use std::f64::consts::PI;

/// What the condition predicts for the optimal representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    Modular,
    Mixed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Modular => "modular",
            Verdict::Mixed => "mixed",
        }
    }
}

/// The full outcome of the check on one 2-D point set.
#[derive(Debug, Clone, PartialEq)]
pub struct TheoryCheck {
    pub verdict: Verdict,
    /// −min over θ of the slack. Positive ⇔ mixing lowers the energy ⇔ `Mixed`.
    pub mixing_energy_gain: f64,
    /// The mean of the samples (the ellipse is centred here in data coordinates).
    pub mean: [f64; 2],
    /// S = [[e₁², −c], [−c, e₂²]].
    pub s_matrix: [[f64; 2]; 2],
    /// The angle at which the slack is smallest.
    pub worst_angle: f64,
}

/// Number of directions and their offset, as in the authors' check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AngleGrid {
    pub n_angles: usize,
    pub offset: f64,
}

impl Default for AngleGrid {
    fn default() -> Self {
        Self {
            n_angles: 500,
            offset: 0.01,
        }
    }
}

/// Errors a user's own point set can trigger.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TheoryError {
    #[error("need at least 2 samples, got {0}")]
    TooFewSamples(usize),
    #[error("sample {0} is not finite")]
    NonFinite(usize),
}

/// Checks the two-source condition.
pub fn check_two_sources(points: &[[f64; 2]], grid: AngleGrid) -> Result<TheoryCheck, TheoryError> {
    if points.len() < 2 {
        return Err(TheoryError::TooFewSamples(points.len()));
    }
    if let Some(i) = points.iter().position(|p| !p[0].is_finite() || !p[1].is_finite()) {
        return Err(TheoryError::NonFinite(i));
    }
    let n = points.len() as f64;
    let mean = [
        points.iter().map(|p| p[0]).sum::<f64>() / n,
        points.iter().map(|p| p[1]).sum::<f64>() / n,
    ];
    let centred: Vec<[f64; 2]> = points.iter().map(|p| [p[0] - mean[0], p[1] - mean[1]]).collect();
    let extreme = |d: usize| {
        let lo = centred.iter().map(|p| p[d]).fold(f64::INFINITY, f64::min);
        let hi = centred.iter().map(|p| p[d]).fold(f64::NEG_INFINITY, f64::max);
        lo.abs().min(hi.abs())
    };
    let (e1, e2) = (extreme(0), extreme(1));
    let c = centred.iter().map(|p| p[0] * p[1]).sum::<f64>() / n;
    let s = [[e1 * e1, -c], [-c, e2 * e2]];

    let mut worst_slack = f64::INFINITY;
    let mut worst_angle = 0.0;
    for &(theta, w) in directions(grid).iter() {
        let quad = w[0] * w[0] * s[0][0] + 2.0 * w[0] * w[1] * s[0][1] + w[1] * w[1] * s[1][1];
        let support = support(&centred, w);
        let slack = support * support - quad;
        if slack < worst_slack {
            worst_slack = slack;
            worst_angle = theta;
        }
    }
    Ok(TheoryCheck {
        verdict: if worst_slack < 0.0 {
            Verdict::Mixed
        } else {
            Verdict::Modular
        },
        mixing_energy_gain: -worst_slack,
        mean,
        s_matrix: s,
        worst_angle,
    })
}

/// The grid's angles and their unit vectors (cos θ, sin θ): the default grid's computed once
/// per process (the point sets' generation checks thousands of candidate sets against it).
fn directions(grid: AngleGrid) -> std::borrow::Cow<'static, [(f64, [f64; 2])]> {
    static DEFAULT: std::sync::OnceLock<Vec<(f64, [f64; 2])>> = std::sync::OnceLock::new();
    let compute = |grid: AngleGrid| -> Vec<(f64, [f64; 2])> {
        (0..grid.n_angles)
            .map(|k| {
                let theta = k as f64 * 2.0 * PI / grid.n_angles as f64 + grid.offset;
                (theta, [theta.cos(), theta.sin()])
            })
            .collect()
    };
    if grid == AngleGrid::default() {
        std::borrow::Cow::Borrowed(DEFAULT.get_or_init(|| compute(grid)))
    } else {
        std::borrow::Cow::Owned(compute(grid))
    }
}

/// min over the points of w · p, four running minima side by side. The minimum of a set does
/// not depend on the order it is taken in, except which of −0 and +0 a tie keeps, and the
/// support is only ever squared.
fn support(points: &[[f64; 2]], w: [f64; 2]) -> f64 {
    let mut lowest = [f64::INFINITY; 4];
    let mut chunks = points.chunks_exact(4);
    for chunk in &mut chunks {
        for (low, p) in lowest.iter_mut().zip(chunk) {
            *low = low.min(w[0] * p[0] + w[1] * p[1]);
        }
    }
    let rest = chunks.remainder().iter().map(|p| w[0] * p[0] + w[1] * p[1]);
    lowest.into_iter().chain(rest).fold(f64::INFINITY, f64::min)
}

/// Points on the boundary of the ellipse vᵀS⁻¹v = 1 around `mean`, for plotting. Uses
/// S = L Lᵀ (Cholesky): v = L·(cos t, sin t). Returns nothing if S is not positive definite
/// (then there is no ellipse to draw: the condition is degenerate).
pub fn ellipse_outline(check: &TheoryCheck, n: usize) -> Vec<[f64; 2]> {
    let [[a, b], [_, d]] = check.s_matrix;
    if a <= 0.0 || a * d - b * b <= 0.0 {
        return Vec::new();
    }
    let l11 = a.sqrt();
    let l21 = b / l11;
    let l22 = (d - l21 * l21).sqrt();
    (0..=n)
        .map(|k| {
            let t = 2.0 * PI * k as f64 / n as f64;
            let (c, s) = (t.cos(), t.sin());
            [check.mean[0] + l11 * c, check.mean[1] + l21 * c + l22 * s]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The check as first written (angles computed per call, one running minimum).
    /// Checks the two-source condition.
    fn reference_check(points: &[[f64; 2]], grid: AngleGrid) -> Result<TheoryCheck, TheoryError> {
        if points.len() < 2 {
            return Err(TheoryError::TooFewSamples(points.len()));
        }
        if let Some(i) = points.iter().position(|p| !p[0].is_finite() || !p[1].is_finite()) {
            return Err(TheoryError::NonFinite(i));
        }
        let n = points.len() as f64;
        let mean = [
            points.iter().map(|p| p[0]).sum::<f64>() / n,
            points.iter().map(|p| p[1]).sum::<f64>() / n,
        ];
        let centred: Vec<[f64; 2]> = points.iter().map(|p| [p[0] - mean[0], p[1] - mean[1]]).collect();
        let extreme = |d: usize| {
            let lo = centred.iter().map(|p| p[d]).fold(f64::INFINITY, f64::min);
            let hi = centred.iter().map(|p| p[d]).fold(f64::NEG_INFINITY, f64::max);
            lo.abs().min(hi.abs())
        };
        let (e1, e2) = (extreme(0), extreme(1));
        let c = centred.iter().map(|p| p[0] * p[1]).sum::<f64>() / n;
        let s = [[e1 * e1, -c], [-c, e2 * e2]];

        let mut worst_slack = f64::INFINITY;
        let mut worst_angle = 0.0;
        for k in 0..grid.n_angles {
            let theta = k as f64 * 2.0 * PI / grid.n_angles as f64 + grid.offset;
            let w = [theta.cos(), theta.sin()];
            let quad = w[0] * w[0] * s[0][0] + 2.0 * w[0] * w[1] * s[0][1] + w[1] * w[1] * s[1][1];
            let support = centred
                .iter()
                .map(|p| w[0] * p[0] + w[1] * p[1])
                .fold(f64::INFINITY, f64::min);
            let slack = support * support - quad;
            if slack < worst_slack {
                worst_slack = slack;
                worst_angle = theta;
            }
        }
        Ok(TheoryCheck {
            verdict: if worst_slack < 0.0 {
                Verdict::Mixed
            } else {
                Verdict::Modular
            },
            mixing_energy_gain: -worst_slack,
            mean,
            s_matrix: s,
            worst_angle,
        })
    }

    #[test]
    fn the_precomputed_grid_and_split_minimum_give_the_reference_bits() {
        let mut rng = crate::rng::SplitMix64::new(12);
        for (n, grid) in [
            (2, AngleGrid::default()),
            (7, AngleGrid::default()),
            (29, AngleGrid::default()),
            (
                30,
                AngleGrid {
                    n_angles: 37,
                    offset: 0.2,
                },
            ),
        ] {
            for _ in 0..20 {
                let points: Vec<[f64; 2]> = (0..n).map(|_| [rng.uniform(), rng.uniform()]).collect();
                let (got, want) = (
                    check_two_sources(&points, grid).unwrap(),
                    reference_check(&points, grid).unwrap(),
                );
                assert_eq!(got.verdict, want.verdict);
                assert_eq!(got.mixing_energy_gain.to_bits(), want.mixing_energy_gain.to_bits());
                assert_eq!(got.worst_angle.to_bits(), want.worst_angle.to_bits());
            }
        }
    }

    fn square_corners() -> Vec<[f64; 2]> {
        vec![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    }

    #[test]
    fn full_square_is_modular_by_hand() {
        // Centred corners (±½, ±½): e₁ = e₂ = ½, c = 0, S = ¼·I, so wᵀSw = ¼ for every w.
        // min w·s̃ = −½(|cos θ| + |sin θ|), squared = ¼(1 + |sin 2θ|) ≥ ¼. Slack ≥ 0, with
        // equality on the axes: the worst slack is ¼·|sin 2θ| at the grid angle nearest an axis.
        // The grid is θₖ = 2πk/500 + 0.01; an axis every 125 steps, so the nearest angles sit
        // 0.01 past an axis or 2π/500 − 0.01 ≈ 0.00257 before one (k = 499, 124, …).
        let check = check_two_sources(&square_corners(), AngleGrid::default()).unwrap();
        assert_eq!(check.verdict, Verdict::Modular);
        assert_eq!(check.s_matrix, [[0.25, 0.0], [0.0, 0.25]]);
        let nearest = 0.01f64.min(2.0 * PI / 500.0 - 0.01);
        let expected = -0.25 * (2.0 * nearest).sin();
        assert!(
            (check.mixing_energy_gain - expected).abs() < 1e-12,
            "{}",
            check.mixing_energy_gain
        );
    }

    #[test]
    fn anti_correlated_line_is_mixed() {
        // Points on the anti-diagonal: e₁ = e₂ = ½, c = −(var) < 0, S has +|c| off-diagonal.
        // Along w = (1, 1)/√2 every centred point projects to 0, so the support is 0 while
        // wᵀSw = ¼ + |c| > 0: negative slack, mixed.
        let points: Vec<[f64; 2]> = (0..=10).map(|i| [i as f64 / 10.0, 1.0 - i as f64 / 10.0]).collect();
        let check = check_two_sources(&points, AngleGrid::default()).unwrap();
        assert_eq!(check.verdict, Verdict::Mixed);
        assert!(check.mixing_energy_gain > 0.2);
    }

    #[test]
    fn cutting_a_corner_of_the_square_makes_it_mixed() {
        // The corner-cut triangle (0,0),(1,0),(0,1): the hull misses the ellipse near (1,1).
        let points = vec![[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]];
        let check = check_two_sources(&points, AngleGrid::default()).unwrap();
        assert_eq!(check.verdict, Verdict::Mixed);
    }

    #[test]
    fn verdict_is_invariant_to_translation_and_swap() {
        let points = vec![[0.1, 0.3], [0.9, 0.2], [0.4, 0.8], [0.7, 0.9], [0.2, 0.6]];
        let base = check_two_sources(&points, AngleGrid::default()).unwrap();
        let moved: Vec<[f64; 2]> = points.iter().map(|p| [p[0] + 5.0, p[1] - 3.0]).collect();
        let swapped: Vec<[f64; 2]> = points.iter().map(|p| [p[1], p[0]]).collect();
        let a = check_two_sources(&moved, AngleGrid::default()).unwrap();
        let b = check_two_sources(&swapped, AngleGrid::default()).unwrap();
        assert_eq!(a.verdict, base.verdict);
        assert!((a.mixing_energy_gain - base.mixing_energy_gain).abs() < 1e-9);
        assert_eq!(b.verdict, base.verdict);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            check_two_sources(&[[0.0, 0.0]], AngleGrid::default()),
            Err(TheoryError::TooFewSamples(1))
        );
        assert_eq!(
            check_two_sources(&[[0.0, 0.0], [f64::NAN, 1.0]], AngleGrid::default()),
            Err(TheoryError::NonFinite(1))
        );
    }

    #[test]
    fn ellipse_outline_satisfies_its_equation() {
        let check = check_two_sources(&square_corners(), AngleGrid::default()).unwrap();
        for p in ellipse_outline(&check, 16) {
            let v = [p[0] - 0.5, p[1] - 0.5];
            // S = ¼ I ⇒ vᵀS⁻¹v = 4|v|² = 1.
            assert!((4.0 * (v[0] * v[0] + v[1] * v[1]) - 1.0).abs() < 1e-12);
        }
    }
}
