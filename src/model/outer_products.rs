//! Sums of rank-one updates, `grad[r][c] += factor_j[r] · vector_j[c]` over many j, as BPTT
//! makes them (one per state: δ_t h_{t−1}ᵀ), summed block by block in registers instead of one
//! pass over the whole matrix per state. Shared by the Fig 3 and Fig 4 RNNs.

use super::lanes::Real;

/// `grad[r][c] += factor_j[r] · vector_j[c]` for every pair j of `terms` in order, on a
/// row-major matrix with `columns` columns: the rank-one updates of BPTT, summed in registers
/// block by block (four rows × `BLOCK_COLUMNS` columns: 8 for f64, two AVX2 registers a row;
/// fewer for runs side by side, whose values are wider) instead of one pass over the whole
/// matrix per state; the last `columns % BLOCK_COLUMNS` columns one entry at a time. Every entry
/// receives the same products in the same order as one update per state would give it, so the
/// bits are the same. With `SKIP_ZERO` a zero factor adds nothing (not even a signed zero), as
/// the per-state loop that skipped it did.
#[inline(always)]
pub(super) fn add_outer_products<T: Real, const SKIP_ZERO: bool, const BLOCK_COLUMNS: usize>(
    grad: &mut [T],
    columns: usize,
    terms: &[(&[T], &[T])],
) {
    let rows = grad.len() / columns;
    let whole = rows - rows % 4;
    for r0 in (0..whole).step_by(4) {
        add_outer_product_block::<T, 4, SKIP_ZERO, BLOCK_COLUMNS>(grad, columns, r0, terms);
    }
    for r0 in whole..rows {
        add_outer_product_block::<T, 1, SKIP_ZERO, BLOCK_COLUMNS>(grad, columns, r0, terms);
    }
}

#[inline(always)]
fn add_outer_product_block<T: Real, const ROWS: usize, const SKIP_ZERO: bool, const BLOCK_COLUMNS: usize>(
    grad: &mut [T],
    columns: usize,
    r0: usize,
    terms: &[(&[T], &[T])],
) {
    let whole = columns - columns % BLOCK_COLUMNS;
    for r in r0..r0 + ROWS {
        for c in whole..columns {
            let mut sum = grad[r * columns + c];
            for &(factor, vector) in terms {
                let f = factor[r];
                let added = sum + f * vector[c];
                sum = if SKIP_ZERO {
                    T::unless_zero_factor(f, added, sum)
                } else {
                    added
                };
            }
            grad[r * columns + c] = sum;
        }
    }
    for c0 in (0..whole).step_by(BLOCK_COLUMNS) {
        let mut acc = [[T::splat(0.0); BLOCK_COLUMNS]; ROWS];
        for (i, row) in acc.iter_mut().enumerate() {
            row.copy_from_slice(&grad[(r0 + i) * columns + c0..][..BLOCK_COLUMNS]);
        }
        for &(factor, vector) in terms {
            let v: &[T; BLOCK_COLUMNS] = vector[c0..c0 + BLOCK_COLUMNS].try_into().unwrap();
            for (i, row) in acc.iter_mut().enumerate() {
                let f = factor[r0 + i];
                for c in 0..BLOCK_COLUMNS {
                    let sum = row[c] + f * v[c];
                    row[c] = if SKIP_ZERO {
                        T::unless_zero_factor(f, sum, row[c])
                    } else {
                        sum
                    };
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            grad[(r0 + i) * columns + c0..][..BLOCK_COLUMNS].copy_from_slice(row);
        }
    }
}
