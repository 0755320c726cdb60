//! Dorrell et al. 2025, Fig 5: mixed selectivity from a correlated missing variable. The Fig 4
//! network (one recurrent matrix per action) walks rooms with 3 objects and reports the way to
//! each. In half the rooms the objects are placed in a correlated layout. A neuron tuned to one
//! object then also carries information about the others, so an experimenter who records only
//! some of the objects sees it as mixed; with the missing object included it is modular again.
//!
//! Measured per network, on rooms from its own training distribution walked along a path that
//! visits every cell: CInfoM and InfoM (the authors' kNN estimator, discrete sources) of the
//! states against the displacement to every object, and again with one object left out.

use std::collections::BTreeMap;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::cell;
use super::entorhinal::{Training, share_stream};
use super::kind::{Kind, Label, Measured, RunStatus, sweep_table};
use crate::analysis::info_metrics::{InfoOptions, info_modularity};
use crate::analysis::linalg::Matrix;
use crate::analysis::stats::mean;
use crate::data::inputs::InputDigests;
use crate::data::object_room::{OBJECTS, covering_episode, displacement_class, draw_room, random_episodes, visited};
use crate::model::action_rnn::{Objective, Shape, Trained};
use crate::render::figure::{Figure, Legend, Panel, Series};
use crate::render::table::Table;
use crate::rng::SplitMix64;
use crate::spec::domain::{self, Checked};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub hidden: usize,
    /// Cells per side of the periodic room (the authors: 3).
    pub side: usize,
    /// The shares of rooms in the correlated layout; one network per share and seed (the
    /// authors: 0.5; 0 is the control, where no object predicts another).
    pub shares_correlated: Vec<f64>,
    pub objective: Objective,
    pub training: Training,
    /// Rooms drawn from a network's own training distribution to measure it on.
    pub eval_rooms: usize,
    /// The object an experimenter does not record (0-based).
    pub missing_object: usize,
    /// The kNN estimator's settings (the authors' defaults if left out).
    #[serde(default)]
    pub info: InfoOptions,
    /// A run counts as trained when its evaluation accuracy (outputs thresholded at ±½, as the
    /// notebook's `calc_acc`) is at least this.
    pub min_accuracy: f64,
}

/// One network at one share of correlated rooms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissingVariableRun {
    pub shape: Shape,
    pub side: usize,
    pub share_correlated: f64,
    pub objective: Objective,
    pub training: Training,
    pub init_seed: u64,
    pub data_seed: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MissingVariableMeasurement {
    pub share_correlated: f64,
    /// CInfoM / InfoM against every object's displacement.
    pub cinfom_all: Option<f64>,
    pub infom_all: Option<f64>,
    /// The same with the missing object left out of the sources.
    pub cinfom_observed: Option<f64>,
    pub infom_observed: Option<f64>,
    /// Per active neuron: its NMI with the missing object and the largest with a recorded one.
    pub neuron_nmi: Vec<(f64, f64)>,
    pub accuracy: f64,
    pub diverged_at: Option<usize>,
}

#[derive(Debug, Default, Serialize)]
pub struct Measures {
    /// Mean over the networks trained with correlated rooms (share > 0).
    pub cinfom_all_correlated: Option<f64>,
    pub cinfom_observed_correlated: Option<f64>,
    /// `cinfom_all_correlated − cinfom_observed_correlated`: how much modularity the missing
    /// variable explains.
    pub missing_variable_gap: Option<f64>,
    /// The same gap for the control networks (share 0).
    pub missing_variable_gap_control: Option<f64>,
    /// `missing_variable_gap − missing_variable_gap_control`.
    pub gap_beyond_control: Option<f64>,
    pub infom_all_correlated: Option<f64>,
    pub infom_observed_correlated: Option<f64>,
    pub min_accuracy: Option<f64>,
    pub share_diverged: Option<f64>,
}

impl Params {
    fn status(&self, m: &MissingVariableMeasurement) -> RunStatus {
        RunStatus::of(m.diverged_at.is_some(), -m.accuracy, -self.min_accuracy)
    }

    /// Means of `value` over the trained runs that are (or are not) correlated.
    fn mean_of(
        &self,
        runs: &[Measured<'_, Self>],
        correlated: bool,
        value: impl Fn(&MissingVariableMeasurement) -> Option<f64>,
    ) -> Option<f64> {
        let values: Vec<f64> = runs
            .iter()
            .map(|r| r.measurement)
            .filter(|m| self.status(m) == RunStatus::Trained && (m.share_correlated > 0.0) == correlated)
            .filter_map(value)
            .collect();
        mean(&values)
    }
}

impl Kind for Params {
    const PAPER: crate::spec::Paper = crate::spec::Paper::Dorrell2025;
    const NAME: &'static str = "MissingVariable";
    type Recipe = MissingVariableRun;
    type Output = Trained;
    type Measurement = MissingVariableMeasurement;
    type Measures = Measures;

    fn validate(&self) -> Checked {
        domain::count_in("hidden", self.hidden, 1, 1024)?;
        domain::count_in("side", self.side, 2, 10)?;
        domain::count_in("shares_correlated", self.shares_correlated.len(), 1, 100)?;
        for &share in &self.shares_correlated {
            domain::interval("shares_correlated", share, 0.0, 1.0, (true, true))?;
        }
        let mut sorted = self.shares_correlated.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(domain::OutOfDomain {
                param: "shares_correlated".into(),
                message: "`shares_correlated` lists a share twice; allowed: distinct shares".into(),
            });
        }
        domain::count_in("missing_object", self.missing_object, 0, OBJECTS - 1)?;
        domain::count_in("eval_rooms", self.eval_rooms, 2, 100_000)?;
        domain::count_in("info.neighbours", self.info.neighbours, 1, 100)?;
        domain::count_in("info.duplicate", self.info.duplicate, 1, 10)?;
        domain::non_negative("info.z_noise", self.info.z_noise)?;
        domain::interval("min_accuracy", self.min_accuracy, 0.0, 1.0, (true, true))?;
        self.training.validate(&self.objective, self.hidden)
    }

    fn runs(&self, seed: u64, _inputs: &InputDigests) -> Vec<(Label, MissingVariableRun)> {
        let cells = self.side * self.side;
        self.shares_correlated
            .iter()
            .map(|&share| {
                let label = BTreeMap::from([("share_correlated".to_string(), share.to_string())]);
                let mut seeds = SplitMix64::derive(seed, share_stream(share));
                let recipe = MissingVariableRun {
                    shape: Shape {
                        hidden: self.hidden,
                        inputs: OBJECTS * cells,
                        outputs: 2 * OBJECTS,
                    },
                    side: self.side,
                    share_correlated: share,
                    objective: self.objective,
                    training: self.training,
                    init_seed: seeds.next_u64(),
                    data_seed: seeds.next_u64(),
                };
                (label, recipe)
            })
            .collect()
    }

    fn work(recipe: &MissingVariableRun) -> u64 {
        recipe.training.iterations as u64
    }

    fn train(
        &self,
        recipes: &[&MissingVariableRun],
        _device: &Device,
        progress: &(dyn Fn(u64) + Sync),
        _threads: usize,
    ) -> anyhow::Result<Vec<Trained>> {
        Ok(recipes
            .iter()
            .map(|run| {
                let t = run.training;
                t.train(
                    run.shape,
                    &run.objective,
                    run.init_seed,
                    run.data_seed,
                    progress,
                    |rng| random_episodes(t.rooms, t.steps, run.side, run.share_correlated, rng),
                )
            })
            .collect())
    }

    fn measure(&self, run: &MissingVariableRun, trained: &Trained) -> anyhow::Result<MissingVariableMeasurement> {
        let (side, n) = (run.side, run.shape.hidden);
        let mut rng = SplitMix64::for_identity(run.data_seed, "evaluation");
        let (mut latents, mut sources) = (Vec::new(), Vec::new());
        let (mut correct, mut labels) = (0usize, 0usize);
        for _ in 0..self.eval_rooms {
            let (_, layout) = draw_room(side, run.share_correlated, &mut rng);
            let episode = covering_episode(&layout, side);
            let states = trained.weights.states(&episode);
            let outputs = trained.weights.outputs(&states);
            for (t, &agent) in visited(&episode.actions, side).iter().enumerate() {
                latents.push(states[t * n..(t + 1) * n].to_vec());
                sources.push(
                    layout
                        .iter()
                        .map(|&o| displacement_class(agent, o, side))
                        .collect::<Vec<u32>>(),
                );
            }
            for (y, target) in outputs.iter().zip(&episode.targets) {
                let predicted = if *y > 0.5 {
                    1.0
                } else if *y < -0.5 {
                    -1.0
                } else {
                    0.0
                };
                correct += usize::from(predicted == *target);
                labels += 1;
            }
        }
        let latents = Matrix::from_rows(latents);
        let all = info_modularity(&sources, &latents, &self.info);
        let observed_sources: Vec<Vec<u32>> = sources
            .iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .filter(|&(k, _)| k != self.missing_object)
                    .map(|(_, &v)| v)
                    .collect()
            })
            .collect();
        let observed = info_modularity(&observed_sources, &latents, &self.info);
        let neuron_nmi = (0..n)
            .filter(|&j| all.active[j])
            .map(|j| {
                let recorded = (0..OBJECTS)
                    .filter(|&k| k != self.missing_object)
                    .map(|k| all.nmi[k][j])
                    .fold(0.0, f64::max);
                (all.nmi[self.missing_object][j], recorded)
            })
            .collect();
        Ok(MissingVariableMeasurement {
            share_correlated: run.share_correlated,
            cinfom_all: all.cinfom,
            infom_all: all.infom,
            cinfom_observed: observed.cinfom,
            infom_observed: observed.infom,
            neuron_nmi,
            accuracy: correct as f64 / labels.max(1) as f64,
            diverged_at: trained.diverged_at,
        })
    }

    fn measures(&self, runs: &[Measured<'_, Self>]) -> Measures {
        let with = self.mean_of(runs, true, |m| m.cinfom_all);
        let without = self.mean_of(runs, true, |m| m.cinfom_observed);
        let gap = |correlated: bool| {
            self.mean_of(runs, correlated, |m| {
                m.cinfom_all.zip(m.cinfom_observed).map(|(a, o)| a - o)
            })
        };
        Measures {
            cinfom_all_correlated: with,
            cinfom_observed_correlated: without,
            missing_variable_gap: gap(true),
            missing_variable_gap_control: gap(false),
            gap_beyond_control: gap(true).zip(gap(false)).map(|(c, u)| c - u),
            infom_all_correlated: self.mean_of(runs, true, |m| m.infom_all),
            infom_observed_correlated: self.mean_of(runs, true, |m| m.infom_observed),
            min_accuracy: runs.iter().map(|r| r.measurement.accuracy).reduce(f64::min),
            share_diverged: (!runs.is_empty()).then(|| {
                runs.iter().filter(|r| r.measurement.diverged_at.is_some()).count() as f64 / runs.len() as f64
            }),
        }
    }

    fn table(&self, runs: &[Measured<'_, Self>]) -> Table {
        let columns = [
            "share_correlated",
            "seed",
            "status",
            "accuracy",
            "cinfom_all",
            "cinfom_observed",
            "infom_all",
            "infom_observed",
            "active_neurons",
            "diverged_at",
        ];
        sweep_table(runs, &columns, |run| {
            let m = run.measurement;
            vec![vec![
                m.share_correlated.to_string(),
                run.seed.to_string(),
                self.status(m).label().to_string(),
                m.accuracy.to_string(),
                cell(m.cinfom_all),
                cell(m.cinfom_observed),
                cell(m.infom_all),
                cell(m.infom_observed),
                m.neuron_nmi.len().to_string(),
                m.diverged_at.map_or_else(String::new, |s| s.to_string()),
            ]]
        })
    }

    fn figure(&self, runs: &[Measured<'_, Self>], measures: &Measures) -> Figure {
        let mut scores = Panel {
            title: format!(
                "CInfoM with and without object {} (gap {} correlated, {} control)",
                self.missing_object + 1,
                fmt(measures.missing_variable_gap),
                fmt(measures.missing_variable_gap_control)
            ),
            x_label: "share of rooms in the correlated layout".into(),
            y_label: "CInfoM".into(),
            equal_aspect: false,
            legend: Legend::LowerLeft,
            series: Vec::new(),
        };
        let point = |value: fn(&MissingVariableMeasurement) -> Option<f64>| -> Vec<(f64, f64)> {
            runs.iter()
                .filter_map(|r| value(r.measurement).map(|v| (r.measurement.share_correlated, v)))
                .collect()
        };
        scores
            .series
            .push(Series::points("every object recorded", 0, point(|m| m.cinfom_all)));
        scores.series.push(Series::points(
            format!("object {} missing", self.missing_object + 1),
            1,
            point(|m| m.cinfom_observed),
        ));
        let mut neurons = Panel {
            title: "Active neurons: what they tell about the missing and the recorded objects".into(),
            x_label: format!("NMI with object {} (missing)", self.missing_object + 1),
            y_label: "largest NMI with a recorded object".into(),
            equal_aspect: true,
            legend: Legend::UpperRight,
            series: Vec::new(),
        };
        for (colour, run) in runs.iter().enumerate() {
            let m = run.measurement;
            neurons.series.push(Series::points(
                format!("share {} (seed {})", m.share_correlated, run.seed),
                colour % 5,
                m.neuron_nmi.clone(),
            ));
        }
        Figure {
            columns: 2,
            panels: vec![scores, neurons],
        }
    }

    fn notes(&self, runs: &[Measured<'_, Self>]) -> Vec<String> {
        let kept = runs
            .iter()
            .filter(|r| self.status(r.measurement) == RunStatus::Trained)
            .count();
        vec![format!(
            "{} action-conditioned linear RNNs of {} units in a {}×{} periodic room with {OBJECTS} objects, {} iterations of {} rooms × {} steps each; {kept} kept (evaluation accuracy ≥ {}, not diverged); measured on {} rooms each",
            runs.len(),
            self.hidden,
            self.side,
            self.side,
            self.training.iterations,
            self.training.rooms,
            self.training.steps,
            self.min_accuracy,
            self.eval_rooms,
        )]
    }
}

fn fmt(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |v| format!("{v:+.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::object_room::displacement_doubled;

    /// States and sources of a hand-built code on rooms of the training distribution: per object,
    /// 4 neurons that read only that object's displacement (or, `mixed`, all objects' summed).
    fn hand_built(mixed: bool) -> (Vec<Vec<u32>>, Matrix) {
        let mut rng = SplitMix64::new(11);
        let (mut sources, mut latents) = (Vec::new(), Vec::new());
        for _ in 0..150 {
            let (_, layout) = draw_room(3, 0.5, &mut rng);
            let episode = covering_episode(&layout, 3);
            for agent in visited(&episode.actions, 3) {
                sources.push(
                    layout
                        .iter()
                        .map(|&o| displacement_class(agent, o, 3))
                        .collect::<Vec<u32>>(),
                );
                let features: Vec<[f64; 4]> = layout
                    .iter()
                    .map(|&o| {
                        let (dx, dy) = displacement_doubled(agent, o, 3);
                        let (dx, dy) = (dx as f64, dy as f64);
                        [dx + 3.0, dy + 3.0, 3.0 - dx, 3.0 - dy]
                    })
                    .collect();
                let row = (0..OBJECTS * 4)
                    .map(|j| {
                        if mixed {
                            features.iter().map(|f| f[j % 4]).sum::<f64>() + j as f64 * 0.01
                        } else {
                            features[j / 4][j % 4]
                        }
                    })
                    .collect();
                latents.push(row);
            }
        }
        (sources, Matrix::from_rows(latents))
    }

    #[test]
    fn the_measure_sees_a_modular_code_and_the_mixing_a_missing_object_causes() {
        let drop_third = |rows: &[Vec<u32>]| -> Vec<Vec<u32>> { rows.iter().map(|r| r[..2].to_vec()).collect() };
        let options = InfoOptions::default();
        let (sources, modular) = hand_built(false);
        let all = info_modularity(&sources, &modular, &options).cinfom.unwrap();
        let observed = info_modularity(&drop_third(&sources), &modular, &options)
            .cinfom
            .unwrap();
        assert!(all > 0.8, "a modular code scores {all}");
        // Object 3's neurons now carry information only through its correlation with objects
        // 1 and 2, which it shares with both: they look mixed.
        assert!(
            all - observed > 0.2,
            "{all} with every object vs {observed} without the third"
        );
        let (sources, mixed) = hand_built(true);
        let mixed_all = info_modularity(&sources, &mixed, &options).cinfom.unwrap();
        assert!(mixed_all < 0.3, "a code summing all objects scores {mixed_all}");
    }
}
