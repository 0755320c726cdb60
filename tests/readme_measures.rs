//! The README lists what every experiment measures (claims may name nothing else): each name a
//! shipped spec's experiment produces must appear there, in backticks.

use std::path::Path;

#[test]
fn every_measure_of_every_shipped_experiment_is_in_the_readme() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut missing = Vec::new();
    for path in modrepro::spec::load::discover(&root.join("specs")).unwrap() {
        let loaded = modrepro::spec::load(&path).unwrap();
        for name in loaded.spec.experiment.measures() {
            if !readme.contains(&format!("`{name}`")) {
                missing.push(format!("{} ({})", name, loaded.spec.experiment.kind()));
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(missing.is_empty(), "not in README.md: {missing:#?}");
}
