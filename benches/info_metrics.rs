//! Time of the Fig 2 information metrics (NMI, NCMI, InfoM, CInfoM with the authors' tiling and
//! noise) on one run's latents. With a CSV argument (columns s0..s2, z0..z5, as written by
//! scripts/bench_fig2_vs_jax.py) it times that data; otherwise a fixed random map of the grid.
//! Prints `modrepro_metrics_seconds=<best of 3>`.

use std::time::Instant;

use modrepro::analysis::info_metrics::{InfoOptions, info_modularity};
use modrepro::analysis::linalg::Matrix;
use modrepro::data::grid3d::{Manipulation, generate};
use modrepro::rng::SplitMix64;

fn load(path: &str) -> (Vec<Vec<u32>>, Matrix) {
    let mut reader = csv::Reader::from_path(path).expect("readable CSV");
    let (mut sources, mut latents) = (Vec::new(), Vec::new());
    for row in reader.records() {
        let row = row.expect("valid row");
        sources.push((0..3).map(|i| row[i].parse::<f64>().expect("number") as u32).collect());
        latents.push(
            (3..row.len())
                .map(|i| row[i].parse::<f64>().expect("number"))
                .collect::<Vec<f64>>(),
        );
    }
    (sources, Matrix::from_rows(latents))
}

fn synthetic() -> (Vec<Vec<u32>>, Matrix) {
    let grid = generate(21, &Manipulation::Untouched);
    let mut rng = SplitMix64::new(1);
    let map: Vec<f64> = (0..18).map(|_| rng.normal()).collect();
    let latents = grid
        .values
        .iter()
        .map(|x| {
            (0..6)
                .map(|j| (0..3).map(|i| x[i] * map[i * 6 + j]).sum::<f64>().max(0.0))
                .collect()
        })
        .collect();
    (grid.labels, Matrix::from_rows(latents))
}

fn main() {
    let path = std::env::args().skip(1).find(|a| a.ends_with(".csv"));
    let (sources, latents) = path.as_deref().map_or_else(synthetic, load);
    let mut best = f64::INFINITY;
    let mut cinfom = None;
    for _ in 0..3 {
        let started = Instant::now();
        cinfom = info_modularity(&sources, &latents, &InfoOptions::default()).cinfom;
        best = best.min(started.elapsed().as_secs_f64());
    }
    println!(
        "{} samples × {} latents: CInfoM {cinfom:?}",
        sources.len(),
        latents.cols()
    );
    println!("modrepro_metrics_seconds={best:.4}");
}
