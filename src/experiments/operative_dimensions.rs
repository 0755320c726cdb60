//! Krause et al. 2022, Fig 1 and Fig 3: reduced-rank versions of trained RNNs. Keeping the
//! recurrent weights' part along the top-k global operative column dimensions preserves the
//! network's function at a rank far below what W's own singular vectors need.
//!
//! The networks come from an `.npz` of trained networks (the authors' published ones, or a
//! researcher's own in the same layout; the analysis is then the cached run), or are trained
//! here with BPTT (the trained network is the cached run, and the analysis its measurement).
//! Per network: sampling locations on condition-averaged trajectories, global operative column
//! and row dimensions and their spectra, and, for every rank in `ranks`, the output cost (with
//! network and input noise, fixed seeds, over every step of every trial) and the noiseless state
//! distance of W_k^OP (columns: U_k U_kᵀ W; rows: W U_k U_kᵀ) and of W's best rank-k
//! approximation.

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::analysis::stats::{components_for, median, median_absolute_deviation};

use super::Unavailable;
use super::domains::{MAX_STEPS, MAX_UNITS, adam, each};
use super::kind::{Kind, Label, LegacyKey, Measured};
use crate::analysis::operative_dims::{columns_of, left_singular, local_column_dimensions, project_columns};
use crate::analysis::operative_rows::{
    RowSearch, best_direction, gram, local_ascent, local_row_dimensions, project_rows,
};
use crate::data::inputs::{DataInput, InputDigests};
use crate::data::krause_tasks::{
    COHERENCES, SINE_STEPS, Task, Trial, integration_evaluation, integration_trial, sine_trial,
};
use crate::data::npz::read_npz;
use crate::model::portable_tanh::tanh;
use crate::model::rate_rnn::{ALPHA, RateRnn, Record};
use crate::model::rnn_training::{CHECKPOINT_EVERY, RnnTraining, TRAINING_VERSION, TrainedRnn, initial_network, train};
use crate::render::figure::{Figure, Legend, Panel, Series};
use crate::render::table::Table;
use crate::rng::SplitMix64;
use crate::spec::domain::{self, Checked};

/// Where the analysed networks come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NetworkSource {
    /// An `.npz` with netNN_W, netNN_B, netNN_w_out, netNN_b_x, netNN_b_z per network (the
    /// layout of ../shared/data/krause2022/README.md).
    File(String),
    /// Trained here with BPTT, network i from its own seed (derived from the spec's seed and i).
    Trained(RnnTraining),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub task: Task,
    pub networks: NetworkSource,
    /// How many networks (of the file, in order; or trained) to analyse.
    pub network_count: usize,
    pub ranks: Vec<usize>,
    /// Evaluation trials: integration, per relevant coherence and context (the authors: 5);
    /// sine, per frequency (the authors: 3).
    pub eval_repeats: usize,
    /// Integration: noisy trials per context and (input 1, input 2) coherence pair, averaged
    /// into the 8 sign conditions (see [`AnalysisSettings::sampling_states`]).
    pub sampling_repeats: usize,
    pub noise_seed: u64,
    /// How many local operative row dimensions to find per sampling location.
    pub rows: RowSearch,
}

/// Version of the analysis code below. Its output is what the cache stores for file networks,
/// so any change to what it computes must bump this (it is part of every run's key). 4: the
/// authors' protocol — cost over every step, rank 0 = the zero-W network's cost, sampling
/// locations at t = 1, 100, …, 1400 over all coherences (integration) and t = 1, 50, …, 500
/// (sine), sine evaluated `eval_repeats` times per frequency. 5: the spectra and bases from
/// faer's symmetric eigensolver (was hand-written Jacobi rotations). 6: the noisy trials' ξ drawn
/// by erfinv, a step's worth at a time (`RateRnn::simulate`; was Box–Muller per draw). 7: tanh
/// is `portable_tanh` in the simulations and the local dimensions (was the C library's; within
/// 3 ulp of it, and the same bits on every platform and vector width). Networks
/// trained here are analysed when measured, not cached, so their summaries follow
/// `crate::ANALYSIS_VERSION`: a change here must bump that too.
pub const ANALYSIS_VERSION: u32 = 7;

/// How a network is analysed (everything but the network).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisSettings {
    pub analysis_version: u32,
    pub task: Task,
    pub ranks: Vec<usize>,
    pub eval_repeats: usize,
    pub sampling_repeats: usize,
    pub noise_seed: u64,
    pub rows: RowSearch,
}

/// One file network's analysis: hashed into its cache key, which holds the file's digest, not
/// its path, so moving the file keeps its cached analyses and changing its content does not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkAnalysis {
    pub settings: AnalysisSettings,
    /// The file's digest, not its place (the spec's `networks` says where it is).
    pub networks_sha256: String,
    pub network: usize,
}

/// One network trained here: its cache key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RnnTrainingRun {
    /// [`TRAINING_VERSION`] when planned: a change to the training code retrains.
    pub training_version: u32,
    pub task: Task,
    pub training: RnnTraining,
    pub seed: u64,
}

impl RnnTrainingRun {
    /// Trains on the CPU whatever the backend: the BPTT is written out with faer (see
    /// `model::rnn_bptt`), faster there than Burn's graph for a network this small.
    pub fn train(&self, on_iteration: impl FnMut(usize, f64)) -> TrainedRnn {
        let init = initial_network(self.task, self.training.init_density, self.seed);
        train(self.task, &init, &self.training, self.seed, on_iteration)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisOutput {
    /// Variance share of each global operative column dimension.
    pub operative_spectrum: Vec<f64>,
    /// Variance share of each global operative row dimension.
    pub row_spectrum: Vec<f64>,
    /// Share of Σσ² of each singular value of W.
    pub svd_spectrum: Vec<f64>,
    /// Share of variance of each principal component of the sampled (condition-averaged) states.
    pub activity_spectrum: Vec<f64>,
    pub full_cost: f64,
    pub zero_cost: f64,
    /// Mean state distance of the zero-W network (rank 0), the scale of the distance curves.
    pub zero_distance: f64,
    /// (method, rank, output cost, state distance)
    pub curve: Vec<(String, usize, f64, f64)>,
    /// Per sampling location: the first row dimension's Δf found by local ascent from one
    /// random start, as a share of the exact search's.
    pub naive_row_shares: Vec<f64>,
}

impl AnalysisOutput {
    /// The lowest analysed rank of `method` whose output cost (with `distance`: state distance)
    /// is within 5% of the way from the full network to the zero-W one; ∞ if none is.
    pub fn first_rank_within_5pct(&self, method: &str, distance: bool) -> f64 {
        let cost_threshold = self.full_cost + 0.05 * (self.zero_cost - self.full_cost);
        self.curve
            .iter()
            .filter(|c| {
                c.0 == method
                    && if distance {
                        c.3 <= 0.05 * self.zero_distance
                    } else {
                        c.2 <= cost_threshold
                    }
            })
            .map(|c| c.1 as f64)
            .fold(f64::INFINITY, f64::min)
    }
}

/// What was measured on one network: its analysis and, for networks trained here, how
/// training went.
#[derive(Debug, Clone)]
pub struct OperativeMeasurement {
    pub analysis: AnalysisOutput,
    pub training: Option<TrainingCourse>,
}

/// The course of one network's training.
#[derive(Debug, Clone)]
pub struct TrainingCourse {
    pub losses: Vec<f64>,
    pub kept_iteration: usize,
}

pub fn load_network(path: &str, index: usize) -> anyhow::Result<RateRnn> {
    network_from_arrays(&read_npz(std::path::Path::new(path))?, index, path)
}

/// Network `index` (0-based; keys `netNN_W`, …) of an archive, every array checked against the
/// layout before it is used, naming the file and key of the first that does not fit.
fn network_from_arrays(
    arrays: &std::collections::BTreeMap<String, crate::data::npy::NpyArray>,
    index: usize,
    path: &str,
) -> anyhow::Result<RateRnn> {
    let get = |key: &str| {
        let name = format!("net{:02}_{key}", index + 1);
        let array = arrays
            .get(&name)
            .ok_or_else(|| anyhow::anyhow!("{path}: no array `{name}` (expected W, B, w_out, b_x, b_z per network)"))?;
        anyhow::ensure!(
            array.values.iter().all(|v| v.is_finite()),
            "{path}: `{name}` holds NaN or infinite values"
        );
        Ok((name, array))
    };
    let (w_name, w) = get("W")?;
    let n = match w.shape.as_slice() {
        [rows, cols] if rows == cols && *rows > 0 => *rows,
        shape => anyhow::bail!("{path}: `{w_name}` has shape {shape:?}; expected (N, N) with N ≥ 1"),
    };
    let (b_name, b) = get("B")?;
    let inputs = match b.shape.as_slice() {
        [rows, inputs] if *rows == n && *inputs > 0 => *inputs,
        shape => anyhow::bail!("{path}: `{b_name}` has shape {shape:?}; expected ({n}, inputs) with inputs ≥ 1"),
    };
    let vector = |key: &str, len: usize| -> anyhow::Result<Vec<f64>> {
        let (name, array) = get(key)?;
        anyhow::ensure!(
            array.values.len() == len,
            "{path}: `{name}` has shape {:?}; expected {len} values",
            array.shape
        );
        Ok(array.values.clone())
    };
    Ok(RateRnn {
        n,
        inputs,
        w: w.values.clone(),
        b: b.values.clone(),
        w_out: vector("w_out", n)?,
        b_x: vector("b_x", n)?,
        b_z: vector("b_z", 1)?[0],
    })
}

impl NetworkAnalysis {
    /// Analyses network `self.network` of the file at `path`, refused if the file is not the
    /// one this run was planned on.
    pub fn analyse(&self, path: &str) -> anyhow::Result<AnalysisOutput> {
        let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
        anyhow::ensure!(
            crate::cache::sha256_hex(&bytes) == self.networks_sha256,
            "{path}: the file changed since this run was planned (fix: run again)"
        );
        Ok(self.settings.analyse(&load_network(path, self.network)?))
    }
}

/// One run: a published (or a researcher's) network analysed, or a network trained here. The
/// variants are named as the `RunRecipe` variants they were before the `Kind` trait, and keyed
/// as those variants serialised them (`{"Operative": …}`), so no cached run is redone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum KrauseRun {
    /// The analysis is the cached result.
    Operative(NetworkAnalysis),
    /// The trained network is the cached result; the analysis is its measurement.
    RnnTraining(RnnTrainingRun),
}

/// What a [`KrauseRun`] leaves in the cache. Untagged: the entries cached before the `Kind`
/// trait hold the bare analysis or network (their tag was the `RunOutput` variant's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KrauseOutput {
    Analysis(AnalysisOutput),
    Trained(TrainedRnn),
}

impl AnalysisSettings {
    fn evaluation_trials(&self) -> Vec<Trial> {
        match self.task {
            Task::ContextIntegration => integration_evaluation(self.eval_repeats, self.noise_seed),
            Task::SineWave => (1..=51)
                .flat_map(|j| std::iter::repeat_n(sine_trial(j), self.eval_repeats.max(1)))
                .collect(),
        }
    }

    /// Points on condition-averaged trajectories, where and as the authors sample them
    /// (`UtilsSamplingLocs.py`). Integration: 8 conditions (context × sign of each input's
    /// coherence), each the mean of every noisy trial in it over all coherence magnitudes, at
    /// t = 1, 100, 200, …, 1400 (context period included). The authors draw the two inputs'
    /// coherences independently per trial; here every (input 1, input 2) pair of the 6
    /// coherences runs `sampling_repeats` times, so each condition averages every magnitude pair
    /// equally and none is ever empty. Sine: 11 frequencies (j = 1, 6, …, 51) at t = 1, 50, 100,
    /// …, 500, noiseless (the authors average 10 noisy trials, whose mean this approximates).
    fn sampling_states(&self, net: &RateRnn) -> Vec<Vec<f64>> {
        let x0 = vec![0.0; net.n];
        match self.task {
            Task::ContextIntegration => {
                let times: Vec<usize> = std::iter::once(1).chain((100..=1400).step_by(100)).collect();
                let mut rng = SplitMix64::derive(self.noise_seed, 7);
                // (context, input 1 positive, input 2 positive) → summed states at `times`, count.
                let mut sums = vec![(vec![vec![0.0; net.n]; times.len()], 0usize); 8];
                // Every trial and its noise stream, drawn in the order they always were; then
                // simulated a few at a time, side by side.
                let mut drawn = Vec::new();
                for context in 0..2 {
                    for &first in &COHERENCES {
                        for &second in &COHERENCES {
                            for _ in 0..self.sampling_repeats.max(1) {
                                let trial = integration_trial(context, [first, second], true, &mut rng);
                                let noise = SplitMix64::new(rng.next_u64());
                                let condition = 4 * context + 2 * usize::from(first > 0.0) + usize::from(second > 0.0);
                                drawn.push((trial, noise, condition));
                            }
                        }
                    }
                }
                for chunk in drawn.chunks(8) {
                    let inputs: Vec<&[Vec<f64>]> = chunk.iter().map(|(t, _, _)| t.inputs.as_slice()).collect();
                    let mut noises: Vec<SplitMix64> = chunk.iter().map(|(_, g, _)| g.clone()).collect();
                    let trajectories =
                        net.simulate_trials(&net.w, &inputs, &x0, Some(&mut noises), Record::StatesAndOutputs);
                    for ((_, _, condition), traj) in chunk.iter().zip(&trajectories) {
                        let (sum, count) = &mut sums[*condition];
                        for (acc, &t) in sum.iter_mut().zip(&times) {
                            for (a, b) in acc.iter_mut().zip(&traj.states[t - 1]) {
                                *a += b;
                            }
                        }
                        *count += 1;
                    }
                }
                sums.into_iter()
                    .flat_map(|(sum, count)| {
                        sum.into_iter()
                            .map(move |state| state.into_iter().map(|v| v / count as f64).collect())
                    })
                    .collect()
            }
            Task::SineWave => {
                let times: Vec<usize> = std::iter::once(1).chain((50..=SINE_STEPS).step_by(50)).collect();
                let trials: Vec<Trial> = (1..=51).step_by(5).map(sine_trial).collect();
                let inputs: Vec<&[Vec<f64>]> = trials.iter().map(|t| t.inputs.as_slice()).collect();
                net.simulate_trials(&net.w, &inputs, &x0, None, Record::StatesAndOutputs)
                    .into_iter()
                    .flat_map(|traj| times.iter().map(|&t| traj.states[t - 1].clone()).collect::<Vec<_>>())
                    .collect()
            }
        }
    }

    pub fn analyse(&self, net: &RateRnn) -> AnalysisOutput {
        let n = net.n;
        let x0 = vec![0.0; n];
        let states = self.sampling_states(net);
        let (operative, operative_spectrum) = left_singular(&local_column_dimensions(&net.w, n, &states, ALPHA), n);
        // The locations' searches, the curve's evaluations and the naive searches are
        // independent of each other: they run on rayon's pool (`--jobs` threads), so that a
        // network analysed while the other cores have nothing left to do gets their help.
        // Results are gathered in order, so they do not depend on the threads.
        let local_rows: Vec<Vec<f64>> = states
            .par_iter()
            .map(|x| local_row_dimensions(&net.w, n, x, ALPHA, &self.rows))
            .collect::<Vec<_>>()
            .into_iter()
            .flatten()
            .collect();
        let (row_dims, row_spectrum) = left_singular(&local_rows, n);
        let naive_row_shares = self.naive_row_shares(net, &states);
        let (svd, svd_spectrum) = left_singular(&columns_of(&net.w, n), n);
        // Activity dimensionality: PCA of the sampled states (centred).
        let centre: Vec<f64> = (0..n)
            .map(|i| states.iter().map(|x| x[i]).sum::<f64>() / states.len() as f64)
            .collect();
        let centred: Vec<Vec<f64>> = states
            .iter()
            .map(|x| x.iter().zip(&centre).map(|(a, b)| a - b).collect())
            .collect();
        let (_, activity_spectrum) = left_singular(&centred, n);
        // Control: the same analysis at random locations with the states' overall spread.
        let spread = (centred.iter().flatten().map(|v| v * v).sum::<f64>() / (centred.len() * n) as f64).sqrt();
        let mut rng = SplitMix64::derive(self.noise_seed, 99);
        let random_states: Vec<Vec<f64>> = (0..states.len())
            .map(|_| (0..n).map(|i| centre[i] + spread * rng.normal()).collect())
            .collect();
        let (random, _) = left_singular(&local_column_dimensions(&net.w, n, &random_states, ALPHA), n);
        let trials = self.evaluation_trials();
        let cost_of = |w: &[f64]| net.output_cost(w, &trials, self.noise_seed);
        // Noiseless reference trajectories for the state distance (one trial per condition).
        let reference_trials: Vec<&Trial> = trials.iter().step_by(self.eval_repeats.max(1)).collect();
        let reference_inputs: Vec<&[Vec<f64>]> = reference_trials.iter().map(|t| t.inputs.as_slice()).collect();
        let simulate_references =
            |w: &[f64]| net.simulate_trials(w, &reference_inputs, &x0, None, Record::StatesAndOutputs);
        let reference = simulate_references(&net.w);
        let distance_of = |w: &[f64]| -> f64 {
            reference
                .iter()
                .zip(simulate_references(w))
                .map(|(full, reduced)| {
                    full.states
                        .iter()
                        .zip(&reduced.states)
                        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt())
                        .sum::<f64>()
                        / full.states.len() as f64
                })
                .sum::<f64>()
                / reference_trials.len() as f64
        };
        // Rank 0 of every curve: the network with no recurrence, costed as every rank is.
        let zero_cost = cost_of(&vec![0.0; n * n]);
        let evaluations: Vec<(&str, &Vec<Vec<f64>>, bool, usize)> = [
            ("operative_columns", &operative, false),
            ("operative_rows", &row_dims, true),
            ("svd", &svd, false),
            ("random_locations", &random, false),
        ]
        .into_iter()
        .flat_map(|(method, basis, by_rows)| self.ranks.iter().map(move |&k| (method, basis, by_rows, k)))
        .collect();
        let curve = evaluations
            .par_iter()
            .map(|&(method, basis, by_rows, k)| {
                let reduced = if by_rows {
                    project_rows(&net.w, n, basis, k)
                } else {
                    project_columns(&net.w, n, basis, k)
                };
                (method.to_string(), k, cost_of(&reduced), distance_of(&reduced))
            })
            .collect();
        AnalysisOutput {
            operative_spectrum,
            row_spectrum,
            svd_spectrum,
            activity_spectrum,
            full_cost: cost_of(&net.w),
            zero_cost,
            zero_distance: distance_of(&vec![0.0; n * n]),
            curve,
            naive_row_shares,
        }
    }

    /// The paper's warning about row dimensions, measured: at each location, the first row
    /// dimension's Δf from local ascent started at one random unit vector, as a share of the
    /// exact search's (1 = the naive search found the optimum).
    fn naive_row_shares(&self, net: &RateRnn, states: &[Vec<f64>]) -> Vec<f64> {
        let n = net.n;
        let gram = gram(&net.w, n);
        let mut rng = SplitMix64::derive(self.noise_seed, 31);
        // The random starts drawn in order of location first, then the searches side by side.
        let starts: Vec<Vec<f64>> = states.iter().map(|_| (0..n).map(|_| rng.normal()).collect()).collect();
        states
            .par_iter()
            .zip(starts)
            .map(|(x, start)| {
                let r: Vec<f64> = x.iter().map(|&v| tanh(v)).collect();
                let (_, exact) = best_direction(&gram, &r);
                let (_, naive) = local_ascent(&gram, &r, start, 1000);
                if exact > 0.0 { (naive / exact).sqrt() } else { 1.0 }
            })
            .collect()
    }
}

/// What the artefact measures: each value is the median over networks of one network's value.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Measures {
    /// The lowest rank whose output cost is within 5% of the way from the full network to the
    /// zero-W one: operative columns, operative rows, W's singular vectors.
    pub operative_rank_within_5pct_median: Option<f64>,
    pub operative_rows_rank_within_5pct_median: Option<f64>,
    pub svd_rank_within_5pct_median: Option<f64>,
    /// Share of variance of the first global operative column (row) dimension.
    pub first_operative_pc_share_median: Option<f64>,
    pub first_row_pc_share_median: Option<f64>,
    /// How many singular values of W hold 90% of Σσ².
    pub svd_rank_for_90pct_variance_median: Option<f64>,
    pub full_rank_cost_median: Option<f64>,
    /// How many principal components of the sampled states hold 90% of their variance.
    pub activity_dims_for_90pct_median: Option<f64>,
    pub random_locations_cost_at_rank_30_median: Option<f64>,
    pub operative_cost_at_rank_30_median: Option<f64>,
    /// The same ranks for the noiseless state distance (within 5% of the zero-W network's).
    pub columns_distance_rank_within_5pct_median: Option<f64>,
    pub rows_distance_rank_within_5pct_median: Option<f64>,
    pub svd_distance_rank_within_5pct_median: Option<f64>,
    pub svd_over_operative_rank_median: Option<f64>,
    pub svd_minus_columns_distance_rank_median: Option<f64>,
    pub rows_minus_columns_distance_rank_median: Option<f64>,
    /// The naive row search's Δf as a share of the exact search's, mean over locations.
    pub naive_row_search_share_median: Option<f64>,
    /// Networks trained here: mean training loss over the iterations before the kept checkpoint.
    pub training_loss_at_kept_median: Option<f64>,
    pub kept_iteration_median: Option<f64>,
}

impl Measures {
    /// One network's values (its ranks ∞ where no analysed rank is within 5%).
    fn of_network(measured: &OperativeMeasurement) -> Measures {
        let out = &measured.analysis;
        let first_within = |method: &str, distance: bool| out.first_rank_within_5pct(method, distance);
        let at = |method: &str, rank: usize| out.curve.iter().find(|c| c.0 == method && c.1 == rank).map(|c| c.2);
        let operative_rank = first_within("operative_columns", false);
        let svd_rank = first_within("svd", false);
        let columns_distance = first_within("operative_columns", true);
        let rows_distance = first_within("operative_rows", true);
        let svd_distance = first_within("svd", true);
        let shares = &out.naive_row_shares;
        // Mean training loss over the iterations just before the kept checkpoint.
        let loss_at_kept = measured.training.as_ref().and_then(|course| {
            let end = course.kept_iteration.min(course.losses.len());
            let before = &course.losses[end.saturating_sub(CHECKPOINT_EVERY)..end];
            (!before.is_empty()).then(|| before.iter().sum::<f64>() / before.len() as f64)
        });
        Measures {
            operative_rank_within_5pct_median: Some(operative_rank),
            operative_rows_rank_within_5pct_median: Some(first_within("operative_rows", false)),
            svd_rank_within_5pct_median: Some(svd_rank),
            first_operative_pc_share_median: out.operative_spectrum.first().copied(),
            first_row_pc_share_median: out.row_spectrum.first().copied(),
            svd_rank_for_90pct_variance_median: components_for(&out.svd_spectrum, 0.9).map(|k| k as f64),
            full_rank_cost_median: Some(out.full_cost),
            activity_dims_for_90pct_median: components_for(&out.activity_spectrum, 0.9).map(|k| k as f64),
            random_locations_cost_at_rank_30_median: at("random_locations", 30),
            operative_cost_at_rank_30_median: at("operative_columns", 30),
            columns_distance_rank_within_5pct_median: Some(columns_distance),
            rows_distance_rank_within_5pct_median: Some(rows_distance),
            svd_distance_rank_within_5pct_median: Some(svd_distance),
            svd_over_operative_rank_median: Some(svd_rank / operative_rank),
            svd_minus_columns_distance_rank_median: Some(svd_distance - columns_distance),
            rows_minus_columns_distance_rank_median: Some(rows_distance - columns_distance),
            naive_row_search_share_median: (!shares.is_empty())
                .then(|| shares.iter().sum::<f64>() / shares.len() as f64),
            training_loss_at_kept_median: loss_at_kept,
            kept_iteration_median: measured.training.as_ref().map(|c| c.kept_iteration as f64),
        }
    }

    /// The median over networks of each value (absent where no network has a finite median).
    fn median_over(networks: &[Measures]) -> Measures {
        let med = |pick: fn(&Measures) -> Option<f64>| {
            median(networks.iter().filter_map(pick).collect()).filter(|m| m.is_finite())
        };
        Measures {
            operative_rank_within_5pct_median: med(|m| m.operative_rank_within_5pct_median),
            operative_rows_rank_within_5pct_median: med(|m| m.operative_rows_rank_within_5pct_median),
            svd_rank_within_5pct_median: med(|m| m.svd_rank_within_5pct_median),
            first_operative_pc_share_median: med(|m| m.first_operative_pc_share_median),
            first_row_pc_share_median: med(|m| m.first_row_pc_share_median),
            svd_rank_for_90pct_variance_median: med(|m| m.svd_rank_for_90pct_variance_median),
            full_rank_cost_median: med(|m| m.full_rank_cost_median),
            activity_dims_for_90pct_median: med(|m| m.activity_dims_for_90pct_median),
            random_locations_cost_at_rank_30_median: med(|m| m.random_locations_cost_at_rank_30_median),
            operative_cost_at_rank_30_median: med(|m| m.operative_cost_at_rank_30_median),
            columns_distance_rank_within_5pct_median: med(|m| m.columns_distance_rank_within_5pct_median),
            rows_distance_rank_within_5pct_median: med(|m| m.rows_distance_rank_within_5pct_median),
            svd_distance_rank_within_5pct_median: med(|m| m.svd_distance_rank_within_5pct_median),
            svd_over_operative_rank_median: med(|m| m.svd_over_operative_rank_median),
            svd_minus_columns_distance_rank_median: med(|m| m.svd_minus_columns_distance_rank_median),
            rows_minus_columns_distance_rank_median: med(|m| m.rows_minus_columns_distance_rank_median),
            naive_row_search_share_median: med(|m| m.naive_row_search_share_median),
            training_loss_at_kept_median: med(|m| m.training_loss_at_kept_median),
            kept_iteration_median: med(|m| m.kept_iteration_median),
        }
    }
}

/// The methods of the reduced-rank curves, in plotting order.
const METHODS: [&str; 4] = ["operative_columns", "operative_rows", "svd", "random_locations"];

/// Per (method, rank): every network's output cost and state distance.
type CostsAndDistances = (Vec<f64>, Vec<f64>);

impl Params {
    fn file_unavailable(&self) -> Option<Unavailable> {
        let NetworkSource::File(path) = &self.networks else {
            return None;
        };
        (!std::path::Path::new(path).is_file()).then(|| {
            Unavailable::DataMissing(format!(
                "no trained networks at {path} (fix: put the authors' published networks there — github.com/ManteLab/operative_dimensions, converted to .npz as described in ../shared/data/krause2022/README.md — point `networks: File(..)` at your own, or train them here with `networks: Trained(..)`)"
            ))
        })
    }

    pub fn settings(&self) -> AnalysisSettings {
        AnalysisSettings {
            analysis_version: ANALYSIS_VERSION,
            task: self.task,
            ranks: self.ranks.clone(),
            eval_repeats: self.eval_repeats,
            sampling_repeats: self.sampling_repeats,
            noise_seed: self.noise_seed,
            rows: self.rows,
        }
    }

    fn task_name(&self) -> &'static str {
        match self.task {
            Task::ContextIntegration => "context_integration",
            Task::SineWave => "sine_wave",
        }
    }
}

impl Kind for Params {
    const NAME: &'static str = "OperativeDimensions";
    const PAPER: crate::spec::Paper = crate::spec::Paper::Krause2022;
    // Written before the Kind trait: `KrauseRun` is the old `RunRecipe` variants, keyed as they were.
    const LEGACY_KEY: Option<LegacyKey> = Some(LegacyKey::SelfTagged);
    const PIPELINE_DIVERGENCE: bool = true;
    type Recipe = KrauseRun;
    type Output = KrauseOutput;
    type Measurement = OperativeMeasurement;
    type Measures = Measures;

    fn validate(&self) -> Checked {
        domain::count_in("network_count", self.network_count, 1, 1000)?;
        each("ranks", &self.ranks, |n, r| domain::count_in(n, r, 1, MAX_UNITS))?;
        domain::count_in("eval_repeats", self.eval_repeats, 1, 10_000)?;
        domain::count_in("sampling_repeats", self.sampling_repeats, 1, 1000)?;
        if let NetworkSource::Trained(t) = &self.networks {
            domain::count_in("networks.Trained.iterations", t.iterations, 1, MAX_STEPS)?;
            domain::count_in("networks.Trained.batch_size", t.batch_size, 1, 100_000)?;
            adam("networks.Trained", t.learning_rate, None)?;
            domain::positive("networks.Trained.clip_norm", t.clip_norm)?;
            // A density ≤ 0 would redraw the sparse initialisation forever.
            domain::interval("networks.Trained.init_density", t.init_density, 0.0, 1.0, (false, true))?;
        }
        Ok(())
    }

    fn unavailable(&self) -> anyhow::Result<Option<Unavailable>> {
        Ok(self.file_unavailable())
    }

    fn inputs(&self) -> Vec<DataInput> {
        match &self.networks {
            NetworkSource::File(path) => vec![DataInput::File(path.clone())],
            NetworkSource::Trained(_) => Vec::new(),
        }
    }

    fn runs(&self, seed: u64, inputs: &InputDigests) -> Vec<(Label, KrauseRun)> {
        let label = |network: usize| BTreeMap::from([("network".to_string(), format!("{:02}", network + 1))]);
        match &self.networks {
            NetworkSource::File(path) => {
                // No run without the file (`unavailable` says where to get it).
                let Some(digest) = inputs.get(path) else {
                    return Vec::new();
                };
                (0..self.network_count)
                    .map(|network| {
                        (
                            label(network),
                            KrauseRun::Operative(NetworkAnalysis {
                                settings: self.settings(),
                                networks_sha256: digest.to_string(),
                                network,
                            }),
                        )
                    })
                    .collect()
            }
            NetworkSource::Trained(training) => (0..self.network_count)
                .map(|network| {
                    (
                        label(network),
                        KrauseRun::RnnTraining(RnnTrainingRun {
                            training_version: TRAINING_VERSION,
                            task: self.task,
                            training: *training,
                            seed: SplitMix64::derive(seed, 1000 + network as u64).next_u64(),
                        }),
                    )
                })
                .collect(),
        }
    }

    /// An analysis counts 1; a training run its iterations.
    fn work(recipe: &KrauseRun) -> u64 {
        match recipe {
            KrauseRun::Operative(_) => 1,
            KrauseRun::RnnTraining(run) => run.training.iterations as u64,
        }
    }

    /// One network at a time (its batch key is its own recipe); threads run several.
    fn train(
        &self,
        recipes: &[&KrauseRun],
        _device: &burn::tensor::Device,
        progress: &(dyn Fn(u64) + Sync),
        _threads: usize,
    ) -> anyhow::Result<Vec<KrauseOutput>> {
        recipes
            .iter()
            .map(|recipe| match recipe {
                KrauseRun::Operative(run) => {
                    let NetworkSource::File(path) = &self.networks else {
                        anyhow::bail!("a file network's analysis was planned for networks trained here (a bug)")
                    };
                    let output = run.analyse(path)?;
                    progress(1);
                    Ok(KrauseOutput::Analysis(output))
                }
                KrauseRun::RnnTraining(run) => Ok(KrauseOutput::Trained(run.train(|_, _| progress(1)))),
            })
            .collect()
    }

    fn measure(&self, recipe: &KrauseRun, output: &KrauseOutput) -> anyhow::Result<OperativeMeasurement> {
        match (recipe, output) {
            (KrauseRun::Operative(_), KrauseOutput::Analysis(analysis)) => Ok(OperativeMeasurement {
                analysis: analysis.clone(),
                training: None,
            }),
            (KrauseRun::RnnTraining(_), KrauseOutput::Trained(trained)) => Ok(OperativeMeasurement {
                analysis: self.settings().analyse(&trained.network),
                training: Some(TrainingCourse {
                    losses: trained.losses.clone(),
                    kept_iteration: trained.kept_iteration,
                }),
            }),
            _ => anyhow::bail!(
                "a cached result does not match its run (an analysis for a training run or the reverse; fix: `modrepro cache gc`, or delete the entry)"
            ),
        }
    }

    fn measures(&self, runs: &[Measured<'_, Self>]) -> Measures {
        let networks: Vec<Measures> = runs.iter().map(|r| Measures::of_network(r.measurement)).collect();
        Measures::median_over(&networks)
    }

    fn table(&self, runs: &[Measured<'_, Self>]) -> Table {
        let mut table = Table::new(
            ["task", "net", "method", "rank", "output_cost", "state_distance"]
                .map(String::from)
                .to_vec(),
        );
        for run in runs {
            for (method, rank, cost, distance) in &run.measurement.analysis.curve {
                table.push(vec![
                    self.task_name().into(),
                    run.label["network"].clone(),
                    method.clone(),
                    rank.to_string(),
                    cost.to_string(),
                    distance.to_string(),
                ]);
            }
        }
        table
    }

    fn figure(&self, runs: &[Measured<'_, Self>], _: &Measures) -> Figure {
        let task = self.task_name();
        let mut by_method: BTreeMap<(String, usize), CostsAndDistances> = BTreeMap::new();
        for run in runs {
            for (method, rank, cost, distance) in &run.measurement.analysis.curve {
                let entry = by_method.entry((method.clone(), *rank)).or_default();
                entry.0.push(*cost);
                entry.1.push(*distance);
            }
        }
        let spectra = |pick: fn(&AnalysisOutput) -> &Vec<f64>| -> Vec<Vec<f64>> {
            runs.iter().map(|r| pick(&r.measurement.analysis).clone()).collect()
        };
        let (column_spectra, row_spectra, svd_spectra) = (
            spectra(|a| &a.operative_spectrum),
            spectra(|a| &a.row_spectrum),
            spectra(|a| &a.svd_spectrum),
        );
        let losses: Vec<&Vec<f64>> = runs
            .iter()
            .filter_map(|r| r.measurement.training.as_ref().map(|t| &t.losses))
            .collect();
        let curve_panel = |title: &str, y: &str, pick: fn(&CostsAndDistances) -> &Vec<f64>| {
            let mut series = Vec::new();
            for (colour, method) in METHODS.iter().enumerate() {
                let pts: Vec<(f64, f64, f64)> = by_method
                    .iter()
                    .filter(|((m, _), _)| m == method)
                    .filter_map(|((_, k), v)| {
                        median(pick(v).clone())
                            .map(|med| (*k as f64, med, median_absolute_deviation(pick(v)).unwrap_or(0.0)))
                    })
                    .collect();
                let mut band: Vec<(f64, f64)> = pts.iter().map(|p| (p.0, p.1 + p.2)).collect();
                band.extend(pts.iter().rev().map(|p| (p.0, p.1 - p.2)));
                series.push(Series::band(format!("{method} ± MAD"), colour, band));
                series.push(Series::line(
                    method.to_string(),
                    colour,
                    pts.iter().map(|p| (p.0, p.1)).collect(),
                ));
            }
            Panel {
                title: title.into(),
                x_label: "rank k".into(),
                y_label: y.into(),
                equal_aspect: false,
                legend: Legend::UpperRight,
                series,
            }
        };
        let median_curve = |spectra: &[Vec<f64>], len: usize| -> Vec<(f64, f64)> {
            (0..len)
                .filter_map(|i| {
                    median(spectra.iter().filter_map(|s| s.get(i).copied()).collect()).map(|m| ((i + 1) as f64, m))
                })
                .collect()
        };
        let columns = median_curve(&column_spectra, 20);
        let rows = median_curve(&row_spectra, 20);
        let mut panels = vec![
            Panel {
                title: format!("{task}: singular values of W (Fig 1)"),
                x_label: "singular value index".into(),
                y_label: "share of Σσ² (median over networks)".into(),
                equal_aspect: false,
                legend: Legend::UpperRight,
                series: vec![Series::line("W", 1, median_curve(&svd_spectra, 100))],
            },
            Panel {
                title: format!("{task}: global operative dimensions"),
                x_label: "dimension".into(),
                y_label: "share of variance (median over networks)".into(),
                equal_aspect: false,
                legend: Legend::UpperRight,
                series: vec![
                    Series::line("columns", 0, columns.clone()),
                    Series::points("", 0, columns),
                    Series::line("rows", 1, rows.clone()),
                    Series::points("", 1, rows),
                ],
            },
            curve_panel("output cost vs rank (median ± MAD)", "output cost (MSE)", |v| &v.0),
            curve_panel("state distance vs rank (median ± MAD)", "mean ‖x − x̂‖", |v| {
                &v.1
            }),
        ];
        if !losses.is_empty() {
            // Median over networks of each block's mean loss (about 60 blocks in all).
            let shortest = losses.iter().map(|l| l.len()).min().unwrap_or(0);
            let block = (shortest / 60).max(1);
            let curve: Vec<(f64, f64)> = (0..shortest / block)
                .filter_map(|b| {
                    let means = losses
                        .iter()
                        .map(|l| l[b * block..(b + 1) * block].iter().sum::<f64>() / block as f64)
                        .collect();
                    median(means).map(|m| (((b + 1) * block) as f64, m))
                })
                .collect();
            panels.push(Panel {
                title: format!("{task}: training (networks trained here)"),
                x_label: "iteration".into(),
                y_label: "training MSE, block mean (median over networks)".into(),
                equal_aspect: false,
                legend: Legend::UpperRight,
                series: vec![Series::line("loss", 0, curve)],
            });
        }
        Figure { columns: 2, panels }
    }

    fn notes(&self, runs: &[Measured<'_, Self>]) -> Vec<String> {
        let task = self.task_name();
        let source = match &self.networks {
            NetworkSource::File(path) => format!("{} networks of {path}", runs.len()),
            NetworkSource::Trained(t) => format!(
                "{} networks trained here ({} iterations of BPTT, batch {}, Adam lr {}, global clip {})",
                runs.len(),
                t.iterations,
                if self.task == Task::SineWave { 51 } else { t.batch_size },
                t.learning_rate,
                t.clip_norm
            ),
        };
        vec![format!(
            "{source} ({task}); ranks {:?}; output cost with network and input noise (seed {}) over every step of {} trials, its 5% threshold relative to the zero-W network's cost; sampling locations on condition-averaged trajectories at the authors' times; state distance noiseless, its 5% threshold relative to the zero-W network's; row dimensions by exact search (up to {} per location, down to {} of the first's Δf); the random-location control uses Gaussian states with the sampled states' mean and overall spread.",
            self.ranks,
            self.noise_seed,
            match self.task {
                Task::ContextIntegration => 12 * self.eval_repeats.max(1),
                Task::SineWave => 51 * self.eval_repeats.max(1),
            },
            self.rows.max_dims,
            self.rows.relative_floor,
        )]
    }
}

#[cfg(test)]
mod network_file_tests {
    use std::collections::BTreeMap;

    use super::network_from_arrays;
    use crate::data::npy::NpyArray;

    fn array(shape: &[usize]) -> NpyArray {
        NpyArray {
            shape: shape.to_vec(),
            values: vec![0.1; shape.iter().product()],
        }
    }

    fn archive(n: usize) -> BTreeMap<String, NpyArray> {
        BTreeMap::from([
            ("net01_W".into(), array(&[n, n])),
            ("net01_B".into(), array(&[n, 2])),
            ("net01_w_out".into(), array(&[1, n])),
            ("net01_b_x".into(), array(&[n])),
            ("net01_b_z".into(), array(&[1])),
        ])
    }

    fn error_of(arrays: &BTreeMap<String, NpyArray>) -> String {
        network_from_arrays(arrays, 0, "nets.npz").unwrap_err().to_string()
    }

    #[test]
    fn a_well_formed_network_loads() {
        let net = network_from_arrays(&archive(3), 0, "nets.npz").unwrap();
        assert_eq!((net.n, net.inputs, net.w_out.len(), net.b_x.len()), (3, 2, 3, 3));
    }

    #[test]
    fn every_malformed_array_is_an_error_naming_file_and_key() {
        // Each of these panicked (shapes indexed before they were checked) or loaded silently.
        let cases: Vec<(&str, NpyArray, &str)> = vec![
            ("net01_W", array(&[]), "`net01_W` has shape []"),
            ("net01_W", array(&[3]), "`net01_W` has shape [3]"),
            ("net01_W", array(&[3, 4]), "`net01_W` has shape [3, 4]"),
            ("net01_B", array(&[3]), "`net01_B` has shape [3]"),
            ("net01_B", array(&[4, 2]), "`net01_B` has shape [4, 2]"),
            (
                "net01_w_out",
                array(&[1, 2]),
                "`net01_w_out` has shape [1, 2]; expected 3 values",
            ),
            ("net01_b_x", array(&[5]), "`net01_b_x` has shape [5]"),
            ("net01_b_z", array(&[0]), "`net01_b_z` has shape [0]"),
        ];
        for (key, bad, expected) in cases {
            let mut arrays = archive(3);
            arrays.insert(key.into(), bad);
            let error = error_of(&arrays);
            assert!(
                error.starts_with("nets.npz: ") && error.contains(expected),
                "{key}: {error}"
            );
        }
        let mut missing = archive(3);
        missing.remove("net01_b_x");
        assert!(error_of(&missing).contains("no array `net01_b_x`"));
        let mut nan = archive(3);
        nan.get_mut("net01_W").unwrap().values[4] = f64::NAN;
        assert!(error_of(&nan).contains("`net01_W` holds NaN"));
    }
}

#[cfg(test)]
mod kind_tests {
    use super::*;
    use crate::experiments::kind::{assert_legacy_key, measure_map};

    fn params() -> Params {
        Params {
            task: Task::SineWave,
            networks: NetworkSource::Trained(RnnTraining {
                iterations: 10,
                batch_size: 32,
                learning_rate: 0.002,
                clip_norm: 1.0,
                init_density: 0.5,
            }),
            network_count: 3,
            ranks: vec![10, 30, 100],
            eval_repeats: 1,
            sampling_repeats: 1,
            noise_seed: 0,
            rows: RowSearch {
                max_dims: 3,
                relative_floor: 1e-3,
            },
        }
    }

    #[test]
    fn runs_keep_the_keys_of_the_old_rnn_training_variant() {
        let old_form = assert_legacy_key(&params(), 5);
        assert!(
            old_form.starts_with(&format!(
                r#"{{"RnnTraining":{{"training_version":{TRAINING_VERSION},"task":"SineWave","training":{{"iterations":10,"#
            )),
            "{old_form}"
        );
    }

    /// A network whose operative columns reach the 5% band at `rank` (∞: never).
    fn analysis(rank: Option<usize>) -> AnalysisOutput {
        let cost = |k: usize| if rank.is_some_and(|r| k >= r) { 1.0 } else { 9.0 };
        AnalysisOutput {
            operative_spectrum: vec![0.5, 0.3, 0.2],
            row_spectrum: vec![0.6, 0.4],
            svd_spectrum: vec![0.5, 0.45, 0.05],
            activity_spectrum: vec![0.95, 0.05],
            full_cost: 1.0,
            zero_cost: 10.0,
            zero_distance: 1.0,
            curve: [10, 30, 100]
                .iter()
                .flat_map(|&k| {
                    [
                        ("operative_columns".to_string(), k, cost(k), 0.0),
                        ("svd".to_string(), k, if k == 100 { 1.0 } else { 9.0 }, 0.0),
                    ]
                })
                .collect(),
            naive_row_shares: vec![0.5, 1.0],
        }
    }

    #[test]
    fn measures_are_medians_over_networks_with_unreached_ranks_counting_as_infinite() {
        let measurements: Vec<OperativeMeasurement> = [Some(10), None, None]
            .into_iter()
            .map(|rank| OperativeMeasurement {
                analysis: analysis(rank),
                training: None,
            })
            .collect();
        let label = Label::from([("network".to_string(), "01".to_string())]);
        let sweep = BTreeMap::new();
        let measured: Vec<Measured<'_, Params>> = measurements
            .iter()
            .map(|measurement| Measured {
                sweep: &sweep,
                seed: 0,
                label: &label,
                measurement,
            })
            .collect();
        let m = measure_map(&Kind::measures(&params(), &measured));
        // Two of three networks never reach the band: the median rank is ∞, so it is absent.
        assert!(!m.contains_key("operative_rank_within_5pct_median"));
        assert_eq!(m["svd_rank_within_5pct_median"], 100.0);
        assert_eq!(m["first_operative_pc_share_median"], 0.5);
        assert_eq!(m["svd_rank_for_90pct_variance_median"], 2.0);
        assert_eq!(m["activity_dims_for_90pct_median"], 1.0);
        assert_eq!(m["operative_cost_at_rank_30_median"], 9.0);
        assert_eq!(m["naive_row_search_share_median"], 0.75);
        assert!(!m.contains_key("kept_iteration_median"), "no network was trained here");
        let table = Kind::table(&params(), &measured);
        assert_eq!(table.rows.len(), 3 * 6);
        assert_eq!(table.rows[0][..4], ["sine_wave", "01", "operative_columns", "10"]);
    }

    #[test]
    fn outputs_read_back_as_the_variant_their_fields_say() {
        let analysis = analysis(Some(10));
        let json = serde_json::to_value(&analysis).unwrap();
        assert_eq!(
            serde_json::from_value::<KrauseOutput>(json).unwrap(),
            KrauseOutput::Analysis(analysis)
        );
        let trained = TrainedRnn {
            network: RateRnn {
                n: 1,
                inputs: 1,
                w: vec![0.5],
                b: vec![1.0],
                w_out: vec![1.0],
                b_x: vec![0.0],
                b_z: 0.0,
            },
            losses: vec![1.0, 0.5],
            validation: vec![(1, 0.5)],
            kept_iteration: 2,
        };
        let json = serde_json::to_value(&trained).unwrap();
        assert_eq!(
            serde_json::from_value::<KrauseOutput>(json).unwrap(),
            KrauseOutput::Trained(trained)
        );
    }
}

#[cfg(test)]
mod thread_tests {
    use super::*;
    use crate::model::rnn_training::initial_network;

    #[test]
    fn the_analysis_does_not_depend_on_the_threads_it_runs_on() {
        let net = initial_network(Task::SineWave, 0.5, 7);
        let settings = AnalysisSettings {
            analysis_version: ANALYSIS_VERSION,
            task: Task::SineWave,
            ranks: vec![3, 40],
            eval_repeats: 1,
            sampling_repeats: 1,
            noise_seed: 2,
            rows: RowSearch {
                max_dims: 3,
                relative_floor: 1e-2,
            },
        };
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            // serde_json with float_roundtrip writes every f64 exactly: equal text is equal bits.
            serde_json::to_string(&pool.install(|| settings.analyse(&net))).unwrap()
        };
        assert_eq!(on(1), on(3));
    }
}
