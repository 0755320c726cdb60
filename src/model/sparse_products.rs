//! The Lange training step's products whose left operand is mostly zeros, with gemm's bits.
//!
//! Why: the first layer's input is MNIST's pixels, ≈ 81 % of them exactly 0, and a hidden
//! layer's input is a ReLU's output times a dropout mask, a half or more of it 0. The forward
//! product (input · W) and the weight gradient (inputᵀ · G) are ≈ 85 % of a 64 × 64 step's
//! arithmetic (65 % of the wide MLP's), and gemm spends it multiplying zeros. Here each input
//! is held as lists of its rows' nonzero entries ([`SparseRows`]: a hidden layer's once per
//! step, the training images once per run, so that a minibatch is gathered as lists instead of
//! 627 KB of mostly zeros), and both products run over those lists.
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

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// gemm-f32 0.19's FMA microkernel: 16 rows (two 8-lane registers) by 6 columns.
const GEMM_MR: usize = 16;
const GEMM_NR: usize = 6;
/// Columns of one pass of the kernels below: 16 registers of 16 lanes.
#[cfg(target_arch = "x86_64")]
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

/// The nonzero entries of each row of a matrix (NaN counts as nonzero, ±0 as zero), in
/// increasing column order.
#[derive(Debug, Default, Clone)]
pub(crate) struct SparseRows {
    /// Row r's entries are `columns[starts[r]..starts[r + 1]]` and the same range of `values`.
    starts: Vec<usize>,
    columns: Vec<u32>,
    values: Vec<f32>,
    /// The matrix's columns.
    width: usize,
}

impl SparseRows {
    /// The nonzero entries of `data` (rows × cols, row-major).
    pub(crate) fn from_dense(data: &[f32], rows: usize, cols: usize) -> Self {
        let mut sparse = Self::default();
        sparse.fill(data, rows, cols);
        sparse
    }

    pub(crate) fn rows(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// Row r's nonzero entries: their columns (increasing) and values.
    pub(crate) fn row(&self, r: usize) -> (&[u32], &[f32]) {
        (self.columns(r), self.values(r))
    }

    fn columns(&self, r: usize) -> &[u32] {
        &self.columns[self.starts[r]..self.starts[r + 1]]
    }

    fn values(&self, r: usize) -> &[f32] {
        &self.values[self.starts[r]..self.starts[r + 1]]
    }

    /// Lists the nonzero entries of `data` (rows × cols, row-major), reusing the buffers.
    pub(crate) fn fill(&mut self, data: &[f32], rows: usize, cols: usize) {
        assert_eq!(data.len(), rows * cols, "a {rows} × {cols} matrix");
        assert!(u32::try_from(cols).is_ok(), "column indices fit u32");
        self.starts.clear();
        self.width = cols;
        if cols == 0 {
            self.starts.resize(rows + 1, 0);
            self.columns.clear();
            self.values.clear();
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if super::avx512_available() {
            // SAFETY: the CPU has AVX-512 F and DQ, checked just above.
            unsafe { self.fill_avx512(data, cols) };
            return;
        }
        self.fill_portable(data, cols);
    }

    /// [`fill`](Self::fill)'s rows one entry at a time (`starts` cleared, `cols` > 0).
    fn fill_portable(&mut self, data: &[f32], cols: usize) {
        self.columns.clear();
        self.values.clear();
        for row in data.chunks_exact(cols) {
            self.starts.push(self.columns.len());
            for (c, &v) in row.iter().enumerate() {
                // NaN too: it is not equal to 0.
                if v != 0.0 {
                    self.columns.push(c as u32);
                    self.values.push(v);
                }
            }
        }
        self.starts.push(self.columns.len());
    }

    /// [`fill`](Self::fill)'s rows, 16 columns at a time.
    ///
    /// # Safety
    /// The CPU has AVX-512 F and DQ.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn fill_avx512(&mut self, data: &[f32], cols: usize) {
        let mut written = 0;
        for row in data.chunks_exact(cols) {
            self.starts.push(written);
            // Each 16-column block stores whole registers: room for a whole row and 16 more.
            // The buffers grow as the entries come (a training set is ≈ 19 % nonzero: sized
            // for every entry, they cost 314 MB of zeroed pages per run).
            let room = written + cols + 16;
            if self.columns.len() < room {
                let len = room.max(2 * self.columns.len());
                self.columns.resize(len, 0);
                self.values.resize(len, 0.0);
            }
            let (columns, values) = (self.columns.as_mut_ptr(), self.values.as_mut_ptr());
            for start in (0..cols).step_by(16) {
                let lanes = (cols - start).min(16);
                let mask: __mmask16 = if lanes == 16 { 0xFFFF } else { (1 << lanes) - 1 };
                // SAFETY: the lanes loaded lie in the row; the stores write 16 entries from
                // `written`, at most the row's entries so far past where it started, so inside
                // the room made above.
                unsafe {
                    let entries = _mm512_maskz_loadu_ps(mask, row.as_ptr().add(start));
                    let nonzero = _mm512_mask_cmp_ps_mask::<_CMP_NEQ_UQ>(mask, entries, _mm512_setzero_ps());
                    let index = _mm512_add_epi32(
                        _mm512_set1_epi32(start as i32),
                        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                    );
                    // Compress in a register and store it whole: the compressing store to
                    // memory is microcoded on AMD's cores.
                    _mm512_storeu_si512(columns.add(written).cast(), _mm512_maskz_compress_epi32(nonzero, index));
                    _mm512_storeu_ps(values.add(written), _mm512_maskz_compress_ps(nonzero, entries));
                    written += nonzero.count_ones() as usize;
                }
            }
        }
        self.starts.push(written);
        self.columns.truncate(written);
        self.values.truncate(written);
    }

    /// Replaces these rows with rows `chosen` of `from`, in that order (a minibatch).
    pub(crate) fn gather(&mut self, from: &SparseRows, chosen: &[usize]) {
        self.starts.clear();
        self.columns.clear();
        self.values.clear();
        self.width = from.width;
        for &r in chosen {
            self.starts.push(self.columns.len());
            self.columns.extend_from_slice(from.columns(r));
            self.values.extend_from_slice(from.values(r));
        }
        self.starts.push(self.columns.len());
    }

    /// The rows as a dense row-major matrix (rows × width) in `out`.
    pub(crate) fn dense_into(&self, out: &mut Vec<f32>) {
        out.clear();
        out.resize(self.rows() * self.width, 0.0);
        if self.width == 0 {
            return;
        }
        for (r, row) in out.chunks_exact_mut(self.width).enumerate() {
            for (&c, &v) in self.columns(r).iter().zip(self.values(r)) {
                row[c as usize] = v;
            }
        }
    }
}

/// Masks of the 16-lane registers covering `width` ≤ [`CHUNK`] columns.
#[cfg(target_arch = "x86_64")]
fn lane_masks(width: usize) -> [__mmask16; 16] {
    std::array::from_fn(|v| {
        let lanes = width.saturating_sub(16 * v).min(16);
        if lanes == 16 { 0xFFFF } else { (1 << lanes) - 1 }
    })
}

/// Calls `$pass.run::<V>($args)` with V the 16-lane registers that cover `$width` columns.
#[cfg(target_arch = "x86_64")]
macro_rules! with_registers {
    ($width:expr, $pass:ident . run ($($arg:expr),*)) => {
        match $width.div_ceil(16) {
            1 => $pass.run::<1>($($arg),*),
            2 => $pass.run::<2>($($arg),*),
            3 => $pass.run::<3>($($arg),*),
            4 => $pass.run::<4>($($arg),*),
            5 => $pass.run::<5>($($arg),*),
            6 => $pass.run::<6>($($arg),*),
            7 => $pass.run::<7>($($arg),*),
            8 => $pass.run::<8>($($arg),*),
            9 => $pass.run::<9>($($arg),*),
            10 => $pass.run::<10>($($arg),*),
            11 => $pass.run::<11>($($arg),*),
            12 => $pass.run::<12>($($arg),*),
            13 => $pass.run::<13>($($arg),*),
            14 => $pass.run::<14>($($arg),*),
            15 => $pass.run::<15>($($arg),*),
            _ => $pass.run::<16>($($arg),*),
        }
    };
}

/// out (m × n, row-major, overwritten) = lhs (m × k) · rhs (k × n, row-major), summed in depth
/// blocks of `kc` as gemm does, over the nonzero entries of lhs.
///
/// # Safety
/// The CPU has AVX-512 F and DQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
pub(super) unsafe fn sparse_rows_times_dense(
    out: &mut [f32],
    (m, n, k): (usize, usize, usize),
    lhs: &SparseRows,
    rhs: &[f32],
    kc: usize,
) {
    assert!(out.len() == m * n && rhs.len() == k * n, "operand shapes");
    assert!(lhs.rows() == m && lhs.width == k && kc > 0, "lhs is m × k");
    for r in 0..m {
        let (columns, values) = (lhs.columns(r), lhs.values(r));
        assert!(
            columns.last().is_none_or(|&c| (c as usize) < k),
            "columns inside the row"
        );
        for c0 in (0..n).step_by(CHUNK) {
            let width = (n - c0).min(CHUNK);
            let pass = RowPass {
                out: out[r * n + c0..].as_mut_ptr(),
                rhs: rhs[c0..].as_ptr(),
                n,
                masks: lane_masks(width),
            };
            // SAFETY: the row's columns are below k, and `width` columns from c0 lie in every
            // row of out and rhs (shapes checked above).
            unsafe { with_registers!(width, pass.run(columns, values, k, kc)) }
        }
    }
}

/// One row of out over up to [`CHUNK`] columns, for [`sparse_rows_times_dense`].
#[cfg(target_arch = "x86_64")]
struct RowPass {
    /// The row's first column of the pass.
    out: *mut f32,
    /// rhs's first column of the pass.
    rhs: *const f32,
    /// rhs's row length.
    n: usize,
    masks: [__mmask16; 16],
}

#[cfg(target_arch = "x86_64")]
impl RowPass {
    /// Sums values_j · rhs's row columns_j into out's row, depth block by depth block.
    ///
    /// # Safety
    /// As [`sparse_rows_times_dense`] checks: V registers' columns lie in out's row and in
    /// every row of rhs; every column listed is below `k`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn run<const V: usize>(&self, columns: &[u32], values: &[f32], k: usize, kc: usize) {
        let mut next = 0;
        let mut depth = 0;
        while depth < k {
            let end = depth + kc.min(k - depth);
            let mut acc = [_mm512_setzero_ps(); V];
            while next < columns.len() && (columns[next] as usize) < end {
                // SAFETY: columns[next] < k, so rhs's row of it exists.
                unsafe {
                    let x = _mm512_set1_ps(values[next]);
                    let row = self.rhs.add(columns[next] as usize * self.n);
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

/// out (k × n, row-major, overwritten) = lhsᵀ · rhs for lhs (b × k) and rhs (b × n, row-major):
/// each entry summed over the b rows in order, over the nonzero entries of lhs. gemm sums this
/// product in one depth block when its `kc` (from [`gemm_depth_block`]`(k, n, b)`) is at least
/// b, which the caller checks.
///
/// # Safety
/// The CPU has AVX-512 F and DQ.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
pub(super) unsafe fn sparse_transposed_times_dense(
    out: &mut [f32],
    (b, k, n): (usize, usize, usize),
    lhs: &SparseRows,
    rhs: &[f32],
) {
    assert!(out.len() == k * n && rhs.len() == b * n, "operand shapes");
    assert!(lhs.rows() == b && lhs.width == k, "lhs is b × k");
    out.fill(0.0);
    for c0 in (0..n).step_by(CHUNK) {
        let width = (n - c0).min(CHUNK);
        let pass = ScatterPass {
            out: out[c0..].as_mut_ptr(),
            n,
            masks: lane_masks(width),
        };
        for s in 0..b {
            let (columns, values) = (lhs.columns(s), lhs.values(s));
            assert!(
                columns.last().is_none_or(|&c| (c as usize) < k),
                "columns inside the row"
            );
            let g = rhs[s * n + c0..].as_ptr();
            // SAFETY: every column listed is below k, so out's row of it exists; `width`
            // columns from c0 lie in every row of out and in rhs's row s.
            unsafe { with_registers!(width, pass.run(columns, values, g)) }
        }
    }
}

/// The rows of out one row of lhs reaches, over up to [`CHUNK`] columns, for
/// [`sparse_transposed_times_dense`].
#[cfg(target_arch = "x86_64")]
struct ScatterPass {
    /// out's first column of the pass.
    out: *mut f32,
    /// out's row length.
    n: usize,
    masks: [__mmask16; 16],
}

#[cfg(target_arch = "x86_64")]
impl ScatterPass {
    /// Adds values_j · g to out's row columns_j for every entry j of one row of lhs.
    ///
    /// # Safety
    /// As [`sparse_transposed_times_dense`] checks.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
    unsafe fn run<const V: usize>(&self, columns: &[u32], values: &[f32], g: *const f32) {
        // SAFETY: the masked lanes lie in rhs's row (the caller's contract).
        let g: [__m512; V] = std::array::from_fn(|v| unsafe { _mm512_maskz_loadu_ps(self.masks[v], g.add(16 * v)) });
        for (&i, &x) in columns.iter().zip(values) {
            // SAFETY: out's row i exists (i < k).
            unsafe {
                let x = _mm512_set1_ps(x);
                let row = self.out.add(i as usize * self.n);
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
    use crate::model::classifier_backprop::{Operand, product};
    use crate::rng::SplitMix64;

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
                // The gemm call the step makes where it does not list.
                let mut expected = vec![f32::NAN; m * n];
                product(
                    &mut expected,
                    m,
                    n,
                    k,
                    Operand::row_major(&lhs, k),
                    Operand::row_major(&rhs, n),
                );
                let sparse = SparseRows::from_dense(&lhs, m, k);
                let mut out = vec![f32::NAN; m * n];
                // SAFETY: AVX-512 checked above.
                unsafe { sparse_rows_times_dense(&mut out, (m, n, k), &sparse, &rhs, kc) };
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
                let mut expected = vec![f32::NAN; k * n];
                product(
                    &mut expected,
                    k,
                    n,
                    b,
                    Operand::transposed(&lhs, k),
                    Operand::row_major(&rhs, n),
                );
                let sparse = SparseRows::from_dense(&lhs, b, k);
                let mut out = vec![f32::NAN; k * n];
                // SAFETY: AVX-512 checked above.
                unsafe { sparse_transposed_times_dense(&mut out, (b, k, n), &sparse, &rhs) };
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
    fn sparse_rows_list_every_entry_other_than_zero_and_give_the_matrix_back() {
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
        let sparse = SparseRows::from_dense(&data, 2, 6);
        assert_eq!(sparse.columns(0), [2, 3, 5]);
        assert_eq!(sparse.columns(1), [4]);
        assert_eq!(bits(sparse.values(1)), bits(&[f32::INFINITY]));
        let mut rng = SplitMix64::new(13);
        for (rows, cols) in [(3, 37), (5, 16), (1, 1), (4, 0), (0, 9)] {
            let mut data = sparse_matrix(&mut rng, rows * cols, 0.7);
            if let Some(entry) = data.get_mut(cols / 2) {
                *entry = f32::NAN;
            }
            let sparse = SparseRows::from_dense(&data, rows, cols);
            assert_eq!(sparse.rows(), rows);
            if cols > 0 {
                // The portable listing (what a CPU without AVX-512 runs) gives the same lists.
                let mut portable = SparseRows {
                    width: cols,
                    ..SparseRows::default()
                };
                portable.fill_portable(&data, cols);
                assert_eq!(portable.starts, sparse.starts, "{rows} × {cols}");
                assert_eq!(portable.columns, sparse.columns, "{rows} × {cols}");
                assert_eq!(bits(&portable.values), bits(&sparse.values), "{rows} × {cols}");
            }
            let mut dense = Vec::new();
            sparse.dense_into(&mut dense);
            // Every −0 comes back as +0: a zero is not listed.
            let positive_zeros: Vec<f32> = data.iter().map(|&v| if v == 0.0 { 0.0 } else { v }).collect();
            assert_eq!(bits(&dense), bits(&positive_zeros), "{rows} × {cols}");
            let picked = [rows.saturating_sub(1), 0];
            if rows > 0 {
                let mut batch = SparseRows::default();
                batch.gather(&sparse, &picked);
                let mut gathered = Vec::new();
                batch.dense_into(&mut gathered);
                let expected: Vec<u32> = picked
                    .iter()
                    .flat_map(|&r| bits(&positive_zeros[r * cols..(r + 1) * cols]))
                    .collect();
                assert_eq!(bits(&gathered), expected, "rows {picked:?} of {rows} × {cols}");
            }
        }
    }
}
