//! AVX-512 versions of [`super::dense_ae`]'s two products — a layer applied along the batch
//! and the weight gradients' dot products — written with explicit 16-lane registers and
//! blocked so that each load feeds several multiply-adds.
//!
//! Why: the portable loops, compiled for AVX2, keep one output row's 64 columns in 8 registers,
//! so every multiply-add needs its own load and the 8 accumulators only just cover the
//! multiply-add latency; the 2 × 2 tiles of dot products load as often as they multiply. With
//! 32 registers of 16 lanes, a block of 4 output rows × 32 columns reuses each input load 4
//! times, and a tile of 4 × 4 dot products (one register each: [`super::dense_ae::LANES`] is
//! 16) reuses each load 4 times (BENCHMARKS.md, issue 13, session 15).
//!
//! Bits: every output is built by the same operations in the same order as the portable code
//! — the same `mul_add`s along `k`, the same 16 partial sums per dot product combined by the same
//! pairwise halving, the same finishing operation — so the results are bit-identical to it
//! (tested in `dense_ae`). Lanes past a row's end are masked, never padded with zeros (which
//! would turn a −0 partial sum into +0).

use std::arch::x86_64::*;

use super::dense_ae::{Finish, Layer};

/// Output rows of one block of [`combine_rows`].
const ROWS: usize = 4;
/// 16-lane registers per row of one block of [`combine_rows`] (32 columns).
const VECTORS: usize = 2;
/// Inputs and deltas per tile of [`weight_products`].
const TILE: usize = 4;

/// `super::dense_ae::combine_rows`, bit for bit: writes `layer`'s rows to `out`.
///
/// # Safety
/// The CPU has AVX-512 F and DQ.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
pub(super) unsafe fn combine_rows(out: &mut [f32], layer: Layer<impl Fn(usize) -> f32, impl Fn(usize, usize) -> f32>) {
    let Layer {
        input,
        rows_in,
        rows_out,
        cols,
        finish,
        first,
        coefficient,
    } = layer;
    assert!(out.len() >= rows_out * cols && input.len() >= rows_in * cols);
    if let Finish::WhereActive(outputs) = finish {
        assert!(outputs.len() >= rows_out * cols);
    }
    let block = Block {
        out: out.as_mut_ptr(),
        input: input.as_ptr(),
        rows_in,
        cols,
        finish,
    };
    let mut r = 0;
    while r < rows_out {
        let left = rows_out - r;
        // SAFETY: rows r .. r + R exist (R ≤ left), and every column block below lies in a row.
        unsafe {
            match left {
                1 => block.rows::<1>(r, &first, &coefficient),
                2 => block.rows::<2>(r, &first, &coefficient),
                3 => block.rows::<3>(r, &first, &coefficient),
                _ => block.rows::<ROWS>(r, &first, &coefficient),
            }
        }
        r += left.min(ROWS);
    }
}

/// The shared arguments of [`combine_rows`]'s blocks; `out` and `input` hold at least
/// rows × `cols` values (checked there).
struct Block<'a> {
    out: *mut f32,
    input: *const f32,
    rows_in: usize,
    cols: usize,
    finish: Finish<'a>,
}

impl Block<'_> {
    /// Rows `r0 .. r0 + R`, across all columns: blocks of 32, then 16, then a masked rest.
    ///
    /// # Safety
    /// AVX-512 F; rows `r0 .. r0 + R` exist.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn rows<const R: usize>(
        &self,
        r0: usize,
        first: &impl Fn(usize) -> f32,
        coefficient: &impl Fn(usize, usize) -> f32,
    ) {
        let mut start = 0;
        // SAFETY (all three): each block's columns lie inside the rows (`start + width ≤ cols`,
        // or the mask stops at `cols`).
        while start + 16 * VECTORS <= self.cols {
            unsafe { self.columns::<R, VECTORS>(r0, start, u16::MAX, first, coefficient) };
            start += 16 * VECTORS;
        }
        if start + 16 <= self.cols {
            unsafe { self.columns::<R, 1>(r0, start, u16::MAX, first, coefficient) };
            start += 16;
        }
        if start < self.cols {
            let mask = (1u16 << (self.cols - start)) - 1;
            unsafe { self.columns::<R, 1>(r0, start, mask, first, coefficient) };
        }
    }

    /// Rows `r0 .. r0 + R`, columns `start .. start + 16·V` (the last register only in the lanes
    /// of `last_mask`), accumulated in registers.
    ///
    /// # Safety
    /// AVX-512 F; the rows exist and the (masked) columns lie inside them.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn columns<const R: usize, const V: usize>(
        &self,
        r0: usize,
        start: usize,
        last_mask: u16,
        first: &impl Fn(usize) -> f32,
        coefficient: &impl Fn(usize, usize) -> f32,
    ) {
        let mask = |v: usize| if v + 1 == V { last_mask } else { u16::MAX };
        let mut acc: [[__m512; V]; R] = std::array::from_fn(|r| [_mm512_set1_ps(first(r0 + r)); V]);
        for k in 0..self.rows_in {
            // SAFETY: row k < rows_in of the input, at a column inside it.
            let row = unsafe { self.input.add(k * self.cols + start) };
            // SAFETY: the lanes loaded lie inside input row k (masked past its end).
            let x: [__m512; V] = std::array::from_fn(|v| unsafe { _mm512_maskz_loadu_ps(mask(v), row.add(16 * v)) });
            for (r, acc) in acc.iter_mut().enumerate() {
                let c = _mm512_set1_ps(coefficient(r0 + r, k));
                for (a, x) in acc.iter_mut().zip(&x) {
                    *a = _mm512_fmadd_ps(c, *x, *a);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let at = (r0 + r) * self.cols + start;
            for (v, a) in acc.iter().enumerate() {
                // SAFETY: as the loads, in output row r0 + r (and the same place of `outputs`).
                unsafe {
                    let value = self.finish_register(*a, at + 16 * v, mask(v));
                    _mm512_mask_storeu_ps(self.out.add(at + 16 * v), mask(v), value);
                }
            }
        }
    }

    /// [`Finish`] on one register of results that sit at `at` in the output.
    ///
    /// # Safety
    /// AVX-512 F; for `WhereActive`, the masked lanes at `at` lie inside its array.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn finish_register(&self, value: __m512, at: usize, mask: u16) -> __m512 {
        let zero = _mm512_setzero_ps();
        match self.finish {
            Finish::AsIs => value,
            // `f32::max(v, 0.0)` as the portable build computes it: v > 0 ? v : 0 (so −0 and
            // NaN give +0), which is what the instruction's operand order gives.
            Finish::Relu => _mm512_max_ps(value, zero),
            // v · (a > 0 ? 1 : 0): a product, as in the portable build (so v · 0 keeps v's sign).
            Finish::WhereActive(outputs) => {
                // SAFETY: the masked lanes at `at` lie inside `outputs` (this function's contract).
                let active = unsafe { _mm512_maskz_loadu_ps(mask, outputs.as_ptr().add(at)) };
                let positive = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(active, zero);
                _mm512_mul_ps(value, _mm512_maskz_mov_ps(positive, _mm512_set1_ps(1.0)))
            }
        }
    }
}

/// `set(i, o, Σ_c rows[i, c]·deltas[o, c])` for every input row i < `n_in` and delta row
/// o < `n_out` (rows of `cols` values), each sum with 16 partial sums combined by pairwise
/// halving: `super::dense_ae::dot`'s bits, for every tile shape.
///
/// # Safety
/// The CPU has AVX-512 F and DQ.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
pub(super) unsafe fn weight_products(
    rows: &[f32],
    n_in: usize,
    deltas: &[f32],
    n_out: usize,
    cols: usize,
    mut set: impl FnMut(usize, usize, f32),
) {
    assert!(rows.len() >= n_in * cols && deltas.len() >= n_out * cols);
    let tiles = Tiles {
        rows: rows.as_ptr(),
        deltas: deltas.as_ptr(),
        cols,
    };
    let mut i = 0;
    while i < n_in {
        let left = n_in - i;
        // SAFETY: rows i .. i + I exist (I ≤ left).
        unsafe {
            match left {
                1 => tiles.row_block::<1>(i, n_out, &mut set),
                2 => tiles.row_block::<2>(i, n_out, &mut set),
                3 => tiles.row_block::<3>(i, n_out, &mut set),
                _ => tiles.row_block::<TILE>(i, n_out, &mut set),
            }
        }
        i += left.min(TILE);
    }
}

/// The arrays of [`weight_products`], rows of `cols` values.
struct Tiles {
    rows: *const f32,
    deltas: *const f32,
    cols: usize,
}

impl Tiles {
    /// Input rows `i0 .. i0 + I` against every delta row.
    ///
    /// # Safety
    /// AVX-512 F; the input rows exist, and `n_out` delta rows.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn row_block<const I: usize>(&self, i0: usize, n_out: usize, set: &mut impl FnMut(usize, usize, f32)) {
        let mut o = 0;
        while o < n_out {
            let left = n_out - o;
            // SAFETY: delta rows o .. o + O exist (O ≤ left).
            unsafe {
                match left {
                    1 => self.tile::<I, 1>(i0, o, set),
                    2 => self.tile::<I, 2>(i0, o, set),
                    3 => self.tile::<I, 3>(i0, o, set),
                    _ => self.tile::<I, TILE>(i0, o, set),
                }
            }
            o += left.min(TILE);
        }
    }

    /// The I × O dot products of input rows `i0 ..` with delta rows `o0 ..`, one register of 16
    /// partial sums each.
    ///
    /// # Safety
    /// AVX-512 F; the rows exist.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn tile<const I: usize, const O: usize>(
        &self,
        i0: usize,
        o0: usize,
        set: &mut impl FnMut(usize, usize, f32),
    ) {
        let cols = self.cols;
        let mut acc = [[_mm512_setzero_ps(); O]; I];
        let mut start = 0;
        let step = |start: usize, mask: u16, acc: &mut [[__m512; O]; I]| {
            // SAFETY: the lanes loaded lie inside their rows (masked past the end).
            let x: [__m512; I] =
                std::array::from_fn(|a| unsafe { _mm512_maskz_loadu_ps(mask, self.rows.add((i0 + a) * cols + start)) });
            let d: [__m512; O] = std::array::from_fn(|b| unsafe {
                _mm512_maskz_loadu_ps(mask, self.deltas.add((o0 + b) * cols + start))
            });
            for (acc, x) in acc.iter_mut().zip(&x) {
                for (s, d) in acc.iter_mut().zip(&d) {
                    // Lanes outside the mask keep their partial sum untouched.
                    *s = _mm512_mask3_fmadd_ps(*x, *d, *s, mask);
                }
            }
        };
        while start + 16 <= cols {
            step(start, u16::MAX, &mut acc);
            start += 16;
        }
        if start < cols {
            step(start, (1u16 << (cols - start)) - 1, &mut acc);
        }
        for (a, acc) in acc.iter().enumerate() {
            for (b, s) in acc.iter().enumerate() {
                set(i0 + a, o0 + b, sum_lanes(*s));
            }
        }
    }
}

/// `super::dense_ae::sum_lanes` on one register: lanes j and j + 8 added, then j and j + 4, j and
/// j + 2, and the last two.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
fn sum_lanes(v: __m512) -> f32 {
    let eight = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps::<1>(v));
    let four = _mm_add_ps(_mm256_castps256_ps128(eight), _mm256_extractf128_ps::<1>(eight));
    let mut lanes = [0f32; 4];
    // SAFETY: `lanes` has room for the 4 values stored.
    unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), four) };
    (lanes[0] + lanes[2]) + (lanes[1] + lanes[3])
}
