//! `modrepro modularity LATENTS SOURCES` on files the test writes: a modular code scores near 1,
//! a mixed one clearly lower, in both the kNN and the linear variants; mismatched files are
//! refused with the fix.

mod util;

use util::Project;

/// Two independent sources on a 6 × 6 grid, and latents that copy them (modular) or rotate
/// them by 45° (mixed), plus one silent latent.
fn write(p: &Project) {
    let (mut sources, mut modular, mut mixed) =
        ("a,b\n".to_string(), "z1,z2,z3\n".to_string(), "z1,z2,z3\n".to_string());
    for a in 0..6 {
        for b in 0..6 {
            let (x, y) = (a as f64, b as f64);
            sources += &format!("{a},{b}\n");
            modular += &format!("{},{},0\n", 2.0 * x + 1.0, 0.5 * y);
            mixed += &format!("{},{},0\n", x + y, x - y);
        }
    }
    p.write("sources.csv", &sources);
    p.write("modular.csv", &modular);
    p.write("mixed.csv", &mixed);
}

fn cinfom(stdout: &str) -> f64 {
    let after = stdout.split("CInfoM ").nth(1).expect("a CInfoM");
    after.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn a_modular_code_scores_one_and_a_rotated_code_lower() {
    let p = Project::new();
    write(&p);
    for linear in [false, true] {
        let flag: &[&str] = if linear { &["--linear"] } else { &[] };
        let run = |latents: &str| {
            let args: Vec<&str> = ["modularity", latents, "sources.csv"]
                .into_iter()
                .chain(flag.iter().copied())
                .collect();
            let run = p.modrepro(&args);
            assert_eq!(run.code, 0, "{}", run.stderr);
            run.stdout
        };
        let (modular, mixed) = (run("modular.csv"), run("mixed.csv"));
        // The kNN estimator on 36 samples gives a perfect code ≈ 0.94.
        assert!(cinfom(&modular) > 0.9, "linear {linear}: {modular}");
        assert!(cinfom(&mixed) < cinfom(&modular) - 0.3, "linear {linear}: {mixed}");
        assert!(modular.contains("2 of 3 latents active"), "{modular}");
        assert!(
            modular.contains("z1: mostly a") && modular.contains("z2: mostly b"),
            "{modular}"
        );
    }
    let table = p.read("modularity.csv");
    assert!(
        table.starts_with("latent,active,nmi_a,nmi_b,ncmi_a,ncmi_b\n"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 4);
}

#[test]
fn files_of_different_lengths_are_refused() {
    let p = Project::new();
    write(&p);
    p.write("short.csv", "z1,z2\n1,2\n3,4\n");
    let run = p.modrepro(&["modularity", "short.csv", "sources.csv"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("has 2 samples but sources.csv has 36"),
        "{}",
        run.stderr
    );
}
