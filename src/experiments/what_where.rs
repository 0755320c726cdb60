//! Dorrell et al. 2025, Fig 2 (left): a supervised network reads a one-hot (what, where) pair
//! and reports both sources. Cutting a corner of the sources' range lowers the linear CInfoM of
//! its hidden layer as the sources' multiinformation grows; correlation and a hole along the
//! diagonal, which keep the range, lower it much less. (The authors did not publish this
//! training code; the loss terms are those of the rest of the paper.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::curves::{PointRuns, curve_measures, curves, curves_panel};
use super::{MeasuredRun, Measurement, RunRecipe, RunSlot, Summary, sweep_row, sweep_table};
use crate::analysis::linalg::Matrix;
use crate::analysis::linear_info::linear_modularity;
use crate::analysis::multiinfo::{Normalisation, normalised_multiinformation};
use crate::data::what_where::{WhatWhereData, counts, samples};
use crate::model::what_where::{SupervisedObjective, TwoLayerWeights, WhatWhereTraining};
use crate::render::figure::Figure;
use crate::rng::SplitMix64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Values per source (the paper: 9 what × 9 where).
    pub values: usize,
    pub corr_extra: Vec<usize>,
    pub corner_cuts: Vec<usize>,
    pub diag_radii: Vec<usize>,
    /// Hidden ReLU units (the paper: 25).
    pub hidden: usize,
    pub objective: SupervisedObjective,
    pub training: WhatWhereTraining,
}

/// Everything that decides a trained network: hashed into the run's cache key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatWhereRun {
    pub values: usize,
    pub data: WhatWhereData,
    pub hidden: usize,
    pub objective: SupervisedObjective,
    pub training: WhatWhereTraining,
    pub init_seed: u64,
}

impl WhatWhereRun {
    pub fn batch_key(&self) -> String {
        serde_json::to_string(&(self.values, self.hidden, &self.objective, &self.training)).expect("plain data")
    }

    /// Inputs (one-hot of each pair), targets (what, where scaled to [0, 1]) and this run's
    /// sample weights (frequencies), over all pairs in a fixed order.
    pub fn inputs_targets_weights(&self) -> (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<f64>) {
        let n = self.values;
        let c = counts(n, self.data);
        let total: usize = c.iter().flatten().sum();
        let (mut x, mut y, mut p) = (Vec::new(), Vec::new(), Vec::new());
        for w in 0..n {
            for l in 0..n {
                let mut one_hot = vec![0.0; n * n];
                one_hot[w * n + l] = 1.0;
                x.push(one_hot);
                y.push(vec![w as f64 / (n - 1) as f64, l as f64 / (n - 1) as f64]);
                p.push(c[w][l] as f64 / total as f64);
            }
        }
        (x, y, p)
    }

    pub fn initial_weights(&self) -> TwoLayerWeights {
        TwoLayerWeights::init(self.values * self.values, self.hidden, 2, self.init_seed)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WhatWhereMeasurement {
    pub source_nmi: f64,
    pub linear_cinfom: Option<f64>,
    pub linear_infom: Option<f64>,
    pub prediction_mse: f64,
}

pub fn measure(run: &WhatWhereRun, weights: &TwoLayerWeights) -> WhatWhereMeasurement {
    let n = run.values;
    let labels = samples(&counts(n, run.data));
    let (sources, hidden): (Vec<Vec<f64>>, Vec<Vec<f64>>) = labels
        .iter()
        .map(|s| {
            let mut one_hot = vec![0.0; n * n];
            one_hot[s[0] as usize * n + s[1] as usize] = 1.0;
            (s.iter().map(|&v| v as f64).collect(), weights.hidden_activity(&one_hot))
        })
        .unzip();
    let modularity = linear_modularity(&Matrix::from_rows(sources.clone()), &Matrix::from_rows(hidden));
    let prediction_mse = labels
        .iter()
        .map(|s| {
            let mut one_hot = vec![0.0; n * n];
            one_hot[s[0] as usize * n + s[1] as usize] = 1.0;
            let target = [s[0] as f64 / (n - 1) as f64, s[1] as f64 / (n - 1) as f64];
            weights
                .predict(&one_hot)
                .iter()
                .zip(target)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                / 2.0
        })
        .sum::<f64>()
        / labels.len() as f64;
    WhatWhereMeasurement {
        source_nmi: normalised_multiinformation(&labels, Normalisation::ByMaxAttainable),
        linear_cinfom: modularity.map(|m| m.cinfom),
        linear_infom: modularity.map(|m| m.infom),
        prediction_mse,
    }
}

pub const MEASURES: &[&str] = &[
    "corner_spearman_cinfom_vs_nmi",
    "corner_cinfom_at_max_nmi",
    "corner_max_nmi",
    "corr_min_cinfom",
    "corr_max_nmi",
    "diag_min_cinfom",
    "diag_max_nmi",
    "diag_minus_corner_at_max_nmi",
    "uniform_cinfom",
    "max_prediction_mse",
];

/// In the order of Fig 2 centre's groups with the same role (range_manipulation.rs), so that
/// each role has one colour across the paper's figures: uniform / untouched blue, the range cut
/// orange, range-keeping dependence green and red.
const GROUPS: [&str; 4] = ["uniform", "corner", "corr", "diag"];

impl Params {
    fn datasets(&self) -> Vec<(&'static str, String, WhatWhereData)> {
        let mut all = vec![("uniform", "-".to_string(), WhatWhereData::Uniform)];
        all.extend(
            self.corr_extra
                .iter()
                .map(|&extra| ("corr", extra.to_string(), WhatWhereData::Corr { extra })),
        );
        all.extend(
            self.corner_cuts
                .iter()
                .map(|&cut| ("corner", cut.to_string(), WhatWhereData::Corner { cut })),
        );
        all.extend(
            self.diag_radii
                .iter()
                .map(|&radius| ("diag", radius.to_string(), WhatWhereData::Diag { radius })),
        );
        all
    }

    pub fn runs(&self, seed: u64) -> Vec<RunSlot> {
        self.datasets()
            .into_iter()
            .map(|(group, parameter, data)| {
                let init_seed = SplitMix64::for_identity(seed, &format!("{group}/{parameter}")).next_u64();
                RunSlot {
                    label: BTreeMap::from([("group".into(), group.into()), ("parameter".into(), parameter)]),
                    recipe: RunRecipe::WhatWhere(WhatWhereRun {
                        values: self.values,
                        data,
                        hidden: self.hidden,
                        objective: self.objective,
                        training: self.training,
                        init_seed,
                    }),
                }
            })
            .collect()
    }

    pub fn summarise(&self, runs: &[MeasuredRun<'_>]) -> Summary {
        let mut table = sweep_table(
            runs,
            &[
                "group",
                "parameter",
                "seed",
                "source_nmi",
                "linear_cinfom",
                "linear_infom",
                "prediction_mse",
            ],
        );
        let mut points: BTreeMap<(String, String), PointRuns> = BTreeMap::new();
        let mut max_mse = 0.0f64;
        for run in runs {
            let Measurement::WhatWhere(m) = run.measurement else {
                unreachable!("what–where runs only")
            };
            max_mse = max_mse.max(m.prediction_mse);
            table.push(sweep_row(
                run,
                [
                    run.label["group"].clone(),
                    run.label["parameter"].clone(),
                    run.seed.to_string(),
                    m.source_nmi.to_string(),
                    super::cell(m.linear_cinfom),
                    super::cell(m.linear_infom),
                    m.prediction_mse.to_string(),
                ],
            ));
            let entry = points
                .entry((run.label["group"].clone(), run.label["parameter"].clone()))
                .or_insert(PointRuns {
                    nmi: m.source_nmi,
                    cinfom: Vec::new(),
                    infom: Vec::new(),
                });
            entry.cinfom.extend(m.linear_cinfom);
            entry.infom.extend(m.linear_infom);
        }
        let cinfom = curves(&points, &GROUPS, |p| &p.cinfom);
        let mut measured = curve_measures(&cinfom, "corner", &["corr", "diag"]);
        if let (Some(diag), Some(corner)) = (
            measured.get("diag_min_cinfom"),
            measured.get("corner_cinfom_at_max_nmi"),
        ) {
            measured.insert("diag_minus_corner_at_max_nmi".into(), diag - corner);
        }
        if let Some(v) = cinfom.get("uniform").and_then(|c| c.first()) {
            measured.insert("uniform_cinfom".into(), v.1);
        }
        if !runs.is_empty() {
            measured.insert("max_prediction_mse".into(), max_mse);
        }
        Summary {
            table,
            figure: Figure {
                columns: 1,
                panels: vec![curves_panel(
                    "Linear CInfoM vs source multiinformation",
                    "linear CInfoM",
                    &GROUPS,
                    &cinfom,
                )],
            },
            measured,
            notes: vec![format!(
                "{} runs: one-hot ({}×{} pairs) → {} ReLU → 2 linear outputs, {} full-batch Adam steps at lr {}; data sets weighted by pair counts.",
                runs.len(),
                self.values,
                self.values,
                self.hidden,
                self.training.steps,
                self.training.learning_rate
            )],
        }
    }
}
