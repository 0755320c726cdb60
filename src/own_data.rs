//! The papers' analyses on a researcher's own files. `modularity`: Dorrell et al.'s metrics of
//! a representation (latents) against the variables it should encode (sources).

use std::path::Path;

use crate::analysis::info_metrics::{InfoOptions, info_modularity};
use crate::analysis::linalg::Matrix;
use crate::analysis::linear_info::{InfoMatrix, active_latents, linear_ncmi, linear_nmi, modularity_score};
use crate::data::points_file::{SourceSamples, read_source_samples};
use crate::render::table::Table;

/// What `modularity` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ModularityReport {
    pub linear: bool,
    pub infom: Option<f64>,
    pub cinfom: Option<f64>,
    pub active: Vec<bool>,
    pub nmi: InfoMatrix,
    pub ncmi: InfoMatrix,
    pub source_names: Vec<String>,
    pub latent_names: Vec<String>,
}

/// Label-encodes each source column (distinct values in sorted order), for the kNN estimator,
/// which treats sources as discrete.
fn label_encode(samples: &SourceSamples) -> Vec<Vec<u32>> {
    let columns = samples.names.len();
    let mut distinct: Vec<Vec<f64>> = (0..columns)
        .map(|c| samples.samples.iter().map(|s| s[c]).collect())
        .collect();
    for d in &mut distinct {
        d.sort_by(f64::total_cmp);
        d.dedup();
    }
    samples
        .samples
        .iter()
        .map(|s| {
            (0..columns)
                .map(|c| {
                    distinct[c]
                        .binary_search_by(|v| v.total_cmp(&s[c]))
                        .expect("a value of its column") as u32
                })
                .collect()
        })
        .collect()
}

/// Reads both files and measures InfoM and CInfoM (linear: the variance-explained variants).
pub fn modularity(latents: &Path, sources: &Path, linear: bool) -> anyhow::Result<ModularityReport> {
    let z = read_source_samples(latents)?;
    let s = read_source_samples(sources)?;
    anyhow::ensure!(
        z.samples.len() == s.samples.len(),
        "{} has {} samples but {} has {} (fix: one row per sample in both, in the same order)",
        latents.display(),
        z.samples.len(),
        sources.display(),
        s.samples.len()
    );
    anyhow::ensure!(
        s.names.len() >= 2,
        "{}: modularity compares at least 2 sources; the file has {} (fix: one column per source)",
        sources.display(),
        s.names.len()
    );
    let z_matrix = Matrix::from_rows(z.samples.clone());
    let (infom, cinfom, active, nmi, ncmi) = if linear {
        let s_matrix = Matrix::from_rows(s.samples.clone());
        let active = active_latents(&z_matrix, 0.1);
        let (nmi, ncmi) = (linear_nmi(&s_matrix, &z_matrix), linear_ncmi(&s_matrix, &z_matrix));
        (
            modularity_score(&nmi, &active),
            modularity_score(&ncmi, &active),
            active,
            nmi,
            ncmi,
        )
    } else {
        let m = info_modularity(&label_encode(&s), &z_matrix, &InfoOptions::default());
        (m.infom, m.cinfom, m.active, m.nmi, m.ncmi)
    };
    Ok(ModularityReport {
        linear,
        infom,
        cinfom,
        active,
        nmi,
        ncmi,
        source_names: s.names,
        latent_names: z.names,
    })
}

impl ModularityReport {
    /// One row per latent: whether it is active, its NMI and NCMI with each source.
    pub fn table(&self) -> Table {
        let mut header = vec!["latent".to_string(), "active".to_string()];
        for prefix in ["nmi", "ncmi"] {
            header.extend(self.source_names.iter().map(|s| format!("{prefix}_{s}")));
        }
        let mut table = Table::new(header);
        for (j, name) in self.latent_names.iter().enumerate() {
            let mut row = vec![name.clone(), self.active[j].to_string()];
            for m in [&self.nmi, &self.ncmi] {
                row.extend(m.iter().map(|source_row| source_row[j].to_string()));
            }
            table.push(row);
        }
        table
    }

    /// Lines a person reads: the scores and what they mean, then the latents by their source.
    pub fn describe(&self) -> String {
        let fmt = |x: Option<f64>| x.map_or_else(|| "undefined (no active latent)".to_string(), |v| format!("{v:.4}"));
        let kind = if self.linear { "linear " } else { "" };
        let mut out = format!(
            "{kind}InfoM {}   {kind}CInfoM {}   ({} of {} latents active: range > 0.1 × the largest)\n",
            fmt(self.infom),
            fmt(self.cinfom),
            self.active.iter().filter(|a| **a).count(),
            self.active.len()
        );
        out += "1 = every active latent carries one source only; 0 = every one carries all sources equally.\n";
        for (j, name) in self.latent_names.iter().enumerate().filter(|(j, _)| self.active[*j]) {
            let column: Vec<f64> = self.ncmi.iter().map(|r| r[j]).collect();
            let total: f64 = column.iter().sum();
            let (best, value) = column
                .iter()
                .enumerate()
                .fold((0, f64::MIN), |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc });
            let share = if total > 0.0 { value / total } else { 0.0 };
            out += &format!(
                "  {name}: mostly {} ({:.0}% of its conditional information)\n",
                self.source_names[best],
                100.0 * share
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_encoding_is_dense_and_ordered() {
        let s = SourceSamples {
            names: vec!["a".into(), "b".into()],
            samples: vec![vec![0.5, 3.0], vec![-1.0, 3.0], vec![0.5, 7.0]],
        };
        assert_eq!(label_encode(&s), vec![vec![1, 0], vec![0, 0], vec![1, 1]]);
    }
}
