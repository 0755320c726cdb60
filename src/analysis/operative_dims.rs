//! Operative dimensions of a recurrent weight matrix (Krause et al. 2022), column version.
//!
//! At a sampling location x_s (r_s = tanh x_s), removing the column direction d from W
//! (Ŵ = (I − ddᵀ)W) changes the next step by Δf = α|dᵀW r_s|, maximised in closed form by
//! d = W r_s/‖W r_s‖ with Δf = α‖W r_s‖. The global operative column dimensions are the left
//! singular vectors of the matrix whose columns are the Δf-weighted local dimensions, α W r_s;
//! σᵢ²/Σσ² is their variance spectrum. Reduced-rank networks keep W's part in the top k:
//! W_k^OP = U_k U_kᵀ W; the baseline keeps W's own top-k left singular vectors (its best rank-k
//! approximation, U_k Σ_k V_kᵀ = U_k U_kᵀ W).

use super::linalg::sorted_eigen;
use crate::model::portable_tanh::tanh;

/// Left singular vectors (rows, by descending singular value) of an n × m matrix given by its
/// columns, and the share of Σσ² of each.
pub fn left_singular(columns: &[Vec<f64>], n: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut gram = vec![0.0; n * n];
    for c in columns {
        for i in 0..n {
            if c[i] != 0.0 {
                for j in 0..n {
                    gram[i * n + j] += c[i] * c[j];
                }
            }
        }
    }
    // Only a diverged network (NaN states) fails to decompose: it gets an all-zero spectrum
    // and the identity as its basis (its costs are NaN, and reported so, anyway).
    let (values, vectors) = sorted_eigen(&gram, n).unwrap_or_else(|| {
        let identity = (0..n)
            .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
            .collect();
        (vec![f64::NAN; n], identity)
    });
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    let shares = values
        .iter()
        .map(|v| if total > 0.0 { v.max(0.0) / total } else { 0.0 })
        .collect();
    (vectors, shares)
}

/// The Δf-weighted local operative column dimensions α W r_s at each sampling state.
pub fn local_column_dimensions(w: &[f64], n: usize, states: &[Vec<f64>], alpha: f64) -> Vec<Vec<f64>> {
    states
        .iter()
        .map(|x| {
            let r: Vec<f64> = x.iter().map(|&v| tanh(v)).collect();
            (0..n)
                .map(|i| alpha * w[i * n..(i + 1) * n].iter().zip(&r).map(|(a, b)| a * b).sum::<f64>())
                .collect()
        })
        .collect()
}

/// The columns of W (as vectors), for its own left singular vectors.
pub fn columns_of(w: &[f64], n: usize) -> Vec<Vec<f64>> {
    (0..n).map(|c| (0..n).map(|r| w[r * n + c]).collect()).collect()
}

/// P = Σ_{i<k} uᵢuᵢᵀ over the first k of `basis` (rows), n × n row-major.
pub fn projector(basis: &[Vec<f64>], n: usize, k: usize) -> Vec<f64> {
    let mut p = vec![0.0; n * n];
    for u in &basis[..k.min(basis.len())] {
        for i in 0..n {
            for j in 0..n {
                p[i * n + j] += u[i] * u[j];
            }
        }
    }
    p
}

/// U_k U_kᵀ W for the first k of `basis` (rows).
pub fn project_columns(w: &[f64], n: usize, basis: &[Vec<f64>], k: usize) -> Vec<f64> {
    square_matmul(&projector(basis, n, k), w, n)
}

/// A B for n × n row-major matrices, skipping A's zero entries (the sums keep their order, so
/// results do not depend on which entries were skipped).
pub fn square_matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for l in 0..n {
            let ail = a[i * n + l];
            if ail != 0.0 {
                for j in 0..n {
                    out[i * n + j] += ail * b[l * n + j];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rank_one_drive_has_one_operative_dimension() {
        // W = a bᵀ with a = e₀ + e₁: every W r_s lies along a, so one dimension holds it all.
        let n = 3;
        let a = [1.0, 1.0, 0.0];
        let b = [0.5, -1.0, 2.0];
        let w: Vec<f64> = (0..9).map(|k| a[k / 3] * b[k % 3]).collect();
        let states = vec![vec![0.1, 0.2, 0.3], vec![-0.5, 0.4, 0.0], vec![1.0, 1.0, -1.0]];
        let local = local_column_dimensions(&w, n, &states, 0.1);
        let (u, shares) = left_singular(&local, n);
        assert!((shares[0] - 1.0).abs() < 1e-12, "{shares:?}");
        let s = 1.0 / 2f64.sqrt();
        assert!((u[0][0].abs() - s).abs() < 1e-9 && (u[0][1].abs() - s).abs() < 1e-9 && u[0][2].abs() < 1e-9);
        // Keeping that one dimension keeps W exactly.
        let kept = project_columns(&w, n, &u, 1);
        assert!(kept.iter().zip(&w).all(|(x, y)| (x - y).abs() < 1e-12));
    }

    #[test]
    fn full_rank_projection_is_the_identity_and_rank_zero_is_zero() {
        let n = 2;
        let w = vec![1.0, 2.0, 3.0, 4.0];
        let (u, _) = left_singular(&columns_of(&w, n), n);
        let full = project_columns(&w, n, &u, 2);
        assert!(full.iter().zip(&w).all(|(x, y)| (x - y).abs() < 1e-12));
        assert!(project_columns(&w, n, &u, 0).iter().all(|&v| v == 0.0));
    }
}
