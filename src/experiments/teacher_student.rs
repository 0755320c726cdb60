//! Dorrell et al. 2025, Fig 3f–g: a ReLU student RNN learns to reproduce a 2-unit tanh teacher
//! whose hidden states follow range-manipulated distributions. Cutting the corners off the
//! square of teacher states shrinks their joint range, and the student's code of those states
//! mixes; oversampling one or both diagonals makes the states as dependent (same source
//! multiinformation) while keeping the whole square as their range, and the code stays modular.
//!
//! Per run: linear CInfoM of the teacher's states (2 sources) against the student's states, and
//! the source multiinformation of the teacher's states; per artefact, each condition's line of
//! CInfoM against multiinformation, compared at a matched multiinformation.

use std::collections::BTreeMap;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::cell;
use super::kind::{Kind, Label, Measured, RunStatus, sweep_table, throttled};
use crate::analysis::linalg::Matrix;
use crate::analysis::linear_info::linear_modularity;
use crate::analysis::multiinfo::{Normalisation, discretise_auto, normalised_multiinformation};
use crate::analysis::stats::{least_squares_line, spearman};
use crate::data::frequency_task::Sequence;
use crate::data::inputs::InputDigests;
use crate::data::teacher_rnn::{StateRange, Teacher, TeacherSequence, sequences};
use crate::model::frequency_rnn::{Activation, Objective, Shape};
use crate::model::student_rnn::{self, Trained, Training};
use crate::render::figure::{Figure, Legend, Panel, Series};
use crate::render::table::Table;
use crate::rng::SplitMix64;
use crate::spec::domain::{self, Checked};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Student units (the authors: 64).
    pub hidden: usize,
    /// Steps per sequence (the authors: 20).
    pub steps: usize,
    /// One student per condition and seed.
    pub conditions: Vec<StateRange>,
    /// Training set size (the authors: 10,000 sequences), cycled through in batches.
    pub train_sequences: usize,
    /// Fresh sequences of the same condition on which the student is measured (the authors: 2,000).
    pub eval_sequences: usize,
    pub objective: Objective,
    pub training: Training,
    /// A run counts as trained when its output MSE on the evaluation set is at most this.
    pub max_eval_mse: f64,
    /// The source multiinformation at which the conditions' lines are compared.
    pub matched_nmi: f64,
    /// Runs whose source multiinformation exceeds this are left out of the lines (the authors'
    /// plot: 0.08).
    pub max_source_nmi: f64,
}

/// One student on one condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudentRun {
    pub shape: Shape,
    pub steps: usize,
    pub range: StateRange,
    pub train_sequences: usize,
    pub eval_sequences: usize,
    pub objective: Objective,
    pub training: Training,
    pub teacher_seed: u64,
    pub data_seed: u64,
    pub init_seed: u64,
}

impl StudentRun {
    fn teacher_sequences(&self, count: usize, seed: u64) -> Vec<TeacherSequence> {
        sequences(&Teacher::new(self.teacher_seed), self.range, count, self.steps, seed)
    }

    fn training_data(&self) -> Vec<Sequence> {
        self.teacher_sequences(self.train_sequences, self.data_seed)
            .into_iter()
            .map(|s| s.sequence)
            .collect()
    }

    fn evaluation_data(&self) -> Vec<TeacherSequence> {
        let seed = SplitMix64::for_identity(self.data_seed, "evaluation").next_u64();
        self.teacher_sequences(self.eval_sequences, seed)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StudentMeasurement {
    pub range: StateRange,
    /// (Σ H(sᵢ) − H(s)) / Σ H(sᵢ) of the teacher's states on the evaluation set, binned as numpy's
    /// `bins='auto'` (the authors' x axis).
    pub source_nmi: f64,
    pub cinfom: Option<f64>,
    pub infom: Option<f64>,
    pub active_neurons: usize,
    pub eval_mse: f64,
    pub final_fit_weight: f64,
    pub diverged_at: Option<usize>,
    /// A few hundred teacher states, for the figure.
    pub example_states: Vec<[f64; 2]>,
}

#[derive(Debug, Default, Serialize)]
pub struct Measures {
    /// Mean CInfoM of the students of the whole square.
    pub cinfom_uniform: Option<f64>,
    /// Slope of CInfoM against source multiinformation, least squares over the uniform runs and
    /// the condition's runs up to `max_source_nmi`.
    pub slope_corner_cut: Option<f64>,
    pub slope_diagonal: Option<f64>,
    pub slope_diagonals: Option<f64>,
    /// The diagonal condition's line minus the corner cut's line at `matched_nmi`.
    pub diagonal_minus_corner_cut_at_matched_nmi: Option<f64>,
    pub diagonals_minus_corner_cut_at_matched_nmi: Option<f64>,
    /// Spearman ρ of CInfoM against multiinformation over the uniform and corner-cut runs.
    pub spearman_cinfom_vs_nmi_corner_cut: Option<f64>,
    /// The largest source multiinformation among kept corner-cut runs (how far the sweep reaches).
    pub max_nmi_corner_cut: Option<f64>,
    /// Share of runs trained (not diverged, evaluation MSE ≤ `max_eval_mse`).
    pub share_learned: Option<f64>,
    pub share_diverged: Option<f64>,
}

const GROUPS: [&str; 3] = ["corner cut", "diagonal oversampled", "both diagonals oversampled"];

impl Params {
    fn status(&self, m: &StudentMeasurement) -> RunStatus {
        RunStatus::of(m.diverged_at.is_some(), m.eval_mse, self.max_eval_mse)
    }

    /// (source NMI, CInfoM) of the kept runs of `group` and of the uniform square, up to
    /// `max_source_nmi`.
    fn line_points(&self, runs: &[Measured<'_, Self>], group: &str) -> Vec<(f64, f64)> {
        runs.iter()
            .map(|r| r.measurement)
            .filter(|m| self.status(m) == RunStatus::Trained && m.source_nmi <= self.max_source_nmi)
            .filter(|m| m.range.group() == group || m.range == StateRange::Uniform)
            .filter_map(|m| m.cinfom.map(|c| (m.source_nmi, c)))
            .collect()
    }

    fn line(&self, runs: &[Measured<'_, Self>], group: &str) -> Option<(f64, f64)> {
        let (x, y): (Vec<f64>, Vec<f64>) = self.line_points(runs, group).into_iter().unzip();
        least_squares_line(&x, &y)
    }
}

impl Kind for Params {
    const PAPER: crate::spec::Paper = crate::spec::Paper::Dorrell2025;
    const NAME: &'static str = "TeacherStudent";
    // Version 1: the student's minibatch loss and gradient moved from f64 (faer's products) to
    // the hand-written f32 loop of `model::student_batch`, the authors' float32; runs cached
    // before it retrain.
    const VERSION: u32 = 1;
    type Recipe = StudentRun;
    type Output = Trained;
    type Measurement = StudentMeasurement;
    type Measures = Measures;

    fn validate(&self) -> Checked {
        domain::count_in("hidden", self.hidden, 1, 1024)?;
        domain::count_in("steps", self.steps, 1, 10_000)?;
        domain::count_in("conditions", self.conditions.len(), 1, 100)?;
        for condition in &self.conditions {
            condition.check().map_err(|message| domain::OutOfDomain {
                param: "conditions".into(),
                message,
            })?;
        }
        domain::count_in("train_sequences", self.train_sequences, 1, 1_000_000)?;
        domain::count_in("eval_sequences", self.eval_sequences, 2, 1_000_000)?;
        domain::count_in("training.iterations", self.training.iterations, 1, 10_000_000)?;
        domain::count_in("training.batch", self.training.batch, 1, 100_000)?;
        domain::open_interval(
            "training.adam.learning_rate",
            self.training.adam.learning_rate,
            0.0,
            1.0,
        )?;
        domain::open_interval("training.adam.beta_1", self.training.adam.beta_1, 0.0, 1.0)?;
        domain::open_interval("training.adam.beta_2", self.training.adam.beta_2, 0.0, 1.0)?;
        domain::positive("training.adam.epsilon", self.training.adam.epsilon)?;
        domain::positive("training.clip_norm", self.training.clip_norm)?;
        if let Some(geco) = self.training.geco {
            domain::non_negative("training.geco.tolerance", geco.tolerance)?;
            domain::open_interval("training.geco.rate", geco.rate, 0.0, 10.0)?;
            domain::interval("training.geco.smoothing", geco.smoothing, 0.0, 1.0, (true, false))?;
        }
        domain::positive("objective.target", self.objective.target)?;
        domain::non_negative("objective.activity", self.objective.activity)?;
        domain::non_negative("objective.weight", self.objective.weight)?;
        domain::non_negative("objective.positivity", self.objective.positivity)?;
        domain::positive("max_eval_mse", self.max_eval_mse)?;
        domain::interval("matched_nmi", self.matched_nmi, 0.0, 1.0, (true, true))?;
        domain::interval("max_source_nmi", self.max_source_nmi, 0.0, 1.0, (false, true))?;
        // Work bound: iterations × batch × steps × hidden² multiply-adds, forward and back.
        let work = (self.training.iterations * self.training.batch * self.steps) as f64
            * (self.hidden * self.hidden) as f64
            * 3.0;
        if work > 1e15 {
            return Err(domain::OutOfDomain {
                param: "training.iterations".into(),
                message: format!(
                    "a run would take ≈ {work:.1e} multiply-adds (days on a CPU); lower `training.iterations`, `training.batch`, `steps` or `hidden`"
                ),
            });
        }
        Ok(())
    }

    fn runs(&self, seed: u64, _inputs: &InputDigests) -> Vec<(Label, StudentRun)> {
        // One teacher and one student initialisation per seed, shared by every condition, so the
        // conditions differ only in their data; each condition's data come from its own identity.
        let teacher_seed = SplitMix64::for_identity(seed, "teacher").next_u64();
        let init_seed = SplitMix64::for_identity(seed, "student").next_u64();
        self.conditions
            .iter()
            .map(|&range| {
                let identity = format!("{range:?}");
                let label = BTreeMap::from([
                    ("group".to_string(), range.group().to_string()),
                    ("level".to_string(), range.level().to_string()),
                ]);
                let recipe = StudentRun {
                    shape: Shape {
                        hidden: self.hidden,
                        inputs: 2,
                        outputs: 2,
                    },
                    steps: self.steps,
                    range,
                    train_sequences: self.train_sequences,
                    eval_sequences: self.eval_sequences,
                    objective: self.objective,
                    training: self.training,
                    teacher_seed,
                    data_seed: SplitMix64::for_identity(seed, &identity).next_u64(),
                    init_seed,
                };
                (label, recipe)
            })
            .collect()
    }

    fn work(recipe: &StudentRun) -> u64 {
        recipe.training.iterations as u64
    }

    fn train(
        &self,
        recipes: &[&StudentRun],
        _device: &Device,
        progress: &(dyn Fn(u64) + Sync),
        threads: usize,
    ) -> anyhow::Result<Vec<Trained>> {
        Ok(recipes
            .iter()
            .map(|run| {
                let init = student_rnn::init(run.shape, run.init_seed);
                let on_iteration = throttled(progress, 100, run.training.iterations);
                student_rnn::train(
                    init,
                    &run.objective,
                    &run.training,
                    &run.training_data(),
                    threads,
                    on_iteration,
                )
            })
            .collect())
    }

    fn measure(&self, run: &StudentRun, trained: &Trained) -> anyhow::Result<StudentMeasurement> {
        let (mut latents, mut sources) = (Vec::new(), Vec::new());
        let (mut squared, mut count) = (0.0, 0usize);
        let n = run.shape.hidden;
        let evaluation = run.evaluation_data();
        for teacher in &evaluation {
            let (states, outputs) = trained.weights.run(Activation::Relu, &teacher.sequence.inputs);
            for (t, state) in teacher.states.iter().enumerate() {
                latents.push(states[t * n..(t + 1) * n].to_vec());
                sources.push(state.to_vec());
                for (k, target) in teacher.sequence.targets[t].iter().enumerate() {
                    squared += (outputs[t * 2 + k] - target).powi(2);
                    count += 1;
                }
            }
        }
        let source_nmi = normalised_multiinformation(&discretise_auto(&sources), Normalisation::BySumOfMarginals);
        let modularity = linear_modularity(&Matrix::from_rows(sources), &Matrix::from_rows(latents));
        Ok(StudentMeasurement {
            range: run.range,
            source_nmi,
            cinfom: modularity.map(|m| m.cinfom),
            infom: modularity.map(|m| m.infom),
            active_neurons: modularity.map_or(0, |m| m.active_latents),
            eval_mse: squared / count.max(1) as f64,
            final_fit_weight: trained.curve.last().map_or(run.objective.target, |p| p.fit_weight),
            diverged_at: trained.diverged_at,
            example_states: evaluation
                .iter()
                .flat_map(|s| s.states.iter().copied())
                .take(400)
                .collect(),
        })
    }

    fn measures(&self, runs: &[Measured<'_, Self>]) -> Measures {
        let uniform: Vec<f64> = runs
            .iter()
            .map(|r| r.measurement)
            .filter(|m| m.range == StateRange::Uniform && self.status(m) == RunStatus::Trained)
            .filter_map(|m| m.cinfom)
            .collect();
        let at_matched = |group: &str| self.line(runs, group).map(|(a, b)| a + b * self.matched_nmi);
        let gap = |group: &str| at_matched(group).zip(at_matched(GROUPS[0])).map(|(d, c)| d - c);
        let corner = self.line_points(runs, GROUPS[0]);
        let (x, y): (Vec<f64>, Vec<f64>) = corner.iter().copied().unzip();
        let share = |pred: &dyn Fn(&StudentMeasurement) -> bool| {
            (!runs.is_empty()).then(|| runs.iter().filter(|r| pred(r.measurement)).count() as f64 / runs.len() as f64)
        };
        Measures {
            cinfom_uniform: (!uniform.is_empty()).then(|| uniform.iter().sum::<f64>() / uniform.len() as f64),
            slope_corner_cut: self.line(runs, GROUPS[0]).map(|l| l.1),
            slope_diagonal: self.line(runs, GROUPS[1]).map(|l| l.1),
            slope_diagonals: self.line(runs, GROUPS[2]).map(|l| l.1),
            diagonal_minus_corner_cut_at_matched_nmi: gap(GROUPS[1]),
            diagonals_minus_corner_cut_at_matched_nmi: gap(GROUPS[2]),
            spearman_cinfom_vs_nmi_corner_cut: spearman(&x, &y),
            max_nmi_corner_cut: runs
                .iter()
                .map(|r| r.measurement)
                .filter(|m| m.range.group() == GROUPS[0] && self.status(m) == RunStatus::Trained)
                .map(|m| m.source_nmi)
                .reduce(f64::max),
            share_learned: share(&|m| self.status(m) == RunStatus::Trained),
            share_diverged: share(&|m| m.diverged_at.is_some()),
        }
    }

    fn table(&self, runs: &[Measured<'_, Self>]) -> Table {
        let columns = [
            "group",
            "level",
            "seed",
            "source_nmi",
            "cinfom",
            "infom",
            "active_neurons",
            "eval_mse",
            "final_fit_weight",
            "status",
        ];
        sweep_table(runs, &columns, |run| {
            let m = run.measurement;
            vec![vec![
                m.range.group().to_string(),
                m.range.level().to_string(),
                run.seed.to_string(),
                m.source_nmi.to_string(),
                cell(m.cinfom),
                cell(m.infom),
                m.active_neurons.to_string(),
                m.eval_mse.to_string(),
                m.final_fit_weight.to_string(),
                self.status(m).label().to_string(),
            ]]
        })
    }

    fn figure(&self, runs: &[Measured<'_, Self>], measures: &Measures) -> Figure {
        // The most manipulated condition of each group: what the teacher's states look like.
        let mut examples = Panel {
            title: "Teacher states: strongest condition of each group".into(),
            x_label: "teacher state 1".into(),
            y_label: "teacher state 2".into(),
            equal_aspect: true,
            legend: Legend::UpperRight,
            series: Vec::new(),
        };
        for (colour, group) in GROUPS.iter().enumerate() {
            let strongest = runs
                .iter()
                .map(|r| r.measurement)
                .filter(|m| m.range.group() == *group)
                .max_by(|a, b| a.source_nmi.total_cmp(&b.source_nmi));
            if let Some(m) = strongest {
                let points = m.example_states.iter().map(|s| (s[0], s[1])).collect();
                examples.series.push(Series::points(*group, colour, points));
            }
        }
        let mut lines = Panel {
            title: format!(
                "Student CInfoM vs teacher-state multiinformation (gap at NMI {}: {} / {})",
                self.matched_nmi,
                fmt(measures.diagonal_minus_corner_cut_at_matched_nmi),
                fmt(measures.diagonals_minus_corner_cut_at_matched_nmi)
            ),
            x_label: "source multiinformation (normalised)".into(),
            y_label: "linear CInfoM".into(),
            equal_aspect: false,
            legend: Legend::LowerLeft,
            series: Vec::new(),
        };
        for (colour, group) in GROUPS.iter().enumerate() {
            let points = self.line_points(runs, group);
            if let Some((a, b)) = self.line(runs, group) {
                let top = points.iter().map(|p| p.0).fold(0.0, f64::max);
                lines
                    .series
                    .push(Series::line("", colour, vec![(0.0, a), (top, a + b * top)]));
            }
            lines.series.push(Series::points(*group, colour, points));
        }
        Figure {
            columns: 2,
            panels: vec![examples, lines],
        }
    }

    fn notes(&self, runs: &[Measured<'_, Self>]) -> Vec<String> {
        let count = |status: RunStatus| runs.iter().filter(|r| self.status(r.measurement) == status).count();
        let beyond = runs
            .iter()
            .filter(|r| r.measurement.source_nmi > self.max_source_nmi)
            .count();
        vec![format!(
            "{} ReLU students ({} units unless swept), {} iterations of {} sequences each: {} trained, {} did not learn (evaluation MSE > {}), {} diverged; {} beyond source NMI {} left out of the lines",
            runs.len(),
            self.hidden,
            self.training.iterations,
            self.training.batch,
            count(RunStatus::Trained),
            count(RunStatus::DidNotLearn),
            self.max_eval_mse,
            count(RunStatus::Diverged),
            beyond,
            self.max_source_nmi,
        )]
    }
}

fn fmt(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |v| format!("{v:+.2}"))
}
