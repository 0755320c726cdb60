//! `modrepro slurm` against a real Slurm (scripts/slurm-local.sh starts a one-node cluster):
//! a smoke-profile array of 3 tasks plus the render job; every run trained exactly once, the
//! CSV byte-identical to an unsharded run. Skips with a message where `sbatch` is missing.

mod util;

use std::process::Command;
use std::time::{Duration, Instant};

use util::{Project, random_sets_spec};

fn slurm_is_up() -> bool {
    Command::new("sinfo").args(["-h", "-o", "%T"]).output().is_ok_and(|o| {
        o.status.success()
            && String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == "idle" || l.trim() == "mixed")
    })
}

/// "(C cached, T trained" → T, summed over every line of a log.
fn trained_in(log: &str) -> usize {
    log.lines()
        .filter_map(|l| {
            let after = l.split(" cached, ").nth(1)?;
            after.split(' ').next()?.parse::<usize>().ok()
        })
        .sum()
}

#[test]
fn a_job_array_trains_each_run_once_and_renders_the_same_csv() {
    if !slurm_is_up() {
        eprintln!(
            "skipped: no running Slurm here (sbatch/sinfo missing or no idle node; scripts/slurm-local.sh starts one as root)"
        );
        return;
    }
    let spec = random_sets_spec(6, 20, "");
    let reference = Project::new();
    reference.write("specs/t/s.ron", &spec);
    assert_eq!(reference.modrepro(&["run"]).code, 0);

    let p = Project::new();
    p.write("specs/t/s.ron", &spec);
    let submitted = p.modrepro(&["slurm", "--tasks", "3", "--cpus", "1", "--submit"]);
    assert_eq!(submitted.code, 0, "{}", submitted.stderr);
    let ids: Vec<String> = submitted
        .stdout
        .split_whitespace()
        .filter(|w| w.chars().all(|c| c.is_ascii_digit()) && !w.is_empty())
        .map(String::from)
        .collect();
    assert!(ids.len() >= 2, "two job ids in {}", submitted.stdout);

    let started = Instant::now();
    loop {
        let queue = Command::new("squeue")
            .args(["-h", "-j", &ids.join(",")])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&queue.stdout).trim().is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the jobs did not finish in 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let logs = p.path().join("outputs/slurm");
    let read_logs = |prefix: &str| -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(&logs).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(prefix) && name.ends_with(".log") {
                all += &std::fs::read_to_string(entry.path()).unwrap();
            }
        }
        all
    };
    let train = read_logs("train-");
    assert_eq!(train.matches("  shard ").count(), 3, "three tasks ran: {train}");
    assert_eq!(trained_in(&train), 6, "each of the 6 runs trained once: {train}");
    let render = read_logs("render-");
    assert!(
        render.contains("(6 cached, 0 trained)"),
        "the render job trained nothing: {render}"
    );
    assert_eq!(
        p.read("outputs/t/s.csv"),
        reference.read("outputs/t/s.csv"),
        "sharded = unsharded"
    );

    // Resubmitting a finished array trains nothing: every task exits at once.
    let again = p.modrepro(&["slurm", "--tasks", "3", "--cpus", "1"]);
    assert_eq!(again.code, 0);
    assert!(
        again.stdout.contains("sbatch --dependency=afterok:$ARRAY"),
        "{}",
        again.stdout
    );
}
