//! Lange, Rolnick & Kording 2022: MNIST MLPs swept over dropout, L1 and L2 (one at a time);
//! for each hidden layer, four association matrices between units are clustered by maximising
//! modularity Q. Dropout raises Q markedly, L1/L2 only modestly, and trained networks beat the
//! untrained null model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Unavailable;
use super::domains::{adam, each};
use super::kind::{Kind, Label, LegacyKey, Measured, names_of};
use crate::analysis::associations::{Method, all_associations, prepare};
use crate::analysis::modularity::{Graph, MonteCarlo, effective_clusters, monte_carlo_refine, spectral_bisection};
use crate::analysis::partition_similarity::element_centric_similarity;
use crate::analysis::stats::{mean, spearman, standard_error};
use crate::data::inputs::{DataInput, InputDigests};
use crate::data::mnist_cache::{LoadedMnist, load};
use crate::model::classifier::{
    Classification, ClassifierTraining, ClassifierWeights, Regularisation, TrainedClassifier,
};
use crate::render::figure::{Figure, Legend, Panel, Series};
use crate::render::table::Table;
use crate::rng::SplitMix64;
use crate::spec::domain::{self, Checked};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Where MNIST is (mnist.pkl.gz or IDX files); `scripts/fetch_mnist.sh` fills data/mnist.
    pub data_dir: String,
    /// Hidden widths (the paper: [64, 64]; wide [256, 256]; deep five × 64).
    pub hidden: Vec<usize>,
    /// Sweep values, one regulariser at a time, the others at their defaults.
    pub dropout: Vec<f64>,
    pub l1: Vec<f64>,
    pub l2: Vec<f64>,
    /// L2 used when sweeping something else (the paper: at least 1e-5 everywhere).
    pub default_l2: f64,
    pub training: ClassifierTraining,
    /// Untrained networks per seed as the null model.
    pub untrained: bool,
    /// Test images the association matrices are computed on.
    pub eval_samples: usize,
    /// Divide associations by √(AᵢᵢAⱼⱼ).
    pub normed: bool,
    pub monte_carlo: MonteCarlo,
    /// Leave out networks with test accuracy below this (the paper: 0.8).
    pub accuracy_filter: Option<f64>,
    /// What the artefact shows; the runs (and their cache entries) are the same for both.
    pub report: Report,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Report {
    /// Q and the number of clusters against each regulariser, with the untrained null.
    ModularityVsRegularisation,
    /// Element-centric similarity between the methods' partitions, within and across the
    /// upstream and downstream families.
    Agreement,
    /// Test accuracy and the weight norms Σ|W|, ΣW² against each regulariser.
    AccuracyAndNorms,
    /// The effective number of clusters against each regulariser, per method.
    Clusters,
    /// First-layer association matrices sorted by cluster, for increasing dropout (first seed).
    ExampleMatrices,
}

/// Everything that decides a (trained or untrained) network: hashed into its cache key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierRun {
    /// The MNIST files' fingerprint, not their place (the spec's `data_dir` says where they
    /// are): moving the files keeps the cache, changing them does not.
    pub data_fingerprint: String,
    pub widths: Vec<usize>,
    pub regularisation: Regularisation,
    /// `None` for an untrained (null-model) network.
    pub training: Option<ClassifierTraining>,
    pub init_seed: u64,
    pub train_seed: u64,
}

impl ClassifierRun {
    /// MNIST from `data_dir`, refused if it is not the data this run was planned on.
    pub fn data(&self, data_dir: &str) -> anyhow::Result<std::sync::Arc<LoadedMnist>> {
        let data = load(std::path::Path::new(data_dir))?;
        anyhow::ensure!(
            data.fingerprint == self.data_fingerprint,
            "{data_dir}: the MNIST files changed since this run was planned (fix: run again)"
        );
        Ok(data)
    }

    pub fn train(
        &self,
        data_dir: &str,
        device: &burn::tensor::Device,
        on_epoch: impl FnMut(usize),
    ) -> anyhow::Result<TrainedClassifier> {
        let init = ClassifierWeights::init(&self.widths, self.init_seed);
        let Some(training) = &self.training else {
            return Ok(TrainedClassifier {
                weights: init,
                epochs: 0,
                best_epoch: 0,
                best_validation_loss: None,
            });
        };
        let data = self.data(data_dir)?;
        let d = &data.data;
        let classification = Classification {
            train: (&d.train.images, &d.train.labels),
            validation: (&d.validation.images, &d.validation.labels),
            init: &init,
            regularisation: &self.regularisation,
            training,
            seed: self.train_seed,
        };
        Ok(classification.train(device, on_epoch))
    }
}

/// Per hidden layer and method: Q and the effective number of clusters.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusteringMeasurement {
    pub test_accuracy: f64,
    pub l1_norm: f64,
    pub l2_norm: f64,
    /// (layer, method, Q, clusters)
    pub modularity: Vec<(usize, Method, f64, f64)>,
    /// (layer, method a, method b, element-centric similarity of their partitions, Spearman
    /// correlation of their matrices' upper triangles), a < b.
    pub agreement: Vec<(usize, Method, Method, f64, f64)>,
    /// First hidden layer: each method's prepared matrix with units sorted by cluster.
    pub sorted_matrices: Vec<(Method, usize, Vec<f64>)>,
}

/// Measurements already made in this process. The five Lange specs share their runs, so
/// `verify` would otherwise redo the same associations and clusterings once per spec.
static MEASURED: std::sync::OnceLock<std::sync::Mutex<BTreeMap<String, ClusteringMeasurement>>> =
    std::sync::OnceLock::new();

pub fn measure(
    run: &ClassifierRun,
    trained: &TrainedClassifier,
    params: &Params,
) -> anyhow::Result<ClusteringMeasurement> {
    // Everything the measurement depends on: the run (its weights follow from it) and the
    // analysis settings.
    let key = serde_json::to_string(&(run, params.eval_samples, params.normed, &params.monte_carlo))?;
    let memo = MEASURED.get_or_init(Default::default);
    if let Some(found) = memo.lock().expect("no panic while measuring").get(&key) {
        return Ok(found.clone());
    }
    let measured = measure_uncached(run, trained, params)?;
    memo.lock()
        .expect("no panic while measuring")
        .insert(key, measured.clone());
    Ok(measured)
}

fn measure_uncached(
    run: &ClassifierRun,
    trained: &TrainedClassifier,
    params: &Params,
) -> anyhow::Result<ClusteringMeasurement> {
    let data = run.data(&params.data_dir)?;
    let test = &data.data.test;
    let w = &trained.weights;
    let (_, test_accuracy) = w.evaluate(&test.images, &test.labels);
    let pixels = w.widths[0];
    let eval = &test.images[..params.eval_samples.min(test.len()) * pixels];
    let clustered = cluster_units(w, eval, params.normed, &params.monte_carlo);
    Ok(ClusteringMeasurement {
        test_accuracy,
        l1_norm: w.weights.iter().flatten().map(|&v| (v as f64).abs()).sum(),
        l2_norm: w.weights.iter().flatten().map(|&v| (v as f64).powi(2)).sum(),
        modularity: clustered.modularity,
        agreement: clustered.agreement,
        sorted_matrices: clustered.sorted_matrices,
    })
}

/// What clustering one network's hidden units found (see [`ClusteringMeasurement`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusteredUnits {
    pub modularity: Vec<(usize, Method, f64, f64)>,
    pub agreement: Vec<(usize, Method, Method, f64, f64)>,
    pub sorted_matrices: Vec<(Method, usize, Vec<f64>)>,
}

/// Lange et al.'s analysis of one network: for every hidden layer, the four association
/// matrices over `inputs` (samples × input width, row-major), each clustered by maximising
/// Newman's Q (spectral bisection, then Monte Carlo), and the agreement of every pair of
/// methods. The specs and `modrepro cluster-units` both call this.
pub fn cluster_units(w: &ClassifierWeights, inputs: &[f32], normed: bool, monte_carlo: &MonteCarlo) -> ClusteredUnits {
    let mut modularity = Vec::new();
    let mut agreement = Vec::new();
    let mut sorted_matrices = Vec::new();
    for (layer, matrices) in all_associations(w, inputs).into_iter().enumerate() {
        let units = w.widths[layer + 1];
        let mut partitions = Vec::new();
        let mut triangles = Vec::new();
        for (method, raw) in matrices {
            let prepared = prepare(&raw, units, normed);
            triangles.push(
                (0..units)
                    .flat_map(|i| (i + 1..units).map(move |j| (i, j)))
                    .map(|(i, j)| prepared[i * units + j])
                    .collect::<Vec<f64>>(),
            );
            let graph = Graph::new(units, prepared);
            let start = spectral_bisection(&graph);
            let (labels, q) = monte_carlo_refine(&graph, start, monte_carlo);
            if layer == 0 {
                let mut order: Vec<usize> = (0..units).collect();
                order.sort_by_key(|&i| (labels[i].unwrap_or(usize::MAX), i));
                let sorted = order
                    .iter()
                    .flat_map(|&i| order.iter().map(move |&j| (i, j)))
                    .map(|(i, j)| graph.get(i, j))
                    .collect();
                sorted_matrices.push((method, units, sorted));
            }
            modularity.push((layer, method, q, effective_clusters(&labels)));
            partitions.push((method, labels));
        }
        for (x, (ma, pa)) in partitions.iter().enumerate() {
            for (y, (mb, pb)) in partitions.iter().enumerate().skip(x + 1) {
                let rho = spearman(&triangles[x], &triangles[y]).unwrap_or(f64::NAN);
                agreement.push((layer, *ma, *mb, element_centric_similarity(pa, pb), rho));
            }
        }
    }
    ClusteredUnits {
        modularity,
        agreement,
        sorted_matrices,
    }
}

/// Mean and standard error of each value's runs, sorted by the (numeric) value (s.e. 0 for a
/// single run).
fn mean_curve(by_value: &BTreeMap<String, Vec<f64>>) -> Vec<(f64, f64, f64)> {
    let mut curve: Vec<(f64, f64, f64)> = by_value
        .iter()
        .map(|(v, ys)| {
            (
                v.parse::<f64>().unwrap_or(f64::NAN),
                mean(ys).unwrap_or(f64::NAN),
                standard_error(ys).unwrap_or(0.0),
            )
        })
        .collect();
    curve.sort_by(|a, b| a.0.total_cmp(&b.0));
    curve
}

/// (dropout, method, matrix side, sorted matrix, Q, clusters) of one example matrix.
type ExamplePanel<'a> = (f64, Method, usize, &'a [f64], f64, f64);

/// (test accuracy, Σ|W|, ΣW²) of one run.
type AccuracyNorms = (f64, f64, f64);

/// What the artefact measures, by report: each report's values are one struct, so a claim on
/// a value its report does not measure is refused when the spec loads.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Measures {
    ModularityVsRegularisation(ModularityMeasures),
    Agreement(AgreementMeasures),
    AccuracyAndNorms(AccuracyMeasures),
    /// The cluster counts are not Q: no Q-named values come from them.
    Clusters(FilterMeasures),
    ExampleMatrices,
}

impl Default for Measures {
    fn default() -> Self {
        Measures::empty(Report::ModularityVsRegularisation)
    }
}

impl Measures {
    /// The report's measures with every value absent: its names.
    fn empty(report: Report) -> Measures {
        match report {
            Report::ModularityVsRegularisation => Measures::ModularityVsRegularisation(Default::default()),
            Report::Agreement => Measures::Agreement(Default::default()),
            Report::AccuracyAndNorms => Measures::AccuracyAndNorms(Default::default()),
            Report::Clusters => Measures::Clusters(Default::default()),
            Report::ExampleMatrices => Measures::ExampleMatrices,
        }
    }
}

/// Q against regularisation (the paper's Fig 3 and 4; both hidden layers pooled).
#[derive(Debug, Default, Serialize)]
pub struct ModularityMeasures {
    /// Spearman correlation of the mean Q with the dropout rate, per method.
    pub spearman_q_vs_dropout_input_covariance: Option<f64>,
    pub spearman_q_vs_dropout_input_gradient: Option<f64>,
    pub spearman_q_vs_dropout_output_gradient: Option<f64>,
    pub spearman_q_vs_dropout_output_hessian: Option<f64>,
    /// Mean Q at the largest dropout rate, per method.
    pub q_at_max_dropout_input_covariance: Option<f64>,
    pub q_at_max_dropout_input_gradient: Option<f64>,
    pub q_at_max_dropout_output_gradient: Option<f64>,
    pub q_at_max_dropout_output_hessian: Option<f64>,
    /// Mean Q of the untrained networks (the null model).
    pub untrained_q: Option<f64>,
    /// The largest mean Q anywhere in the L1 and L2 sweeps (the paper: "modest").
    pub max_q_l1_l2: Option<f64>,
    /// The smallest (mean Q of a sweep point − untrained Q) over every regulariser and method.
    pub min_trained_minus_untrained_q: Option<f64>,
    #[serde(flatten)]
    pub filter: FilterMeasures,
}

/// What the accuracy filter did.
#[derive(Debug, Default, Serialize)]
pub struct FilterMeasures {
    pub test_accuracy_min: Option<f64>,
    pub runs_dropped_by_accuracy_filter: Option<f64>,
}

#[derive(Debug, Default, Serialize)]
pub struct AccuracyMeasures {
    pub test_accuracy_min: Option<f64>,
}

/// Element-centric similarity of the methods' partitions (kept trained runs unless named).
#[derive(Debug, Default, Serialize)]
pub struct AgreementMeasures {
    pub agreement_within_upstream: Option<f64>,
    pub agreement_within_downstream: Option<f64>,
    pub agreement_across_families: Option<f64>,
    /// Mean of the two within-family values − across.
    pub agreement_within_minus_across: Option<f64>,
    pub untrained_agreement_across_families: Option<f64>,
    /// The same contrast for the Spearman correlation of the association matrices themselves.
    pub matrix_spearman_within_minus_across: Option<f64>,
}

impl ModularityMeasures {
    fn set_dropout_curve(&mut self, method: Method, spearman: Option<f64>, q_at_max: Option<f64>) {
        let (rho, q) = match method {
            Method::InputCovariance => (
                &mut self.spearman_q_vs_dropout_input_covariance,
                &mut self.q_at_max_dropout_input_covariance,
            ),
            Method::InputGradient => (
                &mut self.spearman_q_vs_dropout_input_gradient,
                &mut self.q_at_max_dropout_input_gradient,
            ),
            Method::OutputGradient => (
                &mut self.spearman_q_vs_dropout_output_gradient,
                &mut self.q_at_max_dropout_output_gradient,
            ),
            Method::OutputHessian => (
                &mut self.spearman_q_vs_dropout_output_hessian,
                &mut self.q_at_max_dropout_output_hessian,
            ),
        };
        (*rho, *q) = (spearman, q_at_max);
    }
}

/// regulariser value (as the label writes it) → the values of its kept runs.
type ByValue = BTreeMap<String, Vec<f64>>;

/// Q (or, for the Clusters report, the effective number of clusters) of the kept runs.
struct Curves {
    /// (regulariser, method) → both hidden layers pooled.
    pooled: BTreeMap<(String, Method), ByValue>,
    /// (regulariser, layer, method) → one panel per regulariser and layer.
    by_layer: BTreeMap<(String, usize, Method), ByValue>,
    /// Trained runs left out by the accuracy filter.
    dropped: usize,
    /// The lowest test accuracy of a trained run (∞ if none).
    min_accuracy: f64,
}

/// (trained?, method a, method b) → values over kept runs, both layers.
type PairValues = BTreeMap<(bool, Method, Method), Vec<f64>>;

/// The mean over one family of method pairs: `within` Some(true): both upstream; Some(false):
/// both downstream; None: one of each.
fn family_mean(pairs: &PairValues, trained: bool, within: Option<bool>) -> Option<f64> {
    let values: Vec<f64> = pairs
        .iter()
        .filter(|((t, a, b), _)| {
            *t == trained
                && match within {
                    Some(up) => a.is_upstream() == up && b.is_upstream() == up,
                    None => a.is_upstream() != b.is_upstream(),
                }
        })
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    mean(&values)
}

impl Params {
    fn data_unavailable(&self) -> Option<Unavailable> {
        match load(std::path::Path::new(&self.data_dir)) {
            Ok(_) => None,
            Err(e) => Some(Unavailable::DataMissing(e.to_string())),
        }
    }

    fn widths(&self) -> Vec<usize> {
        let mut w = vec![crate::data::mnist::PIXELS];
        w.extend(&self.hidden);
        w.push(10);
        w
    }

    fn kept(&self, run: &Measured<'_, Self>) -> bool {
        run.label["regulariser"] == "untrained"
            || self.accuracy_filter.is_none_or(|a| run.measurement.test_accuracy >= a)
    }

    fn describe_training(&self) -> Vec<String> {
        let source = load(std::path::Path::new(&self.data_dir))
            .map(|d| d.data.describe())
            .unwrap_or_default();
        vec![
            source,
            format!(
                "MLP 784→{:?}→10, Adam lr {} batch {}, ≤ {} epochs (early stopping {} / plateau ×{} after {}){}; associations on {} test images{}; Monte Carlo {} steps at entropy {}.",
                self.hidden,
                self.training.learning_rate,
                self.training.batch_size,
                self.training.max_epochs,
                self.training.stopping_patience,
                self.training.plateau_factor,
                self.training.plateau_patience,
                self.training
                    .train_subset
                    .map_or(String::new(), |n| format!(", first {n} training images")),
                self.eval_samples,
                if self.normed { ", normed" } else { "" },
                self.monte_carlo.steps,
                self.monte_carlo.target_entropy
            ),
        ]
    }

    // ---- Q (or cluster counts) against regularisation ----

    fn curves(&self, runs: &[Measured<'_, Self>]) -> Curves {
        // The Clusters report plots the effective number of clusters where the other plots Q.
        let clusters = self.report == Report::Clusters;
        let mut curves = Curves {
            pooled: BTreeMap::new(),
            by_layer: BTreeMap::new(),
            dropped: 0,
            min_accuracy: f64::INFINITY,
        };
        for run in runs {
            let m = run.measurement;
            let regulariser = &run.label["regulariser"];
            let kept = self.kept(run);
            if regulariser != "untrained" {
                curves.dropped += usize::from(!kept);
                curves.min_accuracy = curves.min_accuracy.min(m.test_accuracy);
            }
            if !kept {
                continue;
            }
            for &(layer, method, q, clusters_count) in &m.modularity {
                let y = if clusters { clusters_count } else { q };
                let value = run.label["value"].clone();
                curves
                    .by_layer
                    .entry((regulariser.clone(), layer, method))
                    .or_default()
                    .entry(value.clone())
                    .or_default()
                    .push(y);
                curves
                    .pooled
                    .entry((regulariser.clone(), method))
                    .or_default()
                    .entry(value)
                    .or_default()
                    .push(y);
            }
        }
        curves
    }

    fn filter_measures(curves: &Curves) -> FilterMeasures {
        FilterMeasures {
            test_accuracy_min: curves.min_accuracy.is_finite().then_some(curves.min_accuracy),
            runs_dropped_by_accuracy_filter: Some(curves.dropped as f64),
        }
    }

    fn modularity_measures(curves: &Curves) -> ModularityMeasures {
        let untrained: Vec<f64> = Method::ALL
            .iter()
            .filter_map(|m| curves.pooled.get(&("untrained".to_string(), *m)))
            .flat_map(|v| v.values().flatten().copied())
            .collect();
        let untrained_q = mean(&untrained);
        let mut measures = ModularityMeasures {
            untrained_q,
            filter: Self::filter_measures(curves),
            ..Default::default()
        };
        let (mut min_gap, mut max_q_l1_l2) = (f64::INFINITY, f64::NEG_INFINITY);
        for regulariser in ["dropout", "l1", "l2"] {
            for method in Method::ALL {
                let Some(by_value) = curves.pooled.get(&(regulariser.to_string(), method)) else {
                    continue;
                };
                let curve = mean_curve(by_value);
                if let Some(u) = untrained_q {
                    min_gap = curve.iter().map(|p| p.1 - u).fold(min_gap, f64::min);
                }
                if regulariser == "dropout" {
                    let (x, y): (Vec<f64>, Vec<f64>) = curve.iter().map(|p| (p.0, p.1)).unzip();
                    measures.set_dropout_curve(method, spearman(&x, &y), curve.last().map(|p| p.1));
                } else {
                    max_q_l1_l2 = curve.iter().map(|p| p.1).fold(max_q_l1_l2, f64::max);
                }
            }
        }
        measures.max_q_l1_l2 = max_q_l1_l2.is_finite().then_some(max_q_l1_l2);
        measures.min_trained_minus_untrained_q = min_gap.is_finite().then_some(min_gap);
        measures
    }

    fn modularity_table(runs: &[Measured<'_, Self>], kept: impl Fn(&Measured<'_, Self>) -> bool) -> Table {
        let mut table = Table::new(
            [
                "regulariser",
                "value",
                "seed",
                "layer",
                "method",
                "q",
                "clusters",
                "test_accuracy",
                "l1_norm",
                "l2_norm",
                "kept",
            ]
            .map(String::from)
            .to_vec(),
        );
        for run in runs {
            let m = run.measurement;
            for &(layer, method, q, clusters) in &m.modularity {
                table.push(vec![
                    run.label["regulariser"].clone(),
                    run.label["value"].clone(),
                    run.seed.to_string(),
                    (layer + 1).to_string(),
                    method.name().to_string(),
                    q.to_string(),
                    clusters.to_string(),
                    m.test_accuracy.to_string(),
                    m.l1_norm.to_string(),
                    m.l2_norm.to_string(),
                    kept(run).to_string(),
                ]);
            }
        }
        table
    }

    fn modularity_figure(&self, curves: &Curves) -> Figure {
        let clusters = self.report == Report::Clusters;
        let mut panels = Vec::new();
        for regulariser in ["dropout", "l1", "l2"] {
            for layer in 0..self.hidden.len() {
                let x_of = |v: f64| if regulariser == "dropout" { v } else { v.log10() };
                let mut series = Vec::new();
                for (colour, method) in Method::ALL.iter().enumerate() {
                    let Some(by_value) = curves.by_layer.get(&(regulariser.to_string(), layer, *method)) else {
                        continue;
                    };
                    let curve: Vec<(f64, f64, f64)> =
                        mean_curve(by_value).iter().map(|p| (x_of(p.0), p.1, p.2)).collect();
                    // A band of ± one standard error across seeds, where there are several.
                    if curve.iter().any(|p| p.2 > 0.0) {
                        let mut band: Vec<(f64, f64)> = curve.iter().map(|p| (p.0, p.1 + p.2)).collect();
                        band.extend(curve.iter().rev().map(|p| (p.0, p.1 - p.2)));
                        series.push(Series::band(format!("{} ± s.e.", method.name()), colour, band));
                    }
                    let means: Vec<(f64, f64)> = curve.iter().map(|p| (p.0, p.1)).collect();
                    series.push(Series::line(method.name(), colour, means.clone()));
                    series.push(Series::points("", colour, means));
                }
                if series.is_empty() {
                    continue;
                }
                let null: Vec<f64> = Method::ALL
                    .iter()
                    .filter_map(|m| curves.by_layer.get(&("untrained".to_string(), layer, *m)))
                    .flat_map(|v| v.values().flatten().copied())
                    .collect();
                if let Some(u) = mean(&null) {
                    let xs: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
                    let (lo, hi) = (
                        xs.iter().copied().fold(f64::INFINITY, f64::min),
                        xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    );
                    series.push(Series::line("untrained (null)", 4, vec![(lo, u), (hi, u)]));
                }
                panels.push(Panel {
                    title: format!(
                        "{} vs {regulariser}, hidden layer {}",
                        if clusters {
                            "Effective number of clusters"
                        } else {
                            "Modularity Q"
                        },
                        layer + 1
                    ),
                    x_label: if regulariser == "dropout" {
                        "dropout rate".into()
                    } else {
                        format!("log10 {regulariser}")
                    },
                    y_label: if clusters {
                        "exp(entropy of cluster sizes)".into()
                    } else {
                        "Q".into()
                    },
                    equal_aspect: false,
                    legend: Legend::UpperRight,
                    series,
                });
            }
        }
        Figure {
            columns: panels.len().clamp(1, 3),
            panels,
        }
    }

    // ---- agreement between the methods' clusterings ----

    /// Similarities and matrix correlations per method pair, over kept runs.
    fn agreements(&self, runs: &[Measured<'_, Self>]) -> (PairValues, PairValues) {
        let (mut similarities, mut correlations) = (PairValues::new(), PairValues::new());
        for run in runs.iter().filter(|r| self.kept(r)) {
            let trained = run.label["regulariser"] != "untrained";
            for &(_, a, b, similarity, rho) in &run.measurement.agreement {
                similarities.entry((trained, a, b)).or_default().push(similarity);
                if rho.is_finite() {
                    correlations.entry((trained, a, b)).or_default().push(rho);
                }
            }
        }
        (similarities, correlations)
    }

    fn agreement_measures(&self, runs: &[Measured<'_, Self>]) -> AgreementMeasures {
        let (pairs, correlations) = self.agreements(runs);
        let contrast = |pairs: &PairValues| {
            let (up, down, across) = (
                family_mean(pairs, true, Some(true)),
                family_mean(pairs, true, Some(false)),
                family_mean(pairs, true, None),
            );
            Some((up? + down?) / 2.0 - across?)
        };
        AgreementMeasures {
            agreement_within_upstream: family_mean(&pairs, true, Some(true)),
            agreement_within_downstream: family_mean(&pairs, true, Some(false)),
            agreement_across_families: family_mean(&pairs, true, None),
            agreement_within_minus_across: contrast(&pairs),
            untrained_agreement_across_families: family_mean(&pairs, false, None),
            matrix_spearman_within_minus_across: contrast(&correlations),
        }
    }

    fn agreement_table(&self, runs: &[Measured<'_, Self>]) -> Table {
        let mut table = Table::new(
            [
                "regulariser",
                "value",
                "seed",
                "layer",
                "method_a",
                "method_b",
                "similarity",
                "matrix_spearman",
                "kept",
            ]
            .map(String::from)
            .to_vec(),
        );
        for run in runs {
            let kept = self.kept(run);
            for &(layer, a, b, similarity, rho) in &run.measurement.agreement {
                table.push(vec![
                    run.label["regulariser"].clone(),
                    run.label["value"].clone(),
                    run.seed.to_string(),
                    (layer + 1).to_string(),
                    a.name().into(),
                    b.name().into(),
                    similarity.to_string(),
                    rho.to_string(),
                    kept.to_string(),
                ]);
            }
        }
        table
    }

    /// The method pairs of the trained runs, in the order of the figure's x axis.
    fn pair_names(pairs: &PairValues) -> Vec<(Method, Method)> {
        pairs.keys().filter(|k| k.0).map(|k| (k.1, k.2)).collect()
    }

    fn agreement_figure(&self, runs: &[Measured<'_, Self>]) -> Figure {
        let (pairs, _) = self.agreements(runs);
        let pair_names = Self::pair_names(&pairs);
        let series = [(true, "trained", 0), (false, "untrained (null)", 4)]
            .iter()
            .map(|&(trained, label, colour)| {
                let points = pair_names
                    .iter()
                    .enumerate()
                    .filter_map(|(x, (a, b))| {
                        pairs
                            .get(&(trained, *a, *b))
                            .and_then(|v| mean(v))
                            .map(|y| (x as f64 + 1.0, y))
                    })
                    .collect();
                Series::points(label, colour, points)
            })
            .collect();
        // 4 × 4 agreement matrices (diagonal 1): trained, untrained, and trained − untrained.
        let matrix = |trained: Option<bool>| -> Vec<f64> {
            let all = Method::ALL;
            let mut m = vec![0.0; 16];
            for (i, a) in all.iter().enumerate() {
                for (j, b) in all.iter().enumerate() {
                    let (x, y) = if i < j { (*a, *b) } else { (*b, *a) };
                    let value = |t: bool| {
                        if i == j {
                            Some(1.0)
                        } else {
                            pairs.get(&(t, x, y)).and_then(|v| mean(v))
                        }
                    };
                    m[i * 4 + j] = match trained {
                        Some(t) => value(t).unwrap_or(f64::NAN),
                        None => value(true).zip(value(false)).map_or(f64::NAN, |(p, q)| p - q),
                    };
                }
            }
            m
        };
        let heat = |title: &str, values: Vec<f64>| Panel {
            title: title.into(),
            x_label: "IC · IG · OG · OH".into(),
            y_label: "IC · IG · OG · OH (top to bottom)".into(),
            equal_aspect: true,
            legend: Legend::UpperRight,
            series: vec![Series::heatmap("", 4, &values)],
        };
        Figure {
            columns: 2,
            panels: vec![
                Panel {
                    title: "Element-centric similarity between methods' clusterings".into(),
                    x_label: "method pair (see notes)".into(),
                    y_label: "similarity".into(),
                    equal_aspect: false,
                    legend: Legend::LowerLeft,
                    series,
                },
                heat("trained networks", matrix(Some(true))),
                heat("untrained networks", matrix(Some(false))),
                heat("trained − untrained", matrix(None)),
            ],
        }
    }

    fn agreement_notes(&self, runs: &[Measured<'_, Self>]) -> Vec<String> {
        let (pairs, _) = self.agreements(runs);
        vec![
            format!(
                "Method pairs on the x axis: {}.",
                Self::pair_names(&pairs)
                    .iter()
                    .enumerate()
                    .map(|(x, (a, b))| format!("{} = {} ~ {}", x + 1, a.name(), b.name()))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            "Heatmaps: methods in the order input covariance (IC), input gradient (IG), output gradient (OG), output Hessian (OH); darker = more similar; the difference panel shows trained − untrained (negative values white).".into(),
        ]
    }

    // ---- test accuracy and weight norms ----

    /// regulariser → value → (accuracy, Σ|W|, ΣW²) per kept trained run.
    fn accuracy_points(&self, runs: &[Measured<'_, Self>]) -> BTreeMap<String, BTreeMap<String, Vec<AccuracyNorms>>> {
        let mut points: BTreeMap<String, BTreeMap<String, Vec<AccuracyNorms>>> = BTreeMap::new();
        for run in runs {
            let m = run.measurement;
            if run.label["regulariser"] != "untrained" && self.kept(run) {
                points
                    .entry(run.label["regulariser"].clone())
                    .or_default()
                    .entry(run.label["value"].clone())
                    .or_default()
                    .push((m.test_accuracy, m.l1_norm, m.l2_norm));
            }
        }
        points
    }

    fn accuracy_table(&self, runs: &[Measured<'_, Self>]) -> Table {
        let mut table = Table::new(
            [
                "regulariser",
                "value",
                "seed",
                "test_accuracy",
                "l1_norm",
                "l2_norm",
                "kept",
            ]
            .map(String::from)
            .to_vec(),
        );
        for run in runs {
            let m = run.measurement;
            table.push(vec![
                run.label["regulariser"].clone(),
                run.label["value"].clone(),
                run.seed.to_string(),
                m.test_accuracy.to_string(),
                m.l1_norm.to_string(),
                m.l2_norm.to_string(),
                self.kept(run).to_string(),
            ]);
        }
        table
    }

    fn accuracy_figure(&self, runs: &[Measured<'_, Self>]) -> Figure {
        let points = self.accuracy_points(runs);
        let mut panels = Vec::new();
        for (title, pick) in [
            ("test accuracy", (|p: &AccuracyNorms| p.0) as fn(&AccuracyNorms) -> f64),
            ("Σ W² (weights)", |p| p.2),
        ] {
            let series = points
                .iter()
                .enumerate()
                .map(|(colour, (regulariser, by_value))| {
                    let mut curve: Vec<(f64, f64)> = by_value
                        .iter()
                        .map(|(v, runs)| {
                            let x = v.parse::<f64>().unwrap_or(f64::NAN);
                            let x = if regulariser == "dropout" { x } else { x.log10() };
                            (x, runs.iter().map(pick).sum::<f64>() / runs.len() as f64)
                        })
                        .collect();
                    curve.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let axis = if regulariser == "dropout" {
                        "x = rate"
                    } else {
                        "x = log10 λ"
                    };
                    Series::line(format!("{regulariser} ({axis})"), colour, curve)
                })
                .collect();
            panels.push(Panel {
                title: format!("{title} vs regularisation"),
                x_label: "dropout rate / log10 penalty".into(),
                y_label: title.into(),
                equal_aspect: false,
                legend: Legend::LowerLeft,
                series,
            });
        }
        Figure { columns: 2, panels }
    }

    // ---- example matrices ----

    /// The first seed's dropout runs, by increasing rate.
    fn examples<'a>(runs: &'a [Measured<'_, Self>]) -> (u64, Vec<(f64, &'a ClusteringMeasurement)>) {
        let first_seed = runs.iter().map(|r| r.seed).min().unwrap_or(0);
        let mut examples: Vec<(f64, &ClusteringMeasurement)> = runs
            .iter()
            .filter(|r| r.seed == first_seed && r.label["regulariser"] == "dropout")
            .map(|r| (r.label["value"].parse().unwrap_or(f64::NAN), r.measurement))
            .collect();
        examples.sort_by(|a, b| a.0.total_cmp(&b.0));
        (first_seed, examples)
    }

    /// Each example panel, input gradient first.
    fn example_panels<'a>(examples: &[(f64, &'a ClusteringMeasurement)]) -> Vec<ExamplePanel<'a>> {
        let mut panels = Vec::new();
        for method in [Method::InputGradient, Method::OutputGradient] {
            for &(p, m) in examples {
                let Some((_, n, matrix)) = m.sorted_matrices.iter().find(|e| e.0 == method) else {
                    continue;
                };
                let (q, clusters) = m
                    .modularity
                    .iter()
                    .find(|e| e.0 == 0 && e.1 == method)
                    .map_or((f64::NAN, f64::NAN), |e| (e.2, e.3));
                panels.push((p, method, *n, matrix.as_slice(), q, clusters));
            }
        }
        panels
    }

    fn examples_table(runs: &[Measured<'_, Self>]) -> Table {
        let mut table = Table::new(
            ["dropout", "method", "layer", "q", "clusters"]
                .map(String::from)
                .to_vec(),
        );
        for (p, method, _, _, q, clusters) in Self::example_panels(&Self::examples(runs).1) {
            table.push(vec![
                p.to_string(),
                method.name().into(),
                "1".into(),
                q.to_string(),
                clusters.to_string(),
            ]);
        }
        table
    }

    fn examples_figure(runs: &[Measured<'_, Self>]) -> Figure {
        let examples = Self::examples(runs).1;
        Figure {
            columns: examples.len().max(1),
            panels: Self::example_panels(&examples)
                .into_iter()
                .map(|(p, method, n, matrix, q, _)| Panel {
                    title: format!("{}, dropout {p}: Q {q:.2}", method.name()),
                    x_label: "unit (sorted by cluster)".into(),
                    y_label: "unit".into(),
                    equal_aspect: true,
                    legend: Legend::UpperRight,
                    series: vec![Series::heatmap("", n, matrix)],
                })
                .collect(),
        }
    }
}

impl Kind for Params {
    const NAME: &'static str = "UnitClustering";
    const PAPER: crate::spec::Paper = crate::spec::Paper::Lange2022;
    // Written before the Kind trait: its runs keep the keys of the old `RunRecipe::Classifier`.
    const LEGACY_KEY: Option<LegacyKey> = Some(LegacyKey::Tagged("Classifier"));
    const PIPELINE_DIVERGENCE: bool = true;
    type Recipe = ClassifierRun;
    type Output = TrainedClassifier;
    type Measurement = ClusteringMeasurement;
    type Measures = Measures;

    fn validate(&self) -> Checked {
        each("hidden", &self.hidden, |n, u| domain::count_in(n, u, 1, 8192))?;
        each("dropout", &self.dropout, |n, d| {
            domain::interval(n, d, 0.0, 1.0, (true, false))
        })?;
        each("l1", &self.l1, domain::non_negative)?;
        each("l2", &self.l2, domain::non_negative)?;
        domain::non_negative("default_l2", self.default_l2)?;
        domain::count_in("eval_samples", self.eval_samples, 1, 1_000_000)?;
        let t = &self.training;
        domain::count_in("training.max_epochs", t.max_epochs, 1, 100_000)?;
        domain::count_in("training.batch_size", t.batch_size, 1, 1_000_000)?;
        adam("training", t.learning_rate, None)?;
        domain::open_interval("training.plateau_factor", t.plateau_factor, 0.0, 1.0)
    }

    fn unavailable(&self) -> anyhow::Result<Option<Unavailable>> {
        Ok(self.data_unavailable())
    }

    fn measure_names(&self) -> Vec<String> {
        names_of(&Measures::empty(self.report))
    }

    fn inputs(&self) -> Vec<DataInput> {
        vec![DataInput::Mnist(self.data_dir.clone())]
    }

    /// No run without the data (`unavailable` says where to get it).
    fn runs(&self, seed: u64, inputs: &InputDigests) -> Vec<(Label, ClassifierRun)> {
        let Some(data_fingerprint) = inputs.get(&self.data_dir) else {
            return Vec::new();
        };
        let base = Regularisation {
            dropout: 0.0,
            l1: 0.0,
            l2: self.default_l2,
        };
        let mut points: Vec<(&str, f64, Regularisation, bool)> = Vec::new();
        points.extend(
            self.dropout
                .iter()
                .map(|&p| ("dropout", p, Regularisation { dropout: p, ..base }, true)),
        );
        points.extend(
            self.l1
                .iter()
                .map(|&v| ("l1", v, Regularisation { l1: v, ..base }, true)),
        );
        points.extend(
            self.l2
                .iter()
                .map(|&v| ("l2", v, Regularisation { l2: v, ..base }, true)),
        );
        if self.untrained {
            points.push(("untrained", 0.0, base, false));
        }
        points
            .into_iter()
            .map(|(regulariser, value, regularisation, trained)| {
                let mut rng = SplitMix64::for_identity(seed, &format!("{regulariser}/{value}"));
                (
                    BTreeMap::from([
                        ("regulariser".to_string(), regulariser.to_string()),
                        ("value".to_string(), value.to_string()),
                    ]),
                    ClassifierRun {
                        data_fingerprint: data_fingerprint.to_string(),
                        widths: self.widths(),
                        regularisation,
                        training: trained.then_some(self.training),
                        // The same initialisation for every regulariser of one seed.
                        init_seed: SplitMix64::derive(seed, 1_000_000).next_u64(),
                        train_seed: rng.next_u64(),
                    },
                )
            })
            .collect()
    }

    /// Progress counts epochs (a run's steps depend on early stopping).
    fn work(recipe: &ClassifierRun) -> u64 {
        recipe.training.map_or(1, |t| t.max_epochs) as u64
    }

    /// One network at a time (its batch key is its own recipe); threads train several.
    fn train(
        &self,
        recipes: &[&ClassifierRun],
        device: &burn::tensor::Device,
        progress: &(dyn Fn(u64) + Sync),
        _threads: usize,
    ) -> anyhow::Result<Vec<TrainedClassifier>> {
        recipes
            .iter()
            .map(|run| {
                let total = Self::work(run);
                let mut done = 0;
                let trained = run.train(&self.data_dir, device, |epoch| {
                    progress(epoch as u64 - done);
                    done = epoch as u64;
                })?;
                progress(total - done.min(total));
                Ok(trained)
            })
            .collect()
    }

    fn measure(&self, recipe: &ClassifierRun, output: &TrainedClassifier) -> anyhow::Result<ClusteringMeasurement> {
        measure(recipe, output, self)
    }

    fn measures(&self, runs: &[Measured<'_, Self>]) -> Measures {
        match self.report {
            Report::ModularityVsRegularisation => {
                Measures::ModularityVsRegularisation(Self::modularity_measures(&self.curves(runs)))
            }
            Report::Clusters => Measures::Clusters(Self::filter_measures(&self.curves(runs))),
            Report::Agreement => Measures::Agreement(self.agreement_measures(runs)),
            Report::AccuracyAndNorms => Measures::AccuracyAndNorms(AccuracyMeasures {
                test_accuracy_min: Self::filter_measures(&self.curves(runs)).test_accuracy_min,
            }),
            Report::ExampleMatrices => Measures::ExampleMatrices,
        }
    }

    fn table(&self, runs: &[Measured<'_, Self>]) -> Table {
        match self.report {
            Report::ModularityVsRegularisation | Report::Clusters => Self::modularity_table(runs, |r| self.kept(r)),
            Report::Agreement => self.agreement_table(runs),
            Report::AccuracyAndNorms => self.accuracy_table(runs),
            Report::ExampleMatrices => Self::examples_table(runs),
        }
    }

    fn figure(&self, runs: &[Measured<'_, Self>], _: &Measures) -> Figure {
        match self.report {
            Report::ModularityVsRegularisation | Report::Clusters => self.modularity_figure(&self.curves(runs)),
            Report::Agreement => self.agreement_figure(runs),
            Report::AccuracyAndNorms => self.accuracy_figure(runs),
            Report::ExampleMatrices => Self::examples_figure(runs),
        }
    }

    fn notes(&self, runs: &[Measured<'_, Self>]) -> Vec<String> {
        let mut notes = self.describe_training();
        match self.report {
            Report::ModularityVsRegularisation | Report::Clusters => notes.push(format!(
                "{} runs; {} left out by the accuracy filter {:?}.",
                runs.len(),
                self.curves(runs).dropped,
                self.accuracy_filter
            )),
            Report::Agreement => notes.extend(self.agreement_notes(runs)),
            Report::AccuracyAndNorms => {}
            Report::ExampleMatrices => notes.push(format!(
                "Seed {}, first hidden layer; darker = stronger association (each panel scaled to its largest entry).",
                Self::examples(runs).0
            )),
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiments::kind::{assert_legacy_form, measure_map};

    fn params(report: Report, accuracy_filter: Option<f64>) -> Params {
        Params {
            data_dir: "mnist".into(),
            hidden: vec![8, 8],
            dropout: vec![0.1, 0.5],
            l1: vec![1e-3],
            l2: vec![],
            default_l2: 1e-5,
            training: ClassifierTraining {
                max_epochs: 2,
                batch_size: 20,
                learning_rate: 1e-3,
                plateau_factor: 0.25,
                plateau_patience: 3,
                stopping_patience: 6,
                train_subset: None,
            },
            untrained: true,
            eval_samples: 30,
            normed: false,
            monte_carlo: MonteCarlo {
                steps: 10,
                target_entropy: 0.15,
                seed: 0,
            },
            accuracy_filter,
            report,
        }
    }

    /// One network: Q of every method in both layers, and a similarity for one pair per family.
    fn measurement(accuracy: f64, q: f64) -> ClusteringMeasurement {
        let modularity = (0..2)
            .flat_map(|layer| Method::ALL.map(|m| (layer, m, q, 2.0)))
            .collect();
        use Method::*;
        ClusteringMeasurement {
            test_accuracy: accuracy,
            l1_norm: 1.0,
            l2_norm: 2.0,
            modularity,
            agreement: vec![
                (0, InputCovariance, InputGradient, 0.8, 0.5),
                (0, OutputGradient, OutputHessian, 0.6, 0.4),
                (0, InputGradient, OutputGradient, 0.3, 0.1),
            ],
            sorted_matrices: vec![(InputGradient, 1, vec![1.0])],
        }
    }

    struct Runs {
        labels: Vec<Label>,
        measurements: Vec<ClusteringMeasurement>,
    }

    /// Dropout 0.1 (Q 0.2) and 0.5 (Q 0.4), L1 (Q 0.15, accuracy 0.5), untrained (Q 0.1).
    fn runs() -> Runs {
        let label = |r: &str, v: &str| Label::from([("regulariser".into(), r.into()), ("value".into(), v.into())]);
        Runs {
            labels: vec![
                label("dropout", "0.1"),
                label("dropout", "0.5"),
                label("l1", "0.001"),
                label("untrained", "0"),
            ],
            measurements: vec![
                measurement(0.95, 0.2),
                measurement(0.9, 0.4),
                measurement(0.5, 0.15),
                measurement(0.1, 0.1),
            ],
        }
    }

    fn measured(runs: &Runs) -> Vec<Measured<'_, Params>> {
        static NO_SWEEP: BTreeMap<String, String> = BTreeMap::new();
        runs.labels
            .iter()
            .zip(&runs.measurements)
            .map(|(label, measurement)| Measured {
                sweep: &NO_SWEEP,
                seed: 0,
                label,
                measurement,
            })
            .collect()
    }

    #[test]
    fn runs_keep_the_keys_of_the_old_classifier_variant() {
        let run = ClassifierRun {
            data_fingerprint: "f".into(),
            widths: vec![784, 8, 10],
            regularisation: Regularisation {
                dropout: 0.5,
                l1: 0.0,
                l2: 1e-5,
            },
            training: None,
            init_seed: 1,
            train_seed: 2,
        };
        assert_eq!(
            assert_legacy_form::<Params>(&run),
            r#"{"Classifier":{"data_fingerprint":"f","widths":[784,8,10],"regularisation":{"dropout":0.5,"l1":0.0,"l2":0.00001},"training":null,"init_seed":1,"train_seed":2}}"#
        );
    }

    #[test]
    fn planning_reads_the_datas_digest_not_its_files() {
        // `data_dir` does not exist: runs come from the digest the step before planning found.
        let p = Params {
            data_dir: "nowhere".into(),
            ..params(Report::Agreement, None)
        };
        let runs = Kind::runs(&p, 0, &InputDigests::from_pairs([("nowhere", "d1")]));
        assert_eq!(runs.len(), 4, "2 dropout + 1 L1 + untrained");
        assert!(runs.iter().all(|(_, run)| run.data_fingerprint == "d1"));
        assert_eq!(Kind::inputs(&p), [DataInput::Mnist("nowhere".into())]);
        // No digest (the data could not be read): no runs; `unavailable` says why.
        assert!(Kind::runs(&p, 0, &InputDigests::default()).is_empty());
        assert!(matches!(Kind::unavailable(&p), Ok(Some(Unavailable::DataMissing(_)))));
    }

    #[test]
    fn each_report_names_only_what_it_measures() {
        let names = |report| Kind::measure_names(&params(report, None));
        assert_eq!(names(Report::ModularityVsRegularisation).len(), 13);
        assert!(names(Report::ModularityVsRegularisation).contains(&"q_at_max_dropout_output_hessian".to_string()));
        assert_eq!(
            names(Report::Clusters),
            ["runs_dropped_by_accuracy_filter", "test_accuracy_min"]
        );
        assert_eq!(names(Report::AccuracyAndNorms), ["test_accuracy_min"]);
        assert_eq!(names(Report::Agreement).len(), 6);
        assert!(names(Report::ExampleMatrices).is_empty());
    }

    #[test]
    fn modularity_measures_of_hand_built_networks() {
        let runs = runs();
        let p = params(Report::ModularityVsRegularisation, Some(0.8));
        let m = measure_map(&Kind::measures(&p, &measured(&runs)));
        let close = |name: &str, expected: f64| assert!((m[name] - expected).abs() < 1e-12, "{name}: {}", m[name]);
        close("spearman_q_vs_dropout_input_gradient", 1.0);
        close("q_at_max_dropout_output_hessian", 0.4);
        close("untrained_q", 0.1);
        // The L1 network is filtered out (accuracy 0.5 < 0.8): no L1/L2 curve is left.
        assert!(!m.contains_key("max_q_l1_l2"));
        assert_eq!(m["runs_dropped_by_accuracy_filter"], 1.0);
        assert_eq!(m["test_accuracy_min"], 0.5);
        close("min_trained_minus_untrained_q", 0.1);
        // Without the filter, L1's Q counts.
        let unfiltered = measure_map(&Kind::measures(
            &params(Report::ModularityVsRegularisation, None),
            &measured(&runs),
        ));
        assert!((unfiltered["max_q_l1_l2"] - 0.15).abs() < 1e-12);
        assert_eq!(unfiltered["runs_dropped_by_accuracy_filter"], 0.0);
        // The Clusters report plots cluster counts: it claims nothing about Q.
        let clusters = measure_map(&Kind::measures(&params(Report::Clusters, Some(0.8)), &measured(&runs)));
        assert_eq!(
            clusters.keys().collect::<Vec<_>>(),
            ["runs_dropped_by_accuracy_filter", "test_accuracy_min"]
        );
    }

    #[test]
    fn the_modularity_table_has_a_row_per_layer_and_method_and_marks_filtered_runs() {
        let runs = runs();
        let p = params(Report::ModularityVsRegularisation, Some(0.8));
        let table = Kind::table(&p, &measured(&runs));
        assert_eq!(table.rows.len(), 4 * 2 * 4);
        let kept: Vec<&str> = table.rows.iter().map(|r| r[10].as_str()).collect();
        assert_eq!(
            kept.iter().filter(|k| **k == "false").count(),
            8,
            "the L1 network's 8 rows"
        );
        // One panel per regulariser with kept runs and layer: dropout × 2 layers (L1 is filtered).
        let figure = Kind::figure(&p, &measured(&runs), &Measures::default());
        assert_eq!(figure.panels.len(), 2);
    }

    #[test]
    fn agreement_measures_of_hand_built_networks() {
        let runs = runs();
        let p = params(Report::Agreement, None);
        let m = measure_map(&Kind::measures(&p, &measured(&runs)));
        for (name, expected) in [
            ("agreement_within_upstream", 0.8),
            ("agreement_within_downstream", 0.6),
            ("agreement_across_families", 0.3),
            ("agreement_within_minus_across", 0.4),
            ("untrained_agreement_across_families", 0.3),
            ("matrix_spearman_within_minus_across", 0.35),
        ] {
            assert!((m[name] - expected).abs() < 1e-12, "{name}: {}", m[name]);
        }
        assert_eq!(Kind::table(&p, &measured(&runs)).rows.len(), 4 * 3);
        assert_eq!(Kind::figure(&p, &measured(&runs), &Measures::default()).panels.len(), 4);
    }

    #[test]
    fn example_matrices_show_the_first_seeds_dropout_runs_in_order() {
        let runs = runs();
        let p = params(Report::ExampleMatrices, None);
        let table = Kind::table(&p, &measured(&runs));
        let dropout: Vec<&str> = table.rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            dropout,
            ["0.1", "0.5"],
            "input gradient only: no output-gradient matrix"
        );
        assert!(measure_map(&Kind::measures(&p, &measured(&runs))).is_empty());
    }
}
