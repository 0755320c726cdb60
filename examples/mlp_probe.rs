use burn::tensor::Device;
use modrepro::data::grid3d::{Manipulation, generate};
use modrepro::model::mlp_ae::*;
fn main() {
    let copies: usize = std::env::args().nth(1).unwrap().parse().unwrap();
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
    let m = if copies == 0 {
        Manipulation::Untouched
    } else {
        Manipulation::DiagonalStrengthen { radius: 0.1, copies }
    };
    let data = vec![generate(21, &m).values; 3];
    let mut inits: Vec<_> = (0..3).map(|r| shape.init(0.3, 100 + r as u64)).collect();
    for chunk in 0..12 {
        let tr = MlpTraining {
            steps: 5000,
            batch_size: 512,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            init_scale: 0.3,
        };
        let seeds: Vec<u64> = (0..3).map(|r| 1000 * chunk + r).collect();
        inits = train_batch(&data, &inits, &seeds, &shape, &obj, &tr, &Device::flex(), |_| {});
        let l: Vec<String> = inits
            .iter()
            .map(|w| format!("{:.2e}", mlp_loss_terms(w, &shape, &data[0]).reconstruction))
            .collect();
        println!("{}k: {:?}", (chunk + 1) * 5, l);
    }
}
