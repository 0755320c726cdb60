//! `modrepro operative-dims`: Krause et al.'s analysis of a researcher's own rate RNN — the
//! same [`AnalysisSettings::analyse`] the Krause specs run — with a verdict a person can read.

use std::path::Path;

use crate::analysis::operative_rows::RowSearch;
use crate::analysis::stats::components_for;
use crate::data::krause_tasks::{Task, integration_evaluation, sine_trial};
use crate::experiments::operative_dimensions::{ANALYSIS_VERSION, AnalysisOutput, AnalysisSettings, load_network};
use crate::render::table::Table;

/// How `operative-dims` analyses a network (the Krause specs' `quick` settings by default).
#[derive(Debug, Clone)]
pub struct Request {
    pub task: Task,
    /// 1-based, as the archive's keys (`net01_W`, …).
    pub network: usize,
    pub ranks: Vec<usize>,
    pub sampling_repeats: usize,
    pub eval_repeats: usize,
    pub row_dims: usize,
}

/// What the analysis found on one network.
#[derive(Debug, Clone)]
pub struct OperativeReport {
    pub file: String,
    pub network: usize,
    pub units: usize,
    pub inputs: usize,
    pub task: Task,
    pub analysis: AnalysisOutput,
}

/// The task's input count (from one of its trials, so it cannot drift from the generator).
fn task_inputs(task: Task) -> usize {
    let trial = match task {
        Task::ContextIntegration => integration_evaluation(1, 0).swap_remove(0),
        Task::SineWave => sine_trial(1),
    };
    trial.inputs[0].len()
}

/// Reads network `request.network` of `file` and analyses it.
pub fn operative_dims(file: &Path, request: &Request) -> anyhow::Result<OperativeReport> {
    anyhow::ensure!(request.network >= 1, "--network counts from 1");
    let path = file.display().to_string();
    let net = load_network(&path, request.network - 1)?;
    let expected = task_inputs(request.task);
    anyhow::ensure!(
        net.inputs == expected,
        "{path}: net{:02}_B has {} input column(s), but the {:?} task feeds {expected} (fix: pick the task the network was trained on)",
        request.network,
        net.inputs,
        request.task
    );
    let mut ranks: Vec<usize> = request.ranks.iter().copied().filter(|&r| r <= net.n).collect();
    anyhow::ensure!(
        !ranks.is_empty() && request.ranks.iter().all(|&r| r >= 1),
        "--ranks must hold ranks from 1 to {} (the network's size)",
        net.n
    );
    if !ranks.contains(&net.n) {
        ranks.push(net.n);
    }
    ranks.sort_unstable();
    ranks.dedup();
    let settings = AnalysisSettings {
        analysis_version: ANALYSIS_VERSION,
        task: request.task,
        ranks,
        eval_repeats: request.eval_repeats.max(1),
        sampling_repeats: request.sampling_repeats.max(1),
        noise_seed: 0,
        rows: RowSearch {
            max_dims: request.row_dims.clamp(1, net.n),
            relative_floor: 1e-3,
        },
    };
    Ok(OperativeReport {
        file: path,
        network: request.network,
        units: net.n,
        inputs: net.inputs,
        task: request.task,
        analysis: settings.analyse(&net),
    })
}

impl OperativeReport {
    pub fn rank_within_5pct(&self, method: &str) -> Option<usize> {
        let rank = self.analysis.first_rank_within_5pct(method, false);
        rank.is_finite().then_some(rank as usize)
    }

    pub fn describe(&self) -> String {
        let a = &self.analysis;
        let rank = |method: &str| {
            self.rank_within_5pct(method)
                .map_or_else(|| "none of the ranks analysed".into(), |r| r.to_string())
        };
        let mut out = format!(
            "network {} of {}: {} units, {} input(s), task {:?}\n",
            self.network, self.file, self.units, self.inputs, self.task
        );
        out += &format!(
            "output cost: full network {:.4}, with W = 0 {:.4}\n",
            a.full_cost, a.zero_cost
        );
        out += "lowest rank of W's reduction whose cost is within 5% of the way from the full network to W = 0:\n";
        for (method, name) in [
            ("operative_columns", "operative column dimensions"),
            ("operative_rows", "operative row dimensions"),
            ("svd", "W's own singular vectors"),
            ("random_locations", "columns at random locations (control)"),
        ] {
            out += &format!("  {name:<40} {}\n", rank(method));
        }
        out += &format!(
            "the first global operative column dimension carries {:.0}% of their variance; 90% of W's Σσ² needs {} of {} singular values\n",
            100.0 * a.operative_spectrum.first().copied().unwrap_or(0.0),
            components_for(&a.svd_spectrum, 0.9).unwrap_or(a.svd_spectrum.len()),
            self.units
        );
        out += &match (self.rank_within_5pct("operative_columns"), self.rank_within_5pct("svd")) {
            (Some(op), Some(svd)) if op < svd => format!(
                "verdict: a rank-{op} subspace of W (its operative dimensions) keeps the function; W's own top singular directions need rank {svd}.\n"
            ),
            (Some(op), Some(svd)) => format!(
                "verdict: operative dimensions (rank {op}) are no more compact than W's SVD (rank {svd}) for this network.\n"
            ),
            (Some(op), None) => {
                format!("verdict: a rank-{op} subspace of W keeps the function; no SVD rank analysed does.\n")
            }
            _ => "verdict: no analysed rank of the operative reduction keeps the function within 5%.\n".into(),
        };
        out
    }

    /// One row per (method, rank): output cost and state distance.
    pub fn table(&self) -> Table {
        let mut table = Table::new(
            ["method", "rank", "output_cost", "state_distance"]
                .map(String::from)
                .to_vec(),
        );
        for (method, rank, cost, distance) in &self.analysis.curve {
            table.push(vec![
                method.clone(),
                rank.to_string(),
                cost.to_string(),
                distance.to_string(),
            ]);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_for_counts_the_leading_shares() {
        assert_eq!(components_for(&[0.5, 0.3, 0.15, 0.05], 0.9), Some(3));
        assert_eq!(components_for(&[1.0], 0.9), Some(1));
        assert_eq!(components_for(&[0.4, 0.4], 0.9), None);
    }

    #[test]
    fn the_task_input_counts_are_the_generators() {
        assert_eq!(task_inputs(Task::SineWave), 1);
        assert_eq!(task_inputs(Task::ContextIntegration), 5);
    }
}
