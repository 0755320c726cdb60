//! One artefact end to end: plan → cached or trained runs → measurements → table, figure,
//! manifest → claims.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use crate::backend::Backend;
use crate::cache::{Cache, Lookup, RunKey};
use crate::execute::{CacheStats, measure_run, obtain_outputs};
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

fn round_trips(summary: &Summary) -> bool {
    let Ok(bytes) = serde_json::to_vec(summary) else {
        return false;
    };
    serde_json::from_slice::<Summary>(&bytes).is_ok_and(|back| serde_json::to_vec(&back).is_ok_and(|b| b == bytes))
}

/// Measures every run and summarises the artefact.
fn summarise(plan: &Plan, outputs: &[crate::execute::RunOutput]) -> anyhow::Result<Summary> {
    let measurements = plan
        .runs
        .iter()
        .zip(outputs)
        .map(|(run, output)| measure_run(&run.recipe, output, &plan.experiment))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let measured_runs: Vec<MeasuredRun<'_>> = plan
        .runs
        .iter()
        .zip(&measurements)
        .map(|(run, m)| MeasuredRun {
            sweep: &run.sweep,
            seed: run.seed,
            label: &run.label,
            measurement: m,
        })
        .collect();
    Ok(plan.experiment.summarise(&measured_runs))
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
            let summary = summarise(&plan, &outputs)?;
            // Only a summary that survives JSON exactly is cached (JSON has no NaN or ∞): one
            // that does not is recomputed on every run, never read back changed.
            if round_trips(&summary) {
                summary_cache(&options.cache).store(&key, &summary_inputs, &summary)?;
            }
            (summary, stats, false)
        }
    };
    let outcomes = evaluate(&loaded.spec.claims, &summary.measured);

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
        && previous.as_ref().is_some_and(|m| m["summary_key"] == key.as_str());
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
        "summary_key": key.as_str(),
        "summary_cached": summary_cached,
        "cache": {"hits": stats.hits, "trained": stats.trained, "corrupt": stats.corrupt},
        "training": training,
        "modrepro_version": env!("CARGO_PKG_VERSION"),
        "experiment": plan.experiment,
        "data": summary.notes,
        "runs": plan.runs.iter().map(|r| json!({
            "key": r.key.as_str(), "seed": r.seed, "sweep": r.sweep, "label": r.label,
        })).collect::<Vec<_>>(),
        "measured": summary.measured,
        "claims": outcomes.iter().map(|o| json!({
            "id": o.claim.id, "measure": o.claim.measure, "expect": o.claim.expect.to_string(),
            "published": o.claim.published, "measured": o.measured, "passed": o.passed,
        })).collect::<Vec<_>>(),
    });
    crate::fsutil::write_atomic(&absolute(&files[3]), &serde_json::to_vec_pretty(&manifest)?)?;
    Ok(ArtefactOutcome::Done(Box::new(ArtefactResult {
        loaded: loaded.clone(),
        outcomes,
        files,
        runs: plan.runs.len(),
        stats,
        summary_cached,
        seconds: started.elapsed().as_secs_f64(),
        notes: summary.notes,
    })))
}
