//! Training the runs a plan needs: cache misses are grouped by batch key and trained as
//! batched Burn programs; each result is stored in the cache as soon as its batch ends, so an
//! interrupted run loses at most the batch in flight.

use std::collections::BTreeMap;

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::cache::{Cache, Lookup};
use crate::experiments::kind::KindOutput;
use crate::experiments::{Experiment, Measurement, RunRecipe};
use crate::plan::PlannedRun;

/// What training produced for one run: the cached part of a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RunOutput {
    /// The output of a [`crate::experiments::kind::Kind`], as JSON. The aliases are the
    /// variants of the kinds written before the trait (`Kind::LEGACY_KEY`): their cached
    /// outputs read back as this.
    #[serde(
        alias = "WhatWhere",
        alias = "LinearAe",
        alias = "MlpAe",
        alias = "Classifier",
        alias = "Operative",
        alias = "Rnn"
    )]
    Kind(serde_json::Value),
    /// Training produced non-finite numbers (kinds with `Kind::PIPELINE_DIVERGENCE`). Stored like
    /// any result, so that a rerun does not train it again, and left out of every measurement.
    Diverged(Divergence),
}

/// Where a run's training broke down.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    /// The step, iteration or epoch by which the numbers were non-finite (the first
    /// non-finite loss where the run records its losses, else the end of training).
    pub by_step: u64,
    pub detail: String,
}

/// How the runs of a plan were obtained.
#[derive(Debug, Default, Clone, Copy)]
pub struct CacheStats {
    pub hits: usize,
    pub trained: usize,
    pub corrupt: usize,
    /// Units of work (steps, iterations, epochs) trained, and the wall time training took: the
    /// throughput `plan` estimates other profiles from.
    pub trained_work: u64,
    pub training_seconds: f64,
}

/// Returns each planned run's output, in plan order, training what the cache lacks.
///
/// Several processes may share one cache (two terminals, the tasks of a job array on a shared
/// filesystem): each missing run is trained by the process that takes its lock
/// ([`Cache::try_lock_run`]); the others train what they could lock first, then wait for the
/// rest and read the entries the lock holders wrote (or train a run themselves if its holder
/// died without storing it). So every run is trained once.
pub fn obtain_outputs(
    experiment: &Experiment,
    runs: &[PlannedRun],
    cache: &Cache,
    device: &Device,
    max_batch: usize,
    jobs: usize,
    show_progress: bool,
) -> anyhow::Result<(Vec<RunOutput>, CacheStats)> {
    let mut stats = CacheStats::default();
    let mut outputs: Vec<Option<RunOutput>> = vec![None; runs.len()];
    let mut locked = Vec::new();
    let mut held_elsewhere = Vec::new();
    for (k, run) in runs.iter().enumerate() {
        if look_up(cache, run, &mut outputs[k], &mut stats) {
            continue;
        }
        match cache.try_lock_run(&run.key)? {
            // Re-read under the lock: another process may have stored it since.
            Some(lock) if !look_up(cache, run, &mut outputs[k], &mut stats) => locked.push((k, lock)),
            Some(_) => {}
            None => held_elsewhere.push(k),
        }
    }
    let training = Training {
        experiment,
        runs,
        cache,
        device,
        max_batch,
        jobs,
        show_progress,
    };
    training.train(&locked, &mut outputs, &mut stats)?;
    drop(locked);

    let mut orphans = Vec::new();
    if !held_elsewhere.is_empty() && show_progress {
        eprintln!(
            "  waiting for {} run(s) another process is training on this cache",
            held_elsewhere.len()
        );
    }
    for k in held_elsewhere {
        let lock = cache.lock_run(&runs[k].key)?;
        if !look_up(cache, &runs[k], &mut outputs[k], &mut stats) {
            orphans.push((k, lock));
        }
    }
    training.train(&orphans, &mut outputs, &mut stats)?;
    Ok((
        outputs.into_iter().map(|o| o.expect("every run obtained")).collect(),
        stats,
    ))
}

/// Reads `run`'s entry into `slot`; false if the run must be trained (missing, or corrupt and
/// removed, which is reported).
fn look_up(cache: &Cache, run: &PlannedRun, slot: &mut Option<RunOutput>, stats: &mut CacheStats) -> bool {
    match cache.lookup::<_, RunOutput>(&run.key, &run.recipe) {
        Lookup::Hit(output) => {
            stats.hits += 1;
            *slot = Some(output);
            true
        }
        Lookup::Corrupt { reason } => {
            stats.corrupt += 1;
            eprintln!(
                "warning: cache entry {} ({}) failed its check: {reason}; it was removed and will be recomputed",
                run.key.short(),
                cache.entry_dir(&run.key).display()
            );
            false
        }
        Lookup::Miss => false,
    }
}

/// What training a set of runs needs.
struct Training<'a> {
    experiment: &'a Experiment,
    runs: &'a [PlannedRun],
    cache: &'a Cache,
    device: &'a Device,
    max_batch: usize,
    jobs: usize,
    show_progress: bool,
}

impl Training<'_> {
    /// Trains the runs `to_train` (plan indices, with the locks this process holds on them) in
    /// batches, storing each batch's results as soon as it ends.
    fn train(
        &self,
        to_train: &[(usize, crate::cache::RunLock)],
        outputs: &mut [Option<RunOutput>],
        stats: &mut CacheStats,
    ) -> anyhow::Result<()> {
        let (experiment, runs, cache, device) = (self.experiment, self.runs, self.cache, self.device);
        let jobs = self.jobs.max(1);
        let mut misses: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for &(k, _) in to_train {
            misses
                .entry(batch_key(experiment, &runs[k].recipe))
                .or_default()
                .push(k);
        }
        let total_runs = to_train.len();
        if total_runs == 0 {
            return Ok(());
        }
        let total_work: u64 = to_train
            .iter()
            .map(|&(k, _)| steps_of(experiment, &runs[k].recipe))
            .sum();
        let training_started = std::time::Instant::now();
        let bar = if self.show_progress {
            ProgressBar::new(total_work)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("  training {msg} [{bar:30}] {percent}% eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(format!("0/{total_runs} runs"));
        // Chunks of at most `max_batch` runs, each group split so that `jobs` threads have work
        // (or as the kind asks, when smaller). A run's numbers do not depend on which runs share
        // its program (tested), so neither the chunking nor the threads change results.
        let per_call = experiment.as_kind().runs_per_call(device);
        let chunks: Vec<&[usize]> = misses
            .values()
            .flat_map(|indices| calls(indices, jobs, per_call, self.max_batch))
            .collect();
        // Fewer chunks than jobs (one large run, say): each chunk gets the spare cores, for the
        // kinds that can use them.
        let threads = (jobs / chunks.len().max(1)).max(1);
        let done = std::sync::Mutex::new((0usize, outputs, &mut *stats));
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| -> anyhow::Result<()> {
            let workers: Vec<_> = (0..jobs.min(chunks.len()))
                .map(|_| {
                    scope.spawn(|| -> anyhow::Result<()> {
                        loop {
                            let c = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let Some(chunk) = chunks.get(c) else { return Ok(()) };
                            let trained: Vec<RunOutput> = train_chunk(experiment, runs, chunk, device, threads, &bar)?;
                            for (&k, output) in chunk.iter().zip(&trained) {
                                cache.store(&runs[k].key, &runs[k].recipe, output).map_err(|e| {
                                    anyhow::anyhow!(
                                        "storing run {} in the cache at {}: {e}",
                                        runs[k].key.short(),
                                        cache.root().display()
                                    )
                                })?;
                            }
                            let mut guard = done.lock().expect("no thread panicked holding the lock");
                            let (done_runs, outputs, stats) = &mut *guard;
                            for (&k, output) in chunk.iter().zip(trained) {
                                outputs[k] = Some(output);
                            }
                            *done_runs += chunk.len();
                            stats.trained += chunk.len();
                            bar.set_message(format!("{done_runs}/{total_runs} runs"));
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker
                    .join()
                    .map_err(|_| anyhow::anyhow!("a training thread panicked"))??;
            }
            Ok(())
        })?;
        bar.finish_and_clear();
        stats.trained_work += total_work;
        stats.training_seconds += training_started.elapsed().as_secs_f64();
        Ok(())
    }
}

/// One batch key's runs split into calls of [`Kind`](crate::experiments::kind::Kind)`::train`:
/// as many as `jobs` (so that every job has work), of at most `max_batch` runs, and of at most
/// `per_call` where the kind asks for that.
fn calls(indices: &[usize], jobs: usize, per_call: Option<usize>, max_batch: usize) -> std::slice::Chunks<'_, usize> {
    let even = indices.len().div_ceil(jobs.max(1));
    let size = even.min(per_call.unwrap_or(usize::MAX)).clamp(1, max_batch.max(1));
    indices.chunks(size)
}

/// Runs with equal keys train in one call; the kind says which of its runs may share one.
fn batch_key(experiment: &Experiment, recipe: &RunRecipe) -> String {
    experiment.as_kind().batch_key(&recipe.0)
}

/// Units of training work of a run (steps, iterations or epochs): the progress bar's unit and
/// the cost by which shards are dealt.
pub fn steps_of(experiment: &Experiment, recipe: &RunRecipe) -> u64 {
    experiment.as_kind().work(&recipe.0)
}

fn train_chunk(
    experiment: &Experiment,
    runs: &[PlannedRun],
    chunk: &[usize],
    device: &Device,
    threads: usize,
    bar: &ProgressBar,
) -> anyhow::Result<Vec<RunOutput>> {
    let recipes: Vec<_> = chunk.iter().map(|&k| &runs[k].recipe.0).collect();
    let outputs = experiment
        .as_kind()
        .train(&recipes, device, &|units| bar.inc(units), threads)?;
    Ok(outputs
        .into_iter()
        .map(|output| match output {
            KindOutput::Trained(value) => RunOutput::Kind(value),
            KindOutput::Diverged(divergence) => RunOutput::Diverged(divergence),
        })
        .collect())
}

/// Measures a run from its recipe and trained output.
pub fn measure_run(recipe: &RunRecipe, output: &RunOutput, experiment: &Experiment) -> anyhow::Result<Measurement> {
    match output {
        RunOutput::Kind(output) => experiment.as_kind().measure(&recipe.0, output),
        RunOutput::Diverged(_) => anyhow::bail!("a diverged run is not measured (a bug: it is left out before)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::classifier::{ClassifierWeights, TrainedClassifier};

    #[test]
    fn runs_split_into_one_call_per_job_unless_the_kind_or_max_batch_asks_for_fewer_runs() {
        let runs: Vec<usize> = (0..55).collect();
        let sizes = |jobs, per_call, max_batch| {
            calls(&runs, jobs, per_call, max_batch)
                .map(<[usize]>::len)
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(2, None, 128), [28, 27]);
        assert_eq!(sizes(2, None, 20), [20, 20, 15]);
        assert_eq!(sizes(2, Some(1), 128), [1; 55]);
        assert_eq!(sizes(2, Some(0), 128), [1; 55]);
        assert_eq!(sizes(0, None, 0), [1; 55]);
        // Every run is in exactly one call, in order.
        assert_eq!(
            calls(&runs, 3, Some(4), 128).flatten().copied().collect::<Vec<_>>(),
            runs
        );
    }

    #[test]
    fn outputs_cached_under_the_variants_of_kinds_written_before_the_trait_read_back() {
        // Entries written before UnitClustering and OperativeDimensions moved onto the `Kind`
        // trait are tagged with their old `RunOutput` variants.
        let trained = TrainedClassifier {
            weights: ClassifierWeights::init(&[4, 3, 2], 1),
            epochs: 0,
            best_epoch: 0,
            best_validation_loss: None,
        };
        let value = serde_json::to_value(&trained).unwrap();
        for tag in [
            "Classifier",
            "Operative",
            "Rnn",
            "MlpAe",
            "LinearAe",
            "WhatWhere",
            "Kind",
        ] {
            let json = serde_json::to_vec(&serde_json::json!({ tag: value })).unwrap();
            assert_eq!(
                serde_json::from_slice::<RunOutput>(&json).unwrap(),
                RunOutput::Kind(value.clone()),
                "{tag}"
            );
        }
    }

    #[test]
    fn a_diverged_run_is_cached_so_a_rerun_does_not_train_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let key = crate::cache::RunKey::of(&"run", 1, "flex");
        let diverged = RunOutput::Diverged(Divergence {
            by_step: 500,
            detail: "the trained weights hold NaN or infinite values after 500 steps".into(),
        });
        cache.store(&key, &"run", &diverged).unwrap();
        match cache.lookup::<_, RunOutput>(&key, &"run") {
            Lookup::Hit(output) => assert_eq!(output, diverged),
            other => panic!("{other:?}"),
        }
    }
}
