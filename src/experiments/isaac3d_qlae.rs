//! Dorrell et al. 2025, Fig 2 (right): a quantised-latent autoencoder (QLAE) on Isaac3D, with
//! the sources' range cut (corner) or their dependence raised (diagonal). The data set cannot
//! be downloaded here and training needs a GPU: the spec records the settings and the
//! published numbers, the loader reads a user's copy, and until both data and model are
//! present the artefact is reported as unavailable — never as passed.

use serde::{Deserialize, Serialize};

use super::Unavailable;
use super::kind::{Kind, Label, Measured};
use crate::data::inputs::InputDigests;
use crate::data::isaac3d::{Isaac3d, Isaac3dError};
use crate::render::figure::Figure;
use crate::render::table::Table;
use crate::spec::domain::Checked;

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

/// The values the paper reports (Fig 2 right), for the claims the spec records.
#[derive(Debug, Default, Serialize)]
pub struct Measures {
    pub cinfom_independent: Option<f64>,
    pub cinfom_corner_6: Option<f64>,
    pub cinfom_corner_8: Option<f64>,
    pub cinfom_corner_10: Option<f64>,
    pub cinfom_corner_12: Option<f64>,
    pub cinfom_diagonal_min: Option<f64>,
}

/// A run of this kind: there is none until the model is implemented, and this type, having no
/// values, says so to the compiler (no run can be planned, trained or measured).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum NoRun {}

impl Kind for Params {
    const NAME: &'static str = "Isaac3dQlae";
    const PAPER: crate::spec::Paper = crate::spec::Paper::Dorrell2025;
    type Recipe = NoRun;
    type Output = NoRun;
    type Measurement = NoRun;
    type Measures = Measures;

    /// The data set is checked when it is opened (`unavailable`).
    fn validate(&self) -> Checked {
        Ok(())
    }

    fn unavailable(&self) -> anyhow::Result<Option<Unavailable>> {
        match Isaac3d::open(std::path::Path::new(&self.data_dir)) {
            Err(missing @ Isaac3dError::Missing(_)) => Ok(Some(Unavailable::DataMissing(missing.to_string()))),
            Err(invalid) => Err(invalid.into()),
            Ok(data) => Ok(Some(Unavailable::NotImplemented(format!(
                "Isaac3D found ({} images) but training the quantised-latent autoencoder is not implemented yet (it needs a GPU; issue 3)",
                data.len()
            )))),
        }
    }

    fn runs(&self, _seed: u64, _inputs: &InputDigests) -> Vec<(Label, NoRun)> {
        Vec::new()
    }

    fn work(recipe: &NoRun) -> u64 {
        match *recipe {}
    }

    fn train(
        &self,
        recipes: &[&NoRun],
        _device: &burn::tensor::Device,
        _progress: &(dyn Fn(u64) + Sync),
        _threads: usize,
    ) -> anyhow::Result<Vec<NoRun>> {
        Ok(recipes.iter().map(|recipe| match **recipe {}).collect())
    }

    fn measure(&self, recipe: &NoRun, _output: &NoRun) -> anyhow::Result<NoRun> {
        match *recipe {}
    }

    // An unavailable artefact is never summarised; with no runs there is nothing to show.
    fn measures(&self, _runs: &[Measured<'_, Self>]) -> Measures {
        Measures::default()
    }

    fn table(&self, _runs: &[Measured<'_, Self>]) -> Table {
        Table::new(Vec::new())
    }

    fn figure(&self, _runs: &[Measured<'_, Self>], _measures: &Measures) -> Figure {
        Figure {
            columns: 1,
            panels: Vec::new(),
        }
    }

    fn notes(&self, _runs: &[Measured<'_, Self>]) -> Vec<String> {
        Vec::new()
    }
}
