//! The dense linear algebra the metrics need: a row-major matrix, least-squares R², and
//! symmetric eigen-decompositions. The solvers are faer's (a dependency already, for the ridge
//! readout and the student RNN): one well-tested implementation per job instead of hand-written
//! elimination and Jacobi rotations.

use faer::{Mat, Side};

#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Matrix {
    pub fn new(rows: usize, cols: usize, data: Vec<f64>) -> Self {
        assert_eq!(data.len(), rows * cols, "matrix data does not match its shape");
        Self { rows, cols, data }
    }

    pub fn from_rows(rows: Vec<Vec<f64>>) -> Self {
        let cols = rows.first().map_or(0, Vec::len);
        assert!(rows.iter().all(|r| r.len() == cols), "ragged rows");
        let n = rows.len();
        Self::new(n, cols, rows.into_iter().flatten().collect())
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn get(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.cols + c]
    }

    pub fn row(&self, r: usize) -> &[f64] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }

    pub fn column(&self, c: usize) -> Vec<f64> {
        (0..self.rows).map(|r| self.get(r, c)).collect()
    }

    pub fn select_columns(&self, cols: &[usize]) -> Matrix {
        let data = (0..self.rows)
            .flat_map(|r| cols.iter().map(move |&c| self.get(r, c)))
            .collect();
        Matrix::new(self.rows, cols.len(), data)
    }
}

/// Coefficient of determination of the least-squares regression of `y` on the columns of `x`
/// with an intercept: 1 − SSE/SST, the share of y's variance in the span of the centred
/// columns. 0 when `y` is constant or `x` has no columns. Computed from a thin SVD of the
/// centred columns, keeping the directions above rounding, so collinear or constant columns
/// count once (or not at all) instead of making a normal-equations system singular.
pub fn r_squared(x: &Matrix, y: &[f64]) -> f64 {
    let n = y.len();
    let y_mean = y.iter().sum::<f64>() / n as f64;
    let centred_y: Vec<f64> = y.iter().map(|v| v - y_mean).collect();
    let sst: f64 = centred_y.iter().map(|v| v * v).sum();
    if sst <= 0.0 || x.cols() == 0 || !sst.is_finite() {
        return 0.0;
    }
    let p = x.cols();
    let means: Vec<f64> = (0..p).map(|c| x.column(c).iter().sum::<f64>() / n as f64).collect();
    let centred = Mat::from_fn(n, p, |r, c| x.get(r, c) - means[c]);
    let Ok(svd) = centred.thin_svd() else {
        return 0.0;
    };
    let singular = svd.S();
    let largest = (0..singular.dim()).map(|k| singular[k]).fold(0.0f64, f64::max);
    let cutoff = largest * f64::EPSILON * n.max(p) as f64;
    let u = svd.U();
    let explained: f64 = (0..singular.dim())
        .filter(|&k| singular[k] > cutoff && singular[k] > 0.0)
        .map(|k| (0..n).map(|r| u[(r, k)] * centred_y[r]).sum::<f64>().powi(2))
        .sum();
    (explained / sst).clamp(0.0, 1.0)
}

/// Eigenvalues (ascending) and eigenvectors (the columns of the returned row-major n × n
/// matrix) of a symmetric matrix, by faer's self-adjoint decomposition (sequential: faer is
/// built without threads here, so the result is the same on every run). `None` if it does not
/// converge, which only a matrix holding NaN or infinities does.
pub fn symmetric_eigen(a: &[f64], n: usize) -> Option<(Vec<f64>, Vec<f64>)> {
    assert_eq!(a.len(), n * n, "a symmetric matrix is n × n");
    if a.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let matrix = Mat::from_fn(n, n, |i, j| a[i * n + j]);
    let evd = matrix.self_adjoint_eigen(Side::Lower).ok()?;
    let values = (0..n).map(|i| evd.S()[i]).collect();
    let u = evd.U();
    let vectors = (0..n * n).map(|k| u[(k / n, k % n)]).collect();
    Some((values, vectors))
}

/// Eigen-decomposition sorted by descending eigenvalue: (values, vectors as rows).
pub fn sorted_eigen(a: &[f64], n: usize) -> Option<(Vec<f64>, Vec<Vec<f64>>)> {
    let (values, vectors) = symmetric_eigen(a, n)?;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| values[y].total_cmp(&values[x]));
    Some((
        order.iter().map(|&c| values[c]).collect(),
        order
            .iter()
            .map(|&c| (0..n).map(|r| vectors[r * n + c]).collect())
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_linear_relation_has_r2_one() {
        let x = Matrix::from_rows(vec![vec![1.0, 0.0], vec![2.0, 1.0], vec![3.0, 5.0], vec![4.0, 2.0]]);
        let y: Vec<f64> = (0..4).map(|r| 2.0 * x.get(r, 0) - x.get(r, 1) + 3.0).collect();
        assert!((r_squared(&x, &y) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn r2_by_hand() {
        // y = (1, 2, 3, 4) on x = (1, 2, 1, 2): fit ŷ = 1 + 1·x? means: x̄=1.5, ȳ=2.5;
        // Sxy = Σ(x−x̄)(y−ȳ) = (−.5)(−1.5)+(.5)(−.5)+(−.5)(.5)+(.5)(1.5) = 1; Sxx = 1; Syy = 5.
        // R² = Sxy²/(Sxx·Syy) = 0.2.
        let x = Matrix::from_rows(vec![vec![1.0], vec![2.0], vec![1.0], vec![2.0]]);
        assert!((r_squared(&x, &[1.0, 2.0, 3.0, 4.0]) - 0.2).abs() < 1e-12);
    }

    #[test]
    fn eigen_of_a_known_matrix() {
        // [[2, 1], [1, 2]]: eigenvalues 1 and 3, eigenvectors (1, −1)/√2 and (1, 1)/√2.
        let (values, vectors) = sorted_eigen(&[2.0, 1.0, 1.0, 2.0], 2).unwrap();
        assert!((values[0] - 3.0).abs() < 1e-12 && (values[1] - 1.0).abs() < 1e-12);
        let s = 1.0 / 2f64.sqrt();
        assert!((vectors[0][0].abs() - s).abs() < 1e-12 && (vectors[0][0] - vectors[0][1]).abs() < 1e-12);
        assert!((vectors[1][0] + vectors[1][1]).abs() < 1e-12);
    }

    #[test]
    fn eigenvectors_reconstruct_the_matrix() {
        // A = V diag(λ) Vᵀ for a random symmetric 7 × 7.
        let n = 7;
        let mut rng = crate::rng::SplitMix64::new(5);
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = rng.normal();
                a[i * n + j] = v;
                a[j * n + i] = v;
            }
        }
        let (values, vectors) = symmetric_eigen(&a, n).unwrap();
        for i in 0..n {
            for j in 0..n {
                let back: f64 = (0..n)
                    .map(|k| vectors[i * n + k] * values[k] * vectors[j * n + k])
                    .sum();
                assert!((back - a[i * n + j]).abs() < 1e-10);
            }
        }
        assert!(symmetric_eigen(&[f64::NAN, 0.0, 0.0, 1.0], 2).is_none());
    }

    #[test]
    fn singular_or_constant_inputs_explain_nothing() {
        let x = Matrix::from_rows(vec![vec![1.0], vec![1.0], vec![1.0]]);
        assert_eq!(r_squared(&x, &[1.0, 2.0, 3.0]), 0.0);
        let x = Matrix::from_rows(vec![vec![1.0], vec![2.0], vec![3.0]]);
        assert_eq!(r_squared(&x, &[5.0, 5.0, 5.0]), 0.0);
    }

    #[test]
    fn a_repeated_column_counts_once() {
        // The normal equations were singular here (and gave 0); the span is x's, so R² = 0.2.
        let x = Matrix::from_rows(vec![vec![1.0, 1.0], vec![2.0, 2.0], vec![1.0, 1.0], vec![2.0, 2.0]]);
        assert!((r_squared(&x, &[1.0, 2.0, 3.0, 4.0]) - 0.2).abs() < 1e-12);
    }
}
