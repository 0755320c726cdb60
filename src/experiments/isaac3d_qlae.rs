//! Dorrell et al. 2025, Fig 2 (right): a quantised-latent autoencoder (QLAE) on Isaac3D, with
//! the sources' range cut (corner) or their dependence raised (diagonal). The data set cannot
//! be downloaded here and training needs a GPU: the spec records the settings and the
//! published numbers, the loader reads a user's copy, and until both data and model are
//! present the artefact is reported as unavailable — never as passed.

use serde::{Deserialize, Serialize};

use super::Unavailable;
use crate::data::isaac3d::{Isaac3d, Isaac3dError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Where the data set lives (relative to the working directory).
    pub data_dir: String,
    /// The factors used as sources (6 of the 9).
    pub sources: Vec<String>,
    /// Quantised latents and values per latent.
    pub latents: usize,
    pub values_per_latent: usize,
    pub steps: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
}

pub const MEASURES: &[&str] = &[
    "cinfom_independent",
    "cinfom_corner_6",
    "cinfom_corner_8",
    "cinfom_corner_10",
    "cinfom_corner_12",
    "cinfom_diagonal_min",
];

impl Params {
    pub fn unavailable(&self) -> anyhow::Result<Unavailable> {
        match Isaac3d::open(std::path::Path::new(&self.data_dir)) {
            Err(missing @ Isaac3dError::Missing(_)) => Ok(Unavailable::DataMissing(missing.to_string())),
            Err(invalid) => Err(invalid.into()),
            Ok(data) => Ok(Unavailable::NotImplemented(format!(
                "Isaac3D found ({} images) but training the quantised-latent autoencoder is not implemented yet (it needs a GPU; issue 3)",
                data.len()
            ))),
        }
    }
}
