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

use serde::{Deserialize, Serialize};

use crate::analysis::stats::median;

use super::{MeasuredRun, Measurement, RunRecipe, RunSlot, Summary, Unavailable};
use crate::analysis::operative_dims::{columns_of, left_singular, local_column_dimensions, project_columns};
use crate::analysis::operative_rows::{
    RowSearch, best_direction, gram, local_ascent, local_row_dimensions, project_rows,
};
use crate::data::krause_tasks::{
    COHERENCES, SINE_STEPS, Task, Trial, integration_evaluation, integration_trial, sine_trial,
};
use crate::data::npz::read_npz;
use crate::model::rate_rnn::{ALPHA, RateRnn};
use crate::model::rnn_training::{CHECKPOINT_EVERY, RnnTraining, TRAINING_VERSION, TrainedRnn, initial_network, train};
use crate::render::figure::{Figure, Legend, Panel, Series};
use crate::render::table::Table;
use crate::rng::SplitMix64;

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
/// faer's symmetric eigensolver (was hand-written Jacobi rotations).
pub const ANALYSIS_VERSION: u32 = 5;

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
    /// Where the file was when the run was planned; not part of the key.
    #[serde(skip)]
    pub networks: String,
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
    pub fn analyse(&self) -> anyhow::Result<AnalysisOutput> {
        let bytes = std::fs::read(&self.networks).map_err(|e| anyhow::anyhow!("{}: {e}", self.networks))?;
        anyhow::ensure!(
            crate::cache::sha256_hex(&bytes) == self.networks_sha256,
            "{}: the file changed since this run was planned (fix: run again)",
            self.networks
        );
        Ok(self.settings.analyse(&load_network(&self.networks, self.network)?))
    }
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
                for context in 0..2 {
                    for &first in &COHERENCES {
                        for &second in &COHERENCES {
                            for _ in 0..self.sampling_repeats.max(1) {
                                let trial = integration_trial(context, [first, second], true, &mut rng);
                                let mut noise = SplitMix64::new(rng.next_u64());
                                let traj = net.simulate(&net.w, &trial.inputs, &x0, Some(&mut noise));
                                let condition = 4 * context + 2 * usize::from(first > 0.0) + usize::from(second > 0.0);
                                let (sum, count) = &mut sums[condition];
                                for (acc, &t) in sum.iter_mut().zip(&times) {
                                    for (a, b) in acc.iter_mut().zip(&traj.states[t - 1]) {
                                        *a += b;
                                    }
                                }
                                *count += 1;
                            }
                        }
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
                (1..=51)
                    .step_by(5)
                    .flat_map(|j| {
                        let traj = net.simulate(&net.w, &sine_trial(j).inputs, &x0, None);
                        times
                            .iter()
                            .map(move |&t| traj.states[t - 1].clone())
                            .collect::<Vec<_>>()
                    })
                    .collect()
            }
        }
    }

    pub fn analyse(&self, net: &RateRnn) -> AnalysisOutput {
        let n = net.n;
        let x0 = vec![0.0; n];
        let states = self.sampling_states(net);
        let (operative, operative_spectrum) = left_singular(&local_column_dimensions(&net.w, n, &states, ALPHA), n);
        let local_rows: Vec<Vec<f64>> = states
            .iter()
            .flat_map(|x| local_row_dimensions(&net.w, n, x, ALPHA, &self.rows))
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
        let reference: Vec<Vec<Vec<f64>>> = reference_trials
            .iter()
            .map(|t| net.simulate(&net.w, &t.inputs, &x0, None).states)
            .collect();
        let distance_of = |w: &[f64]| -> f64 {
            reference_trials
                .iter()
                .zip(&reference)
                .map(|(trial, full)| {
                    let reduced = net.simulate(w, &trial.inputs, &x0, None).states;
                    full.iter()
                        .zip(&reduced)
                        .map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt())
                        .sum::<f64>()
                        / full.len() as f64
                })
                .sum::<f64>()
                / reference_trials.len() as f64
        };
        // Rank 0 of every curve: the network with no recurrence, costed as every rank is.
        let zero_cost = cost_of(&vec![0.0; n * n]);
        let mut curve = Vec::new();
        for (method, basis, by_rows) in [
            ("operative_columns", &operative, false),
            ("operative_rows", &row_dims, true),
            ("svd", &svd, false),
            ("random_locations", &random, false),
        ] {
            for &k in &self.ranks {
                let reduced = if by_rows {
                    project_rows(&net.w, n, basis, k)
                } else {
                    project_columns(&net.w, n, basis, k)
                };
                curve.push((method.to_string(), k, cost_of(&reduced), distance_of(&reduced)));
            }
        }
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
        states
            .iter()
            .map(|x| {
                let r: Vec<f64> = x.iter().map(|v| v.tanh()).collect();
                let (_, exact) = best_direction(&gram, &r);
                let start: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
                let (_, naive) = local_ascent(&gram, &r, start, 1000);
                if exact > 0.0 { (naive / exact).sqrt() } else { 1.0 }
            })
            .collect()
    }
}

pub const MEASURES: &[&str] = &[
    "operative_rank_within_5pct_median",
    "operative_rows_rank_within_5pct_median",
    "svd_rank_within_5pct_median",
    "first_operative_pc_share_median",
    "first_row_pc_share_median",
    "svd_rank_for_90pct_variance_median",
    "full_rank_cost_median",
    "activity_dims_for_90pct_median",
    "random_locations_cost_at_rank_30_median",
    "operative_cost_at_rank_30_median",
    "columns_distance_rank_within_5pct_median",
    "rows_distance_rank_within_5pct_median",
    "svd_distance_rank_within_5pct_median",
    "svd_over_operative_rank_median",
    "svd_minus_columns_distance_rank_median",
    "rows_minus_columns_distance_rank_median",
    "naive_row_search_share_median",
    "training_loss_at_kept_median",
    "kept_iteration_median",
];

/// The methods of the reduced-rank curves, in plotting order.
const METHODS: [&str; 4] = ["operative_columns", "operative_rows", "svd", "random_locations"];

/// Per (method, rank): every network's output cost and state distance.
type CostsAndDistances = (Vec<f64>, Vec<f64>);

/// How many leading components hold `share` of the total (spectrum of shares, descending).
fn components_for(spectrum: &[f64], share: f64) -> Option<f64> {
    let mut acc = 0.0;
    spectrum
        .iter()
        .position(|s| {
            acc += s;
            acc >= share
        })
        .map(|p| (p + 1) as f64)
}

/// Median absolute deviation.
fn mad(v: &[f64]) -> f64 {
    let Some(m) = median(v.to_vec()) else { return 0.0 };
    median(v.iter().map(|x| (x - m).abs()).collect()).unwrap_or(0.0)
}

impl Params {
    pub fn unavailable(&self) -> Option<Unavailable> {
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

    pub fn runs(&self, seed: u64) -> Vec<RunSlot> {
        let label = |network: usize| BTreeMap::from([("network".to_string(), format!("{:02}", network + 1))]);
        match &self.networks {
            NetworkSource::File(path) => {
                let Ok(bytes) = std::fs::read(path) else {
                    return Vec::new();
                };
                let digest = crate::cache::sha256_hex(&bytes);
                (0..self.network_count)
                    .map(|network| RunSlot {
                        label: label(network),
                        recipe: RunRecipe::Operative(NetworkAnalysis {
                            settings: self.settings(),
                            networks: path.clone(),
                            networks_sha256: digest.clone(),
                            network,
                        }),
                    })
                    .collect()
            }
            NetworkSource::Trained(training) => (0..self.network_count)
                .map(|network| RunSlot {
                    label: label(network),
                    recipe: RunRecipe::RnnTraining(RnnTrainingRun {
                        training_version: TRAINING_VERSION,
                        task: self.task,
                        training: *training,
                        seed: SplitMix64::derive(seed, 1000 + network as u64).next_u64(),
                    }),
                })
                .collect(),
        }
    }

    pub fn summarise(&self, runs: &[MeasuredRun<'_>]) -> Summary {
        let task = match self.task {
            Task::ContextIntegration => "context_integration",
            Task::SineWave => "sine_wave",
        };
        let mut table = Table::new(
            ["task", "net", "method", "rank", "output_cost", "state_distance"]
                .map(String::from)
                .to_vec(),
        );
        let mut per_network: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        let mut by_method: BTreeMap<(String, usize), CostsAndDistances> = BTreeMap::new();
        let (mut column_spectra, mut row_spectra, mut svd_spectra) = (Vec::new(), Vec::new(), Vec::new());
        let mut losses: Vec<&Vec<f64>> = Vec::new();
        for run in runs {
            let Measurement::Operative(measured) = run.measurement else {
                unreachable!("operative-dimension runs only")
            };
            let out = &measured.analysis;
            let net = run.label["network"].clone();
            for (method, rank, cost, distance) in &out.curve {
                table.push(vec![
                    task.into(),
                    net.clone(),
                    method.clone(),
                    rank.to_string(),
                    cost.to_string(),
                    distance.to_string(),
                ]);
                let entry = by_method.entry((method.clone(), *rank)).or_default();
                entry.0.push(*cost);
                entry.1.push(*distance);
            }
            let first_within = |method: &str, distance: bool| out.first_rank_within_5pct(method, distance);
            let at = |method: &str, rank: usize| out.curve.iter().find(|c| c.0 == method && c.1 == rank).map(|c| c.2);
            let mut record = |name: &'static str, value: Option<f64>| {
                per_network.entry(name).or_default().extend(value);
            };
            record(
                "operative_rank_within_5pct_median",
                Some(first_within("operative_columns", false)),
            );
            record(
                "operative_rows_rank_within_5pct_median",
                Some(first_within("operative_rows", false)),
            );
            let svd_rank = first_within("svd", false);
            record("svd_rank_within_5pct_median", Some(svd_rank));
            record(
                "svd_over_operative_rank_median",
                Some(svd_rank / first_within("operative_columns", false)),
            );
            let columns_distance = first_within("operative_columns", true);
            let rows_distance = first_within("operative_rows", true);
            let svd_distance = first_within("svd", true);
            record("columns_distance_rank_within_5pct_median", Some(columns_distance));
            record("rows_distance_rank_within_5pct_median", Some(rows_distance));
            record("svd_distance_rank_within_5pct_median", Some(svd_distance));
            record(
                "svd_minus_columns_distance_rank_median",
                Some(svd_distance - columns_distance),
            );
            record(
                "rows_minus_columns_distance_rank_median",
                Some(rows_distance - columns_distance),
            );
            record(
                "first_operative_pc_share_median",
                out.operative_spectrum.first().copied(),
            );
            record("first_row_pc_share_median", out.row_spectrum.first().copied());
            record(
                "svd_rank_for_90pct_variance_median",
                components_for(&out.svd_spectrum, 0.9),
            );
            record(
                "activity_dims_for_90pct_median",
                components_for(&out.activity_spectrum, 0.9),
            );
            record("full_rank_cost_median", Some(out.full_cost));
            record("random_locations_cost_at_rank_30_median", at("random_locations", 30));
            record("operative_cost_at_rank_30_median", at("operative_columns", 30));
            let shares = &out.naive_row_shares;
            record(
                "naive_row_search_share_median",
                (!shares.is_empty()).then(|| shares.iter().sum::<f64>() / shares.len() as f64),
            );
            if let Some(course) = &measured.training {
                // Mean training loss over the iterations just before the kept checkpoint.
                let l = &course.losses;
                let end = course.kept_iteration.min(l.len());
                let before = &l[end.saturating_sub(CHECKPOINT_EVERY)..end];
                record(
                    "training_loss_at_kept_median",
                    (!before.is_empty()).then(|| before.iter().sum::<f64>() / before.len() as f64),
                );
                record("kept_iteration_median", Some(course.kept_iteration as f64));
                losses.push(l);
            }
            column_spectra.push(out.operative_spectrum.clone());
            row_spectra.push(out.row_spectrum.clone());
            svd_spectra.push(out.svd_spectrum.clone());
        }
        let measured: BTreeMap<String, f64> = per_network
            .into_iter()
            .filter_map(|(name, values)| median(values).filter(|m| m.is_finite()).map(|m| (name.to_string(), m)))
            .collect();
        let curve_panel = |title: &str, y: &str, pick: fn(&CostsAndDistances) -> &Vec<f64>| {
            let mut series = Vec::new();
            for (colour, method) in METHODS.iter().enumerate() {
                let pts: Vec<(f64, f64, f64)> = by_method
                    .iter()
                    .filter(|((m, _), _)| m == method)
                    .filter_map(|((_, k), v)| median(pick(v).clone()).map(|med| (*k as f64, med, mad(pick(v)))))
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
        Summary {
            table,
            figure: Figure { columns: 2, panels },
            measured,
            notes: vec![format!(
                "{source} ({task}); ranks {:?}; output cost with network and input noise (seed {}) over every step of {} trials, its 5% threshold relative to the zero-W network's cost; sampling locations on condition-averaged trajectories at the authors' times; state distance noiseless, its 5% threshold relative to the zero-W network's; row dimensions by exact search (up to {} per location, down to {} of the first's Δf); the random-location control uses Gaussian states with the sampled states' mean and overall spread.",
                self.ranks,
                self.noise_seed,
                match self.task {
                    Task::ContextIntegration => 12 * self.eval_repeats.max(1),
                    Task::SineWave => 51 * self.eval_repeats.max(1),
                },
                self.rows.max_dims,
                self.rows.relative_floor,
            )],
        }
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
