//! Dorrell et al. 2025, Fig 3a–d: a recurrent network driven by pulse trains outputs two
//! cosines. When the frequencies' ratio is irrational the two outputs' joint range fills the
//! square and neurons specialise on one frequency each (modular); when it is rational the range
//! is a closed curve and neurons mix both.
//!
//! Per run, each neuron's spectral share at each frequency ([`crate::analysis::spectral`]) and
//! the population's frequency modularity; per artefact, the two ratio groups compared.

use std::collections::BTreeMap;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::cell;
use super::kind::{Kind, Label, Measured, RunStatus, sweep_table, throttled};
use crate::analysis::spectral::{frequency_modularity, magnitude_spectrum, spectral_shares};
use crate::analysis::stats::{median, overlap_share};
use crate::analysis::theory::{AngleGrid, Verdict, check_two_sources};
use crate::data::frequency_task::{Drive, Ratio, TimeBase, draw_pair, sequence, target_frequencies};
use crate::data::inputs::InputDigests;
use crate::model::frequency_rnn::{self, Activation, Objective, Shape, Trained, Training, Weights};
use crate::render::figure::{Figure, Legend, Panel, Series};
use crate::render::table::Table;
use crate::rng::SplitMix64;
use crate::spec::domain::{self, Checked};

/// How many frequency pairs of each ratio, drawn from `data_seed`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairDraws {
    pub rational: usize,
    pub irrational: usize,
    /// Integer-ratio pairs, a group the authors' code leaves out (optional, default 0).
    #[serde(default)]
    pub harmonic: usize,
    pub data_seed: u64,
    /// Pairs are redrawn until |f1 − f2| exceeds this (the authors: 1 linear, 2 ReLU).
    pub min_gap: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// `Linear` (Fig 3a–b) or `Relu` (Fig 3c–d).
    pub activation: Activation,
    /// `AtTargets` for the linear RNN, `SumAndDifference` for the ReLU RNN (authors' code).
    pub drive: Drive,
    /// Hidden units (the authors' code requires it and sets no default).
    pub hidden: usize,
    pub time: TimeBase,
    pub pairs: PairDraws,
    pub objective: Objective,
    pub training: Training,
    /// Half-width of a frequency's spectral window (the authors: 0.2).
    pub window: f64,
    /// A run counts as having learned the task when its target MSE (unweighted) is at most
    /// this; runs above it are reported and left out of the comparison.
    pub max_target_mse: f64,
}

/// One network on one frequency pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrequencyRun {
    pub activation: Activation,
    pub drive: Drive,
    pub hidden: usize,
    pub time: TimeBase,
    pub ratio: Ratio,
    pub pair: u64,
    pub frequencies: (f64, f64),
    pub objective: Objective,
    pub training: Training,
    pub init_seed: u64,
}

impl FrequencyRun {
    fn shape(&self) -> Shape {
        Shape {
            hidden: self.hidden,
            inputs: 2,
            outputs: 2,
        }
    }
}

/// What one trained network shows.
#[derive(Debug, Clone, PartialEq)]
pub struct FrequencyMeasurement {
    pub ratio: Ratio,
    /// The run's size and time base (a sweep may change them, so the summary reads them here).
    pub hidden: usize,
    pub time: TimeBase,
    pub frequencies: [f64; 2],
    /// Per neuron, its shares at the two target frequencies (`None`: a silent neuron).
    pub shares: Vec<Option<[f64; 2]>>,
    pub modularity: Option<f64>,
    /// Unweighted mean squared output error of the returned weights.
    pub target_mse: f64,
    pub diverged_at: Option<usize>,
    /// The range-independence condition on the two targets (cos f1 t, cos f2 t) over the
    /// sequence: what a nonnegative, energy-efficient code of these sources should be.
    pub theory: Option<Verdict>,
    /// Hidden states, steps × hidden (for the example spectra).
    pub states: Vec<f64>,
    pub loss_curve: Vec<(usize, f64)>,
}

impl FrequencyMeasurement {
    fn status(&self, max_mse: f64) -> RunStatus {
        RunStatus::of(self.diverged_at.is_some(), self.target_mse, max_mse)
    }
}

/// What the artefact measures. Modularity is the authors' per-run score (1: each neuron's
/// in-window spectrum at one frequency; 0: split evenly), over runs that learned the task.
#[derive(Debug, Default, Serialize)]
pub struct Measures {
    pub median_modularity_irrational: Option<f64>,
    pub median_modularity_rational: Option<f64>,
    /// Irrational median minus rational median.
    pub median_modularity_gap: Option<f64>,
    /// Share of (rational, irrational) run pairs where the rational run is at least as modular.
    pub modularity_overlap: Option<f64>,
    pub min_modularity_irrational: Option<f64>,
    pub max_modularity_rational: Option<f64>,
    /// Median over integer-ratio pairs, when the spec draws them.
    pub median_modularity_harmonic: Option<f64>,
    /// Rational median minus harmonic median.
    pub rational_minus_harmonic: Option<f64>,
    /// Share of runs that learned the task (target MSE ≤ `max_target_mse`, not diverged).
    pub share_learned: Option<f64>,
    /// Median modularity of runs whose targets the theory calls modular, minus that of runs
    /// it calls mixed.
    pub theory_modular_minus_mixed: Option<f64>,
    pub share_diverged: Option<f64>,
}

fn group_stream(ratio: Ratio, pair: u64) -> u64 {
    // Each run's initialisation comes from its own identity (ratio, pair index), so adding
    // pairs never changes another run's key.
    match ratio {
        Ratio::Rational => pair * 2,
        Ratio::Irrational => pair * 2 + 1,
        Ratio::Harmonic => (1 << 63) | pair,
    }
}

impl Params {
    fn kept<'a>(&self, runs: &'a [Measured<'_, Self>]) -> Vec<&'a FrequencyMeasurement> {
        runs.iter()
            .map(|r| r.measurement)
            .filter(|m| m.status(self.max_target_mse) == RunStatus::Trained)
            .collect()
    }

    fn modularities(&self, runs: &[Measured<'_, Self>], ratio: Ratio) -> Vec<f64> {
        self.kept(runs)
            .into_iter()
            .filter(|m| m.ratio == ratio)
            .filter_map(|m| m.modularity)
            .collect()
    }
}

impl Kind for Params {
    const PAPER: crate::spec::Paper = crate::spec::Paper::Dorrell2025;
    const NAME: &'static str = "TwoFrequencies";
    type Recipe = FrequencyRun;
    type Output = Trained;
    type Measurement = FrequencyMeasurement;
    type Measures = Measures;

    fn validate(&self) -> Checked {
        domain::count_in("hidden", self.hidden, 1, 1024)?;
        domain::count_in("time.steps", self.time.steps, 2, 100_000)?;
        domain::positive("time.dt", self.time.dt)?;
        domain::count_in("pairs.rational", self.pairs.rational, 0, 1000)?;
        domain::count_in("pairs.irrational", self.pairs.irrational, 0, 1000)?;
        domain::count_in("pairs.harmonic", self.pairs.harmonic, 0, 1000)?;
        // Irrational draws differ by at most 4π − 1 ≈ 11.6: a larger gap would redraw forever.
        domain::open_interval("pairs.min_gap", self.pairs.min_gap, -1.0, 11.0)?;
        domain::count_in("training.iterations", self.training.iterations, 1, 10_000_000)?;
        domain::open_interval("training.learning_rate", self.training.learning_rate, 0.0, 1.0)?;
        domain::positive("training.clip_norm", self.training.clip_norm)?;
        domain::open_interval("training.beta_1", self.training.beta_1, 0.0, 1.0)?;
        domain::open_interval("training.beta_2", self.training.beta_2, 0.0, 1.0)?;
        domain::positive("training.epsilon", self.training.epsilon)?;
        domain::non_negative("objective.target", self.objective.target)?;
        domain::non_negative("objective.activity", self.objective.activity)?;
        domain::non_negative("objective.weight", self.objective.weight)?;
        domain::non_negative("objective.positivity", self.objective.positivity)?;
        domain::positive("window", self.window)?;
        domain::positive("max_target_mse", self.max_target_mse)?;
        // Work bound: iterations × steps × hidden² multiply-adds, forward and back.
        let work = self.training.iterations as f64 * self.time.steps as f64 * (self.hidden * self.hidden) as f64 * 4.0;
        if work > 1e14 {
            return Err(domain::OutOfDomain {
                param: "training.iterations".into(),
                message: format!(
                    "a run would take ≈ {work:.1e} multiply-adds (days on a CPU); lower `training.iterations`, `time.steps` or `hidden`"
                ),
            });
        }
        Ok(())
    }

    fn runs(&self, seed: u64, _inputs: &InputDigests) -> Vec<(Label, FrequencyRun)> {
        let groups = [
            (Ratio::Rational, self.pairs.rational),
            (Ratio::Irrational, self.pairs.irrational),
            (Ratio::Harmonic, self.pairs.harmonic),
        ];
        groups
            .into_iter()
            .flat_map(|(ratio, count)| (0..count as u64).map(move |pair| (ratio, pair)))
            .map(|(ratio, pair)| {
                let label = BTreeMap::from([
                    ("group".to_string(), ratio.name().to_string()),
                    ("pair".to_string(), pair.to_string()),
                ]);
                let recipe = FrequencyRun {
                    activation: self.activation,
                    drive: self.drive,
                    hidden: self.hidden,
                    time: self.time,
                    ratio,
                    pair,
                    frequencies: draw_pair(ratio, self.pairs.data_seed, pair, self.pairs.min_gap),
                    objective: self.objective,
                    training: self.training,
                    init_seed: SplitMix64::derive(seed, group_stream(ratio, pair)).next_u64(),
                };
                (label, recipe)
            })
            .collect()
    }

    /// Runs that differ only in their frequencies and initial weights train side by side
    /// ([`frequency_rnn::train_side_by_side`]).
    fn batch_key(recipe: &FrequencyRun) -> String {
        let shared = (
            recipe.activation,
            recipe.shape(),
            recipe.time,
            recipe.objective,
            recipe.training,
        );
        serde_json::to_string(&shared).expect("recipes are plain data")
    }

    fn work(recipe: &FrequencyRun) -> u64 {
        recipe.training.iterations as u64
    }

    fn train(
        &self,
        recipes: &[&FrequencyRun],
        _device: &Device,
        progress: &(dyn Fn(u64) + Sync),
        _threads: usize,
    ) -> anyhow::Result<Vec<Trained>> {
        let Some(first) = recipes.first() else {
            return Ok(Vec::new());
        };
        anyhow::ensure!(
            recipes.iter().all(|run| Self::batch_key(run) == Self::batch_key(first)),
            "TwoFrequencies trains side by side only runs with one batch key (activation, shape, time base, objective, training)"
        );
        let sequences: Vec<_> = recipes
            .iter()
            .map(|run| sequence(run.drive, run.frequencies, run.time))
            .collect();
        let runs: Vec<_> = recipes
            .iter()
            .zip(&sequences)
            .map(|(run, seq)| (Weights::init(run.shape(), run.init_seed), seq))
            .collect();
        let mut callbacks: Vec<_> = recipes
            .iter()
            .map(|run| throttled(progress, 1000, run.training.iterations))
            .collect();
        let mut callbacks: Vec<&mut dyn FnMut(usize)> = callbacks.iter_mut().map(|c| c as _).collect();
        Ok(frequency_rnn::train_side_by_side(
            &runs,
            first.activation,
            &first.objective,
            &first.training,
            &mut callbacks,
        ))
    }

    fn measure(&self, run: &FrequencyRun, trained: &Trained) -> anyhow::Result<FrequencyMeasurement> {
        let seq = sequence(run.drive, run.frequencies, run.time);
        let (states, outputs) = trained.weights.run(run.activation, &seq.inputs);
        let n = run.hidden;
        let frequencies = target_frequencies(run.drive, run.frequencies);
        let shares: Vec<Option<[f64; 2]>> = (0..n)
            .map(|unit| {
                let trace: Vec<f64> = (0..run.time.steps).map(|t| states[t * n + unit]).collect();
                spectral_shares(&trace, run.time.dt, &frequencies, self.window).map(|s| [s[0], s[1]])
            })
            .collect();
        let present: Vec<Vec<f64>> = shares.iter().flatten().map(|s| s.to_vec()).collect();
        let sources: Vec<[f64; 2]> = seq.targets.iter().map(|t| [t[0], t[1]]).collect();
        let theory = check_two_sources(&sources, AngleGrid::default())
            .ok()
            .map(|c| c.verdict);
        let errors = outputs
            .iter()
            .zip(seq.targets.iter().flatten())
            .map(|(y, t)| (y - t) * (y - t));
        Ok(FrequencyMeasurement {
            ratio: run.ratio,
            hidden: run.hidden,
            time: run.time,
            frequencies,
            modularity: frequency_modularity(&present),
            shares,
            target_mse: errors.sum::<f64>() / outputs.len() as f64,
            diverged_at: trained.diverged_at,
            theory,
            states,
            loss_curve: trained.loss_curve.clone(),
        })
    }

    fn measures(&self, runs: &[Measured<'_, Self>]) -> Measures {
        let irrational = self.modularities(runs, Ratio::Irrational);
        let rational = self.modularities(runs, Ratio::Rational);
        let (mi, mr) = (median(irrational.clone()), median(rational.clone()));
        let mh = median(self.modularities(runs, Ratio::Harmonic));
        let by_theory = |verdict: Verdict| {
            median(
                self.kept(runs)
                    .into_iter()
                    .filter(|m| m.theory == Some(verdict))
                    .filter_map(|m| m.modularity)
                    .collect(),
            )
        };
        let share = |pred: &dyn Fn(&FrequencyMeasurement) -> bool| {
            (!runs.is_empty()).then(|| runs.iter().filter(|r| pred(r.measurement)).count() as f64 / runs.len() as f64)
        };
        Measures {
            median_modularity_irrational: mi,
            median_modularity_rational: mr,
            median_modularity_gap: mi.zip(mr).map(|(a, b)| a - b),
            modularity_overlap: overlap_share(&rational, &irrational),
            min_modularity_irrational: irrational.iter().cloned().reduce(f64::min),
            max_modularity_rational: rational.iter().cloned().reduce(f64::max),
            median_modularity_harmonic: mh,
            rational_minus_harmonic: mr.zip(mh).map(|(a, b)| a - b),
            theory_modular_minus_mixed: by_theory(Verdict::Modular)
                .zip(by_theory(Verdict::Mixed))
                .map(|(a, b)| a - b),
            share_learned: share(&|m| m.status(self.max_target_mse) == RunStatus::Trained),
            share_diverged: share(&|m| m.diverged_at.is_some()),
        }
    }

    fn table(&self, runs: &[Measured<'_, Self>]) -> Table {
        let columns = [
            "group",
            "pair",
            "seed",
            "f1",
            "f2",
            "theory",
            "status",
            "target_mse",
            "run_modularity",
            "neuron",
            "share_f1",
            "share_f2",
        ];
        // One row per neuron.
        sweep_table(runs, &columns, |run| {
            let m = run.measurement;
            m.shares
                .iter()
                .enumerate()
                .map(|(neuron, shares)| {
                    vec![
                        m.ratio.name().to_string(),
                        run.label["pair"].clone(),
                        run.seed.to_string(),
                        m.frequencies[0].to_string(),
                        m.frequencies[1].to_string(),
                        m.theory.map_or("", Verdict::as_str).to_string(),
                        m.status(self.max_target_mse).label().to_string(),
                        m.target_mse.to_string(),
                        cell(m.modularity),
                        neuron.to_string(),
                        cell(shares.map(|s| s[0])),
                        cell(shares.map(|s| s[1])),
                    ]
                })
                .collect()
        })
    }

    fn figure(&self, runs: &[Measured<'_, Self>], measures: &Measures) -> Figure {
        let kept = self.kept(runs);
        let mut panels = Vec::new();
        for ratio in [Ratio::Rational, Ratio::Irrational, Ratio::Harmonic] {
            if let Some(example) = kept.iter().find(|m| m.ratio == ratio) {
                panels.push(example_spectra(example));
            }
        }
        // Every neuron of every kept run: its share at f1 against its share at f2.
        let mut tuning = Panel {
            title: "Neurons' spectral shares (all kept runs)".into(),
            x_label: "share at f1".into(),
            y_label: "share at f2".into(),
            equal_aspect: true,
            legend: Legend::UpperRight,
            series: Vec::new(),
        };
        let mut scores = Panel {
            title: format!(
                "Frequency modularity per run (medians {} / {})",
                fmt(measures.median_modularity_rational),
                fmt(measures.median_modularity_irrational)
            ),
            x_label: "0 = rational ratio, 1 = irrational, 2 = harmonic (integer ratio)".into(),
            y_label: "modularity".into(),
            equal_aspect: false,
            legend: Legend::LowerLeft,
            series: Vec::new(),
        };
        for (colour, ratio) in [Ratio::Rational, Ratio::Irrational, Ratio::Harmonic]
            .into_iter()
            .enumerate()
        {
            let group: Vec<&&FrequencyMeasurement> = kept.iter().filter(|m| m.ratio == ratio).collect();
            let points = group
                .iter()
                .flat_map(|m| m.shares.iter().flatten().map(|s| (s[0], s[1])))
                .collect();
            tuning.series.push(Series::points(ratio.name(), colour, points));
            let spread = group.len().max(1) as f64;
            let dots = group
                .iter()
                .enumerate()
                .filter_map(|(k, m)| {
                    m.modularity
                        .map(|q| (colour as f64 + 0.3 * (k as f64 / spread - 0.5), q))
                })
                .collect();
            scores.series.push(Series::points(ratio.name(), colour, dots));
        }
        panels.push(tuning);
        panels.push(scores);
        Figure { columns: 2, panels }
    }

    fn notes(&self, runs: &[Measured<'_, Self>]) -> Vec<String> {
        let count = |status: RunStatus| {
            runs.iter()
                .filter(|r| r.measurement.status(self.max_target_mse) == status)
                .count()
        };
        vec![format!(
            "{} {:?} RNNs ({} units unless swept), {} iterations each: {} trained, {} did not learn (target MSE > {}), {} diverged",
            runs.len(),
            self.activation,
            self.hidden,
            self.training.iterations,
            count(RunStatus::Trained),
            count(RunStatus::DidNotLearn),
            self.max_target_mse,
            count(RunStatus::Diverged),
        )]
    }
}

fn fmt(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |v| format!("{v:.2}"))
}

/// The magnitude spectra of a run's four most active neurons, with the target frequencies.
fn example_spectra(m: &FrequencyMeasurement) -> Panel {
    let (hidden, time) = (m.hidden, m.time);
    let trace = |unit: usize| {
        (0..time.steps)
            .map(|t| m.states[t * hidden + unit])
            .collect::<Vec<f64>>()
    };
    let mut units: Vec<(usize, f64)> = (0..hidden)
        .map(|u| {
            let (_, mags) = magnitude_spectrum(&trace(u), time.dt);
            (u, mags.iter().sum())
        })
        .collect();
    units.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut series = Vec::new();
    let mut top = 0.0f64;
    for (colour, &(unit, _)) in units.iter().take(4).enumerate() {
        let (omegas, mags) = magnitude_spectrum(&trace(unit), time.dt);
        top = mags.iter().cloned().fold(top, f64::max);
        let points = omegas.into_iter().zip(mags).filter(|(w, _)| *w <= 25.0).collect();
        series.push(Series::line(format!("neuron {unit}"), colour, points));
    }
    for f in m.frequencies {
        series.push(Series::segments("", 4, vec![(f, 0.0), (f, top)]));
    }
    Panel {
        title: format!(
            "{} pair f = {:.2}, {:.2}: modularity {}",
            m.ratio.name(),
            m.frequencies[0],
            m.frequencies[1],
            fmt(m.modularity)
        ),
        x_label: "angular frequency ω".into(),
        y_label: "|DFT| of the neuron's activity".into(),
        equal_aspect: false,
        legend: Legend::UpperRight,
        series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiments::kind::measure_names;

    #[test]
    fn the_readme_lists_every_measure() {
        let readme = include_str!("../../README.md");
        let section = &readme[readme.find("- `TwoFrequencies`").expect("a README entry")..];
        let section = &section[..section[2..].find("\n- `").map_or(section.len(), |i| i + 2)];
        for name in measure_names::<Measures>() {
            assert!(section.contains(&format!("`{name}`")), "README does not list `{name}`");
        }
    }
}
