//! The command line: every flag and subcommand, documented in one place, wired to the library.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::analysis::theory::{AngleGrid, Verdict, check_two_sources};
use crate::backend::Backend;
use crate::cache::Cache;
use crate::data::points_file::read_source_samples;
use crate::experiments::Unavailable;
use crate::pipeline::{ArtefactOutcome, ArtefactResult, Options, run_artefact};
use crate::plan::{Shard, expand};
use crate::render::report::{claims_table, report_markdown};
use crate::spec::load::{load, resolve_targets};
use crate::spec::{LoadedSpec, Profile};

/// Regenerates the figures and tables of three papers on modularity in neural networks from
/// the specs under specs/, and checks the papers' claims. With no command: `run` every spec.
#[derive(Debug, Parser)]
#[command(name = "modrepro", version, about)]
pub struct Cli {
    /// How much work: smoke (seconds, for tests), quick (minutes on a CPU), paper (published settings).
    #[arg(long, global = true, value_enum, default_value = "quick")]
    pub profile: Profile,
    /// Burn backend. wgpu needs a build with `--features wgpu`.
    #[arg(long, global = true, value_enum, default_value = "flex")]
    pub backend: Backend,
    /// Where run results are cached (default: <outputs>/cache).
    #[arg(long, global = true, env = "MODREPRO_CACHE")]
    pub cache: Option<PathBuf>,
    /// Where artefacts and REPORT.md are written.
    #[arg(long, global = true, default_value = "outputs")]
    pub outputs: PathBuf,
    /// The directory of specs (specs/<paper>/<artefact>.ron).
    #[arg(long, global = true, default_value = "specs")]
    pub specs: PathBuf,
    /// Most runs trained together as one batched program (at least 1).
    #[arg(long, global = true, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_batch: u32,
    /// Threads training batched programs, and then measuring trained runs, in parallel (default:
    /// the number of cores; at least 1).
    #[arg(long, short = 'j', global = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// No progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Most units of training work (steps, iterations or epochs, summed over the runs still to
    /// train) one artefact may plan before `run`/`verify` refuse it: a guard against a typo
    /// such as `"training.steps": 1e12` hanging a machine. Raise it to allow a larger job.
    #[arg(long, global = true, default_value_t = DEFAULT_MAX_WORK)]
    pub max_work: u64,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run specs (all if none given) and write their artefacts; a run of every spec also writes
    /// outputs/REPORT.md and outputs/index.html (a run of some specs leaves them as they were).
    Run {
        /// Spec files, artefact ids (e.g. dorrell2025/fig1c) or papers (e.g. lange2022).
        targets: Vec<String>,
        /// Only train and cache the runs of shard i of n (e.g. 3/8), for spreading work over
        /// machines that share the cache; render afterwards with a plain `run`.
        #[arg(long)]
        shard: Option<Shard>,
    },
    /// Run specs (all if none given), print every claim with published and measured values,
    /// and exit non-zero if any claim fails.
    Verify { targets: Vec<String> },
    /// List every spec: paper, figure, runs per profile.
    List,
    /// Show the runs a spec expands into, with their cache keys and whether each is cached.
    Plan { targets: Vec<String> },
    /// Does the range-independence condition predict a modular or a mixed optimal
    /// representation for your sources? POINTS.csv: a header row, one row per sample, one
    /// column per source.
    Theory {
        points: PathBuf,
        /// Directions checked on the circle (the authors use 500; at least 8).
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(8..))]
        angles: u32,
    },
    /// Dorrell et al.'s modularity metrics (InfoM, CInfoM; NMI and NCMI per latent) of your own
    /// representation against your sources. Both files: CSV with a header row, one row per
    /// sample, in the same order. Without --linear, sources are treated as discrete labels
    /// (kNN mutual information, as the authors' `compute_metrics`).
    Modularity {
        latents: PathBuf,
        sources: PathBuf,
        /// The variance-explained variants (for continuous sources; the RNN figures use these).
        #[arg(long)]
        linear: bool,
        /// Where the per-latent table goes.
        #[arg(long, default_value = "modularity.csv")]
        out: PathBuf,
    },
    /// Krause et al.'s operative dimensions of your own rate RNN (x' = −x + W tanh(x) + B u,
    /// z = w_outᵀ tanh(x) + b_z, Euler step 0.2): the lowest rank of W that keeps its function
    /// when reduced along operative column/row dimensions vs W's own singular vectors. NET.npz
    /// holds per network `netNN_W` (N × N), `netNN_B` (N × inputs), `netNN_w_out` (N values),
    /// `netNN_b_x` (N) and `netNN_b_z` (1), NN = 01, 02, … (the authors' layout).
    OperativeDims {
        network_file: PathBuf,
        /// The task the network was trained on (it provides the sampling locations and the cost).
        #[arg(long, value_enum)]
        task: TaskArg,
        /// Which network of the archive (1 = net01).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        network: u32,
        /// Ranks of W's reduction to evaluate (full rank is always added).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "1,2,3,4,5,6,8,10,12,15,20,25,30,40,50,60,70,80,90,100"
        )]
        ranks: Vec<usize>,
        /// Context integration: noisy trials per context and coherence pair averaged into the
        /// sampling locations (72 trials per repeat; the Krause specs' quick profile: 1).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        sampling_repeats: u32,
        /// Most local operative row dimensions per location (the slow part; the specs use 100).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
        row_dims: u32,
        /// Where the cost and state distance per method and rank go.
        #[arg(long, default_value = "operative_dims.csv")]
        out: PathBuf,
    },
    /// Lange et al.'s clustering of your own ReLU MLP's hidden units: for every hidden layer,
    /// four association matrices (input covariance, input gradient, output gradient, output
    /// Hessian) clustered by maximising Newman's modularity Q, against untrained networks of
    /// the same shape, and how much the methods' clusterings agree. WEIGHTS.npz holds `W1`,
    /// `b1`, `W2`, `b2`, … with `Wk` shaped (out, in) as PyTorch's `nn.Linear.weight`, the
    /// last layer the logits; INPUTS.npy one input per row (e.g. (n, 784) or (n, 28, 28)).
    ClusterUnits {
        weights: PathBuf,
        inputs: PathBuf,
        /// Input samples used (the first ones of INPUTS.npy); the Lange specs use 10,000.
        #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..))]
        samples: u32,
        /// Divide each association by its diagonal, Aᵢⱼ/√(AᵢᵢAⱼⱼ) (the authors' "normed").
        #[arg(long)]
        normed: bool,
        /// Monte Carlo refinement steps per clustering (the authors: 5,000).
        #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..))]
        steps: u32,
        /// Untrained networks of the same shape, the null model.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=100))]
        null_networks: u32,
        /// Where Q per layer and method goes; the agreement table goes beside it
        /// (`<name>_agreement.csv`).
        #[arg(long, default_value = "cluster_units.csv")]
        out: PathBuf,
    },
    /// Write (and with --submit, submit) a Slurm job array that trains the runs in N shards
    /// against one shared cache, and a render-and-verify job that waits for the array.
    Slurm {
        /// Spec files, artefact ids or papers (all if none given).
        targets: Vec<String>,
        /// Array tasks, one shard each.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        tasks: u32,
        #[arg(long)]
        partition: Option<String>,
        /// Wall-time limit per task, as Slurm writes it (e.g. 04:00:00).
        #[arg(long)]
        time: Option<String>,
        /// CPUs per task (each task trains with that many threads).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1024))]
        cpus: u32,
        /// Submit both jobs with sbatch and print their ids (otherwise print the commands).
        #[arg(long)]
        submit: bool,
    },
    /// Inspect or clean the run cache.
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
}

/// The Krause tasks, as the command line names them.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum TaskArg {
    ContextIntegration,
    SineWave,
}

impl From<TaskArg> for crate::data::krause_tasks::Task {
    fn from(task: TaskArg) -> Self {
        match task {
            TaskArg::ContextIntegration => Self::ContextIntegration,
            TaskArg::SineWave => Self::SineWave,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum CacheAction {
    /// List cached entries.
    Ls,
    /// Remove entries that no spec references at any profile or backend.
    Gc,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// What an own-data command found, for a person (stdout) and as CSVs.
fn print_and_write(description: &str, tables: &[(crate::render::table::Table, &Path)]) -> anyhow::Result<()> {
    print!("{description}");
    for (table, path) in tables {
        table
            .write_csv(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn cache_of(cli: &Cli) -> Cache {
    Cache::new(cli.cache.clone().unwrap_or_else(|| cli.outputs.join("cache")))
}

fn load_targets(cli: &Cli, targets: &[String]) -> anyhow::Result<Vec<LoadedSpec>> {
    let paths = resolve_targets(&cli.specs, targets)?;
    if paths.is_empty() {
        anyhow::bail!(
            "no specs found under {} (fix: run from the repository root, or pass --specs DIR)",
            cli.specs.display()
        );
    }
    Ok(paths.iter().map(|p| load(p)).collect::<Result<Vec<_>, _>>()?)
}

fn dispatch(cli: &Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        None => run(cli, &[], None, false),
        Some(Command::Run { targets, shard }) => run(cli, targets, *shard, false),
        Some(Command::Verify { targets }) => run(cli, targets, None, true),
        Some(Command::List) => list(cli),
        Some(Command::Plan { targets }) => plan(cli, targets),
        Some(Command::Theory { points, angles }) => theory(points, *angles as usize),
        Some(Command::Cache { action }) => cache(cli, action),
        Some(Command::Modularity {
            latents,
            sources,
            linear,
            out,
        }) => {
            let report = crate::own_data::modularity(latents, sources, *linear)?;
            print_and_write(&report.describe(), &[(report.table(), out.as_path())])?;
            println!("per-latent NMI and NCMI: {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::OperativeDims {
            network_file,
            task,
            network,
            ranks,
            sampling_repeats,
            row_dims,
            out,
        }) => {
            let request = crate::own_rnn::Request {
                task: (*task).into(),
                network: *network as usize,
                ranks: ranks.clone(),
                sampling_repeats: *sampling_repeats as usize,
                eval_repeats: 1,
                row_dims: *row_dims as usize,
            };
            let report = crate::own_rnn::operative_dims(network_file, &request)?;
            print_and_write(&report.describe(), &[(report.table(), out.as_path())])?;
            println!("cost and state distance per method and rank: {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::ClusterUnits {
            weights,
            inputs,
            samples,
            normed,
            steps,
            null_networks,
            out,
        }) => {
            let request = crate::own_mlp::Request {
                samples: *samples as usize,
                normed: *normed,
                monte_carlo: crate::analysis::modularity::MonteCarlo {
                    steps: *steps as usize,
                    target_entropy: 0.15,
                    seed: 0,
                },
                null_networks: *null_networks as usize,
            };
            let report = crate::own_mlp::cluster_report(weights, inputs, &request)?;
            print!("{}", report.describe());
            let stem = out
                .file_stem()
                .map_or_else(|| "cluster_units".into(), |s| s.to_string_lossy().into_owned());
            let agreement = out.with_file_name(format!("{stem}_agreement.csv"));
            for (table, path) in [(report.table(), out), (report.agreement_table(), &agreement)] {
                table
                    .write_csv(path)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            println!(
                "Q per layer and method: {}; agreement: {}",
                out.display(),
                agreement.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Slurm {
            targets,
            tasks,
            partition,
            time,
            cpus,
            submit,
        }) => slurm(cli, targets, *tasks, partition.clone(), time.clone(), *cpus, *submit),
    }
}

/// 10¹⁰ units: ≈ 370× the largest shipped artefact at `paper` (Fig 2 centre, 135 runs × 2·10⁵
/// steps), and days of CPU time for any of them.
const DEFAULT_MAX_WORK: u64 = 10_000_000_000;

/// Refuses, before anything trains, an artefact whose runs still to train exceed `--max-work`.
fn check_work(cli: &Cli, specs: &[LoadedSpec]) -> anyhow::Result<()> {
    let cache = cache_of(cli);
    for s in specs {
        let plan = expand(s, cli.profile, cli.backend);
        let pending: Vec<_> = plan.runs.iter().filter(|r| !cache.entry_dir(&r.key).exists()).collect();
        let work: u64 = pending
            .iter()
            .map(|r| crate::execute::steps_of(&plan.experiment, &r.recipe))
            .fold(0u64, u64::saturating_add);
        if work > cli.max_work {
            anyhow::bail!(
                "{} at profile `{}` would train {} runs, {work} units of work (steps, iterations or epochs) in all{}, more than --max-work {} (fix: fewer seeds, sweep points or steps in {}, or pass --max-work {work} to allow it)",
                s.id,
                cli.profile.name(),
                pending.len(),
                estimate(&cli.outputs, s, work),
                cli.max_work,
                s.path.display()
            );
        }
    }
    Ok(())
}

fn run(cli: &Cli, targets: &[String], shard: Option<Shard>, verify: bool) -> anyhow::Result<ExitCode> {
    let specs = load_targets(cli, targets)?;
    check_work(cli, &specs)?;
    let options = Options {
        profile: cli.profile,
        backend: cli.backend,
        cache: cache_of(cli),
        outputs: cli.outputs.clone(),
        shard,
        max_batch: cli.max_batch as usize,
        jobs: cli.jobs.map_or_else(
            || std::thread::available_parallelism().map_or(1, usize::from),
            |j| j as usize,
        ),
        show_progress: !cli.quiet,
    };
    // Analyses that split into independent pieces run them on rayon's pool: `--jobs` threads,
    // like the training. (Already built only if an earlier command in this process did.)
    let _ = rayon::ThreadPoolBuilder::new().num_threads(options.jobs).build_global();
    let mut results: Vec<ArtefactResult> = Vec::new();
    let mut unavailable: Vec<(LoadedSpec, Unavailable)> = Vec::new();
    for loaded in &specs {
        eprintln!(
            "{} ({}, {}): {}",
            loaded.id,
            loaded.spec.figure,
            cli.profile.name(),
            loaded.spec.title
        );
        match run_artefact(loaded, &options).with_context(|| format!("running {}", loaded.path.display()))? {
            ArtefactOutcome::Done(result) => {
                eprintln!(
                    "  {} {} ({} cached, {} trained{}) in {:.1} s → {}",
                    result.runs,
                    if result.runs == 1 { "run" } else { "runs" },
                    result.stats.hits,
                    result.stats.trained,
                    if result.summary_cached {
                        "; measurements cached"
                    } else {
                        ""
                    },
                    result.seconds,
                    cli.outputs.join(&result.files[0]).display()
                );
                for note in result.notes.iter().filter(|n| n.contains("diverged and are left out")) {
                    eprintln!("  warning: {note}");
                }
                for check in result.checks.iter().filter(|c| !c.passed) {
                    eprintln!("  warning: {}", crate::pipeline::describe_check(check));
                }
                results.push(*result);
            }
            ArtefactOutcome::Sharded { runs, stats } => {
                let shard = shard.expect("only a sharded run returns Sharded");
                eprintln!(
                    "  shard {}/{}: {runs} {} ({} cached, {} trained); run without --shard to render",
                    shard.index + 1,
                    shard.count,
                    if runs == 1 { "run" } else { "runs" },
                    stats.hits,
                    stats.trained
                )
            }
            ArtefactOutcome::Unavailable(loaded, reason) => {
                eprintln!("  skipped ({}): {}", reason.status(), reason.message());
                unavailable.push((*loaded, reason));
            }
        }
    }
    if results.is_empty() && unavailable.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    // Only a full run rewrites the report: a run of one spec must not drop the others from it.
    if targets.is_empty() {
        let report = report_markdown(&results, &unavailable, cli.profile, cli.backend.name());
        crate::fsutil::write_atomic(&cli.outputs.join("REPORT.md"), report.as_bytes())?;
        let page =
            crate::render::html::report_html(&results, &unavailable, cli.profile, cli.backend.name(), &cli.outputs);
        crate::fsutil::write_atomic(&cli.outputs.join("index.html"), page.as_bytes())?;
        eprintln!(
            "report: {} and {}",
            cli.outputs.join("REPORT.md").display(),
            cli.outputs.join("index.html").display()
        );
    }
    let failed = results
        .iter()
        .flat_map(|r| &r.outcomes)
        .filter(|o| o.result().is_failure())
        .count();
    let failed_checks: Vec<String> = results
        .iter()
        .flat_map(|r| {
            r.checks
                .iter()
                .filter(|c| !c.passed)
                .map(move |c| format!("{}: {}", r.loaded.id, c.claim.id))
        })
        .collect();
    let not_reproduced = results
        .iter()
        .flat_map(|r| &r.outcomes)
        .filter(|o| o.result() == crate::verify::ClaimResult::NotReproduced)
        .count();
    if verify {
        print!("{}", claims_table(&results, &unavailable));
        let total: usize = results.iter().map(|r| r.outcomes.len()).sum();
        let skipped: usize = unavailable.iter().map(|(s, _)| s.spec.claims.len()).sum();
        let skipped = if skipped > 0 {
            format!(", {skipped} skipped")
        } else {
            String::new()
        };
        if not_reproduced > 0 {
            println!("{not_reproduced} claim(s) measured and not reproduced, as their specs document (see REPORT.md)");
        }
        println!(
            "claims: {} passed, {failed} failed{skipped}",
            total - failed - not_reproduced
        );
        if !failed_checks.is_empty() {
            println!(
                "checks failed (the spec's design does not hold, see REPORT.md): {}",
                failed_checks.join(", ")
            );
        }
        if failed > 0 || !failed_checks.is_empty() {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(cli: &Cli) -> anyhow::Result<ExitCode> {
    let specs = load_targets(cli, &[])?;
    let header = ["artefact", "paper", "figure", "smoke", "quick", "paper", "title"].map(String::from);
    let mut rows = Vec::new();
    for s in &specs {
        let count = |p| expand(s, p, cli.backend).runs.len().to_string();
        // Say why a spec plans no runs (`plan` prints the whole message).
        let note = match s.spec.experiment.unavailable()? {
            Some(reason) => format!("[{}] ", reason.status()),
            None => String::new(),
        };
        rows.push([
            s.id.to_string(),
            format!("{:?}", s.spec.paper),
            s.spec.figure.clone(),
            count(Profile::Smoke),
            count(Profile::Quick),
            count(Profile::Paper),
            format!("{note}{}", s.spec.title),
        ]);
    }
    print!("{}", crate::render::report::text_table(&header, &rows, 100));
    Ok(ExitCode::SUCCESS)
}

/// "; ≈ N CPU-hours" for `work` units still to train, from the throughput the artefact's last
/// training here achieved (its manifest); empty when it has never trained here.
fn estimate(outputs: &Path, spec: &LoadedSpec, work: u64) -> String {
    if work == 0 {
        return String::new();
    }
    let manifest = outputs
        .join(&spec.id.group)
        .join(format!("{}.manifest.json", spec.id.name));
    let measured = std::fs::read(&manifest)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|m| {
            let t = &m["training"];
            let (units, seconds, jobs) = (t["work"].as_f64()?, t["seconds"].as_f64()?, t["jobs"].as_f64()?);
            (units > 0.0 && seconds > 0.0).then(|| seconds * jobs.max(1.0) / units)
        });
    match measured {
        Some(cpu_seconds_per_unit) => {
            let hours = cpu_seconds_per_unit * work as f64 / 3600.0;
            format!("; ≈ {hours:.2} CPU-hours at the throughput of its last training here")
        }
        None => "; no CPU-time estimate yet (train any profile of it here once)".to_string(),
    }
}

fn plan(cli: &Cli, targets: &[String]) -> anyhow::Result<ExitCode> {
    let cache = cache_of(cli);
    for s in load_targets(cli, targets)? {
        let plan = expand(&s, cli.profile, cli.backend);
        let cached = plan.runs.iter().filter(|r| cache.entry_dir(&r.key).exists()).count();
        let to_train: u64 = plan
            .runs
            .iter()
            .filter(|r| !cache.entry_dir(&r.key).exists())
            .map(|r| crate::execute::steps_of(&plan.experiment, &r.recipe))
            .sum();
        println!(
            "{} ({}): {} runs, {} cached, {} to train{}",
            s.id,
            cli.profile.name(),
            plan.runs.len(),
            cached,
            plan.runs.len() - cached,
            estimate(&cli.outputs, &s, to_train)
        );
        if let Some(reason) = s.spec.experiment.unavailable()? {
            println!("  no runs: {} — {}", reason.status(), reason.message());
        }
        for r in &plan.runs {
            let state = if cache.entry_dir(&r.key).exists() {
                "cached"
            } else {
                "to train"
            };
            println!(
                "  {}  seed {:<4} {:?} {:?}  {state}",
                r.key.short(),
                r.seed,
                r.label,
                r.sweep
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn theory(path: &Path, angles: usize) -> anyhow::Result<ExitCode> {
    let samples = read_source_samples(path)?;
    let d = samples.names.len();
    for (i, name) in samples.names.iter().enumerate() {
        let first = samples.samples[0][i];
        if samples.samples.iter().all(|s| s[i] == first) {
            anyhow::bail!(
                "{}: source `{name}` is constant ({first}): the condition compares how sources vary (fix: drop the column, or give samples where it varies)",
                path.display()
            );
        }
    }
    println!(
        "{}: {} samples of {d} sources ({})",
        path.display(),
        samples.samples.len(),
        samples.names.join(", ")
    );
    let grid = AngleGrid {
        n_angles: angles.max(1),
        ..AngleGrid::default()
    };
    let describe = |points: &[[f64; 2]]| -> anyhow::Result<(Verdict, f64)> {
        let check = check_two_sources(points, grid).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok((check.verdict, check.mixing_energy_gain))
    };
    match d {
        0 | 1 => anyhow::bail!(
            "{}: the condition compares sources; the file has {d} column(s) (fix: one column per source, at least 2)",
            path.display()
        ),
        2 => {
            let points: Vec<[f64; 2]> = samples.samples.iter().map(|s| [s[0], s[1]]).collect();
            let (verdict, gain) = describe(&points)?;
            println!("verdict: {}", verdict.as_str());
            println!(
                "mixing energy gain: {gain:.6} ({})",
                match verdict {
                    Verdict::Modular =>
                        "≤ 0: no mixed representation saves energy; the optimal nonnegative, energy-efficient linear code gives each source its own neurons",
                    Verdict::Mixed => "> 0: mixing the sources saves energy; the optimal code mixes them",
                }
            );
        }
        _ => {
            println!(
                "not supported: the range-independence condition is implemented for exactly 2 sources (Dorrell et al. 2025, §2); \
                 your file has {d}. Below, each pair's 2-source verdict, as a diagnostic only: a pair's verdict is NOT the verdict for all {d} sources together."
            );
            for i in 0..d {
                for j in i + 1..d {
                    let points: Vec<[f64; 2]> = samples.samples.iter().map(|s| [s[i], s[j]]).collect();
                    let (verdict, gain) = describe(&points)?;
                    println!(
                        "  {} × {}: {} (mixing energy gain {gain:.6})",
                        samples.names[i],
                        samples.names[j],
                        verdict.as_str()
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn slurm(
    cli: &Cli,
    targets: &[String],
    tasks: u32,
    partition: Option<String>,
    time: Option<String>,
    cpus: u32,
    submit: bool,
) -> anyhow::Result<ExitCode> {
    // Refuse bad specs now, not in every array task.
    let specs = load_targets(cli, targets)?;
    let absolute = |p: &Path| -> anyhow::Result<PathBuf> {
        std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))
    };
    let job = crate::slurm::ArrayJob {
        tasks,
        profile: cli.profile,
        partition,
        time,
        cpus,
        binary: std::env::current_exe().context("locating the modrepro binary")?,
        project: absolute(Path::new("."))?,
        specs: absolute(&cli.specs)?,
        outputs: absolute(&cli.outputs)?,
        cache: absolute(cache_of(cli).root())?,
        targets: targets.to_vec(),
    };
    let (array, render) = job.write()?;
    let runs: usize = specs
        .iter()
        .map(|s| expand(s, cli.profile, cli.backend).runs.len())
        .sum();
    eprintln!(
        "{} artefacts, {runs} runs at profile {} over {tasks} tasks; scripts: {} and {}",
        specs.len(),
        cli.profile.name(),
        array.display(),
        render.display()
    );
    if submit {
        let (array_id, render_id) = crate::slurm::submit(&array, &render)?;
        println!("submitted array {array_id} ({tasks} tasks) and render job {render_id} (after the array succeeds)");
    } else {
        print!("{}", std::fs::read_to_string(&array)?);
        println!(
            "\n# submit with:\nARRAY=$(sbatch --parsable {}) && sbatch --dependency=afterok:$ARRAY {}",
            array.display(),
            render.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn cache(cli: &Cli, action: &CacheAction) -> anyhow::Result<ExitCode> {
    let cache = cache_of(cli);
    if cache.root().exists() && !cache.root().is_dir() {
        anyhow::bail!(
            "the cache {} is a file, not a directory (fix: point --cache or MODREPRO_CACHE at a directory)",
            cache.root().display()
        );
    }
    match action {
        CacheAction::Ls => {
            let keys = cache.keys();
            for k in &keys {
                println!("{}", k.as_str());
            }
            eprintln!("{} entries in {}", keys.len(), cache.root().display());
        }
        CacheAction::Gc => {
            let mut referenced = BTreeSet::new();
            let specs = load_targets(cli, &[])?;
            // A spec that cannot be planned here (its data is missing) references entries we
            // cannot name: deleting "unreferenced" entries would delete its runs.
            let mut unplannable = Vec::new();
            for s in &specs {
                if let Some(reason) = s.spec.experiment.unavailable()? {
                    unplannable.push(format!("{} ({}: {})", s.id, reason.status(), reason.message()));
                }
            }
            if !unplannable.is_empty() {
                anyhow::bail!(
                    "cache gc deletes nothing while a spec cannot be planned, because its cached runs would look unreferenced: {} (fix: make its data available, or move the spec out of --specs if its runs may go)",
                    unplannable.join("; ")
                );
            }
            let mut referenced_summaries = BTreeSet::new();
            for s in specs {
                for profile in [Profile::Smoke, Profile::Quick, Profile::Paper] {
                    for backend in [Backend::Flex, Backend::Wgpu] {
                        let plan = expand(&s, profile, backend);
                        referenced_summaries.insert(crate::pipeline::summary_key(&plan, backend));
                        referenced.extend(plan.runs.into_iter().map(|r| r.key));
                    }
                }
            }
            let mut removed = 0;
            for key in cache.keys() {
                if !referenced.contains(&key) {
                    cache.remove(&key)?;
                    removed += 1;
                }
            }
            let summaries = crate::pipeline::summary_cache(&cache);
            for key in summaries.keys() {
                if !referenced_summaries.contains(&key) {
                    summaries.remove(&key)?;
                    removed += 1;
                }
            }
            eprintln!("removed {removed} unreferenced entries from {}", cache.root().display());
        }
    }
    Ok(ExitCode::SUCCESS)
}
