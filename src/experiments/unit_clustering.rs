//! Lange, Rolnick & Kording 2022: MNIST MLPs swept over dropout, L1 and L2 (one at a time);
//! for each hidden layer, four association matrices between units are clustered by maximising
//! modularity Q. Dropout raises Q markedly, L1/L2 only modestly, and trained networks beat the
//! untrained null model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{MeasuredRun, Measurement, RunRecipe, RunSlot, Summary, Unavailable};
use crate::analysis::associations::{Method, associations, prepare};
use crate::analysis::modularity::{Graph, MonteCarlo, effective_clusters, monte_carlo_refine, spectral_bisection};
use crate::analysis::partition_similarity::element_centric_similarity;
use crate::analysis::stats::spearman;
use crate::data::mnist::MnistError;
use crate::data::mnist_cache::{LoadedMnist, load};
use crate::model::classifier::{ClassifierTraining, ClassifierWeights, Regularisation, TrainedClassifier};
use crate::render::figure::{Figure, Legend, Panel, Series};
use crate::render::table::Table;
use crate::rng::SplitMix64;

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
    /// Where MNIST was read from when the run was planned; not part of the key, which holds
    /// the data's fingerprint instead: moving the files keeps the cache, changing them does not.
    #[serde(skip)]
    pub data_dir: String,
    pub data_fingerprint: String,
    pub widths: Vec<usize>,
    pub regularisation: Regularisation,
    /// `None` for an untrained (null-model) network.
    pub training: Option<ClassifierTraining>,
    pub init_seed: u64,
    pub train_seed: u64,
}

impl ClassifierRun {
    pub fn data(&self) -> Result<std::sync::Arc<LoadedMnist>, MnistError> {
        load(std::path::Path::new(&self.data_dir))
    }

    pub fn train(
        &self,
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
        let data = self.data()?;
        if data.fingerprint != self.data_fingerprint {
            anyhow::bail!("{}: the MNIST files changed since this run was planned", self.data_dir);
        }
        let d = &data.data;
        Ok(crate::model::classifier::train(
            (&d.train.images, &d.train.labels),
            (&d.validation.images, &d.validation.labels),
            &init,
            &self.regularisation,
            training,
            self.train_seed,
            device,
            on_epoch,
        ))
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
    let data = run.data()?;
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
    for layer in 0..w.widths.len() - 2 {
        let units = w.widths[layer + 1];
        let mut partitions = Vec::new();
        let mut triangles = Vec::new();
        for (method, raw) in associations(w, inputs, layer) {
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
            let n = ys.len() as f64;
            let mean = ys.iter().sum::<f64>() / n;
            let se = if ys.len() > 1 {
                (ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt()
            } else {
                0.0
            };
            (v.parse::<f64>().unwrap_or(f64::NAN), mean, se)
        })
        .collect();
    curve.sort_by(|a, b| a.0.total_cmp(&b.0));
    curve
}

/// (test accuracy, Σ|W|, ΣW²) of one run.
type AccuracyNorms = (f64, f64, f64);

pub const MEASURES: &[&str] = &[
    "spearman_q_vs_dropout_input_gradient",
    "spearman_q_vs_dropout_input_covariance",
    "spearman_q_vs_dropout_output_gradient",
    "spearman_q_vs_dropout_output_hessian",
    "q_at_max_dropout_input_gradient",
    "q_at_max_dropout_input_covariance",
    "q_at_max_dropout_output_gradient",
    "q_at_max_dropout_output_hessian",
    "untrained_q",
    "max_q_l1_l2",
    "min_trained_minus_untrained_q",
    "test_accuracy_min",
    "runs_dropped_by_accuracy_filter",
    "agreement_within_upstream",
    "agreement_within_downstream",
    "agreement_across_families",
    "agreement_within_minus_across",
    "untrained_agreement_across_families",
    "matrix_spearman_within_minus_across",
];

impl Params {
    pub fn unavailable(&self) -> Option<Unavailable> {
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

    pub fn runs(&self, seed: u64) -> Vec<RunSlot> {
        let Ok(data) = load(std::path::Path::new(&self.data_dir)) else {
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
                RunSlot {
                    label: BTreeMap::from([
                        ("regulariser".to_string(), regulariser.to_string()),
                        ("value".to_string(), value.to_string()),
                    ]),
                    recipe: RunRecipe::Classifier(ClassifierRun {
                        data_dir: self.data_dir.clone(),
                        data_fingerprint: data.fingerprint.clone(),
                        widths: self.widths(),
                        regularisation,
                        training: trained.then_some(self.training),
                        // The same initialisation for every regulariser of one seed.
                        init_seed: SplitMix64::derive(seed, 1_000_000).next_u64(),
                        train_seed: rng.next_u64(),
                    }),
                }
            })
            .collect()
    }

    pub fn notes(&self) -> Vec<String> {
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

    pub fn summarise(&self, runs: &[MeasuredRun<'_>]) -> Summary {
        match self.report {
            Report::ModularityVsRegularisation => self.summarise_modularity(runs),
            Report::Agreement => self.summarise_agreement(runs),
            Report::AccuracyAndNorms => self.summarise_per_run(runs),
            Report::Clusters => self.summarise_modularity(runs),
            Report::ExampleMatrices => self.summarise_examples(runs),
        }
    }

    fn summarise_examples(&self, runs: &[MeasuredRun<'_>]) -> Summary {
        let first_seed = runs.iter().map(|r| r.seed).min().unwrap_or(0);
        let mut examples: Vec<(f64, &ClusteringMeasurement)> = runs
            .iter()
            .filter(|r| r.seed == first_seed && r.label["regulariser"] == "dropout")
            .filter_map(|r| match r.measurement {
                Measurement::Classifier(m) => Some((r.label["value"].parse().unwrap_or(f64::NAN), m)),
                _ => None,
            })
            .collect();
        examples.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut table = Table::new(
            ["dropout", "method", "layer", "q", "clusters"]
                .map(String::from)
                .to_vec(),
        );
        let mut panels = Vec::new();
        for method in [Method::InputGradient, Method::OutputGradient] {
            for (p, m) in &examples {
                let Some((_, n, matrix)) = m.sorted_matrices.iter().find(|e| e.0 == method) else {
                    continue;
                };
                let (q, clusters) = m
                    .modularity
                    .iter()
                    .find(|e| e.0 == 0 && e.1 == method)
                    .map_or((f64::NAN, f64::NAN), |e| (e.2, e.3));
                table.push(vec![
                    p.to_string(),
                    method.name().into(),
                    "1".into(),
                    q.to_string(),
                    clusters.to_string(),
                ]);
                panels.push(Panel {
                    title: format!("{}, dropout {p}: Q {q:.2}", method.name()),
                    x_label: "unit (sorted by cluster)".into(),
                    y_label: "unit".into(),
                    equal_aspect: true,
                    legend: Legend::UpperRight,
                    series: vec![Series::heatmap("", *n, matrix)],
                });
            }
        }
        let mut notes = self.notes();
        notes.push(format!("Seed {first_seed}, first hidden layer; darker = stronger association (each panel scaled to its largest entry)."));
        Summary {
            table,
            figure: Figure {
                columns: examples.len().max(1),
                panels,
            },
            measured: BTreeMap::new(),
            notes,
        }
    }

    /// Test accuracy and weight norms per regulariser value (mean over kept seeds).
    fn summarise_per_run(&self, runs: &[MeasuredRun<'_>]) -> Summary {
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
        // regulariser → value → (accuracy, l1, l2) per kept run
        let mut points: BTreeMap<String, BTreeMap<String, Vec<AccuracyNorms>>> = BTreeMap::new();
        let mut min_accuracy = f64::INFINITY;
        for run in runs {
            let Measurement::Classifier(m) = run.measurement else {
                unreachable!("classifier runs only")
            };
            let kept = self.kept(run, m);
            let regulariser = run.label["regulariser"].clone();
            table.push(vec![
                regulariser.clone(),
                run.label["value"].clone(),
                run.seed.to_string(),
                m.test_accuracy.to_string(),
                m.l1_norm.to_string(),
                m.l2_norm.to_string(),
                kept.to_string(),
            ]);
            if regulariser != "untrained" {
                min_accuracy = min_accuracy.min(m.test_accuracy);
                if kept {
                    points
                        .entry(regulariser)
                        .or_default()
                        .entry(run.label["value"].clone())
                        .or_default()
                        .push((m.test_accuracy, m.l1_norm, m.l2_norm));
                }
            }
        }
        let mut panels = Vec::new();
        for (title, pick) in [
            (
                "test accuracy",
                (|p: &(f64, f64, f64)| p.0) as fn(&(f64, f64, f64)) -> f64,
            ),
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
        let mut measured = BTreeMap::new();
        if min_accuracy.is_finite() {
            measured.insert("test_accuracy_min".to_string(), min_accuracy);
        }
        Summary {
            table,
            figure: Figure { columns: 2, panels },
            measured,
            notes: self.notes(),
        }
    }

    fn kept(&self, run: &MeasuredRun<'_>, m: &ClusteringMeasurement) -> bool {
        run.label["regulariser"] == "untrained" || self.accuracy_filter.is_none_or(|a| m.test_accuracy >= a)
    }

    fn summarise_agreement(&self, runs: &[MeasuredRun<'_>]) -> Summary {
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
        // (trained?, pair) → similarities (and matrix correlations) over kept runs, both layers.
        let mut pairs: BTreeMap<(bool, Method, Method), Vec<f64>> = BTreeMap::new();
        let mut correlations: BTreeMap<(bool, Method, Method), Vec<f64>> = BTreeMap::new();
        for run in runs {
            let Measurement::Classifier(m) = run.measurement else {
                unreachable!("classifier runs only")
            };
            let kept = self.kept(run, m);
            let trained = run.label["regulariser"] != "untrained";
            for &(layer, a, b, similarity, rho) in &m.agreement {
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
                if kept {
                    pairs.entry((trained, a, b)).or_default().push(similarity);
                    if rho.is_finite() {
                        correlations.entry((trained, a, b)).or_default().push(rho);
                    }
                }
            }
        }
        let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        let family_of =
            |pairs: &BTreeMap<(bool, Method, Method), Vec<f64>>, trained: bool, within: Option<bool>| -> Option<f64> {
                // within = Some(true): both upstream; Some(false): both downstream; None: across.
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
            };
        let family = |trained: bool, within: Option<bool>| family_of(&pairs, trained, within);
        let mut measured = BTreeMap::new();
        let (up, down, across) = (family(true, Some(true)), family(true, Some(false)), family(true, None));
        for (name, value) in [
            ("agreement_within_upstream", up),
            ("agreement_within_downstream", down),
            ("agreement_across_families", across),
            ("untrained_agreement_across_families", family(false, None)),
        ] {
            if let Some(v) = value {
                measured.insert(name.to_string(), v);
            }
        }
        if let (Some(u), Some(d), Some(a)) = (up, down, across) {
            measured.insert("agreement_within_minus_across".into(), (u + d) / 2.0 - a);
        }
        let (cu, cd, ca) = (
            family_of(&correlations, true, Some(true)),
            family_of(&correlations, true, Some(false)),
            family_of(&correlations, true, None),
        );
        if let (Some(u), Some(d), Some(a)) = (cu, cd, ca) {
            measured.insert("matrix_spearman_within_minus_across".into(), (u + d) / 2.0 - a);
        }
        let pair_names: Vec<(Method, Method)> = pairs.keys().filter(|k| k.0).map(|k| (k.1, k.2)).collect();
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
        let mut notes = self.notes();
        notes.push(format!(
            "Method pairs on the x axis: {}.",
            pair_names
                .iter()
                .enumerate()
                .map(|(x, (a, b))| format!("{} = {} ~ {}", x + 1, a.name(), b.name()))
                .collect::<Vec<_>>()
                .join("; ")
        ));
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
        notes.push(
            "Heatmaps: methods in the order input covariance (IC), input gradient (IG), output gradient (OG), output Hessian (OH); darker = more similar; the difference panel shows trained − untrained (negative values white).".into(),
        );
        Summary {
            table,
            figure: Figure {
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
            },
            measured,
            notes,
        }
    }

    fn summarise_modularity(&self, runs: &[MeasuredRun<'_>]) -> Summary {
        // The Clusters report plots the effective number of clusters where this one plots Q.
        let clusters = self.report == Report::Clusters;
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
        // (regulariser, method) → value → Qs (kept runs, both layers pooled).
        let mut q: BTreeMap<(String, Method), BTreeMap<String, Vec<f64>>> = BTreeMap::new();
        // The same per hidden layer, for the figure (one panel per regulariser and layer).
        let mut q_layer: BTreeMap<(String, usize, Method), BTreeMap<String, Vec<f64>>> = BTreeMap::new();
        let (mut dropped, mut min_accuracy) = (0usize, f64::INFINITY);
        for run in runs {
            let Measurement::Classifier(m) = run.measurement else {
                unreachable!("classifier runs only")
            };
            let regulariser = run.label["regulariser"].clone();
            let trained = regulariser != "untrained";
            let kept = self.kept(run, m);
            if trained {
                dropped += usize::from(!kept);
                min_accuracy = min_accuracy.min(m.test_accuracy);
            }
            for &(layer, method, value, clusters_count) in &m.modularity {
                table.push(vec![
                    regulariser.clone(),
                    run.label["value"].clone(),
                    run.seed.to_string(),
                    (layer + 1).to_string(),
                    method.name().to_string(),
                    value.to_string(),
                    clusters_count.to_string(),
                    m.test_accuracy.to_string(),
                    m.l1_norm.to_string(),
                    m.l2_norm.to_string(),
                    kept.to_string(),
                ]);
                if kept {
                    // The Clusters report plots cluster counts where this one plots Q.
                    let y = if clusters { clusters_count } else { value };
                    q_layer
                        .entry((regulariser.clone(), layer, method))
                        .or_default()
                        .entry(run.label["value"].clone())
                        .or_default()
                        .push(y);
                    q.entry((regulariser.clone(), method))
                        .or_default()
                        .entry(run.label["value"].clone())
                        .or_default()
                        .push(y);
                }
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let untrained: Vec<f64> = Method::ALL
            .iter()
            .filter_map(|m| q.get(&("untrained".to_string(), *m)))
            .flat_map(|v| v.values().flatten().copied())
            .collect();
        let mut measured = BTreeMap::new();
        let untrained_q = (!untrained.is_empty()).then(|| mean(&untrained));
        if let Some(u) = untrained_q {
            measured.insert("untrained_q".to_string(), u);
        }
        let mut panels = Vec::new();
        let mut min_gap = f64::INFINITY;
        // The largest mean Q anywhere in the L1 and L2 sweeps (the paper: "modest", ≈ 0.10–0.17).
        let mut max_q_l1_l2 = f64::NEG_INFINITY;
        for regulariser in ["dropout", "l1", "l2"] {
            for method in Method::ALL {
                let Some(by_value) = q.get(&(regulariser.to_string(), method)) else {
                    continue;
                };
                let curve = mean_curve(by_value);
                if let Some(u) = untrained_q {
                    min_gap = curve.iter().map(|p| p.1 - u).fold(min_gap, f64::min);
                }
                if regulariser != "dropout" {
                    max_q_l1_l2 = curve.iter().map(|p| p.1).fold(max_q_l1_l2, f64::max);
                }
                if regulariser == "dropout" {
                    let (x, y): (Vec<f64>, Vec<f64>) = curve.iter().map(|p| (p.0, p.1)).unzip();
                    if let Some(rho) = spearman(&x, &y) {
                        measured.insert(format!("spearman_q_vs_dropout_{}", method.name()), rho);
                    }
                    if let Some(last) = curve.last() {
                        measured.insert(format!("q_at_max_dropout_{}", method.name()), last.1);
                    }
                }
            }
        }
        if max_q_l1_l2.is_finite() {
            measured.insert("max_q_l1_l2".into(), max_q_l1_l2);
        }
        let layers = self.hidden.len();
        for regulariser in ["dropout", "l1", "l2"] {
            for layer in 0..layers {
                let x_of = |v: f64| if regulariser == "dropout" { v } else { v.log10() };
                let mut series = Vec::new();
                for (colour, method) in Method::ALL.iter().enumerate() {
                    let Some(by_value) = q_layer.get(&(regulariser.to_string(), layer, *method)) else {
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
                    .filter_map(|m| q_layer.get(&("untrained".to_string(), layer, *m)))
                    .flat_map(|v| v.values().flatten().copied())
                    .collect();
                if !null.is_empty() {
                    let xs: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
                    let (lo, hi) = (
                        xs.iter().copied().fold(f64::INFINITY, f64::min),
                        xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    );
                    let u = mean(&null);
                    series.push(Series::line("untrained (null)", 4, vec![(lo, u), (hi, u)]));
                }
                let what = if clusters {
                    "Effective number of clusters"
                } else {
                    "Modularity Q"
                };
                panels.push(Panel {
                    title: format!("{what} vs {regulariser}, hidden layer {}", layer + 1),
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
        if min_gap.is_finite() {
            measured.insert("min_trained_minus_untrained_q".into(), min_gap);
        }
        if min_accuracy.is_finite() {
            measured.insert("test_accuracy_min".into(), min_accuracy);
        }
        measured.insert("runs_dropped_by_accuracy_filter".into(), dropped as f64);
        if clusters {
            // The curves hold cluster counts here, not Q: no Q-named values from them.
            measured.retain(|k, _| k == "test_accuracy_min" || k == "runs_dropped_by_accuracy_filter");
        }
        let mut notes = self.notes();
        notes.push(format!(
            "{} runs; {dropped} left out by the accuracy filter {:?}.",
            runs.len(),
            self.accuracy_filter
        ));
        Summary {
            table,
            figure: Figure {
                columns: panels.len().clamp(1, 3),
                panels,
            },
            measured,
            notes,
        }
    }
}
