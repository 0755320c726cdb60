#!/usr/bin/env python3
"""Cross-check of modrepro's kNN mutual-information estimator against scikit-learn.

Writes fixed data sets and scikit-learn's `mutual_info_classif` estimates to
tests/data/mi_crosscheck_{data,sklearn}.csv; the Rust test `mi_matches_scikit_learn` then
compares modrepro's estimator with those numbers on every `cargo test`, so CI needs no Python.
Run this script again (with numpy and scikit-learn installed) to regenerate the fixture; it
exits 0 with a message when they are missing.
"""
import csv
import pathlib
import sys

try:
    import numpy as np
    import sklearn
    from sklearn.feature_selection import mutual_info_classif
except ImportError as missing:
    print(f"skipped: {missing.name} is not installed (pip install numpy scikit-learn)")
    sys.exit(0)

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"


def datasets():
    rng = np.random.default_rng(20251123)
    y = np.arange(300) % 3
    yield "three_labels_shifted", y + rng.normal(size=300), y
    y = np.arange(500) % 5
    yield "five_labels_independent", rng.uniform(size=500), y
    y = np.concatenate([np.zeros(120), np.ones(79), [2]]).astype(int)
    yield "imbalanced_with_singleton", 0.5 * y + rng.normal(size=200), y
    y = np.arange(1000) % 10
    yield "ten_labels_separated", y + 0.3 * rng.normal(size=1000), y


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "mi_crosscheck_data.csv", "w", newline="") as data_file, open(
        OUT / "mi_crosscheck_sklearn.csv", "w", newline=""
    ) as mi_file:
        data = csv.writer(data_file)
        data.writerow(["dataset", "x", "label"])
        mi = csv.writer(mi_file)
        mi.writerow(["dataset", "neighbours", "sklearn_mi", "sklearn_version"])
        for name, x, y in datasets():
            for xi, yi in zip(x, y):
                data.writerow([name, repr(float(xi)), int(yi)])
            for k in (2, 3):
                value = mutual_info_classif(
                    x.reshape(-1, 1), y, discrete_features=False, n_neighbors=k, random_state=0
                )[0]
                mi.writerow([name, k, repr(float(value)), sklearn.__version__])
                print(f"{name:28s} k={k}: sklearn {value:.6f}")
    print(f"wrote {OUT}/mi_crosscheck_*.csv")


if __name__ == "__main__":
    main()
