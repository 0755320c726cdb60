//! Dorrell et al. 2025, Fig 4: an entorhinal-cortex simulation. An action-conditioned linear RNN
//! walks a periodic room and reports its position and the displacement to a reward. When the
//! reward is always at one cell, position and displacement are determined by each other and the
//! code mixes them; when the reward moves between rooms, the two are range-independent and the
//! code is modular (linear CInfoM of the states against position and displacement).

use std::collections::BTreeMap;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::cell;
use super::kind::{Kind, Label, Measured, RunStatus, sweep_table, throttled};
use crate::analysis::linalg::Matrix;
use crate::analysis::linear_info::linear_modularity;
use crate::analysis::stats::{mean, spearman};
use crate::data::grid_room::{Cell, RewardPlacement, Walk, covering_walk, displacement, index, random_walks};
use crate::data::inputs::InputDigests;
use crate::model::action_rnn::{self, Episode, Objective, Shape, Trained, Weights};
use crate::model::adam::AdamSettings;
use crate::render::figure::{Figure, Legend, Panel, Series};
use crate::render::table::Table;
use crate::rng::SplitMix64;
use crate::spec::domain::{self, Checked};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Training {
    pub iterations: usize,
    /// Rooms per batch (the authors: 10).
    pub rooms: usize,
    /// Actions per walk (the authors: 25).
    pub steps: usize,
    pub adam: AdamSettings,
    /// Standard deviation of the biases, I and R at initialisation (the authors: 0.1).
    pub init_scale: f64,
}

impl Training {
    /// Domain checks of the schedule and the objective, and a bound on one run's work: shared by
    /// the kinds that train the action-conditioned RNN (Fig 4 and Fig 5).
    pub fn validate(&self, objective: &Objective, hidden: usize) -> Checked {
        domain::count_in("training.iterations", self.iterations, 1, 100_000_000)?;
        domain::count_in("training.rooms", self.rooms, 1, 10_000)?;
        domain::count_in("training.steps", self.steps, 1, 10_000)?;
        domain::open_interval("training.adam.learning_rate", self.adam.learning_rate, 0.0, 1.0)?;
        domain::open_interval("training.adam.beta_1", self.adam.beta_1, 0.0, 1.0)?;
        domain::open_interval("training.adam.beta_2", self.adam.beta_2, 0.0, 1.0)?;
        domain::positive("training.adam.epsilon", self.adam.epsilon)?;
        domain::non_negative("training.init_scale", self.init_scale)?;
        domain::non_negative("objective.fit", objective.fit)?;
        domain::non_negative("objective.fit_tolerance", objective.fit_tolerance)?;
        domain::non_negative("objective.activity", objective.activity)?;
        domain::non_negative("objective.weight", objective.weight)?;
        domain::non_negative("objective.negativity", objective.negativity)?;
        let work = self.iterations as f64 * (self.rooms * (self.steps + 1)) as f64 * (hidden * hidden) as f64 * 4.0;
        if work > 1e15 {
            return Err(domain::OutOfDomain {
                param: "training.iterations".into(),
                message: format!(
                    "a run would take ≈ {work:.1e} multiply-adds (days on a CPU); lower `training.iterations`, `training.rooms`, `training.steps` or `hidden`"
                ),
            });
        }
        Ok(())
    }

    /// Trains one network from `init_seed`; iteration i's batch is `episodes` of the i-th
    /// stream of `data_seed`, so batches do not depend on each other (resumable, order-free).
    pub fn train(
        &self,
        shape: Shape,
        objective: &Objective,
        init_seed: u64,
        data_seed: u64,
        progress: &(dyn Fn(u64) + Sync),
        episodes: impl Fn(&mut SplitMix64) -> Vec<Episode>,
    ) -> Trained {
        let init = Weights::init(shape, self.init_scale, init_seed);
        let batch = |iteration: usize| episodes(&mut SplitMix64::derive(data_seed, iteration as u64));
        let on_iteration = throttled(progress, 100, self.iterations);
        action_rnn::train(init, objective, self.adam, self.iterations, batch, on_iteration)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub hidden: usize,
    /// Cells per side of the periodic room (the authors: 3).
    pub side: usize,
    /// The shares of rooms whose reward is at one of `fixed_cells`; one run per share and seed.
    pub shares_fixed: Vec<f64>,
    pub fixed_cells: Vec<Cell>,
    pub objective: Objective,
    pub training: Training,
    /// A run counts as trained when its fit MSE over its last tenth of training (on its own
    /// reward placement) is at most this.
    pub max_training_mse: f64,
}

/// One network at one share of fixed rewards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntorhinalRun {
    pub shape: Shape,
    /// Cells per side of the room.
    pub side: usize,
    pub placement: RewardPlacement,
    pub objective: Objective,
    pub training: Training,
    pub init_seed: u64,
    pub data_seed: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EntorhinalMeasurement {
    pub share_fixed: f64,
    /// Linear CInfoM and InfoM of the states against (position, displacement) indices, over every
    /// reward cell × the covering walk (the authors' evaluation).
    pub cinfom: Option<f64>,
    pub infom: Option<f64>,
    pub active_neurons: usize,
    /// MSE of the outputs on the same evaluation set (rewards at every cell, including cells a
    /// network trained on fixed rewards never saw).
    pub eval_mse: f64,
    /// Mean batch MSE over the last tenth of the logged training curve.
    pub training_mse: f64,
    pub diverged_at: Option<usize>,
    pub loss_curve: Vec<(usize, f64, f64)>,
}

#[derive(Debug, Default, Serialize)]
pub struct Measures {
    /// CInfoM when every reward is at the fixed cell (share 1).
    pub cinfom_always_fixed: Option<f64>,
    /// The lowest CInfoM among the shares below 1.
    pub min_cinfom_varied: Option<f64>,
    /// The mean CInfoM over the shares below 1.
    pub mean_cinfom_varied: Option<f64>,
    /// `min_cinfom_varied − cinfom_always_fixed`.
    pub varied_minus_always_fixed: Option<f64>,
    /// Spearman ρ of CInfoM against the share of fixed rewards, over all kept runs.
    pub spearman_cinfom_vs_share: Option<f64>,
    pub max_training_mse: Option<f64>,
    pub share_diverged: Option<f64>,
}

/// The evaluation set: for every reward cell, the states along the covering walk.
pub fn evaluation_walks(side: usize) -> Vec<Walk> {
    let actions = covering_walk(side);
    (0..side * side)
        .map(|k| Walk {
            reward: (k / side, k % side),
            actions: actions.clone(),
        })
        .collect()
}

pub(super) fn share_stream(share: f64) -> u64 {
    // A run's seeds come from its own share (its bits), not its place in the list.
    share.to_bits()
}

impl Params {
    fn kept<'a>(&self, runs: &'a [Measured<'_, Self>]) -> Vec<&'a EntorhinalMeasurement> {
        runs.iter()
            .map(|r| r.measurement)
            .filter(|m| self.status(m) == RunStatus::Trained)
            .collect()
    }

    fn status(&self, m: &EntorhinalMeasurement) -> RunStatus {
        RunStatus::of(m.diverged_at.is_some(), m.training_mse, self.max_training_mse)
    }
}

impl Kind for Params {
    const PAPER: crate::spec::Paper = crate::spec::Paper::Dorrell2025;
    const NAME: &'static str = "Entorhinal";
    type Recipe = EntorhinalRun;
    type Output = Trained;
    type Measurement = EntorhinalMeasurement;
    type Measures = Measures;

    fn validate(&self) -> Checked {
        domain::count_in("hidden", self.hidden, 1, 1024)?;
        domain::count_in("side", self.side, 2, 10)?;
        domain::count_in("shares_fixed", self.shares_fixed.len(), 1, 100)?;
        for &share in &self.shares_fixed {
            domain::interval("shares_fixed", share, 0.0, 1.0, (true, true))?;
        }
        let mut sorted = self.shares_fixed.clone();
        sorted.sort_by(f64::total_cmp);
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return Err(domain::OutOfDomain {
                param: "shares_fixed".into(),
                message: "`shares_fixed` lists a share twice; allowed: distinct shares".into(),
            });
        }
        domain::count_in("fixed_cells", self.fixed_cells.len(), 1, self.side * self.side)?;
        for cell in &self.fixed_cells {
            domain::count_in("fixed_cells", cell.0.max(cell.1), 0, self.side - 1)?;
        }
        self.training.validate(&self.objective, self.hidden)
    }

    fn runs(&self, seed: u64, _inputs: &InputDigests) -> Vec<(Label, EntorhinalRun)> {
        self.shares_fixed
            .iter()
            .map(|&share| {
                let label = BTreeMap::from([("share_fixed".to_string(), share.to_string())]);
                let mut seeds = SplitMix64::derive(seed, share_stream(share));
                let recipe = EntorhinalRun {
                    shape: Shape {
                        hidden: self.hidden,
                        inputs: self.side * self.side,
                        outputs: 2 * self.side * self.side,
                    },
                    side: self.side,
                    placement: RewardPlacement {
                        share_fixed: share,
                        fixed_cells: self.fixed_cells.clone(),
                    },
                    objective: self.objective,
                    training: self.training,
                    init_seed: seeds.next_u64(),
                    data_seed: seeds.next_u64(),
                };
                (label, recipe)
            })
            .collect()
    }

    fn work(recipe: &EntorhinalRun) -> u64 {
        recipe.training.iterations as u64
    }

    fn train(
        &self,
        recipes: &[&EntorhinalRun],
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
                    |rng| {
                        random_walks(t.rooms, t.steps, run.side, &run.placement, rng)
                            .iter()
                            .map(|walk| walk.episode(run.side))
                            .collect()
                    },
                )
            })
            .collect())
    }

    fn measure(&self, run: &EntorhinalRun, trained: &Trained) -> anyhow::Result<EntorhinalMeasurement> {
        let side = run.side;
        let n = run.shape.hidden;
        let (mut latents, mut sources) = (Vec::new(), Vec::new());
        let (mut squared, mut count) = (0.0, 0usize);
        for walk in evaluation_walks(side) {
            let states = trained.weights.states(&walk.episode(side));
            let outputs = trained.weights.outputs(&states);
            let o = 2 * side * side;
            for (t, cell) in walk.cells(side).into_iter().enumerate() {
                latents.push(states[t * n..(t + 1) * n].to_vec());
                sources.push(vec![
                    index(cell, side) as f64,
                    index(displacement(cell, walk.reward, side), side) as f64,
                ]);
                let target = crate::data::grid_room::targets(cell, walk.reward, side);
                for k in 0..o {
                    let d = outputs[t * o + k] - target[k];
                    squared += d * d;
                    count += 1;
                }
            }
        }
        let modularity = linear_modularity(&Matrix::from_rows(sources), &Matrix::from_rows(latents));
        Ok(EntorhinalMeasurement {
            share_fixed: run.placement.share_fixed,
            cinfom: modularity.map(|m| m.cinfom),
            infom: modularity.map(|m| m.infom),
            active_neurons: modularity.map_or(0, |m| m.active_latents),
            eval_mse: squared / count.max(1) as f64,
            training_mse: {
                let curve = &trained.loss_curve;
                let tail = &curve[curve.len() - curve.len().div_ceil(10)..];
                tail.iter().map(|&(_, _, mse)| mse).sum::<f64>() / tail.len().max(1) as f64
            },
            diverged_at: trained.diverged_at,
            loss_curve: trained.loss_curve.clone(),
        })
    }

    fn measures(&self, runs: &[Measured<'_, Self>]) -> Measures {
        let kept = self.kept(runs);
        let at = |fixed: bool| -> Vec<f64> {
            kept.iter()
                .filter(|m| (m.share_fixed >= 1.0) == fixed)
                .filter_map(|m| m.cinfom)
                .collect()
        };
        let (always, varied) = (at(true), at(false));
        let always_mean = mean(&always);
        let varied_min = varied.iter().cloned().reduce(f64::min);
        let (shares, cinfoms): (Vec<f64>, Vec<f64>) =
            kept.iter().filter_map(|m| m.cinfom.map(|c| (m.share_fixed, c))).unzip();
        Measures {
            cinfom_always_fixed: always_mean,
            min_cinfom_varied: varied_min,
            mean_cinfom_varied: mean(&varied),
            varied_minus_always_fixed: varied_min.zip(always_mean).map(|(v, a)| v - a),
            spearman_cinfom_vs_share: spearman(&shares, &cinfoms),
            max_training_mse: runs.iter().map(|r| r.measurement.training_mse).reduce(f64::max),
            share_diverged: (!runs.is_empty()).then(|| {
                runs.iter().filter(|r| r.measurement.diverged_at.is_some()).count() as f64 / runs.len() as f64
            }),
        }
    }

    fn table(&self, runs: &[Measured<'_, Self>]) -> Table {
        let columns = [
            "share_fixed",
            "seed",
            "status",
            "cinfom",
            "infom",
            "active_neurons",
            "training_mse",
            "eval_mse",
            "diverged_at",
        ];
        sweep_table(runs, &columns, |run| {
            let m = run.measurement;
            vec![vec![
                m.share_fixed.to_string(),
                run.seed.to_string(),
                self.status(m).label().to_string(),
                cell(m.cinfom),
                cell(m.infom),
                m.active_neurons.to_string(),
                m.training_mse.to_string(),
                m.eval_mse.to_string(),
                m.diverged_at.map_or_else(String::new, |s| s.to_string()),
            ]]
        })
    }

    fn figure(&self, runs: &[Measured<'_, Self>], _measures: &Measures) -> Figure {
        // The authors' plotted values (`Grid_Warp_Plot.ipynb`), for comparison.
        let published = vec![(1.0, 0.617), (0.75, 0.948), (0.5, 0.959), (0.25, 0.955), (0.0, 0.965)];
        let measured: Vec<(f64, f64)> = self
            .kept(runs)
            .iter()
            .filter_map(|m| m.cinfom.map(|c| (m.share_fixed, c)))
            .collect();
        let cinfom = Panel {
            title: "Linear CInfoM of position and displacement to reward".into(),
            x_label: "share of rooms with the reward at the fixed cell".into(),
            y_label: "linear CInfoM".into(),
            equal_aspect: false,
            legend: Legend::LowerLeft,
            series: vec![
                Series::points("published (authors' plot)", 1, published),
                Series::points("trained here", 0, measured),
            ],
        };
        let mut curves = Panel {
            title: "Training: fit MSE on each batch".into(),
            x_label: "iteration".into(),
            y_label: "MSE".into(),
            equal_aspect: false,
            legend: Legend::UpperRight,
            series: Vec::new(),
        };
        for (colour, run) in runs.iter().enumerate() {
            let m = run.measurement;
            let points = m.loss_curve.iter().map(|&(i, _, mse)| (i as f64, mse)).collect();
            curves
                .series
                .push(Series::line(format!("share {}", m.share_fixed), colour % 5, points));
        }
        Figure {
            columns: 2,
            panels: vec![cinfom, curves],
        }
    }

    fn notes(&self, runs: &[Measured<'_, Self>]) -> Vec<String> {
        let kept = self.kept(runs).len();
        vec![format!(
            "{} action-conditioned linear RNNs of {} units in a {}×{} periodic room, {} iterations of {} rooms × {} steps each; {kept} kept (training MSE ≤ {}, not diverged)",
            runs.len(),
            self.hidden,
            self.side,
            self.side,
            self.training.iterations,
            self.training.rooms,
            self.training.steps,
            self.max_training_mse,
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiments::kind::measure_names;

    #[test]
    fn the_evaluation_covers_every_position_and_displacement_pair() {
        let mut pairs: Vec<(usize, usize)> = evaluation_walks(3)
            .iter()
            .flat_map(|w| {
                w.cells(3)
                    .into_iter()
                    .map(move |c| (index(c, 3), index(displacement(c, w.reward, 3), 3)))
            })
            .collect();
        pairs.sort();
        pairs.dedup();
        assert_eq!(pairs.len(), 81);
    }

    #[test]
    fn the_readme_lists_every_measure() {
        let readme = include_str!("../../README.md");
        let section = &readme[readme.find("- `Entorhinal`").expect("a README entry")..];
        let section = &section[..section[2..].find("\n- `").map_or(section.len(), |i| i + 2)];
        for name in measure_names::<Measures>() {
            assert!(section.contains(&format!("`{name}`")), "README does not list `{name}`");
        }
    }
}
