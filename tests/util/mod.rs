//! A scratch project for driving the real `modrepro` binary: a temporary directory with its
//! own `specs/`, `outputs/` and cache, so each test reads like a shell session.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Project {
    pub dir: tempfile::TempDir,
}

/// Asserts that a run failed as a bad input should: exit 2, no panic, and every needle in
/// the first line of stderr (the one-line error that names the file, line and fix).
pub fn assert_clean_error(run: &Run, needles: &[&str]) {
    assert_eq!(run.code, 2, "exit code; stderr: {}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "no panic: {}", run.stderr);
    let first = run.stderr.lines().next().unwrap_or_default();
    for needle in needles {
        assert!(first.contains(needle), "`{needle}` in the error line: {}", run.stderr);
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// A small Fig 1d-style spec: `n_sets` point sets, `steps` training steps, extra top-level
/// fields (sweep, claims) spliced in.
pub fn random_sets_spec(n_sets: usize, steps: usize, extra: &str) -> String {
    format!(
        r#"Spec(
    paper: Dorrell2025,
    figure: "Figure 1d",
    title: "test",
    experiment: RandomPointSets((
        n_sets: {n_sets},
        n_points: 32,
        data_seed: 3,
        balanced: true,
        latent: 8,
        objective: (reconstruction: 1.0, activity: 1e-3, nonnegativity: 0.5, weight: 1e-4),
        training: (steps: {steps}, learning_rate: 1e-3),
        mixed_angle_threshold: 0.05,
    )),
    seeds: [0],
    {extra}
)
"#
    )
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}

impl Project {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, relative: &str, contents: &str) -> PathBuf {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
    }

    /// Runs `modrepro` in the project directory with the smoke profile and no progress bars.
    pub fn modrepro(&self, args: &[&str]) -> Run {
        self.modrepro_with_env(args, &[])
    }

    /// Starts `modrepro` (as [`Project::modrepro`]) without waiting for it.
    pub fn spawn_modrepro(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("modrepro starts")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_modrepro"));
        command
            .current_dir(self.path())
            .args(["--profile", "smoke", "--quiet"])
            .args(args)
            .env_remove("MODREPRO_CACHE");
        command
    }

    pub fn modrepro_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args);
        for (k, v) in env {
            command.env(k, v);
        }
        Run::from(command.output().expect("modrepro runs"))
    }
}

impl Run {
    /// The result of a process started with [`Project::spawn_modrepro`].
    pub fn wait(child: std::process::Child) -> Self {
        Self::from(child.wait_with_output().expect("modrepro ran"))
    }
}

/// How many of an artefact's runs its last `run` or `verify` trained and read from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheCounts {
    pub trained: usize,
    pub cached: usize,
}

impl Project {
    /// The cache counts of artefact `id` (e.g. `t/sweep`), from its manifest
    /// (`outputs/<id>.manifest.json`), which is where a script would read them too.
    pub fn cache_counts(&self, id: &str) -> CacheCounts {
        let text = self.read(&format!("outputs/{id}.manifest.json"));
        let manifest: serde_json::Value = serde_json::from_str(&text).expect("a manifest is JSON");
        let count = |field: &str| {
            manifest["cache"][field]
                .as_u64()
                .unwrap_or_else(|| panic!("cache.{field} in the manifest of {id}: {text}")) as usize
        };
        CacheCounts {
            trained: count("trained"),
            cached: count("hits"),
        }
    }
}

/// Runs a shipped spec at the smoke profile on one thread, on two threads in another project,
/// and again from the first project's cache; asserts that every run trained once, that the CSVs
/// are byte-identical, and returns the project and its CSV.
pub fn shipped_spec_is_deterministic(spec_path: &str, spec: &str, csv_path: &str, runs: usize) -> (Project, String) {
    let id = spec_path.trim_start_matches("specs/").trim_end_matches(".ron");
    let one = Project::new();
    one.write(spec_path, spec);
    let run = one.modrepro(&["--jobs", "1", "run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        one.cache_counts(id),
        CacheCounts {
            trained: runs,
            cached: 0
        },
        "{}",
        run.stderr
    );
    let csv = one.read(csv_path);

    let two = Project::new();
    two.write(spec_path, spec);
    assert_eq!(two.modrepro(&["--jobs", "2", "run"]).code, 0);
    assert_eq!(two.read(csv_path), csv, "threads changed a result");

    let again = one.modrepro(&["run"]);
    assert_eq!(
        one.cache_counts(id),
        CacheCounts {
            trained: 0,
            cached: runs
        },
        "{}",
        again.stderr
    );
    assert_eq!(one.read(csv_path), csv, "a cached rerun changed a result");
    (one, csv)
}
