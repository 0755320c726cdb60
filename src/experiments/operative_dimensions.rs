//! Krause et al. 2022, Fig 1 and Fig 3: reduced-rank versions of trained RNNs. Keeping the
//! recurrent weights' part along the top-k global operative column dimensions preserves the
//! network's function at a rank far below what W's own singular vectors need.
//!
//! Each run analyses one network of an `.npz` of trained networks (the authors' published
//! ones, or a researcher's own in the same layout): sampling locations on condition-averaged
//! trajectories, global operative column dimensions and their spectrum, and, for every rank in
//! `ranks`, the output cost (with network and input noise, fixed seeds, over the task's cost
//! window) and the noiseless state distance of W_k^OP and of W's best rank-k approximation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{MeasuredRun, Measurement, RunRecipe, RunSlot, Summary, Unavailable};
use crate::analysis::operative_dims::{columns_of, left_singular, local_column_dimensions, project_columns};
use crate::data::krause_tasks::{
    CONTEXT_STEPS, STIMULUS_STEPS, Task, Trial, integration_evaluation, integration_trial, sine_trial,
};
use crate::data::npz::read_npz;
use crate::model::rate_rnn::{ALPHA, RateRnn};
use crate::render::figure::{Figure, Legend, Panel, Series};
use crate::render::table::Table;
use crate::rng::SplitMix64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub task: Task,
    /// An `.npz` with netNN_W, netNN_B, netNN_w_out, netNN_b_x, netNN_b_z per network.
    pub networks: String,
    /// How many of its networks (in order) to analyse.
    pub network_count: usize,
    pub ranks: Vec<usize>,
    /// Integration: evaluation trials per relevant coherence and context (the paper: 5).
    pub eval_repeats: usize,
    /// Integration: noisy trials averaged per sampling condition.
    pub sampling_trials: usize,
    pub noise_seed: u64,
}

/// Version of the analysis code below. Its output is what the cache stores for these runs, so
/// any change to what it computes must bump this (it is part of every run's key).
pub const ANALYSIS_VERSION: u32 = 2;

/// One network's analysis: hashed into its cache key (with the file's digest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkAnalysis {
    pub analysis_version: u32,
    pub task: Task,
    pub networks: String,
    pub networks_sha256: String,
    pub network: usize,
    pub ranks: Vec<usize>,
    pub eval_repeats: usize,
    pub sampling_trials: usize,
    pub noise_seed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnalysisOutput {
    /// Variance share of each global operative column dimension.
    pub operative_spectrum: Vec<f64>,
    /// Share of Σσ² of each singular value of W.
    pub svd_spectrum: Vec<f64>,
    /// Share of variance of each principal component of the sampled (condition-averaged) states.
    pub activity_spectrum: Vec<f64>,
    pub full_cost: f64,
    pub zero_cost: f64,
    /// (method, rank, output cost, state distance)
    pub curve: Vec<(String, usize, f64, f64)>,
}

fn load_network(path: &str, index: usize) -> anyhow::Result<RateRnn> {
    let arrays = read_npz(std::path::Path::new(path))?;
    let get = |key: &str| {
        arrays
            .get(&format!("net{:02}_{key}", index + 1))
            .ok_or_else(|| anyhow::anyhow!("{path}: no net{:02}_{key}", index + 1))
    };
    let w = get("W")?;
    let b = get("B")?;
    let n = w.shape[0];
    anyhow::ensure!(w.shape == vec![n, n], "{path}: W has shape {:?}", w.shape);
    Ok(RateRnn {
        n,
        inputs: b.shape[1],
        w: w.values.clone(),
        b: b.values.clone(),
        w_out: get("w_out")?.values.clone(),
        b_x: get("b_x")?.values.clone(),
        b_z: get("b_z")?.values.first().copied().unwrap_or(0.0),
    })
}

impl NetworkAnalysis {
    fn evaluation_trials(&self) -> Vec<Trial> {
        match self.task {
            Task::ContextIntegration => integration_evaluation(self.eval_repeats, self.noise_seed),
            Task::SineWave => (1..=51).map(sine_trial).collect(),
        }
    }

    /// Points on condition-averaged trajectories (integration: 8 conditions × 15 times of the
    /// stimulus period; sine: 11 frequencies × 11 times, noiseless).
    fn sampling_states(&self, net: &RateRnn) -> Vec<Vec<f64>> {
        let x0 = vec![0.0; net.n];
        let mut states = Vec::new();
        match self.task {
            Task::ContextIntegration => {
                let mut rng = SplitMix64::derive(self.noise_seed, 7);
                let strong = 0.5 * 0.3;
                for context in 0..2 {
                    for relevant in [-strong, strong] {
                        for irrelevant in [-strong, strong] {
                            let coherence = if context == 0 {
                                [relevant, irrelevant]
                            } else {
                                [irrelevant, relevant]
                            };
                            let mut mean = vec![vec![0.0; net.n]; 15];
                            for _ in 0..self.sampling_trials.max(1) {
                                let trial = integration_trial(context, coherence, true, &mut rng);
                                let mut noise = SplitMix64::new(rng.next_u64());
                                let traj = net.simulate(&net.w, &trial.inputs, &x0, Some(&mut noise));
                                for (k, m) in mean.iter_mut().enumerate() {
                                    let t = CONTEXT_STEPS + (k + 1) * STIMULUS_STEPS / 15 - 1;
                                    for (a, b) in m.iter_mut().zip(&traj.states[t]) {
                                        *a += b / self.sampling_trials.max(1) as f64;
                                    }
                                }
                            }
                            states.extend(mean);
                        }
                    }
                }
            }
            Task::SineWave => {
                for j in (1..=51).step_by(5) {
                    let traj = net.simulate(&net.w, &sine_trial(j).inputs, &x0, None);
                    states.extend((1..=11).map(|k| traj.states[k * 500 / 11 - 1].clone()));
                }
            }
        }
        states
    }

    pub fn analyse(&self) -> anyhow::Result<AnalysisOutput> {
        let net = load_network(&self.networks, self.network)?;
        let n = net.n;
        let x0 = vec![0.0; n];
        let states = self.sampling_states(&net);
        let (operative, operative_spectrum) = left_singular(&local_column_dimensions(&net.w, n, &states, ALPHA), n);
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
        let cost_of = |w: &[f64]| -> f64 {
            trials
                .iter()
                .enumerate()
                .map(|(k, trial)| {
                    let mut noise = SplitMix64::derive(self.noise_seed, 1000 + k as u64);
                    let traj = net.simulate(w, &trial.inputs, &x0, Some(&mut noise));
                    let window = trial.window.clone();
                    window
                        .clone()
                        .map(|t| (traj.outputs[t] - trial.targets[t]).powi(2))
                        .sum::<f64>()
                        / window.len() as f64
                })
                .sum::<f64>()
                / trials.len() as f64
        };
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
        let zero_cost = trials
            .iter()
            .map(|t| t.window.clone().map(|s| t.targets[s].powi(2)).sum::<f64>() / t.window.len() as f64)
            .sum::<f64>()
            / trials.len() as f64;
        let mut curve = Vec::new();
        for (method, basis) in [
            ("operative_columns", &operative),
            ("svd", &svd),
            ("random_locations", &random),
        ] {
            for &k in &self.ranks {
                let reduced = project_columns(&net.w, n, basis, k);
                curve.push((method.to_string(), k, cost_of(&reduced), distance_of(&reduced)));
            }
        }
        Ok(AnalysisOutput {
            operative_spectrum,
            svd_spectrum,
            activity_spectrum,
            full_cost: cost_of(&net.w),
            zero_cost,
            curve,
        })
    }
}

pub const MEASURES: &[&str] = &[
    "operative_rank_within_5pct_median",
    "svd_rank_within_5pct_median",
    "first_operative_pc_share_median",
    "svd_rank_for_90pct_variance_median",
    "full_rank_cost_median",
    "activity_dims_for_90pct_median",
    "random_locations_cost_at_rank_30_median",
    "operative_cost_at_rank_30_median",
];

/// Per (method, rank): every network's output cost and state distance.
type CostsAndDistances = (Vec<f64>, Vec<f64>);

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        0.5 * (v[m - 1] + v[m])
    })
}

/// Median absolute deviation.
fn mad(v: &[f64]) -> f64 {
    let Some(m) = median(v.to_vec()) else { return 0.0 };
    median(v.iter().map(|x| (x - m).abs()).collect()).unwrap_or(0.0)
}

impl Params {
    pub fn unavailable(&self) -> Option<Unavailable> {
        (!std::path::Path::new(&self.networks).is_file()).then(|| {
            Unavailable::DataMissing(format!(
                "no trained networks at {} (fix: put the authors' published networks there — github.com/ManteLab/operative_dimensions, converted to .npz as described in ../shared/data/krause2022/README.md — or point `networks` at your own)",
                self.networks
            ))
        })
    }

    pub fn runs(&self, _seed: u64) -> Vec<RunSlot> {
        let Ok(bytes) = std::fs::read(&self.networks) else {
            return Vec::new();
        };
        let digest = crate::cache::sha256_hex(&bytes);
        (0..self.network_count)
            .map(|network| RunSlot {
                label: BTreeMap::from([("network".to_string(), format!("{:02}", network + 1))]),
                recipe: RunRecipe::Operative(NetworkAnalysis {
                    analysis_version: ANALYSIS_VERSION,
                    task: self.task,
                    networks: self.networks.clone(),
                    networks_sha256: digest.clone(),
                    network,
                    ranks: self.ranks.clone(),
                    eval_repeats: self.eval_repeats,
                    sampling_trials: self.sampling_trials,
                    noise_seed: self.noise_seed,
                }),
            })
            .collect()
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
        let (mut op_rank, mut svd_rank, mut first_pc, mut svd90, mut full) = (vec![], vec![], vec![], vec![], vec![]);
        let (mut activity90, mut random30, mut operative30) = (vec![], vec![], vec![]);
        let mut svd_spectra: Vec<Vec<f64>> = Vec::new();
        let mut by_method: BTreeMap<(String, usize), CostsAndDistances> = BTreeMap::new();
        let mut spectra: Vec<Vec<f64>> = Vec::new();
        for run in runs {
            let Measurement::Operative(out) = run.measurement else {
                unreachable!("operative-dimension runs only")
            };
            let net = run.label["network"].clone();
            let threshold = out.full_cost + 0.05 * (out.zero_cost - out.full_cost);
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
            let first_within = |method: &str| {
                out.curve
                    .iter()
                    .filter(|c| c.0 == method && c.2 <= threshold)
                    .map(|c| c.1 as f64)
                    .fold(f64::INFINITY, f64::min)
            };
            op_rank.push(first_within("operative_columns"));
            svd_rank.push(first_within("svd"));
            first_pc.push(out.operative_spectrum[0]);
            let mut acc = 0.0;
            svd90.push(
                out.svd_spectrum
                    .iter()
                    .position(|s| {
                        acc += s;
                        acc >= 0.9
                    })
                    .map_or(f64::NAN, |p| (p + 1) as f64),
            );
            full.push(out.full_cost);
            let mut acc = 0.0;
            activity90.push(
                out.activity_spectrum
                    .iter()
                    .position(|s| {
                        acc += s;
                        acc >= 0.9
                    })
                    .map_or(f64::NAN, |p| (p + 1) as f64),
            );
            let at = |method: &str, rank: usize| out.curve.iter().find(|c| c.0 == method && c.1 == rank).map(|c| c.2);
            random30.extend(at("random_locations", 30));
            operative30.extend(at("operative_columns", 30));
            svd_spectra.push(out.svd_spectrum.clone());
            spectra.push(out.operative_spectrum.iter().take(20).copied().collect());
        }
        let mut measured = BTreeMap::new();
        for (name, values) in [
            ("operative_rank_within_5pct_median", op_rank),
            ("svd_rank_within_5pct_median", svd_rank),
            ("first_operative_pc_share_median", first_pc),
            ("svd_rank_for_90pct_variance_median", svd90),
            ("full_rank_cost_median", full),
            ("activity_dims_for_90pct_median", activity90),
            ("random_locations_cost_at_rank_30_median", random30),
            ("operative_cost_at_rank_30_median", operative30),
        ] {
            if let Some(m) = median(values).filter(|m| m.is_finite()) {
                measured.insert(name.to_string(), m);
            }
        }
        let curve_panel = |title: &str, y: &str, pick: fn(&CostsAndDistances) -> &Vec<f64>| {
            let mut series = Vec::new();
            for (colour, method) in ["operative_columns", "svd", "random_locations"].iter().enumerate() {
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
        let spectrum: Vec<(f64, f64)> = (0..20)
            .filter_map(|i| {
                median(spectra.iter().filter_map(|s| s.get(i).copied()).collect()).map(|m| ((i + 1) as f64, m))
            })
            .collect();
        let svd_curve: Vec<(f64, f64)> = (0..100)
            .filter_map(|i| {
                median(svd_spectra.iter().filter_map(|s| s.get(i).copied()).collect()).map(|m| ((i + 1) as f64, m))
            })
            .collect();
        let panels = vec![
            Panel {
                title: format!("{task}: singular values of W (Fig 1)"),
                x_label: "singular value index".into(),
                y_label: "share of Σσ² (median over networks)".into(),
                equal_aspect: false,
                legend: Legend::UpperRight,
                series: vec![Series::line("W", 1, svd_curve)],
            },
            Panel {
                title: format!("{task}: global operative column dimensions"),
                x_label: "dimension".into(),
                y_label: "share of variance (median over networks)".into(),
                equal_aspect: false,
                legend: Legend::UpperRight,
                series: vec![
                    Series::line("operative columns", 0, spectrum.clone()),
                    Series::points("", 0, spectrum),
                ],
            },
            curve_panel("output cost vs rank (median ± MAD)", "output cost (MSE)", |v| &v.0),
            curve_panel("state distance vs rank (median ± MAD)", "mean ‖x − x̂‖", |v| {
                &v.1
            }),
        ];
        Summary {
            table,
            figure: Figure { columns: 2, panels },
            measured,
            notes: vec![format!(
                "{} networks of {} ({task}); ranks {:?}; output cost with network and input noise (seed {}) over the {}; the random-location control uses Gaussian states with the sampled states' mean and overall spread; operative row dimensions are not implemented yet.",
                runs.len(),
                self.networks,
                self.ranks,
                self.noise_seed,
                match self.task {
                    Task::ContextIntegration => "stimulus period (750 steps)",
                    Task::SineWave => "whole 500-step trial",
                }
            )],
        }
    }
}
