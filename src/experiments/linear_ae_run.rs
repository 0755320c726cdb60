//! One run of a linear, nonnegative, energy-regularised autoencoder on a 2-D point set, and
//! what is measured on it (shared by Fig 1c and Fig 1d).

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::analysis::linalg::Matrix;
use crate::analysis::linear_info::linear_modularity;
use crate::analysis::mixing::most_mixed_neuron_angle;
use crate::analysis::multiinfo::{Normalisation, discretise_auto, normalised_multiinformation};
use crate::analysis::theory::{AngleGrid, TheoryCheck, Verdict, check_two_sources};
use crate::data::points::PointRecipe;
use crate::model::linear_ae::{self, LinearAeWeights, Training, loss_terms};
use crate::model::{AutoencoderLossTerms, AutoencoderObjective};

/// Everything that decides a trained network: hashed into the run's cache key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearAeRun {
    pub points: PointRecipe,
    pub latent: usize,
    pub objective: AutoencoderObjective,
    pub training: Training,
    pub init_seed: u64,
}

impl LinearAeRun {
    /// Runs that may share one batched training program: same architecture, objective,
    /// schedule and number of samples.
    pub fn batch_key(&self) -> String {
        serde_json::to_string(&(self.latent, &self.objective, &self.training, self.points.n_points()))
            .expect("plain data serialises")
    }

    pub fn initial_weights(&self) -> LinearAeWeights {
        LinearAeWeights::init(2, self.latent, self.init_seed)
    }
}

/// What the harness measures on one trained run.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearAeMeasurement {
    pub points: Vec<[f64; 2]>,
    pub theory: TheoryCheck,
    /// Normalised by the sum of marginal entropies, after numpy-'auto' histogram binning (the
    /// x axis of Fig 1d).
    pub multiinformation: f64,
    pub most_mixed_angle: Option<f64>,
    pub linear_cinfom: Option<f64>,
    pub linear_infom: Option<f64>,
    pub losses: AutoencoderLossTerms,
    /// Encoder weight vector of each neuron.
    pub neurons: Vec<[f64; 2]>,
}

impl LinearAeMeasurement {
    /// The network's verdict: mixed if its most mixed live neuron is further than
    /// `threshold` radians from a source axis.
    pub fn network_verdict(&self, threshold: f64) -> Verdict {
        match self.most_mixed_angle {
            Some(a) if a > threshold => Verdict::Mixed,
            _ => Verdict::Modular,
        }
    }
}

pub fn measure(points: Vec<[f64; 2]>, weights: &LinearAeWeights) -> LinearAeMeasurement {
    let theory = check_two_sources(&points, AngleGrid::default()).expect("generated points are finite");
    let rows: Vec<Vec<f64>> = points.iter().map(|p| p.to_vec()).collect();
    let multiinformation = normalised_multiinformation(&discretise_auto(&rows), Normalisation::BySumOfMarginals);
    let latents = Matrix::from_rows(rows.iter().map(|x| weights.encode(x)).collect());
    let sources = Matrix::from_rows(rows.clone());
    let modularity = linear_modularity(&sources, &latents);
    let neurons: Vec<[f64; 2]> = (0..weights.latent)
        .map(|j| {
            let w = weights.neuron_weights(j);
            [w[0], w[1]]
        })
        .collect();
    LinearAeMeasurement {
        most_mixed_angle: most_mixed_neuron_angle(&neurons),
        linear_cinfom: modularity.map(|m| m.cinfom),
        linear_infom: modularity.map(|m| m.infom),
        losses: loss_terms(weights, &rows),
        theory,
        multiinformation,
        neurons,
        points,
    }
}

/// Share of measurements whose network verdict (the angle cut at `threshold`) agrees with the
/// theory's verdict on their set; `None` without runs. Fig 1c and Fig 1d both claim it.
pub fn verdict_agreement<'a>(
    runs: impl ExactSizeIterator<Item = &'a LinearAeMeasurement>,
    threshold: f64,
) -> Option<f64> {
    let total = runs.len();
    let agree = runs
        .filter(|m| m.network_verdict(threshold) == m.theory.verdict)
        .count();
    (total > 0).then(|| agree as f64 / total as f64)
}

/// Trains runs with one batch key as one batched program: the `Kind::train` of Fig 1c and 1d.
pub fn train_batch(
    recipes: &[&LinearAeRun],
    device: &Device,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<Vec<LinearAeWeights>> {
    let data = recipes
        .iter()
        .map(|run| Ok(run.points.generate()?.iter().map(|p| p.to_vec()).collect()))
        .collect::<anyhow::Result<Vec<Vec<Vec<f64>>>>>()?;
    let inits: Vec<LinearAeWeights> = recipes.iter().map(|run| run.initial_weights()).collect();
    let first = recipes[0];
    let (steps, runs) = (first.training.steps, recipes.len());
    let on_step = super::kind::batch_progress(progress, runs, steps);
    Ok(linear_ae::train_batch(
        &data,
        &inits,
        &first.objective,
        &first.training,
        device,
        on_step,
    ))
}

/// Measures a trained run on its own (regenerated) points: the `Kind::measure` of Fig 1c and 1d.
pub fn measure_run(run: &LinearAeRun, weights: &LinearAeWeights) -> anyhow::Result<LinearAeMeasurement> {
    Ok(measure(run.points.generate()?, weights))
}
