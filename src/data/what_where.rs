//! The "what–where" data sets of Dorrell et al. 2025, Fig 2 (left): two discrete sources
//! (what, where), 9 values each, shown to the network as a one-hot of the pair. A data set is
//! a count per pair; the groups manipulate them:
//!
//! - `Uniform`: every pair once.
//! - `Corr { extra }`: every pair once, pairs with what = where `extra` more times: the sources
//!   correlate while every pair — the whole range — stays.
//! - `Corner { cut }`: pairs with what + where < cut removed: the range loses a corner.
//! - `Diag { radius }`: pairs with |what − where| ≤ radius removed, except (0,0) and (n−1,n−1):
//!   dependence from a hole along the diagonal, all four corners (the range) kept.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum WhatWhereData {
    Uniform,
    Corr { extra: usize },
    Corner { cut: usize },
    Diag { radius: usize },
}

/// counts[what][where].
pub fn counts(values: usize, data: WhatWhereData) -> Vec<Vec<usize>> {
    let last = values - 1;
    (0..values)
        .map(|w| {
            (0..values)
                .map(|l| match data {
                    WhatWhereData::Uniform => 1,
                    WhatWhereData::Corr { extra } => 1 + if w == l { extra } else { 0 },
                    WhatWhereData::Corner { cut } => usize::from(w + l >= cut),
                    WhatWhereData::Diag { radius } => {
                        let is_end = (w == 0 && l == 0) || (w == last && l == last);
                        usize::from(is_end || w.abs_diff(l) > radius)
                    }
                })
                .collect()
        })
        .collect()
}

/// The samples a data set stands for: (what, where) per sample, each pair `count` times.
pub fn samples(counts: &[Vec<usize>]) -> Vec<Vec<u32>> {
    let mut out = Vec::new();
    for (w, row) in counts.iter().enumerate() {
        for (l, &c) in row.iter().enumerate() {
            out.extend(std::iter::repeat_n(vec![w as u32, l as u32], c));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_hand() {
        let total = |c: &Vec<Vec<usize>>| c.iter().flatten().sum::<usize>();
        assert_eq!(total(&counts(9, WhatWhereData::Uniform)), 81);
        assert_eq!(total(&counts(9, WhatWhereData::Corr { extra: 2 })), 81 + 18);
        // w + l < 3: (0,0) (0,1) (1,0) (0,2) (1,1) (2,0) removed.
        assert_eq!(total(&counts(9, WhatWhereData::Corner { cut: 3 })), 75);
        // |w − l| ≤ 0 except both ends: 7 removed.
        let diag = counts(9, WhatWhereData::Diag { radius: 0 });
        assert_eq!(total(&diag), 74);
        assert_eq!((diag[0][0], diag[8][8], diag[4][4], diag[0][8]), (1, 1, 0, 1));
    }

    #[test]
    fn samples_repeat_pairs_by_count() {
        let s = samples(&counts(2, WhatWhereData::Corr { extra: 1 }));
        assert_eq!(
            s,
            vec![vec![0, 0], vec![0, 0], vec![0, 1], vec![1, 0], vec![1, 1], vec![1, 1]]
        );
    }
}
