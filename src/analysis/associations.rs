//! Association matrices between the hidden units of one layer of a ReLU MLP classifier
//! (Lange, Rolnick & Kording 2022), computed analytically on a set of inputs:
//!
//! - upstream: input covariance Cov(hᵢ, hⱼ) and input gradient E_x[∇ₓhᵢ · ∇ₓhⱼ];
//! - downstream: output gradient E_x[Σ_o ∂y_o/∂hᵢ ∂y_o/∂hⱼ] over the logits, and output Hessian
//!   E_x[∂²L/∂hᵢ∂hⱼ] of the cross-entropy, K (diag p − p pᵀ) Kᵀ with K = ∂y/∂h (ReLU's second
//!   derivative is zero almost everywhere).
//!
//! h are post-ReLU activations (eval mode). Each matrix is made nonnegative (absolute value),
//! optionally normed (Aᵢⱼ/√(Aᵢᵢ Aⱼⱼ)), and its diagonal zeroed, ready for clustering.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

use crate::model::classifier::ClassifierWeights;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Method {
    InputCovariance,
    InputGradient,
    OutputGradient,
    OutputHessian,
}

impl Method {
    pub const ALL: [Method; 4] = [
        Method::InputCovariance,
        Method::InputGradient,
        Method::OutputGradient,
        Method::OutputHessian,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::InputCovariance => "input_covariance",
            Method::InputGradient => "input_gradient",
            Method::OutputGradient => "output_gradient",
            Method::OutputHessian => "output_hessian",
        }
    }

    pub fn is_upstream(self) -> bool {
        matches!(self, Method::InputCovariance | Method::InputGradient)
    }
}

/// A dense square matrix (row-major) over the units of one layer.
pub type Square = Vec<f64>;

/// Samples per pass: a pass's stacked matrices (units × classes × samples) stay in cache.
const CHUNK: usize = 128;

/// A row-major `rows × cols` view of `data`.
fn view(data: &[f64], rows: usize, cols: usize) -> MatRef<'_, f64> {
    MatRef::from_row_major_slice(data, rows, cols)
}

/// dst (rows × cols, row-major) ← or += a · b.
fn product(dst: &mut [f64], rows: usize, cols: usize, accum: Accum, a: MatRef<'_, f64>, b: MatRef<'_, f64>) {
    matmul(
        MatMut::from_row_major_slice_mut(dst, rows, cols),
        accum,
        a,
        b,
        1.0,
        Par::Seq,
    );
}

/// The running sums of one hidden layer's matrices.
struct LayerSums {
    units: usize,
    mean: Vec<f64>,
    second: Vec<f64>,
    input_gradient: Vec<f64>,
    output_gradient: Vec<f64>,
    /// Σ K diag(p) Kᵀ and Σ (Kp)(Kp)ᵀ: the Hessian is their difference.
    hessian_weighted: Vec<f64>,
    hessian_outer: Vec<f64>,
}

impl LayerSums {
    fn new(units: usize) -> Self {
        let square = || vec![0.0; units * units];
        Self {
            units,
            mean: vec![0.0; units],
            second: square(),
            input_gradient: square(),
            output_gradient: square(),
            hessian_weighted: square(),
            hessian_outer: square(),
        }
    }

    fn finish(self, samples: usize) -> Vec<(Method, Square)> {
        let (n, s) = (self.units, samples as f64);
        let covariance: Square = (0..n * n)
            .map(|q| self.second[q] / s - (self.mean[q / n] / s) * (self.mean[q % n] / s))
            .collect();
        let scale = |m: Vec<f64>| m.into_iter().map(|v| v / s).collect::<Square>();
        let hessian = self
            .hessian_weighted
            .iter()
            .zip(&self.hessian_outer)
            .map(|(a, b)| (a - b) / s)
            .collect();
        vec![
            (Method::InputCovariance, covariance),
            (Method::InputGradient, scale(self.input_gradient)),
            (Method::OutputGradient, scale(self.output_gradient)),
            (Method::OutputHessian, hessian),
        ]
    }
}

/// All four raw association matrices of hidden layer `layer` (0-based) over `inputs`.
pub fn associations(w: &ClassifierWeights, inputs: &[f32], layer: usize) -> Vec<(Method, Square)> {
    assert!(layer + 1 < w.weights.len(), "a hidden layer");
    all_associations(w, inputs).swap_remove(layer)
}

/// The four raw association matrices of every hidden layer (outer index) over `inputs`
/// (samples × input width, row-major), in one pass over the data.
///
/// The per-sample formulas of the module's doc, summed as matrix products over blocks of
/// samples (faer, f64): the covariance's second moment is HᵀH; the output gradient and Hessian
/// are products of the samples' K matrices stacked side by side (K diag(p) Kᵀ as (K√p)(K√p)ᵀ);
/// the input gradient of the first layer is G₁ ⊙ (masks' co-activation counts), and of a later
/// layer Wᵀ M W restricted to the units active for that sample (the other entries are zero), so
/// its cost falls with the share of active units. Sums in another order than the per-sample
/// loops this replaced, so the last bits differ (a test compares the two).
#[allow(clippy::needless_range_loop)] // indices mirror the formulas: sample x, unit i, class o
pub fn all_associations(w: &ClassifierWeights, inputs: &[f32]) -> Vec<Vec<(Method, Square)>> {
    let widths = &w.widths;
    let pixels = widths[0];
    let hidden = w.weights.len() - 1;
    assert!(hidden >= 1, "a network with a hidden layer");
    let classes = widths[hidden + 1];
    let weights: Vec<Vec<f64>> = w
        .weights
        .iter()
        .map(|l| l.iter().map(|&v| f64::from(v)).collect())
        .collect();
    let biases: Vec<Vec<f64>> = w
        .biases
        .iter()
        .map(|l| l.iter().map(|&v| f64::from(v)).collect())
        .collect();
    let units = |j: usize| widths[j + 1];
    // G₁ = W₁ᵀW₁: the first hidden layer's input-gradient Gram matrix before masking.
    let u0 = units(0);
    let mut g1 = vec![0.0; u0 * u0];
    let w0 = view(&weights[0], pixels, u0);
    product(&mut g1, u0, u0, Accum::Replace, w0.transpose(), w0);
    let mut sums: Vec<LayerSums> = (0..hidden).map(|j| LayerSums::new(units(j))).collect();
    let mut co_active = vec![0.0; u0 * u0];
    let samples = inputs.len() / pixels;
    for start in (0..samples).step_by(CHUNK) {
        let s = CHUNK.min(samples - start);
        let x: Vec<f64> = inputs[start * pixels..(start + s) * pixels]
            .iter()
            .map(|&v| f64::from(v))
            .collect();
        // Forward: z[l] (s × widths[l + 1]) for every layer, the logits last, and h[j] the
        // post-ReLU activations of hidden layer j.
        let mut z: Vec<Vec<f64>> = Vec::with_capacity(hidden + 1);
        let mut h: Vec<Vec<f64>> = Vec::with_capacity(hidden);
        for l in 0..=hidden {
            let (n_in, n_out) = (widths[l], widths[l + 1]);
            let mut zl: Vec<f64> = (0..s).flat_map(|_| biases[l].iter().copied()).collect();
            let below = h.last().unwrap_or(&x);
            product(
                &mut zl,
                s,
                n_out,
                Accum::Add,
                view(below, s, n_in),
                view(&weights[l], n_in, n_out),
            );
            if l < hidden {
                h.push(zl.iter().map(|v| v.max(0.0)).collect());
            }
            z.push(zl);
        }
        // Covariance: column sums and HᵀH of the post-ReLU activations.
        for (j, hj) in h.iter().enumerate() {
            let n = units(j);
            for row in hj.chunks_exact(n) {
                sums[j].mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
            }
            let hv = view(hj, s, n);
            product(&mut sums[j].second, n, n, Accum::Add, hv.transpose(), hv);
        }
        // The first layer's input gradient: Σ D G₁ D = G₁ ⊙ Σ d dᵀ, with d the 0/1 masks.
        let masks: Vec<f64> = z[0].iter().map(|&v| if v > 0.0 { 1.0 } else { 0.0 }).collect();
        let mv = view(&masks, s, u0);
        product(&mut co_active, u0, u0, Accum::Add, mv.transpose(), mv);

        // Per sample: the active units of every hidden layer, the later layers' input
        // gradients, and K = ∂logits/∂h stacked for the products below.
        let mut stacked: Vec<Vec<f64>> = (0..hidden).map(|j| vec![0.0; units(j) * classes * s]).collect();
        let mut stacked_weighted = stacked.clone();
        let mut stacked_kp: Vec<Vec<f64>> = (0..hidden).map(|j| vec![0.0; units(j) * s]).collect();
        for x in 0..s {
            let active: Vec<Vec<usize>> = (0..hidden)
                .map(|j| (0..units(j)).filter(|&i| z[j][x * units(j) + i] > 0.0).collect())
                .collect();
            accumulate_input_gradients(&weights, widths, &g1, &active, &mut sums);
            let logits = &z[hidden][x * classes..(x + 1) * classes];
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = logits.iter().map(|v| (v - max).exp()).collect();
            let total: f64 = e.iter().sum();
            let p: Vec<f64> = e.iter().map(|v| v / total).collect();
            let root_p: Vec<f64> = p.iter().map(|v| v.sqrt()).collect();
            // K of the last hidden layer is the output weights; each earlier one pulls back
            // through the active units of the layer after it: K_j = W_{j+1}[:, a] K_{j+1}[a, :].
            let mut k = weights[hidden].clone();
            for j in (0..hidden).rev() {
                if j + 1 < hidden {
                    let a = &active[j + 1];
                    let (n, next) = (units(j), units(j + 1));
                    let layer_weights = &weights[j + 1];
                    let columns: Vec<f64> = (0..n)
                        .flat_map(|r| a.iter().map(move |&c| layer_weights[r * next + c]))
                        .collect();
                    let rows: Vec<f64> = a
                        .iter()
                        .flat_map(|&c| k[c * classes..(c + 1) * classes].iter().copied())
                        .collect();
                    let mut pulled = vec![0.0; n * classes];
                    if !a.is_empty() {
                        product(
                            &mut pulled,
                            n,
                            classes,
                            Accum::Replace,
                            view(&columns, n, a.len()),
                            view(&rows, a.len(), classes),
                        );
                    }
                    k = pulled;
                }
                let width = classes * s;
                for i in 0..units(j) {
                    let row = &k[i * classes..(i + 1) * classes];
                    let at = i * width + x * classes;
                    stacked[j][at..at + classes].copy_from_slice(row);
                    for o in 0..classes {
                        stacked_weighted[j][at + o] = row[o] * root_p[o];
                    }
                    stacked_kp[j][i * s + x] = row.iter().zip(&p).map(|(k, p)| k * p).sum();
                }
            }
        }
        for j in 0..hidden {
            let n = units(j);
            let k = view(&stacked[j], n, classes * s);
            product(&mut sums[j].output_gradient, n, n, Accum::Add, k, k.transpose());
            let kw = view(&stacked_weighted[j], n, classes * s);
            product(&mut sums[j].hessian_weighted, n, n, Accum::Add, kw, kw.transpose());
            let kp = view(&stacked_kp[j], n, s);
            product(&mut sums[j].hessian_outer, n, n, Accum::Add, kp, kp.transpose());
        }
    }
    sums[0]
        .input_gradient
        .iter_mut()
        .zip(g1.iter().zip(&co_active))
        .for_each(|(acc, (g, count))| *acc = g * count);
    sums.into_iter().map(|layer| layer.finish(samples)).collect()
}

/// One sample's input-gradient matrices M_j = J_j J_jᵀ of the hidden layers after the first,
/// added to their sums: M₀ = D₀G₁D₀, M_j = D_j W_jᵀ M_{j−1} W_j D_j, computed on the active units
/// only (`active[j]`), where every other entry is zero.
fn accumulate_input_gradients(
    weights: &[Vec<f64>],
    widths: &[usize],
    g1: &[f64],
    active: &[Vec<usize>],
    sums: &mut [LayerSums],
) {
    let u0 = widths[1];
    let mut m: Vec<f64> = active[0]
        .iter()
        .flat_map(|&a| active[0].iter().map(move |&c| g1[a * u0 + c]))
        .collect();
    for j in 1..sums.len() {
        let (before, after) = (&active[j - 1], &active[j]);
        if before.is_empty() || after.is_empty() {
            return;
        }
        let next = widths[j + 1];
        let layer_weights = &weights[j];
        let sub: Vec<f64> = before
            .iter()
            .flat_map(|&a| after.iter().map(move |&o| layer_weights[a * next + o]))
            .collect();
        let (nb, na) = (before.len(), after.len());
        let mut tmp = vec![0.0; nb * na];
        product(&mut tmp, nb, na, Accum::Replace, view(&m, nb, nb), view(&sub, nb, na));
        let mut out = vec![0.0; na * na];
        product(
            &mut out,
            na,
            na,
            Accum::Replace,
            view(&sub, nb, na).transpose(),
            view(&tmp, nb, na),
        );
        let acc = &mut sums[j].input_gradient;
        for (r, &o1) in after.iter().enumerate() {
            for (c, &o2) in after.iter().enumerate() {
                acc[o1 * next + o2] += out[r * na + c];
            }
        }
        m = out;
    }
}

/// |A|, optionally normed by √(AᵢᵢAⱼⱼ), diagonal zeroed. Units with a zero diagonal get zero
/// rows (they carry nothing and stay unclustered).
pub fn prepare(a: &Square, n: usize, normed: bool) -> Square {
    let diagonal: Vec<f64> = (0..n).map(|i| a[i * n + i].abs()).collect();
    (0..n * n)
        .map(|q| {
            let (i, j) = (q / n, q % n);
            if i == j {
                return 0.0;
            }
            let v = a[q].abs();
            if !normed {
                v
            } else if diagonal[i] > 0.0 && diagonal[j] > 0.0 {
                v / (diagonal[i] * diagonal[j]).sqrt()
            } else {
                0.0
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The per-sample loops this module used until session 12, kept as the reference.
    fn weight(w: &ClassifierWeights, l: usize, i: usize, o: usize) -> f64 {
        w.weights[l][i * w.widths[l + 1] + o] as f64
    }

    /// All four raw association matrices of hidden layer `layer` (0-based) over `inputs`.
    // Index loops mirror the matrix formulas (i, j, o, layer l) that the doc comment states.
    #[allow(clippy::needless_range_loop)]
    fn reference(w: &ClassifierWeights, inputs: &[f32], layer: usize) -> Vec<(Method, Square)> {
        let pixels = w.widths[0];
        let n_layers = w.weights.len();
        assert!(layer + 1 < n_layers, "a hidden layer");
        let units = w.widths[layer + 1];
        let classes = w.widths[n_layers];
        let samples = inputs.len() / pixels;
        // Gram matrix of the first layer's weights: G₁ = W₁ᵀW₁ (units of layer 0).
        let h0 = w.widths[1];
        let mut g1 = vec![0.0; h0 * h0];
        for p in 0..pixels {
            for i in 0..h0 {
                let wi = weight(w, 0, p, i);
                if wi != 0.0 {
                    for j in 0..h0 {
                        g1[i * h0 + j] += wi * weight(w, 0, p, j);
                    }
                }
            }
        }
        let mut mean = vec![0.0; units];
        let mut second = vec![0.0; units * units];
        let (mut input_gradient, mut output_gradient, mut hessian) = (
            vec![0.0; units * units],
            vec![0.0; units * units],
            vec![0.0; units * units],
        );
        for x in inputs.chunks_exact(pixels) {
            let pre = w.pre_activations(x);
            let h: Vec<f64> = pre[layer].iter().map(|v| v.max(0.0)).collect();
            let active: Vec<Vec<bool>> = pre[..n_layers - 1]
                .iter()
                .map(|z| z.iter().map(|&v| v > 0.0).collect())
                .collect();
            for i in 0..units {
                mean[i] += h[i];
                for j in 0..units {
                    second[i * units + j] += h[i] * h[j];
                }
            }
            // Input gradient: J Jᵀ with J = ∂h_layer/∂x. Propagate the Gram matrix through layers:
            // M₀ = D₀G₁D₀; M_{l} = D_l W_lᵀ M_{l−1} W_l D_l.
            let mut m: Vec<f64> = (0..h0 * h0)
                .map(|k| {
                    if active[0][k / h0] && active[0][k % h0] {
                        g1[k]
                    } else {
                        0.0
                    }
                })
                .collect();
            let mut width = h0;
            for l in 1..=layer {
                let next = w.widths[l + 1];
                let mut tmp = vec![0.0; width * next]; // M W
                for a in 0..width {
                    for c in 0..width {
                        let mac = m[a * width + c];
                        if mac != 0.0 {
                            for o in 0..next {
                                tmp[a * next + o] += mac * weight(w, l, c, o);
                            }
                        }
                    }
                }
                let mut out = vec![0.0; next * next];
                for o1 in 0..next {
                    if !active[l][o1] {
                        continue;
                    }
                    for a in 0..width {
                        let wa = weight(w, l, a, o1);
                        if wa != 0.0 {
                            for o2 in 0..next {
                                out[o1 * next + o2] += wa * tmp[a * next + o2];
                            }
                        }
                    }
                    for o2 in 0..next {
                        if !active[l][o2] {
                            out[o1 * next + o2] = 0.0;
                        }
                    }
                }
                m = out;
                width = next;
            }
            for (acc, v) in input_gradient.iter_mut().zip(&m) {
                *acc += v;
            }
            // K = ∂logits/∂h_layer (units × classes): back from the output through later layers.
            let mut k: Vec<f64> = vec![0.0; units * classes];
            {
                // Start with the map from the last hidden layer to the logits, then pull back.
                let last = n_layers - 1;
                let mut cur_width = w.widths[last];
                let mut cur: Vec<f64> = (0..cur_width * classes)
                    .map(|q| weight(w, last, q / classes, q % classes))
                    .collect();
                for l in (layer + 1..last).rev() {
                    // h_l+1 = relu(h_l W_l + b): ∂/∂h_l = W_l D_{l} (rows of the layer before).
                    let prev = w.widths[l];
                    let mut next = vec![0.0; prev * classes];
                    for a in 0..prev {
                        for c in 0..cur_width {
                            if active[l][c] {
                                let wac = weight(w, l, a, c);
                                for o in 0..classes {
                                    next[a * classes + o] += wac * cur[c * classes + o];
                                }
                            }
                        }
                    }
                    cur = next;
                    cur_width = prev;
                }
                k.copy_from_slice(&cur);
            }
            let logits = pre.last().expect("output layer");
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = logits.iter().map(|v| (v - max).exp()).collect();
            let z: f64 = e.iter().sum();
            let p: Vec<f64> = e.iter().map(|v| v / z).collect();
            // K·(diag p − p pᵀ): per unit, kp_i = Σ_o K_io p_o.
            let kp: Vec<f64> = (0..units)
                .map(|i| (0..classes).map(|o| k[i * classes + o] * p[o]).sum())
                .collect();
            for i in 0..units {
                for j in 0..units {
                    let (mut dot, mut weighted) = (0.0, 0.0);
                    for o in 0..classes {
                        let kio = k[i * classes + o];
                        dot += kio * k[j * classes + o];
                        weighted += kio * p[o] * k[j * classes + o];
                    }
                    output_gradient[i * units + j] += dot;
                    hessian[i * units + j] += weighted - kp[i] * kp[j];
                }
            }
        }
        let s = samples as f64;
        let covariance: Square = (0..units * units)
            .map(|q| second[q] / s - (mean[q / units] / s) * (mean[q % units] / s))
            .collect();
        let scale = |m: Vec<f64>| m.into_iter().map(|v| v / s).collect::<Square>();
        vec![
            (Method::InputCovariance, covariance),
            (Method::InputGradient, scale(input_gradient)),
            (Method::OutputGradient, scale(output_gradient)),
            (Method::OutputHessian, scale(hessian)),
        ]
    }

    fn tiny() -> ClassifierWeights {
        // 2 pixels → 2 hidden → 2 hidden → 2 classes, hand-picked.
        ClassifierWeights {
            widths: vec![2, 2, 2, 2],
            weights: vec![
                vec![1.0, 0.0, 0.0, 2.0],
                vec![1.0, 1.0, 0.0, 1.0],
                vec![1.0, -1.0, 0.5, 0.5],
            ],
            biases: vec![vec![0.0; 2], vec![0.0; 2], vec![0.0; 2]],
        }
    }

    #[test]
    fn first_layer_input_gradient_is_the_weight_gram_matrix_when_all_units_are_on() {
        // h₁ = relu(x W₁): unit 0 reads pixel 0 (weight 1), unit 1 pixel 1 (weight 2).
        // ∇ₓh₀ = (1, 0), ∇ₓh₁ = (0, 2) → [[1, 0], [0, 4]].
        let a = associations(&tiny(), &[1.0, 1.0, 0.5, 0.25], 0);
        assert_eq!(a[1].0, Method::InputGradient);
        assert_eq!(a[1].1, vec![1.0, 0.0, 0.0, 4.0]);
    }

    #[test]
    fn last_hidden_output_gradient_is_w_wt() {
        // Logits = h₂ W₃: ∂y/∂h₂ = W₃ rows (1, −1) and (0.5, 0.5): W₃W₃ᵀ = [[2, 0], [0, 0.5]].
        let a = associations(&tiny(), &[1.0, 1.0], 1);
        assert_eq!(a[2].1, vec![2.0, 0.0, 0.0, 0.5]);
    }

    #[test]
    fn second_layer_input_gradient_by_hand() {
        // x = (1, 1): layer 0 pre = (1, 2), both on; layer 1: h = (1, 1·1 + 2·1) = (1, 3), on.
        // J₂ = W₂ᵀ D W₁ᵀ: ∇h₂₀ = 1·(1,0) = (1, 0); ∇h₂₁ = 1·(1,0) + 1·(0,2) = (1, 2).
        // J Jᵀ = [[1, 1], [1, 5]].
        let a = associations(&tiny(), &[1.0, 1.0], 1);
        assert_eq!(a[1].1, vec![1.0, 1.0, 1.0, 5.0]);
    }

    #[test]
    fn covariance_by_hand_and_hessian_is_symmetric() {
        // Inputs (1,1) and (2,0): layer-0 h = (1, 2) and (2, 0): cov = [[¼, −½], [−½, 1]].
        let a = associations(&tiny(), &[1.0, 1.0, 2.0, 0.0], 0);
        assert_eq!(a[0].1, vec![0.25, -0.5, -0.5, 1.0]);
        let h = &a[3].1;
        assert!((h[1] - h[2]).abs() < 1e-12);
    }

    #[test]
    fn matrix_products_give_the_per_sample_loops_values() {
        // A deep net with biases that leave some units off for some samples, and one whose
        // second layer is dead for every sample (the input-gradient chain stops there).
        let mut rng = crate::rng::SplitMix64::new(8);
        let widths = [20, 12, 9, 7, 5];
        let mut net = ClassifierWeights::init(&widths, 3);
        for bias in net.biases.iter_mut().flatten() {
            *bias = rng.uniform_in(-0.3, 0.3) as f32;
        }
        let mut dead = net.clone();
        dead.biases[1].iter_mut().for_each(|b| *b = -100.0);
        // 300 samples: two whole chunks and a partial one.
        let inputs: Vec<f32> = (0..300 * widths[0]).map(|_| rng.uniform_in(-1.0, 1.0) as f32).collect();
        for net in [&net, &dead] {
            let all = all_associations(net, &inputs);
            assert_eq!(all.len(), widths.len() - 2);
            for (layer, matrices) in all.iter().enumerate() {
                for ((method, got), (reference_method, expected)) in matrices.iter().zip(reference(net, &inputs, layer))
                {
                    assert_eq!(*method, reference_method);
                    let scale = expected.iter().fold(0f64, |m, v| m.max(v.abs()));
                    for (g, e) in got.iter().zip(&expected) {
                        assert!(
                            (g - e).abs() <= 1e-12 * scale + 1e-15,
                            "layer {layer} {method:?}: {g} against {e} (scale {scale})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn prepare_takes_abs_norms_and_zeroes_the_diagonal() {
        let a = vec![4.0, -2.0, -2.0, 1.0];
        assert_eq!(prepare(&a, 2, false), vec![0.0, 2.0, 2.0, 0.0]);
        assert_eq!(prepare(&a, 2, true), vec![0.0, 1.0, 1.0, 0.0]);
    }
}
