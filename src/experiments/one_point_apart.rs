//! Dorrell et al. 2025, Fig 1c: two point sets that differ by one point and fall on opposite
//! sides of the range-independence condition; a linear autoencoder trained on each should be
//! modular on one and mixed on the other, as the theory says.

use std::collections::BTreeMap;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use super::cell;
use super::domains::linear_autoencoder;
use super::kind::{self, Kind, Label, Measured};
use super::linear_ae_run::{self, LinearAeMeasurement, LinearAeRun};
use super::random_point_sets::colour_of;
use crate::analysis::stats::{mean, separation};
use crate::analysis::theory::{TheoryCheck, Verdict, ellipse_outline};
use crate::data::inputs::InputDigests;
use crate::data::points::PointRecipe;
use crate::model::AutoencoderObjective;
use crate::model::linear_ae::{LinearAeWeights, Training};
use crate::render::figure::{Figure, Panel, Series};
use crate::render::table::Table;
use crate::rng::SplitMix64;
use crate::spec::domain::Checked;

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

/// The values Fig 1c's claims read; each `None` without runs of its set.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Measures {
    /// Share of runs whose network verdict (the angle cut) agrees with the theory's.
    pub verdict_agreement: Option<f64>,
    pub angle_full_set: Option<f64>,
    pub angle_less_one_point: Option<f64>,
    pub cinfom_full_set: Option<f64>,
    pub cinfom_less_one_point: Option<f64>,
    /// The lowest CInfoM on the modular (full) set less the highest on the mixed set (> 0:
    /// every seed separates the sets).
    pub cinfom_separation: Option<f64>,
    pub max_reconstruction_loss: Option<f64>,
}

const MEMBERS: [(Verdict, &str); 2] = [(Verdict::Modular, "full_set"), (Verdict::Mixed, "less_one_point")];

impl Kind for Params {
    const NAME: &'static str = "OnePointApart";
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
        linear_autoencoder(self.n_points, self.latent, &self.training, self.mixed_angle_threshold)
    }

    fn runs(&self, seed: u64, _inputs: &InputDigests) -> Vec<(Label, LinearAeRun)> {
        MEMBERS
            .iter()
            .enumerate()
            .map(|(k, &(member, name))| {
                (
                    BTreeMap::from([("set".to_string(), name.to_string())]),
                    LinearAeRun {
                        points: PointRecipe::OnePointApart {
                            n_points: self.n_points,
                            data_seed: self.data_seed,
                            member,
                        },
                        latent: self.latent,
                        objective: self.objective,
                        training: self.training,
                        init_seed: SplitMix64::derive(seed, k as u64).next_u64(),
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
        let of_set = |set: &'static str| -> Vec<&LinearAeMeasurement> {
            runs.iter()
                .filter(|r| r.label["set"] == set)
                .map(|r| r.measurement)
                .collect()
        };
        let angles = |set| {
            of_set(set)
                .iter()
                .filter_map(|m| m.most_mixed_angle)
                .collect::<Vec<_>>()
        };
        let cinfoms = |set| of_set(set).iter().filter_map(|m| m.linear_cinfom).collect::<Vec<_>>();
        Measures {
            verdict_agreement: linear_ae_run::verdict_agreement(
                runs.iter().map(|r| r.measurement),
                self.mixed_angle_threshold,
            ),
            angle_full_set: mean(&angles("full_set")),
            angle_less_one_point: mean(&angles("less_one_point")),
            cinfom_full_set: mean(&cinfoms("full_set")),
            cinfom_less_one_point: mean(&cinfoms("less_one_point")),
            // The verdicts are a cut on one angle; this asks whether the two sets' codes are
            // apart at all: the least modular network on the modular set against the most
            // modular one on the mixed set.
            cinfom_separation: separation(&cinfoms("less_one_point"), &cinfoms("full_set")),
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
            "n_points",
            "theory_verdict",
            "mixing_energy_gain",
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
                m.points.len().to_string(),
                m.theory.verdict.as_str().to_string(),
                m.theory.mixing_energy_gain.to_string(),
                cell(m.most_mixed_angle),
                cell(m.linear_cinfom),
                cell(m.linear_infom),
                m.network_verdict(self.mixed_angle_threshold).as_str().to_string(),
                m.losses.reconstruction.to_string(),
            ]]
        })
    }

    fn figure(&self, runs: &[Measured<'_, Self>], _: &Measures) -> Figure {
        Figure {
            columns: 2,
            panels: runs
                .iter()
                .map(|run| {
                    let network = run.measurement.network_verdict(self.mixed_angle_threshold);
                    data_panel(&run.label["set"], run.seed, run.measurement, network)
                })
                .collect(),
        }
    }

    fn notes(&self, runs: &[Measured<'_, Self>]) -> Vec<String> {
        vec![format!(
            "{} runs: a set of {} points uniform on [0,1]² that the theory calls modular and the same set less one point that it calls mixed (data seed {}); linear AE 2→{}→2, {} Adam steps at lr {}.",
            runs.len(),
            self.n_points,
            self.data_seed,
            self.latent,
            self.training.steps,
            self.training.learning_rate
        )]
    }
}

fn data_panel(set: &str, seed: u64, m: &LinearAeMeasurement, network: Verdict) -> Panel {
    let title = format!(
        "{} (seed {}): theory {}, network {}, CInfoM {}",
        set.replace('_', " "),
        seed,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiments::kind::ErasedKind;

    fn params() -> Params {
        Params {
            n_points: 28,
            data_seed: 3,
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

    /// A 2 → 2 → 2 linear autoencoder whose first neuron reads source 1 and whose second reads
    /// `second` (a modular code when it is (0, 1)).
    fn weights(second: [f32; 2]) -> LinearAeWeights {
        LinearAeWeights {
            inputs: 2,
            latent: 2,
            // [inputs × latent]: column j is neuron j.
            w_enc: vec![1.0, second[0], 0.0, second[1]],
            b_enc: vec![0.0; 2],
            w_dec: vec![1.0, 0.0, 0.0, 1.0],
            b_dec: vec![0.0; 2],
        }
    }

    #[test]
    fn measures_of_hand_built_codes() {
        let p = params();
        let runs = ErasedKind::runs(&p, 0, &Default::default());
        let recipe = |k: usize| -> LinearAeRun { serde_json::from_value(runs[k].recipe.0.recipe.clone()).unwrap() };
        // The modular set gets a modular code, the mixed set a code with one neuron at 45°.
        let modular = linear_ae_run::measure_run(&recipe(0), &weights([0.0, 1.0])).unwrap();
        let mixed = linear_ae_run::measure_run(&recipe(1), &weights([1.0, 1.0])).unwrap();
        assert_eq!(modular.theory.verdict, Verdict::Modular);
        assert_eq!(mixed.theory.verdict, Verdict::Mixed);
        let sweep = BTreeMap::new();
        let labels = [&runs[0].label, &runs[1].label];
        let measured: Vec<Measured<'_, Params>> = [&modular, &mixed]
            .into_iter()
            .zip(labels)
            .map(|(measurement, label)| Measured {
                sweep: &sweep,
                seed: 0,
                label,
                measurement,
            })
            .collect();
        let m = p.measures(&measured);
        assert_eq!(m.verdict_agreement, Some(1.0));
        assert_eq!(m.angle_full_set, Some(0.0));
        assert!((m.angle_less_one_point.unwrap() - std::f64::consts::FRAC_PI_4).abs() < 1e-6);
        assert_eq!(m.cinfom_full_set, modular.linear_cinfom);
        let gap = modular.linear_cinfom.unwrap() - mixed.linear_cinfom.unwrap();
        assert_eq!(m.cinfom_separation, Some(gap));
        assert!(gap > 0.0, "a 45° neuron mixes: {gap}");
        let table = p.table(&measured);
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[1][1], "less_one_point");
        assert_eq!(table.rows[1][8], "mixed", "the network verdict column");
        assert_eq!(p.figure(&measured, &m).panels.len(), 2, "one panel per run");
        assert_eq!(p.measures(&[]), Measures::default());
    }

    #[test]
    fn version_1_retires_the_old_enum_variant_s_keys() {
        // Trained by Burn's graph until version 1; those cached runs must not be read as the
        // hand-written loop's.
        let key = crate::experiments::kind::assert_versioned_key(&params(), 3);
        assert!(!key.contains("\"LinearAe\""), "{key}");
    }
}
