//! An MLP classifier with dropout and L1/L2 weight penalties, trained with Adam, learning-rate
//! reduction on plateau and early stopping on the validation loss (Lange et al. 2022):
//! 784 → hidden… → 10, ReLU then dropout after each hidden layer.
//!
//! Dropout masks and minibatch order come from our own seeded generator, not the backend's, so
//! a run's numbers depend only on its own seed (runs train on parallel threads).
//!
//! On the CPU a step runs as written out in [`super::classifier_backprop`], the same bits as
//! the Burn program below (autodiff and Adam), which GPU backends run.

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, Tensor, TensorData};

use super::classifier_backprop::{ClassifierStepper, Minibatch};
use super::sparse_products::SparseRows;
use crate::rng::{SplitMix64, SplitMixBlock};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regularisation {
    pub dropout: f64,
    pub l1: f64,
    pub l2: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierTraining {
    pub max_epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// ReduceLROnPlateau: multiply the rate by this after `plateau_patience` epochs without a
    /// better validation loss.
    pub plateau_factor: f64,
    pub plateau_patience: usize,
    /// Stop after this many epochs without a better validation loss.
    pub stopping_patience: usize,
    /// Train on the first this-many training images (all if None): a size knob for profiles.
    pub train_subset: Option<usize>,
}

/// Layer l: weights [in × out] row-major, biases [out].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassifierWeights {
    pub widths: Vec<usize>,
    pub weights: Vec<Vec<f32>>,
    pub biases: Vec<Vec<f32>>,
}

impl ClassifierWeights {
    /// PyTorch's default `nn.Linear` initialisation: uniform on ±1/√fan_in.
    pub fn init(widths: &[usize], seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for w in widths.windows(2) {
            weights.push(super::uniform_fan_in(&mut rng, w[0] * w[1], w[0]));
            biases.push(super::uniform_fan_in(&mut rng, w[1], w[0]));
        }
        Self {
            widths: widths.to_vec(),
            weights,
            biases,
        }
    }

    /// Pre-activations of every layer for one input (eval mode: no dropout). Widens the weights
    /// to f64 on every call: for many inputs, loop over `forward_f64` as `evaluate` does.
    pub fn pre_activations(&self, x: &[f32]) -> Vec<Vec<f64>> {
        self.forward_f64(&self.weights_f64(), Input::Dense(x))
    }

    /// The weights widened to f64 once, for [`forward_f64`](Self::forward_f64).
    fn weights_f64(&self) -> Vec<Vec<f64>> {
        self.weights
            .iter()
            .map(|w| w.iter().map(|&v| f64::from(v)).collect())
            .collect()
    }

    /// Pre-activations of every layer for one input, in f64: z_o = b_o + Σ_i h_i·W[i][o] over
    /// the inputs with h_i ≠ 0, in order of i (the reference loop's additions, tested).
    fn forward_f64(&self, weights: &[Vec<f64>], x: Input<'_>) -> Vec<Vec<f64>> {
        let mut scratch = ForwardScratch::default();
        self.forward_f64_into(weights, x, &mut scratch);
        scratch.layers
    }

    /// [`forward_f64`](Self::forward_f64) into `scratch.layers`, reusing its buffers.
    ///
    /// On x86-64 CPUs with AVX2 the same loop runs compiled for AVX2 (no product fused with its
    /// sum, so the bits are the same). Its buffers are filled by plain loops: `collect()` and
    /// `extend` over adapters are not inlined into a `#[target_feature]` function, and ran
    /// without AVX2 (a third of the evaluation, `perf`, session 16).
    fn forward_f64_into(&self, weights: &[Vec<f64>], x: Input<'_>, scratch: &mut ForwardScratch) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.forward_f64_avx2(weights, x, scratch) };
        }
        self.forward_f64_portable(weights, x, scratch)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn forward_f64_avx2(&self, weights: &[Vec<f64>], x: Input<'_>, scratch: &mut ForwardScratch) {
        self.forward_f64_portable(weights, x, scratch)
    }

    #[inline(always)]
    fn forward_f64_portable(&self, weights: &[Vec<f64>], x: Input<'_>, scratch: &mut ForwardScratch) {
        let ForwardScratch { nonzero, layers } = scratch;
        // The nonzero inputs of the layer: most pixels, and many ReLU outputs, are 0. Each
        // entry is written and kept or not without a branch (the scan's branches, mispredicted
        // on MNIST's pixels, were a third of the evaluation, `perf`, session 24).
        match x {
            Input::Dense(x) => keep_where(nonzero, x.iter().map(|&v| f64::from(v)), |v| v != 0.0),
            Input::Listed(columns, values) => {
                nonzero.clear();
                for (&c, &v) in columns.iter().zip(values) {
                    nonzero.push((c as usize, f64::from(v)));
                }
            }
        }
        layers.resize_with(weights.len(), Vec::new);
        for (l, w) in weights.iter().enumerate() {
            let n_out = self.widths[l + 1];
            let z = &mut layers[l];
            z.clear();
            for &b in &self.biases[l] {
                z.push(f64::from(b));
            }
            // A tile of outputs summed in registers over every nonzero input, then the next:
            // tiles of 32 (eight AVX2 registers, so that eight chains of additions keep both
            // adders busy; four had waited on their latency), then of 16, 8, 4 and 1 for the
            // rest (10 classes: 8 + 1 + 1).
            let mut first = 0;
            first = output_tiles::<32>(w, n_out, nonzero, z, first);
            first = output_tiles::<16>(w, n_out, nonzero, z, first);
            first = output_tiles::<8>(w, n_out, nonzero, z, first);
            first = output_tiles::<4>(w, n_out, nonzero, z, first);
            output_tiles::<1>(w, n_out, nonzero, z, first);
            if l + 1 < weights.len() {
                keep_where(nonzero, z.iter().copied(), |v| v > 0.0);
            }
        }
    }

    /// Mean cross-entropy and accuracy over a data set.
    pub fn evaluate(&self, images: &[f32], labels: &[u8]) -> (f64, f64) {
        let pixels = self.widths[0];
        self.evaluate_inputs(images.chunks_exact(pixels).map(Input::Dense), labels)
    }

    /// [`evaluate`](Self::evaluate) on images held as their nonzero entries: the same bits.
    pub(crate) fn evaluate_listed(&self, images: &SparseRows, labels: &[u8]) -> (f64, f64) {
        assert_eq!(images.rows(), labels.len(), "one label per image");
        let inputs = (0..images.rows()).map(|r| {
            let (columns, values) = images.row(r);
            Input::Listed(columns, values)
        });
        self.evaluate_inputs(inputs, labels)
    }

    fn evaluate_inputs<'a>(&self, inputs: impl Iterator<Item = Input<'a>>, labels: &[u8]) -> (f64, f64) {
        let weights = self.weights_f64();
        let (mut loss, mut correct) = (0.0, 0usize);
        let mut scratch = ForwardScratch::default();
        for (x, &y) in inputs.zip(labels) {
            self.forward_f64_into(&weights, x, &mut scratch);
            let logits = scratch.layers.last().expect("an output layer");
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let log_z = max + logits.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
            loss += log_z - logits[y as usize];
            let argmax = (0..logits.len())
                .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                .expect("classes");
            correct += usize::from(argmax == y as usize);
        }
        (loss / labels.len() as f64, correct as f64 / labels.len() as f64)
    }
}

/// An input of [`ClassifierWeights::forward_f64_into`]: dense, or its nonzero entries (columns
/// in increasing order, and their values).
#[derive(Debug, Clone, Copy)]
enum Input<'a> {
    Dense(&'a [f32]),
    Listed(&'a [u32], &'a [f32]),
}

/// Replaces `kept` with (index, value) for the values that pass `keep`, in order.
#[inline(always)]
fn keep_where(kept: &mut Vec<(usize, f64)>, values: impl ExactSizeIterator<Item = f64>, keep: impl Fn(f64) -> bool) {
    kept.clear();
    kept.resize(values.len(), (0, 0.0));
    let mut count = 0;
    for (i, v) in values.enumerate() {
        kept[count] = (i, v);
        count += usize::from(keep(v));
    }
    kept.truncate(count);
}

/// Buffers of [`ClassifierWeights::forward_f64_into`], kept from one input to the next.
#[derive(Debug, Default)]
struct ForwardScratch {
    /// The current layer's nonzero inputs (index, value).
    nonzero: Vec<(usize, f64)>,
    /// Every layer's pre-activations.
    layers: Vec<Vec<f64>>,
}

/// `count` inverted-dropout factors: 1/keep where the next uniform draw is below `keep`, else
/// 0 — the draws of `count` calls of [`SplitMix64::uniform`], but computed side by side from a
/// block of the stream (each output a function of its index) and chosen without a branch: the
/// one-at-a-time loop, each draw waiting on the last and a division per kept unit, was 6 % of
/// a Lange training run.
///
/// On CPUs with AVX-512 DQ the loop is compiled for it, where 64-bit multiplies are vector
/// instructions (AVX2 has none, so there each draw was scalar: 12 % of a wide Lange run);
/// integer arithmetic and an exact conversion, so the bits are the same.
pub(super) fn dropout_mask(rng: &mut SplitMix64, count: usize, keep: f64) -> Vec<f32> {
    let block = rng.block(count as u64);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512dq") {
        // SAFETY: the CPU has AVX-512 F and DQ, checked just above.
        return unsafe { dropout_mask_avx512(block, count, keep) };
    }
    dropout_mask_portable(block, count, keep)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
fn dropout_mask_avx512(block: SplitMixBlock, count: usize, keep: f64) -> Vec<f32> {
    dropout_mask_portable(block, count, keep)
}

#[inline(always)]
fn dropout_mask_portable(block: SplitMixBlock, count: usize, keep: f64) -> Vec<f32> {
    let scale = (1.0 / keep) as f32;
    // A loop over a filled vector, not `collect()`: the iterator's code is a separate function
    // that would not be compiled for the caller's features.
    let mut mask = vec![0f32; count];
    for (k, m) in mask.iter_mut().enumerate() {
        if block.uniform(k as u64) < keep {
            *m = scale;
        }
    }
    mask
}

/// Adds Σ h_i·W[i][o] over the `nonzero` inputs (in order) to `z[o]` for the outputs from
/// `first` on, `TILE` at a time while a whole tile is left, each tile's sums in registers;
/// returns the first output not done.
#[inline(always)]
fn output_tiles<const TILE: usize>(
    w: &[f64],
    n_out: usize,
    nonzero: &[(usize, f64)],
    z: &mut [f64],
    mut first: usize,
) -> usize {
    while first + TILE <= n_out {
        let tile = &mut z[first..first + TILE];
        let mut acc: [f64; TILE] = (&*tile).try_into().expect("a whole tile");
        for &(i, hi) in nonzero {
            let row: &[f64; TILE] = w[i * n_out + first..][..TILE].try_into().expect("a whole tile");
            for k in 0..TILE {
                acc[k] += hi * row[k];
            }
        }
        tile.copy_from_slice(&acc);
        first += TILE;
    }
    first
}

#[derive(Module, Debug)]
struct Mlp {
    weights: Vec<Param<Tensor<2>>>,
    biases: Vec<Param<Tensor<2>>>, // [1, out]
}

impl Mlp {
    fn new(init: &ClassifierWeights, device: &Device) -> Self {
        let tensor = |v: &Vec<f32>, shape: [usize; 2]| {
            Param::from_tensor(Tensor::<2>::from_data(TensorData::new(v.clone(), shape), device))
        };
        let w = &init.widths;
        Self {
            weights: (0..w.len() - 1)
                .map(|l| tensor(&init.weights[l], [w[l], w[l + 1]]))
                .collect(),
            biases: (0..w.len() - 1)
                .map(|l| tensor(&init.biases[l], [1, w[l + 1]]))
                .collect(),
        }
    }

    fn to_weights(&self, widths: &[usize]) -> ClassifierWeights {
        let flat = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().expect("f32 parameters");
        ClassifierWeights {
            widths: widths.to_vec(),
            weights: self.weights.iter().map(|w| flat(w.val())).collect(),
            biases: self.biases.iter().map(|b| flat(b.val())).collect(),
        }
    }
}

/// What training produced: the best-validation weights and the course of training.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainedClassifier {
    pub weights: ClassifierWeights,
    pub epochs: usize,
    pub best_epoch: usize,
    /// `None` for an untrained network.
    pub best_validation_loss: Option<f64>,
}

/// How minibatches train: by hand on the CPU, or as a Burn program (GPU backends, and the
/// reference the hand-written path is tested against bit for bit).
enum Stepper {
    ByHand(Box<ClassifierStepper>),
    Burn {
        model: Mlp,
        optimiser: ModuleOptimizer,
        device: Device,
        regularisation: Regularisation,
    },
}

impl Stepper {
    fn new(init: &ClassifierWeights, regularisation: Regularisation, device: &Device) -> Self {
        if *device == Device::flex() {
            Self::ByHand(Box::new(ClassifierStepper::new(init, regularisation)))
        } else {
            Self::burn(init, regularisation, device)
        }
    }

    fn burn(init: &ClassifierWeights, regularisation: Regularisation, device: &Device) -> Self {
        let device = device.clone().autodiff();
        Self::Burn {
            model: Mlp::new(init, &device),
            optimiser: AdamConfig::new().with_epsilon(1e-8).init(),
            device,
            regularisation,
        }
    }

    fn weights(&self, widths: &[usize]) -> ClassifierWeights {
        match self {
            Self::ByHand(stepper) => stepper.weights().clone(),
            Self::Burn { model, .. } => model.to_weights(widths),
        }
    }

    /// One Adam step on a minibatch of b images, dropout masks drawn from `rng`.
    fn step(&mut self, images: Minibatch<'_>, labels: &[u8], rng: &mut SplitMix64, lr: f64) {
        match self {
            Self::ByHand(stepper) => stepper.step(images, labels, rng, lr),
            Self::Burn {
                model,
                optimiser,
                device,
                regularisation,
            } => {
                let batch = (images.dense(), labels);
                *model = burn_step(model.clone(), optimiser, device, batch, regularisation, rng, lr);
            }
        }
    }
}

/// [`Stepper::step`] as a Burn program: Burn's autodiff and Adam. `batch`: the images
/// (row-major) and their labels.
fn burn_step(
    model: Mlp,
    optimiser: &mut ModuleOptimizer,
    device: &Device,
    (images, labels): (Vec<f32>, &[u8]),
    regularisation: &Regularisation,
    rng: &mut SplitMix64,
    lr: f64,
) -> Mlp {
    let b = labels.len();
    let layers = model.weights.len();
    let pixels = images.len() / b.max(1);
    let classes = model.biases[layers - 1].val().dims()[1];
    let keep = 1.0 - regularisation.dropout;
    let mut y = vec![0f32; b * classes];
    for (r, &label) in labels.iter().enumerate() {
        y[r * classes + label as usize] = 1.0;
    }
    let mut h = Tensor::<2>::from_data(TensorData::new(images, [b, pixels]), device);
    for l in 0..layers {
        h = h.matmul(model.weights[l].val()) + model.biases[l].val();
        if l + 1 < layers {
            h = relu(h);
            if regularisation.dropout > 0.0 {
                let width = model.biases[l].val().dims()[1];
                let mask = dropout_mask(rng, b * width, keep);
                h = h * Tensor::<2>::from_data(TensorData::new(mask, [b, width]), device);
            }
        }
    }
    let targets = Tensor::<2>::from_data(TensorData::new(y, [b, classes]), device);
    let cross_entropy = (log_softmax(h, 1) * targets).sum().neg().div_scalar(b as f64);
    let mut loss = cross_entropy;
    for w in &model.weights {
        if regularisation.l1 > 0.0 {
            loss = loss + w.val().abs().sum().mul_scalar(regularisation.l1);
        }
        if regularisation.l2 > 0.0 {
            loss = loss + w.val().powi_scalar(2).sum().mul_scalar(regularisation.l2);
        }
    }
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    optimiser.step(lr, model, grads)
}

/// One classifier's training: its data, initial weights and settings.
#[derive(Debug, Clone, Copy)]
pub struct Classification<'a> {
    /// Training images (row-major, `init.widths[0]` values each) and their labels.
    pub train: (&'a [f32], &'a [u8]),
    /// The validation set the plateau and early-stopping rules read.
    pub validation: (&'a [f32], &'a [u8]),
    pub init: &'a ClassifierWeights,
    pub regularisation: &'a Regularisation,
    pub training: &'a ClassifierTraining,
    /// The minibatch order's and dropout masks' seed.
    pub seed: u64,
}

impl Classification<'_> {
    /// Trains on `device` (by hand on the CPU, as a Burn program elsewhere), calling `on_epoch`
    /// after each epoch.
    pub fn train(&self, device: &Device, on_epoch: impl FnMut(usize)) -> TrainedClassifier {
        self.train_with(Stepper::new(self.init, *self.regularisation, device), on_epoch)
    }

    /// [`train`](Self::train) through Burn's autodiff and Adam on `device`, CPU included: what
    /// runs on GPU backends, and the reference the CPU path gives the bits of (the bench times
    /// both).
    pub fn train_with_burn(&self, device: &Device, on_epoch: impl FnMut(usize)) -> TrainedClassifier {
        self.train_with(Stepper::burn(self.init, *self.regularisation, device), on_epoch)
    }

    /// [`train`](Self::train) with the given way of stepping.
    fn train_with(&self, mut stepper: Stepper, mut on_epoch: impl FnMut(usize)) -> TrainedClassifier {
        let Self {
            train,
            validation,
            init,
            training,
            seed,
            ..
        } = *self;
        let pixels = init.widths[0];
        let n = training.train_subset.map_or(train.1.len(), |s| s.min(train.1.len()));
        let mut rng = SplitMix64::new(seed);
        let mut lr = training.learning_rate;
        let mut best = (f64::INFINITY, init.clone(), 0usize);
        let (mut since_best, mut since_reduce) = (0usize, 0usize);
        let mut epochs = 0;
        let mut order: Vec<usize> = (0..n).collect();
        let mut labels = Vec::with_capacity(training.batch_size);
        // The images as their nonzero entries (≈ 19 % of MNIST's pixels), listed once: a
        // minibatch is gathered from these lists, ≈ 40 % of the bytes of the dense rows.
        let images = SparseRows::from_dense(&train.0[..n * pixels], n, pixels);
        let validation_images = SparseRows::from_dense(validation.0, validation.1.len(), pixels);
        for epoch in 1..=training.max_epochs {
            for i in (1..n).rev() {
                order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
            }
            for batch in order.chunks(training.batch_size) {
                labels.clear();
                labels.extend(batch.iter().map(|&k| train.1[k]));
                let chosen = Minibatch {
                    images: &images,
                    chosen: batch,
                };
                stepper.step(chosen, &labels, &mut rng, lr);
            }
            epochs = epoch;
            let weights = stepper.weights(&init.widths);
            let (validation_loss, _) = weights.evaluate_listed(&validation_images, validation.1);
            on_epoch(epoch);
            if validation_loss < best.0 {
                best = (validation_loss, weights, epoch);
                since_best = 0;
                since_reduce = 0;
            } else {
                since_best += 1;
                since_reduce += 1;
                if since_reduce > training.plateau_patience {
                    lr *= training.plateau_factor;
                    since_reduce = 0;
                }
                if since_best >= training.stopping_patience {
                    break;
                }
            }
        }
        TrainedClassifier {
            weights: best.1,
            epochs,
            best_epoch: best.2,
            best_validation_loss: Some(best.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The forward pass as first written: one input at a time, every output's sum in memory.
    fn reference_pre_activations(w: &ClassifierWeights, x: &[f32]) -> Vec<Vec<f64>> {
        let mut h: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        let mut all = Vec::new();
        for l in 0..w.weights.len() {
            let (n_in, n_out) = (w.widths[l], w.widths[l + 1]);
            let mut z: Vec<f64> = w.biases[l].iter().map(|&b| b as f64).collect();
            for (i, &hi) in h.iter().enumerate().take(n_in) {
                if hi != 0.0 {
                    let row = &w.weights[l][i * n_out..(i + 1) * n_out];
                    for (zo, &wv) in z.iter_mut().zip(row) {
                        *zo += hi * wv as f64;
                    }
                }
            }
            h = if l + 1 < w.weights.len() {
                z.iter().map(|v| v.max(0.0)).collect()
            } else {
                z.clone()
            };
            all.push(z);
        }
        all
    }

    #[test]
    fn tiled_forward_pass_gives_the_reference_bits() {
        let mut rng = SplitMix64::new(5);
        // Widths with every tile size (56 = 32 + 16 + 8; 15 = 8 + 4 + 1 + 1 + 1; 4).
        let weights = ClassifierWeights::init(&[30, 56, 15, 4], 2);
        let as_f64 = weights.weights_f64();
        for sample in 0..20 {
            // A third of the inputs exactly 0 (skipped).
            let x: Vec<f32> = (0..30)
                .map(|_| {
                    if rng.uniform() < 0.33 {
                        0.0
                    } else {
                        rng.uniform() as f32
                    }
                })
                .collect();
            let bits = |layers: Vec<Vec<f64>>| -> Vec<u64> { layers.iter().flatten().map(|v| v.to_bits()).collect() };
            let reference = bits(reference_pre_activations(&weights, &x));
            assert_eq!(bits(weights.pre_activations(&x)), reference, "sample {sample}");
            assert_eq!(
                bits({
                    let mut scratch = ForwardScratch::default();
                    weights.forward_f64_portable(&as_f64, Input::Dense(&x), &mut scratch);
                    scratch.layers
                }),
                reference,
                "sample {sample}"
            );
            let listed = SparseRows::from_dense(&x, 1, x.len());
            let (columns, values) = listed.row(0);
            assert_eq!(
                bits(weights.forward_f64(&as_f64, Input::Listed(columns, values))),
                reference,
                "sample {sample}, listed"
            );
        }
    }

    #[test]
    fn evaluation_on_listed_images_gives_the_dense_evaluations_bits() {
        let mut rng = SplitMix64::new(6);
        let (n, pixels) = (300, 50);
        // Pixels 0 on ≈ 80 % (half of those −0), then a NaN pixel too (listed, as the dense
        // pass does not skip it).
        let mut images: Vec<f32> = (0..n * pixels)
            .map(|_| match rng.uniform() {
                u if u < 0.4 => 0.0,
                u if u < 0.8 => -0.0,
                _ => rng.uniform() as f32,
            })
            .collect();
        let labels: Vec<u8> = (0..n).map(|_| (rng.next_u64() % 10) as u8).collect();
        let weights = ClassifierWeights::init(&[pixels, 40, 12, 10], 8);
        let listed = SparseRows::from_dense(&images, n, pixels);
        let bits = |(loss, accuracy): (f64, f64)| (loss.to_bits(), accuracy.to_bits());
        assert_eq!(
            bits(weights.evaluate_listed(&listed, &labels)),
            bits(weights.evaluate(&images, &labels))
        );
        images[7 * pixels + 3] = f32::NAN;
        let listed = SparseRows::from_dense(&images, n, pixels);
        assert_eq!(
            bits(weights.evaluate_listed(&listed, &labels)),
            bits(weights.evaluate(&images, &labels))
        );
    }

    /// Bits of every weight and bias.
    fn parameter_bits(w: &ClassifierWeights) -> Vec<u32> {
        w.weights
            .iter()
            .chain(&w.biases)
            .flatten()
            .map(|v| v.to_bits())
            .collect()
    }

    #[test]
    fn the_hand_written_step_gives_the_burn_programs_bits() {
        // Lange's sizes, a last batch
        // smaller than the rest, and each penalty alone and together with dropout.
        let mut rng = SplitMix64::new(9);
        let (n, pixels, batch) = (560, 784, 200);
        let images: Vec<f32> = (0..n * pixels)
            .map(|_| if rng.uniform() < 0.6 { 0.0 } else { rng.uniform() as f32 })
            .collect();
        let labels: Vec<u8> = (0..n).map(|_| (rng.next_u64() % 10) as u8).collect();
        // Minibatches as training takes them (rows of the images' lists of nonzero entries, in a
        // shuffled order), into the AVX-512 and the portable builds and the Burn program.
        let sparse = SparseRows::from_dense(&images, n, pixels);
        let order: Vec<usize> = (0..n).map(|k| (k * 9 + 3) % n).collect();
        let init = ClassifierWeights::init(&[pixels, 64, 64, 10], 4);
        let settings = [
            (0.0, 0.0, 0.0),
            (0.5, 0.0, 0.0),
            (0.0, 1e-3, 0.0),
            (0.0, 0.0, 1e-2),
            (0.3, 1e-4, 1e-3),
        ];
        for (dropout, l1, l2) in settings {
            let regularisation = Regularisation { dropout, l1, l2 };
            let mut by_hand = Stepper::new(&init, regularisation, &Device::flex());
            let mut burn = Stepper::burn(&init, regularisation, &Device::flex());
            let mut portable = Stepper::ByHand(Box::new(ClassifierStepper::portable(&init, regularisation)));
            assert!(matches!(by_hand, Stepper::ByHand(_)), "the CPU trains by hand");
            let (mut rng_hand, mut rng_burn) = (SplitMix64::new(3), SplitMix64::new(3));
            let mut rng_portable = SplitMix64::new(3);
            for (epoch, lr) in [1e-3, 1e-3, 2.5e-4].into_iter().enumerate() {
                for (k, chosen) in order.chunks(batch).enumerate() {
                    let x: Vec<f32> = chosen
                        .iter()
                        .flat_map(|&i| images[i * pixels..(i + 1) * pixels].iter().copied())
                        .collect();
                    let y: Vec<u8> = chosen.iter().map(|&i| labels[i]).collect();
                    let rows = Minibatch {
                        images: &sparse,
                        chosen,
                    };
                    // The Burn program reads the minibatch dense: the rows as taken from `images`.
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
                    assert_eq!(bits(&rows.dense()), bits(&x), "the minibatch's dense rows");
                    by_hand.step(rows, &y, &mut rng_hand, lr);
                    portable.step(rows, &y, &mut rng_portable, lr);
                    burn.step(rows, &y, &mut rng_burn, lr);
                    let reference = parameter_bits(&burn.weights(&init.widths));
                    for (name, stepper) in [("by hand", &by_hand), ("by hand, portable build", &portable)] {
                        let bits = parameter_bits(&stepper.weights(&init.widths));
                        let first_difference = bits.iter().zip(&reference).position(|(x, y)| x != y);
                        assert_eq!(
                            first_difference, None,
                            "{name}: {regularisation:?}, epoch {epoch}, batch {k}"
                        );
                    }
                }
            }
            assert_ne!(by_hand.weights(&init.widths), init, "training moved the weights");
            assert_eq!(rng_hand.next_u64(), rng_burn.next_u64(), "the same dropout draws");
        }
    }

    #[test]
    fn a_weight_that_is_not_finite_sends_the_step_to_gemms_products() {
        // A zero pixel times an infinite weight is NaN in gemm's (and Burn's) product; the
        // products over the nonzero pixels would skip it, so the step must not take them then.
        let mut rng = SplitMix64::new(21);
        let (n, pixels) = (40, 80);
        let images: Vec<f32> = (0..n * pixels)
            .map(|_| if rng.uniform() < 0.7 { 0.0 } else { rng.uniform() as f32 })
            .collect();
        let labels: Vec<u8> = (0..n).map(|_| (rng.next_u64() % 10) as u8).collect();
        let mut init = ClassifierWeights::init(&[pixels, 64, 64, 10], 2);
        init.weights[0][5 * 64 + 3] = f32::INFINITY;
        let regularisation = Regularisation {
            dropout: 0.0,
            l1: 0.0,
            l2: 0.0,
        };
        let sparse = SparseRows::from_dense(&images, n, pixels);
        let order: Vec<usize> = (0..n).collect();
        let mut by_hand = Stepper::new(&init, regularisation, &Device::flex());
        let mut portable = Stepper::ByHand(Box::new(ClassifierStepper::portable(&init, regularisation)));
        let chosen = Minibatch {
            images: &sparse,
            chosen: &order,
        };
        by_hand.step(chosen, &labels, &mut SplitMix64::new(1), 1e-3);
        portable.step(chosen, &labels, &mut SplitMix64::new(1), 1e-3);
        let after = by_hand.weights(&init.widths);
        assert!(
            after.weights[0].iter().any(|w| w.is_nan()),
            "the NaN reached the weights"
        );
        assert_eq!(parameter_bits(&after), parameter_bits(&portable.weights(&init.widths)));
    }

    #[test]
    fn dropout_masks_are_the_one_at_a_time_draws() {
        for (count, keep) in [(0, 0.5), (1, 0.5), (12_800, 0.3), (777, 0.95)] {
            let (mut a, mut b) = (SplitMix64::new(17), SplitMix64::new(17));
            let mask = dropout_mask(&mut a, count, keep);
            let one_at_a_time: Vec<f32> = (0..count)
                .map(|_| if b.uniform() < keep { (1.0 / keep) as f32 } else { 0.0 })
                .collect();
            assert_eq!(mask, one_at_a_time);
            let again = dropout_mask_portable(SplitMix64::new(17).block(count as u64), count, keep);
            assert_eq!(again, one_at_a_time, "the portable build");
            // And the generator has moved past exactly those draws.
            assert_eq!(a.next_u64(), b.next_u64());
        }
    }

    #[test]
    fn learns_a_separable_toy_problem_and_keeps_the_best_epoch() {
        // Two classes in 4-D: class = whether the first pixel is bright.
        let mut rng = SplitMix64::new(3);
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for k in 0..400 {
            let class = (k % 2) as u8;
            images.push(if class == 1 { 0.9 } else { 0.1 });
            images.extend((0..3).map(|_| rng.uniform() as f32));
            labels.push(class);
        }
        let init = ClassifierWeights::init(&[4, 8, 2], 1);
        let (before, _) = init.evaluate(&images[..800], &labels[..200]);
        let training = ClassifierTraining {
            max_epochs: 20,
            batch_size: 20,
            learning_rate: 1e-2,
            plateau_factor: 0.25,
            plateau_patience: 3,
            stopping_patience: 6,
            train_subset: None,
        };
        let reg = Regularisation {
            dropout: 0.1,
            l1: 0.0,
            l2: 1e-5,
        };
        let trained = Classification {
            train: (&images[800..], &labels[200..]),
            validation: (&images[..800], &labels[..200]),
            init: &init,
            regularisation: &reg,
            training: &training,
            seed: 7,
        }
        .train(&Device::flex(), |_| {});
        let (after, accuracy) = trained.weights.evaluate(&images[..800], &labels[..200]);
        assert!(
            after < before && accuracy > 0.95,
            "loss {before} → {after}, accuracy {accuracy}"
        );
        assert!(
            (after - trained.best_validation_loss.unwrap()).abs() < 1e-9,
            "the best epoch's weights are returned"
        );
    }
}
