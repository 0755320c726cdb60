//! One artefact end to end: plan → cached or trained runs → measurements → table, figure,
//! manifest → claims.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use crate::backend::Backend;
use crate::cache::{Cache, Lookup, RunKey};
use crate::execute::{CacheStats, RunOutput, measure_run, obtain_outputs};
use crate::experiments::{MeasuredRun, Summary, Unavailable};
use crate::plan::{Plan, Shard, expand};
use crate::spec::{LoadedSpec, Profile};
use crate::verify::{ClaimOutcome, evaluate};

#[derive(Debug, Clone)]
pub struct Options {
    pub profile: Profile,
    pub backend: Backend,
    pub cache: Cache,
    pub outputs: PathBuf,
    pub shard: Option<Shard>,
    /// Most runs trained together in one batched program.
    pub max_batch: usize,
    /// Threads training separate batched programs at once.
    pub jobs: usize,
    pub show_progress: bool,
}

/// What running one artefact produced.
#[derive(Debug, Clone)]
pub struct ArtefactResult {
    pub loaded: LoadedSpec,
    pub outcomes: Vec<ClaimOutcome>,
    /// The spec's checks (preconditions on generated data): a failed one fails `verify`.
    pub checks: Vec<ClaimOutcome>,
    /// Output files, relative to the outputs directory.
    pub files: Vec<PathBuf>,
    pub runs: usize,
    pub stats: CacheStats,
    /// The measurements and summary were read from the cache (nothing measured).
    pub summary_cached: bool,
    pub seconds: f64,
    pub notes: Vec<String>,
}

/// What running one artefact came to.
#[derive(Debug, Clone)]
pub enum ArtefactOutcome {
    Done(Box<ArtefactResult>),
    /// A shard's runs were trained and cached; nothing rendered.
    Sharded {
        runs: usize,
        stats: CacheStats,
    },
    /// The artefact cannot be produced here (reported, not failed, not passed).
    Unavailable(Box<LoadedSpec>, Unavailable),
}

/// What an artefact's summary is computed from: the experiment at its profile and every run,
/// by key, with the labels the summary reads. Hashed (with the analysis version) into the
/// summary's cache key.
fn summary_inputs(plan: &Plan) -> serde_json::Value {
    json!({
        "analysis_version": crate::ANALYSIS_VERSION,
        "experiment": plan.experiment,
        "runs": plan.runs.iter().map(|r| json!({
            "key": r.key.as_str(), "seed": r.seed, "sweep": r.sweep, "label": r.label,
        })).collect::<Vec<_>>(),
    })
}

/// Artefact summaries live beside the runs, in `<cache>/summaries/`: derived data, kept apart
/// so that run entries and summaries are never mistaken for each other.
pub fn summary_cache(runs: &Cache) -> Cache {
    Cache::new(runs.root().join("summaries"))
}

/// The cache key of a plan's summary.
pub fn summary_key(plan: &Plan, backend: Backend) -> RunKey {
    RunKey::of(&summary_inputs(plan), crate::NUMERICS_VERSION, backend.name())
}

/// Measures the runs `which` on up to `jobs` threads, each taking the next unmeasured run (a
/// Krause network's analysis takes minutes; Lange's clusterings seconds each). Every
/// measurement depends on its own run only, so the result is the same for any `jobs`.
fn measure_in_parallel(
    plan: &Plan,
    outputs: &[RunOutput],
    which: &[usize],
    jobs: usize,
) -> anyhow::Result<Vec<crate::experiments::Measurement>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<anyhow::Result<crate::experiments::Measurement>>>> =
        which.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, which.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&k) = which.get(i) else { break };
                    let measured = measure_run(&plan.runs[k].recipe, &outputs[k], &plan.experiment);
                    *slots[i].lock().expect("no thread panics holding it") = Some(measured);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .expect("no thread panicked")
                .expect("every run measured")
        })
        .collect()
}

/// Measures every run that trained and summarises the artefact; runs that diverged are left
/// out of the measurements and listed in the table, the notes and `share_diverged`.
fn summarise(plan: &Plan, outputs: &[RunOutput], jobs: usize) -> anyhow::Result<Summary> {
    let trained: Vec<usize> = (0..outputs.len())
        .filter(|&k| !matches!(outputs[k], RunOutput::Diverged(_)))
        .collect();
    if trained.is_empty() && !outputs.is_empty() {
        let RunOutput::Diverged(first) = &outputs[0] else {
            unreachable!("no run trained")
        };
        anyhow::bail!(
            "every one of the {} runs diverged (the first: {}), so nothing can be measured (fix: a smaller learning rate or fewer steps)",
            outputs.len(),
            first.detail
        );
    }
    let measurements = measure_in_parallel(plan, outputs, &trained, jobs)?;
    let measured_runs: Vec<MeasuredRun<'_>> = trained
        .iter()
        .zip(&measurements)
        .map(|(&k, m)| {
            let run = &plan.runs[k];
            MeasuredRun {
                sweep: &run.sweep,
                seed: run.seed,
                label: &run.label,
                measurement: m,
            }
        })
        .collect();
    let mut summary = plan.experiment.summarise(&measured_runs);
    if plan.experiment.as_kind().pipeline_divergence() {
        record_divergence(&mut summary, plan, outputs);
    }
    Ok(summary)
}

/// Adds the runs that diverged to a summary: a `status` column (their rows carry the run's
/// sweep values, seed and labels), `share_diverged`, and a note naming them.
fn record_divergence(summary: &mut Summary, plan: &Plan, outputs: &[RunOutput]) {
    let table = &mut summary.table;
    if !table.header.iter().any(|h| h == "status") {
        table.header.push("status".into());
        for row in &mut table.rows {
            row.push("trained".into());
        }
    }
    let mut diverged = Vec::new();
    for (run, output) in plan.runs.iter().zip(outputs) {
        let RunOutput::Diverged(divergence) = output else {
            continue;
        };
        let row = table
            .header
            .iter()
            .map(|column| match column.as_str() {
                "status" => format!("diverged by step {}", divergence.by_step),
                "seed" => run.seed.to_string(),
                name => run
                    .sweep
                    .get(name)
                    .or_else(|| run.label.get(name))
                    .cloned()
                    .unwrap_or_default(),
            })
            .collect();
        table.rows.push(row);
        diverged.push(format!(
            "{} seed {}: {}",
            describe_labels(&run.label),
            run.seed,
            divergence.detail
        ));
    }
    summary.measured.insert(
        "share_diverged".into(),
        diverged.len() as f64 / outputs.len().max(1) as f64,
    );
    if !diverged.is_empty() {
        summary.notes.push(format!(
            "{} of {} runs diverged and are left out of the figure and the claims: {}.",
            diverged.len(),
            outputs.len(),
            diverged.join("; ")
        ));
    }
}

fn describe_labels(label: &std::collections::BTreeMap<String, String>) -> String {
    if label.is_empty() {
        return "run".into();
    }
    label
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A check's outcome in words, for the notes (REPORT.md, index.html, `run`'s output).
pub fn describe_check(check: &ClaimOutcome) -> String {
    format!(
        "Check `{}` {}: {} (measured {}, expected {}).",
        check.claim.id,
        if check.passed {
            "holds"
        } else {
            "DOES NOT HOLD, so the claims' comparison is not the one the spec describes"
        },
        check.claim.statement.trim_end_matches('.'),
        check.measured.map_or_else(|| "nothing".into(), |v| format!("{v:.4}")),
        check.claim.expect
    )
}

/// Runs one artefact. With a shard, only trains and caches that shard's runs (an artefact is
/// rendered from all of its runs).
pub fn run_artefact(loaded: &LoadedSpec, options: &Options) -> anyhow::Result<ArtefactOutcome> {
    let started = Instant::now();
    let mut plan = expand(loaded, options.profile, options.backend);
    if let Some(reason) = plan.experiment.unavailable()? {
        return Ok(ArtefactOutcome::Unavailable(Box::new(loaded.clone()), reason));
    }
    let device = options.backend.device()?;
    if let Some(shard) = options.shard {
        let experiment = plan.experiment.clone();
        plan = plan.shard(shard, |run| crate::execute::steps_of(&experiment, &run.recipe));
    }
    let key = summary_key(&plan, options.backend);
    let summary_inputs = summary_inputs(&plan);
    let cached_summary = match options.shard {
        Some(_) => None,
        None => match summary_cache(&options.cache).lookup::<_, Summary>(&key, &summary_inputs) {
            Lookup::Hit(summary) => Some(summary),
            Lookup::Miss => None,
            Lookup::Corrupt { reason } => {
                eprintln!(
                    "warning: the cached summary of {} failed its check ({reason}); recomputing it",
                    loaded.id
                );
                None
            }
        },
    };
    let (summary, stats, summary_cached) = match cached_summary {
        Some(summary) => {
            let stats = CacheStats {
                hits: plan.runs.len(),
                ..CacheStats::default()
            };
            (summary, stats, true)
        }
        None => {
            let (outputs, stats) = obtain_outputs(
                &plan.experiment,
                &plan.runs,
                &options.cache,
                &device,
                options.max_batch,
                options.jobs,
                options.show_progress,
            )?;
            if options.shard.is_some() {
                return Ok(ArtefactOutcome::Sharded {
                    runs: plan.runs.len(),
                    stats,
                });
            }
            let summary = summarise(&plan, &outputs, options.jobs)?;
            // Only a summary that survives JSON exactly is cached (JSON has no NaN or ∞): one
            // that does not is recomputed on every run, never read back changed.
            if crate::cache::survives_json(&summary) {
                summary_cache(&options.cache).store(&key, &summary_inputs, &summary)?;
            }
            (summary, stats, false)
        }
    };
    let outcomes = evaluate(&loaded.spec.claims, &summary.measured);
    let checks = evaluate(&loaded.spec.checks, &summary.measured);
    let mut notes = summary.notes.clone();
    notes.extend(checks.iter().map(describe_check));

    let id = &loaded.id;
    let relative = |ext: &str| PathBuf::from(&id.group).join(format!("{}.{ext}", id.name));
    let files = vec![
        relative("png"),
        relative("svg"),
        relative("csv"),
        relative("manifest.json"),
    ];
    let absolute = |p: &Path| options.outputs.join(p);
    // A summary read from the cache whose files are already on disk (the manifest names the
    // same summary) is not drawn again: that is what makes an unchanged rerun instant.
    let previous = std::fs::read(absolute(&files[3]))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    let rendered = summary_cached
        && files.iter().all(|f| absolute(f).is_file())
        && previous
            .as_ref()
            .is_some_and(|m| m["summary_key"] == key.as_str() && m["render_version"] == crate::RENDER_VERSION);
    // The throughput of the last training here, kept while reruns train nothing (`plan`
    // estimates CPU time from it).
    let training = match (stats.trained_work, previous.as_ref().map(|m| &m["training"])) {
        (0, Some(earlier)) if earlier["work"].as_u64().is_some_and(|w| w > 0) => earlier.clone(),
        _ => json!({"work": stats.trained_work, "seconds": stats.training_seconds, "jobs": options.jobs}),
    };
    if !rendered {
        summary.table.write_csv(&absolute(&files[2]))?;
        summary
            .figure
            .write(&absolute(&files[0]), &absolute(&files[1]))
            .map_err(|e| anyhow::anyhow!("drawing {}: {e}", id))?;
    }
    let manifest = json!({
        "artefact": id.to_string(),
        "paper": format!("{:?}", loaded.spec.paper),
        "figure": loaded.spec.figure,
        "title": loaded.spec.title,
        "spec": loaded.path.display().to_string(),
        "spec_sha256": loaded.source_sha256,
        "profile": options.profile.name(),
        "backend": options.backend.name(),
        "numerics_version": crate::NUMERICS_VERSION,
        "analysis_version": crate::ANALYSIS_VERSION,
        "render_version": crate::RENDER_VERSION,
        "summary_key": key.as_str(),
        "summary_cached": summary_cached,
        "cache": {"hits": stats.hits, "trained": stats.trained, "corrupt": stats.corrupt},
        "training": training,
        "modrepro_version": env!("CARGO_PKG_VERSION"),
        "experiment": plan.experiment,
        "data": notes,
        "runs": plan.runs.iter().map(|r| json!({
            "key": r.key.as_str(), "seed": r.seed, "sweep": r.sweep, "label": r.label,
        })).collect::<Vec<_>>(),
        "measured": summary.measured,
        "checks": checks.iter().map(|o| json!({
            "id": o.claim.id, "measure": o.claim.measure, "expect": o.claim.expect.to_string(),
            "measured": o.measured, "passed": o.passed,
        })).collect::<Vec<_>>(),
        "claims": outcomes.iter().map(|o| json!({
            "id": o.claim.id, "measure": o.claim.measure, "expect": o.claim.expect.to_string(),
            "published": o.claim.published, "measured": o.measured, "passed": o.passed,
        })).collect::<Vec<_>>(),
    });
    crate::fsutil::write_atomic(&absolute(&files[3]), &serde_json::to_vec_pretty(&manifest)?)?;
    Ok(ArtefactOutcome::Done(Box::new(ArtefactResult {
        loaded: loaded.clone(),
        outcomes,
        checks,
        files,
        runs: plan.runs.len(),
        stats,
        summary_cached,
        seconds: started.elapsed().as_secs_f64(),
        notes,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::Divergence;

    /// A trained smoke-sized Fig 1d plan (4 linear AEs) and its outputs.
    fn trained_plan(dir: &Path) -> (Plan, Vec<RunOutput>) {
        let spec = dir.join("specs/t/s.ron");
        std::fs::create_dir_all(spec.parent().unwrap()).unwrap();
        std::fs::write(
            &spec,
            r#"Spec(paper: Dorrell2025, figure: "Figure 1d", title: "t",
                experiment: RandomPointSets((n_sets: 4, n_points: 32, data_seed: 3, balanced: true, latent: 8,
                    objective: (reconstruction: 1.0, activity: 1e-3, nonnegativity: 0.5, weight: 1e-4),
                    training: (steps: 20, learning_rate: 1e-3), mixed_angle_threshold: 0.05)),
                seeds: [0])"#,
        )
        .unwrap();
        let loaded = crate::spec::load(&spec).unwrap();
        let plan = expand(&loaded, Profile::Quick, Backend::Flex);
        let cache = Cache::new(dir.join("cache"));
        let device = Backend::Flex.device().unwrap();
        let (outputs, _) = obtain_outputs(&plan.experiment, &plan.runs, &cache, &device, 8, 1, false).unwrap();
        (plan, outputs)
    }

    #[test]
    fn a_diverged_run_is_listed_counted_and_left_out_of_the_measurements() {
        let dir = tempfile::tempdir().unwrap();
        let (plan, mut outputs) = trained_plan(dir.path());
        let all_trained = summarise(&plan, &outputs, 2).unwrap();
        assert_eq!(all_trained.measured["share_diverged"], 0.0);
        assert!(all_trained.table.rows.iter().all(|r| r.last().unwrap() == "trained"));

        outputs[1] = RunOutput::Diverged(Divergence {
            by_step: 20,
            detail: "the trained weights hold NaN or infinite values after 20 steps".into(),
        });
        let summary = summarise(&plan, &outputs, 1).unwrap();
        assert_eq!(summary.measured["share_diverged"], 0.25);
        let status = summary.table.header.iter().position(|h| h == "status").unwrap();
        let statuses: Vec<&str> = summary.table.rows.iter().map(|r| r[status].as_str()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == "trained").count(), 3, "{statuses:?}");
        assert!(statuses.contains(&"diverged by step 20"), "{statuses:?}");
        let diverged_row = &summary.table.rows[statuses.iter().position(|s| s.starts_with("diverged")).unwrap()];
        let set = summary.table.header.iter().position(|h| h == "set").unwrap();
        assert_eq!(diverged_row[set], plan.runs[1].label["set"], "the row names its run");
        assert!(
            summary.notes.iter().any(|n| n.starts_with("1 of 4 runs diverged")),
            "{:?}",
            summary.notes
        );
        // Every other value is measured on the three trained runs alone: the same as a plan
        // that never had the diverged run.
        let mut without = plan.clone();
        without.runs.remove(1);
        let trained_only: Vec<RunOutput> = [0, 2, 3].iter().map(|&k| outputs[k].clone()).collect();
        let mut expected = summarise(&without, &trained_only, 2).unwrap().measured;
        let mut measured = summary.measured.clone();
        expected.remove("share_diverged");
        measured.remove("share_diverged");
        assert_eq!(measured, expected);
    }

    #[test]
    fn an_artefact_whose_every_run_diverged_is_an_error_that_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let (plan, outputs) = trained_plan(dir.path());
        let diverged: Vec<RunOutput> = outputs
            .iter()
            .map(|_| {
                RunOutput::Diverged(Divergence {
                    by_step: 3,
                    detail: "x".into(),
                })
            })
            .collect();
        let error = summarise(&plan, &diverged, 2).unwrap_err().to_string();
        assert!(error.contains("every one of the 4 runs diverged"), "{error}");
    }
}
