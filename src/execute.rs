//! Training the runs a plan needs: cache misses are grouped by batch key and trained as
//! batched Burn programs; each result is stored in the cache as soon as its batch ends, so an
//! interrupted run loses at most the batch in flight.

use std::collections::BTreeMap;

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::cache::{Cache, Lookup};
use crate::experiments::linear_ae_run::{LinearAeRun, measure};
use crate::experiments::{Measurement, RunRecipe};
use crate::model::linear_ae::{LinearAeWeights, train_batch};
use crate::plan::PlannedRun;

/// What training produced for one run: the cached part of a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RunOutput {
    LinearAe(LinearAeWeights),
}

/// How the runs of a plan were obtained.
#[derive(Debug, Default, Clone, Copy)]
pub struct CacheStats {
    pub hits: usize,
    pub trained: usize,
    pub corrupt: usize,
}

/// Returns each planned run's output, in plan order, training what the cache lacks.
pub fn obtain_outputs(
    runs: &[PlannedRun],
    cache: &Cache,
    device: &Device,
    max_batch: usize,
    show_progress: bool,
) -> anyhow::Result<(Vec<RunOutput>, CacheStats)> {
    let mut stats = CacheStats::default();
    let mut outputs: Vec<Option<RunOutput>> = vec![None; runs.len()];
    let mut misses: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (k, run) in runs.iter().enumerate() {
        match cache.lookup::<RunOutput>(&run.key) {
            Lookup::Hit(output) => {
                stats.hits += 1;
                outputs[k] = Some(output);
            }
            Lookup::Corrupt { reason } => {
                stats.corrupt += 1;
                eprintln!(
                    "warning: cache entry {} ({}) failed its check: {reason}; it was removed and will be recomputed",
                    run.key.short(),
                    cache.entry_dir(&run.key).display()
                );
                misses.entry(run.recipe.batch_key()).or_default().push(k);
            }
            Lookup::Miss => misses.entry(run.recipe.batch_key()).or_default().push(k),
        }
    }

    let total_runs: usize = misses.values().map(Vec::len).sum();
    let total_work: u64 = misses
        .values()
        .flatten()
        .map(|&k| steps_of(&runs[k].recipe) as u64)
        .sum();
    let bar = if show_progress && total_runs > 0 {
        ProgressBar::new(total_work)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("  training {msg} [{bar:30}] {percent}% eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut done_runs = 0usize;
    bar.set_message(format!("{done_runs}/{total_runs} runs"));
    for indices in misses.values() {
        for chunk in indices.chunks(max_batch.max(1)) {
            let trained = train_chunk(runs, chunk, device, &bar)?;
            for (&k, output) in chunk.iter().zip(trained) {
                cache.store(&runs[k].key, &runs[k].recipe, &output)?;
                outputs[k] = Some(output);
            }
            done_runs += chunk.len();
            stats.trained += chunk.len();
            bar.set_message(format!("{done_runs}/{total_runs} runs"));
        }
    }
    bar.finish_and_clear();
    Ok((
        outputs
            .into_iter()
            .map(|o| o.expect("every run obtained"))
            .collect(),
        stats,
    ))
}

fn steps_of(recipe: &RunRecipe) -> usize {
    match recipe {
        RunRecipe::LinearAe(run) => run.training.steps,
    }
}

fn train_chunk(
    runs: &[PlannedRun],
    chunk: &[usize],
    device: &Device,
    bar: &ProgressBar,
) -> anyhow::Result<Vec<RunOutput>> {
    let linear: Vec<&LinearAeRun> = chunk
        .iter()
        .map(|&k| match &runs[k].recipe {
            RunRecipe::LinearAe(run) => run,
        })
        .collect();
    let data = linear
        .iter()
        .map(|run| Ok(run.points.generate()?.iter().map(|p| p.to_vec()).collect()))
        .collect::<anyhow::Result<Vec<Vec<Vec<f64>>>>>()?;
    let inits: Vec<LinearAeWeights> = linear.iter().map(|run| run.initial_weights()).collect();
    let first = linear[0];
    let width = chunk.len() as u64;
    let mut last = 0usize;
    let weights = train_batch(
        &data,
        &inits,
        &first.objective,
        &first.training,
        device,
        |step| {
            if step - last >= 1000 || step == first.training.steps {
                bar.inc((step - last) as u64 * width);
                last = step;
            }
        },
    );
    Ok(weights.into_iter().map(RunOutput::LinearAe).collect())
}

/// Measures a run from its recipe and trained output.
pub fn measure_run(recipe: &RunRecipe, output: &RunOutput) -> anyhow::Result<Measurement> {
    match (recipe, output) {
        (RunRecipe::LinearAe(run), RunOutput::LinearAe(weights)) => Ok(Measurement::LinearAe(
            measure(run.points.generate()?, weights),
        )),
    }
}
