//! Job arrays on Slurm: one array task per shard, each training its share of the runs into one
//! shared cache (`modrepro run --shard i/N`), and a render-and-verify job that starts when the
//! whole array has succeeded (`--dependency=afterok`). A task whose runs are all cached exits at
//! once, so a failed array can be resubmitted as it is.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

use crate::spec::Profile;

/// What the array needs to know.
#[derive(Debug, Clone)]
pub struct ArrayJob {
    pub tasks: u32,
    pub profile: Profile,
    pub partition: Option<String>,
    pub time: Option<String>,
    pub cpus: u32,
    /// The `modrepro` binary, the project directory and the paths the tasks share — absolute,
    /// since tasks may start anywhere on the cluster.
    pub binary: PathBuf,
    pub project: PathBuf,
    pub specs: PathBuf,
    pub outputs: PathBuf,
    pub cache: PathBuf,
    /// Spec files or artefact ids (empty: every spec).
    pub targets: Vec<String>,
}

fn quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:+=,@%".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

fn path(p: &Path) -> String {
    quote(&p.display().to_string())
}

impl ArrayJob {
    fn header(&self, name: &str, log: &str) -> String {
        let mut lines = vec![
            "#!/bin/bash".to_string(),
            format!("#SBATCH --job-name={name}"),
            format!("#SBATCH --cpus-per-task={}", self.cpus),
            format!("#SBATCH --output={}", path(&self.outputs.join("slurm").join(log))),
        ];
        if let Some(partition) = &self.partition {
            lines.push(format!("#SBATCH --partition={}", quote(partition)));
        }
        if let Some(time) = &self.time {
            lines.push(format!("#SBATCH --time={}", quote(time)));
        }
        lines.join("\n")
    }

    fn command(&self, subcommand: &str) -> String {
        let targets: Vec<String> = self.targets.iter().map(|t| quote(t)).collect();
        format!(
            "{} --profile {} --specs {} --outputs {} --cache {} --jobs \"$SLURM_CPUS_PER_TASK\" --quiet {subcommand}{}{}",
            path(&self.binary),
            self.profile.name(),
            path(&self.specs),
            path(&self.outputs),
            path(&self.cache),
            if targets.is_empty() { "" } else { " " },
            targets.join(" ")
        )
    }

    /// The array: task i trains shard i of N.
    pub fn array_script(&self) -> String {
        format!(
            "{}\n#SBATCH --array=1-{tasks}\nset -euo pipefail\ncd {}\n# Shard i of {tasks}: its runs, dealt by estimated cost; cached runs are skipped.\nexec {} --shard \"$SLURM_ARRAY_TASK_ID/{tasks}\"\n",
            self.header("modrepro-train", "train-%A_%a.log"),
            path(&self.project),
            self.command("run"),
            tasks = self.tasks,
        )
    }

    /// The job that renders every artefact and checks the claims once the array has succeeded.
    pub fn render_script(&self) -> String {
        format!(
            "{}\nset -euo pipefail\ncd {}\n# Every run is cached by now: this renders the artefacts, REPORT.md and index.html,\n# and exits 1 if a claim fails.\nexec {}\n",
            self.header("modrepro-render", "render-%j.log"),
            path(&self.project),
            self.command("verify"),
        )
    }

    /// Writes both scripts into `<outputs>/slurm/`; returns their paths.
    pub fn write(&self) -> anyhow::Result<(PathBuf, PathBuf)> {
        let dir = self.outputs.join("slurm");
        let array = dir.join("train-array.sbatch");
        let render = dir.join("render.sbatch");
        crate::fsutil::write_atomic(&array, self.array_script().as_bytes())
            .with_context(|| format!("writing {}", array.display()))?;
        crate::fsutil::write_atomic(&render, self.render_script().as_bytes())
            .with_context(|| format!("writing {}", render.display()))?;
        Ok((array, render))
    }
}

/// Submits the array, then the render job depending on it; returns both job ids.
pub fn submit(array: &Path, render: &Path) -> anyhow::Result<(String, String)> {
    let sbatch = |args: &[&str]| -> anyhow::Result<String> {
        let output = Command::new("sbatch")
            .arg("--parsable")
            .args(args)
            .output()
            .context("running sbatch (is Slurm installed and is this a submit host? `modrepro slurm` without --submit prints the commands instead)")?;
        anyhow::ensure!(
            output.status.success(),
            "sbatch {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        // `--parsable` prints `id` or `id;cluster`.
        let text = String::from_utf8_lossy(&output.stdout);
        let id = text.trim().split(';').next().unwrap_or("").to_string();
        anyhow::ensure!(!id.is_empty(), "sbatch printed no job id");
        Ok(id)
    };
    let array_id = sbatch(&[&array.display().to_string()])?;
    let render_id = sbatch(&[
        &format!("--dependency=afterok:{array_id}"),
        &render.display().to_string(),
    ])?;
    Ok((array_id, render_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> ArrayJob {
        ArrayJob {
            tasks: 3,
            profile: Profile::Paper,
            partition: Some("cpu".into()),
            time: Some("04:00:00".into()),
            cpus: 8,
            binary: "/opt/modrepro".into(),
            project: "/home/me/modrepro".into(),
            specs: "/home/me/modrepro/specs".into(),
            outputs: "/shared/out dir".into(),
            cache: "/shared/cache".into(),
            targets: vec!["dorrell2025/fig2_centre".into()],
        }
    }

    #[test]
    fn the_array_runs_one_shard_per_task_against_the_shared_cache() {
        let script = job().array_script();
        assert!(script.starts_with("#!/bin/bash\n"));
        for line in [
            "#SBATCH --array=1-3",
            "#SBATCH --cpus-per-task=8",
            "#SBATCH --partition=cpu",
            "#SBATCH --time=04:00:00",
            "#SBATCH --output='/shared/out dir/slurm/train-%A_%a.log'",
            "cd /home/me/modrepro",
        ] {
            assert!(script.contains(line), "{line} in\n{script}");
        }
        assert!(
            script.contains("exec /opt/modrepro --profile paper --specs /home/me/modrepro/specs --outputs '/shared/out dir' --cache /shared/cache --jobs \"$SLURM_CPUS_PER_TASK\" --quiet run dorrell2025/fig2_centre --shard \"$SLURM_ARRAY_TASK_ID/3\""),
            "{script}"
        );
    }

    #[test]
    fn the_render_job_verifies_everything() {
        let script = job().render_script();
        assert!(script.contains("--quiet verify dorrell2025/fig2_centre\n"), "{script}");
        assert!(!script.contains("--array"));
    }
}
