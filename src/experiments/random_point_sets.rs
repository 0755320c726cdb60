//! Dorrell et al. 2025, Fig 1d: random 2-D point sets, one linear autoencoder each. Does the
//! theory's mixing energy gain predict how mixed the trained neurons are, where the sources'
//! multiinformation does not?

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::linear_ae_run::LinearAeRun;
use super::{MeasuredRun, RunRecipe, RunSlot, Summary, cell, linear_ae_measurement, sweep_row, sweep_table};
use crate::analysis::stats::{pearson, spearman};
use crate::analysis::theory::Verdict;
use crate::data::points::PointRecipe;
use crate::model::AutoencoderObjective;
use crate::model::linear_ae::Training;
use crate::render::figure::{Figure, Panel, Series};
use crate::rng::SplitMix64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// How many point sets (the paper: 100).
    pub n_sets: usize,
    /// Points per set (the paper: 32).
    pub n_points: usize,
    pub data_seed: u64,
    /// Alternate sets the theory calls modular and mixed (as the authors do), rather than
    /// taking uniform draws as they come.
    pub balanced: bool,
    /// Hidden units (the paper: 16).
    pub latent: usize,
    pub objective: AutoencoderObjective,
    pub training: Training,
    /// A network counts as mixed if its most mixed live neuron is more than this many radians
    /// from a source axis.
    pub mixed_angle_threshold: f64,
}

pub const MEASURES: &[&str] = &[
    "spearman_gain_vs_angle",
    "spearman_multiinfo_vs_angle",
    "pearson_gain_vs_angle",
    "pearson_multiinfo_vs_angle",
    "spearman_gain_vs_cinfom",
    "spearman_multiinfo_vs_cinfom",
    "spearman_multiinfo_vs_angle_mixed",
    "spearman_multiinfo_vs_angle_modular",
    "spearman_gain_vs_angle_mixed",
    "spearman_gain_vs_angle_modular",
    "verdict_accuracy",
    "max_reconstruction_loss",
];

impl Params {
    pub fn runs(&self, seed: u64) -> Vec<RunSlot> {
        (0..self.n_sets as u64)
            .map(|index| {
                let required = self.balanced.then_some(if index % 2 == 0 {
                    Verdict::Modular
                } else {
                    Verdict::Mixed
                });
                RunSlot {
                    label: BTreeMap::from([("set".to_string(), index.to_string())]),
                    recipe: RunRecipe::LinearAe(LinearAeRun {
                        points: PointRecipe::UniformWithVerdict {
                            n_points: self.n_points,
                            data_seed: self.data_seed,
                            index,
                            required,
                        },
                        latent: self.latent,
                        objective: self.objective,
                        training: self.training,
                        init_seed: SplitMix64::derive(seed, index).next_u64(),
                    }),
                }
            })
            .collect()
    }

    pub fn summarise(&self, runs: &[MeasuredRun<'_>]) -> Summary {
        let mut table = sweep_table(
            runs,
            &[
                "seed",
                "set",
                "theory_verdict",
                "mixing_energy_gain",
                "multiinformation",
                "most_mixed_angle",
                "linear_cinfom",
                "linear_infom",
                "network_verdict",
                "reconstruction_loss",
            ],
        );
        let (mut gain, mut info, mut angle, mut cinfom) = (vec![], vec![], vec![], vec![]);
        let (mut agree, mut max_rec) = (0usize, 0.0f64);
        let mut panels_points: BTreeMap<&str, [Vec<(f64, f64)>; 4]> = BTreeMap::new();
        for run in runs {
            let m = linear_ae_measurement(run.measurement);
            let network = m.network_verdict(self.mixed_angle_threshold);
            agree += usize::from(network == m.theory.verdict);
            max_rec = max_rec.max(m.losses.reconstruction);
            table.push(sweep_row(
                run,
                [
                    run.seed.to_string(),
                    run.label["set"].clone(),
                    m.theory.verdict.as_str().to_string(),
                    m.theory.mixing_energy_gain.to_string(),
                    m.multiinformation.to_string(),
                    cell(m.most_mixed_angle),
                    cell(m.linear_cinfom),
                    cell(m.linear_infom),
                    network.as_str().to_string(),
                    m.losses.reconstruction.to_string(),
                ],
            ));
            let a = m.most_mixed_angle.unwrap_or(0.0);
            let c = m.linear_cinfom.unwrap_or(f64::NAN);
            gain.push(m.theory.mixing_energy_gain);
            info.push(m.multiinformation);
            angle.push(a);
            cinfom.push(c);
            let p = panels_points.entry(m.theory.verdict.as_str()).or_default();
            p[0].push((m.multiinformation, a));
            p[1].push((m.theory.mixing_energy_gain, a));
            p[2].push((m.multiinformation, c));
            p[3].push((m.theory.mixing_energy_gain, c));
        }

        let mut measured = BTreeMap::new();
        let mut put = |name: &str, v: Option<f64>| {
            if let Some(v) = v.filter(|v| v.is_finite()) {
                measured.insert(name.to_string(), v);
            }
        };
        put("spearman_gain_vs_angle", spearman(&gain, &angle));
        put("spearman_multiinfo_vs_angle", spearman(&info, &angle));
        put("pearson_gain_vs_angle", pearson(&gain, &angle));
        put("pearson_multiinfo_vs_angle", pearson(&info, &angle));
        put("spearman_gain_vs_cinfom", spearman(&gain, &cinfom));
        put("spearman_multiinfo_vs_cinfom", spearman(&info, &cinfom));
        // Within each verdict group: the overall correlations mix a between-group difference
        // with the relation inside a group, where the paper's "multiinformation does not predict
        // mixing" is the sharper test.
        for (verdict, p) in &panels_points {
            let (info, angle): (Vec<f64>, Vec<f64>) = p[0].iter().copied().unzip();
            let gain: Vec<f64> = p[1].iter().map(|q| q.0).collect();
            put(
                &format!("spearman_multiinfo_vs_angle_{verdict}"),
                spearman(&info, &angle),
            );
            put(&format!("spearman_gain_vs_angle_{verdict}"), spearman(&gain, &angle));
        }
        put(
            "verdict_accuracy",
            (!runs.is_empty()).then(|| agree as f64 / runs.len() as f64),
        );
        put("max_reconstruction_loss", (!runs.is_empty()).then_some(max_rec));

        let titles = [
            (
                "Mixing vs source multiinformation",
                "normalised source multiinformation",
                "most mixed neuron's angle (rad)",
            ),
            (
                "Mixing vs theory",
                "mixing energy gain (theory)",
                "most mixed neuron's angle (rad)",
            ),
            (
                "Linear CInfoM vs multiinformation",
                "normalised source multiinformation",
                "linear CInfoM",
            ),
            (
                "Linear CInfoM vs theory",
                "mixing energy gain (theory)",
                "linear CInfoM",
            ),
        ];
        let panels = titles
            .iter()
            .enumerate()
            .map(|(k, (title, x, y))| Panel {
                title: title.to_string(),
                x_label: x.to_string(),
                y_label: y.to_string(),
                equal_aspect: false,
                legend: Default::default(),
                series: panels_points
                    .iter()
                    .map(|(verdict, pts)| {
                        Series::points(format!("theory: {verdict}"), colour_of(verdict), pts[k].clone())
                    })
                    .collect(),
            })
            .collect();
        Summary {
            table,
            figure: Figure { columns: 2, panels },
            measured,
            notes: vec![format!(
                "{} runs: {} point sets of {} points uniform on [0,1]² (data seed {}), {}; linear AE 2→{}→2, {} Adam steps at lr {}; network verdict 'mixed' iff most mixed neuron > {} rad.",
                runs.len(),
                self.n_sets,
                self.n_points,
                self.data_seed,
                if self.balanced {
                    "alternately redrawn until the theory calls them modular / mixed"
                } else {
                    "as drawn"
                },
                self.latent,
                self.training.steps,
                self.training.learning_rate,
                self.mixed_angle_threshold
            )],
        }
    }
}

pub fn colour_of(verdict: &str) -> usize {
    usize::from(verdict == "mixed")
}
