//! The student's forward and backward products ([`super::student_batch`]'s `write_products`)
//! with explicit AVX-512 registers: blocks of 4 units × 32 columns, so that 8 accumulators keep
//! the multiply-adds in flight and each input load feeds 4 of them (the generic loop, compiled
//! for AVX-512, held 4 units × 16 columns: 4 accumulators).
//!
//! Bits: each output starts from `start`, adds the terms in order, each term's products in
//! order of `j`, with one fused multiply-add per product, and is finished by `finish` — the
//! operations of the generic loop in its order, so the results are the same (tested there).

use std::arch::x86_64::*;

use super::student_batch::Term;

/// Units per block.
const UNITS: usize = 4;

/// `out[u][c] = finish(u, c, start(u, c) + Σ_terms (matrix · input)[u][c])` for feature-major
/// rows of `columns` (a multiple of 16).
///
/// # Safety
/// The CPU has AVX-512 F.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f")]
pub(super) unsafe fn write_products(
    out: &mut [f32],
    columns: usize,
    start: &impl Fn(usize, usize) -> f32,
    terms: &[Term],
    finish: &impl Fn(usize, usize, f32) -> f32,
) {
    assert!(columns.is_multiple_of(16) && columns > 0);
    let rows = out.len() / columns;
    for term in terms {
        assert!(term.input.len() >= term.inner * columns && term.matrix.len() >= rows * term.inner);
    }
    let mut r0 = 0;
    while r0 < rows {
        let left = rows - r0;
        let mut c0 = 0;
        while c0 < columns {
            let wide = columns - c0 >= 32;
            // SAFETY: rows r0 .. r0 + R and columns c0 .. c0 + 16·V lie inside `out` and every
            // term's input (checked above).
            unsafe {
                match (left.min(UNITS), wide) {
                    (1, false) => block::<1, 1>(out, columns, r0, c0, start, terms, finish),
                    (1, true) => block::<1, 2>(out, columns, r0, c0, start, terms, finish),
                    (2, false) => block::<2, 1>(out, columns, r0, c0, start, terms, finish),
                    (2, true) => block::<2, 2>(out, columns, r0, c0, start, terms, finish),
                    (3, false) => block::<3, 1>(out, columns, r0, c0, start, terms, finish),
                    (3, true) => block::<3, 2>(out, columns, r0, c0, start, terms, finish),
                    (_, false) => block::<UNITS, 1>(out, columns, r0, c0, start, terms, finish),
                    (_, true) => block::<UNITS, 2>(out, columns, r0, c0, start, terms, finish),
                }
            }
            c0 += if wide { 32 } else { 16 };
        }
        r0 += left.min(UNITS);
    }
}

/// Units `r0 .. r0 + R`, columns `c0 .. c0 + 16·V`.
///
/// # Safety
/// AVX-512 F; the block lies inside `out` and every term's input.
#[inline]
#[target_feature(enable = "avx2,fma,avx512f")]
unsafe fn block<const R: usize, const V: usize>(
    out: &mut [f32],
    columns: usize,
    r0: usize,
    c0: usize,
    start: &impl Fn(usize, usize) -> f32,
    terms: &[Term],
    finish: &impl Fn(usize, usize, f32) -> f32,
) {
    let mut acc = [[_mm512_setzero_ps(); V]; R];
    let mut lanes = [0f32; 16];
    for (r, acc) in acc.iter_mut().enumerate() {
        for (v, acc) in acc.iter_mut().enumerate() {
            for (k, lane) in lanes.iter_mut().enumerate() {
                *lane = start(r0 + r, c0 + 16 * v + k);
            }
            // SAFETY: `lanes` holds 16 values.
            *acc = unsafe { _mm512_loadu_ps(lanes.as_ptr()) };
        }
    }
    for term in terms {
        let inner = term.inner;
        let mut coefficients = [std::ptr::null::<f32>(); R];
        for (r, c) in coefficients.iter_mut().enumerate() {
            *c = term.matrix[(r0 + r) * inner..][..inner].as_ptr();
        }
        let input = term.input.as_ptr();
        for j in 0..inner {
            let mut x = [_mm512_setzero_ps(); V];
            for (v, x) in x.iter_mut().enumerate() {
                // SAFETY: column block c0 + 16v of input row j lies inside the input.
                *x = unsafe { _mm512_loadu_ps(input.add(j * columns + c0 + 16 * v)) };
            }
            for (acc, c) in acc.iter_mut().zip(&coefficients) {
                // SAFETY: j < inner, the length of this unit's row of the matrix.
                let f = _mm512_set1_ps(unsafe { *c.add(j) });
                for (a, x) in acc.iter_mut().zip(&x) {
                    *a = _mm512_fmadd_ps(f, *x, *a);
                }
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (v, acc) in acc.iter().enumerate() {
            // SAFETY: `lanes` holds 16 values.
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), *acc) };
            let at = (r0 + r) * columns + c0 + 16 * v;
            for (k, (o, value)) in out[at..at + 16].iter_mut().zip(&lanes).enumerate() {
                *o = finish(r0 + r, c0 + 16 * v + k, *value);
            }
        }
    }
}
