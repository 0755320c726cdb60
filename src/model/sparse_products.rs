//! The Lange training step's products whose left operand is mostly zeros, with gemm's bits.
//!
//! Why: the first layer's input is MNIST's pixels, ≈ 81 % of them exactly 0, and a hidden
//! layer's input is a ReLU's output times a dropout mask, a half or more of it 0. The forward
//! product (input · W) and the weight gradient (inputᵀ · G) are ≈ 85 % of a 64 × 64 step's
//! arithmetic (65 % of the wide MLP's), and gemm spends it multiplying zeros. Here each row of
//! the input lists its nonzero columns once per step, and both products run over those lists.
//!
//! Bits: read from gemm 0.19 (`gemm-common`'s `gemm_basic_generic` and its FMA microkernel, the
//! path it takes for these shapes on a CPU with FMA), every entry of a product is a sum in
//! depth blocks of `kc` (from [`gemm_depth_block`]): each block's terms summed by one fused
//! multiply–add per depth index, in increasing order, onto +0; the first block's sum stored
//! (times β = 1), each later one added to what is stored. A skipped term is 0 · w with w
//! finite (checked: where the other operand has a NaN or ±∞, the caller takes gemm), which is
//! ±0, and adding ±0 to a sum that started at +0 changes no bit: +0 + −0 = +0, and a nonzero
//! sum is unchanged. (A sum could only be −0 if a nonzero product underflowed to −0, below
//! 1e-45; then the skipped +0 would have turned it into +0.) Every block, even one with no
//! nonzero term, is stored or added as gemm does. Tested bit for bit against `gemm::gemm` on
//! every shape the Lange MLPs use, with zeros of every kind.

use std::arch::x86_64::*;

/// gemm-f32 0.19's FMA microkernel: 16 rows (two 8-lane registers) by 6 columns.
const GEMM_MR: usize = 16;
const GEMM_NR: usize = 6;
/// Columns of one pass of the kernels below: 16 registers of 16 lanes.
const CHUNK: usize = 256;

/// The depth gemm 0.19 sums in one block for out (m × n, row-major) = lhs (m × k) · rhs (k × n),
/// or `None` where it takes one of its other paths (matrix–vector, depth ≤ 2, or a product of
/// at most 16 × 16 entries, whose "horizontal" kernel sums differently).
pub(super) fn gemm_depth_block(m: usize, n: usize, k: usize) -> Option<usize> {
    if m <= 1 || n <= 1 || k <= 2 || m * n <= 256 {
        return None;
    }
    // A row-major destination is transposed first (gemm prefers column-major): it then computes
    // outᵀ (n × m) = rhsᵀ · lhsᵀ.
    let (rows, cols) = (n, m);
    if rows <= 64 && cols <= 64 {
        return Some(k.min(512));
    }
    Some(gemm_common::cache::kernel_params(rows, cols, k, GEMM_MR, GEMM_NR, std::mem::size_of::<f32>()).kc)
}

/// Whether every entry is finite (neither NaN nor ±∞): then 0 times any of them is ±0.
pub(super) fn all_finite(values: &[f32]) -> bool {
    values.iter().fold(true, |ok, v| ok & v.is_finite())
}

/// The nonzero columns of each row of a row-major matrix, in increasing order (NaN counts as
/// nonzero, ±0 as zero).
#[derive(Debug, Default, Clone)]
pub(super) struct NonzeroColumns {
    /// Row r's columns are `columns[starts[r]..starts[r + 1]]`.
    starts: Vec<usize>,
    /// Padded with 16 spare entries: each 16-column block writes a whole register.
    columns: Vec<u32>,
}

impl NonzeroColumns {
    fn row(&self, r: usize) -> &[u32] {
        &self.columns[self.starts[r]..self.starts[r + 1]]
    }

    /// Lists the nonzero columns of `data` (rows × cols, row-major).
    ///
    /// # Safety
    /// The CPU has AVX-512 F and DQ.
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    pub(super) unsafe fn fill(&mut self, data: &[f32], rows: usize, cols: usize) {
        assert_eq!(data.len(), rows * cols, "a {rows} × {cols} matrix");
        assert!(u32::try_from(cols).is_ok(), "column indices fit u32");
        self.starts.clear();
        self.columns.clear();
        self.columns.resize(data.len() + 16, 0);
        let out = self.columns.as_mut_ptr();
        let mut written = 0;
        for row in data.chunks_exact(cols) {
            self.starts.push(written);
            for start in (0..cols).step_by(16) {
                let lanes = (cols - start).min(16);
                let mask: __mmask16 = if lanes == 16 { 0xFFFF } else { (1 << lanes) - 1 };
                // SAFETY: the lanes loaded lie in the row; the store writes 16 entries from
                // `written`, which is at most the nonzeros so far, so inside the padded buffer.
                unsafe {
                    let values = _mm512_maskz_loadu_ps(mask, row.as_ptr().add(start));
                    let nonzero = _mm512_mask_cmp_ps_mask::<_CMP_NEQ_UQ>(mask, values, _mm512_setzero_ps());
                    let index = _mm512_add_epi32(
                        _mm512_set1_epi32(start as i32),
                        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                    );
                    // Compress in a register and store it whole: the compressing store to
                    // memory is microcoded on AMD's cores.
                    _mm512_storeu_si512(out.add(written).cast(), _mm512_maskz_compress_epi32(nonzero, index));
                    written += nonzero.count_ones() as usize;
                }
            }
        }
        self.starts.push(written);
    }
}

/// Masks of the 16-lane registers covering `width` ≤ [`CHUNK`] columns.
fn lane_masks(width: usize) -> [__mmask16; 16] {
    std::array::from_fn(|v| {
        let lanes = width.saturating_sub(16 * v).min(16);
        if lanes == 16 { 0xFFFF } else { (1 << lanes) - 1 }
    })
}

/// out (m × n, row-major, overwritten) = lhs (m × k, row-major) · rhs (k × n, row-major), summed
/// in depth blocks of `kc` as gemm does, over the nonzero entries of lhs listed in `nonzero`.
///
/// # Safety
/// The CPU has AVX-512 F and DQ.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
pub(super) unsafe fn sparse_rows_times_dense(
    out: &mut [f32],
    (m, n, k): (usize, usize, usize),
    lhs: &[f32],
    nonzero: &NonzeroColumns,
    rhs: &[f32],
    kc: usize,
) {
    assert!(
        out.len() == m * n && lhs.len() == m * k && rhs.len() == k * n,
        "operand shapes"
    );
    assert!(nonzero.starts.len() == m + 1 && kc > 0, "one list per row");
    for r in 0..m {
        let columns = nonzero.row(r);
        assert!(
            columns.last().is_none_or(|&c| (c as usize) < k),
            "columns inside the row"
        );
        for c0 in (0..n).step_by(CHUNK) {
            let width = (n - c0).min(CHUNK);
            let pass = RowPass {
                out: out[r * n + c0..].as_mut_ptr(),
                x: lhs[r * k..].as_ptr(),
                rhs: rhs[c0..].as_ptr(),
                n,
                masks: lane_masks(width),
            };
            // SAFETY: the row's columns are below k, and `width` columns from c0 lie in every
            // row of out and rhs (shapes checked above).
            unsafe {
                match width.div_ceil(16) {
                    1 => pass.run::<1>(columns, k, kc),
                    2 => pass.run::<2>(columns, k, kc),
                    3 => pass.run::<3>(columns, k, kc),
                    4 => pass.run::<4>(columns, k, kc),
                    5 => pass.run::<5>(columns, k, kc),
                    6 => pass.run::<6>(columns, k, kc),
                    7 => pass.run::<7>(columns, k, kc),
                    8 => pass.run::<8>(columns, k, kc),
                    9 => pass.run::<9>(columns, k, kc),
                    10 => pass.run::<10>(columns, k, kc),
                    11 => pass.run::<11>(columns, k, kc),
                    12 => pass.run::<12>(columns, k, kc),
                    13 => pass.run::<13>(columns, k, kc),
                    14 => pass.run::<14>(columns, k, kc),
                    15 => pass.run::<15>(columns, k, kc),
                    _ => pass.run::<16>(columns, k, kc),
                }
            }
        }
    }
}

/// One row of out over up to [`CHUNK`] columns, for [`sparse_rows_times_dense`].
struct RowPass {
    /// The row's first column of the pass.
    out: *mut f32,
    /// The row of lhs.
    x: *const f32,
    /// rhs's first column of the pass.
    rhs: *const f32,
    /// rhs's row length.
    n: usize,
    masks: [__mmask16; 16],
}

impl RowPass {
    /// # Safety
    /// As [`sparse_rows_times_dense`] checks: V registers' columns lie in out's row and in
    /// every row of rhs; every column listed is below `k`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn run<const V: usize>(&self, columns: &[u32], k: usize, kc: usize) {
        let mut next = 0;
        let mut depth = 0;
        while depth < k {
            let end = depth + kc.min(k - depth);
            let mut acc = [_mm512_setzero_ps(); V];
            while next < columns.len() && (columns[next] as usize) < end {
                let i = columns[next] as usize;
                // SAFETY: i < k, so the pixel and rhs's row i exist.
                unsafe {
                    let x = _mm512_set1_ps(*self.x.add(i));
                    let row = self.rhs.add(i * self.n);
                    for (v, acc) in acc.iter_mut().enumerate() {
                        *acc = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(self.masks[v], row.add(16 * v)), *acc);
                    }
                }
                next += 1;
            }
            for (v, &acc) in acc.iter().enumerate() {
                // SAFETY: the masked lanes lie in out's row.
                unsafe {
                    let at = self.out.add(16 * v);
                    let value = if depth == 0 {
                        acc
                    } else {
                        _mm512_add_ps(_mm512_maskz_loadu_ps(self.masks[v], at), acc)
                    };
                    _mm512_mask_storeu_ps(at, self.masks[v], value);
                }
            }
            depth = end;
        }
    }
}

/// out (k × n, row-major, overwritten) = lhsᵀ · rhs for lhs (b × k, row-major) and rhs (b × n,
/// row-major): each entry summed over the b rows in order, over the nonzero entries of lhs
/// listed in `nonzero`. gemm sums this product in one depth block when its `kc` (from
/// [`gemm_depth_block`]`(k, n, b)`) is at least b, which the caller checks.
///
/// # Safety
/// The CPU has AVX-512 F and DQ.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
pub(super) unsafe fn sparse_transposed_times_dense(
    out: &mut [f32],
    (b, k, n): (usize, usize, usize),
    lhs: &[f32],
    nonzero: &NonzeroColumns,
    rhs: &[f32],
) {
    assert!(
        out.len() == k * n && lhs.len() == b * k && rhs.len() == b * n,
        "operand shapes"
    );
    assert_eq!(nonzero.starts.len(), b + 1, "one list per row");
    out.fill(0.0);
    for c0 in (0..n).step_by(CHUNK) {
        let width = (n - c0).min(CHUNK);
        let pass = ScatterPass {
            out: out[c0..].as_mut_ptr(),
            n,
            masks: lane_masks(width),
        };
        for s in 0..b {
            let columns = nonzero.row(s);
            assert!(
                columns.last().is_none_or(|&c| (c as usize) < k),
                "columns inside the row"
            );
            let (x, g) = (lhs[s * k..].as_ptr(), rhs[s * n + c0..].as_ptr());
            // SAFETY: every column listed is below k, so out's row of it exists; `width`
            // columns from c0 lie in every row of out and in rhs's row s.
            unsafe {
                match width.div_ceil(16) {
                    1 => pass.run::<1>(columns, x, g),
                    2 => pass.run::<2>(columns, x, g),
                    3 => pass.run::<3>(columns, x, g),
                    4 => pass.run::<4>(columns, x, g),
                    5 => pass.run::<5>(columns, x, g),
                    6 => pass.run::<6>(columns, x, g),
                    7 => pass.run::<7>(columns, x, g),
                    8 => pass.run::<8>(columns, x, g),
                    9 => pass.run::<9>(columns, x, g),
                    10 => pass.run::<10>(columns, x, g),
                    11 => pass.run::<11>(columns, x, g),
                    12 => pass.run::<12>(columns, x, g),
                    13 => pass.run::<13>(columns, x, g),
                    14 => pass.run::<14>(columns, x, g),
                    15 => pass.run::<15>(columns, x, g),
                    _ => pass.run::<16>(columns, x, g),
                }
            }
        }
    }
}

/// The rows of out one row of lhs reaches, over up to [`CHUNK`] columns, for
/// [`sparse_transposed_times_dense`].
struct ScatterPass {
    /// out's first column of the pass.
    out: *mut f32,
    /// out's row length.
    n: usize,
    masks: [__mmask16; 16],
}

impl ScatterPass {
    /// Adds x[i] · g to out's row i for every listed column i.
    ///
    /// # Safety
    /// As [`sparse_transposed_times_dense`] checks.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn run<const V: usize>(&self, columns: &[u32], x: *const f32, g: *const f32) {
        // SAFETY: the masked lanes lie in rhs's row (the caller's contract).
        let g: [__m512; V] = std::array::from_fn(|v| unsafe { _mm512_maskz_loadu_ps(self.masks[v], g.add(16 * v)) });
        for &i in columns {
            let i = i as usize;
            // SAFETY: out's row i exists and lhs's row has column i.
            unsafe {
                let x = _mm512_set1_ps(*x.add(i));
                let row = self.out.add(i * self.n);
                for (v, &g) in g.iter().enumerate() {
                    let at = row.add(16 * v);
                    let sum = _mm512_fmadd_ps(x, g, _mm512_maskz_loadu_ps(self.masks[v], at));
                    _mm512_mask_storeu_ps(at, self.masks[v], sum);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// gemm's product, as the Lange step calls it: out = lhs · rhs, both given as (data, row
    /// stride, column stride).
    fn gemm_product(
        m: usize,
        n: usize,
        k: usize,
        lhs: (&[f32], usize, usize),
        rhs: (&[f32], usize, usize),
    ) -> Vec<f32> {
        let mut out = vec![f32::NAN; m * n];
        // SAFETY: the strides describe matrices inside the slices (built so by the callers).
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                out.as_mut_ptr(),
                1,
                n as isize,
                false,
                lhs.0.as_ptr(),
                lhs.2 as isize,
                lhs.1 as isize,
                rhs.0.as_ptr(),
                rhs.2 as isize,
                rhs.1 as isize,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        out
    }

    /// A matrix with a share `zeros` of exact zeros (half of them −0), the rest of both signs
    /// and six decades of magnitude, so that partial sums cancel and round.
    fn sparse_matrix(rng: &mut SplitMix64, len: usize, zeros: f64) -> Vec<f32> {
        (0..len)
            .map(|_| {
                if rng.uniform() < zeros {
                    if rng.uniform() < 0.5 { 0.0 } else { -0.0 }
                } else {
                    let magnitude = 10f64.powf(rng.uniform_in(-3.0, 3.0));
                    (if rng.uniform() < 0.5 { -magnitude } else { magnitude }) as f32
                }
            })
            .collect()
    }

    fn bits(values: &[f32]) -> Vec<u32> {
        values.iter().map(|v| v.to_bits()).collect()
    }

    /// Lange's shapes (784 → 64/256 → … → 10, batches of 200 and shorter last ones) and some
    /// around gemm's thresholds (16 × 16 outputs, 64 × 64, depth 512, two and three depth blocks).
    const SHAPES: [(usize, usize, usize); 16] = [
        (200, 64, 784),
        (200, 256, 784),
        (200, 64, 64),
        (200, 256, 256),
        (200, 10, 64),
        (200, 10, 256),
        (160, 64, 784),
        (37, 64, 784),
        (5, 64, 784),
        (64, 64, 784),
        (17, 17, 40),
        (3, 100, 7),
        (70, 33, 1300),
        (200, 300, 784),
        (64, 65, 513),
        (2, 200, 2000),
    ];

    #[test]
    fn sparse_rows_give_gemms_bits() {
        if !crate::model::avx512_available() {
            eprintln!("skipped: this CPU has no AVX-512");
            return;
        }
        let mut rng = SplitMix64::new(11);
        for (m, n, k) in SHAPES {
            let Some(kc) = gemm_depth_block(m, n, k) else { continue };
            for zeros in [0.0, 0.5, 0.81, 1.0] {
                let lhs = sparse_matrix(&mut rng, m * k, zeros);
                let rhs = sparse_matrix(&mut rng, k * n, 0.1);
                let expected = gemm_product(m, n, k, (&lhs, k, 1), (&rhs, n, 1));
                let mut nonzero = NonzeroColumns::default();
                let mut out = vec![f32::NAN; m * n];
                // SAFETY: AVX-512 checked above.
                unsafe {
                    nonzero.fill(&lhs, m, k);
                    sparse_rows_times_dense(&mut out, (m, n, k), &lhs, &nonzero, &rhs, kc);
                }
                assert_eq!(bits(&out), bits(&expected), "{m} × {n} × {k} (kc {kc}), zeros {zeros}");
            }
        }
    }

    #[test]
    fn sparse_transposed_rows_give_gemms_bits() {
        if !crate::model::avx512_available() {
            eprintln!("skipped: this CPU has no AVX-512");
            return;
        }
        let mut rng = SplitMix64::new(12);
        // (b, k, n): out (k × n) = lhsᵀ · rhs, lhs b × k.
        for (b, n, k) in SHAPES {
            let Some(kc) = gemm_depth_block(k, n, b) else { continue };
            if kc < b {
                continue;
            }
            for zeros in [0.0, 0.5, 0.81, 1.0] {
                let lhs = sparse_matrix(&mut rng, b * k, zeros);
                let rhs = sparse_matrix(&mut rng, b * n, 0.05);
                let expected = gemm_product(k, n, b, (&lhs, 1, k), (&rhs, n, 1));
                let mut nonzero = NonzeroColumns::default();
                let mut out = vec![f32::NAN; k * n];
                // SAFETY: AVX-512 checked above.
                unsafe {
                    nonzero.fill(&lhs, b, k);
                    sparse_transposed_times_dense(&mut out, (b, k, n), &lhs, &nonzero, &rhs);
                }
                assert_eq!(bits(&out), bits(&expected), "{k} × {n} over {b} rows, zeros {zeros}");
            }
        }
    }

    #[test]
    fn depth_blocks_split_where_gemm_would() {
        // Small outputs: gemm's short path, depth blocks of at most 512.
        assert_eq!(gemm_depth_block(64, 64, 784), Some(512));
        assert_eq!(gemm_depth_block(64, 64, 300), Some(300));
        // Tiny, vector and shallow products take gemm's other kernels.
        assert_eq!(gemm_depth_block(16, 16, 784), None);
        assert_eq!(gemm_depth_block(1, 64, 784), None);
        assert_eq!(gemm_depth_block(200, 1, 784), None);
        assert_eq!(gemm_depth_block(200, 64, 2), None);
        // A depth up to 512 is one block whatever the cache.
        assert_eq!(gemm_depth_block(200, 256, 512), Some(512));
    }

    #[test]
    fn nonzero_columns_list_every_entry_other_than_zero() {
        if !crate::model::avx512_available() {
            eprintln!("skipped: this CPU has no AVX-512");
            return;
        }
        let data = [
            0.0,
            -0.0,
            f32::NAN,
            1.0,
            0.0,
            -2.0,
            0.0,
            0.0,
            0.0,
            0.0,
            f32::INFINITY,
            0.0,
        ];
        let mut nonzero = NonzeroColumns::default();
        // SAFETY: AVX-512 checked above.
        unsafe { nonzero.fill(&data, 2, 6) };
        assert_eq!(nonzero.row(0), [2, 3, 5]);
        assert_eq!(nonzero.row(1), [4]);
        let wide: Vec<f32> = (0..37).map(|i| if i % 3 == 0 { 1.0 } else { 0.0 }).collect();
        // SAFETY: as above.
        unsafe { nonzero.fill(&wide, 1, 37) };
        assert_eq!(nonzero.row(0), (0..37).step_by(3).collect::<Vec<u32>>());
    }
}
