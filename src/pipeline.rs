//! One artefact end to end: plan → cached or trained runs → measurements → table, figure,
//! manifest → claims.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use crate::backend::Backend;
use crate::cache::Cache;
use crate::execute::{CacheStats, measure_run, obtain_outputs};
use crate::experiments::{MeasuredRun, Unavailable};
use crate::plan::{Shard, expand};
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
        plan = plan.shard(shard);
    }
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
    let measurements = plan
        .runs
        .iter()
        .zip(&outputs)
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
    let summary = plan.experiment.summarise(&measured_runs);
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
    summary.table.write_csv(&absolute(&files[2]))?;
    summary
        .figure
        .write(&absolute(&files[0]), &absolute(&files[1]))
        .map_err(|e| anyhow::anyhow!("drawing {}: {e}", id))?;
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
        seconds: started.elapsed().as_secs_f64(),
        notes: summary.notes,
    })))
}
