//! The experiments a spec can name. Each turns its parameters into runs, and the measured runs
//! into a table, a figure and the named values its claims refer to.

pub mod curves;
pub mod domains;
pub mod entorhinal;
pub mod isaac3d_qlae;
pub mod kind;
pub mod linear_ae_run;
pub mod missing_variable;
pub mod mlp_ae_run;
pub mod one_point_apart;
pub mod operative_dimensions;
pub mod random_point_sets;
pub mod range_manipulation;
pub mod ridge_readout;
pub mod teacher_student;
pub mod two_frequencies;
pub mod unit_clustering;
pub mod what_where;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::render::figure::Figure;
use crate::render::table::Table;

/// The experiment of a spec, with its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Experiment {
    /// Dorrell et al. 2025 Fig 1c: two point sets one point apart, on either side of the
    /// range-independence condition.
    OnePointApart(one_point_apart::Params),
    /// Dorrell et al. 2025 Fig 1d: many random point sets; does the theory or the source
    /// multiinformation predict mixing?
    RandomPointSets(random_point_sets::Params),
    /// Dorrell et al. 2025 Fig 2 centre: a nonlinear autoencoder on 3-D grid sources with
    /// their range cut or their dependence raised without cutting the range.
    RangeManipulation(range_manipulation::Params),
    /// Dorrell et al. 2025 Fig 2 right: a quantised-latent autoencoder on Isaac3D (needs the
    /// data set and a GPU).
    Isaac3dQlae(isaac3d_qlae::Params),
    /// Dorrell et al. 2025 Fig 2 left: the supervised what–where task.
    WhatWhere(what_where::Params),
    /// Lange et al. 2022: MNIST MLPs, association matrices, modularity clustering.
    UnitClustering(unit_clustering::Params),
    /// Krause et al. 2022: operative dimensions of trained RNNs and reduced-rank networks.
    OperativeDimensions(operative_dimensions::Params),
    /// Dorrell et al. 2025 Fig 3a–d: RNNs that output two frequencies, rational or irrational
    /// ratio.
    TwoFrequencies(two_frequencies::Params),
    /// Dorrell et al. 2025 Fig 4: the entorhinal simulation (position and reward).
    Entorhinal(entorhinal::Params),
    /// Dorrell et al. 2025 Fig 3f–g: a student RNN of a range-manipulated teacher.
    TeacherStudent(teacher_student::Params),
    /// Dorrell et al. 2025 Fig 5: mixed selectivity from a correlated missing variable.
    MissingVariable(missing_variable::Params),
    /// Dorrell et al. 2025 Fig 1c as the authors ran it: their point sets and their network.
    RidgeReadout(ridge_readout::Params),
}

/// Why an artefact cannot be produced on this machine. Reported as such, never as a pass.
#[derive(Debug, Clone, PartialEq)]
pub enum Unavailable {
    DataMissing(String),
    NotImplemented(String),
}

impl Unavailable {
    pub fn status(&self) -> &'static str {
        match self {
            Unavailable::DataMissing(_) => "data missing",
            Unavailable::NotImplemented(_) => "not implemented",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Unavailable::DataMissing(m) | Unavailable::NotImplemented(m) => m,
        }
    }
}

/// One unit of training work, fully resolved: a run of a [`kind::Kind`]. Its canonical JSON is
/// hashed for the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecipe(pub kind::KindRecipe);

/// How a [`RunRecipe`] is written, and so hashed: `{"Kind": run}`, except that a run of a kind
/// written before the [`kind::Kind`] trait is written as its old `RunRecipe` variant was
/// (`{"WhatWhere": recipe}`, see [`kind::Kind::LEGACY_KEY`]), so its cache key did not move.
impl Serialize for RunRecipe {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        match &self.0.legacy {
            Some(legacy) => serde_json::value::RawValue::from_string(legacy.json.clone())
                .map_err(S::Error::custom)?
                .serialize(serializer),
            None => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("Kind", &self.0)?;
                map.end()
            }
        }
    }
}

/// A run with its place in the spec: the experiment's own label for it (e.g. data set index),
/// the sweep point and the seed.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSlot {
    pub label: BTreeMap<String, String>,
    pub recipe: RunRecipe,
}

/// A measured run, handed back to its experiment for summary.
pub struct MeasuredRun<'a> {
    pub sweep: &'a BTreeMap<String, String>,
    pub seed: u64,
    pub label: &'a BTreeMap<String, String>,
    pub measurement: &'a Measurement,
}

/// What the harness measured on a run (its kind's `Measurement`, type-erased).
pub type Measurement = kind::KindMeasurement;

/// An artefact's content, before rendering. Cached per artefact (see `pipeline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub table: Table,
    pub figure: Figure,
    /// Named values the claims refer to. A value that could not be computed is absent (a claim
    /// on it then fails, saying so).
    pub measured: BTreeMap<String, f64>,
    /// Lines for the report: what the data and the runs were.
    pub notes: Vec<String>,
}

impl Experiment {
    /// The experiment's kind: the one place a kind is wired in.
    pub fn as_kind(&self) -> &dyn kind::ErasedKind {
        match self {
            Experiment::OnePointApart(p) => p,
            Experiment::RandomPointSets(p) => p,
            Experiment::RangeManipulation(p) => p,
            Experiment::Isaac3dQlae(p) => p,
            Experiment::WhatWhere(p) => p,
            Experiment::UnitClustering(p) => p,
            Experiment::OperativeDimensions(p) => p,
            Experiment::TwoFrequencies(p) => p,
            Experiment::Entorhinal(p) => p,
            Experiment::TeacherStudent(p) => p,
            Experiment::MissingVariable(p) => p,
            Experiment::RidgeReadout(p) => p,
        }
    }

    /// Human name of the experiment kind.
    pub fn kind(&self) -> &'static str {
        self.as_kind().name()
    }

    /// Checks the parameters against their domain (after profiles and sweeps are applied).
    pub fn validate(&self) -> crate::spec::domain::Checked {
        self.as_kind().validate()
    }

    /// The paper whose figure this experiment reproduces.
    pub fn paper(&self) -> crate::spec::Paper {
        self.as_kind().paper()
    }

    /// The names of the values `summarise` measures, for validating claims at load time.
    pub fn measures(&self) -> Vec<String> {
        self.as_kind().measure_names()
    }

    /// The input data the experiment reads, to fingerprint before planning.
    pub fn inputs(&self) -> Vec<crate::data::inputs::DataInput> {
        self.as_kind().inputs()
    }

    /// The runs of one seed at one sweep point, on inputs with these digests.
    pub fn runs(&self, seed: u64, inputs: &crate::data::inputs::InputDigests) -> Vec<RunSlot> {
        self.as_kind().runs(seed, inputs)
    }

    pub fn summarise(&self, runs: &[MeasuredRun<'_>]) -> Summary {
        self.as_kind().summarise(runs)
    }

    /// `Some` when the artefact cannot be produced here (data or implementation missing);
    /// an error when data is present but invalid.
    pub fn unavailable(&self) -> anyhow::Result<Option<Unavailable>> {
        self.as_kind().unavailable()
    }
}

/// A table whose first columns are the spec's sweep parameters (none without a sweep).
pub fn sweep_table(runs: &[MeasuredRun<'_>], columns: &[&str]) -> Table {
    let mut header: Vec<String> = runs
        .first()
        .map(|r| r.sweep.keys().cloned().collect())
        .unwrap_or_default();
    header.extend(columns.iter().map(|c| c.to_string()));
    Table::new(header)
}

/// A row of a [`sweep_table`]: the run's sweep values (in the header's order), then `cells`.
pub fn sweep_row(run: &MeasuredRun<'_>, cells: impl IntoIterator<Item = String>) -> Vec<String> {
    run.sweep.values().cloned().chain(cells).collect()
}

/// Formats an optional number for a table cell ("" when absent).
pub fn cell(x: Option<f64>) -> String {
    x.map_or_else(String::new, |v| format!("{v}"))
}
