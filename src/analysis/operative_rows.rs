//! Local operative row dimensions (Krause et al. 2022).
//!
//! Removing the row direction v from W (Ŵ = W(I − vvᵀ)) changes one noiseless step from x_s
//! (r_s = tanh x_s) by Δf = α‖Wv‖ |vᵀr_s|. Unlike the column case there is no closed form, and
//! the paper notes that a random-start local optimiser finds poor optima. We solve it exactly up
//! to a one-dimensional search: with A = WᵀW restricted to the allowed subspace and b = r_s
//! there, the stationary points of f(v) = (vᵀAv)(vᵀb)² on the unit sphere (with vᵀb ≠ 0) satisfy
//! (μI − A) v ∝ b with μ = 2vᵀAv, so they all lie on the curve v(μ) = (μI − A)⁻¹ b. In A's
//! eigenbasis (λᵢ, pᵢ; βᵢ = pᵢᵀb) the curve costs O(m) per point, and we maximise f along it
//! over every interval between the λᵢ, then polish with local ascent on the sphere.
//!
//! Dimensions are found one after another, each orthogonal to the earlier ones, until Δf falls
//! below a fraction of the first one's or a count is reached.

use faer::{Mat, Side};

use crate::model::portable_tanh::tanh;

/// f(v) = (vᵀAv)(vᵀb)² for unit v; Δf = α√f. `av` is scratch for A v (length m).
#[inline(always)]
fn objective(a: &[f64], b: &[f64], v: &[f64], av: &mut [f64]) -> f64 {
    matvec(a, v, av);
    let mut quad = 0.0;
    for (x, row) in v.iter().zip(av.iter()) {
        quad += x * row;
    }
    let dot: f64 = b.iter().zip(v).map(|(x, y)| x * y).sum();
    quad * dot * dot
}

/// out = A v (A m × m, row-major), each row's sum from −0.0 in order of j, as
/// `Iterator::sum` adds; four rows side by side, since one row's sum is a chain of dependent
/// additions (the same bits as one row at a time).
#[inline(always)]
fn matvec(a: &[f64], v: &[f64], out: &mut [f64]) {
    let m = v.len();
    let mut rows = a.chunks_exact(m).zip(out.iter_mut());
    while rows.len() >= 4 {
        let block: [(&[f64], &mut f64); 4] = std::array::from_fn(|_| rows.next().expect("four rows left"));
        let mut acc = [-0.0f64; 4];
        for (j, &vj) in v.iter().enumerate() {
            for (acc, (row, _)) in acc.iter_mut().zip(&block) {
                *acc += row[j] * vj;
            }
        }
        for (acc, (_, out)) in acc.into_iter().zip(block) {
            *out = acc;
        }
    }
    for (row, out) in rows {
        *out = row.iter().zip(v).map(|(x, y)| x * y).sum();
    }
}

#[inline(always)]
fn normalised(mut v: Vec<f64>) -> Vec<f64> {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// Riemannian gradient ascent on the unit sphere with backtracking, from `v`: a local
/// optimiser (the "naive" search from a random start, and the polish of the exact one).
///
/// Compiled for AVX-512 (or AVX2) too, chosen at run time, as is [`best_direction`]: nothing
/// is fused or reordered, so every build gives the same bits (tested against the reference).
pub fn local_ascent(a: &[f64], b: &[f64], v: Vec<f64>, iterations: usize) -> (Vec<f64>, f64) {
    #[cfg(target_arch = "x86_64")]
    if crate::model::avx512_available() {
        // SAFETY: the CPU has AVX-512 F and AVX2 (checked just above).
        return unsafe { local_ascent_avx512(a, b, v, iterations) };
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { local_ascent_avx2(a, b, v, iterations) };
    }
    local_ascent_body(a, b, v, iterations)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2")]
fn local_ascent_avx512(a: &[f64], b: &[f64], v: Vec<f64>, iterations: usize) -> (Vec<f64>, f64) {
    local_ascent_body(a, b, v, iterations)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn local_ascent_avx2(a: &[f64], b: &[f64], v: Vec<f64>, iterations: usize) -> (Vec<f64>, f64) {
    local_ascent_body(a, b, v, iterations)
}

#[inline(always)]
fn local_ascent_body(a: &[f64], b: &[f64], v: Vec<f64>, iterations: usize) -> (Vec<f64>, f64) {
    let m = b.len();
    let mut v = normalised(v);
    let (mut av, mut scratch) = (vec![0.0; m], vec![0.0; m]);
    let mut value = objective(a, b, &v, &mut scratch);
    let mut step = 1.0;
    for _ in 0..iterations {
        matvec(a, &v, &mut av);
        let quad: f64 = v.iter().zip(&av).map(|(x, y)| x * y).sum();
        let dot: f64 = b.iter().zip(&v).map(|(x, y)| x * y).sum();
        let grad: Vec<f64> = (0..m)
            .map(|i| 2.0 * dot * dot * av[i] + 2.0 * quad * dot * b[i])
            .collect();
        let radial: f64 = grad.iter().zip(&v).map(|(g, x)| g * x).sum();
        let tangent: Vec<f64> = grad.iter().zip(&v).map(|(g, x)| g - radial * x).collect();
        let size = tangent.iter().map(|t| t * t).sum::<f64>().sqrt();
        if size <= 1e-15 * value.max(1e-300) {
            break;
        }
        let mut improved = false;
        for _ in 0..60 {
            let candidate = normalised(v.iter().zip(&tangent).map(|(x, t)| x + step * t / size).collect());
            let new = objective(a, b, &candidate, &mut scratch);
            if new > value {
                let gain = new - value;
                v = candidate;
                value = new;
                step *= 2.0;
                improved = gain > 1e-14 * value;
                break;
            }
            step *= 0.5;
        }
        if !improved {
            break;
        }
    }
    (v, value)
}

/// The global maximiser of f over unit v ∈ ℝᵐ (see the module comment), with its value.
pub fn best_direction(a: &[f64], b: &[f64]) -> (Vec<f64>, f64) {
    #[cfg(target_arch = "x86_64")]
    if crate::model::avx512_available() {
        // SAFETY: the CPU has AVX-512 F and AVX2 (checked just above).
        return unsafe { best_direction_avx512(a, b) };
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { best_direction_avx2(a, b) };
    }
    best_direction_body(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2")]
fn best_direction_avx512(a: &[f64], b: &[f64]) -> (Vec<f64>, f64) {
    best_direction_body(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn best_direction_avx2(a: &[f64], b: &[f64]) -> (Vec<f64>, f64) {
    best_direction_body(a, b)
}

#[inline(always)]
fn best_direction_body(a: &[f64], b: &[f64]) -> (Vec<f64>, f64) {
    let m = b.len();
    let eigen = Mat::<f64>::from_fn(m, m, |i, j| a[i * m + j])
        .self_adjoint_eigen(Side::Lower)
        .expect("a symmetric matrix has an eigendecomposition");
    let lambda: Vec<f64> = (0..m).map(|i| eigen.S()[i]).collect(); // ascending
    let p = eigen.U();
    let beta: Vec<f64> = (0..m).map(|i| (0..m).map(|k| p[(k, i)] * b[k]).sum()).collect();
    // μ = 2vᵀAv lies in [2λ_min, 2λ_max]; search every interval between the poles λᵢ there.
    let top = lambda[m - 1].max(0.0);
    let mut breaks: Vec<f64> = lambda.clone();
    breaks.push(2.0 * top + 1e-9 * (1.0 + top));
    breaks.insert(0, 2.0 * lambda[0].min(0.0) - 1e-9 * (1.0 + top));
    breaks.sort_by(f64::total_cmp);
    breaks.dedup_by(|x, y| (*x - *y).abs() <= 1e-13 * (1.0 + top));
    // Sample every interval, points crowding towards the poles where f changes fastest, then
    // refine the few most promising by golden section (f is smooth inside an interval).
    const SAMPLES: usize = 12;
    const REFINED: usize = 4;
    let mut brackets: Vec<(f64, f64, f64, f64)> = Vec::new(); // (value, μ, lo, hi)
    for pair in breaks.windows(2) {
        let (lo, hi) = (pair[0], pair[1]);
        let width = hi - lo;
        if width <= 0.0 {
            continue;
        }
        let mut bracket = (f64::NEG_INFINITY, f64::NAN, lo, hi);
        let mus: [f64; SAMPLES - 1] = std::array::from_fn(|i| {
            let s = (i + 1) as f64 / SAMPLES as f64;
            lo + width * (0.5 - 0.5 * (std::f64::consts::PI * s).cos())
        });
        for (mu, value) in mus.into_iter().zip(along_curve(&beta, &lambda, mus)) {
            if value > bracket.0 {
                let d = width / SAMPLES as f64 * 1.6;
                bracket = (value, mu, (mu - d).max(lo), (mu + d).min(hi));
            }
        }
        brackets.push(bracket);
    }
    brackets.sort_by(|x, y| y.0.total_cmp(&x.0));
    brackets.truncate(REFINED);
    // Golden-section refinement of the brackets side by side (each its own search; a missing
    // bracket's lanes search an empty interval and are not read).
    let (mut x0, mut x1) = ([0.0; REFINED], [0.0; REFINED]);
    for (k, &(_, _, lo, hi)) in brackets.iter().enumerate() {
        (x0[k], x1[k]) = (lo, hi);
    }
    let g = 0.5 * (5f64.sqrt() - 1.0);
    for _ in 0..50 {
        let a1: [f64; REFINED] = std::array::from_fn(|k| x1[k] - g * (x1[k] - x0[k]));
        let a2: [f64; REFINED] = std::array::from_fn(|k| x0[k] + g * (x1[k] - x0[k]));
        let points: [f64; 2 * REFINED] = std::array::from_fn(|k| if k < REFINED { a1[k] } else { a2[k - REFINED] });
        let values = along_curve(&beta, &lambda, points);
        for k in 0..REFINED {
            if values[k] > values[REFINED + k] {
                x1[k] = a2[k];
            } else {
                x0[k] = a1[k];
            }
        }
    }
    let refined: [f64; REFINED] = std::array::from_fn(|k| 0.5 * (x0[k] + x1[k]));
    let refined_values = along_curve(&beta, &lambda, refined);
    let (mut best_mu, mut best) = (f64::NAN, f64::NEG_INFINITY);
    for (k, &(value, mu, _, _)) in brackets.iter().enumerate() {
        if value > best {
            (best, best_mu) = (value, mu);
        }
        if refined_values[k] > best {
            (best, best_mu) = (refined_values[k], refined[k]);
        }
    }
    let from_curve: Vec<f64> = if best_mu.is_finite() {
        let c: Vec<f64> = (0..m).map(|i| beta[i] / (best_mu - lambda[i])).collect();
        (0..m).map(|k| (0..m).map(|i| p[(k, i)] * c[i]).sum()).collect()
    } else {
        b.to_vec()
    };
    // The curve's limits (μ → ±∞: v ∝ b; μ → λᵢ: v = pᵢ) as candidates too, then polish.
    let mut candidates = vec![normalised(from_curve), normalised(b.to_vec())];
    let strongest = (0..m)
        .max_by(|&i, &j| (lambda[i] * beta[i] * beta[i]).total_cmp(&(lambda[j] * beta[j] * beta[j])))
        .expect("m ≥ 1");
    candidates.push((0..m).map(|k| p[(k, strongest)]).collect());
    let mut scratch = vec![0.0; m];
    let start = candidates
        .into_iter()
        .max_by(|x, y| objective(a, b, x, &mut scratch).total_cmp(&objective(a, b, y, &mut scratch)))
        .expect("candidates");
    local_ascent_body(a, b, start, 50)
}

/// f along the curve v(μ) at each of `L` values of μ: in eigen-coordinates c = β/(μ − λ),
/// f = (Σλc²)(Σβc)²/(Σc²)², each sum from 0 in order of i, −∞ where Σc² is 0 or not finite.
/// The values of μ go side by side (each one's sums are chains of dependent additions, and
/// its divisions independent of the others'): the same bits as one at a time.
#[inline(always)]
fn along_curve<const L: usize>(beta: &[f64], lambda: &[f64], mu: [f64; L]) -> [f64; L] {
    let (mut quad, mut dot, mut norm) = ([0.0f64; L], [0.0f64; L], [0.0f64; L]);
    for (&b, &l) in beta.iter().zip(lambda) {
        for k in 0..L {
            let c = b / (mu[k] - l);
            quad[k] += l * c * c;
            dot[k] += b * c;
            norm[k] += c * c;
        }
    }
    std::array::from_fn(|k| {
        if norm[k] > 0.0 && norm[k].is_finite() {
            quad[k] * dot[k] * dot[k] / (norm[k] * norm[k])
        } else {
            f64::NEG_INFINITY
        }
    })
}

/// WᵀW (n × n, row-major), whose quadratic form is ‖Wv‖².
pub fn gram(w: &[f64], n: usize) -> Vec<f64> {
    let mut gram = vec![0.0; n * n];
    for k in 0..n {
        let row = &w[k * n..(k + 1) * n];
        for i in 0..n {
            if row[i] != 0.0 {
                for j in 0..n {
                    gram[i * n + j] += row[i] * row[j];
                }
            }
        }
    }
    gram
}

/// How many local row dimensions to find per sampling location.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowSearch {
    /// At most this many per location.
    pub max_dims: usize,
    /// Stop when Δf falls below this fraction of the first dimension's.
    pub relative_floor: f64,
}

/// The Δf-weighted local operative row dimensions (Δf · v, each v in ℝⁿ) at state `x`, found
/// one after another, each orthogonal to the earlier ones.
pub fn local_row_dimensions(w: &[f64], n: usize, x: &[f64], alpha: f64, search: &RowSearch) -> Vec<Vec<f64>> {
    let r: Vec<f64> = x.iter().map(|&v| tanh(v)).collect();
    let gram = gram(w, n);
    // The allowed subspace: orthonormal columns Q (n × m, stored as m vectors of length n), and
    // WᵀW and r in its coordinates, A = QᵀWᵀWQ and b = Qᵀr. Each found direction y shrinks all
    // three by a Householder reflection H (H y = ±e₀): Q ← (QH) without its first column, and
    // likewise A ← HAH and b ← Hb, rank-two updates in O(m²) rather than rebuilding A in O(n²m).
    let mut q: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    let mut a = gram;
    let mut b = r;
    let mut found = Vec::new();
    let mut first = None;
    while found.len() < search.max_dims && !q.is_empty() {
        let m = q.len();
        let (y, value) = best_direction(&a, &b);
        let delta_f = alpha * value.max(0.0).sqrt();
        let first_delta = *first.get_or_insert(delta_f);
        if delta_f <= search.relative_floor * first_delta || delta_f < 1e-12 {
            break;
        }
        let v: Vec<f64> = (0..n)
            .map(|k| q.iter().zip(&y).map(|(col, yi)| col[k] * yi).sum())
            .collect();
        found.push(v.iter().map(|x| delta_f * x).collect());
        let mut u = y.clone();
        u[0] += if y[0] >= 0.0 { 1.0 } else { -1.0 };
        let beta = 2.0 / u.iter().map(|x| x * x).sum::<f64>();
        let qu: Vec<f64> = (0..n)
            .map(|k| q.iter().zip(&u).map(|(col, ui)| col[k] * ui).sum())
            .collect();
        q = (1..m)
            .map(|j| (0..n).map(|k| q[j][k] - beta * qu[k] * u[j]).collect())
            .collect();
        // HAH = A − β(u wᵀ + w uᵀ) + β²(uᵀw) u uᵀ with w = Au.
        let w: Vec<f64> = (0..m)
            .map(|i| a[i * m..(i + 1) * m].iter().zip(&u).map(|(x, y)| x * y).sum())
            .collect();
        let uw: f64 = u.iter().zip(&w).map(|(x, y)| x * y).sum();
        let mut shrunk = Vec::with_capacity((m - 1) * (m - 1));
        for i in 1..m {
            for j in 1..m {
                shrunk.push(a[i * m + j] - beta * (u[i] * w[j] + w[i] * u[j]) + beta * beta * uw * u[i] * u[j]);
            }
        }
        a = shrunk;
        let ub: f64 = u.iter().zip(&b).map(|(x, y)| x * y).sum();
        b = (1..m).map(|i| b[i] - beta * ub * u[i]).collect();
    }
    found
}

/// W U_k U_kᵀ for the first k of `basis` (rows): W keeps its action on the top k row dimensions.
pub fn project_rows(w: &[f64], n: usize, basis: &[Vec<f64>], k: usize) -> Vec<f64> {
    use super::operative_dims::{projector, square_matmul};
    square_matmul(w, &projector(basis, n, k), n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    // The search as first written (one μ, one row at a time): the reference the side-by-side
    // version must match bit for bit.
    /// f(v) = (vᵀAv)(vᵀb)² for unit v; Δf = α√f.
    fn reference_objective(a: &[f64], b: &[f64], v: &[f64]) -> f64 {
        let m = b.len();
        let mut quad = 0.0;
        for i in 0..m {
            let row: f64 = (0..m).map(|j| a[i * m + j] * v[j]).sum();
            quad += v[i] * row;
        }
        let dot: f64 = b.iter().zip(v).map(|(x, y)| x * y).sum();
        quad * dot * dot
    }

    /// Riemannian gradient ascent on the unit sphere with backtracking, from `v`: a local
    /// optimiser (the "naive" search from a random start, and the polish of the exact one).
    fn reference_local_ascent(a: &[f64], b: &[f64], v: Vec<f64>, iterations: usize) -> (Vec<f64>, f64) {
        let m = b.len();
        let mut v = normalised(v);
        let mut value = reference_objective(a, b, &v);
        let mut step = 1.0;
        for _ in 0..iterations {
            let av: Vec<f64> = (0..m).map(|i| (0..m).map(|j| a[i * m + j] * v[j]).sum()).collect();
            let quad: f64 = v.iter().zip(&av).map(|(x, y)| x * y).sum();
            let dot: f64 = b.iter().zip(&v).map(|(x, y)| x * y).sum();
            let grad: Vec<f64> = (0..m)
                .map(|i| 2.0 * dot * dot * av[i] + 2.0 * quad * dot * b[i])
                .collect();
            let radial: f64 = grad.iter().zip(&v).map(|(g, x)| g * x).sum();
            let tangent: Vec<f64> = grad.iter().zip(&v).map(|(g, x)| g - radial * x).collect();
            let size = tangent.iter().map(|t| t * t).sum::<f64>().sqrt();
            if size <= 1e-15 * value.max(1e-300) {
                break;
            }
            let mut improved = false;
            for _ in 0..60 {
                let candidate = normalised(v.iter().zip(&tangent).map(|(x, t)| x + step * t / size).collect());
                let new = reference_objective(a, b, &candidate);
                if new > value {
                    let gain = new - value;
                    v = candidate;
                    value = new;
                    step *= 2.0;
                    improved = gain > 1e-14 * value;
                    break;
                }
                step *= 0.5;
            }
            if !improved {
                break;
            }
        }
        (v, value)
    }

    /// The global maximiser of f over unit v ∈ ℝᵐ (see the module comment), with its value.
    fn reference_best_direction(a: &[f64], b: &[f64]) -> (Vec<f64>, f64) {
        let m = b.len();
        let eigen = Mat::<f64>::from_fn(m, m, |i, j| a[i * m + j])
            .self_adjoint_eigen(Side::Lower)
            .expect("a symmetric matrix has an eigendecomposition");
        let lambda: Vec<f64> = (0..m).map(|i| eigen.S()[i]).collect(); // ascending
        let p = eigen.U();
        let beta: Vec<f64> = (0..m).map(|i| (0..m).map(|k| p[(k, i)] * b[k]).sum()).collect();
        // f along the curve, in eigen-coordinates c = β/(μ − λ).
        let along = |mu: f64| -> f64 {
            let (mut quad, mut dot, mut norm) = (0.0, 0.0, 0.0);
            for i in 0..m {
                let c = beta[i] / (mu - lambda[i]);
                quad += lambda[i] * c * c;
                dot += beta[i] * c;
                norm += c * c;
            }
            if norm > 0.0 && norm.is_finite() {
                quad * dot * dot / (norm * norm)
            } else {
                f64::NEG_INFINITY
            }
        };
        // μ = 2vᵀAv lies in [2λ_min, 2λ_max]; search every interval between the poles λᵢ there.
        let top = lambda[m - 1].max(0.0);
        let mut breaks: Vec<f64> = lambda.clone();
        breaks.push(2.0 * top + 1e-9 * (1.0 + top));
        breaks.insert(0, 2.0 * lambda[0].min(0.0) - 1e-9 * (1.0 + top));
        breaks.sort_by(f64::total_cmp);
        breaks.dedup_by(|x, y| (*x - *y).abs() <= 1e-13 * (1.0 + top));
        // Sample every interval, points crowding towards the poles where f changes fastest, then
        // refine the few most promising by golden section (f is smooth inside an interval).
        const SAMPLES: usize = 12;
        const REFINED: usize = 4;
        let mut brackets: Vec<(f64, f64, f64, f64)> = Vec::new(); // (value, μ, lo, hi)
        for pair in breaks.windows(2) {
            let (lo, hi) = (pair[0], pair[1]);
            let width = hi - lo;
            if width <= 0.0 {
                continue;
            }
            let mut bracket = (f64::NEG_INFINITY, f64::NAN, lo, hi);
            for k in 1..SAMPLES {
                let s = k as f64 / SAMPLES as f64;
                let mu = lo + width * (0.5 - 0.5 * (std::f64::consts::PI * s).cos());
                let value = along(mu);
                if value > bracket.0 {
                    let d = width / SAMPLES as f64 * 1.6;
                    bracket = (value, mu, (mu - d).max(lo), (mu + d).min(hi));
                }
            }
            brackets.push(bracket);
        }
        brackets.sort_by(|x, y| y.0.total_cmp(&x.0));
        let (mut best_mu, mut best) = (f64::NAN, f64::NEG_INFINITY);
        for &(value, mu, lo, hi) in brackets.iter().take(REFINED) {
            if value > best {
                (best, best_mu) = (value, mu);
            }
            let (mut x0, mut x1) = (lo, hi);
            let g = 0.5 * (5f64.sqrt() - 1.0);
            for _ in 0..50 {
                let (a1, a2) = (x1 - g * (x1 - x0), x0 + g * (x1 - x0));
                if along(a1) > along(a2) {
                    x1 = a2;
                } else {
                    x0 = a1;
                }
            }
            let refined = 0.5 * (x0 + x1);
            let value = along(refined);
            if value > best {
                (best, best_mu) = (value, refined);
            }
        }
        let from_curve: Vec<f64> = if best_mu.is_finite() {
            let c: Vec<f64> = (0..m).map(|i| beta[i] / (best_mu - lambda[i])).collect();
            (0..m).map(|k| (0..m).map(|i| p[(k, i)] * c[i]).sum()).collect()
        } else {
            b.to_vec()
        };
        // The curve's limits (μ → ±∞: v ∝ b; μ → λᵢ: v = pᵢ) as candidates too, then polish.
        let mut candidates = vec![normalised(from_curve), normalised(b.to_vec())];
        let strongest = (0..m)
            .max_by(|&i, &j| (lambda[i] * beta[i] * beta[i]).total_cmp(&(lambda[j] * beta[j] * beta[j])))
            .expect("m ≥ 1");
        candidates.push((0..m).map(|k| p[(k, strongest)]).collect());
        let start = candidates
            .into_iter()
            .max_by(|x, y| reference_objective(a, b, x).total_cmp(&reference_objective(a, b, y)))
            .expect("candidates");
        reference_local_ascent(a, b, start, 50)
    }

    #[test]
    fn side_by_side_evaluations_give_the_one_at_a_time_bits() {
        for (m, seed) in [(1, 3), (2, 4), (5, 5), (7, 6), (30, 8), (100, 9)] {
            let (a, b) = random_problem(m, seed);
            let bits = |(v, f): (Vec<f64>, f64)| (v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), f.to_bits());
            assert_eq!(
                bits(best_direction(&a, &b)),
                bits(reference_best_direction(&a, &b)),
                "m = {m}"
            );
            assert_eq!(
                bits(best_direction_body(&a, &b)),
                bits(reference_best_direction(&a, &b)),
                "m = {m}"
            );
            let start: Vec<f64> = (0..m).map(|i| (i as f64 * 0.7).sin()).collect();
            assert_eq!(
                bits(local_ascent(&a, &b, start.clone(), 200)),
                bits(reference_local_ascent(&a, &b, start, 200)),
                "m = {m}"
            );
        }
    }

    fn random_problem(m: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = SplitMix64::new(seed);
        let w: Vec<f64> = (0..m * m).map(|_| rng.normal()).collect();
        let mut a = vec![0.0; m * m];
        for i in 0..m {
            for j in 0..m {
                a[i * m + j] = (0..m).map(|k| w[k * m + i] * w[k * m + j]).sum();
            }
        }
        (a, (0..m).map(|_| rng.normal()).collect())
    }

    #[test]
    fn the_exact_search_beats_a_dense_scan_of_the_circle_and_sphere() {
        for seed in 0..20 {
            let (a, b) = random_problem(2, seed);
            let (_, exact) = best_direction(&a, &b);
            let scan = (0..100_000)
                .map(|k| {
                    let t = std::f64::consts::PI * k as f64 / 100_000.0;
                    objective(&a, &b, &[t.cos(), t.sin()], &mut [0.0; 2])
                })
                .fold(f64::NEG_INFINITY, f64::max);
            assert!(exact >= scan * (1.0 - 1e-9), "seed {seed}: {exact} < {scan}");
        }
        let (a, b) = random_problem(3, 7);
        let (_, exact) = best_direction(&a, &b);
        let mut scan = f64::NEG_INFINITY;
        for i in 0..400 {
            for j in 0..800 {
                let (th, ph) = (
                    std::f64::consts::PI * i as f64 / 400.0,
                    std::f64::consts::PI * j as f64 / 400.0,
                );
                scan = scan.max(objective(
                    &a,
                    &b,
                    &[th.sin() * ph.cos(), th.sin() * ph.sin(), th.cos()],
                    &mut [0.0; 3],
                ));
            }
        }
        assert!(exact >= scan * (1.0 - 1e-6), "{exact} < {scan}");
    }

    #[test]
    fn random_starts_of_a_local_optimiser_can_stall_below_the_exact_optimum() {
        // The paper's warning, measured: over many problems, some random starts end lower.
        let mut worse = 0;
        let mut rng = SplitMix64::new(11);
        for seed in 0..30 {
            let (a, b) = random_problem(20, 100 + seed);
            let (_, exact) = best_direction(&a, &b);
            for _ in 0..5 {
                let start: Vec<f64> = (0..20).map(|_| rng.normal()).collect();
                let (_, naive) = local_ascent(&a, &b, start, 500);
                assert!(naive <= exact * (1.0 + 1e-9), "a local optimum above the global one");
                worse += usize::from(naive < exact * (1.0 - 1e-6));
            }
        }
        assert!(worse > 0, "every random start found the optimum");
    }

    #[test]
    fn a_rank_one_w_has_its_row_dimension_in_the_plane_of_its_row_and_the_rates() {
        // W = a cᵀ: ‖Wv‖ = ‖a‖|cᵀv|, so f = ‖a‖²(cᵀv)²(vᵀr)², maximised in span{c, r}; the
        // second dimension (orthogonal to the first) still sees some of that plane, the rest none.
        let n = 4;
        let (a, c) = ([1.0, 2.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0]);
        let w: Vec<f64> = (0..16).map(|k| a[k / 4] * c[k % 4]).collect();
        let x = [0.3, -0.2, 0.5, 0.9];
        let search = RowSearch {
            max_dims: 4,
            relative_floor: 1e-9,
        };
        let dims = local_row_dimensions(&w, n, &x, 0.1, &search);
        assert_eq!(dims.len(), 2, "{dims:?}");
        let r: Vec<f64> = x.iter().map(|v: &f64| v.tanh()).collect();
        for d in &dims {
            // In span{c, r}: orthogonal to the normal of that plane within ℝ⁴.
            let residual: Vec<f64> = {
                let basis = [normalised(c.to_vec()), {
                    let cr: f64 = normalised(c.to_vec()).iter().zip(&r).map(|(x, y)| x * y).sum();
                    normalised(
                        r.iter()
                            .zip(&normalised(c.to_vec()))
                            .map(|(ri, ci)| ri - cr * ci)
                            .collect(),
                    )
                }];
                let mut res = d.clone();
                for e in &basis {
                    let dot: f64 = d.iter().zip(e).map(|(x, y)| x * y).sum();
                    res.iter_mut().zip(e).for_each(|(x, y)| *x -= dot * y);
                }
                res
            };
            assert!(residual.iter().all(|v| v.abs() < 1e-7), "{residual:?}");
        }
        // The two are orthogonal and decreasing.
        let dot: f64 = dims[0].iter().zip(&dims[1]).map(|(x, y)| x * y).sum();
        assert!(dot.abs() < 1e-9);
        let norm = |v: &Vec<f64>| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!(norm(&dims[0]) >= norm(&dims[1]));
        // Keeping both keeps W's action on r exactly.
        let basis: Vec<Vec<f64>> = dims.iter().map(|d| normalised(d.clone())).collect();
        let kept = project_rows(&w, n, &basis, 2);
        for i in 0..n {
            let full: f64 = (0..n).map(|j| w[i * n + j] * r[j]).sum();
            let reduced: f64 = (0..n).map(|j| kept[i * n + j] * r[j]).sum();
            assert!((full - reduced).abs() < 1e-9);
        }
    }

    #[test]
    fn sequential_dimensions_are_orthonormal_and_their_weights_are_their_delta_f() {
        // The shrinking subspace is updated in place; its A and b must stay WᵀW and r seen
        // through Q, so each weight must equal α‖Wv‖|vᵀr| recomputed from W directly, and no
        // random direction orthogonal to the earlier ones may beat the one found.
        let n = 7;
        let mut rng = SplitMix64::new(21);
        let w: Vec<f64> = (0..n * n).map(|_| rng.normal()).collect();
        let x: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let r: Vec<f64> = x.iter().map(|v| v.tanh()).collect();
        let search = RowSearch {
            max_dims: n,
            relative_floor: 0.0,
        };
        let dims = local_row_dimensions(&w, n, &x, 0.1, &search);
        assert!(dims.len() >= 5, "{}", dims.len());
        let delta_f = |v: &[f64]| {
            let wv: f64 = (0..n)
                .map(|i| (0..n).map(|j| w[i * n + j] * v[j]).sum::<f64>().powi(2))
                .sum::<f64>()
                .sqrt();
            0.1 * wv * v.iter().zip(&r).map(|(a, b)| a * b).sum::<f64>().abs()
        };
        let units: Vec<Vec<f64>> = dims.iter().map(|d| normalised(d.clone())).collect();
        for (k, (d, v)) in dims.iter().zip(&units).enumerate() {
            let weight = d.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!(
                (weight - delta_f(v)).abs() < 1e-9 * weight.max(1e-12),
                "dim {k}: {weight} vs {}",
                delta_f(v)
            );
            for earlier in &units[..k] {
                assert!(earlier.iter().zip(v).map(|(a, b)| a * b).sum::<f64>().abs() < 1e-9);
            }
            for _ in 0..2000 {
                let mut probe: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
                for e in &units[..k] {
                    let dot: f64 = probe.iter().zip(e).map(|(a, b)| a * b).sum();
                    probe.iter_mut().zip(e).for_each(|(p, e)| *p -= dot * e);
                }
                let probe = normalised(probe);
                assert!(
                    delta_f(&probe) <= weight * (1.0 + 1e-6),
                    "dim {k} is not the best: {} > {weight}",
                    delta_f(&probe)
                );
            }
        }
    }

    #[test]
    fn full_rank_row_projection_is_the_identity() {
        let n = 3;
        let w: Vec<f64> = (0..9).map(|k| k as f64 - 4.0).collect();
        let basis: Vec<Vec<f64>> = (0..3)
            .map(|i| (0..3).map(|j| f64::from(u8::from(i == j))).collect())
            .collect();
        assert_eq!(project_rows(&w, n, &basis, 3), w);
        assert!(project_rows(&w, n, &basis, 0).iter().all(|&v| v == 0.0));
    }
}
