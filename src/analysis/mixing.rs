//! How mixed the neurons of a linear two-source encoder are.
//!
//! For neuron j with encoder weights (aⱼ, bⱼ) on the two sources, its angle from the nearest
//! source axis is min(φ, π/2 − φ) with φ = atan(|aⱼ|/|bⱼ|): 0 for a neuron that reads one source,
//! π/4 for an equal mix. Neurons whose |a|+|b| is below a tenth of the largest are ignored
//! (dead or nearly dead). The figure's y axis is the largest such angle: the most mixed neuron
//! (authors' `most_mixed_neuron`, `Figure 1d.ipynb`).

/// The largest angle (radians, in [0, π/4]) of any live neuron; `None` if every weight is 0.
pub fn most_mixed_neuron_angle(encoder: &[[f64; 2]]) -> Option<f64> {
    let mass: Vec<f64> = encoder.iter().map(|w| w[0].abs() + w[1].abs()).collect();
    let max = mass.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return None;
    }
    encoder
        .iter()
        .zip(&mass)
        .filter(|(_, m)| **m > max / 10.0)
        .map(|(w, _)| {
            let phi = w[0].abs().atan2(w[1].abs());
            phi.min(std::f64::consts::FRAC_PI_2 - phi)
        })
        .reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::FRAC_PI_4;

    #[test]
    fn axis_aligned_neurons_have_zero_angle() {
        assert_eq!(most_mixed_neuron_angle(&[[1.0, 0.0], [0.0, -2.0]]), Some(0.0));
    }

    #[test]
    fn equal_mix_is_a_quarter_turn() {
        let a = most_mixed_neuron_angle(&[[1.0, 0.0], [0.5, -0.5]]).unwrap();
        assert!((a - FRAC_PI_4).abs() < 1e-12);
    }

    #[test]
    fn nearly_dead_neurons_are_ignored() {
        assert_eq!(most_mixed_neuron_angle(&[[1.0, 0.0], [0.01, 0.01]]), Some(0.0));
        assert_eq!(most_mixed_neuron_angle(&[[0.0, 0.0]]), None);
    }

    #[test]
    fn angle_by_hand() {
        // (1, √3): φ = atan(1/√3) = π/6, min(π/6, π/3) = π/6.
        let a = most_mixed_neuron_angle(&[[1.0, 3f64.sqrt()]]).unwrap();
        assert!((a - std::f64::consts::PI / 6.0).abs() < 1e-12);
    }
}
