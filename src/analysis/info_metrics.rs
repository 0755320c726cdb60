//! The mutual-information modularity metrics of Dorrell et al. 2025 for discrete sources and
//! continuous latents: NMI and NCMI matrices, InfoM and CInfoM.
//!
//! - NMI[i, j] = I(sᵢ; zⱼ) / H(sᵢ);
//! - NCMI[i, j] = [I(zⱼ; s) − I(zⱼ; s₋ᵢ)] / H(sᵢ | s₋ᵢ), with s and s₋ᵢ each taken as one joint
//!   label and H(sᵢ | s₋ᵢ) = H(s) − H(s₋ᵢ);
//!
//! both clipped to [0, 1], with I estimated by [`mi_continuous_discrete`]. InfoM and CInfoM
//! are [`modularity_score`] of NMI and NCMI over the active latents (range > 0.1 · largest).
//!
//! Preprocessing as the authors' `compute_metrics`: the active set is taken from the raw
//! latents; then, optionally, the data are tiled `duplicate` times, each latent standardised
//! (population sd; a constant latent becomes 0) and Gaussian noise of sd `z_noise` added —
//! the authors' tie-breaking, which keeps the estimator from dividing by zero distances on
//! duplicated or quantised latents. The noise is drawn from a seeded generator.

use std::collections::BTreeMap;

use super::linalg::Matrix;
use super::linear_info::{InfoMatrix, active_latents, modularity_score};
use super::multiinfo::entropy;
use super::mutual_info::mi_continuous_discrete;
use crate::rng::SplitMix64;

/// Estimator settings; the defaults are the authors'.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfoOptions {
    /// Neighbours of the kNN estimator (authors: 2).
    pub neighbours: usize,
    /// Tie breaking: tile the data this many times (authors: 2; 1 = off).
    pub duplicate: usize,
    /// Tie breaking: sd of the noise added to standardised latents (authors: 0.01; 0 = off).
    pub z_noise: f64,
    pub noise_seed: u64,
}

impl Default for InfoOptions {
    fn default() -> Self {
        Self {
            neighbours: 2,
            duplicate: 2,
            z_noise: 0.01,
            noise_seed: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct InfoModularity {
    pub infom: Option<f64>,
    pub cinfom: Option<f64>,
    pub nmi: InfoMatrix,
    pub ncmi: InfoMatrix,
    pub active: Vec<bool>,
}

/// Maps each distinct row (joint outcome) to a dense label, in sorted order of the rows.
pub fn joint_labels(rows: &[Vec<u32>]) -> Vec<u32> {
    let mut ids: BTreeMap<&Vec<u32>, u32> = BTreeMap::new();
    for r in rows {
        let next = ids.len() as u32;
        ids.entry(r).or_insert(next);
    }
    rows.iter().map(|r| ids[r]).collect()
}

fn column(rows: &[Vec<u32>], i: usize) -> Vec<u32> {
    rows.iter().map(|r| r[i]).collect()
}

fn without(rows: &[Vec<u32>], i: usize) -> Vec<Vec<u32>> {
    rows.iter()
        .map(|r| r.iter().enumerate().filter(|&(c, _)| c != i).map(|(_, &v)| v).collect())
        .collect()
}

/// NMI and NCMI on already preprocessed latents (`latents[j]` = column j).
pub fn nmi_ncmi(sources: &[Vec<u32>], latents: &[Vec<f64>], k: usize) -> (InfoMatrix, InfoMatrix) {
    let d = sources.first().map_or(0, Vec::len);
    let joint = joint_labels(sources);
    let h_joint = entropy(&joint);
    let i_joint: Vec<f64> = latents.iter().map(|z| mi_continuous_discrete(z, &joint, k)).collect();
    let mut nmi = vec![vec![0.0; latents.len()]; d];
    let mut ncmi = vec![vec![0.0; latents.len()]; d];
    for i in 0..d {
        let s_i = column(sources, i);
        let h_i = entropy(&s_i);
        let rest = joint_labels(&without(sources, i));
        let h_i_given_rest = h_joint - entropy(&rest);
        for (j, z) in latents.iter().enumerate() {
            nmi[i][j] = if h_i > 0.0 {
                (mi_continuous_discrete(z, &s_i, k) / h_i).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let conditional = i_joint[j] - mi_continuous_discrete(z, &rest, k);
            ncmi[i][j] = if h_i_given_rest > 0.0 {
                (conditional / h_i_given_rest).clamp(0.0, 1.0)
            } else {
                0.0
            };
        }
    }
    (nmi, ncmi)
}

/// Standardises each column (population sd) and adds seeded Gaussian noise, after tiling.
fn preprocess(latents: &Matrix, options: &InfoOptions) -> Vec<Vec<f64>> {
    let mut rng = SplitMix64::new(options.noise_seed);
    let tiles = options.duplicate.max(1);
    let mut columns: Vec<Vec<f64>> = (0..latents.cols())
        .map(|j| {
            let col = latents.column(j);
            let n = col.len() as f64;
            let mean = col.iter().sum::<f64>() / n;
            let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
            let scale = if sd > 0.0 { sd } else { 1.0 };
            let one: Vec<f64> = col.iter().map(|v| (v - mean) / scale).collect();
            one.iter().cycle().take(one.len() * tiles).copied().collect()
        })
        .collect();
    if options.z_noise > 0.0 {
        // Row-major draw order (sample by sample), like numpy's normal(size=(n, d)).
        for r in 0..columns[0].len() {
            for col in columns.iter_mut() {
                col[r] += options.z_noise * rng.normal();
            }
        }
    }
    columns
}

/// InfoM and CInfoM of continuous latents with respect to discrete sources.
pub fn info_modularity(sources: &[Vec<u32>], latents: &Matrix, options: &InfoOptions) -> InfoModularity {
    assert_eq!(sources.len(), latents.rows(), "one latent row per source sample");
    let active = active_latents(latents, 0.1);
    let tiles = options.duplicate.max(1);
    let tiled: Vec<Vec<u32>> = sources.iter().cycle().take(sources.len() * tiles).cloned().collect();
    let columns = preprocess(latents, options);
    let (nmi, ncmi) = nmi_ncmi(&tiled, &columns, options.neighbours);
    InfoModularity {
        infom: modularity_score(&nmi, &active),
        cinfom: modularity_score(&ncmi, &active),
        nmi,
        ncmi,
        active,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two independent sources on a 6 × 6 grid, 3 copies of each point.
    fn grid() -> Vec<Vec<u32>> {
        (0..3)
            .flat_map(|_| (0..6).flat_map(|a| (0..6).map(move |b| vec![a, b])))
            .collect()
    }

    fn latents(sources: &[Vec<u32>], f: impl Fn(f64, f64) -> Vec<f64>) -> Matrix {
        Matrix::from_rows(sources.iter().map(|s| f(s[0] as f64, s[1] as f64)).collect())
    }

    #[test]
    fn latents_copying_one_source_each_are_modular() {
        let s = grid();
        let z = latents(&s, |a, b| vec![a, b]);
        let m = info_modularity(&s, &z, &InfoOptions::default());
        assert!(m.cinfom.unwrap() > 0.95 && m.infom.unwrap() > 0.95, "{m:?}");
        assert!(m.nmi[0][0] > 0.9 && m.nmi[1][0] < 0.05, "{:?}", m.nmi);
    }

    #[test]
    fn a_mixed_latent_is_not_modular() {
        // z = a + 6b is a bijection of the pair: it carries all of both sources.
        let s = grid();
        let z = latents(&s, |a, b| vec![a + 6.0 * b]);
        let m = info_modularity(&s, &z, &InfoOptions::default());
        assert!(m.cinfom.unwrap() < 0.2, "{m:?}");
        assert!(m.ncmi[0][0] > 0.8 && m.ncmi[1][0] > 0.8, "{:?}", m.ncmi);
    }

    #[test]
    fn permuting_latents_permutes_columns_and_keeps_scores() {
        let s = grid();
        let opts = InfoOptions {
            z_noise: 0.0,
            duplicate: 1,
            ..InfoOptions::default()
        };
        let z1 = latents(&s, |a, b| vec![a + 0.5 * b, b]);
        let z2 = latents(&s, |a, b| vec![b, a + 0.5 * b]);
        let (m1, m2) = (info_modularity(&s, &z1, &opts), info_modularity(&s, &z2, &opts));
        assert_eq!(m1.cinfom, m2.cinfom);
        assert_eq!(m1.nmi[0][0], m2.nmi[0][1]);
    }

    #[test]
    fn identical_sources_make_conditional_information_undefined_and_zero() {
        // s₂ = s₁: H(s₁ | s₂) = 0, so NCMI rows are 0 by convention.
        let s: Vec<Vec<u32>> = (0..60).map(|i| vec![i % 6, i % 6]).collect();
        let z = latents(&s, |a, _| vec![a]);
        let m = info_modularity(&s, &z, &InfoOptions::default());
        assert_eq!(m.ncmi, vec![vec![0.0], vec![0.0]]);
        assert!(m.nmi[0][0] > 0.9 && m.nmi[1][0] > 0.9);
    }

    #[test]
    fn joint_labels_are_dense_and_consistent() {
        let rows = vec![vec![1, 2], vec![0, 0], vec![1, 2], vec![3, 1]];
        assert_eq!(joint_labels(&rows), vec![0, 1, 0, 2]);
    }
}
