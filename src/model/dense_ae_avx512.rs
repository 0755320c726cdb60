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

use super::dense_ae::{Finish, Layer, Rows};

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
pub(super) unsafe fn combine_rows(
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
    // Every row read or written lies inside its array (the raw-pointer loads below rely on it).
    assert!(outputs.fit(cols, out.len()) && inputs.fit(cols, input.len()));
    if let Finish::WhereActive(active) = finish {
        assert!(outputs.fit(cols, active.len()));
    }
    let block = Block {
        out: out.as_mut_ptr(),
        input: input.as_ptr(),
        inputs,
        cols,
        finish,
    };
    let mut at = 0;
    while at < outputs.count() {
        let take = balanced_block(outputs.count() - at, ROWS);
        let row = |r: usize| outputs.row(at + r);
        // SAFETY: the R rows taken (R ≤ what is left) exist, and every column block below lies
        // in a row.
        unsafe {
            match take {
                1 => block.rows::<1>(std::array::from_fn(row), &first, &coefficient),
                2 => block.rows::<2>(std::array::from_fn(row), &first, &coefficient),
                3 => block.rows::<3>(std::array::from_fn(row), &first, &coefficient),
                _ => block.rows::<ROWS>(std::array::from_fn(row), &first, &coefficient),
            }
        }
        at += take;
    }
}

/// The shared arguments of [`combine_rows`]'s blocks; `out` and `input` hold the rows that
/// `combine_rows` writes and reads (checked there).
struct Block<'a, In> {
    out: *mut f32,
    input: *const f32,
    inputs: In,
    cols: usize,
    finish: Finish<'a>,
}

impl<In: Rows> Block<'_, In> {
    /// Output rows `rows`, across all columns: blocks of 32, then 16, then a masked rest.
    ///
    /// # Safety
    /// AVX-512 F; the rows exist.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn rows<const R: usize>(
        &self,
        rows: [usize; R],
        first: &impl Fn(usize) -> f32,
        coefficient: &impl Fn(usize, usize) -> f32,
    ) {
        let mut start = 0;
        // SAFETY (all three): each block's columns lie inside the rows (`start + width ≤ cols`,
        // or the mask stops at `cols`).
        while start + 16 * VECTORS <= self.cols {
            unsafe { self.columns::<R, VECTORS>(rows, start, u16::MAX, first, coefficient) };
            start += 16 * VECTORS;
        }
        if start + 16 <= self.cols {
            unsafe { self.columns::<R, 1>(rows, start, u16::MAX, first, coefficient) };
            start += 16;
        }
        if start < self.cols {
            let mask = (1u16 << (self.cols - start)) - 1;
            unsafe { self.columns::<R, 1>(rows, start, mask, first, coefficient) };
        }
    }

    /// Output rows `rows`, columns `start .. start + 16·V` (the last register only in the lanes
    /// of `last_mask`), accumulated in registers.
    ///
    /// # Safety
    /// AVX-512 F; the rows exist and the (masked) columns lie inside them.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn columns<const R: usize, const V: usize>(
        &self,
        rows: [usize; R],
        start: usize,
        last_mask: u16,
        first: &impl Fn(usize) -> f32,
        coefficient: &impl Fn(usize, usize) -> f32,
    ) {
        let mask = |v: usize| if v + 1 == V { last_mask } else { u16::MAX };
        let mut acc: [[__m512; V]; R] = std::array::from_fn(|r| [_mm512_set1_ps(first(rows[r])); V]);
        for k in (0..self.inputs.count()).map(|at| self.inputs.row(at)) {
            // SAFETY: input row k exists (checked in `combine_rows`), at a column inside it.
            let row = unsafe { self.input.add(k * self.cols + start) };
            // SAFETY: the lanes loaded lie inside input row k (masked past its end).
            let x: [__m512; V] = std::array::from_fn(|v| unsafe { _mm512_maskz_loadu_ps(mask(v), row.add(16 * v)) });
            for (r, acc) in acc.iter_mut().enumerate() {
                let c = _mm512_set1_ps(coefficient(rows[r], k));
                for (a, x) in acc.iter_mut().zip(&x) {
                    *a = _mm512_fmadd_ps(c, *x, *a);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let at = rows[r] * self.cols + start;
            for (v, a) in acc.iter().enumerate() {
                // SAFETY: as the loads, in output row rows[r] (and the same place of `outputs`).
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

/// `set(i, o, Σ_c rows[i, c]·deltas[o, c])` for every input row i in `ins` and delta row o in
/// `outs` (rows of `cols` values), each sum with 16 partial sums combined by pairwise halving:
/// `super::dense_ae::dot`'s bits, for every tile shape.
///
/// # Safety
/// The CPU has AVX-512 F and DQ.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
pub(super) unsafe fn weight_products(
    rows: &[f32],
    ins: impl Rows,
    deltas: &[f32],
    outs: impl Rows,
    cols: usize,
    mut set: impl FnMut(usize, usize, f32),
) {
    // Every row read lies inside its array (the raw-pointer loads below rely on it).
    assert!(ins.fit(cols, rows.len()) && outs.fit(cols, deltas.len()));
    let tiles = Tiles {
        rows: rows.as_ptr(),
        deltas: deltas.as_ptr(),
        cols,
    };
    let mut at = 0;
    while at < ins.count() {
        let take = balanced_block(ins.count() - at, TILE);
        let row = |a: usize| ins.row(at + a);
        // SAFETY: the I rows taken (I ≤ what is left) exist, and fit (checked above).
        unsafe {
            match take {
                1 => tiles.row_block::<1>(std::array::from_fn(row), outs, &mut set),
                2 => tiles.row_block::<2>(std::array::from_fn(row), outs, &mut set),
                3 => tiles.row_block::<3>(std::array::from_fn(row), outs, &mut set),
                _ => tiles.row_block::<TILE>(std::array::from_fn(row), outs, &mut set),
            }
        }
        at += take;
    }
}

/// How many of the `left` rows the next block takes, at most `most`: the rows split into as few
/// blocks as `most` allows, as even as possible (9 rows: 3 + 3 + 3, not 4 + 4 + 1). A block of
/// one row or column loads as often as it multiplies; since dead units are skipped, the live
/// rows of a 16-unit layer are rarely a multiple of 4. Which rows share a block does not
/// change any result: each output has its own registers.
fn balanced_block(left: usize, most: usize) -> usize {
    left.div_ceil(left.div_ceil(most))
}

/// The arrays of [`weight_products`], rows of `cols` values.
struct Tiles {
    rows: *const f32,
    deltas: *const f32,
    cols: usize,
}

impl Tiles {
    /// Input rows `ins` against the delta rows `outs`.
    ///
    /// # Safety
    /// AVX-512 F; the rows exist.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn row_block<const I: usize>(
        &self,
        ins: [usize; I],
        outs: impl Rows,
        set: &mut impl FnMut(usize, usize, f32),
    ) {
        let mut at = 0;
        while at < outs.count() {
            let take = balanced_block(outs.count() - at, TILE);
            let row = |b: usize| outs.row(at + b);
            // SAFETY: the O delta rows taken (O ≤ what is left) exist.
            unsafe {
                match take {
                    1 => self.tile::<I, 1>(ins, std::array::from_fn(row), set),
                    2 => self.tile::<I, 2>(ins, std::array::from_fn(row), set),
                    3 => self.tile::<I, 3>(ins, std::array::from_fn(row), set),
                    _ => self.tile::<I, TILE>(ins, std::array::from_fn(row), set),
                }
            }
            at += take;
        }
    }

    /// The I × O dot products of input rows `ins` with delta rows `outs`, one register of 16
    /// partial sums each.
    ///
    /// # Safety
    /// AVX-512 F; the rows exist.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn tile<const I: usize, const O: usize>(
        &self,
        ins: [usize; I],
        outs: [usize; O],
        set: &mut impl FnMut(usize, usize, f32),
    ) {
        let cols = self.cols;
        let mut acc = [[_mm512_setzero_ps(); O]; I];
        let mut start = 0;
        let step = |start: usize, mask: u16, acc: &mut [[__m512; O]; I]| {
            // SAFETY: the lanes loaded lie inside their rows (masked past the end).
            let x: [__m512; I] =
                std::array::from_fn(|a| unsafe { _mm512_maskz_loadu_ps(mask, self.rows.add(ins[a] * cols + start)) });
            let d: [__m512; O] = std::array::from_fn(|b| unsafe {
                _mm512_maskz_loadu_ps(mask, self.deltas.add(outs[b] * cols + start))
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
                set(ins[a], outs[b], sum_lanes(*s));
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
