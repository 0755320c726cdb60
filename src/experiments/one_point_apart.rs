//! Dorrell et al. 2025, Fig 1c: two point sets that differ by one point and fall on opposite
//! sides of the range-independence condition; a linear autoencoder trained on each should be
//! modular on one and mixed on the other, as the theory says.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::linear_ae_run::LinearAeRun;
use super::random_point_sets::colour_of;
use super::{MeasuredRun, RunRecipe, RunSlot, Summary, cell, linear_ae_measurement, sweep_row, sweep_table};
use crate::analysis::stats::{mean, separation};
use crate::analysis::theory::{TheoryCheck, Verdict, ellipse_outline};
use crate::data::points::PointRecipe;
use crate::model::AutoencoderObjective;
use crate::model::linear_ae::Training;
use crate::render::figure::{Figure, Panel, Series};
use crate::rng::SplitMix64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Points in the larger set (the paper: 28).
    pub n_points: usize,
    pub data_seed: u64,
    /// Hidden units (the paper: 10).
    pub latent: usize,
    pub objective: AutoencoderObjective,
    pub training: Training,
    /// A network counts as mixed if its most mixed live neuron is more than this many radians
    /// from a source axis.
    pub mixed_angle_threshold: f64,
}

pub const MEASURES: &[&str] = &[
    "verdict_agreement",
    "angle_full_set",
    "angle_less_one_point",
    "cinfom_full_set",
    "cinfom_less_one_point",
    "cinfom_separation",
    "max_reconstruction_loss",
];

const MEMBERS: [(Verdict, &str); 2] = [(Verdict::Modular, "full_set"), (Verdict::Mixed, "less_one_point")];

impl Params {
    pub fn runs(&self, seed: u64) -> Vec<RunSlot> {
        MEMBERS
            .iter()
            .enumerate()
            .map(|(k, &(member, name))| RunSlot {
                label: BTreeMap::from([("set".to_string(), name.to_string())]),
                recipe: RunRecipe::LinearAe(LinearAeRun {
                    points: PointRecipe::OnePointApart {
                        n_points: self.n_points,
                        data_seed: self.data_seed,
                        member,
                    },
                    latent: self.latent,
                    objective: self.objective,
                    training: self.training,
                    init_seed: SplitMix64::derive(seed, k as u64).next_u64(),
                }),
            })
            .collect()
    }

    pub fn summarise(&self, runs: &[MeasuredRun<'_>]) -> Summary {
        let mut table = sweep_table(
            runs,
            &[
                "seed",
                "set",
                "n_points",
                "theory_verdict",
                "mixing_energy_gain",
                "most_mixed_angle",
                "linear_cinfom",
                "linear_infom",
                "network_verdict",
                "reconstruction_loss",
            ],
        );
        let mut agree = 0usize;
        let mut per_set: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        let mut max_rec = 0.0f64;
        let mut panels = Vec::new();
        for run in runs {
            let m = linear_ae_measurement(run.measurement);
            let set = run.label["set"].clone();
            let network = m.network_verdict(self.mixed_angle_threshold);
            agree += usize::from(network == m.theory.verdict);
            max_rec = max_rec.max(m.losses.reconstruction);
            let entry = per_set.entry(set.clone()).or_default();
            entry.0.extend(m.most_mixed_angle);
            entry.1.extend(m.linear_cinfom);
            table.push(sweep_row(
                run,
                [
                    run.seed.to_string(),
                    set.clone(),
                    m.points.len().to_string(),
                    m.theory.verdict.as_str().to_string(),
                    m.theory.mixing_energy_gain.to_string(),
                    cell(m.most_mixed_angle),
                    cell(m.linear_cinfom),
                    cell(m.linear_infom),
                    network.as_str().to_string(),
                    m.losses.reconstruction.to_string(),
                ],
            ));
            panels.push(data_panel(run, m, network));
        }
        let mut measured = BTreeMap::new();
        if !runs.is_empty() {
            measured.insert("verdict_agreement".into(), agree as f64 / runs.len() as f64);
            measured.insert("max_reconstruction_loss".into(), max_rec);
        }
        // The verdicts are a cut on one angle; this asks whether the two sets' codes are apart at
        // all: the least modular network on the modular set against the most modular one on the
        // mixed set (> 0: every seed separates them).
        if let (Some((_, full)), Some((_, less))) = (per_set.get("full_set"), per_set.get("less_one_point"))
            && let Some(gap) = separation(less, full)
        {
            measured.insert("cinfom_separation".into(), gap);
        }
        for (set, (angles, cinfoms)) in &per_set {
            if let Some(a) = mean(angles) {
                measured.insert(format!("angle_{set}"), a);
            }
            if let Some(c) = mean(cinfoms) {
                measured.insert(format!("cinfom_{set}"), c);
            }
        }
        Summary {
            table,
            figure: Figure { columns: 2, panels },
            measured,
            notes: vec![format!(
                "{} runs: a set of {} points uniform on [0,1]² that the theory calls modular and the same set less one point that it calls mixed (data seed {}); linear AE 2→{}→2, {} Adam steps at lr {}.",
                runs.len(),
                self.n_points,
                self.data_seed,
                self.latent,
                self.training.steps,
                self.training.learning_rate
            )],
        }
    }
}

fn data_panel(run: &MeasuredRun<'_>, m: &super::linear_ae_run::LinearAeMeasurement, network: Verdict) -> Panel {
    let title = format!(
        "{} (seed {}): theory {}, network {}, CInfoM {}",
        run.label["set"].replace('_', " "),
        run.seed,
        m.theory.verdict.as_str(),
        network.as_str(),
        m.linear_cinfom.map_or("n/a".into(), |c| format!("{c:.2}"))
    );
    point_set_panel(title, &m.theory, &m.points, &m.neurons)
}

/// The data, the theory's ellipse, and each neuron's encoding direction (its weights on the two
/// sources) drawn from the mean, length proportional to its weight norm.
pub fn point_set_panel(title: String, theory: &TheoryCheck, points: &[[f64; 2]], neurons: &[[f64; 2]]) -> Panel {
    let centre = theory.mean;
    let longest = neurons.iter().map(|w| w[0].hypot(w[1])).fold(0.0, f64::max).max(1e-12);
    let mut arrows = Vec::new();
    for w in neurons {
        let scale = 0.45 * w[0].hypot(w[1]) / longest;
        let norm = w[0].hypot(w[1]).max(1e-12);
        arrows.push((centre[0], centre[1]));
        arrows.push((centre[0] + scale * w[0] / norm, centre[1] + scale * w[1] / norm));
    }
    Panel {
        title,
        x_label: "source 1".into(),
        y_label: "source 2".into(),
        equal_aspect: true,
        legend: Default::default(),
        series: vec![
            Series::points(
                "samples",
                colour_of(theory.verdict.as_str()),
                points.iter().map(|p| (p[0], p[1])).collect(),
            ),
            Series::line(
                "theory's ellipse",
                2,
                ellipse_outline(theory, 120).iter().map(|p| (p[0], p[1])).collect(),
            ),
            Series::segments("neuron encodings", 3, arrows),
        ],
    }
}
