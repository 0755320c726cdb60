//! The action RNN's forward step and readout ([`super::action_rnn`]'s `states` and `outputs`)
//! eight rows at a time with explicit AVX-512 registers.
//!
//! Why: one row at a time, each next-state entry was a dot product in eight partial sums
//! followed by a serial chain of eight scalar additions to combine them (`perf`: a fifth of a
//! Fig 5 iteration in those shuffles and additions). Here eight rows' partial sums sit in
//! eight registers, are transposed, and are combined with seven vector additions; each load of
//! the previous state feeds eight rows. (The same idea in portable Rust, which the compiler
//! left in memory, was slower: BENCHMARKS.md.)
//!
//! Bits: each row's partial sum k adds the products of columns k, k + 8, … in order from +0
//! (a product, then a sum: nothing fused), the eight partial sums are combined in order 0…7
//! from the empty sum's value, then the empty tail's value and the bias are added — the
//! operations of `action_rnn::dot` and its caller in their order (tested there).

use std::arch::x86_64::*;

/// `out[r] = dot(rows[r], x) + bias[r]` for 8 rows of `x.len()` values (a multiple of 8); with
/// no bias, `dot(rows[r], x)` alone (nothing added: + 0 would turn a −0 into +0).
///
/// # Safety
/// The CPU has AVX-512 F.
#[inline]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn dots_of_eight_rows(rows: &[f64], x: &[f64], bias: Option<&[f64]>, out: &mut [f64]) {
    let n = x.len();
    assert!(n.is_multiple_of(8) && rows.len() == 8 * n && out.len() == 8);
    assert!(bias.is_none_or(|b| b.len() == 8));
    let mut partial = [_mm512_setzero_pd(); 8];
    for c in (0..n).step_by(8) {
        // SAFETY: c + 8 ≤ n = x.len(), and r·n + c + 8 ≤ 8n = rows.len() (asserted above).
        let xc = unsafe { _mm512_loadu_pd(x.as_ptr().add(c)) };
        for (r, partial) in partial.iter_mut().enumerate() {
            let a = unsafe { _mm512_loadu_pd(rows.as_ptr().add(r * n + c)) };
            *partial = _mm512_add_pd(*partial, _mm512_mul_pd(a, xc));
        }
    }
    let by_position = transpose(partial);
    // `Iterator::sum` folds from the empty sum's value; `dot`'s empty tail sums to it too.
    let empty: f64 = std::iter::empty::<f64>().sum();
    let mut sums = _mm512_add_pd(_mm512_set1_pd(empty), by_position[0]);
    for column in &by_position[1..] {
        sums = _mm512_add_pd(sums, *column);
    }
    sums = _mm512_add_pd(sums, _mm512_set1_pd(empty));
    // SAFETY: bias and out hold 8 values each (asserted above).
    unsafe {
        if let Some(bias) = bias {
            sums = _mm512_add_pd(sums, _mm512_loadu_pd(bias.as_ptr()));
        }
        _mm512_storeu_pd(out.as_mut_ptr(), sums);
    }
}

/// The 8 × 8 transpose: lane r of output k is lane k of input r.
#[inline]
#[target_feature(enable = "avx512f")]
fn transpose(p: [__m512d; 8]) -> [__m512d; 8] {
    // Pairs of rows interleaved: lo(r, r+1) = [r0, (r+1)0, r2, (r+1)2, …], hi the odd lanes.
    let lo = |a, b| _mm512_unpacklo_pd(a, b);
    let hi = |a, b| _mm512_unpackhi_pd(a, b);
    let (a0, a1) = (lo(p[0], p[1]), hi(p[0], p[1]));
    let (a2, a3) = (lo(p[2], p[3]), hi(p[2], p[3]));
    let (a4, a5) = (lo(p[4], p[5]), hi(p[4], p[5]));
    let (a6, a7) = (lo(p[6], p[7]), hi(p[6], p[7]));
    // Four rows per 256-bit half: even 128-bit blocks of the first with those of the second …
    let even = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
    let odd = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
    let mix = |a, idx, b| _mm512_permutex2var_pd(a, idx, b);
    let (b0, b1) = (mix(a0, even, a2), mix(a0, odd, a2)); // positions 0 and 4; 2 and 6 (rows 0–3)
    let (b2, b3) = (mix(a1, even, a3), mix(a1, odd, a3)); // 1 and 5; 3 and 7
    let (b4, b5) = (mix(a4, even, a6), mix(a4, odd, a6)); // the same for rows 4–7
    let (b6, b7) = (mix(a5, even, a7), mix(a5, odd, a7));
    // … then the halves of rows 0–3 and 4–7 joined.
    let low_halves = |a, b| _mm512_shuffle_f64x2::<0x44>(a, b);
    let high_halves = |a, b| _mm512_shuffle_f64x2::<0xEE>(a, b);
    [
        low_halves(b0, b4),
        low_halves(b2, b6),
        low_halves(b1, b5),
        low_halves(b3, b7),
        high_halves(b0, b4),
        high_halves(b2, b6),
        high_halves(b1, b5),
        high_halves(b3, b7),
    ]
}
