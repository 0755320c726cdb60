//! Domain checks the kinds share (each kind checks its parameters in `Kind::validate`). Run at
//! load time, after each profile and sweep point is applied, so that a value that would panic,
//! hang or exhaust memory is refused with its name and what is allowed before anything trains.
//! Upper bounds are resource limits: each keeps one run within hours and gigabytes on a
//! workstation; raise one here if a real use needs it.

use crate::spec::domain::{self, Checked};

pub(super) const MAX_STEPS: usize = 100_000_000;
pub(super) const MAX_UNITS: usize = 4096;

pub(super) fn adam(prefix: &str, learning_rate: f64, betas: Option<(f64, f64, f64)>) -> Checked {
    domain::open_interval(&format!("{prefix}.learning_rate"), learning_rate, 0.0, 1.0)?;
    if let Some((beta_1, beta_2, epsilon)) = betas {
        domain::open_interval(&format!("{prefix}.beta_1"), beta_1, 0.0, 1.0)?;
        domain::open_interval(&format!("{prefix}.beta_2"), beta_2, 0.0, 1.0)?;
        domain::positive(&format!("{prefix}.epsilon"), epsilon)?;
    }
    Ok(())
}

pub(super) fn each<T: Copy>(param: &str, values: &[T], check: impl Fn(&str, T) -> Checked) -> Checked {
    values.iter().try_for_each(|&v| check(param, v))
}

/// The parameters Fig 1c and Fig 1d share: point sets, a linear autoencoder, Adam.
pub(super) fn linear_autoencoder(
    n_points: usize,
    latent: usize,
    t: &crate::model::linear_ae::Training,
    angle: f64,
) -> Checked {
    domain::count_in("n_points", n_points, 2, 100_000)?;
    domain::count_in("latent", latent, 1, MAX_UNITS)?;
    domain::count_in("training.steps", t.steps, 1, MAX_STEPS)?;
    adam("training", t.learning_rate, Some((t.beta_1, t.beta_2, t.epsilon)))?;
    domain::open_interval("mixed_angle_threshold", angle, 0.0, std::f64::consts::FRAC_PI_2)
}
