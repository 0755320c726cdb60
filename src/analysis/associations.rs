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

fn weight(w: &ClassifierWeights, l: usize, i: usize, o: usize) -> f64 {
    w.weights[l][i * w.widths[l + 1] + o] as f64
}

/// All four raw association matrices of hidden layer `layer` (0-based) over `inputs`.
// Index loops mirror the matrix formulas (i, j, o, layer l) that the doc comment states.
#[allow(clippy::needless_range_loop)]
pub fn associations(w: &ClassifierWeights, inputs: &[f32], layer: usize) -> Vec<(Method, Square)> {
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
    fn prepare_takes_abs_norms_and_zeroes_the_diagonal() {
        let a = vec![4.0, -2.0, -2.0, 1.0];
        assert_eq!(prepare(&a, 2, false), vec![0.0, 2.0, 2.0, 0.0]);
        assert_eq!(prepare(&a, 2, true), vec![0.0, 1.0, 1.0, 0.0]);
    }
}
