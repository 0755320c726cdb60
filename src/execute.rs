//! Training the runs a plan needs: cache misses are grouped by batch key and trained as
//! batched Burn programs; each result is stored in the cache as soon as its batch ends, so an
//! interrupted run loses at most the batch in flight.

use std::collections::BTreeMap;

use burn::tensor::Device;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::cache::{Cache, Lookup};
use crate::experiments::kind::KindOutput;
use crate::experiments::operative_dimensions::{OperativeMeasurement, TrainingCourse};
use crate::experiments::{Experiment, Measurement, RunRecipe};
use crate::plan::PlannedRun;

/// What training produced for one run: the cached part of a result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RunOutput {
    Classifier(crate::model::classifier::TrainedClassifier),
    Operative(crate::experiments::operative_dimensions::AnalysisOutput),
    Rnn(crate::model::rnn_training::TrainedRnn),
    /// The output of a [`crate::experiments::kind::Kind`], as JSON. The aliases are the
    /// variants of the kinds since moved onto the trait (`Kind::LEGACY_TAG`): their cached
    /// outputs read back as this.
    #[serde(alias = "WhatWhere", alias = "LinearAe", alias = "MlpAe")]
    Kind(serde_json::Value),
    /// Training produced non-finite numbers. Stored like any result, so that a rerun does not
    /// train it again, and left out of every measurement (a `Kind` reports its own divergence
    /// inside its output instead).
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

impl RunOutput {
    /// `self`, or [`RunOutput::Diverged`] if it holds a NaN or an infinity. JSON has neither, so
    /// such an output could not be read back from the cache: it would be retrained forever.
    fn or_diverged(self, steps: u64) -> RunOutput {
        if matches!(self, RunOutput::Kind(_) | RunOutput::Diverged(_)) || crate::cache::survives_json(&self) {
            return self;
        }
        let first_bad_loss = match &self {
            RunOutput::Rnn(trained) => trained.losses.iter().position(|l| !l.is_finite()),
            _ => None,
        };
        RunOutput::Diverged(match first_bad_loss {
            Some(iteration) => Divergence {
                by_step: iteration as u64 + 1,
                detail: format!("the training loss was non-finite at iteration {}", iteration + 1),
            },
            None => Divergence {
                by_step: steps,
                detail: format!("the trained weights hold NaN or infinite values after {steps} steps"),
            },
        })
    }
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
        // Chunks of at most `max_batch` runs, each group split so that `jobs` threads have work.
        // A run's numbers do not depend on which runs share its program (tested), so neither the
        // chunking nor the threads change results.
        let mut chunks: Vec<&[usize]> = Vec::new();
        for indices in misses.values() {
            let size = indices.len().div_ceil(jobs).clamp(1, self.max_batch.max(1));
            chunks.extend(indices.chunks(size));
        }
        let done = std::sync::Mutex::new((0usize, outputs, &mut *stats));
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| -> anyhow::Result<()> {
            let workers: Vec<_> = (0..jobs.min(chunks.len()))
                .map(|_| {
                    scope.spawn(|| -> anyhow::Result<()> {
                        loop {
                            let c = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            let Some(chunk) = chunks.get(c) else { return Ok(()) };
                            let trained: Vec<RunOutput> = train_chunk(experiment, runs, chunk, device, &bar)?
                                .into_iter()
                                .zip(chunk.iter())
                                .map(|(output, &k)| output.or_diverged(steps_of(experiment, &runs[k].recipe)))
                                .collect();
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

/// Runs with equal keys train in one call; a `Kind` says itself which of its runs may share one.
fn batch_key(experiment: &Experiment, recipe: &RunRecipe) -> String {
    match (recipe, experiment.as_kind()) {
        (RunRecipe::Kind(run), Some(kind)) => kind.batch_key(run),
        _ => recipe.batch_key(),
    }
}

/// Units of training work of a run (steps, iterations or epochs): the progress bar's unit and
/// the cost by which shards are dealt.
pub fn steps_of(experiment: &Experiment, recipe: &RunRecipe) -> u64 {
    let steps = match recipe {
        // Progress counts epochs for classifiers (their step count depends on early stopping).
        RunRecipe::Classifier(run) => run.training.map_or(1, |t| t.max_epochs),
        RunRecipe::Operative(_) => 1,
        RunRecipe::RnnTraining(run) => run.training.iterations,
        RunRecipe::Kind(run) => return experiment.as_kind().map_or(1, |kind| kind.work(run)),
    };
    steps as u64
}

fn train_chunk(
    experiment: &Experiment,
    runs: &[PlannedRun],
    chunk: &[usize],
    device: &Device,
    bar: &ProgressBar,
) -> anyhow::Result<Vec<RunOutput>> {
    match &runs[chunk[0]].recipe {
        RunRecipe::Kind(_) => {
            let kind = experiment
                .as_kind()
                .ok_or_else(|| anyhow::anyhow!("a {} experiment planned a Kind run", experiment.kind()))?;
            let recipes: Vec<_> = chunk
                .iter()
                .map(|&k| match &runs[k].recipe {
                    RunRecipe::Kind(run) => run,
                    _ => unreachable!("a batch holds one kind of run"),
                })
                .collect();
            let outputs = kind.train(&recipes, device, &|units| bar.inc(units))?;
            Ok(outputs
                .into_iter()
                .map(|output| match output {
                    KindOutput::Trained(value) => RunOutput::Kind(value),
                    KindOutput::Diverged(divergence) => RunOutput::Diverged(divergence),
                })
                .collect())
        }
        RunRecipe::Operative(_) => chunk
            .iter()
            .map(|&k| {
                let RunRecipe::Operative(run) = &runs[k].recipe else {
                    unreachable!("a batch holds one kind of run")
                };
                let output = run.analyse()?;
                bar.inc(1);
                Ok(RunOutput::Operative(output))
            })
            .collect(),
        RunRecipe::RnnTraining(_) => chunk
            .iter()
            .map(|&k| {
                let RunRecipe::RnnTraining(run) = &runs[k].recipe else {
                    unreachable!("a batch holds one kind of run")
                };
                let trained = run.train(|_, _| bar.inc(1));
                Ok(RunOutput::Rnn(trained))
            })
            .collect(),
        RunRecipe::Classifier(_) => chunk
            .iter()
            .map(|&k| {
                let RunRecipe::Classifier(run) = &runs[k].recipe else {
                    unreachable!("a batch holds one kind of run")
                };
                let total = run.training.map_or(1, |t| t.max_epochs);
                let mut done = 0;
                let trained = run.train(device, |epoch| {
                    bar.inc((epoch - done) as u64);
                    done = epoch;
                })?;
                bar.inc((total - done.min(total)) as u64);
                Ok(RunOutput::Classifier(trained))
            })
            .collect(),
    }
}

/// Measures a run from its recipe and trained output.
pub fn measure_run(recipe: &RunRecipe, output: &RunOutput, experiment: &Experiment) -> anyhow::Result<Measurement> {
    match (recipe, output) {
        (RunRecipe::Kind(run), RunOutput::Kind(output)) => experiment
            .as_kind()
            .ok_or_else(|| anyhow::anyhow!("a {} experiment planned a Kind run", experiment.kind()))?
            .measure(run, output),
        (RunRecipe::Operative(_), RunOutput::Operative(output)) => Ok(Measurement::Operative(OperativeMeasurement {
            analysis: output.clone(),
            training: None,
        })),
        (RunRecipe::RnnTraining(_), RunOutput::Rnn(trained)) => {
            let Experiment::OperativeDimensions(params) = experiment else {
                anyhow::bail!("a trained RNN outside an operative-dimension experiment")
            };
            Ok(Measurement::Operative(OperativeMeasurement {
                analysis: params.settings().analyse(&trained.network),
                training: Some(TrainingCourse {
                    losses: trained.losses.clone(),
                    kept_iteration: trained.kept_iteration,
                }),
            }))
        }
        (RunRecipe::Classifier(run), RunOutput::Classifier(trained)) => {
            let Experiment::UnitClustering(params) = experiment else {
                anyhow::bail!("a classifier run outside a unit-clustering experiment")
            };
            Ok(Measurement::Classifier(crate::experiments::unit_clustering::measure(
                run, trained, params,
            )?))
        }
        _ => anyhow::bail!(
            "a cached result does not match its run's kind (fix: `modrepro cache gc`, or delete the entry)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::classifier::{ClassifierWeights, TrainedClassifier};

    #[test]
    fn an_untrained_classifier_round_trips_through_json() {
        // JSON has no NaN or infinity: every cached output must survive serialisation.
        let output = RunOutput::Classifier(TrainedClassifier {
            weights: ClassifierWeights::init(&[4, 3, 2], 1),
            epochs: 0,
            best_epoch: 0,
            best_validation_loss: None,
        });
        let json = serde_json::to_vec(&output).unwrap();
        assert_eq!(serde_json::from_slice::<RunOutput>(&json).unwrap(), output);
    }

    fn linear_weights(value: f32) -> RunOutput {
        RunOutput::Classifier(TrainedClassifier {
            weights: ClassifierWeights {
                widths: vec![2, 2],
                weights: vec![vec![0.5, value, 0.1, 0.2]],
                biases: vec![vec![0.0; 2]],
            },
            epochs: 3,
            best_epoch: 3,
            best_validation_loss: Some(0.1),
        })
    }

    #[test]
    fn non_finite_weights_make_a_diverged_run_finite_ones_stay() {
        assert_eq!(linear_weights(1.0).or_diverged(500), linear_weights(1.0));
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let RunOutput::Diverged(divergence) = linear_weights(bad).or_diverged(500) else {
                panic!("{bad} was kept as a result")
            };
            assert_eq!(divergence.by_step, 500);
        }
    }

    #[test]
    fn a_diverged_run_is_cached_so_a_rerun_does_not_train_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let key = crate::cache::RunKey::of(&"run", 1, "flex");
        let diverged = linear_weights(f32::NAN).or_diverged(500);
        cache.store(&key, &"run", &diverged).unwrap();
        match cache.lookup::<_, RunOutput>(&key, &"run") {
            Lookup::Hit(output) => assert_eq!(output, diverged),
            other => panic!("{other:?}"),
        }
    }
}
