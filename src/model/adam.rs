//! Adam on a flat parameter vector, with an optional global gradient-norm clip — PyTorch's
//! `optim.Adam` and `clip_grad_norm_` (optax's `adam` is the same update), for the small
//! recurrent models whose BPTT is written out in plain Rust.

use serde::{Deserialize, Serialize};

/// Adam's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamSettings {
    pub learning_rate: f64,
    #[serde(default = "default_beta_1")]
    pub beta_1: f64,
    #[serde(default = "default_beta_2")]
    pub beta_2: f64,
    #[serde(default = "default_epsilon")]
    pub epsilon: f64,
}

pub fn default_beta_1() -> f64 {
    0.9
}
pub fn default_beta_2() -> f64 {
    0.999
}
pub fn default_epsilon() -> f64 {
    1e-8
}

/// Adam's state for one parameter vector.
#[derive(Debug, Clone)]
pub struct Adam {
    settings: AdamSettings,
    m: Vec<f64>,
    v: Vec<f64>,
    beta_1_power: f64,
    beta_2_power: f64,
    /// Decoupled weight decay (AdamW); 0 for plain Adam.
    weight_decay: f64,
}

impl Adam {
    pub fn new(settings: AdamSettings, parameters: usize) -> Self {
        Self {
            settings,
            m: vec![0.0; parameters],
            v: vec![0.0; parameters],
            beta_1_power: 1.0,
            beta_2_power: 1.0,
            weight_decay: 0.0,
        }
    }

    /// AdamW: each step first shrinks every parameter by learning_rate · weight_decay, then takes
    /// Adam's step (decoupled weight decay, as optax's `adamw` and Burn's `AdamW` do).
    pub fn with_decoupled_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Scales `grad` to a global norm of at most `max_norm` (PyTorch: by max_norm / (norm + 1e-6)
    /// when that is below 1), then takes one Adam step on `parameters`.
    ///
    /// Compiled for AVX2 and FMA too, chosen at run time (four f64 lanes for the square roots
    /// and divisions; Fig 1d's tiny networks spent a sixth of a step here). Nothing is
    /// reordered and every fused multiply–add is an explicit `mul_add`, so both builds give
    /// the same bits (tested).
    pub fn step(&mut self, parameters: &mut [f64], grad: &mut [f64], max_norm: Option<f64>) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { self.step_avx2(parameters, grad, max_norm) };
        }
        self.step_portable(parameters, grad, max_norm);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn step_avx2(&mut self, parameters: &mut [f64], grad: &mut [f64], max_norm: Option<f64>) {
        self.step_portable(parameters, grad, max_norm);
    }

    #[inline(always)]
    fn step_portable(&mut self, parameters: &mut [f64], grad: &mut [f64], max_norm: Option<f64>) {
        if let Some(max_norm) = max_norm {
            let norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
            let scale = max_norm / (norm + 1e-6);
            if scale < 1.0 {
                grad.iter_mut().for_each(|g| *g *= scale);
            }
        }
        let s = self.settings;
        self.beta_1_power *= s.beta_1;
        self.beta_2_power *= s.beta_2;
        let step = s.learning_rate / (1.0 - self.beta_1_power);
        let bias_2 = (1.0 - self.beta_2_power).sqrt();
        let by_bias_2 = ExactQuotient::by(bias_2);
        let keep = 1.0 - s.learning_rate * self.weight_decay;
        for ((p, g), (m, v)) in parameters
            .iter_mut()
            .zip(grad.iter())
            .zip(self.m.iter_mut().zip(self.v.iter_mut()))
        {
            *m = s.beta_1 * *m + (1.0 - s.beta_1) * g;
            *v = s.beta_2 * *v + (1.0 - s.beta_2) * g * g;
            // `keep` is exactly 1 without weight decay, leaving plain Adam's rounding unchanged.
            *p = *p * keep - step * *m / (by_bias_2.of(v.sqrt()) + s.epsilon);
        }
    }
}

/// a / b for one b and many a ≥ 0, without a division per a: q₀ = a·(1/b), then Markstein's
/// correction q = q₀ + (a − b·q₀)·(1/b), both steps fused multiply–adds. With 1/b correctly
/// rounded, the remainder a − b·q₀ is exact and q is a / b correctly rounded (P. Markstein,
/// IBM J. Res. Dev. 34(1), 1990; Muller et al., Handbook of Floating-Point Arithmetic, §4.7),
/// so the bits of the division it replaces. Why: Adam's loop is bound by the divider (a square
/// root and two divisions per parameter); this takes one of the three off it. It holds for
/// every a this module passes (square roots of the second moments: 0, or far above the
/// subnormal range, where the remainder would lose bits), tested against `/` on 10⁷ quotients.
#[derive(Debug, Clone, Copy)]
struct ExactQuotient {
    divisor: f64,
    reciprocal: f64,
}

impl ExactQuotient {
    fn by(divisor: f64) -> Self {
        Self {
            divisor,
            reciprocal: 1.0 / divisor,
        }
    }

    #[inline(always)]
    fn of(self, a: f64) -> f64 {
        let estimate = a * self.reciprocal;
        let remainder = (-estimate).mul_add(self.divisor, a);
        remainder.mul_add(self.reciprocal, estimate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: AdamSettings = AdamSettings {
        learning_rate: 0.1,
        beta_1: 0.9,
        beta_2: 0.999,
        epsilon: 1e-8,
    };

    #[test]
    fn the_accelerated_build_gives_the_portable_build_s_bits() {
        let mut rng = crate::rng::SplitMix64::new(2);
        let start: Vec<f64> = (0..37).map(|_| rng.normal()).collect();
        let grads: Vec<Vec<f64>> = (0..5).map(|_| (0..37).map(|_| 3.0 * rng.normal()).collect()).collect();
        let run = |portable: bool| {
            let mut adam = Adam::new(SETTINGS, start.len()).with_decoupled_weight_decay(0.01);
            let mut p = start.clone();
            for g in &grads {
                let mut g = g.clone();
                if portable {
                    adam.step_portable(&mut p, &mut g, Some(1.0));
                } else {
                    adam.step(&mut p, &mut g, Some(1.0));
                }
            }
            p.iter().map(|v| v.to_bits()).collect::<Vec<u64>>()
        };
        assert_eq!(run(false), run(true));
    }

    #[test]
    fn the_exact_quotient_is_the_division_s_bits() {
        // Adam divides √v̂ by √(1 − β₂ᵗ) ∈ [0.0447, 1): divisors from that range and beyond,
        // dividends over the magnitudes a second moment's root takes (f32 gradients widened:
        // 1e-46 and up), and zero.
        let mut rng = crate::rng::SplitMix64::new(17);
        for t in 1..=2_000u32 {
            let divisor = (1.0 - 0.999f64.powi(t as i32)).sqrt();
            let by = ExactQuotient::by(divisor);
            for _ in 0..5_000 {
                let a = (rng.uniform() * 2.0 - 1.0).exp2() * 10f64.powf(rng.uniform() * 60.0 - 48.0);
                assert_eq!(by.of(a).to_bits(), (a / divisor).to_bits(), "{a} / {divisor}");
            }
            assert_eq!(by.of(0.0).to_bits(), 0f64.to_bits());
        }
        for divisor in [1.0, 0.5, 0.3, 1.0 / 3.0, 0.999_999_999, 7.0, 1e-3] {
            let by = ExactQuotient::by(divisor);
            for _ in 0..100_000 {
                let a = rng.uniform() * 1e3;
                assert_eq!(by.of(a).to_bits(), (a / divisor).to_bits(), "{a} / {divisor}");
            }
        }
    }

    #[test]
    fn the_first_step_moves_each_parameter_by_the_learning_rate_against_its_gradient_sign() {
        // Bias-corrected m̂ = g, v̂ = g²: the first step is lr · g / (|g| + ε).
        let mut adam = Adam::new(SETTINGS, 2);
        let mut p = vec![1.0, 1.0];
        adam.step(&mut p, &mut [2.0, -0.5], None);
        assert!((p[0] - 0.9).abs() < 1e-7 && (p[1] - 1.1).abs() < 1e-7, "{p:?}");
    }

    #[test]
    fn decoupled_weight_decay_shrinks_the_parameter_before_the_step() {
        let mut adam = Adam::new(SETTINGS, 1).with_decoupled_weight_decay(0.5);
        let mut p = vec![2.0];
        adam.step(&mut p, &mut [1.0], None);
        // 2 · (1 − 0.1 · 0.5) − 0.1 · 1 / (1 + ε)
        assert!((p[0] - (1.9 - 0.1)).abs() < 1e-7, "{p:?}");
    }

    #[test]
    fn the_clip_scales_the_whole_gradient_to_the_maximum_norm() {
        let mut adam = Adam::new(SETTINGS, 2);
        let mut grad = vec![3.0, 4.0];
        adam.step(&mut [0.0, 0.0], &mut grad, Some(2.0));
        let norm = (grad[0] * grad[0] + grad[1] * grad[1]).sqrt();
        assert!((norm - 2.0).abs() < 1e-6 && (grad[0] / grad[1] - 0.75).abs() < 1e-12);
    }
}
