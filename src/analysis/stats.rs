//! Correlation statistics for claims (Pearson, Spearman with tied ranks averaged).

/// Pearson correlation; `None` when either variable is constant or lengths differ.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// The median; `None` for no values.
pub fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    })
}

/// The share of pairs (a from `low`, b from `high`) in which a ≥ b: 0 when every value of
/// `high` exceeds every value of `low` (the groups do not overlap), ½ for groups drawn from
/// one distribution. One minus the Mann–Whitney AUC, ties counting as overlap. `None` if either
/// group is empty.
pub fn overlap_share(low: &[f64], high: &[f64]) -> Option<f64> {
    if low.is_empty() || high.is_empty() {
        return None;
    }
    let overlapping = low
        .iter()
        .map(|a| high.iter().filter(|b| a >= *b).count())
        .sum::<usize>();
    Some(overlapping as f64 / (low.len() * high.len()) as f64)
}

/// The arithmetic mean; `None` for no values.
pub fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The standard error of the mean (sample standard deviation / √n); 0 for one value, `None` for
/// none.
pub fn standard_error(v: &[f64]) -> Option<f64> {
    let m = mean(v)?;
    let n = v.len() as f64;
    Some(if v.len() > 1 {
        (v.iter().map(|y| (y - m).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt()
    } else {
        0.0
    })
}

/// The median absolute deviation from the median; `None` for no values.
pub fn median_absolute_deviation(v: &[f64]) -> Option<f64> {
    let m = median(v.to_vec())?;
    median(v.iter().map(|x| (x - m).abs()).collect())
}

/// The fewest leading components whose shares (a spectrum, largest first) sum to at least
/// `share`; `None` if all of them do not.
pub fn components_for(spectrum: &[f64], share: f64) -> Option<usize> {
    let mut total = 0.0;
    spectrum
        .iter()
        .position(|s| {
            total += s;
            total >= share
        })
        .map(|k| k + 1)
}

/// The gap between two groups: the lowest value of `high` minus the highest of `low` (> 0: the
/// groups do not overlap, by that margin). `None` if either group is empty.
pub fn separation(low: &[f64], high: &[f64]) -> Option<f64> {
    let least_high = high.iter().copied().reduce(f64::min)?;
    let most_low = low.iter().copied().reduce(f64::max)?;
    Some(least_high - most_low)
}

/// Ranks starting at 1, ties given their average rank (as scipy's `rankdata`).
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && x[order[j + 1]] == x[order[i]] {
            j += 1;
        }
        let average = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = average;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman rank correlation: Pearson on tie-averaged ranks.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    pearson(&ranks(x), &ranks(y))
}

/// The least-squares line y ≈ intercept + slope·x, as `(intercept, slope)`; `None` for fewer
/// than two points or a constant x.
pub fn least_squares_line(x: &[f64], y: &[f64]) -> Option<(f64, f64)> {
    if x.len() != y.len() || x.len() < 2 {
        return None;
    }
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    (sxx > 0.0).then(|| {
        let slope = sxy / sxx;
        (my - slope * mx, slope)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_inverse_relations() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((pearson(&x, &[2.0, 4.0, 6.0, 8.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((spearman(&x, &[1.0, 10.0, 100.0, 1000.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((spearman(&x, &[4.0, 3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
    }

    #[test]
    fn separation_by_hand() {
        assert_eq!(separation(&[0.2, 0.5], &[0.9, 0.7]), Some(0.7 - 0.5));
        assert_eq!(separation(&[0.8], &[0.9, 0.6]), Some(0.6 - 0.8));
        assert_eq!(separation(&[], &[1.0]), None);
    }

    #[test]
    fn ties_get_average_ranks() {
        assert_eq!(ranks(&[10.0, 20.0, 10.0, 30.0]), vec![1.5, 3.0, 1.5, 4.0]);
    }

    #[test]
    fn median_and_overlap_by_hand() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
        assert_eq!(overlap_share(&[0.1, 0.2], &[0.5, 0.9]), Some(0.0));
        // 0.6 ≥ 0.5 is one of four pairs.
        assert_eq!(overlap_share(&[0.1, 0.6], &[0.5, 0.9]), Some(0.25));
        assert_eq!(overlap_share(&[0.5], &[0.5]), Some(1.0));
        assert_eq!(overlap_share(&[], &[0.5]), None);
    }

    #[test]
    fn spearman_by_hand() {
        // ranks x = 1..5, y ranks = (2,1,4,3,5): d² = 1+1+1+1+0 = 4, ρ = 1 − 6·4/(5·24) = 0.8.
        let r = spearman(&[1.0, 2.0, 3.0, 4.0, 5.0], &[0.2, 0.1, 0.4, 0.3, 0.5]).unwrap();
        assert!((r - 0.8).abs() < 1e-12);
    }

    #[test]
    fn least_squares_line_by_hand() {
        // Points (0, 1), (1, 2), (2, 2): x̄ = 1, ȳ = 5/3, Sxy = 1, Sxx = 2 → slope ½, intercept 7/6.
        let (a, b) = least_squares_line(&[0.0, 1.0, 2.0], &[1.0, 2.0, 2.0]).unwrap();
        assert!((b - 0.5).abs() < 1e-12 && (a - 7.0 / 6.0).abs() < 1e-12);
        assert_eq!(least_squares_line(&[1.0, 1.0], &[0.0, 1.0]), None);
    }

    #[test]
    fn constant_input_has_no_correlation() {
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
    }
}
