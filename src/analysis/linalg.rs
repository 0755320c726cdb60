//! The little dense linear algebra the metrics need: a row-major matrix and least squares by
//! the normal equations (the systems here are a handful of columns wide; a dependency would buy
//! nothing).

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
/// with an intercept: 1 − SSE/SST. 0 when `y` is constant or `x` has no columns.
pub fn r_squared(x: &Matrix, y: &[f64]) -> f64 {
    let n = y.len() as f64;
    let y_mean = y.iter().sum::<f64>() / n;
    let sst: f64 = y.iter().map(|v| (v - y_mean).powi(2)).sum();
    if sst <= 0.0 || x.cols() == 0 {
        return 0.0;
    }
    // Centre the predictors (this absorbs the intercept), then solve (XᵀX) β = Xᵀy.
    let p = x.cols();
    let means: Vec<f64> = (0..p).map(|c| x.column(c).iter().sum::<f64>() / n).collect();
    let mut xtx = vec![vec![0.0; p]; p];
    let mut xty = vec![0.0; p];
    let centred_row = |r: usize| -> Vec<f64> { (0..p).map(|c| x.get(r, c) - means[c]).collect() };
    for (r, &yr) in y.iter().enumerate() {
        let xr = centred_row(r);
        for (a, row) in xtx.iter_mut().enumerate() {
            xty[a] += xr[a] * (yr - y_mean);
            for (b, cell) in row.iter_mut().enumerate() {
                *cell += xr[a] * xr[b];
            }
        }
    }
    let Some(beta) = solve_symmetric(xtx, xty) else {
        return 0.0;
    };
    let sse: f64 = y
        .iter()
        .enumerate()
        .map(|(r, &yr)| {
            let fit: f64 = centred_row(r).iter().zip(&beta).map(|(xc, b)| xc * b).sum();
            (yr - y_mean - fit).powi(2)
        })
        .sum();
    (1.0 - sse / sst).clamp(0.0, 1.0)
}

/// Gaussian elimination with partial pivoting; `None` for a singular system.
fn solve_symmetric(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    let scale = a.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() <= 1e-12 * scale {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (upper, lower) = a.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for (offset, row) in lower.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            for (cell, &p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *cell -= f * p;
            }
            b[col + 1 + offset] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let tail: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    Some(x)
}

/// Eigenvalues and eigenvectors (columns of the returned row-major matrix) of a symmetric
/// matrix by cyclic Jacobi rotations: exact to rounding, fine for the ≤ 256 units here.
pub fn symmetric_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off < 1e-22 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

/// Eigen-decomposition sorted by descending eigenvalue: (values, vectors as rows).
pub fn sorted_eigen(a: &[f64], n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let (values, vectors) = symmetric_eigen(a, n);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| values[y].total_cmp(&values[x]));
    (
        order.iter().map(|&c| values[c]).collect(),
        order
            .iter()
            .map(|&c| (0..n).map(|r| vectors[r * n + c]).collect())
            .collect(),
    )
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
    fn singular_or_constant_inputs_explain_nothing() {
        let x = Matrix::from_rows(vec![vec![1.0], vec![1.0], vec![1.0]]);
        assert_eq!(r_squared(&x, &[1.0, 2.0, 3.0]), 0.0);
        let x = Matrix::from_rows(vec![vec![1.0], vec![2.0], vec![3.0]]);
        assert_eq!(r_squared(&x, &[5.0, 5.0, 5.0]), 0.0);
    }
}
