//! modrepro's kNN mutual-information estimator against scikit-learn's `mutual_info_classif`
//! on fixed data sets (fixture written by scripts/crosscheck_mi.py).

use std::collections::BTreeMap;
use std::path::Path;

use modrepro::analysis::mutual_info::mi_continuous_discrete;

#[test]
fn mi_matches_scikit_learn() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut data: BTreeMap<String, (Vec<f64>, Vec<u32>)> = BTreeMap::new();
    let mut reader = csv::Reader::from_path(dir.join("mi_crosscheck_data.csv")).expect("fixture present");
    for row in reader.records() {
        let row = row.unwrap();
        let entry = data.entry(row[0].to_string()).or_default();
        entry.0.push(row[1].parse().unwrap());
        entry.1.push(row[2].parse().unwrap());
    }
    let mut reader = csv::Reader::from_path(dir.join("mi_crosscheck_sklearn.csv")).expect("fixture present");
    let mut compared = 0;
    for row in reader.records() {
        let row = row.unwrap();
        let (x, labels) = &data[&row[0]];
        let k: usize = row[1].parse().unwrap();
        let expected: f64 = row[2].parse().unwrap();
        let ours = mi_continuous_discrete(x, labels, k);
        // scikit-learn rescales x and adds 1e-10-relative noise before estimating; on
        // continuous data without ties that moves nothing but the last bits.
        assert!(
            (ours - expected).abs() < 1e-9,
            "{} k={k}: ours {ours}, scikit-learn {expected}",
            &row[0]
        );
        compared += 1;
    }
    assert_eq!(compared, 8, "every fixture row compared");
}
