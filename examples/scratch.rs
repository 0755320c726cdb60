use burn::tensor::Device;
use modrepro::analysis::theory::*;
use modrepro::model::linear_ae::*;
use modrepro::rng::SplitMix64;
fn main() {
    let runs: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let steps: usize = std::env::args().nth(2).unwrap().parse().unwrap();
    let lr: f64 = std::env::args().nth(3).unwrap().parse().unwrap();
    let mut rng = SplitMix64::new(1);
    let mut data = vec![];
    let mut verdicts = vec![];
    for r in 0..runs {
        loop {
            let pts: Vec<Vec<f64>> = (0..32).map(|_| vec![rng.uniform(), rng.uniform()]).collect();
            let arr: Vec<[f64; 2]> = pts.iter().map(|p| [p[0], p[1]]).collect();
            let c = check_two_sources(&arr, AngleGrid::default()).unwrap();
            let want = if r % 2 == 0 { Verdict::Modular } else { Verdict::Mixed };
            if c.verdict == want {
                data.push(pts);
                verdicts.push(c);
                break;
            }
        }
    }
    let inits: Vec<_> = (0..runs).map(|r| LinearAeWeights::init(2, 16, r as u64)).collect();
    let obj = Objective {
        reconstruction: 1.0,
        activity: 1e-3,
        nonnegativity: 0.5,
        weight: 1e-4,
    };
    let tr = Training {
        steps,
        learning_rate: lr,
        beta_1: 0.9,
        beta_2: 0.999,
        epsilon: 1e-8,
    };
    let dev = Device::flex();
    let t = std::time::Instant::now();
    let out = train_batch(&data, &inits, &obj, &tr, &dev, |_| {});
    let el = t.elapsed().as_secs_f64();
    println!(
        "{runs} runs {steps} steps: {el:.2}s, {:.1} us/step",
        el / steps as f64 * 1e6
    );
    for r in 0..runs {
        let l = loss_terms(&out[r], &data[r]);
        let angle = modrepro::analysis::mixing::most_mixed_neuron_angle(
            &(0..16)
                .map(|j| {
                    let w = out[r].neuron_weights(j);
                    [w[0], w[1]]
                })
                .collect::<Vec<_>>(),
        );
        println!(
            "{:?} gain {:.4} angle {:.3} rec {:.2e}",
            verdicts[r].verdict,
            verdicts[r].mixing_energy_gain,
            angle.unwrap(),
            l.reconstruction
        );
    }
}
