//! Domain checks for the experiment kinds written before the [`super::kind::Kind`] trait (a
//! `Kind` checks itself in `Kind::validate`). Run at load time, after each profile and sweep
//! point is applied, so that a value that would panic, hang or exhaust memory is refused with its
//! name and what is allowed before anything trains. Upper bounds are resource limits: each keeps
//! one run within hours and gigabytes on a workstation; raise one here if a real use needs it.

use super::Experiment;
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

/// Checks a pre-`Kind` experiment's parameters; `Ok` for kinds that check themselves.
pub fn check(experiment: &Experiment) -> Checked {
    match experiment {
        Experiment::UnitClustering(p) => {
            each("hidden", &p.hidden, |n, u| domain::count_in(n, u, 1, 8192))?;
            each("dropout", &p.dropout, |n, d| {
                domain::interval(n, d, 0.0, 1.0, (true, false))
            })?;
            each("l1", &p.l1, domain::non_negative)?;
            each("l2", &p.l2, domain::non_negative)?;
            domain::non_negative("default_l2", p.default_l2)?;
            domain::count_in("eval_samples", p.eval_samples, 1, 1_000_000)?;
            let t = &p.training;
            domain::count_in("training.max_epochs", t.max_epochs, 1, 100_000)?;
            domain::count_in("training.batch_size", t.batch_size, 1, 1_000_000)?;
            adam("training", t.learning_rate, None)?;
            domain::open_interval("training.plateau_factor", t.plateau_factor, 0.0, 1.0)
        }
        Experiment::OperativeDimensions(p) => {
            domain::count_in("network_count", p.network_count, 1, 1000)?;
            each("ranks", &p.ranks, |n, r| domain::count_in(n, r, 1, MAX_UNITS))?;
            domain::count_in("eval_repeats", p.eval_repeats, 1, 10_000)?;
            domain::count_in("sampling_repeats", p.sampling_repeats, 1, 1000)?;
            if let super::operative_dimensions::NetworkSource::Trained(t) = &p.networks {
                domain::count_in("networks.Trained.iterations", t.iterations, 1, MAX_STEPS)?;
                domain::count_in("networks.Trained.batch_size", t.batch_size, 1, 100_000)?;
                adam("networks.Trained", t.learning_rate, None)?;
                domain::positive("networks.Trained.clip_norm", t.clip_norm)?;
                // A density ≤ 0 would redraw the sparse initialisation forever.
                domain::interval("networks.Trained.init_density", t.init_density, 0.0, 1.0, (false, true))?;
            }
            Ok(())
        }
        // Isaac3D checks its data when it loads; every later kind checks itself (Kind::validate).
        _ => Ok(()),
    }
}
