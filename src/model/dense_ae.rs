//! The small dense autoencoders of Dorrell et al. 2025 — Fig 1's linear one and Fig 2's MLP —
//! with their loss and its gradient written out by hand in f32, for the CPU.
//!
//! Why by hand: these networks are tiny (a 3→16→16→6→16→16→3 MLP; a 2→16→2 linear map), so a
//! framework spends most of each step on graph bookkeeping and per-op dispatch, not arithmetic
//! (BENCHMARKS.md: Burn's flex backend ran the Fig 2 model at 0.55× JAX, the linear one at
//! ≈ 68 µs per step). Here one step is a few loops over preallocated buffers.
//!
//! Layout: activations are stored feature-major, one row of `batch` values per unit, so every
//! inner loop runs along the batch — long and contiguous whatever the layer widths (3, 6, 16),
//! which is what lets the compiler vectorise it. Weights are `[in × out]` row-major, as in
//! [`super::mlp_ae::MlpWeights`].
//!
//! Determinism: no sum is reassociated by the compiler (Rust does not allow it for floats), the
//! sums over the batch use a fixed number of partial sums ([`LANES`]), and products are added by
//! `mul_add` (exactly rounded everywhere), so the portable and AVX2+FMA builds of the same loops
//! give bit-identical results, and so does the AVX-512 build, whose two products
//! ([`super::dense_ae_avx512`]) do the same operations in the same order (all tested).

use super::adam::Adam;

/// Partial sums kept by every reduction over the batch, combined in a fixed order at the end.
pub(super) const LANES: usize = 16;
/// Batch columns processed together by the dense products, sized to keep their partial
/// results in vector registers (64 f32 = 8 AVX registers).
const CHUNK: usize = 64;

/// A stack of dense layers: layer l maps `widths[l]` units to `widths[l + 1]`. ReLU follows every
/// layer except the latent one (whose output is the code z) and the last (the reconstruction).
#[derive(Debug, Clone, PartialEq)]
pub struct DenseAutoencoder {
    widths: Vec<usize>,
    latent_layer: usize,
}

/// The loss's multipliers with each term's normalisation folded in:
/// loss = reconstruction·Σ(x̂ − x)² + activity·Σ z² + nonnegativity·Σ relu(−z) + weight·Σ‖W‖²,
/// sums over the batch and units (weights: every weight matrix, no bias).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossWeights {
    pub reconstruction: f32,
    pub activity: f32,
    pub nonnegativity: f32,
    pub weight: f32,
}

impl DenseAutoencoder {
    /// `widths`: input first, reconstruction last; `latent_layer`: the layer whose output is z.
    pub fn new(widths: Vec<usize>, latent_layer: usize) -> Self {
        assert!(widths.len() >= 3, "an autoencoder has an encoder and a decoder");
        assert!(
            latent_layer + 2 < widths.len(),
            "the latent layer is followed by a decoder"
        );
        assert_eq!(widths[0], widths[widths.len() - 1], "the output reconstructs the input");
        Self { widths, latent_layer }
    }

    fn layers(&self) -> usize {
        self.widths.len() - 1
    }

    fn relu_after(&self, layer: usize) -> bool {
        layer != self.latent_layer && layer + 1 != self.layers()
    }

    /// Where each layer's weights and bias start in the flat parameter vector.
    fn offsets(&self) -> Vec<(usize, usize)> {
        let mut at = 0;
        (0..self.layers())
            .map(|l| {
                let (i, o) = (self.widths[l], self.widths[l + 1]);
                let offsets = (at, at + i * o);
                at += i * o + o;
                offsets
            })
            .collect()
    }

    pub fn parameter_count(&self) -> usize {
        (0..self.layers())
            .map(|l| (self.widths[l] + 1) * self.widths[l + 1])
            .sum()
    }

    /// Layers' weights and biases as one vector, layer by layer, each weight matrix before its bias.
    pub fn flatten(&self, weights: &[Vec<f32>], biases: &[Vec<f32>]) -> Vec<f64> {
        assert_eq!(weights.len(), self.layers());
        let flat: Vec<f64> = weights
            .iter()
            .zip(biases)
            .flat_map(|(w, b)| w.iter().chain(b))
            .map(|&v| v as f64)
            .collect();
        assert_eq!(flat.len(), self.parameter_count(), "parameters match the widths");
        flat
    }

    /// [`Self::flatten`] undone: each layer's weights and bias.
    pub fn split(&self, flat: &[f64]) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        let narrow = |s: &[f64]| s.iter().map(|&v| v as f32).collect::<Vec<f32>>();
        self.offsets()
            .into_iter()
            .enumerate()
            .map(|(l, (w, b))| (narrow(&flat[w..b]), narrow(&flat[b..b + self.widths[l + 1]])))
            .unzip()
    }

    /// Buffers for batches of `batch` samples.
    pub fn workspace(&self, batch: usize) -> Workspace {
        let widest = self.widths.iter().copied().max().unwrap_or(0);
        Workspace {
            batch,
            activations: self.widths.iter().map(|&w| vec![0.0; w * batch]).collect(),
            live: self.widths.iter().map(|&w| (0..w).collect()).collect(),
            every_row: (0..widest).collect(),
            skip_dead_units: true,
            delta: vec![0.0; widest * batch],
            delta_next: vec![0.0; widest * batch],
        }
    }

    /// The loss of the batch in `workspace.input_mut()` and its gradient with respect to every
    /// parameter, written to `gradient` (same layout as `parameters`).
    pub fn loss_and_gradient(
        &self,
        parameters: &[f32],
        loss: &LossWeights,
        workspace: &mut Workspace,
        gradient: &mut [f32],
    ) -> f32 {
        self.dispatch::<true>(parameters, loss, workspace, gradient)
    }

    /// [`DenseAutoencoder::loss_and_gradient`]'s gradient, bit for bit, without the loss: its
    /// sums feed nothing in the gradient, and training does not read it (they were a sixth of
    /// a Fig 1d step, latency-bound reductions over the batch).
    pub fn gradient(&self, parameters: &[f32], loss: &LossWeights, workspace: &mut Workspace, gradient: &mut [f32]) {
        self.dispatch::<false>(parameters, loss, workspace, gradient);
    }

    /// The pass with the live units' lists where some layer has a ReLU (and the workspace skips
    /// dead units), with every row otherwise.
    #[inline(always)]
    fn dispatch<const WITH_LOSS: bool>(
        &self,
        parameters: &[f32],
        loss: &LossWeights,
        workspace: &mut Workspace,
        gradient: &mut [f32],
    ) -> f32 {
        if workspace.skip_dead_units && self.has_relu_layers() {
            self.dispatch_build::<WITH_LOSS, LiveRows>(parameters, loss, workspace, gradient)
        } else {
            self.dispatch_build::<WITH_LOSS, EveryRow>(parameters, loss, workspace, gradient)
        }
    }

    /// Whether some layer is followed by a ReLU (the linear autoencoders have none).
    fn has_relu_layers(&self) -> bool {
        (0..self.layers()).any(|l| self.relu_after(l))
    }

    /// The pass compiled for this CPU: AVX-512, AVX2 and FMA, or portable.
    #[inline(always)]
    fn dispatch_build<const WITH_LOSS: bool, C: RowChoice>(
        &self,
        parameters: &[f32],
        loss: &LossWeights,
        workspace: &mut Workspace,
        gradient: &mut [f32],
    ) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if super::avx512_available() {
            // SAFETY: the CPU has AVX-512 F and DQ, AVX2 and FMA, checked just above.
            return unsafe { self.loss_and_gradient_avx512::<WITH_LOSS, C>(parameters, loss, workspace, gradient) };
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA, checked just above.
            return unsafe { self.loss_and_gradient_avx2::<WITH_LOSS, C>(parameters, loss, workspace, gradient) };
        }
        self.loss_and_gradient_portable::<WITH_LOSS, C>(parameters, loss, workspace, gradient)
    }

    /// The same steps with the two products in AVX-512 registers, blocked to reuse each load
    /// ([`super::dense_ae_avx512`]; the same bits as the other builds).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    fn loss_and_gradient_avx512<const WITH_LOSS: bool, C: RowChoice>(
        &self,
        parameters: &[f32],
        loss: &LossWeights,
        workspace: &mut Workspace,
        gradient: &mut [f32],
    ) -> f32 {
        self.loss_and_gradient_body::<WITH_LOSS, true, C>(parameters, loss, workspace, gradient)
    }

    /// The same loops compiled for AVX2 and FMA: 8 f32 lanes instead of SSE2's 4, and each
    /// `mul_add` one instruction (the portable build calls the C library's `fmaf`, slower but
    /// rounded the same, since a fused multiply-add is exactly rounded by definition).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn loss_and_gradient_avx2<const WITH_LOSS: bool, C: RowChoice>(
        &self,
        parameters: &[f32],
        loss: &LossWeights,
        workspace: &mut Workspace,
        gradient: &mut [f32],
    ) -> f32 {
        self.loss_and_gradient_portable::<WITH_LOSS, C>(parameters, loss, workspace, gradient)
    }

    /// The loss (0 unless `WITH_LOSS`) and the gradient, with the portable products.
    #[inline(always)]
    fn loss_and_gradient_portable<const WITH_LOSS: bool, C: RowChoice>(
        &self,
        parameters: &[f32],
        loss: &LossWeights,
        workspace: &mut Workspace,
        gradient: &mut [f32],
    ) -> f32 {
        self.loss_and_gradient_body::<WITH_LOSS, false, C>(parameters, loss, workspace, gradient)
    }

    /// The loss (0 unless `WITH_LOSS`) and the gradient; `AVX512`: the products of
    /// [`super::dense_ae_avx512`], only ever true inside [`Self::loss_and_gradient_avx512`].
    #[inline(always)]
    fn loss_and_gradient_body<const WITH_LOSS: bool, const AVX512: bool, C: RowChoice>(
        &self,
        parameters: &[f32],
        loss: &LossWeights,
        workspace: &mut Workspace,
        gradient: &mut [f32],
    ) -> f32 {
        assert_eq!(parameters.len(), self.parameter_count());
        assert_eq!(gradient.len(), parameters.len());
        let offsets = self.offsets();
        let batch = workspace.batch;
        let layers = self.layers();
        let weights = |l: usize| &parameters[offsets[l].0..offsets[l].1];
        let bias = |l: usize| &parameters[offsets[l].1..offsets[l].1 + self.widths[l + 1]];

        // Forward: a[l + 1] = act(a[l] · W_l + b_l), feature-major, summed over a[l]'s live
        // units only (see `Workspace::live`).
        for l in 0..layers {
            let n_out = self.widths[l + 1];
            let (before, after) = workspace.activations.split_at_mut(l + 1);
            let (input, output) = (&before[l], &mut after[0]);
            let (w, b) = (weights(l), bias(l));
            let relu = self.relu_after(l);
            let layer = Layer {
                input,
                inputs: C::rows(&workspace.live[l], self.widths[l]),
                outputs: C::rows(&workspace.every_row[..n_out], n_out),
                cols: batch,
                finish: if relu { Finish::Relu } else { Finish::AsIs },
                first: |o| b[o],
                coefficient: |o, i| w[i * n_out + o],
            };
            combine_rows_with::<AVX512>(output, layer);
            if relu && C::SKIPS_DEAD_UNITS {
                collect_live_rows(output, batch, &mut workspace.live[l + 1]);
            }
        }

        // The loss, and its derivative with respect to the reconstruction.
        let d = self.widths[0];
        let (x, x_hat) = (&workspace.activations[0], &workspace.activations[layers]);
        let delta = &mut workspace.delta[..d * batch];
        for ((g, a), b) in delta.iter_mut().zip(x_hat).zip(x) {
            *g = a - b;
        }
        let mut total = 0.0;
        if WITH_LOSS {
            total = loss.reconstruction * reduce(delta, |v| v * v);
        }
        delta.iter_mut().for_each(|g| *g *= 2.0 * loss.reconstruction);
        if WITH_LOSS {
            let z = &workspace.activations[self.latent_layer + 1];
            total += loss.activity * reduce(z, |v| v * v);
            total += loss.nonnegativity * reduce(z, |v| (-v).max(0.0));
            for l in 0..layers {
                total += loss.weight * reduce(weights(l), |v| v * v);
            }
        }

        // Backward: `delta` holds the derivative with respect to layer l's output (before its
        // activation); each layer's gradient, then the derivative passed to the layer below.
        // Only the rows of live units are written and read: a dead unit's delta is zero.
        for l in (0..layers).rev() {
            let (n_in, n_out) = (self.widths[l], self.widths[l + 1]);
            let (live_in, live_out) = (
                C::rows(&workspace.live[l], n_in),
                C::rows(&workspace.live[l + 1], n_out),
            );
            let input = &workspace.activations[l];
            let delta = &workspace.delta[..n_out * batch];
            let w = weights(l);
            let (w_at, b_at) = offsets[l];
            let penalty = |k: usize, product: f32| (2.0 * loss.weight).mul_add(w[k], product);
            if live_in.count() < n_in || live_out.count() < n_out {
                // A dead unit's products are sums of zeros, +0 (every sum starts at +0).
                for k in 0..n_in * n_out {
                    gradient[w_at + k] = penalty(k, 0.0);
                }
            }
            let set =
                |i: usize, o: usize, product: f32| gradient[w_at + i * n_out + o] = penalty(i * n_out + o, product);
            #[cfg(target_arch = "x86_64")]
            if AVX512 {
                // SAFETY: AVX512 is true only in the AVX-512 build, on a CPU that has it.
                unsafe { super::dense_ae_avx512::weight_products(input, live_in, delta, live_out, batch, set) };
            } else {
                weight_products(input, live_in, delta, live_out, batch, set);
            }
            #[cfg(not(target_arch = "x86_64"))]
            weight_products(input, live_in, delta, live_out, batch, set);
            gradient[b_at..b_at + n_out].fill(0.0);
            for o in (0..live_out.count()).map(|at| live_out.row(at)) {
                gradient[b_at + o] = reduce(&delta[o * batch..(o + 1) * batch], |v| v);
            }
            if l == 0 {
                break;
            }
            let below = &mut workspace.delta_next[..n_in * batch];
            let output_below = &workspace.activations[l];
            let finish = if self.relu_after(l - 1) {
                Finish::WhereActive(output_below)
            } else {
                Finish::AsIs
            };
            // The transpose: row i of the result sums W's row i against the deltas.
            let layer = Layer {
                input: delta,
                inputs: live_out,
                outputs: live_in,
                cols: batch,
                finish,
                first: |_| 0.0,
                coefficient: |i, o| w[i * n_out + o],
            };
            combine_rows_with::<AVX512>(below, layer);
            if l - 1 == self.latent_layer {
                for (g, z) in below.iter_mut().zip(output_below) {
                    let push_up = if *z < 0.0 { loss.nonnegativity } else { 0.0 };
                    *g += (2.0 * loss.activity).mul_add(*z, -push_up);
                }
            }
            std::mem::swap(&mut workspace.delta, &mut workspace.delta_next);
        }
        total
    }
}

/// One run in training: its parameters (kept in f64, as the optimiser's state is, and narrowed
/// to f32 for each step's arithmetic) and its optimiser.
pub struct DenseRun {
    parameters: Vec<f64>,
    narrow: Vec<f32>,
    gradient: Vec<f32>,
    wide_gradient: Vec<f64>,
    optimiser: Adam,
}

impl DenseRun {
    pub fn new(parameters: Vec<f64>, optimiser: Adam) -> Self {
        let n = parameters.len();
        Self {
            parameters,
            narrow: vec![0.0; n],
            gradient: vec![0.0; n],
            wide_gradient: vec![0.0; n],
            optimiser,
        }
    }

    /// One optimiser step on the batch in `workspace.input_mut()` (the loss is not computed).
    pub fn step(&mut self, net: &DenseAutoencoder, loss: &LossWeights, workspace: &mut Workspace) {
        self.step_with(|narrow, gradient| net.gradient(narrow, loss, workspace, gradient));
    }

    /// One optimiser step on the f32 gradient that `gradient(parameters, out)` writes for the
    /// parameters narrowed to f32; Adam steps on it widened to f64. For any small f32 network
    /// with f64 parameters (the what–where network uses it too).
    pub fn step_with(&mut self, gradient: impl FnOnce(&[f32], &mut [f32])) {
        for (n, p) in self.narrow.iter_mut().zip(&self.parameters) {
            *n = *p as f32;
        }
        gradient(&self.narrow, &mut self.gradient);
        for (w, g) in self.wide_gradient.iter_mut().zip(&self.gradient) {
            *w = *g as f64;
        }
        self.optimiser.step(&mut self.parameters, &mut self.wide_gradient, None);
    }

    pub fn parameters(&self) -> &[f64] {
        &self.parameters
    }
}

/// Preallocated buffers for one batch size: every layer's activations (feature-major) and two
/// derivative buffers used in turn.
pub struct Workspace {
    batch: usize,
    activations: Vec<Vec<f32>>,
    /// `live[l]`: the rows of `activations[l]` that the products read, ascending. For a ReLU
    /// layer's output, the units positive for at least one sample of the batch (set by each
    /// forward pass); for the others, every row. A dead unit — zero for the whole batch, which
    /// is half of Fig 2's hidden units once trained — adds only zeros to the next layer's sums,
    /// and its derivative is zero, so the products skip it. That keeps every result's bits: a
    /// sum that starts at +0 or at a nonzero value is unchanged by adding ±0. (Only a bias of
    /// exactly −0, or a weight of ±∞ or NaN, would tell the difference.)
    live: Vec<Vec<usize>>,
    /// 0, 1, 2, …: every row, for the products that read all of them.
    every_row: Vec<usize>,
    /// false: every unit counts as live (the dense products; tests compare the two).
    skip_dead_units: bool,
    delta: Vec<f32>,
    delta_next: Vec<f32>,
}

impl Workspace {
    /// The input batch, feature-major: `input_mut()[i * batch + s]` is feature i of sample s.
    pub fn input_mut(&mut self) -> &mut [f32] {
        &mut self.activations[0]
    }
}

/// Sets `live` to the rows of `values` (rows of `cols` values) with an entry other than ±0: for
/// a ReLU layer's output, the units that are not zero for the whole batch.
#[inline(always)]
fn collect_live_rows(values: &[f32], cols: usize, live: &mut Vec<usize>) {
    live.clear();
    for (r, row) in values.chunks_exact(cols).enumerate() {
        // The bits of every entry OR-ed, then the sign dropped: zero exactly when every entry is
        // ±0. Integer ORs without an early exit, so the loop vectorises (a float comparison
        // with a count compiled to a scalar loop: 30 % of a step).
        let bits = row.iter().fold(0u32, |any, v| any | v.to_bits());
        if bits & 0x7fff_ffff != 0 {
            live.push(r);
        }
    }
}

/// What [`combine_rows`] does to each result before writing it. Done there, in registers,
/// because a separate in-place pass (`v = max(v, 0)`, or zeroing where a unit was inactive)
/// compiles to masked stores, which are slow (≈ 15 % of a step on Zen 4).
#[derive(Clone, Copy)]
pub(super) enum Finish<'a> {
    AsIs,
    /// max(v, 0): a ReLU layer's output.
    Relu,
    /// v where the matching entry of this (same-shaped) array is positive, else 0: a
    /// derivative passed back through a ReLU, given the layer's output.
    WhereActive(&'a [f32]),
}

impl Finish<'_> {
    /// [`Finish::apply`] on a full chunk held by value (so that it can stay in registers),
    /// writing the results to `out`, which sits at `at` in the output.
    #[inline(always)]
    fn write<const N: usize>(self, values: &[f32; N], out: &mut [f32; N], at: usize) {
        match self {
            Finish::AsIs => *out = *values,
            Finish::Relu => {
                for j in 0..N {
                    out[j] = values[j].max(0.0);
                }
            }
            Finish::WhereActive(outputs) => {
                let active: &[f32; N] = outputs[at..at + N].try_into().expect("a full chunk");
                for j in 0..N {
                    out[j] = values[j] * (active[j] > 0.0) as u32 as f32;
                }
            }
        }
    }

    /// Applies to `values`, which sit at `at` in the output.
    #[inline(always)]
    fn apply(self, values: &mut [f32], at: usize) {
        match self {
            Finish::AsIs => {}
            Finish::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
            Finish::WhereActive(outputs) => {
                let len = values.len();
                for (v, a) in values.iter_mut().zip(&outputs[at..at + len]) {
                    // A product with 1 or 0, not a select: the compiler turns a select into
                    // masked stores again (the sign of a zeroed entry may be −0; harmless).
                    *v *= (*a > 0.0) as u32 as f32;
                }
            }
        }
    }
}

/// A dense layer (or its transpose) applied along the batch, as [`combine_rows`] computes it:
/// out[r, c] = finish(first(r) + Σ_k coefficient(r, k) · input[k, c]) for r in `outputs`,
/// k in `inputs` (in their order), c < `cols`; `input` holds rows of `cols` values. Rows of
/// `out` not in `outputs` are left as they were.
pub(super) struct Layer<'a, In, Out, First, Coefficient> {
    pub input: &'a [f32],
    /// The input rows summed over.
    pub inputs: In,
    /// The output rows written.
    pub outputs: Out,
    pub cols: usize,
    pub finish: Finish<'a>,
    pub first: First,
    pub coefficient: Coefficient,
}

/// The rows a product reads or writes, in order: a list of live units, or rows 0 .. n.
///
/// Why both: a product over a list looks each row up, and the code for both kinds in one pass
/// grew past what the compiler inlines; the linear autoencoders (no ReLU, steps of ≈ 1.5 µs:
/// Fig 1c–d) then ran 12–24 % slower. A pass uses one kind ([`RowChoice`]), so a network
/// without ReLU layers compiles to the loops it had before dead units were skipped.
pub(super) trait Rows: Copy {
    fn count(self) -> usize;
    /// The row at position `at` (< `count()`).
    fn row(self, at: usize) -> usize;
    /// Whether every row lies inside an array of `len` values, rows of `cols`.
    fn fit(self, cols: usize, len: usize) -> bool {
        (0..self.count()).all(|at| {
            let end = self.row(at).checked_add(1).and_then(|rows| rows.checked_mul(cols));
            end.is_some_and(|end| end <= len)
        })
    }
}

/// Rows 0 .. n.
#[derive(Clone, Copy)]
pub(super) struct Leading(pub usize);

impl Rows for Leading {
    #[inline(always)]
    fn count(self) -> usize {
        self.0
    }
    #[inline(always)]
    fn row(self, at: usize) -> usize {
        at
    }
    #[inline(always)]
    fn fit(self, cols: usize, len: usize) -> bool {
        self.0.checked_mul(cols).is_some_and(|end| end <= len)
    }
}

impl Rows for &[usize] {
    #[inline(always)]
    fn count(self) -> usize {
        self.len()
    }
    #[inline(always)]
    fn row(self, at: usize) -> usize {
        self[at]
    }
}

/// How one pass picks the rows its products read and write.
pub(super) trait RowChoice {
    /// Whether the forward pass lists each ReLU layer's live units, for the products to skip
    /// the others.
    const SKIPS_DEAD_UNITS: bool;
    type Rows<'a>: Rows;
    /// The rows of `live` (ascending, each < `n`: a live list or `Workspace::every_row`).
    fn rows(live: &[usize], n: usize) -> Self::Rows<'_>;
}

/// Every row, whatever the lists say: networks without ReLU layers (the linear autoencoders),
/// and the dense reference the tests compare with.
pub(super) struct EveryRow;

impl RowChoice for EveryRow {
    const SKIPS_DEAD_UNITS: bool = false;
    type Rows<'a> = Leading;
    #[inline(always)]
    fn rows(_live: &[usize], n: usize) -> Leading {
        Leading(n)
    }
}

/// The listed rows: the live units of ReLU layers.
pub(super) struct LiveRows;

impl RowChoice for LiveRows {
    const SKIPS_DEAD_UNITS: bool = true;
    type Rows<'a> = &'a [usize];
    #[inline(always)]
    fn rows(live: &[usize], _n: usize) -> &[usize] {
        live
    }
}

/// [`combine_rows`], or with `AVX512` its AVX-512 build ([`super::dense_ae_avx512`]).
#[inline(always)]
fn combine_rows_with<const AVX512: bool>(
    out: &mut [f32],
    layer: Layer<impl Rows, impl Rows, impl Fn(usize) -> f32, impl Fn(usize, usize) -> f32>,
) {
    #[cfg(target_arch = "x86_64")]
    if AVX512 {
        // SAFETY: AVX512 is true only in the AVX-512 build, on a CPU that has it.
        unsafe { super::dense_ae_avx512::combine_rows(out, layer) };
        return;
    }
    combine_rows(out, layer);
}

/// `set(i, o, Σ_c rows[i, c]·deltas[o, c])` for every input row i in `ins` and delta row o in
/// `outs`, rows of `cols` values: a layer's weight gradients (before the weight penalty).
///
/// Long rows go in tiles of 2 inputs × 2 outputs: each input and delta row is read half as
/// often (together they outgrow L1), and each entry keeps one dot product's order, so the bits
/// are those of one dot at a time. Short rows (Fig 1d's 32 points) fit in L1 anyway: there
/// single dots were faster, so no input row is tiled.
#[inline(always)]
fn weight_products(
    rows: &[f32],
    ins: impl Rows,
    deltas: &[f32],
    outs: impl Rows,
    cols: usize,
    mut set: impl FnMut(usize, usize, f32),
) {
    let row = |i: usize| &rows[i * cols..(i + 1) * cols];
    let delta_row = |o: usize| &deltas[o * cols..(o + 1) * cols];
    let (n_in, n_out) = (ins.count(), outs.count());
    let tiled_in = if cols >= TILE_FROM_COLUMNS { n_in - n_in % 2 } else { 0 };
    let tiled_out = n_out - n_out % 2;
    for a in (0..tiled_in).step_by(2) {
        let (i, i2) = (ins.row(a), ins.row(a + 1));
        for b in (0..tiled_out).step_by(2) {
            let (o, o2) = (outs.row(b), outs.row(b + 1));
            let tile = dot_tile([row(i), row(i2)], [delta_row(o), delta_row(o2)]);
            set(i, o, tile[0][0]);
            set(i, o2, tile[0][1]);
            set(i2, o, tile[1][0]);
            set(i2, o2, tile[1][1]);
        }
        for b in tiled_out..n_out {
            let o = outs.row(b);
            set(i, o, dot(row(i), delta_row(o)));
            set(i2, o, dot(row(i2), delta_row(o)));
        }
    }
    for a in tiled_in..n_in {
        let i = ins.row(a);
        for b in 0..n_out {
            let o = outs.row(b);
            set(i, o, dot(row(i), delta_row(o)));
        }
    }
}

/// Writes `layer`'s rows of `cols` values to `out` (see [`Layer`]).
#[inline(always)]
fn combine_rows(
    out: &mut [f32],
    layer: Layer<impl Rows, impl Rows, impl Fn(usize) -> f32, impl Fn(usize, usize) -> f32>,
) {
    let Layer {
        input,
        inputs,
        outputs,
        cols,
        finish,
        first,
        coefficient,
    } = layer;
    let mut start = 0;
    while start < cols {
        // Chunks of fixed widths (64, else 32 or 16: Fig 1d's batches are 32 points), so the
        // partial results stay in registers; what is left (< 16 columns) goes the general way.
        // Every width adds the same products in the same order, so the bits do not depend on it.
        let left = cols - start;
        let len = if left >= CHUNK {
            fixed_width_chunk::<CHUNK>(out, input, outputs, inputs, cols, start, finish, &first, &coefficient)
        } else if left >= CHUNK / 2 {
            fixed_width_chunk::<{ CHUNK / 2 }>(out, input, outputs, inputs, cols, start, finish, &first, &coefficient)
        } else if left >= CHUNK / 4 {
            fixed_width_chunk::<{ CHUNK / 4 }>(out, input, outputs, inputs, cols, start, finish, &first, &coefficient)
        } else {
            for at in 0..outputs.count() {
                let r = outputs.row(at);
                let target = &mut out[r * cols + start..r * cols + cols];
                target.fill(first(r));
                for k in (0..inputs.count()).map(|at| inputs.row(at)) {
                    let c = coefficient(r, k);
                    for (t, s) in target.iter_mut().zip(&input[k * cols + start..k * cols + cols]) {
                        *t = c.mul_add(*s, *t);
                    }
                }
                finish.apply(target, r * cols + start);
            }
            left
        };
        start += len;
    }
}

/// [`combine_rows`] on columns `start .. start + N` of every row; returns N.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fixed_width_chunk<const N: usize>(
    out: &mut [f32],
    input: &[f32],
    outputs: impl Rows,
    inputs: impl Rows,
    cols: usize,
    start: usize,
    finish: Finish,
    first: &impl Fn(usize) -> f32,
    coefficient: &impl Fn(usize, usize) -> f32,
) -> usize {
    for at in 0..outputs.count() {
        let r = outputs.row(at);
        let acc = add_chunk_products::<N>(
            [first(r); N],
            inputs,
            |k| coefficient(r, k),
            |k| {
                input[k * cols + start..k * cols + start + N]
                    .try_into()
                    .expect("a full chunk")
            },
        );
        let target: &mut [f32; N] = (&mut out[r * cols + start..r * cols + start + N])
            .try_into()
            .expect("a full chunk");
        finish.write(&acc, target, r * cols + start);
    }
    N
}

/// `acc[j] += Σ_k coefficient(k) · source(k)[j]` for k in `terms`, one `mul_add` per product in
/// their order. The chunk goes in and out by value, so that it stays in registers: written in
/// place, one of `combine_rows`'s two uses kept it on the stack, stored and reloaded for every `k`.
#[inline(always)]
fn add_chunk_products<'a, const N: usize>(
    mut acc: [f32; N],
    terms: impl Rows,
    coefficient: impl Fn(usize) -> f32,
    source: impl Fn(usize) -> &'a [f32; N],
) -> [f32; N] {
    for k in (0..terms.count()).map(|at| terms.row(at)) {
        let (c, src) = (coefficient(k), source(k));
        for j in 0..N {
            acc[j] = c.mul_add(src[j], acc[j]);
        }
    }
    acc
}

/// Σ f(v) over `values`, with [`LANES`] partial sums combined in order: vectorisable, and the
/// same result whatever the vector width.
#[inline(always)]
pub(super) fn reduce(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let whole = values.chunks_exact(LANES);
    let rest = whole.remainder();
    for chunk in whole {
        for j in 0..LANES {
            acc[j] += f(chunk[j]);
        }
    }
    for (j, v) in rest.iter().enumerate() {
        acc[j] += f(*v);
    }
    sum_lanes(acc)
}

/// The partial sums added pairwise, halving each time: a fixed order, done in vector registers.
/// `N` is a power of two.
#[inline(always)]
pub(super) fn sum_lanes<const N: usize>(mut acc: [f32; N]) -> f32 {
    let mut half = N / 2;
    while half > 0 {
        for j in 0..half {
            acc[j] += acc[j + half];
        }
        half /= 2;
    }
    acc[0]
}

/// Σ a[k]·b[k], with [`LANES`] partial sums as in [`reduce`] (and [`dot_tile`]).
#[inline(always)]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let (whole_a, whole_b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (rest_a, rest_b) = (whole_a.remainder(), whole_b.remainder());
    for (x, y) in whole_a.zip(whole_b) {
        for j in 0..LANES {
            acc[j] = x[j].mul_add(y[j], acc[j]);
        }
    }
    for (j, (x, y)) in rest_a.iter().zip(rest_b).enumerate() {
        acc[j] = x.mul_add(*y, acc[j]);
    }
    sum_lanes(acc)
}

/// The batch size from which weight gradients are computed in 2 × 2 tiles.
const TILE_FROM_COLUMNS: usize = 128;

/// Σ_k a_i[k]·b_o[k] for every pair of the rows a_i and b_o, each with [`LANES`] partial sums as
/// in [`reduce`] (the same order as one dot product at a time, whatever the tile).
#[inline(always)]
fn dot_tile<const I: usize, const O: usize>(rows: [&[f32]; I], deltas: [&[f32]; O]) -> [[f32; O]; I] {
    let len = rows[0].len();
    let whole = len - len % LANES;
    let mut acc = [[[0f32; LANES]; O]; I];
    for start in (0..whole).step_by(LANES) {
        acc = add_tile_products(
            acc,
            rows.map(|r| <&[f32; LANES]>::try_from(&r[start..start + LANES]).expect("a whole block")),
            deltas.map(|d| <&[f32; LANES]>::try_from(&d[start..start + LANES]).expect("a whole block")),
        );
    }
    for j in whole..len {
        for a in 0..I {
            for b in 0..O {
                acc[a][b][j - whole] = rows[a][j].mul_add(deltas[b][j], acc[a][b][j - whole]);
            }
        }
    }
    acc.map(|row| row.map(sum_lanes))
}

/// One block of [`dot_tile`], its partial sums in and out by value (so that they stay in
/// registers, as in [`add_chunk_products`]).
#[inline(always)]
fn add_tile_products<const I: usize, const O: usize>(
    mut acc: [[[f32; LANES]; O]; I],
    rows: [&[f32; LANES]; I],
    deltas: [&[f32; LANES]; O],
) -> [[[f32; LANES]; O]; I] {
    for a in 0..I {
        for b in 0..O {
            for j in 0..LANES {
                acc[a][b][j] = rows[a][j].mul_add(deltas[b][j], acc[a][b][j]);
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::mlp_ae::{MlpShape, MlpWeights, mlp_loss_terms};
    use crate::rng::SplitMix64;

    fn mlp() -> DenseAutoencoder {
        DenseAutoencoder::new(vec![3, 16, 16, 6, 16, 16, 3], 2)
    }

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        (0..n).map(|_| rng.uniform_in(-1.0, 1.0) as f32).collect()
    }

    const LOSS: LossWeights = LossWeights {
        reconstruction: 1.0 / 300.0,
        activity: 0.01 / 600.0,
        nonnegativity: 1.0 / 600.0,
        weight: 1e-4,
    };

    #[test]
    fn the_loss_matches_an_independent_f64_forward_pass() {
        // The gradient is checked against Burn's autodiff of the same loss (`mlp_ae` and
        // `linear_ae` tests); this checks the value through an independent per-sample forward
        // pass ([`mlp_loss_terms`], whose terms are means: scaled back here to sums). A batch of
        // 100 is one full chunk and a ragged one, and not a multiple of LANES.
        let net = mlp();
        let batch = 100;
        let mut ws = net.workspace(batch);
        let x = random(3 * batch, 1);
        ws.input_mut().copy_from_slice(&x);
        let params = random(net.parameter_count(), 2);
        let mut grad = vec![0.0; params.len()];
        let value = net.loss_and_gradient(&params, &LOSS, &mut ws, &mut grad) as f64;

        let wide: Vec<f64> = params.iter().map(|&v| v as f64).collect();
        let (weights, biases) = net.split(&wide);
        let weights = MlpWeights {
            widths: net.widths.clone(),
            weights,
            biases,
        };
        let samples: Vec<Vec<f64>> = (0..batch)
            .map(|b| (0..3).map(|i| x[i * batch + b] as f64).collect())
            .collect();
        let shape = MlpShape {
            encoder: vec![3, 16, 16, 6],
            decoder: vec![6, 16, 16, 3],
        };
        let terms = mlp_loss_terms(&weights, &shape, &samples);
        let n = batch as f64;
        let reference = LOSS.reconstruction as f64 * terms.reconstruction * n * 3.0
            + LOSS.activity as f64 * terms.activity * n * 6.0
            + LOSS.nonnegativity as f64 * terms.nonnegativity * n * 6.0
            + LOSS.weight as f64 * terms.weight;
        assert!((value - reference).abs() < 1e-5 * reference, "{value} vs {reference}");
    }

    #[test]
    fn every_chunk_width_gives_a_single_column_s_bits() {
        // 124 columns: chunks of 64, 32 and 16, then 12 the general way; each column alone takes
        // the general way. A column's activations depend on no other column's.
        let net = mlp();
        let batch = 124;
        let x = random(3 * batch, 5);
        let params = random(net.parameter_count(), 6);
        let mut grad = vec![0.0; params.len()];
        let mut ws = net.workspace(batch);
        ws.input_mut().copy_from_slice(&x);
        net.loss_and_gradient(&params, &LOSS, &mut ws, &mut grad);
        for c in 0..batch {
            let mut alone = net.workspace(1);
            for i in 0..3 {
                alone.input_mut()[i] = x[i * batch + c];
            }
            net.loss_and_gradient(&params, &LOSS, &mut alone, &mut grad);
            for (l, (wide, single)) in ws.activations.iter().zip(&alone.activations).enumerate() {
                for (i, value) in single.iter().enumerate() {
                    assert_eq!(
                        wide[i * batch + c].to_bits(),
                        value.to_bits(),
                        "layer {l}, unit {i}, column {c}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_tile_of_dot_products_gives_each_dot_s_bits() {
        for len in [200, 37, 16, 5] {
            let rows = [random(len, 11), random(len, 12)];
            let deltas = [random(len, 13), random(len, 14)];
            let tile = dot_tile([&rows[0][..], &rows[1][..]], [&deltas[0][..], &deltas[1][..]]);
            for a in 0..2 {
                for b in 0..2 {
                    assert_eq!(
                        tile[a][b].to_bits(),
                        dot(&rows[a], &deltas[b]).to_bits(),
                        "length {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_gradient_without_the_loss_has_the_same_bits() {
        let net = mlp();
        // 200 columns (2 × 2 tiles) and 32 (single dot products, as Fig 1d's batches).
        for batch in [200, 32] {
            let mut ws = net.workspace(batch);
            ws.input_mut().copy_from_slice(&random(3 * batch, 5));
            let params = random(net.parameter_count(), 6);
            let (mut with_loss, mut alone) = (vec![0.0; params.len()], vec![0.0; params.len()]);
            let value = net.loss_and_gradient(&params, &LOSS, &mut ws, &mut with_loss);
            net.gradient(&params, &LOSS, &mut ws, &mut alone);
            assert!(value > 0.0);
            let bits = |g: &[f32]| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&with_loss), bits(&alone), "batch {batch}");
        }
    }

    /// Sets to `value` the bias of every unit of a ReLU layer that `chosen(layer, unit)` picks.
    fn set_relu_biases(net: &DenseAutoencoder, params: &mut [f32], value: f32, chosen: impl Fn(usize, usize) -> bool) {
        let offsets = net.offsets();
        for l in (0..net.layers()).filter(|&l| net.relu_after(l)) {
            for unit in (0..net.widths[l + 1]).filter(|&unit| chosen(l, unit)) {
                params[offsets[l].1 + unit] = value;
            }
        }
    }

    /// Parameters with some units of every ReLU layer dead for any input in [−1, 1]: a bias of
    /// −50 where the other terms add up to at most 16.
    fn parameters_with_dead_units(net: &DenseAutoencoder, seed: u64) -> Vec<f32> {
        let mut params = random(net.parameter_count(), seed);
        set_relu_biases(net, &mut params, -50.0, |l, unit| unit % 3 == l % 3);
        params
    }

    #[test]
    fn skipping_dead_units_keeps_every_bit() {
        let net = mlp();
        // Fig 2's batch (512), a ragged one (124: every column block) and a tiny one (7).
        for batch in [512, 124, 7] {
            let x = random(3 * batch, 21);
            let params = parameters_with_dead_units(&net, 22);
            let mut skipping = net.workspace(batch);
            let mut dense = net.workspace(batch);
            dense.skip_dead_units = false;
            skipping.input_mut().copy_from_slice(&x);
            dense.input_mut().copy_from_slice(&x);
            let (mut fast, mut reference) = (vec![0.0; params.len()], vec![0.0; params.len()]);
            let a = net.loss_and_gradient(&params, &LOSS, &mut skipping, &mut fast);
            let b = net.loss_and_gradient(&params, &LOSS, &mut dense, &mut reference);
            // The units killed were found dead, and skipped (others may be dead too).
            for l in [1, 2, 4, 5] {
                let live = &skipping.live[l];
                assert!(live.iter().all(|unit| unit % 3 != (l - 1) % 3), "layer {l}: {live:?}");
                assert!(!live.is_empty(), "layer {l}");
                assert_eq!(dense.live[l].len(), 16);
            }
            assert_eq!(a.to_bits(), b.to_bits(), "batch {batch}");
            assert_eq!(skipping.activations, dense.activations, "batch {batch}");
            let bits = |g: &[f32]| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&reference), "batch {batch}");
            // The same through the portable products.
            let mut portable = vec![0.0; params.len()];
            net.loss_and_gradient_portable::<true, LiveRows>(&params, &LOSS, &mut skipping, &mut portable);
            assert_eq!(bits(&portable), bits(&reference), "batch {batch}");
        }
    }

    #[test]
    fn training_with_units_dying_and_reviving_keeps_the_dense_bits() {
        // 400 Adam steps of Fig 2's network on fresh minibatches, from parameters whose ReLU
        // units sit near their kink (biases −0.3): units die and come back as training goes, and
        // the live lists change from step to step. Weights after training, bit for bit.
        use crate::model::adam::{AdamSettings, default_beta_1, default_beta_2, default_epsilon};
        let net = mlp();
        let batch = 64;
        let mut start = random(net.parameter_count(), 41);
        set_relu_biases(&net, &mut start, -0.3, |_, _| true);
        let settings = AdamSettings {
            learning_rate: 1e-2,
            beta_1: default_beta_1(),
            beta_2: default_beta_2(),
            epsilon: default_epsilon(),
        };
        let wide: Vec<f64> = start.iter().map(|&v| v as f64).collect();
        let mut runs = [true, false].map(|skip| {
            let mut workspace = net.workspace(batch);
            workspace.skip_dead_units = skip;
            let run = DenseRun::new(wide.clone(), Adam::new(settings, wide.len()));
            (run, workspace)
        });
        let mut live_counts = std::collections::BTreeSet::new();
        for step in 0..400 {
            let x = random(3 * batch, 1000 + step);
            for (run, workspace) in &mut runs {
                workspace.input_mut().copy_from_slice(&x);
                run.step(&net, &LOSS, workspace);
            }
            live_counts.insert(runs[0].1.live[1].len() + runs[0].1.live[2].len());
        }
        // Live units of the first two layers (of 32) seen over the steps: many different counts.
        assert!(
            live_counts.len() > 3 && live_counts.first() < Some(&28),
            "{live_counts:?}"
        );
        let bits = |p: &[f64]| p.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(runs[0].0.parameters()), bits(runs[1].0.parameters()));
    }

    #[test]
    fn a_batch_with_every_unit_dead_trains_only_the_last_bias() {
        // Every hidden unit dead: the reconstruction is the last layer's bias, whose gradient is
        // the only nonzero one besides the weight penalty's.
        let net = mlp();
        let batch = 64;
        let mut params = random(net.parameter_count(), 31);
        set_relu_biases(&net, &mut params, -50.0, |_, _| true);
        let offsets = net.offsets();
        let mut ws = net.workspace(batch);
        ws.input_mut().copy_from_slice(&random(3 * batch, 32));
        let mut dense = net.workspace(batch);
        dense.skip_dead_units = false;
        dense.input_mut().copy_from_slice(&random(3 * batch, 32));
        let (mut fast, mut reference) = (vec![0.0; params.len()], vec![0.0; params.len()]);
        net.loss_and_gradient(&params, &LOSS, &mut ws, &mut fast);
        net.loss_and_gradient(&params, &LOSS, &mut dense, &mut reference);
        assert!([1, 2, 4, 5].iter().all(|&l| ws.live[l].is_empty()));
        let bits = |g: &[f32]| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fast), bits(&reference));
        let last = net.layers() - 1;
        let (w_at, b_at) = offsets[last];
        assert!(fast[b_at..b_at + 3].iter().all(|g| *g != 0.0));
        for (k, g) in fast[w_at..b_at].iter().enumerate() {
            assert_eq!(g.to_bits(), (2.0 * LOSS.weight * params[w_at + k]).to_bits());
        }
    }

    #[test]
    fn flatten_and_split_are_inverse() {
        let net = DenseAutoencoder::new(vec![2, 4, 2], 0);
        let weights = vec![random(8, 3), random(8, 4)];
        let biases = vec![random(4, 5), random(2, 6)];
        let flat = net.flatten(&weights, &biases);
        assert_eq!(net.split(&flat), (weights, biases));
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_avx512_and_portable_builds_agree_bit_for_bit() {
        if !super::super::avx512_available() {
            eprintln!("skipped: this CPU has no AVX-512");
            return;
        }
        // Fig 2's network at its batch (512), a batch with every kind of column block (32s, a
        // 16 and a masked 12), and Fig 1d's linear network at its batch of 32 and a ragged one.
        let linear = DenseAutoencoder::new(vec![2, 16, 2], 0);
        for (net, batch) in [
            (mlp(), 512),
            (mlp(), 124),
            (mlp(), 7),
            (linear.clone(), 32),
            (linear, 45),
        ] {
            let mut ws = net.workspace(batch);
            let d = net.widths[0];
            ws.input_mut().copy_from_slice(&random(d * batch, 7));
            let params = random(net.parameter_count(), 8);
            let (mut fast, mut portable) = (vec![0.0; params.len()], vec![0.0; params.len()]);
            // SAFETY: AVX-512 checked above.
            // Both ways of choosing rows (for the MLP, the dense products and the live units).
            let a = unsafe { net.loss_and_gradient_avx512::<true, LiveRows>(&params, &LOSS, &mut ws, &mut fast) };
            let fast_activations = ws.activations.clone();
            let b = net.loss_and_gradient_portable::<true, LiveRows>(&params, &LOSS, &mut ws, &mut portable);
            assert_eq!(a.to_bits(), b.to_bits(), "batch {batch}");
            assert_eq!(fast_activations, ws.activations, "batch {batch}");
            let bits = |g: &[f32]| g.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&portable), "batch {batch}");
            let c = unsafe { net.loss_and_gradient_avx512::<true, EveryRow>(&params, &LOSS, &mut ws, &mut fast) };
            let d = net.loss_and_gradient_portable::<true, EveryRow>(&params, &LOSS, &mut ws, &mut portable);
            assert_eq!((c.to_bits(), d.to_bits()), (a.to_bits(), a.to_bits()), "batch {batch}");
            assert_eq!(bits(&fast), bits(&portable), "batch {batch}");
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_avx512_layer_finishes_signed_zeros_and_nans_as_the_portable_one() {
        if !super::super::avx512_available() {
            eprintln!("skipped: this CPU has no AVX-512");
            return;
        }
        // One input row of special values times a coefficient of −1 (or 1), plus a bias of −0:
        // pre-activations −0, +0, NaN, ±∞ and ordinary values, through each finish.
        let specials = [
            0.0,
            -0.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1.5,
            -2.5,
            f32::MIN_POSITIVE,
        ];
        let input: Vec<f32> = (0..40).map(|c| specials[c % specials.len()]).collect();
        let active: Vec<f32> = (0..80).map(|c| specials[(c * 3) % specials.len()]).collect();
        for finish in [Finish::AsIs, Finish::Relu, Finish::WhereActive(&active)] {
            let (mut fast, mut portable) = (vec![0.0f32; 80], vec![0.0f32; 80]);
            let coefficient = |r: usize, _k: usize| if r == 0 { -1.0 } else { 1.0 };
            // SAFETY: AVX-512 checked above.
            let layer = || Layer {
                input: &input,
                inputs: &[0][..],
                outputs: &[0, 1][..],
                cols: 40,
                finish,
                first: |_| -0.0,
                coefficient,
            };
            unsafe { super::super::dense_ae_avx512::combine_rows(&mut fast, layer()) };
            combine_rows(&mut portable, layer());
            // A NaN's sign and payload carry no meaning (and the portable build's own column
            // blocks differ in them); every other value must match to the bit, zeros' signs too.
            let bits = |g: &[f32]| {
                g.iter()
                    .map(|v| if v.is_nan() { f32::NAN.to_bits() } else { v.to_bits() })
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&fast), bits(&portable));
        }
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_avx2_and_portable_builds_agree_bit_for_bit() {
        if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")) {
            eprintln!("skipped: this CPU has no AVX2 and FMA");
            return;
        }
        let net = mlp();
        let mut ws = net.workspace(200);
        ws.input_mut().copy_from_slice(&random(600, 7));
        let params = random(net.parameter_count(), 8);
        let (mut fast, mut portable) = (vec![0.0; params.len()], vec![0.0; params.len()]);
        // SAFETY: AVX2 and FMA checked above.
        let a = unsafe { net.loss_and_gradient_avx2::<true, LiveRows>(&params, &LOSS, &mut ws, &mut fast) };
        let b = net.loss_and_gradient_portable::<true, LiveRows>(&params, &LOSS, &mut ws, &mut portable);
        assert_eq!(a.to_bits(), b.to_bits());
        assert!(fast.iter().zip(&portable).all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}
