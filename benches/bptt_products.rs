//! The Krause BPTT's per-step product (batch × 100)·(100 × 100), out += α·(input · M): the
//! AVX-512 kernel of `model::bptt_products` against faer's `matmul`, which it replaces with the
//! same bits. `cargo bench --bench bptt_products`.

use std::time::Instant;

use modrepro::model::bptt_products::{add_scaled_product, add_scaled_product_faer};
use modrepro::model::transpose;
use modrepro::rng::SplitMix64;

fn main() {
    let mut rng = SplitMix64::new(1);
    let n = 100;
    let w: Vec<f32> = (0..n * n).map(|_| 0.1 * rng.normal() as f32).collect();
    let m = transpose(&w, n, n);
    println!("| batch | faer µs / call | kernel µs / call | kernel GFLOP/s |");
    println!("| --- | --- | --- | --- |");
    for batch in [32usize, 51] {
        let input: Vec<f32> = (0..batch * n).map(|_| rng.normal() as f32).collect();
        let mut out = vec![0f32; batch * n];
        let calls = 20_000;
        let time = |f: &dyn Fn(&mut [f32])| -> f64 {
            let mut out = out.clone();
            for _ in 0..200 {
                f(&mut out);
            }
            let started = Instant::now();
            for _ in 0..calls {
                f(&mut out);
            }
            std::hint::black_box(&out);
            started.elapsed().as_secs_f64() / calls as f64
        };
        let faer = time(&|o| add_scaled_product_faer(o, &input, &m, n, 1e-6));
        let ours = time(&|o| add_scaled_product(o, &input, &m, n, 1e-6));
        out[0] = 0.0;
        let flop = 2.0 * (batch * n * n) as f64;
        println!(
            "| {batch} | {:.2} | {:.2} | {:.1} |",
            faer * 1e6,
            ours * 1e6,
            flop / ours / 1e9
        );
    }
}
