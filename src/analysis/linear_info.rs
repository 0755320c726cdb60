//! Linear (variance-explained) versions of the mutual-information modularity metrics of
//! Dorrell et al. 2025, for continuous sources and latents.
//!
//! With sources and latents standardised (population sd, as scikit-learn's StandardScaler),
//! the fraction of a source's variance a one-latent linear regression explains is the squared
//! correlation r²ᵢⱼ. Then (paper §3, authors' `compute_linear_nmi` / `compute_linear_ncmi`):
//! - linear NMI[i, j] = r²ᵢⱼ;
//! - linear NCMI[i, j] = [Σₖ r²ₖⱼ − Σ_{k≠i} r²ₖⱼ] / (1 − R²(sᵢ | s₋ᵢ)) = r²ᵢⱼ / (1 − R²(sᵢ | s₋ᵢ)),
//!   the variance of zⱼ's explanation of the joint sources that only sᵢ accounts for, over the
//!   part of sᵢ that the other sources cannot explain;
//!
//! both clipped to [0, 1]. (C)InfoM averages, over active latents (range > 0.1 · the largest
//! range), how much of each latent's column is taken by its largest entry, rescaled so that
//! 1 = every latent depends on one source and 0 = every latent depends equally on all.

use super::linalg::{Matrix, r_squared};

/// Rows: sources; columns: latents.
pub type InfoMatrix = Vec<Vec<f64>>;

/// Latents whose range exceeds `fraction` of the largest range.
pub fn active_latents(latents: &Matrix, fraction: f64) -> Vec<bool> {
    let ranges: Vec<f64> = (0..latents.cols())
        .map(|j| {
            let col = latents.column(j);
            let hi = col.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lo = col.iter().copied().fold(f64::INFINITY, f64::min);
            hi - lo
        })
        .collect();
    let max = ranges.iter().copied().fold(0.0, f64::max);
    ranges.iter().map(|&r| r > fraction * max).collect()
}

/// Squared correlation of two columns; 0 if either is constant (a constant latent explains
/// nothing, and a standardised constant column is all zeros).
fn squared_correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa <= 0.0 || sbb <= 0.0 {
        return 0.0;
    }
    (sab * sab / (saa * sbb)).clamp(0.0, 1.0)
}

/// linear NMI[i, j] = r²(sᵢ, zⱼ).
pub fn linear_nmi(sources: &Matrix, latents: &Matrix) -> InfoMatrix {
    (0..sources.cols())
        .map(|i| {
            let s = sources.column(i);
            (0..latents.cols())
                .map(|j| squared_correlation(&s, &latents.column(j)))
                .collect()
        })
        .collect()
}

/// linear NCMI[i, j] = r²(sᵢ, zⱼ) / (1 − R²(sᵢ | s₋ᵢ)), clipped to [0, 1].
pub fn linear_ncmi(sources: &Matrix, latents: &Matrix) -> InfoMatrix {
    let nmi = linear_nmi(sources, latents);
    (0..sources.cols())
        .map(|i| {
            let rest: Vec<usize> = (0..sources.cols()).filter(|&k| k != i).collect();
            let unexplained = 1.0 - r_squared(&sources.select_columns(&rest), &sources.column(i));
            nmi[i]
                .iter()
                .map(|&r2| {
                    if unexplained <= 0.0 {
                        0.0
                    } else {
                        (r2 / unexplained).clamp(0.0, 1.0)
                    }
                })
                .collect()
        })
        .collect()
}

/// (C)InfoM of an information matrix over the active latents: mean over active j of
/// [maxᵢ M[i,j] / Σᵢ M[i,j] − 1/d] / (1 − 1/d). Latents carrying no information at all
/// (an all-zero column) count as fully mixed' 0/0 is taken as 1/d, i.e. contribute 0.
/// `None` when no latent is active.
pub fn modularity_score(info: &InfoMatrix, active: &[bool]) -> Option<f64> {
    let d = info.len() as f64;
    let mut total = 0.0;
    let mut count = 0usize;
    for (j, &is_active) in active.iter().enumerate() {
        if !is_active {
            continue;
        }
        let column: Vec<f64> = info.iter().map(|row| row[j]).collect();
        let sum: f64 = column.iter().sum();
        let share = if sum > 0.0 {
            column.iter().copied().fold(0.0, f64::max) / sum
        } else {
            1.0 / d
        };
        total += (share - 1.0 / d) / (1.0 - 1.0 / d);
        count += 1;
    }
    (count > 0).then(|| total / count as f64)
}

/// Linear InfoM and CInfoM of latents with respect to sources.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearModularity {
    pub infom: f64,
    pub cinfom: f64,
    pub active_latents: usize,
}

pub fn linear_modularity(sources: &Matrix, latents: &Matrix) -> Option<LinearModularity> {
    let active = active_latents(latents, 0.1);
    Some(LinearModularity {
        infom: modularity_score(&linear_nmi(sources, latents), &active)?,
        cinfom: modularity_score(&linear_ncmi(sources, latents), &active)?,
        active_latents: active.iter().filter(|&&a| a).count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two uncorrelated sources on a 5×5 grid.
    fn grid_sources() -> Matrix {
        let mut rows = Vec::new();
        for a in 0..5 {
            for b in 0..5 {
                rows.push(vec![a as f64, b as f64]);
            }
        }
        Matrix::from_rows(rows)
    }

    fn latents_from(sources: &Matrix, f: impl Fn(f64, f64) -> Vec<f64>) -> Matrix {
        Matrix::from_rows(
            (0..sources.rows())
                .map(|r| f(sources.get(r, 0), sources.get(r, 1)))
                .collect(),
        )
    }

    #[test]
    fn copies_of_each_source_are_perfectly_modular() {
        let s = grid_sources();
        let z = latents_from(&s, |a, b| vec![2.0 * a + 1.0, 0.0 * a, 3.0 * b]);
        let m = linear_modularity(&s, &z).unwrap();
        assert_eq!(m.active_latents, 2);
        assert!((m.cinfom - 1.0).abs() < 1e-12 && (m.infom - 1.0).abs() < 1e-12, "{m:?}");
    }

    #[test]
    fn an_equal_mix_scores_zero() {
        // z = a + b with independent, equal-variance sources: r² = ½ for each, share ½, score 0.
        let s = grid_sources();
        let z = latents_from(&s, |a, b| vec![a + b]);
        let m = linear_modularity(&s, &z).unwrap();
        assert!(m.cinfom.abs() < 1e-12 && m.infom.abs() < 1e-12, "{m:?}");
    }

    #[test]
    fn a_partial_mix_by_hand() {
        // z = a + 2b, independent sources of equal variance v: r²_a = v/(5v) = 0.2, r²_b = 0.8.
        // share = 0.8, d = 2: score = (0.8 − 0.5)/(0.5) = 0.6.
        let s = grid_sources();
        let z = latents_from(&s, |a, b| vec![a + 2.0 * b]);
        let m = linear_modularity(&s, &z).unwrap();
        assert!((m.cinfom - 0.6).abs() < 1e-12, "{m:?}");
    }

    #[test]
    fn permuting_latents_changes_nothing() {
        let s = grid_sources();
        let z1 = latents_from(&s, |a, b| vec![a + 0.3 * b, b, a - b]);
        let z2 = latents_from(&s, |a, b| vec![a - b, a + 0.3 * b, b]);
        assert_eq!(linear_modularity(&s, &z1), linear_modularity(&s, &z2));
    }

    #[test]
    fn ncmi_divides_by_what_other_sources_leave_unexplained() {
        // Correlated sources: s₂ = s₁ + e. A latent copying s₁ has r²(s₁)=1 and NCMI 1 for s₁;
        // for s₂, R²(s₂|s₁) = ρ², so NCMI[2] = ρ² / (1 − ρ²) clipped.
        let rows: Vec<Vec<f64>> = (0..40)
            .map(|k| {
                let a = (k % 8) as f64;
                let e = ((k * 7) % 5) as f64 - 2.0;
                vec![a, a + e]
            })
            .collect();
        let s = Matrix::from_rows(rows);
        let z = latents_from(&s, |a, _| vec![a]);
        let ncmi = linear_ncmi(&s, &z);
        let rho2 = squared_correlation(&s.column(0), &s.column(1));
        assert!((ncmi[0][0] - 1.0).abs() < 1e-12);
        assert!((ncmi[1][0] - (rho2 / (1.0 - rho2)).min(1.0)).abs() < 1e-12);
    }

    #[test]
    fn inactive_latents_are_ignored_and_none_active_gives_none() {
        let s = grid_sources();
        let z = latents_from(&s, |a, b| vec![a, 0.001 * (a + b)]);
        let m = linear_modularity(&s, &z).unwrap();
        assert_eq!(m.active_latents, 1);
        assert!((m.cinfom - 1.0).abs() < 1e-12);
        let flat = latents_from(&s, |_, _| vec![1.0, 1.0]);
        assert_eq!(linear_modularity(&s, &flat), None);
    }
}
