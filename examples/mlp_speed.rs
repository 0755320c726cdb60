use burn::tensor::Device;
use modrepro::data::grid3d::{Manipulation, generate};
use modrepro::model::mlp_ae::*;
fn main() {
    let runs: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let steps: usize = std::env::args().nth(2).unwrap().parse().unwrap();
    let shape = MlpShape {
        encoder: vec![3, 16, 16, 6],
        decoder: vec![6, 16, 16, 3],
    };
    let obj = MlpObjective {
        reconstruction: 1.0,
        activity: 1e-2,
        nonnegativity: 1.0,
        weight: 1e-4,
    };
    let tr = MlpTraining {
        steps,
        batch_size: 512,
        learning_rate: 1e-3,
        weight_decay: 1e-4,
        init_scale: 0.3,
    };
    let data: Vec<_> = (0..runs)
        .map(|_| generate(21, &Manipulation::Untouched).values)
        .collect();
    let inits: Vec<_> = (0..runs).map(|r| shape.init(0.3, r as u64)).collect();
    let seeds: Vec<u64> = (0..runs as u64).collect();
    let t = std::time::Instant::now();
    let out = train_batch(&data, &inits, &seeds, &shape, &obj, &tr, &Device::flex(), |_| {});
    let el = t.elapsed().as_secs_f64();
    println!(
        "{runs} runs × {steps} steps: {el:.2}s = {:.1} steps/s, {:.0} run-steps/s",
        steps as f64 / el,
        (steps * runs) as f64 / el
    );
    println!("{:?}", mlp_loss_terms(&out[0], &shape, &data[0]));
}
