//! Lange et al.'s MNIST MLP (784 → hidden… → classes, ReLU then dropout after each hidden layer,
//! cross-entropy plus L1/L2 penalties on the weight matrices): one Adam step on a minibatch with
//! the forward and backward passes written out by hand in f32, for the CPU.
//!
//! Why by hand: MNIST images are mostly black (≈ 80 % of pixels exactly 0), and the first layer —
//! 784 inputs, most of the arithmetic of a dense implementation — needs only each image's lit
//! pixels: forward, a sum of the weight rows of those pixels; backward, the weight gradient of
//! only those rows. A framework's dense product does all 784 (and the hidden layers' ReLU and
//! dropout zeros are skipped the same way). Activations are batch-major, one row per image.
//!
//! Same rounding on every x86-64 CPU: products are added by `mul_add` (exactly rounded) and the
//! only sums that are not plain sequential loops use [`dot`]'s fixed partial sums, so the AVX2
//! and portable builds agree bit for bit (tested).

use super::adam::{Adam, AdamSettings, default_beta_1, default_beta_2};
use super::classifier::{ClassifierWeights, Regularisation, Stepper, fill_dropout_mask};
use super::dense_ae::dot;
use crate::rng::SplitMix64;

/// Images stored by their nonzero pixels (compressed sparse rows).
struct SparseImages {
    starts: Vec<usize>,
    pixels: Vec<u32>,
    values: Vec<f32>,
}

impl SparseImages {
    fn of(images: &[f32], pixels_per_image: usize) -> Self {
        let mut sparse = SparseImages {
            starts: vec![0],
            pixels: Vec::new(),
            values: Vec::new(),
        };
        for image in images.chunks_exact(pixels_per_image) {
            for (i, &v) in image.iter().enumerate() {
                if v != 0.0 {
                    sparse.pixels.push(i as u32);
                    sparse.values.push(v);
                }
            }
            sparse.starts.push(sparse.pixels.len());
        }
        sparse
    }

    fn image(&self, k: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
        let range = self.starts[k]..self.starts[k + 1];
        self.pixels[range.clone()]
            .iter()
            .zip(&self.values[range])
            .map(|(&i, &v)| (i as usize, v))
    }
}

/// The network's parameters (f64 master copy for Adam, f32 for the arithmetic), Adam, the
/// training images by their lit pixels, and buffers for one minibatch.
pub(super) struct HandStepper {
    widths: Vec<usize>,
    regularisation: Regularisation,
    /// Where each layer's weights [in × out] and bias start in the flat parameters.
    offsets: Vec<(usize, usize)>,
    parameters: Vec<f64>,
    narrow: Vec<f32>,
    gradient: Vec<f32>,
    wide_gradient: Vec<f64>,
    adam: Adam,
    images: SparseImages,
    /// Per layer, batch-major: the output after ReLU and dropout (the logits for the last).
    outputs: Vec<Vec<f32>>,
    /// Per hidden layer: the factor its output's derivative passes back with — the dropout
    /// scale where the unit was active, else 0.
    gates: Vec<Vec<f32>>,
    delta: Vec<f32>,
    delta_below: Vec<f32>,
}

impl HandStepper {
    pub(super) fn new(
        init: &ClassifierWeights,
        regularisation: &Regularisation,
        train: (&[f32], &[u8]),
        batch: usize,
    ) -> Self {
        let widths = init.widths.clone();
        let mut offsets = Vec::new();
        let mut parameters = Vec::new();
        for (w, b) in init.weights.iter().zip(&init.biases) {
            offsets.push((parameters.len(), parameters.len() + w.len()));
            parameters.extend(w.iter().chain(b).map(|&v| v as f64));
        }
        let count = parameters.len();
        let layers = widths.len() - 1;
        let widest = widths[1..].iter().copied().max().unwrap_or(0);
        let adam = AdamSettings {
            learning_rate: 0.0, // set by each step
            beta_1: default_beta_1(),
            beta_2: default_beta_2(),
            epsilon: 1e-8,
        };
        Self {
            regularisation: *regularisation,
            offsets,
            narrow: vec![0.0; count],
            gradient: vec![0.0; count],
            wide_gradient: vec![0.0; count],
            adam: Adam::new(adam, count),
            images: SparseImages::of(train.0, widths[0]),
            outputs: widths[1..].iter().map(|&w| vec![0.0; w * batch]).collect(),
            gates: widths[1..layers].iter().map(|&w| vec![0.0; w * batch]).collect(),
            delta: vec![0.0; widest * batch],
            delta_below: vec![0.0; widest * batch],
            parameters,
            widths,
        }
    }

    /// The gradient of the minibatch's loss (mean cross-entropy plus the penalties) into
    /// `self.gradient`, at the parameters in `self.narrow`.
    #[inline(always)]
    fn gradient_portable(&mut self, labels: &[u8], batch: &[usize], rng: &mut SplitMix64) {
        let b = batch.len();
        let layers = self.widths.len() - 1;
        let keep = 1.0 - self.regularisation.dropout;
        let (widths, offsets, params) = (&self.widths, &self.offsets, &self.narrow);
        let weights = |l: usize| &params[offsets[l].0..offsets[l].1];
        let bias = |l: usize| &params[offsets[l].1..offsets[l].1 + widths[l + 1]];

        // Forward.
        for l in 0..layers {
            let (n_in, n_out) = (widths[l], widths[l + 1]);
            let (w, bias) = (weights(l), bias(l));
            let (below, here) = self.outputs.split_at_mut(l);
            let out = &mut here[0][..b * n_out];
            for (r, row) in out.chunks_exact_mut(n_out).enumerate() {
                row.copy_from_slice(bias);
                if l == 0 {
                    for (i, v) in self.images.image(batch[r]) {
                        axpy(row, v, &w[i * n_out..(i + 1) * n_out]);
                    }
                } else {
                    let input = &below[l - 1][r * n_in..(r + 1) * n_in];
                    for (i, &v) in input.iter().enumerate() {
                        if v != 0.0 {
                            axpy(row, v, &w[i * n_out..(i + 1) * n_out]);
                        }
                    }
                }
            }
            if l + 1 < layers {
                // ReLU, then dropout with masks drawn as the Burn path draws them.
                let gate = &mut self.gates[l][..b * n_out];
                if self.regularisation.dropout > 0.0 {
                    fill_dropout_mask(rng, gate, keep);
                } else {
                    gate.fill(1.0);
                }
                // Branch-free (a conditional store compiles to slow masked stores): an inactive
                // unit's gate and output become 0 (the output possibly −0, which reads as 0).
                for (v, g) in out.iter_mut().zip(gate.iter_mut()) {
                    *g *= (*v > 0.0) as u32 as f32;
                    *v *= *g;
                }
            }
        }

        // Softmax cross-entropy: the derivative of the batch mean with respect to the logits.
        let classes = widths[layers];
        let logits = &self.outputs[layers - 1][..b * classes];
        let delta = &mut self.delta[..b * classes];
        for ((row, d), &k) in logits
            .chunks_exact(classes)
            .zip(delta.chunks_exact_mut(classes))
            .zip(batch)
        {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut total = 0.0;
            for (di, &z) in d.iter_mut().zip(row) {
                *di = (z - max).exp();
                total += *di;
            }
            for di in d.iter_mut() {
                *di /= total * b as f32;
            }
            d[labels[k] as usize] -= 1.0 / b as f32;
        }

        // Backward: each layer's gradient, then the derivative passed below (through the gate).
        self.gradient.fill(0.0);
        for l in (0..layers).rev() {
            let (n_in, n_out) = (widths[l], widths[l + 1]);
            let w_at = offsets[l].0;
            let delta = &self.delta[..b * n_out];
            let (g_w, rest) = self.gradient[w_at..].split_at_mut(n_in * n_out);
            let g_b = &mut rest[..n_out];
            for (r, d) in delta.chunks_exact(n_out).enumerate() {
                axpy(g_b, 1.0, d);
                if l == 0 {
                    for (i, v) in self.images.image(batch[r]) {
                        axpy(&mut g_w[i * n_out..(i + 1) * n_out], v, d);
                    }
                } else {
                    let input = &self.outputs[l - 1][r * n_in..(r + 1) * n_in];
                    for (i, &v) in input.iter().enumerate() {
                        if v != 0.0 {
                            axpy(&mut g_w[i * n_out..(i + 1) * n_out], v, d);
                        }
                    }
                }
            }
            if l > 0 {
                let w = weights(l);
                let gate = &self.gates[l - 1][..b * n_in];
                let below = &mut self.delta_below[..b * n_in];
                for ((out, g), d) in below
                    .chunks_exact_mut(n_in)
                    .zip(gate.chunks_exact(n_in))
                    .zip(delta.chunks_exact(n_out))
                {
                    for (i, (o, &gi)) in out.iter_mut().zip(g).enumerate() {
                        *o = if gi == 0.0 {
                            0.0
                        } else {
                            dot(&w[i * n_out..(i + 1) * n_out], d) * gi
                        };
                    }
                }
                std::mem::swap(&mut self.delta, &mut self.delta_below);
            }
        }
        // The penalties on the weight matrices: l1·Σ|W| (derivative sign(W), 0 at 0) + l2·ΣW².
        let (l1, l2) = (self.regularisation.l1 as f32, self.regularisation.l2 as f32);
        for &(w_at, b_at) in offsets {
            for (g, &w) in self.gradient[w_at..b_at].iter_mut().zip(&params[w_at..b_at]) {
                let sign = if w > 0.0 {
                    1.0
                } else if w < 0.0 {
                    -1.0
                } else {
                    0.0
                };
                *g = l1.mul_add(sign, (2.0 * l2).mul_add(w, *g));
            }
        }
    }

    /// [`Self::gradient_portable`] compiled for AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn gradient_avx2(&mut self, labels: &[u8], batch: &[usize], rng: &mut SplitMix64) {
        self.gradient_portable(labels, batch, rng)
    }

    fn gradient(&mut self, labels: &[u8], batch: &[usize], rng: &mut SplitMix64) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return unsafe { self.gradient_avx2(labels, batch, rng) };
        }
        self.gradient_portable(labels, batch, rng)
    }
}

impl Stepper for HandStepper {
    fn step(&mut self, train: (&[f32], &[u8]), batch: &[usize], lr: f64, rng: &mut SplitMix64) {
        for (n, p) in self.narrow.iter_mut().zip(&self.parameters) {
            *n = *p as f32;
        }
        self.gradient(train.1, batch, rng);
        for (w, g) in self.wide_gradient.iter_mut().zip(&self.gradient) {
            *w = *g as f64;
        }
        self.adam.set_learning_rate(lr);
        self.adam.step(&mut self.parameters, &mut self.wide_gradient, None);
    }

    fn weights(&self) -> ClassifierWeights {
        let narrow = |s: &[f64]| s.iter().map(|&v| v as f32).collect::<Vec<f32>>();
        let (weights, biases) = self
            .offsets
            .iter()
            .enumerate()
            .map(|(l, &(w, b))| {
                (
                    narrow(&self.parameters[w..b]),
                    narrow(&self.parameters[b..b + self.widths[l + 1]]),
                )
            })
            .unzip();
        ClassifierWeights {
            widths: self.widths.clone(),
            weights,
            biases,
        }
    }
}

/// y += a·x, element by element.
#[inline(always)]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = a.mul_add(*xi, *yi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sparse images (about 30 % of pixels lit) of 3 classes, 12 pixels each.
    fn data(n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
        let mut rng = SplitMix64::new(seed);
        let labels: Vec<u8> = (0..n).map(|k| (k % 3) as u8).collect();
        let images = labels
            .iter()
            .flat_map(|&c| {
                let lit: Vec<f32> = (0..12)
                    .map(|i| {
                        if i / 4 == c as usize || rng.uniform() < 0.1 {
                            rng.uniform() as f32
                        } else {
                            0.0
                        }
                    })
                    .collect();
                lit
            })
            .collect();
        (images, labels)
    }

    #[test]
    fn a_step_by_hand_follows_burns_step() {
        // The same minibatches, masks and learning rate through both steppers: after 40 Adam
        // steps (with dropout, L1 and L2) the weights agree to float precision.
        let (images, labels) = data(200, 1);
        let init = ClassifierWeights::init(&[12, 16, 8, 3], 2);
        let regularisation = Regularisation {
            dropout: 0.3,
            l1: 1e-4,
            l2: 1e-3,
        };
        let train = (&images[..], &labels[..]);
        let mut by_hand = HandStepper::new(&init, &regularisation, train, 20);
        let mut burn = super::super::classifier::burn_stepper_for_tests(&init, &regularisation);
        let (mut rng_a, mut rng_b) = (SplitMix64::new(9), SplitMix64::new(9));
        for step in 0..40 {
            let batch: Vec<usize> = (0..20).map(|k| (step * 20 + k * 7) % 200).collect();
            by_hand.step(train, &batch, 1e-2, &mut rng_a);
            burn.step(train, &batch, 1e-2, &mut rng_b);
        }
        let (a, b) = (by_hand.weights(), burn.weights());
        let gap = a
            .weights
            .iter()
            .flatten()
            .chain(a.biases.iter().flatten())
            .zip(b.weights.iter().flatten().chain(b.biases.iter().flatten()))
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        eprintln!("largest parameter difference {gap}");
        assert!(gap < 1e-3, "largest parameter difference {gap}");
        assert!(a != init, "training moved the weights");
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_avx2_and_portable_builds_agree_bit_for_bit() {
        if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")) {
            eprintln!("skipped: this CPU has no AVX2 and FMA");
            return;
        }
        let (images, labels) = data(100, 3);
        let init = ClassifierWeights::init(&[12, 16, 8, 3], 4);
        let regularisation = Regularisation {
            dropout: 0.2,
            l1: 1e-4,
            l2: 1e-3,
        };
        let mut stepper = HandStepper::new(&init, &regularisation, (&images, &labels), 50);
        for (n, p) in stepper.narrow.iter_mut().zip(&stepper.parameters) {
            *n = *p as f32;
        }
        let batch: Vec<usize> = (0..50).map(|k| k * 2).collect();
        // SAFETY: AVX2 and FMA checked above.
        unsafe { stepper.gradient_avx2(&labels, &batch, &mut SplitMix64::new(5)) };
        let fast = stepper.gradient.clone();
        stepper.gradient_portable(&labels, &batch, &mut SplitMix64::new(5));
        assert!(
            fast.iter()
                .zip(&stepper.gradient)
                .all(|(x, y)| x.to_bits() == y.to_bits())
        );
        assert!(fast.iter().any(|g| *g != 0.0));
    }
}
