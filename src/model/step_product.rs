//! The Krause BPTT's per-step product, out += α · (input · M) with `input` a few dozen rows
//! (the trials of a batch) and M the 100 × 100 recurrent matrix, written for AVX-512 with the
//! bits of faer's `matmul(out, Accum::Add, input, M, α, Par::Seq)` — the call it replaces.
//!
//! Why not faer: an integration iteration makes 2,800 of these calls, and per call faer packs
//! M again, splits the 100 columns into a 96-wide kernel and a masked 16-wide one whose four
//! accumulators wait on the FMA latency (a fifth of the products' time for 4 % of the work).
//! Here M is laid out once per iteration, rows padded to whole 16-lane vectors with zeros, and
//! every tile keeps 24 accumulators busy.
//!
//! The bits: faer's x86 kernels (the `private-gemm-x86` crate) accumulate each output entry in
//! one register lane, one fused multiply–add per k in increasing k from +0 (depth 100 is one
//! block), then multiply the sum by α and add the old entry. The kernel below does exactly
//! that, whichever tile an entry falls in; tested against faer on several shapes.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// A k × n matrix stored row-major with each row padded with zeros to a multiple of 16 values,
/// so that a kernel loads whole vectors without masks.
#[derive(Debug, Clone, Default)]
pub struct PaddedMatrix {
    values: Vec<f32>,
    rows: usize,
    columns: usize,
    stride: usize,
}

impl PaddedMatrix {
    /// M = `m` (rows × columns, row-major).
    pub fn from_row_major(m: &[f32], rows: usize, columns: usize) -> Self {
        let mut padded = Self::default();
        padded.set(rows, columns, |r, c| m[r * columns + c]);
        padded
    }

    /// M = `m`ᵀ, where `m` is columns × rows, row-major.
    pub fn from_transpose_of(m: &[f32], rows: usize, columns: usize) -> Self {
        let mut padded = Self::default();
        padded.set(rows, columns, |r, c| m[c * rows + r]);
        padded
    }

    fn set(&mut self, rows: usize, columns: usize, entry: impl Fn(usize, usize) -> f32) {
        self.rows = rows;
        self.columns = columns;
        self.stride = columns.div_ceil(16) * 16;
        self.values.clear();
        self.values.resize(rows * self.stride, 0.0);
        for (r, row) in self.values.chunks_exact_mut(self.stride).enumerate() {
            for (c, slot) in row[..columns].iter_mut().enumerate() {
                *slot = entry(r, c);
            }
        }
    }

    fn as_faer(&self) -> MatRef<'_, f32> {
        MatRef::from_row_major_slice_with_stride(&self.values, self.rows, self.columns, self.stride)
    }
}

/// The side of the square M whose products the kernel takes over: the Krause network's 100 units.
/// faer picks its kernels by shape (a matrix–vector path for one row, unrolled depths for small
/// sides, blocked depths for long ones), and its bits were checked against the kernel's for
/// this side and every row count from 2 to 130 (tested); other shapes go to faer itself.
const CHECKED_SIDE: usize = 100;

/// out (rows × M's columns, row-major) += α · (input (rows × M's rows, row-major) · M), with the
/// bits of faer's product (see the module's doc).
pub fn add_scaled_product(out: &mut [f32], input: &[f32], m: &PaddedMatrix, alpha: f32) {
    let (depth, columns) = (m.rows, m.columns);
    let rows = input.len().checked_div(depth).unwrap_or(0);
    assert_eq!(input.len(), rows * depth, "input is rows × {depth}");
    assert_eq!(out.len(), rows * columns, "out is {rows} × {columns}");
    #[cfg(target_arch = "x86_64")]
    if super::avx512_available() && rows >= 2 && depth == CHECKED_SIDE && columns == CHECKED_SIDE {
        // SAFETY: the CPU has AVX-512 F (checked just above); `input` and `out` hold
        // rows × depth and rows × columns values (asserted above), M's rows `stride` values.
        unsafe { avx512::add_scaled_product(out, input, m, rows, alpha) };
        return;
    }
    add_scaled_product_faer(out, input, m, alpha);
}

/// The same product through faer: the reference the kernel's bits are tested against, and the
/// path on CPUs without AVX-512.
pub fn add_scaled_product_faer(out: &mut [f32], input: &[f32], m: &PaddedMatrix, alpha: f32) {
    let (depth, columns) = (m.rows, m.columns);
    let rows = input.len().checked_div(depth).unwrap_or(0);
    matmul(
        MatMut::from_row_major_slice_mut(out, rows, columns),
        Accum::Add,
        MatRef::from_row_major_slice(input, rows, depth),
        m.as_faer(),
        alpha,
        Par::Seq,
    );
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::PaddedMatrix;

    /// Column blocks of four vectors (64 columns: M's block, 25.6 KB at depth 100, stays in L1
    /// while the row tiles stream past it) and the rest; row tiles of 24 accumulators. Blocks of
    /// two vectors were as fast; all seven at once (28 accumulators) spilled and ran at half speed.
    const BLOCK_VECTORS: usize = 4;

    /// # Safety
    /// The CPU has AVX-512 F; `input` holds `rows` × M's rows values, `out` `rows` × M's columns.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn add_scaled_product(out: &mut [f32], input: &[f32], m: &PaddedMatrix, rows: usize, alpha: f32) {
        let vectors = m.stride / 16;
        let mut first = 0;
        while first < vectors {
            let count = BLOCK_VECTORS.min(vectors - first);
            // SAFETY: as this function's; column vectors first .. first + count lie in M's stride.
            unsafe {
                match count {
                    4 => column_block::<4, 6>(out, input, m, rows, first, alpha),
                    3 => column_block::<3, 8>(out, input, m, rows, first, alpha),
                    2 => column_block::<2, 8>(out, input, m, rows, first, alpha),
                    _ => column_block::<1, 8>(out, input, m, rows, first, alpha),
                }
            }
            first += count;
        }
    }

    /// Every row of the output for the C vectors of columns from vector `first`, in tiles of
    /// at most R rows (R·C accumulators) of nearly equal heights: 51 rows as 6 × 6 and 3 × 5
    /// rather than 8 × 6 and 3 short rows whose few accumulators would wait on the latency.
    ///
    /// # Safety
    /// As [`add_scaled_product`]'s, and vectors `first .. first + C` lie in M's stride.
    #[target_feature(enable = "avx512f")]
    unsafe fn column_block<const C: usize, const R: usize>(
        out: &mut [f32],
        input: &[f32],
        m: &PaddedMatrix,
        rows: usize,
        first: usize,
        alpha: f32,
    ) {
        let tiles = rows.div_ceil(R);
        let (short, taller) = (rows / tiles, rows % tiles);
        let mut row = 0;
        for t in 0..tiles {
            let height = short + usize::from(t < taller);
            // SAFETY: as this function's; the tiles' rows add up to `rows`.
            unsafe {
                match height {
                    1 => tile::<1, C>(out, input, m, row, first, alpha),
                    2 => tile::<2, C>(out, input, m, row, first, alpha),
                    3 => tile::<3, C>(out, input, m, row, first, alpha),
                    4 => tile::<4, C>(out, input, m, row, first, alpha),
                    5 => tile::<5, C>(out, input, m, row, first, alpha),
                    6 => tile::<6, C>(out, input, m, row, first, alpha),
                    7 => tile::<7, C>(out, input, m, row, first, alpha),
                    8 => tile::<8, C>(out, input, m, row, first, alpha),
                    _ => unreachable!("tiles are at most {R} ≤ 8 rows"),
                }
            }
            row += height;
        }
    }

    /// Rows `row..row + R`, column vectors `first..first + C`: Σ_k input[r, k]·M[k, ·] as one
    /// fused multiply–add per k in increasing k from zero, then ·α, then + the old entry.
    ///
    /// # Safety
    /// As [`column_block`]'s, and rows `row .. row + R` lie in `input` and `out`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tile<const R: usize, const C: usize>(
        out: &mut [f32],
        input: &[f32],
        m: &PaddedMatrix,
        row: usize,
        first: usize,
        alpha: f32,
    ) {
        let (depth, columns, stride) = (m.rows, m.columns, m.stride);
        let mut acc = [[_mm512_setzero_ps(); C]; R];
        // SAFETY: M's rows hold `stride` values, of which vectors first .. first + C are read;
        // `input`'s rows row .. row + R hold `depth` values each; `out`'s rows row .. row + R
        // hold `columns` values, and the masks keep every access below `columns`.
        unsafe {
            let m_ptr = m.values.as_ptr().add(first * 16);
            let in_ptr = input.as_ptr().add(row * depth);
            for k in 0..depth {
                let mut v = [_mm512_setzero_ps(); C];
                for (c, v) in v.iter_mut().enumerate() {
                    *v = _mm512_loadu_ps(m_ptr.add(k * stride + c * 16));
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(*in_ptr.add(r * depth + k));
                    for (acc, v) in acc.iter_mut().zip(&v) {
                        *acc = _mm512_fmadd_ps(*v, x, *acc);
                    }
                }
            }
            let alpha = _mm512_set1_ps(alpha);
            for (r, acc) in acc.iter().enumerate() {
                let out_row = out.as_mut_ptr().add((row + r) * columns);
                for (c, acc) in acc.iter().enumerate() {
                    let column = (first + c) * 16;
                    let valid = (columns - column).min(16);
                    let mask: __mmask16 = if valid == 16 { 0xFFFF } else { (1u16 << valid) - 1 };
                    let old = _mm512_maskz_loadu_ps(mask, out_row.add(column));
                    let new = _mm512_add_ps(_mm512_mul_ps(*acc, alpha), old);
                    _mm512_mask_storeu_ps(out_row.add(column), mask, new);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        for m in [
            PaddedMatrix::from_row_major(&m_values, depth, columns),
            PaddedMatrix::from_transpose_of(&m_values, depth, columns),
        ] {
            let mut ours = out.clone();
            add_scaled_product(&mut ours, &input, &m, 0.2);
            let mut reference = out.clone();
            add_scaled_product_faer(&mut reference, &input, &m, 0.2);
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
        let m = PaddedMatrix::from_row_major(&m_values, n, n);
        let mut ours = out.clone();
        add_scaled_product(&mut ours, &input, &m, 0.2);
        let mut reference = out;
        add_scaled_product_faer(&mut reference, &input, &m, 0.2);
        assert_eq!(bits(&ours), bits(&reference));
    }

    #[test]
    fn a_transposed_matrix_holds_the_transpose() {
        let m = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 × 3
        let t = PaddedMatrix::from_transpose_of(&m, 3, 2);
        assert_eq!((t.rows, t.columns, t.stride), (3, 2, 16));
        assert_eq!(&t.values[..2], &[1.0, 4.0]);
        assert_eq!(&t.values[16..18], &[2.0, 5.0]);
        assert!(t.values[2..16].iter().all(|&v| v == 0.0));
    }
}
