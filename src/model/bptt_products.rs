//! The Krause BPTT's matrix products on AVX-512, with the bits of the faer calls they replace:
//! - the per-step product out += α · (input · M), `input` a batch of a few dozen trials and M the
//!   100 × 100 recurrent matrix (forward Wᵀ, backward W), 2,800 calls per integration iteration;
//! - the weight gradients over every step, g_W = α Σ_r dX[r]ᵀ R[r] and g_B = α Σ_r dX[r]ᵀ U[r]
//!   (depth: batch × steps, ≈ 45,000 rows).
//!
//! Why not faer: per step faer packs M again and splits the 100 columns into a 96-wide kernel
//! and a masked 16-wide one whose few accumulators wait on the FMA latency and loads (a fifth of
//! the products' time for 4 % of the work); g_B's 4 columns all went through that narrow kernel,
//! streaming the 18 MB of dX for 0.4 % of the arithmetic. Here M is read in place (the caller
//! transposes W once per iteration for the forward), each row's last vector masked; every tile
//! keeps up to 24 accumulators busy; g_B is computed transposed, vectors along the 100 units.
//!
//! The bits: faer's x86 kernels (the `private-gemm-x86` crate) accumulate each output entry in
//! one register lane, one fused multiply–add per k in increasing k from +0, in blocks of at most
//! 512 k (`kc`); each block's sum is multiplied by α, then stored (the first block of a
//! `Replace`) or added to the entry. The kernels below do exactly that, whichever tile an entry
//! falls in. Where faer takes other paths (one row: a matrix–vector product; one input column)
//! the call goes to faer itself. Tested bit for bit against faer on every shape the BPTT uses.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// The side of the square M whose products the kernel takes over: the Krause network's 100 units.
/// faer picks its kernels by shape (a matrix–vector path for one row, unrolled depths for small
/// sides, blocked depths for long ones), and its bits were checked against the kernel's for
/// this side and every row count from 2 to 130, and for the weight gradient at depths from 2 to
/// 44,768 (tested); other shapes go to faer itself.
const CHECKED_SIDE: usize = 100;

/// out (rows × columns, row-major) += α · (input · M) for `input` of rows × depth and M of
/// depth × columns (both row-major), with the bits of faer's product (see the module's doc).
pub fn add_scaled_product(out: &mut [f32], input: &[f32], m: &[f32], columns: usize, alpha: f32) {
    let depth = m.len().checked_div(columns).unwrap_or(0);
    let rows = input.len().checked_div(depth).unwrap_or(0);
    assert_eq!(m.len(), depth * columns, "M is depth × {columns}");
    assert_eq!(input.len(), rows * depth, "input is rows × {depth}");
    assert_eq!(out.len(), rows * columns, "out is {rows} × {columns}");
    #[cfg(target_arch = "x86_64")]
    if super::avx512_available() && rows >= 2 && depth == CHECKED_SIDE && columns == CHECKED_SIDE {
        // SAFETY: the CPU has AVX-512 F (checked just above); the shapes are asserted above.
        unsafe { avx512::add_scaled_product(out, input, m, depth, columns, rows, alpha) };
        return;
    }
    add_scaled_product_faer(out, input, m, columns, alpha);
}

/// The same product through faer: the reference the kernel's bits are tested against, and the
/// path on CPUs without AVX-512.
pub fn add_scaled_product_faer(out: &mut [f32], input: &[f32], m: &[f32], columns: usize, alpha: f32) {
    let depth = m.len().checked_div(columns).unwrap_or(0);
    let rows = input.len().checked_div(depth).unwrap_or(0);
    matmul(
        MatMut::from_row_major_slice_mut(out, rows, columns),
        Accum::Add,
        MatRef::from_row_major_slice(input, rows, depth),
        MatRef::from_row_major_slice(m, depth, columns),
        alpha,
        Par::Seq,
    );
}

/// g = α · Σ_r left[r]ᵀ right[r] (n × n, row-major) for `left` and `right` of `rows` × n
/// (row-major) — the BPTT's recurrent-weight gradient Σ_t dX_tᵀ R_{t−1} — with the bits of faer's
/// `matmul(g, Accum::Replace, leftᵀ, right, α, Par::Seq)`: faer's kernels take the depth (the
/// rows r) in blocks of 512 from r = 0, each block summed from +0 by one fused multiply–add per
/// r, times α, then stored (the first block) or added to the entry (the others).
pub fn weight_gradient(g: &mut [f32], left: &[f32], right: &[f32], n: usize, alpha: f32) {
    let rows = left.len().checked_div(n).unwrap_or(0);
    assert_eq!(left.len(), rows * n, "left is rows × {n}");
    assert_eq!(right.len(), rows * n, "right is rows × {n}");
    assert_eq!(g.len(), n * n, "g is {n} × {n}");
    #[cfg(target_arch = "x86_64")]
    if super::avx512_available() && n == CHECKED_SIDE && rows >= 2 {
        // SAFETY: the CPU has AVX-512 F (checked just above); the shapes are asserted above.
        unsafe { avx512::blocked_gradient(g, left, n, right, n, rows, alpha) };
        return;
    }
    gradient_faer(g, left, n, right, n, alpha);
}

/// The depth faer's kernels take at a time (`private-gemm-x86`: `kc = min(depth, 512)`).
const GRADIENT_DEPTH_BLOCK: usize = 512;

/// out = α · leftᵀ right (n × width, row-major) for `left` of rows × n and `right` of
/// rows × width, through faer: the reference of [`weight_gradient`] (width n) and
/// [`input_gradient`] (width = inputs), and their path without AVX-512.
pub fn gradient_faer(out: &mut [f32], left: &[f32], n: usize, right: &[f32], width: usize, alpha: f32) {
    let rows = left.len().checked_div(n).unwrap_or(0);
    matmul(
        MatMut::from_row_major_slice_mut(out, n, width),
        Accum::Replace,
        MatRef::from_row_major_slice(left, rows, n).transpose(),
        MatRef::from_row_major_slice(right, rows, width),
        alpha,
        Par::Seq,
    );
}

/// [`weight_gradient`] of `left` and the first `left.len()` values of `rates`, and with it the
/// readout gradient g_w_out = Σ_r rates[r] · dz[r] over every row of `rates` (n values), with
/// the bits of faer's matrix–vector product `matmul(g_w_out, Accum::Replace, ratesᵀ, dz, 1,
/// Par::Seq)`: each entry from +0, one fused multiply–add per row in order. The readout's rows
/// are summed as the weight gradient's blocks pass (then in cache) rather than streaming the
/// 18 MB of rates again.
pub fn weight_and_readout_gradients(
    g_w: &mut [f32],
    g_w_out: &mut [f32],
    left: &[f32],
    rates: &[f32],
    dz: &[f32],
    n: usize,
    alpha: f32,
) {
    let rows = left.len().checked_div(n).unwrap_or(0);
    let all_rows = dz.len();
    assert_eq!(left.len(), rows * n, "left is rows × {n}");
    assert!(rows <= all_rows, "left has at most as many rows as the rates");
    assert_eq!(rates.len(), all_rows * n, "rates are {all_rows} × {n}");
    assert_eq!(g_w_out.len(), n, "g_w_out has {n} values");
    assert_eq!(g_w.len(), n * n, "g is {n} × {n}");
    #[cfg(target_arch = "x86_64")]
    if super::avx512_available() && n == CHECKED_SIDE && rows >= 2 {
        let mut sums = [0f32; CHECKED_SIDE.div_ceil(16) * 16];
        let mut summed = 0;
        // SAFETY: the CPU has AVX-512 F (checked just above); the shapes are asserted above;
        // each call adds rows summed .. end of `rates`, in order, to `sums`.
        unsafe {
            avx512::blocked_gradient_with(g_w, left, n, &rates[..rows * n], n, rows, alpha, |end| {
                avx512::add_rows(&mut sums, &rates[summed * n..end * n], &dz[summed..end], n);
                summed = end;
            });
            avx512::add_rows(&mut sums, &rates[summed * n..], &dz[summed..], n);
        }
        g_w_out.copy_from_slice(&sums[..n]);
        return;
    }
    if rows == 0 {
        g_w.fill(0.0); // a sum over no rows (a one-step batch has no R_{t−1})
    } else {
        weight_gradient(g_w, left, &rates[..rows * n], n, alpha);
    }
    readout_gradient_faer(g_w_out, rates, dz, n);
}

/// The readout gradient through faer: the reference, and the path without AVX-512.
pub fn readout_gradient_faer(g_w_out: &mut [f32], rates: &[f32], dz: &[f32], n: usize) {
    matmul(
        MatMut::from_column_major_slice_mut(g_w_out, n, 1),
        Accum::Replace,
        MatRef::from_row_major_slice(rates, dz.len(), n).transpose(),
        MatRef::from_column_major_slice(dz, dz.len(), 1),
        1.0,
        Par::Seq,
    );
}

/// g_B = α · Σ_r left[r]ᵀ inputs[r] (n × ni, row-major) for `left` of `rows` × n and `inputs` of
/// `rows` × ni — the BPTT's input-weight gradient Σ_t dX_tᵀ U_t — with the bits of faer's
/// `matmul(g_B, Accum::Replace, leftᵀ, inputs, α, Par::Seq)` (the depth in the same blocks as
/// [`weight_gradient`]'s). The kernel computes g_Bᵀ, vectors along the units, and transposes it.
pub fn input_gradient(g_b: &mut [f32], left: &[f32], inputs: &[f32], n: usize, ni: usize, alpha: f32) {
    let rows = left.len().checked_div(n).unwrap_or(0);
    assert_eq!(left.len(), rows * n, "left is rows × {n}");
    assert_eq!(inputs.len(), rows * ni, "inputs are rows × {ni}");
    assert_eq!(g_b.len(), n * ni, "g_B is {n} × {ni}");
    #[cfg(target_arch = "x86_64")]
    if super::avx512_available() && n == CHECKED_SIDE && ni >= 2 && rows >= 2 {
        let mut transposed = vec![0f32; ni * n];
        // SAFETY: the CPU has AVX-512 F (checked just above); the shapes are asserted above.
        unsafe { avx512::blocked_gradient(&mut transposed, inputs, ni, left, n, rows, alpha) };
        for (u, row) in transposed.chunks_exact(n).enumerate() {
            for (i, &value) in row.iter().enumerate() {
                g_b[i * ni + u] = value;
            }
        }
        return;
    }
    gradient_faer(g_b, left, n, inputs, ni, alpha);
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::GRADIENT_DEPTH_BLOCK;

    /// Column blocks of four vectors (64 columns: at depth 100 a block of M, 25.6 KB, stays in L1
    /// while the row tiles stream past it) and the rest; row tiles of up to 24 accumulators.
    /// Blocks of two vectors were as fast; all seven at once (28 accumulators) spilled and ran
    /// at half speed.
    const BLOCK_VECTORS: usize = 4;

    /// Where a tile reads: output row i's scalar at step k is `scalar[i·scalar_row + k·scalar_k]`,
    /// the vector of columns at step k starts at `vector[k·vector_k]`, and `columns` of each are
    /// valid (loads past them are masked off).
    #[derive(Clone, Copy)]
    struct Operands {
        scalar: *const f32,
        scalar_row: usize,
        scalar_k: usize,
        vector: *const f32,
        vector_k: usize,
        columns: usize,
        depth: usize,
    }

    /// What a tile does with its sums: out = α·sum (`Store`) or out = α·sum + out (`Add`).
    #[derive(Clone, Copy, PartialEq)]
    enum Finish {
        Store,
        Add,
    }

    /// # Safety
    /// The CPU has AVX-512 F; `input` holds `rows` × depth values, `m` depth × columns, `out`
    /// `rows` × columns.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn add_scaled_product(
        out: &mut [f32],
        input: &[f32],
        m: &[f32],
        depth: usize,
        columns: usize,
        rows: usize,
        alpha: f32,
    ) {
        let operands = Operands {
            scalar: input.as_ptr(),
            scalar_row: depth,
            scalar_k: 1,
            vector: m.as_ptr(),
            vector_k: columns,
            columns,
            depth,
        };
        // SAFETY: as this function's; the masks keep each row's last vector inside it.
        unsafe { product(out, columns, operands, rows, alpha, Finish::Add) };
    }

    /// out (a × b, row-major) = α · Σ_r scalar[r]ᵀ vector[r] for `scalar` of `rows` × a and
    /// `vector` of `rows` × b (row-major), the depth in faer's blocks.
    ///
    /// # Safety
    /// The CPU has AVX-512 F; `scalar` holds `rows` × a values, `vector` `rows` × b, `out` a × b.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn blocked_gradient(
        out: &mut [f32],
        scalar: &[f32],
        a: usize,
        vector: &[f32],
        b: usize,
        rows: usize,
        alpha: f32,
    ) {
        // SAFETY: as this function's.
        unsafe { blocked_gradient_with(out, scalar, a, vector, b, rows, alpha, |_| {}) }
    }

    /// [`blocked_gradient`], calling `after_block(end)` after each block of rows (`end` the row
    /// after it), while its rows are in cache.
    ///
    /// # Safety
    /// As [`blocked_gradient`]'s.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn blocked_gradient_with(
        out: &mut [f32],
        scalar: &[f32],
        a: usize,
        vector: &[f32],
        b: usize,
        rows: usize,
        alpha: f32,
        mut after_block: impl FnMut(usize),
    ) {
        let mut start = 0;
        while start < rows {
            let depth = GRADIENT_DEPTH_BLOCK.min(rows - start);
            let operands = Operands {
                scalar: scalar[start * a..].as_ptr(),
                scalar_row: 1,
                scalar_k: a,
                vector: vector[start * b..].as_ptr(),
                vector_k: b,
                columns: b,
                depth,
            };
            let finish = if start == 0 { Finish::Store } else { Finish::Add };
            // SAFETY: as this function's; the block's rows lie in `scalar` and `vector`, and the
            // masks keep the last vector of each row inside it.
            unsafe { product(out, b, operands, a, alpha, finish) };
            start += depth;
            after_block(start);
        }
    }

    /// sums[i] = fma(rows[r][i], weights[r], sums[i]) for each row r in order (rows of `n`
    /// values; `sums` holds n rounded up to whole vectors).
    ///
    /// # Safety
    /// The CPU has AVX-512 F; `rows` holds `weights.len()` × n values, `sums` ⌈n/16⌉·16.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn add_rows(sums: &mut [f32], rows: &[f32], weights: &[f32], n: usize) {
        const MAX_VECTORS: usize = super::CHECKED_SIDE.div_ceil(16);
        let vectors = n.div_ceil(16);
        assert!(vectors <= MAX_VECTORS && sums.len() >= vectors * 16 && rows.len() >= weights.len() * n);
        let mut masks = [0u16; MAX_VECTORS];
        for (c, mask) in masks.iter_mut().enumerate().take(vectors) {
            let valid = (n - c * 16).min(16);
            *mask = if valid == 16 { 0xFFFF } else { (1u16 << valid) - 1 };
        }
        // SAFETY: every load lies in `sums` or in row r of `rows`, masked to its n values.
        unsafe {
            let mut acc = [_mm512_setzero_ps(); MAX_VECTORS];
            for (c, acc) in acc.iter_mut().enumerate().take(vectors) {
                *acc = _mm512_loadu_ps(sums.as_ptr().add(c * 16));
            }
            for (r, &weight) in weights.iter().enumerate() {
                let x = _mm512_set1_ps(weight);
                let row = rows.as_ptr().add(r * n);
                for (c, acc) in acc.iter_mut().enumerate().take(vectors) {
                    *acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(masks[c], row.add(c * 16)), x, *acc);
                }
            }
            for (c, acc) in acc.iter().enumerate().take(vectors) {
                _mm512_storeu_ps(sums.as_mut_ptr().add(c * 16), *acc);
            }
        }
    }

    /// All `rows` output rows (of `columns` values, row-major in `out`) of one product.
    ///
    /// # Safety
    /// The CPU has AVX-512 F; `operands` address `rows` output rows and `columns` columns.
    #[target_feature(enable = "avx512f")]
    unsafe fn product(out: &mut [f32], columns: usize, operands: Operands, rows: usize, alpha: f32, finish: Finish) {
        let vectors = columns.div_ceil(16);
        let mut first = 0;
        while first < vectors {
            let count = BLOCK_VECTORS.min(vectors - first);
            // SAFETY: as this function's; column vectors first .. first + count lie in `columns`
            // (the last one masked).
            unsafe {
                match count {
                    4 => column_block::<4, 6>(out, operands, rows, first, alpha, finish),
                    3 => column_block::<3, 8>(out, operands, rows, first, alpha, finish),
                    2 => column_block::<2, 8>(out, operands, rows, first, alpha, finish),
                    _ => column_block::<1, 8>(out, operands, rows, first, alpha, finish),
                }
            }
            first += count;
        }
    }

    /// Every output row for the C vectors of columns from vector `first`, in tiles of at most R
    /// rows (R·C accumulators) of nearly equal heights: 51 rows as 6 × 6 and 3 × 5 rather than
    /// 8 × 6 and 3 short rows whose few accumulators would wait on the latency.
    ///
    /// # Safety
    /// As [`product`]'s, and vectors `first .. first + C` lie in `columns`.
    #[target_feature(enable = "avx512f")]
    unsafe fn column_block<const C: usize, const R: usize>(
        out: &mut [f32],
        operands: Operands,
        rows: usize,
        first: usize,
        alpha: f32,
        finish: Finish,
    ) {
        let tiles = rows.div_ceil(R);
        let (short, taller) = (rows / tiles, rows % tiles);
        let mut row = 0;
        for t in 0..tiles {
            let height = short + usize::from(t < taller);
            // SAFETY: as this function's; the tiles' rows add up to `rows`.
            unsafe {
                match height {
                    1 => tile::<1, C>(out, operands, row, first, alpha, finish),
                    2 => tile::<2, C>(out, operands, row, first, alpha, finish),
                    3 => tile::<3, C>(out, operands, row, first, alpha, finish),
                    4 => tile::<4, C>(out, operands, row, first, alpha, finish),
                    5 => tile::<5, C>(out, operands, row, first, alpha, finish),
                    6 => tile::<6, C>(out, operands, row, first, alpha, finish),
                    7 => tile::<7, C>(out, operands, row, first, alpha, finish),
                    8 => tile::<8, C>(out, operands, row, first, alpha, finish),
                    _ => unreachable!("tiles are at most {R} ≤ 8 rows"),
                }
            }
            row += height;
        }
    }

    /// Output rows `row..row + R`, column vectors `first..first + C`: Σ_k scalar·vector as one
    /// fused multiply–add per k in increasing k from zero, then ·α, then stored or added to the
    /// old entry.
    ///
    /// # Safety
    /// As [`column_block`]'s, and rows `row .. row + R` lie in the operands and `out`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tile<const R: usize, const C: usize>(
        out: &mut [f32],
        o: Operands,
        row: usize,
        first: usize,
        alpha: f32,
        finish: Finish,
    ) {
        let mut masks = [0xFFFFu16; C];
        for (c, mask) in masks.iter_mut().enumerate() {
            let valid = (o.columns - (first + c) * 16).min(16);
            *mask = if valid == 16 { 0xFFFF } else { (1u16 << valid) - 1 };
        }
        let mut acc = [[_mm512_setzero_ps(); C]; R];
        // SAFETY: the operands address rows row .. row + R, `depth` steps and the columns of
        // vectors first .. first + C, the masks keeping every load and store below `columns`.
        unsafe {
            let vector = o.vector.add(first * 16);
            let scalar = o.scalar.add(row * o.scalar_row);
            for k in 0..o.depth {
                let mut v = [_mm512_setzero_ps(); C];
                for (c, v) in v.iter_mut().enumerate() {
                    *v = _mm512_maskz_loadu_ps(masks[c], vector.add(k * o.vector_k + c * 16));
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(*scalar.add(r * o.scalar_row + k * o.scalar_k));
                    for (acc, v) in acc.iter_mut().zip(&v) {
                        *acc = _mm512_fmadd_ps(*v, x, *acc);
                    }
                }
            }
            let alpha = _mm512_set1_ps(alpha);
            let columns = o.columns;
            for (r, acc) in acc.iter().enumerate() {
                let out_row = out.as_mut_ptr().add((row + r) * columns);
                for (c, acc) in acc.iter().enumerate() {
                    let at = out_row.add((first + c) * 16);
                    let scaled = _mm512_mul_ps(*acc, alpha);
                    let new = match finish {
                        Finish::Store => scaled,
                        Finish::Add => _mm512_add_ps(scaled, _mm512_maskz_loadu_ps(masks[c], at)),
                    };
                    _mm512_mask_storeu_ps(at, masks[c], new);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::transpose;
    use crate::rng::SplitMix64;

    fn random(rng: &mut SplitMix64, count: usize) -> Vec<f32> {
        (0..count).map(|_| rng.normal() as f32).collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn check(rng: &mut SplitMix64, rows: usize, depth: usize, columns: usize) {
        let m_values = random(rng, depth * columns);
        let input = random(rng, rows * depth);
        let out = random(rng, rows * columns);
        // M, and M built as the transpose of a columns × depth matrix (as the forward builds Wᵀ).
        let transposed = transpose(&m_values, columns, depth);
        for m in [&m_values, &transposed] {
            let mut ours = out.clone();
            add_scaled_product(&mut ours, &input, m, columns, 0.2);
            let mut reference = out.clone();
            add_scaled_product_faer(&mut reference, &input, m, columns, 0.2);
            assert_eq!(bits(&ours), bits(&reference), "{rows} × {depth} · {depth} × {columns}");
        }
    }

    #[test]
    fn the_kernel_gives_faer_s_bits_for_every_batch_of_the_network_s_side() {
        let mut rng = SplitMix64::new(17);
        for rows in 1..=130 {
            check(&mut rng, rows, CHECKED_SIDE, CHECKED_SIDE);
        }
    }

    #[test]
    fn other_shapes_are_faer_s_own_products() {
        let mut rng = SplitMix64::new(18);
        for (rows, depth, columns) in [(13, 37, 45), (1, 3, 16), (25, 16, 33), (32, 600, 100), (32, 100, 64)] {
            check(&mut rng, rows, depth, columns);
        }
    }

    #[test]
    fn signed_zeros_and_non_finite_values_come_out_as_faer_s() {
        let n = CHECKED_SIDE;
        let mut rng = SplitMix64::new(19);
        let mut m_values = random(&mut rng, n * n);
        let mut input = random(&mut rng, 4 * n);
        let mut out = random(&mut rng, 4 * n);
        // A row of zeros (its products are ±0), an infinity, a NaN, negative zeros in `out`.
        input[..n].iter_mut().for_each(|v| *v = -0.0);
        m_values[3] = f32::INFINITY;
        input[2 * n + 7] = f32::NAN;
        out.iter_mut().step_by(3).for_each(|v| *v = -0.0);
        let mut ours = out.clone();
        add_scaled_product(&mut ours, &input, &m_values, n, 0.2);
        let mut reference = out;
        add_scaled_product_faer(&mut reference, &input, &m_values, n, 0.2);
        assert_eq!(bits(&ours), bits(&reference));
    }

    #[test]
    fn the_weight_gradient_gives_faer_s_bits_at_every_depth_block_boundary() {
        let mut rng = SplitMix64::new(20);
        let n = CHECKED_SIDE;
        // One row (faer's own path), short depths, the 512-row blocks' edges, and the Krause
        // integration (32 × 1,399) and sine (51 × 499) depths.
        for rows in (1..=20).chain([64, 511, 512, 513, 1024, 1500, 25_449, 44_768]) {
            let left = random(&mut rng, rows * n);
            let right = random(&mut rng, rows * n);
            let mut ours = vec![f32::NAN; n * n];
            weight_gradient(&mut ours, &left, &right, n, 0.2);
            let mut reference = vec![f32::NAN; n * n];
            gradient_faer(&mut reference, &left, n, &right, n, 0.2);
            assert_eq!(bits(&ours), bits(&reference), "depth {rows}");
        }
    }

    #[test]
    fn the_input_gradient_gives_faer_s_bits_for_every_input_count_and_depth() {
        let mut rng = SplitMix64::new(21);
        let n = CHECKED_SIDE;
        // One input and one row are faer's own (matrix–vector) paths; four inputs are the
        // integration task's.
        for ni in [1usize, 2, 3, 4, 5, 8] {
            for rows in (1..=12).chain([511, 512, 513, 1024, 44_800]) {
                let left = random(&mut rng, rows * n);
                let inputs = random(&mut rng, rows * ni);
                let mut ours = vec![f32::NAN; n * ni];
                input_gradient(&mut ours, &left, &inputs, n, ni, 0.2);
                let mut reference = vec![f32::NAN; n * ni];
                gradient_faer(&mut reference, &left, n, &inputs, ni, 0.2);
                assert_eq!(bits(&ours), bits(&reference), "{ni} inputs, depth {rows}");
            }
        }
    }

    #[test]
    fn the_fused_readout_gradient_gives_faer_s_bits() {
        let mut rng = SplitMix64::new(22);
        let n = CHECKED_SIDE;
        // The integration and sine shapes (rows of the weight gradient = all rows − one step),
        // block edges, one row, and a one-step batch (no rows: g_W is 0).
        for (all_rows, shift) in [
            (44_800, 32),
            (25_500, 51),
            (1025, 1),
            (513, 1),
            (40, 7),
            (3, 1),
            (2, 1),
            (5, 5),
        ] {
            let rows = all_rows - shift;
            let left = random(&mut rng, rows * n);
            let rates = random(&mut rng, all_rows * n);
            let dz = random(&mut rng, all_rows);
            let (mut g_w, mut g_w_out) = (vec![f32::NAN; n * n], vec![f32::NAN; n]);
            weight_and_readout_gradients(&mut g_w, &mut g_w_out, &left, &rates, &dz, n, 0.2);
            let mut reference_w = vec![f32::NAN; n * n];
            gradient_faer(&mut reference_w, &left, n, &rates[..rows * n], n, 0.2);
            let mut reference_out = vec![f32::NAN; n];
            readout_gradient_faer(&mut reference_out, &rates, &dz, n);
            assert_eq!(bits(&g_w), bits(&reference_w), "{all_rows} rows");
            assert_eq!(bits(&g_w_out), bits(&reference_out), "{all_rows} rows");
        }
    }
}
