//! Dorrell et al. 2025, Fig 1d: random 2-D point sets, one linear autoencoder each. Does the
//! theory's mixing energy gain predict how mixed the trained neurons are, where the sources'
//! multiinformation does not?

use std::collections::BTreeMap;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::cell;
use super::domains::linear_autoencoder;
use super::kind::{self, Kind, Label, Measured};
use super::linear_ae_run::{self, LinearAeMeasurement, LinearAeRun};
use crate::analysis::stats::{pearson, spearman};
use crate::analysis::theory::Verdict;
use crate::data::inputs::InputDigests;
use crate::data::points::PointRecipe;
use crate::model::AutoencoderObjective;
use crate::model::linear_ae::{LinearAeWeights, Training};
use crate::render::figure::{Figure, Panel, Series};
use crate::render::table::Table;
use crate::rng::SplitMix64;
use crate::spec::domain::{self, Checked};

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

/// The values Fig 1d's claims read; a correlation is `None` when it is undefined (fewer than
/// two runs, or a constant variable).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Measures {
    pub spearman_gain_vs_angle: Option<f64>,
    pub spearman_multiinfo_vs_angle: Option<f64>,
    pub pearson_gain_vs_angle: Option<f64>,
    pub pearson_multiinfo_vs_angle: Option<f64>,
    pub spearman_gain_vs_cinfom: Option<f64>,
    pub spearman_multiinfo_vs_cinfom: Option<f64>,
    /// Within the sets the theory calls mixed.
    pub spearman_multiinfo_vs_angle_mixed: Option<f64>,
    /// Within the sets the theory calls modular.
    pub spearman_multiinfo_vs_angle_modular: Option<f64>,
    pub spearman_gain_vs_angle_mixed: Option<f64>,
    pub spearman_gain_vs_angle_modular: Option<f64>,
    /// Share of runs whose network verdict (the angle cut) agrees with the theory's.
    pub verdict_accuracy: Option<f64>,
    pub max_reconstruction_loss: Option<f64>,
}

/// A run's point in the four panels (multiinformation or gain against angle or CInfoM), by
/// the theory's verdict on its set.
fn panel_points<'a>(runs: &[Measured<'a, Params>]) -> BTreeMap<&'static str, [Vec<(f64, f64)>; 4]> {
    let mut points: BTreeMap<&'static str, [Vec<(f64, f64)>; 4]> = BTreeMap::new();
    for run in runs {
        let m = run.measurement;
        let a = m.most_mixed_angle.unwrap_or(0.0);
        let c = m.linear_cinfom.unwrap_or(f64::NAN);
        let p = points.entry(m.theory.verdict.as_str()).or_default();
        p[0].push((m.multiinformation, a));
        p[1].push((m.theory.mixing_energy_gain, a));
        p[2].push((m.multiinformation, c));
        p[3].push((m.theory.mixing_energy_gain, c));
    }
    points
}

impl Kind for Params {
    const NAME: &'static str = "RandomPointSets";
    const PAPER: crate::spec::Paper = crate::spec::Paper::Dorrell2025;
    // Written before the Kind trait, keyed as the old `RunRecipe::LinearAe` (a legacy key) until
    // version 1: training moved from Burn's graph to the hand-written f32 loop of
    // `model::dense_ae` on the CPU (rounding differs), so runs cached before it retrain.
    const VERSION: u32 = 1;
    const PIPELINE_DIVERGENCE: bool = true;
    type Recipe = LinearAeRun;
    type Output = LinearAeWeights;
    type Measurement = LinearAeMeasurement;
    type Measures = Measures;

    fn validate(&self) -> Checked {
        domain::count_in("n_sets", self.n_sets, 1, 100_000)?;
        linear_autoencoder(self.n_points, self.latent, &self.training, self.mixed_angle_threshold)
    }

    fn runs(&self, seed: u64, _inputs: &InputDigests) -> Vec<(Label, LinearAeRun)> {
        (0..self.n_sets as u64)
            .map(|index| {
                let required = self.balanced.then_some(if index % 2 == 0 {
                    Verdict::Modular
                } else {
                    Verdict::Mixed
                });
                (
                    BTreeMap::from([("set".to_string(), index.to_string())]),
                    LinearAeRun {
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
                    },
                )
            })
            .collect()
    }

    fn batch_key(recipe: &LinearAeRun) -> String {
        recipe.batch_key()
    }

    fn work(recipe: &LinearAeRun) -> u64 {
        recipe.training.steps as u64
    }

    fn train(
        &self,
        recipes: &[&LinearAeRun],
        device: &Device,
        progress: &(dyn Fn(u64) + Sync),
        _threads: usize,
    ) -> anyhow::Result<Vec<LinearAeWeights>> {
        linear_ae_run::train_batch(recipes, device, progress)
    }

    fn measure(&self, recipe: &LinearAeRun, output: &LinearAeWeights) -> anyhow::Result<LinearAeMeasurement> {
        linear_ae_run::measure_run(recipe, output)
    }

    fn measures(&self, runs: &[Measured<'_, Self>]) -> Measures {
        let column =
            |f: &dyn Fn(&LinearAeMeasurement) -> f64| runs.iter().map(|r| f(r.measurement)).collect::<Vec<_>>();
        let gain = column(&|m| m.theory.mixing_energy_gain);
        let info = column(&|m| m.multiinformation);
        let angle = column(&|m| m.most_mixed_angle.unwrap_or(0.0));
        let cinfom = column(&|m| m.linear_cinfom.unwrap_or(f64::NAN));
        let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
        let points = panel_points(runs);
        // Within one verdict group: (multiinformation, gain) against the angle.
        let within = |verdict: &str, by_gain: bool| {
            let p = points.get(verdict)?;
            let angle: Vec<f64> = p[0].iter().map(|q| q.1).collect();
            let x: Vec<f64> = p[usize::from(by_gain)].iter().map(|q| q.0).collect();
            finite(spearman(&x, &angle))
        };
        Measures {
            spearman_gain_vs_angle: finite(spearman(&gain, &angle)),
            spearman_multiinfo_vs_angle: finite(spearman(&info, &angle)),
            pearson_gain_vs_angle: finite(pearson(&gain, &angle)),
            pearson_multiinfo_vs_angle: finite(pearson(&info, &angle)),
            spearman_gain_vs_cinfom: finite(spearman(&gain, &cinfom)),
            spearman_multiinfo_vs_cinfom: finite(spearman(&info, &cinfom)),
            spearman_multiinfo_vs_angle_mixed: within("mixed", false),
            spearman_multiinfo_vs_angle_modular: within("modular", false),
            spearman_gain_vs_angle_mixed: within("mixed", true),
            spearman_gain_vs_angle_modular: within("modular", true),
            verdict_accuracy: linear_ae_run::verdict_agreement(
                runs.iter().map(|r| r.measurement),
                self.mixed_angle_threshold,
            ),
            max_reconstruction_loss: runs
                .iter()
                .map(|r| r.measurement.losses.reconstruction)
                .reduce(f64::max)
                .map(|m| m.max(0.0)),
        }
    }

    fn table(&self, runs: &[Measured<'_, Self>]) -> Table {
        let columns = [
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
        ];
        kind::sweep_table(runs, &columns, |run| {
            let m = run.measurement;
            vec![vec![
                run.seed.to_string(),
                run.label["set"].clone(),
                m.theory.verdict.as_str().to_string(),
                m.theory.mixing_energy_gain.to_string(),
                m.multiinformation.to_string(),
                cell(m.most_mixed_angle),
                cell(m.linear_cinfom),
                cell(m.linear_infom),
                m.network_verdict(self.mixed_angle_threshold).as_str().to_string(),
                m.losses.reconstruction.to_string(),
            ]]
        })
    }

    fn figure(&self, runs: &[Measured<'_, Self>], _: &Measures) -> Figure {
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
        let points = panel_points(runs);
        let panels = titles
            .iter()
            .enumerate()
            .map(|(k, (title, x, y))| Panel {
                title: title.to_string(),
                x_label: x.to_string(),
                y_label: y.to_string(),
                equal_aspect: false,
                legend: Default::default(),
                series: points
                    .iter()
                    .map(|(verdict, pts)| {
                        Series::points(format!("theory: {verdict}"), colour_of(verdict), pts[k].clone())
                    })
                    .collect(),
            })
            .collect();
        Figure { columns: 2, panels }
    }

    fn notes(&self, runs: &[Measured<'_, Self>]) -> Vec<String> {
        vec![format!(
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
        )]
    }
}

pub fn colour_of(verdict: &str) -> usize {
    usize::from(verdict == "mixed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiments::kind::ErasedKind;

    fn params(n_sets: usize) -> Params {
        Params {
            n_sets,
            n_points: 32,
            data_seed: 2,
            balanced: true,
            latent: 2,
            objective: AutoencoderObjective {
                reconstruction: 1.0,
                activity: 1e-3,
                nonnegativity: 0.5,
                weight: 1e-4,
            },
            training: Training {
                steps: 10,
                learning_rate: 1e-3,
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-8,
            },
            mixed_angle_threshold: 0.05,
        }
    }

    #[test]
    fn measures_of_codes_that_follow_the_theory() {
        // Six balanced sets; each gets the code its verdict calls for (the mixed ones a neuron
        // at 45°), so the network verdicts agree with the theory on every set.
        let p = params(6);
        let slots = ErasedKind::runs(&p, 0, &Default::default());
        let measurements: Vec<LinearAeMeasurement> = slots
            .iter()
            .map(|slot| {
                let recipe: LinearAeRun = serde_json::from_value(slot.recipe.0.recipe.clone()).unwrap();
                let points = recipe.points.generate().unwrap();
                let verdict = crate::analysis::theory::check_two_sources(&points, Default::default())
                    .unwrap()
                    .verdict;
                let second = if verdict == Verdict::Mixed { 1.0 } else { 0.0 };
                let weights = LinearAeWeights {
                    inputs: 2,
                    latent: 2,
                    w_enc: vec![1.0, second, 0.0, 1.0],
                    b_enc: vec![0.0; 2],
                    w_dec: vec![1.0, 0.0, 0.0, 1.0],
                    b_dec: vec![0.0; 2],
                };
                linear_ae_run::measure_run(&recipe, &weights).unwrap()
            })
            .collect();
        let sweep = BTreeMap::new();
        let runs: Vec<Measured<'_, Params>> = slots
            .iter()
            .zip(&measurements)
            .map(|(slot, measurement)| Measured {
                sweep: &sweep,
                seed: 0,
                label: &slot.label,
                measurement,
            })
            .collect();
        let m = p.measures(&runs);
        assert_eq!(m.verdict_accuracy, Some(1.0));
        // Angles are 0 or π/4 by verdict, so they rise with the theory's gain.
        assert!(m.spearman_gain_vs_angle.unwrap() > 0.5, "{m:?}");
        // Within one verdict group every angle is the same: no correlation is defined.
        assert_eq!(m.spearman_gain_vs_angle_mixed, None);
        assert!(m.max_reconstruction_loss.is_some());
        assert_eq!(p.table(&runs).rows.len(), 6);
        let figure = p.figure(&runs, &m);
        assert_eq!(figure.panels.len(), 4);
        assert_eq!(figure.panels[0].series.len(), 2, "modular and mixed");
    }
}
