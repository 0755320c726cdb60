//! `modrepro cluster-units`: Lange et al.'s analysis of a researcher's own ReLU MLP — the same
//! [`cluster_units`] the Lange specs run — against untrained networks of its shape as the null.

use std::collections::BTreeMap;
use std::path::Path;

use crate::analysis::associations::Method;
use crate::analysis::modularity::MonteCarlo;
use crate::data::npy::{NpyArray, read_npy};
use crate::data::npz::read_npz;
use crate::experiments::unit_clustering::{ClusteredUnits, cluster_units};
use crate::model::classifier::ClassifierWeights;
use crate::render::table::Table;
use crate::rng::SplitMix64;

/// How `cluster-units` analyses a network.
#[derive(Debug, Clone)]
pub struct Request {
    /// Input samples used for the association matrices (the first ones of the file).
    pub samples: usize,
    pub normed: bool,
    pub monte_carlo: MonteCarlo,
    /// Untrained networks of the same shape: the null model.
    pub null_networks: usize,
}

/// What the analysis found.
#[derive(Debug, Clone)]
pub struct ClusterReport {
    pub widths: Vec<usize>,
    pub samples: usize,
    pub trained: ClusteredUnits,
    /// Per (layer, method): the untrained networks' Q.
    pub null_q: BTreeMap<(usize, Method), Vec<f64>>,
}

/// The layers of `file`: `W1`, `b1`, `W2`, `b2`, … with `Wk` shaped (out, in) as PyTorch's
/// `nn.Linear.weight`, ReLU after every layer but the last.
pub fn read_mlp(file: &Path) -> anyhow::Result<ClassifierWeights> {
    let arrays = read_npz(file)?;
    let path = file.display();
    let mut widths = Vec::new();
    let mut weights = Vec::new();
    let mut biases = Vec::new();
    for layer in 1.. {
        let Some(w) = arrays.get(&format!("W{layer}")) else {
            break;
        };
        let (out, inp) = match w.shape.as_slice() {
            [out, inp] if *out > 0 && *inp > 0 => (*out, *inp),
            shape => anyhow::bail!("{path}: `W{layer}` has shape {shape:?}; expected (out, in)"),
        };
        match widths.last() {
            None => widths.push(inp),
            Some(&previous) => anyhow::ensure!(
                previous == inp,
                "{path}: `W{layer}` takes {inp} inputs but layer {} has {previous} units",
                layer - 1
            ),
        }
        widths.push(out);
        let b = arrays
            .get(&format!("b{layer}"))
            .ok_or_else(|| anyhow::anyhow!("{path}: `W{layer}` has no `b{layer}`"))?;
        anyhow::ensure!(
            b.values.len() == out,
            "{path}: `b{layer}` has shape {:?}; expected {out} values",
            b.shape
        );
        anyhow::ensure!(
            w.values.iter().chain(&b.values).all(|v| v.is_finite()),
            "{path}: layer {layer} holds NaN or infinite values"
        );
        // Ours is (in × out) row-major: transpose.
        let mut transposed = vec![0f32; inp * out];
        for o in 0..out {
            for i in 0..inp {
                transposed[i * out + o] = w.values[o * inp + i] as f32;
            }
        }
        weights.push(transposed);
        biases.push(b.values.iter().map(|&v| v as f32).collect());
    }
    anyhow::ensure!(
        weights.len() >= 2,
        "{path}: found {} layer(s) (`W1`, `b1`, `W2`, …); an MLP with hidden units needs at least 2",
        weights.len()
    );
    Ok(ClassifierWeights {
        widths,
        weights,
        biases,
    })
}

/// The first `samples` rows of `file`, each flattened to `width` values.
fn read_inputs(file: &Path, width: usize, samples: usize) -> anyhow::Result<(Vec<f32>, usize)> {
    let NpyArray { shape, values } = read_npy(file)?;
    let rows = shape.first().copied().unwrap_or(0);
    let per_row: usize = shape.iter().skip(1).product();
    anyhow::ensure!(
        rows > 0 && per_row == width,
        "{}: shape {shape:?} gives {per_row} values per sample, but the network takes {width} (fix: one row per sample, e.g. (n, {width}) or (n, 28, 28) for MNIST)",
        file.display()
    );
    anyhow::ensure!(
        values.iter().all(|v| v.is_finite()),
        "{}: holds NaN or infinite values",
        file.display()
    );
    let used = rows.min(samples.max(1));
    Ok((values[..used * width].iter().map(|&v| v as f32).collect(), used))
}

pub fn cluster_report(weights: &Path, inputs: &Path, request: &Request) -> anyhow::Result<ClusterReport> {
    let net = read_mlp(weights)?;
    let (x, samples) = read_inputs(inputs, net.widths[0], request.samples)?;
    let trained = cluster_units(&net, &x, request.normed, &request.monte_carlo);
    let mut null_q: BTreeMap<(usize, Method), Vec<f64>> = BTreeMap::new();
    for k in 0..request.null_networks {
        let untrained = ClassifierWeights::init(
            &net.widths,
            SplitMix64::derive(request.monte_carlo.seed, k as u64).next_u64(),
        );
        for (layer, method, q, _) in cluster_units(&untrained, &x, request.normed, &request.monte_carlo).modularity {
            null_q.entry((layer, method)).or_default().push(q);
        }
    }
    Ok(ClusterReport {
        widths: net.widths,
        samples,
        trained,
        null_q,
    })
}

/// The mean, 0 for no values.
fn mean(xs: &[f64]) -> f64 {
    crate::analysis::stats::mean(xs).unwrap_or(0.0)
}

impl ClusterReport {
    fn null_mean(&self, layer: usize, method: Method) -> Option<f64> {
        self.null_q.get(&(layer, method)).map(|qs| mean(qs))
    }

    pub fn describe(&self) -> String {
        let widths: Vec<String> = self.widths.iter().map(ToString::to_string).collect();
        let mut out = format!(
            "MLP {} (ReLU), association matrices over {} input samples\n",
            widths.join("→"),
            self.samples
        );
        out += "modularity Q of each hidden layer's units, clustered by each association (untrained networks of this shape in brackets):\n";
        for &(layer, method, q, clusters) in &self.trained.modularity {
            let null = self
                .null_mean(layer, method)
                .map_or_else(String::new, |n| format!(" [{n:.3}]"));
            // A one-cluster partition has Q = ±0 exactly; print it as 0.
            let q = if q.abs() < 5e-4 { 0.0 } else { q };
            out += &format!(
                "  layer {} {:<17} Q {q:.3}{null}   {clusters:.1} effective clusters\n",
                layer + 1,
                method.name()
            );
        }
        let (mut within, mut across) = (Vec::new(), Vec::new());
        for &(_, a, b, similarity, _) in &self.trained.agreement {
            if a.is_upstream() == b.is_upstream() {
                within.push(similarity);
            } else {
                across.push(similarity);
            }
        }
        out += &format!(
            "agreement of the clusterings (element-centric similarity): within upstream or within downstream {:.2}, across the two families {:.2}\n",
            mean(&within),
            mean(&across)
        );
        let above: Vec<bool> = self
            .trained
            .modularity
            .iter()
            .filter_map(|&(layer, method, q, _)| self.null_mean(layer, method).map(|n| q > n))
            .collect();
        out += &format!(
            "verdict: {} of {} clusterings are more modular than untrained networks'; {}.\n",
            above.iter().filter(|a| **a).count(),
            above.len(),
            if mean(&within) > mean(&across) {
                "upstream and downstream clusterings disagree more than methods of one family do"
            } else {
                "the two families' clusterings agree as much as methods within one family"
            }
        );
        out
    }

    /// One row per (layer, method): Q, the untrained mean Q and the effective cluster count.
    pub fn table(&self) -> Table {
        let mut table = Table::new(
            ["layer", "method", "q", "untrained_q", "clusters"]
                .map(String::from)
                .to_vec(),
        );
        for &(layer, method, q, clusters) in &self.trained.modularity {
            table.push(vec![
                (layer + 1).to_string(),
                method.name().into(),
                q.to_string(),
                self.null_mean(layer, method)
                    .map_or_else(String::new, |n| n.to_string()),
                clusters.to_string(),
            ]);
        }
        table
    }

    /// One row per (layer, pair of methods): element-centric similarity and matrix Spearman.
    pub fn agreement_table(&self) -> Table {
        let mut table = Table::new(
            ["layer", "method_a", "method_b", "similarity", "matrix_spearman"]
                .map(String::from)
                .to_vec(),
        );
        for &(layer, a, b, similarity, rho) in &self.trained.agreement {
            table.push(vec![
                (layer + 1).to_string(),
                a.name().into(),
                b.name().into(),
                similarity.to_string(),
                rho.to_string(),
            ]);
        }
        table
    }
}
