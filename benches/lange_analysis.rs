//! Cost per model of the Lange et al. analysis: the four association matrices of both hidden
//! layers, and Monte Carlo refinement (5,000 steps) of one 64-unit matrix. With a directory
//! argument it reads W1..W3, b1..b3, X and A (`.npy`, written by scripts/bench_lange_vs_numpy.py)
//! so that both sides time the same data; otherwise it makes its own.
//! Prints `modrepro_associations_seconds=…` and `modrepro_monte_carlo_seconds=…`.

use std::path::Path;
use std::time::Instant;

use modrepro::analysis::associations::{all_associations, associations, prepare};
use modrepro::analysis::modularity::{Graph, MonteCarlo, monte_carlo_refine, spectral_bisection};
use modrepro::data::npy::read_npy;
use modrepro::model::classifier::ClassifierWeights;
use modrepro::rng::SplitMix64;

fn main() {
    let dir = std::env::args().skip(1).find(|a| Path::new(a).is_dir());
    let (weights, inputs, matrix) = match &dir {
        Some(d) => {
            let load = |name: &str| read_npy(&Path::new(d).join(format!("{name}.npy"))).expect("bench input");
            let widths = vec![784, 64, 64, 10];
            let to32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
            let w = ClassifierWeights {
                widths,
                weights: ["W1", "W2", "W3"].iter().map(|n| to32(&load(n).values)).collect(),
                biases: ["b1", "b2", "b3"].iter().map(|n| to32(&load(n).values)).collect(),
            };
            (w, to32(&load("X").values), load("A").values)
        }
        None => {
            let mut rng = SplitMix64::new(0);
            let inputs: Vec<f32> = (0..2000 * 784).map(|_| rng.uniform() as f32).collect();
            let w = ClassifierWeights::init(&[784, 64, 64, 10], 1);
            let a = associations(&w, &inputs, 0).remove(1).1;
            (w, inputs, prepare(&a, 64, false))
        }
    };
    let started = Instant::now();
    std::hint::black_box(all_associations(&weights, &inputs));
    let associations_seconds = started.elapsed().as_secs_f64();
    let graph = Graph::new(64, matrix);
    let settings = MonteCarlo {
        steps: 5000,
        target_entropy: 0.15,
        seed: 0,
    };
    let started = Instant::now();
    let (_, q) = monte_carlo_refine(&graph, spectral_bisection(&graph), &settings);
    let monte_carlo_seconds = started.elapsed().as_secs_f64();
    println!("{} inputs; Q after refinement {q:.4}", inputs.len() / 784);
    println!("modrepro_associations_seconds={associations_seconds:.4}");
    println!("modrepro_monte_carlo_seconds={monte_carlo_seconds:.4}");
}
