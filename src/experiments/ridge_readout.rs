//! Dorrell et al. 2025, Fig 1c as the authors ran it (`Fig1_Basic.ipynb`): their 28-point set
//! and the same set less one point, each encoded by their network — a ReLU code whose linear
//! readout is the ridge solution at every step (`model/ridge_readout.rs`). The theory says one
//! set should be coded modularly and the other mixed; per run we measure the code's linear
//! CInfoM and its most mixed unit's angle, and per artefact whether the two sets' codes are
//! apart at all (the least modular code of one set against the most modular of the other), not
//! only on which side of an angle cut they fall. `OnePointApart` is the same panel on a pair of
//! sets the harness draws, with the Fig 1d autoencoder.

use std::collections::BTreeMap;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::cell;
use super::kind::{Kind, Label, Measured, RunStatus, sweep_table, throttled};
use super::one_point_apart::point_set_panel;
use crate::analysis::linalg::Matrix;
use crate::analysis::linear_info::linear_modularity;
use crate::analysis::mixing::most_mixed_neuron_angle;
use crate::analysis::stats::{mean, separation};
use crate::analysis::theory::{AngleGrid, TheoryCheck, check_two_sources};
use crate::data::inputs::InputDigests;
use crate::model::ridge_readout::{self, Encoder, Problem, RidgeObjective, RidgeTraining, Trained, code};
use crate::render::figure::{Figure, Legend, Panel, Series};
use crate::render::table::Table;
use crate::rng::SplitMix64;
use crate::spec::domain::{self, Checked};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The larger set's samples (s₁, s₂).
    pub points: Vec<[f64; 2]>,
    /// The point (0-based) the smaller set leaves out (the authors: `np.delete(points, 20, 1)`).
    pub drop_point: usize,
    /// Code units (the authors: 10).
    pub hidden: usize,
    pub objective: RidgeObjective,
    pub training: RidgeTraining,
    /// A run counts as trained when its kept encoder's fit error ‖S − Rᵀg_b‖_F is at most this.
    pub max_fit_error: f64,
}

/// One network on one set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RidgeRun {
    /// `full_set` or `less_one_point`.
    pub set: String,
    pub points: Vec<[f64; 2]>,
    pub hidden: usize,
    pub objective: RidgeObjective,
    pub training: RidgeTraining,
    pub init_seed: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RidgeMeasurement {
    pub set: String,
    pub points: Vec<[f64; 2]>,
    pub theory: TheoryCheck,
    /// Each unit's weights on the two (demeaned) sources.
    pub neurons: Vec<[f64; 2]>,
    pub most_mixed_angle: Option<f64>,
    pub cinfom: Option<f64>,
    pub infom: Option<f64>,
    pub fit_error: f64,
    pub best_step: usize,
    pub diverged_at: Option<usize>,
}

#[derive(Debug, Default, Serialize)]
pub struct Measures {
    /// The theory's mixing energy gain of each set (> 0: the theory calls it mixed).
    pub theory_gain_full_set: Option<f64>,
    pub theory_gain_less_one_point: Option<f64>,
    /// Mean linear CInfoM of the trained codes of each set.
    pub cinfom_full_set: Option<f64>,
    pub cinfom_less_one_point: Option<f64>,
    /// The lowest CInfoM on the full set minus the highest on the set less one point (> 0:
    /// every seed's codes are apart).
    pub cinfom_separation: Option<f64>,
    /// Mean angle of each set's most mixed live unit from a source axis (radians).
    pub angle_full_set: Option<f64>,
    pub angle_less_one_point: Option<f64>,
    pub max_fit_error: Option<f64>,
    pub share_learned: Option<f64>,
}

const SETS: [&str; 2] = ["full_set", "less_one_point"];

impl Params {
    fn status(&self, m: &RidgeMeasurement) -> RunStatus {
        RunStatus::of(m.diverged_at.is_some(), m.fit_error, self.max_fit_error)
    }

    fn kept<'a>(&self, runs: &'a [Measured<'_, Self>], set: &str) -> Vec<&'a RidgeMeasurement> {
        runs.iter()
            .map(|r| r.measurement)
            .filter(|m| m.set == set && self.status(m) == RunStatus::Trained)
            .collect()
    }
}

impl Kind for Params {
    const PAPER: crate::spec::Paper = crate::spec::Paper::Dorrell2025;
    const NAME: &'static str = "RidgeReadout";
    type Recipe = RidgeRun;
    type Output = Trained;
    type Measurement = RidgeMeasurement;
    type Measures = Measures;

    fn validate(&self) -> Checked {
        domain::count_in("points", self.points.len(), 3, 100_000)?;
        if let Some(i) = self.points.iter().position(|p| !p[0].is_finite() || !p[1].is_finite()) {
            return Err(domain::OutOfDomain {
                param: "points".into(),
                message: format!("point {i} is not finite"),
            });
        }
        domain::count_in("drop_point", self.drop_point, 0, self.points.len() - 1)?;
        domain::count_in("hidden", self.hidden, 1, 1024)?;
        domain::non_negative("objective.fit", self.objective.fit)?;
        domain::non_negative("objective.fit_threshold", self.objective.fit_threshold)?;
        domain::non_negative("objective.activity", self.objective.activity)?;
        domain::non_negative("objective.weight", self.objective.weight)?;
        domain::non_negative("objective.readout", self.objective.readout)?;
        // λ > 0 keeps g_b g_bᵀ + λI invertible for any code, dead units included.
        domain::positive("objective.ridge", self.objective.ridge)?;
        domain::count_in("training.steps", self.training.steps, 1, 100_000_000)?;
        domain::open_interval(
            "training.adam.learning_rate",
            self.training.adam.learning_rate,
            0.0,
            1.0,
        )?;
        domain::open_interval("training.adam.beta_1", self.training.adam.beta_1, 0.0, 1.0)?;
        domain::open_interval("training.adam.beta_2", self.training.adam.beta_2, 0.0, 1.0)?;
        domain::positive("training.adam.epsilon", self.training.adam.epsilon)?;
        domain::non_negative("training.init_sd", self.training.init_sd)?;
        domain::positive("max_fit_error", self.max_fit_error)?;
        Ok(())
    }

    fn runs(&self, seed: u64, _inputs: &InputDigests) -> Vec<(Label, RidgeRun)> {
        // One initialisation per seed for both sets, so they differ only in the left-out point.
        let init_seed = SplitMix64::for_identity(seed, "encoder").next_u64();
        let less: Vec<[f64; 2]> = self
            .points
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != self.drop_point)
            .map(|(_, p)| *p)
            .collect();
        [(SETS[0], self.points.clone()), (SETS[1], less)]
            .into_iter()
            .map(|(set, points)| {
                let label = BTreeMap::from([("set".to_string(), set.to_string())]);
                let recipe = RidgeRun {
                    set: set.to_string(),
                    points,
                    hidden: self.hidden,
                    objective: self.objective,
                    training: self.training,
                    init_seed,
                };
                (label, recipe)
            })
            .collect()
    }

    fn work(recipe: &RidgeRun) -> u64 {
        recipe.training.steps as u64
    }

    fn train(
        &self,
        recipes: &[&RidgeRun],
        _device: &Device,
        progress: &(dyn Fn(u64) + Sync),
        _threads: usize,
    ) -> anyhow::Result<Vec<Trained>> {
        Ok(recipes
            .iter()
            .map(|run| {
                let init = ridge_readout::init(run.hidden, &run.training, run.init_seed);
                let on_step = throttled(progress, 10_000, run.training.steps);
                ridge_readout::train(init, &Problem::new(&run.points), &run.objective, &run.training, on_step)
            })
            .collect())
    }

    fn measure(&self, run: &RidgeRun, trained: &Trained) -> anyhow::Result<RidgeMeasurement> {
        let problem = Problem::new(&run.points);
        let encoder: &Encoder = &trained.encoder;
        // The authors' metric: the samples against the code of their demeaned inputs.
        let codes: Vec<Vec<f64>> = problem.inputs.iter().map(|x| code(encoder, x)).collect();
        let sources: Vec<Vec<f64>> = run.points.iter().map(|p| p.to_vec()).collect();
        let modularity = linear_modularity(&Matrix::from_rows(sources), &Matrix::from_rows(codes));
        let neurons: Vec<[f64; 2]> = encoder.iter().map(|w| [w[0], w[1]]).collect();
        let set = &run.set;
        Ok(RidgeMeasurement {
            set: set.clone(),
            points: run.points.clone(),
            theory: check_two_sources(&run.points, AngleGrid::default())
                .map_err(|e| anyhow::anyhow!("the {set} cannot be checked against the theory: {e}"))?,
            most_mixed_angle: most_mixed_neuron_angle(&neurons),
            neurons,
            cinfom: modularity.map(|m| m.cinfom),
            infom: modularity.map(|m| m.infom),
            fit_error: trained.best.fit_error,
            best_step: trained.best_step,
            diverged_at: trained.diverged_at,
        })
    }

    fn measures(&self, runs: &[Measured<'_, Self>]) -> Measures {
        let of = |set: &str, f: &dyn Fn(&RidgeMeasurement) -> Option<f64>| -> Vec<f64> {
            self.kept(runs, set).into_iter().filter_map(f).collect()
        };
        let gain = |set: &str| {
            runs.iter()
                .map(|r| r.measurement)
                .find(|m| m.set == set)
                .map(|m| m.theory.mixing_energy_gain)
        };
        let (full, less) = (of(SETS[0], &|m| m.cinfom), of(SETS[1], &|m| m.cinfom));
        Measures {
            theory_gain_full_set: gain(SETS[0]),
            theory_gain_less_one_point: gain(SETS[1]),
            cinfom_full_set: mean(&full),
            cinfom_less_one_point: mean(&less),
            cinfom_separation: separation(&less, &full),
            angle_full_set: mean(&of(SETS[0], &|m| m.most_mixed_angle)),
            angle_less_one_point: mean(&of(SETS[1], &|m| m.most_mixed_angle)),
            max_fit_error: runs.iter().map(|r| r.measurement.fit_error).reduce(f64::max),
            share_learned: (!runs.is_empty()).then(|| {
                runs.iter()
                    .filter(|r| self.status(r.measurement) == RunStatus::Trained)
                    .count() as f64
                    / runs.len() as f64
            }),
        }
    }

    fn table(&self, runs: &[Measured<'_, Self>]) -> Table {
        let columns = [
            "seed",
            "set",
            "n_points",
            "theory_verdict",
            "mixing_energy_gain",
            "most_mixed_angle",
            "linear_cinfom",
            "linear_infom",
            "fit_error",
            "best_step",
            "status",
        ];
        sweep_table(runs, &columns, |run| {
            let m = run.measurement;
            vec![vec![
                run.seed.to_string(),
                m.set.clone(),
                m.points.len().to_string(),
                m.theory.verdict.as_str().to_string(),
                m.theory.mixing_energy_gain.to_string(),
                cell(m.most_mixed_angle),
                cell(m.cinfom),
                cell(m.infom),
                m.fit_error.to_string(),
                m.best_step.to_string(),
                self.status(m).label().to_string(),
            ]]
        })
    }

    fn figure(&self, runs: &[Measured<'_, Self>], measures: &Measures) -> Figure {
        // The first seed's network on each set, then every unit's weights on the two sources
        // (as the notebook's last plot): on an axis for a modular unit, off both for a mixed one.
        let mut panels: Vec<Panel> = SETS
            .iter()
            .filter_map(|set| runs.iter().find(|r| r.measurement.set == *set))
            .map(|run| {
                let m = run.measurement;
                let title = format!(
                    "{} ({} points, seed {}): theory {}, CInfoM {}",
                    m.set.replace('_', " "),
                    m.points.len(),
                    run.seed,
                    m.theory.verdict.as_str(),
                    m.cinfom.map_or("n/a".into(), |c| format!("{c:.3}"))
                );
                point_set_panel(title, &m.theory, &m.points, &m.neurons)
            })
            .collect();
        let mut weights = Panel {
            title: format!(
                "Unit weights |I₁|, |I₂|, every seed (CInfoM separation {})",
                measures.cinfom_separation.map_or("n/a".into(), |s| format!("{s:+.3}"))
            ),
            x_label: "|weight on source 1|".into(),
            y_label: "|weight on source 2|".into(),
            equal_aspect: true,
            legend: Legend::UpperRight,
            series: Vec::new(),
        };
        for (colour, set) in SETS.iter().enumerate() {
            let points = runs
                .iter()
                .filter(|r| r.measurement.set == *set)
                .flat_map(|r| r.measurement.neurons.iter().map(|w| (w[0].abs(), w[1].abs())))
                .collect();
            weights
                .series
                .push(Series::points(set.replace('_', " "), colour, points));
        }
        panels.push(weights);
        Figure { columns: 3, panels }
    }

    fn notes(&self, runs: &[Measured<'_, Self>]) -> Vec<String> {
        let count = |status: RunStatus| runs.iter().filter(|r| self.status(r.measurement) == status).count();
        vec![format!(
            "{} networks ({} ReLU units, ridge readout λ = {}), {} Adam steps at lr {} each, the lowest-loss encoder kept: {} trained, {} did not fit (fit error > {}), {} diverged; sets of {} and {} points (point {} left out).",
            runs.len(),
            self.hidden,
            self.objective.ridge,
            self.training.steps,
            self.training.adam.learning_rate,
            count(RunStatus::Trained),
            count(RunStatus::DidNotLearn),
            self.max_fit_error,
            count(RunStatus::Diverged),
            self.points.len(),
            self.points.len() - 1,
            self.drop_point,
        )]
    }
}
