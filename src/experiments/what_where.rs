//! Dorrell et al. 2025, Fig 2 (left): a supervised network reads a one-hot (what, where) pair
//! and reports both sources. Cutting a corner of the sources' range lowers the linear CInfoM of
//! its hidden layer as the sources' multiinformation grows; correlation and a hole along the
//! diagonal, which keep the range, lower it much less. (The authors did not publish this
//! training code; the loss terms are those of the rest of the paper.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use burn::tensor::Device;

use super::curves::{Curves, PointRuns, curves, curves_panel, cut_curve, kept_curve};
use super::domains::{MAX_STEPS, MAX_UNITS, adam, each};
use super::kind::{self, Kind, Label, Measured};
use crate::analysis::linalg::Matrix;
use crate::analysis::linear_info::linear_modularity;
use crate::analysis::multiinfo::{Normalisation, normalised_multiinformation};
use crate::data::inputs::InputDigests;
use crate::data::what_where::{WhatWhereData, counts, samples};
use crate::model::what_where::{self, SupervisedObjective, TwoLayerWeights, WhatWhereTraining};
use crate::render::figure::Figure;
use crate::render::table::Table;
use crate::rng::SplitMix64;
use crate::spec::domain::{self, Checked};

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
    /// Runs that may share one batched Burn program (the GPU path).
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

/// The values Fig 2 left's claims read; each `None` when its group has no kept runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Measures {
    /// Spearman correlation of the corner group's CInfoM with its sources' NMI.
    pub corner_spearman_cinfom_vs_nmi: Option<f64>,
    pub corner_cinfom_at_max_nmi: Option<f64>,
    pub corner_max_nmi: Option<f64>,
    pub corr_min_cinfom: Option<f64>,
    pub corr_max_nmi: Option<f64>,
    pub diag_min_cinfom: Option<f64>,
    pub diag_max_nmi: Option<f64>,
    /// The diagonal hole's lowest CInfoM less the corner's at its largest cut.
    pub diag_minus_corner_at_max_nmi: Option<f64>,
    pub uniform_cinfom: Option<f64>,
    pub max_prediction_mse: Option<f64>,
}

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
}

/// Linear CInfoM against source NMI, one curve per group (mean ± s.e. over seeds per point).
fn cinfom_curves(runs: &[Measured<'_, Params>]) -> Curves {
    let mut points: BTreeMap<(String, String), PointRuns> = BTreeMap::new();
    for run in runs {
        let m = run.measurement;
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
    curves(&points, &GROUPS, |p| &p.cinfom)
}

impl Kind for Params {
    const NAME: &'static str = "WhatWhere";
    const PAPER: crate::spec::Paper = crate::spec::Paper::Dorrell2025;
    // Written before the Kind trait, keyed as the old `RunRecipe::WhatWhere` until version 1:
    // training moved from Burn's batched graph to the hand-written f32 loss and gradient of
    // `model::what_where` with f64 Adam (rounding differs), so runs cached before it retrain.
    const VERSION: u32 = 1;
    const PIPELINE_DIVERGENCE: bool = true;
    type Recipe = WhatWhereRun;
    type Output = TwoLayerWeights;
    type Measurement = WhatWhereMeasurement;
    type Measures = Measures;

    fn validate(&self) -> Checked {
        // values² one-hot inputs; 1 leaves nothing to tell apart (and divides by zero).
        domain::count_in("values", self.values, 2, 100)?;
        domain::count_in("hidden", self.hidden, 1, MAX_UNITS)?;
        each("corner_cuts", &self.corner_cuts, |n, c| {
            domain::count_in(n, c, 0, 2 * self.values)
        })?;
        each("diag_radii", &self.diag_radii, |n, r| {
            domain::count_in(n, r, 0, self.values)
        })?;
        each("corr_extra", &self.corr_extra, |n, e| {
            domain::count_in(n, e, 0, 1_000_000)
        })?;
        domain::count_in("training.steps", self.training.steps, 1, MAX_STEPS)?;
        adam("training", self.training.learning_rate, None)
    }

    fn runs(&self, seed: u64, _inputs: &InputDigests) -> Vec<(Label, WhatWhereRun)> {
        self.datasets()
            .into_iter()
            .map(|(group, parameter, data)| {
                let init_seed = SplitMix64::for_identity(seed, &format!("{group}/{parameter}")).next_u64();
                (
                    BTreeMap::from([("group".into(), group.into()), ("parameter".into(), parameter)]),
                    WhatWhereRun {
                        values: self.values,
                        data,
                        hidden: self.hidden,
                        objective: self.objective,
                        training: self.training,
                        init_seed,
                    },
                )
            })
            .collect()
    }

    fn work(recipe: &WhatWhereRun) -> u64 {
        recipe.training.steps as u64
    }

    fn batch_key(recipe: &WhatWhereRun) -> String {
        recipe.batch_key()
    }

    fn train(
        &self,
        recipes: &[&WhatWhereRun],
        device: &Device,
        progress: &(dyn Fn(u64) + Sync),
        _threads: usize,
    ) -> anyhow::Result<Vec<TwoLayerWeights>> {
        let first = recipes[0];
        let (x, y, _) = first.inputs_targets_weights();
        if *device == Device::flex() {
            // On the CPU the hand-written loop trains one run at a time.
            return Ok(recipes
                .iter()
                .map(|run| {
                    let weights = run.inputs_targets_weights().2;
                    let on_step = kind::batch_progress(progress, 1, run.training.steps);
                    what_where::train(
                        &x,
                        &y,
                        &weights,
                        &run.initial_weights(),
                        &run.objective,
                        &run.training,
                        on_step,
                    )
                })
                .collect());
        }
        // Elsewhere one batched program: the runs of a batch share everything but data weights
        // and init.
        let weights: Vec<Vec<f64>> = recipes.iter().map(|run| run.inputs_targets_weights().2).collect();
        let inits: Vec<_> = recipes.iter().map(|run| run.initial_weights()).collect();
        let (steps, runs) = (first.training.steps, recipes.len());
        let on_step = kind::batch_progress(progress, runs, steps);
        Ok(what_where::train_batch(
            &x,
            &y,
            &weights,
            &inits,
            &first.objective,
            &first.training,
            device,
            on_step,
        ))
    }

    fn measure(&self, recipe: &WhatWhereRun, output: &TwoLayerWeights) -> anyhow::Result<WhatWhereMeasurement> {
        Ok(measure(recipe, output))
    }

    fn measures(&self, runs: &[Measured<'_, Self>]) -> Measures {
        let cinfom = cinfom_curves(runs);
        let corner = cut_curve(&cinfom, "corner");
        let (corr, diag) = (kept_curve(&cinfom, "corr"), kept_curve(&cinfom, "diag"));
        Measures {
            corner_spearman_cinfom_vs_nmi: corner.spearman_cinfom_vs_nmi,
            corner_cinfom_at_max_nmi: corner.cinfom_at_max_nmi,
            corner_max_nmi: corner.max_nmi,
            corr_min_cinfom: corr.min_cinfom,
            corr_max_nmi: corr.max_nmi,
            diag_min_cinfom: diag.min_cinfom,
            diag_max_nmi: diag.max_nmi,
            diag_minus_corner_at_max_nmi: diag.min_cinfom.zip(corner.cinfom_at_max_nmi).map(|(d, c)| d - c),
            uniform_cinfom: cinfom.get("uniform").and_then(|c| c.first()).map(|p| p.1),
            max_prediction_mse: runs
                .iter()
                .map(|r| r.measurement.prediction_mse)
                .reduce(f64::max)
                .map(|m| m.max(0.0)),
        }
    }

    fn table(&self, runs: &[Measured<'_, Self>]) -> Table {
        let columns = [
            "group",
            "parameter",
            "seed",
            "source_nmi",
            "linear_cinfom",
            "linear_infom",
            "prediction_mse",
        ];
        kind::sweep_table(runs, &columns, |run| {
            let m = run.measurement;
            vec![vec![
                run.label["group"].clone(),
                run.label["parameter"].clone(),
                run.seed.to_string(),
                m.source_nmi.to_string(),
                super::cell(m.linear_cinfom),
                super::cell(m.linear_infom),
                m.prediction_mse.to_string(),
            ]]
        })
    }

    fn figure(&self, runs: &[Measured<'_, Self>], _: &Measures) -> Figure {
        Figure {
            columns: 1,
            panels: vec![curves_panel(
                "Linear CInfoM vs source multiinformation",
                "linear CInfoM",
                &GROUPS,
                &cinfom_curves(runs),
            )],
        }
    }

    fn notes(&self, runs: &[Measured<'_, Self>]) -> Vec<String> {
        vec![format!(
            "{} runs: one-hot ({}×{} pairs) → {} ReLU → 2 linear outputs, {} full-batch Adam steps at lr {}; data sets weighted by pair counts.",
            runs.len(),
            self.values,
            self.values,
            self.hidden,
            self.training.steps,
            self.training.learning_rate
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiments::kind::ErasedKind;

    fn params() -> Params {
        Params {
            values: 9,
            corr_extra: vec![4],
            corner_cuts: vec![2, 8],
            diag_radii: vec![1],
            hidden: 25,
            objective: SupervisedObjective {
                prediction: 1.0,
                activity: 1e-2,
                weight: 1e-4,
            },
            training: WhatWhereTraining {
                steps: 10,
                learning_rate: 1e-3,
            },
        }
    }

    /// (group, parameter, seed, NMI, CInfoM, MSE) → hand-built measurements.
    fn measurements(rows: &[(&str, &str, u64, f64, f64, f64)]) -> (Vec<Label>, Vec<WhatWhereMeasurement>) {
        rows.iter()
            .map(|&(group, parameter, _, nmi, cinfom, mse)| {
                (
                    BTreeMap::from([("group".into(), group.into()), ("parameter".into(), parameter.into())]),
                    WhatWhereMeasurement {
                        source_nmi: nmi,
                        linear_cinfom: Some(cinfom),
                        linear_infom: Some(cinfom / 2.0),
                        prediction_mse: mse,
                    },
                )
            })
            .unzip()
    }

    const ROWS: [(&str, &str, u64, f64, f64, f64); 6] = [
        ("uniform", "-", 0, 0.0, 0.99, 1e-6),
        ("corner", "2", 0, 0.01, 0.9, 2e-6),
        ("corner", "8", 0, 0.14, 0.3, 3e-6),
        ("corner", "8", 1, 0.14, 0.5, 1e-6),
        ("corr", "4", 0, 0.11, 0.85, 1e-6),
        ("diag", "1", 0, 0.04, 0.95, 5e-6),
    ];

    fn with_runs<T>(f: impl FnOnce(&[Measured<'_, Params>]) -> T) -> T {
        let (labels, measured) = measurements(&ROWS);
        let sweep = BTreeMap::new();
        let runs: Vec<Measured<'_, Params>> = labels
            .iter()
            .zip(&measured)
            .zip(ROWS)
            .map(|((label, measurement), row)| Measured {
                sweep: &sweep,
                seed: row.2,
                label,
                measurement,
            })
            .collect();
        f(&runs)
    }

    #[test]
    fn measures_read_the_curves() {
        let m = with_runs(|runs| params().measures(runs));
        assert_eq!(m.corner_spearman_cinfom_vs_nmi, Some(-1.0));
        // The largest cut's CInfoM is the mean over its seeds.
        assert_eq!(m.corner_cinfom_at_max_nmi, Some(0.4));
        assert_eq!(m.corner_max_nmi, Some(0.14));
        assert_eq!(m.corr_min_cinfom, Some(0.85));
        assert_eq!(m.diag_min_cinfom, Some(0.95));
        assert_eq!(m.diag_max_nmi, Some(0.04));
        assert!((m.diag_minus_corner_at_max_nmi.unwrap() - 0.55).abs() < 1e-12);
        assert_eq!(m.uniform_cinfom, Some(0.99));
        assert_eq!(m.max_prediction_mse, Some(5e-6));
        let empty = params().measures(&[]);
        assert_eq!(empty, Measures::default(), "no runs, no values");
    }

    #[test]
    fn table_has_a_row_per_run_and_the_figure_a_curve_per_group() {
        let table = with_runs(|runs| params().table(runs));
        assert_eq!(
            table.header,
            [
                "group",
                "parameter",
                "seed",
                "source_nmi",
                "linear_cinfom",
                "linear_infom",
                "prediction_mse"
            ]
        );
        assert_eq!(table.rows.len(), ROWS.len());
        assert_eq!(table.rows[2][..5], ["corner", "8", "0", "0.14", "0.3"]);
        let figure = with_runs(|runs| params().figure(runs, &Measures::default()));
        assert_eq!(figure.panels.len(), 1);
        let names: Vec<&str> = figure.panels[0].series.iter().map(|s| s.label.as_str()).collect();
        for group in GROUPS {
            assert!(names.iter().any(|n| n.contains(group)), "{group} in {names:?}");
        }
    }

    #[test]
    fn claims_may_name_the_measures_of_before_the_move() {
        // The names the loader accepted before WhatWhere moved onto the Kind trait.
        let before = [
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
            "share_diverged",
        ];
        let mut names = ErasedKind::measure_names(&params());
        names.sort();
        let mut expected = before.map(String::from).to_vec();
        expected.sort();
        assert_eq!(names, expected);
    }

    #[test]
    fn version_1_retires_the_old_enum_variant_s_keys() {
        // Trained by Burn's batched graph until version 1; those cached runs must not be read
        // as the hand-written loop's.
        let key = crate::experiments::kind::assert_versioned_key(&params(), 3);
        assert!(!key.contains("{\"WhatWhere\":"), "{key}");
    }
}
