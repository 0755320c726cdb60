//! The shards of `modrepro run --shard i/n` under GNU Parallel on one machine (the README's
//! `parallel modrepro run --shard {}/N ::: $(seq N)`): every run trained exactly once across
//! the shards, and the rendered CSV byte-identical to an unsharded run. Skips with a message
//! where Debian's `parallel` is not installed.

mod util;

use std::process::Command;

use util::{Project, random_sets_spec};

fn gnu_parallel_is_installed() -> bool {
    Command::new("parallel")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("GNU parallel"))
}

#[test]
fn shards_under_gnu_parallel_train_each_run_once_and_render_the_same_csv() {
    if !gnu_parallel_is_installed() {
        eprintln!("skipped: GNU parallel is not installed (apt-get install parallel)");
        return;
    }
    let spec = random_sets_spec(7, 20, "");
    let reference = Project::new();
    reference.write("specs/t/s.ron", &spec);
    assert_eq!(reference.modrepro(&["run"]).code, 0);

    let p = Project::new();
    p.write("specs/t/s.ron", &spec);
    let sharded = Command::new("parallel")
        .current_dir(p.path())
        .env_remove("MODREPRO_CACHE")
        .args([
            "--will-cite",
            "--halt",
            "now,fail=1",
            env!("CARGO_BIN_EXE_modrepro"),
            "--profile",
            "smoke",
            "--quiet",
            "--jobs",
            "1",
            "run",
            "--shard",
            "{}/3",
            ":::",
            "1",
            "2",
            "3",
        ])
        .output()
        .expect("parallel runs");
    let log = String::from_utf8_lossy(&sharded.stderr);
    assert!(sharded.status.success(), "{log}");
    let trained: usize = log
        .lines()
        .filter_map(|l| l.split(" cached, ").nth(1)?.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(log.matches("  shard ").count(), 3, "three shards ran: {log}");
    assert_eq!(trained, 7, "each of the 7 runs trained once: {log}");

    let render = p.modrepro(&["run"]);
    assert!(render.stderr.contains("(7 cached, 0 trained)"), "{}", render.stderr);
    assert_eq!(
        p.read("outputs/t/s.csv"),
        reference.read("outputs/t/s.csv"),
        "sharded = unsharded"
    );
}
