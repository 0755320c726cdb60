//! Mutual information between a continuous scalar and a discrete variable, by the
//! nearest-neighbour estimator of Ross (2014, PLoS ONE 9:e87357) — the estimator behind
//! scikit-learn's `mutual_info_classif` (its `_compute_mi_cd`), which Dorrell et al. use.
//!
//! For each sample i with label yᵢ: dᵢ = distance to its k-th nearest neighbour among the other
//! samples with the same label (k capped at that label's count − 1), and mᵢ = the number of
//! samples of any label strictly closer than dᵢ, itself included. Then
//! I = ψ(N) + ⟨ψ(kᵢ)⟩ − ⟨ψ(N_{yᵢ})⟩ − ⟨ψ(mᵢ)⟩, floored at 0; samples whose label occurs once
//! are left out entirely, as scikit-learn does. In one dimension sorting gives every
//! neighbour search in O(N log N).

use std::collections::BTreeMap;

const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// ψ(n) for a positive integer: H_{n−1} − γ. Every argument of the estimator is a count.
pub fn digamma_int(n: usize) -> f64 {
    assert!(n > 0, "digamma of a count ≥ 1");
    if n < 64 {
        return (1..n).map(|j| 1.0 / j as f64).sum::<f64>() - EULER_GAMMA;
    }
    // Asymptotic series of ψ(x), exact to double precision for x ≥ 64.
    let x = n as f64;
    let inv2 = 1.0 / (x * x);
    x.ln() - 0.5 / x - inv2 * (1.0 / 12.0 - inv2 * (1.0 / 120.0 - inv2 * (1.0 / 252.0 - inv2 / 240.0)))
}

/// Largest float strictly below a positive `x` (numpy's `nextafter(x, 0)`); 0 stays 0.
fn next_below(x: f64) -> f64 {
    if x <= 0.0 { 0.0 } else { f64::from_bits(x.to_bits() - 1) }
}

/// Distance from `sorted[p]` to its k-th nearest neighbour in `sorted` (itself excluded).
fn kth_neighbour_distance(sorted: &[f64], p: usize, k: usize) -> f64 {
    let (mut left, mut right) = (p, p); // next candidates are left−1 and right+1
    let mut distance = 0.0;
    for _ in 0..k {
        let dl = (left > 0).then(|| sorted[p] - sorted[left - 1]);
        let dr = (right + 1 < sorted.len()).then(|| sorted[right + 1] - sorted[p]);
        distance = match (dl, dr) {
            (Some(a), Some(b)) if a <= b => {
                left -= 1;
                a
            }
            (Some(a), None) => {
                left -= 1;
                a
            }
            (_, Some(b)) => {
                right += 1;
                b
            }
            (None, None) => unreachable!("k < number of same-label samples"),
        };
    }
    distance
}

/// I(x; y) in nats. `x` continuous, `labels` discrete, `k` neighbours (scikit-learn's default 3;
/// Dorrell et al. use 2).
pub fn mi_continuous_discrete(x: &[f64], labels: &[u32], k: usize) -> f64 {
    assert_eq!(x.len(), labels.len(), "one label per sample");
    assert!(k >= 1, "k ≥ 1");
    let mut by_label: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, &l) in labels.iter().enumerate() {
        by_label.entry(l).or_default().push(i);
    }
    // Per kept sample: (value, radius, k used, label count).
    let mut kept: Vec<(f64, f64, usize, usize)> = Vec::with_capacity(x.len());
    for members in by_label.values().filter(|m| m.len() > 1) {
        let mut values: Vec<f64> = members.iter().map(|&i| x[i]).collect();
        values.sort_by(f64::total_cmp);
        let k_here = k.min(values.len() - 1);
        for p in 0..values.len() {
            let radius = next_below(kth_neighbour_distance(&values, p, k_here));
            kept.push((values[p], radius, k_here, values.len()));
        }
    }
    let n = kept.len();
    if n == 0 {
        return 0.0;
    }
    let mut all: Vec<f64> = kept.iter().map(|e| e.0).collect();
    all.sort_by(f64::total_cmp);
    let (mut sum_k, mut sum_count, mut sum_m) = (0.0, 0.0, 0.0);
    for &(v, radius, k_here, count) in &kept {
        // Samples within `radius` of v (distance ≤ radius, as a k-d tree's radius query).
        let lo = all.partition_point(|&u| v - u > radius);
        let hi = all.partition_point(|&u| u - v <= radius);
        sum_k += digamma_int(k_here);
        sum_count += digamma_int(count);
        sum_m += digamma_int(hi - lo);
    }
    let n_f = n as f64;
    (digamma_int(n) + (sum_k - sum_count - sum_m) / n_f).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn digamma_matches_known_values() {
        assert!((digamma_int(1) + EULER_GAMMA).abs() < 1e-15);
        assert!((digamma_int(2) - (1.0 - EULER_GAMMA)).abs() < 1e-15);
        // Series and sum agree where they meet.
        let by_sum: f64 = (1..100).map(|j| 1.0 / j as f64).sum::<f64>() - EULER_GAMMA;
        assert!((digamma_int(100) - by_sum).abs() < 1e-13);
    }

    #[test]
    fn kth_neighbour_in_sorted_values() {
        let v = [0.0, 1.0, 3.0, 7.0];
        assert_eq!(kth_neighbour_distance(&v, 0, 1), 1.0);
        assert_eq!(kth_neighbour_distance(&v, 1, 2), 2.0);
        assert_eq!(kth_neighbour_distance(&v, 3, 3), 7.0);
    }

    #[test]
    fn a_copy_of_a_balanced_label_carries_its_entropy() {
        // 4 labels × 50 samples, x = label + small noise: clusters far apart, so every mᵢ = kᵢ
        // and I = ψ(200) − ψ(50) = H₁₉₉ − H₄₉ ≈ ln 4 = H(y).
        let mut rng = SplitMix64::new(1);
        let labels: Vec<u32> = (0..200).map(|i| i % 4).collect();
        let x: Vec<f64> = labels.iter().map(|&l| l as f64 + 0.01 * rng.normal()).collect();
        let mi = mi_continuous_discrete(&x, &labels, 2);
        let exact = digamma_int(200) - digamma_int(50);
        assert!((mi - exact).abs() < 1e-12, "{mi} vs {exact}");
        assert!((mi - 4f64.ln()).abs() < 0.01);
    }

    #[test]
    fn independent_variables_carry_almost_nothing() {
        let mut rng = SplitMix64::new(2);
        let labels: Vec<u32> = (0..2000).map(|i| i % 3).collect();
        let x: Vec<f64> = (0..2000).map(|_| rng.uniform()).collect();
        let mi = mi_continuous_discrete(&x, &labels, 2);
        assert!(mi < 0.02, "{mi}");
    }

    #[test]
    fn singleton_labels_are_ignored() {
        let x = [0.0, 0.1, 5.0, 5.1, 9.0];
        let labels = [0, 0, 1, 1, 2];
        let with = mi_continuous_discrete(&x, &labels, 1);
        let without = mi_continuous_discrete(&x[..4], &labels[..4], 1);
        assert_eq!(with, without);
    }

    #[test]
    fn invariant_to_shifting_and_scaling_x() {
        let mut rng = SplitMix64::new(3);
        let labels: Vec<u32> = (0..300).map(|i| (i % 5) as u32).collect();
        let x: Vec<f64> = labels.iter().map(|&l| l as f64 * 0.3 + rng.normal()).collect();
        let y: Vec<f64> = x.iter().map(|v| 4.0 * v - 7.0).collect();
        let (a, b) = (
            mi_continuous_discrete(&x, &labels, 3),
            mi_continuous_discrete(&y, &labels, 3),
        );
        assert!((a - b).abs() < 1e-9, "{a} {b}");
    }
}
