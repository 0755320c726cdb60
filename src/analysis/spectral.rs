//! Frequency selectivity of neurons (Dorrell et al. 2025, Fig 3a–d): how much of each neuron's
//! spectrum lies near each of the task's frequencies, and whether neurons pick one frequency
//! (modular) or share several (mixed).
//!
//! As the authors compute it: the trace is mean-subtracted; the spectrum is the *magnitude*
//! |DFT| (not power) at the non-negative angular frequencies ω_k = 2π k / (n dt),
//! k = 0 … ⌈n/2⌉ − 1 (numpy's `fftfreq` ≥ 0); a frequency f's window is |ω − f| ≤ `half_width`.

/// The magnitude spectrum of a mean-subtracted trace at ω_k = 2πk/(n·dt), k = 0 … ⌈n/2⌉ − 1,
/// with those ω. A direct DFT: traces are a few hundred samples and this is not hot.
pub fn magnitude_spectrum(trace: &[f64], dt: f64) -> (Vec<f64>, Vec<f64>) {
    let n = trace.len();
    let mean = trace.iter().sum::<f64>() / n.max(1) as f64;
    let centred: Vec<f64> = trace.iter().map(|v| v - mean).collect();
    let bins = n.div_ceil(2);
    let omegas = (0..bins)
        .map(|k| 2.0 * std::f64::consts::PI * k as f64 / (n as f64 * dt))
        .collect();
    let magnitudes = (0..bins)
        .map(|k| {
            let (mut re, mut im) = (0.0, 0.0);
            for (t, v) in centred.iter().enumerate() {
                // (k t) mod n keeps the angle small, so long traces lose no precision.
                let phase = 2.0 * std::f64::consts::PI * ((k * t) % n) as f64 / n as f64;
                re += v * phase.cos();
                im -= v * phase.sin();
            }
            re.hypot(im)
        })
        .collect();
    (omegas, magnitudes)
}

/// Each frequency's share of the trace's spectral magnitude: Σ|DFT| over ω within
/// `half_width` of the frequency, divided by Σ|DFT| over all ω ≥ 0. `None` for a constant trace
/// (no spectrum to share).
pub fn spectral_shares(trace: &[f64], dt: f64, frequencies: &[f64], half_width: f64) -> Option<Vec<f64>> {
    let (omegas, magnitudes) = magnitude_spectrum(trace, dt);
    let total: f64 = magnitudes.iter().sum();
    // A constant trace leaves only rounding noise after centring.
    let scale = trace.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if total <= 1e-12 * scale * trace.len() as f64 {
        return None;
    }
    Some(
        frequencies
            .iter()
            .map(|f| {
                omegas
                    .iter()
                    .zip(&magnitudes)
                    .filter(|(w, _)| (*w - f).abs() <= half_width)
                    .map(|(_, m)| m)
                    .sum::<f64>()
                    / total
            })
            .collect(),
    )
}

/// The modularity of a population over K frequencies, from each neuron's shares P_nk:
/// (Σ_n max_k P_nk / Σ_n Σ_k P_nk − 1/K) / (1 − 1/K). 1: every neuron's in-window magnitude is at
/// one frequency; 0: every neuron splits it evenly. Neurons contribute by their in-window
/// magnitude, so a silent neuron weighs nothing. `None` if no neuron has any in-window magnitude.
pub fn frequency_modularity(shares: &[Vec<f64>]) -> Option<f64> {
    let k = shares.first()?.len();
    if k < 2 {
        return None;
    }
    let best: f64 = shares.iter().map(|p| p.iter().cloned().fold(0.0, f64::max)).sum();
    let all: f64 = shares.iter().flatten().sum();
    if all <= 0.0 {
        return None;
    }
    let chance = 1.0 / k as f64;
    Some((best / all - chance) / (1.0 - chance))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DT: f64 = 0.1;
    const N: usize = 200;

    /// ω of DFT bin k for a 200-step trace at dt = 0.1: 2πk/20.
    fn bin(k: usize) -> f64 {
        2.0 * std::f64::consts::PI * k as f64 / (N as f64 * DT)
    }

    fn cosine(f: f64, amplitude: f64) -> Vec<f64> {
        (0..N).map(|t| amplitude * (f * t as f64 * DT).cos()).collect()
    }

    #[test]
    fn a_cosine_on_a_bin_lands_entirely_in_its_window() {
        let f = bin(7);
        let shares = spectral_shares(&cosine(f, 2.0), DT, &[f, bin(20)], 0.2).unwrap();
        assert!((shares[0] - 1.0).abs() < 1e-12, "{shares:?}");
        assert!(shares[1].abs() < 1e-12, "{shares:?}");
    }

    #[test]
    fn a_sum_of_two_cosines_splits_by_amplitude() {
        // |DFT| of A cos(ω_k t) at bin k is A n / 2: magnitude shares are proportional to A.
        let (f1, f2) = (bin(5), bin(13));
        let trace: Vec<f64> = cosine(f1, 3.0)
            .iter()
            .zip(cosine(f2, 1.0))
            .map(|(a, b)| a + b)
            .collect();
        let shares = spectral_shares(&trace, DT, &[f1, f2], 0.2).unwrap();
        assert!((shares[0] - 0.75).abs() < 1e-12, "{shares:?}");
        assert!((shares[1] - 0.25).abs() < 1e-12, "{shares:?}");
    }

    #[test]
    fn the_mean_is_removed_and_a_constant_has_no_spectrum() {
        let f = bin(9);
        let shifted: Vec<f64> = cosine(f, 1.0).iter().map(|v| v + 5.0).collect();
        let shares = spectral_shares(&shifted, DT, &[f, bin(3)], 0.2).unwrap();
        assert!((shares[0] - 1.0).abs() < 1e-12);
        assert_eq!(spectral_shares(&[4.0; N], DT, &[f], 0.2), None);
    }

    #[test]
    fn the_window_is_plus_minus_half_width_around_the_frequency() {
        // Bins are 0.314 apart: a window of ±0.2 centred 0.25 above bin 5 holds only bin 6,
        // one centred on bin 5 holds only bin 5.
        let trace = cosine(bin(5), 1.0);
        let shares = spectral_shares(&trace, DT, &[bin(5) + 0.25, bin(5)], 0.2).unwrap();
        assert!(shares[0].abs() < 1e-12);
        assert!((shares[1] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn modularity_of_tuned_and_of_mixed_populations() {
        assert_eq!(frequency_modularity(&[vec![0.9, 0.0], vec![0.0, 0.5]]), Some(1.0));
        assert!(frequency_modularity(&[vec![0.4, 0.4], vec![0.2, 0.2]]).unwrap().abs() < 1e-12);
        // (0.6 + 0.3) / 1.2 = 0.75 → (0.75 − 0.5) / 0.5 = 0.5
        let m = frequency_modularity(&[vec![0.6, 0.2], vec![0.1, 0.3]]).unwrap();
        assert!((m - 0.5).abs() < 1e-12);
        assert_eq!(frequency_modularity(&[vec![0.0, 0.0]]), None);
    }
}
