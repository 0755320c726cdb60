//! One run of the nonlinear autoencoder on manipulated 3-D grid sources, and what is measured
//! on it (Dorrell et al. 2025, Fig 2 centre).

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::analysis::info_metrics::{InfoOptions, info_modularity};
use crate::analysis::linalg::Matrix;
use crate::analysis::multiinfo::{Normalisation, normalised_multiinformation};
use crate::data::grid3d::{GridSamples, Manipulation, generate};
use crate::model::AutoencoderObjective;
use crate::model::mlp_ae::{self, MlpShape, MlpTraining, MlpWeights, mlp_loss_terms};

/// Everything that decides a trained network: hashed into the run's cache key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpAeRun {
    pub values_per_source: usize,
    pub manipulation: Manipulation,
    pub shape: MlpShape,
    pub objective: AutoencoderObjective,
    pub training: MlpTraining,
    pub init_seed: u64,
    pub batch_seed: u64,
}

impl MlpAeRun {
    pub fn batch_key(&self) -> String {
        serde_json::to_string(&(&self.shape, &self.objective, &self.training)).expect("plain data serialises")
    }

    pub fn samples(&self) -> GridSamples {
        generate(self.values_per_source, &self.manipulation)
    }

    pub fn initial_weights(&self) -> MlpWeights {
        self.shape.init(self.training.init_scale, self.init_seed)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MlpAeMeasurement {
    /// Source normalised multiinformation, normalised by the largest attainable (Fig 2's x axis).
    pub source_nmi: f64,
    pub infom: Option<f64>,
    pub cinfom: Option<f64>,
    pub reconstruction_loss: f64,
    pub active_latents: usize,
    pub samples: usize,
}

pub fn measure(run: &MlpAeRun, weights: &MlpWeights, metrics: &InfoOptions) -> MlpAeMeasurement {
    let samples = run.samples();
    let layers = run.shape.encoder.len() - 1;
    let latents = Matrix::from_rows(samples.values.iter().map(|x| weights.encode(x, layers)).collect());
    let info = info_modularity(&samples.labels, &latents, metrics);
    MlpAeMeasurement {
        source_nmi: normalised_multiinformation(&samples.labels, Normalisation::ByMaxAttainable),
        infom: info.infom,
        cinfom: info.cinfom,
        reconstruction_loss: mlp_loss_terms(weights, &run.shape, &samples.values).reconstruction,
        active_latents: info.active.iter().filter(|&&a| a).count(),
        samples: samples.labels.len(),
    }
}

/// Trains runs with one batch key as one batched program: Fig 2 centre's `Kind::train`.
pub fn train_batch(recipes: &[&MlpAeRun], device: &Device, progress: &(dyn Fn(u64) + Sync)) -> Vec<MlpWeights> {
    let data: Vec<Vec<Vec<f64>>> = recipes.iter().map(|run| run.samples().values).collect();
    let inits: Vec<MlpWeights> = recipes.iter().map(|run| run.initial_weights()).collect();
    let seeds: Vec<u64> = recipes.iter().map(|run| run.batch_seed).collect();
    let first = recipes[0];
    let (steps, runs) = (first.training.steps, recipes.len());
    let on_step = super::kind::batch_progress(progress, runs, steps);
    let batch = mlp_ae::RunBatch {
        data: &data,
        inits: &inits,
        batch_seeds: &seeds,
        shape: &first.shape,
        objective: &first.objective,
        training: &first.training,
    };
    mlp_ae::train_batch(&batch, device, on_step)
}
