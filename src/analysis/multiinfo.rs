//! Plug-in entropy of discrete variables and the sources' normalised multiinformation.
//!
//! Two normalisations appear in Dorrell et al. 2025 and are named apart here:
//! - [`Normalisation::BySumOfMarginals`]: (Σᵢ H(sᵢ) − H(s)) / Σᵢ H(sᵢ) — Fig 1d and 3fg (the
//!   authors' `normalized_multiinformation`, after histogram binning of continuous samples);
//! - [`Normalisation::ByMaxAttainable`]: (Σᵢ H(sᵢ) − H(s)) / (Σᵢ H(sᵢ) − maxᵢ H(sᵢ)) — Fig 2.
//!
//! Both clipped to [0, 1].

use std::collections::BTreeMap;

/// Plug-in (maximum-likelihood) entropy in nats of the rows of `labels`, each row one joint
/// outcome. Counts are summed in a fixed (sorted) order: a hash map's random iteration order
/// would change the last bits of the sum from one process to the next.
pub fn entropy<T: Ord>(labels: &[T]) -> f64 {
    let mut counts: BTreeMap<&T, usize> = BTreeMap::new();
    for l in labels {
        *counts.entry(l).or_default() += 1;
    }
    let n = labels.len() as f64;
    -counts.values().map(|&c| c as f64 / n).map(|p| p * p.ln()).sum::<f64>()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Normalisation {
    BySumOfMarginals,
    ByMaxAttainable,
}

/// Normalised multiinformation of discrete sources (`samples[n][i]` = label of source i).
pub fn normalised_multiinformation(samples: &[Vec<u32>], normalisation: Normalisation) -> f64 {
    let d = samples.first().map_or(0, Vec::len);
    let marginals: Vec<f64> = (0..d)
        .map(|i| entropy(&samples.iter().map(|s| s[i]).collect::<Vec<_>>()))
        .collect();
    let joint = entropy(samples);
    let sum: f64 = marginals.iter().sum();
    let denominator = match normalisation {
        Normalisation::BySumOfMarginals => sum,
        Normalisation::ByMaxAttainable => sum - marginals.iter().copied().fold(0.0, f64::max),
    };
    if denominator <= 0.0 {
        return 0.0;
    }
    ((sum - joint) / denominator).clamp(0.0, 1.0)
}

/// Linear-interpolated percentile (numpy's default), `q` in [0, 100], of sorted data.
fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    let pos = q / 100.0 * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Number of equal-width bins numpy's `bins='auto'` rule picks: the smaller of the
/// Freedman–Diaconis and Sturges bin widths (Sturges alone if the IQR is 0).
pub fn auto_bin_count(values: &[f64]) -> usize {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let span = sorted[sorted.len() - 1] - sorted[0];
    if span <= 0.0 {
        return 1;
    }
    let sturges = span / (n.log2() + 1.0);
    let iqr = percentile_sorted(&sorted, 75.0) - percentile_sorted(&sorted, 25.0);
    let fd = 2.0 * iqr * n.powf(-1.0 / 3.0);
    let width = if fd > 0.0 { fd.min(sturges) } else { sturges };
    (span / width).ceil().max(1.0) as usize
}

/// Bins each column of continuous samples into `auto_bin_count` equal-width bins over its
/// range (the last bin closed), returning labels.
pub fn discretise_auto(samples: &[Vec<f64>]) -> Vec<Vec<u32>> {
    let d = samples.first().map_or(0, Vec::len);
    let mut labels = vec![vec![0u32; d]; samples.len()];
    for i in 0..d {
        let column: Vec<f64> = samples.iter().map(|s| s[i]).collect();
        let bins = auto_bin_count(&column);
        let lo = column.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = column.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        for (row, &v) in column.iter().enumerate() {
            let bin = if hi > lo {
                ((v - lo) / (hi - lo) * bins as f64).floor() as usize
            } else {
                0
            };
            labels[row][i] = bin.min(bins - 1) as u32;
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_by_hand() {
        assert_eq!(entropy(&[1, 1, 1]), 0.0);
        assert!((entropy(&[0, 1, 0, 1]) - 2f64.ln()).abs() < 1e-12);
        // p = (½, ¼, ¼): H = ½ ln 2 + ½ ln 4 = 1.5 ln 2.
        assert!((entropy(&[0, 0, 1, 2]) - 1.5 * 2f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn independent_sources_have_zero_multiinformation() {
        let samples: Vec<Vec<u32>> = (0..4).flat_map(|a| (0..4).map(move |b| vec![a, b])).collect();
        for norm in [Normalisation::BySumOfMarginals, Normalisation::ByMaxAttainable] {
            assert!(normalised_multiinformation(&samples, norm).abs() < 1e-12);
        }
    }

    #[test]
    fn identical_sources_by_both_normalisations() {
        // H(s₁) = H(s₂) = H(s) = ln 4. By sum: (2 ln4 − ln4)/(2 ln4) = ½. By max: ln4/ln4 = 1.
        let samples: Vec<Vec<u32>> = (0..4).map(|a| vec![a, a]).collect();
        let by_sum = normalised_multiinformation(&samples, Normalisation::BySumOfMarginals);
        let by_max = normalised_multiinformation(&samples, Normalisation::ByMaxAttainable);
        assert!((by_sum - 0.5).abs() < 1e-12 && (by_max - 1.0).abs() < 1e-12);
    }

    #[test]
    fn auto_bins_match_numpy_on_a_known_case() {
        // numpy: np.histogram_bin_edges(np.arange(32.), 'auto') has 7 bins (FD width 7.94…
        // is wider than Sturges' 31/6 = 5.17, so Sturges wins: ceil(31/5.17) = 6? — numpy gives
        // 6 bins for 0..31: span 31, Sturges width 31/(log2 32 + 1) = 31/6, ceil(6) = 6.
        let values: Vec<f64> = (0..32).map(f64::from).collect();
        assert_eq!(auto_bin_count(&values), 6);
    }

    #[test]
    fn discretisation_keeps_extremes_in_range() {
        let samples: Vec<Vec<f64>> = (0..32).map(|k| vec![k as f64, (k % 4) as f64]).collect();
        let labels = discretise_auto(&samples);
        assert_eq!(labels[0][0], 0);
        assert_eq!(labels[31][0], 5);
        assert!(labels.iter().all(|l| l[1] < 6));
    }
}
