//! Training throughput of Burn's `flex` and `cpu` backends on modrepro's four workloads, each
//! written as a Burn program with the ops of modrepro's Burn reference paths (the ones its
//! hand-written CPU kernels are tested against):
//! - `autoencoder`: the Fig 2 MLP autoencoder 3→16→16→6→16→16→3, batch 512, AdamW;
//! - `classifier`: Lange's MLP 784→64→64→10, batch 200, dropout 0.5, L2, Adam;
//! - `krause`: the Krause rate RNN, N = 100, integration shape (batch 32 × 1,400 steps), BPTT, Adam;
//! - `frequency`: the Dorrell Fig 3 RNN, 16 ReLU units, one sequence of 200 steps, Adam;
//! - `matmuls`: forward and backward of the products the Fig 3 RNN's backward pass takes.
//!
//! Inputs are random (a fixed LCG): this measures speed, not training. The first three steps
//! (where the `cpu` backend compiles and autotunes its kernels) are timed apart.
//! `burn-cpu-probe <flex|cpu> <workload> <seconds>`: prints one line with iterations/s.

use std::time::Instant;

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::{Device, Tensor, TensorData};

/// Knuth's MMIX linear congruential generator: inputs and masks, not statistics.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

fn param(v: Vec<f32>, shape: [usize; 2], device: &Device) -> Param<Tensor<2>> {
    Param::from_tensor(Tensor::<2>::from_data(TensorData::new(v, shape), device))
}

fn tensor(v: Vec<f32>, shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::<2>::from_data(TensorData::new(v, shape), device)
}

#[derive(Module, Debug)]
struct Dense {
    weights: Vec<Param<Tensor<2>>>,
    biases: Vec<Param<Tensor<2>>>,
}

impl Dense {
    fn new(widths: &[usize], rng: &mut Lcg, device: &Device) -> Self {
        let pairs = widths.windows(2);
        Self {
            weights: pairs
                .clone()
                .map(|w| param(rng.vec(w[0] * w[1], 0.6 / (w[0] as f32).sqrt()), [w[0], w[1]], device))
                .collect(),
            biases: pairs.map(|w| param(vec![0.0; w[1]], [1, w[1]], device)).collect(),
        }
    }

    /// Σ‖W‖² over the weight matrices (no biases): both losses' weight penalty.
    fn squared_weights(&self) -> Tensor<1> {
        let mut squares = self.weights.iter().map(|w| w.val().powi_scalar(2).sum());
        let first = squares.next().expect("at least one layer");
        squares.fold(first, |a, b| a + b)
    }
}

/// Fig 2: 3→16→16→6→16→16→3, ReLU except after the latent (3rd) and last layer.
fn autoencoder_loss(m: &Dense, x: Tensor<2>) -> Tensor<1> {
    let [batch, d] = x.dims();
    let mut h = x.clone();
    let mut z = None;
    let layers = m.weights.len();
    for l in 0..layers {
        h = h.matmul(m.weights[l].val()) + m.biases[l].val();
        if l + 1 == 3 {
            z = Some(h.clone());
        } else if l + 1 < layers {
            h = relu(h);
        }
    }
    let z = z.unwrap();
    let latent = z.dims()[1];
    let reconstruction = (h - x).powi_scalar(2).sum().div_scalar((batch * d) as f64);
    let activity = z.clone().powi_scalar(2).sum().div_scalar((batch * latent) as f64);
    let nonnegativity = relu(z.neg()).sum().div_scalar((batch * latent) as f64);
    reconstruction + activity.mul_scalar(1e-2) + nonnegativity + m.squared_weights().mul_scalar(1e-4)
}

/// Lange: cross-entropy, dropout 0.5 masks from our generator, L2 1e-4.
fn classifier_loss(m: &Dense, x: Tensor<2>, labels: &[usize], rng: &mut Lcg, device: &Device) -> Tensor<1> {
    let b = labels.len();
    let layers = m.weights.len();
    let mut h = x;
    for l in 0..layers {
        h = h.matmul(m.weights[l].val()) + m.biases[l].val();
        if l + 1 < layers {
            h = relu(h);
            let width = h.dims()[1];
            let mask: Vec<f32> = (0..b * width)
                .map(|_| if rng.next() < 0.0 { 2.0 } else { 0.0 })
                .collect();
            h = h * tensor(mask, [b, width], device);
        }
    }
    let classes = h.dims()[1];
    let mut y = vec![0f32; b * classes];
    for (r, &c) in labels.iter().enumerate() {
        y[r * classes + c] = 1.0;
    }
    let ce = (log_softmax(h, 1) * tensor(y, [b, classes], device))
        .sum()
        .neg()
        .div_scalar(b as f64);
    ce + m.squared_weights().mul_scalar(1e-4)
}

#[derive(Module, Debug)]
struct Rnn {
    w: Param<Tensor<2>>,
    w_in: Param<Tensor<2>>,
    w_out: Param<Tensor<2>>,
}

impl Rnn {
    fn new(n: usize, inputs: usize, outputs: usize, rng: &mut Lcg, device: &Device) -> Self {
        Self {
            w: param(rng.vec(n * n, 1.5 / (n as f32).sqrt()), [n, n], device),
            w_in: param(rng.vec(inputs * n, 1.0), [inputs, n], device),
            w_out: param(rng.vec(n * outputs, 1.0 / (n as f32).sqrt()), [n, outputs], device),
        }
    }
}

/// Krause: x ← (1 − α)x + α(r W + u B) + noise, r = tanh x; output r w_out against targets.
fn krause_loss(m: &Rnn, batch: usize, steps: usize, rng: &mut Lcg, device: &Device) -> Tensor<1> {
    let alpha = 0.2;
    let n = m.w.dims()[0];
    let inputs = m.w_in.dims()[0];
    let w = m.w.val().mul_scalar(alpha);
    let b = m.w_in.val().mul_scalar(alpha);
    let mut x = Tensor::<2>::zeros([batch, n], device);
    let mut r = x.clone().tanh();
    let mut rates = Vec::with_capacity(steps);
    for _ in 0..steps {
        let u = tensor(rng.vec(batch * inputs, 1.0), [batch, inputs], device);
        let noise = tensor(rng.vec(batch * n, 0.02), [batch, n], device);
        x = x.mul_scalar(1.0 - alpha) + r.matmul(w.clone()) + u.matmul(b.clone()) + noise;
        r = x.clone().tanh();
        rates.push(r.clone());
    }
    let targets = tensor(rng.vec(steps * batch, 1.0), [steps * batch, 1], device);
    (Tensor::cat(rates, 0).matmul(m.w_out.val()) - targets).square().mean()
}

/// Dorrell Fig 3a–d: h_t = relu(h W + x_t W_in), y = h W_out, one sequence; target + activity
/// + weight + positivity terms.
fn frequency_loss(m: &Rnn, inputs: &[Tensor<2>], targets: Tensor<2>) -> Tensor<1> {
    let n = m.w.dims()[0];
    let device = m.w.val().device();
    let mut h = Tensor::<2>::zeros([1, n], &device);
    let mut states = Vec::with_capacity(inputs.len());
    for x in inputs {
        h = relu(h.matmul(m.w.val()) + x.clone().matmul(m.w_in.val()));
        states.push(h.clone());
    }
    let hs = Tensor::cat(states, 0);
    let y = hs.clone().matmul(m.w_out.val());
    let target = (y - targets).square().mean();
    let activity = hs.clone().square().mean().mul_scalar(0.1);
    let weight =
        (m.w.val().square().sum() + m.w_in.val().square().sum() + m.w_out.val().square().sum()).mul_scalar(1e-4);
    let positivity = relu(hs.neg()).square().mean().mul_scalar(5.0);
    target + activity + weight + positivity
}

fn run<M: Module + Clone>(
    seconds: f64,
    mut model: M,
    mut optimiser: ModuleOptimizer,
    mut loss: impl FnMut(&M) -> Tensor<1>,
) -> (f64, f64, usize) {
    let mut step = |model: M, loss: &mut dyn FnMut(&M) -> Tensor<1>| {
        let l = loss(&model);
        let grads = GradientsParams::from_grads(l.backward(), &model);
        optimiser.step(1e-3, model, grads)
    };
    // The first steps compile and autotune the cpu backend's kernels: timed apart.
    let started = Instant::now();
    for _ in 0..3 {
        model = step(model, &mut loss);
    }
    let _ = loss(&model).into_scalar::<f32>();
    let warm = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut iterations = 0;
    while started.elapsed().as_secs_f64() < seconds {
        model = step(model, &mut loss);
        iterations += 1;
    }
    // Force the queued work (the cpu backend runs asynchronously) to finish before the clock
    // stops: the next loss depends on every step's parameters. (Its forward pass is counted in
    // the window too, which understates a backend that ran only a few steps by a fraction of one.)
    let _ = loss(&model).into_scalar::<f32>();
    let done = started.elapsed().as_secs_f64();
    (iterations as f64 / done, warm, iterations)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("flex");
    let workload = args.get(2).map(String::as_str).unwrap_or("autoencoder");
    let seconds: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let base = match backend {
        "flex" => Device::flex(),
        "cpu" => Device::cpu(),
        other => panic!("unknown backend {other}"),
    };
    let device = base.autodiff();
    let mut rng = Lcg(1);
    let (rate, warm, iterations) = match workload {
        "autoencoder" => {
            let model = Dense::new(&[3, 16, 16, 6, 16, 16, 3], &mut rng, &device);
            let data = rng.vec(512 * 3, 1.0);
            let opt = AdamWConfig::new().with_epsilon(1e-8).init();
            run(seconds, model, opt, |m| {
                autoencoder_loss(m, tensor(data.clone(), [512, 3], &device))
            })
        }
        "classifier" => {
            let model = Dense::new(&[784, 64, 64, 10], &mut rng, &device);
            let images = rng.vec(200 * 784, 1.0);
            let labels: Vec<usize> = (0..200).map(|i| i % 10).collect();
            let opt = AdamConfig::new().with_epsilon(1e-8).init();
            let mut masks = Lcg(2);
            run(seconds, model, opt, |m| {
                classifier_loss(
                    m,
                    tensor(images.clone(), [200, 784], &device),
                    &labels,
                    &mut masks,
                    &device,
                )
            })
        }
        "krause" => {
            let model = Rnn::new(100, 5, 1, &mut rng, &device);
            let opt = AdamConfig::new().with_epsilon(1e-8).init();
            let mut draws = Lcg(3);
            run(seconds, model, opt, |m| krause_loss(m, 32, 1400, &mut draws, &device))
        }
        "frequency" => {
            let model = Rnn::new(16, 2, 2, &mut rng, &device);
            let inputs: Vec<Tensor<2>> = (0..200).map(|_| tensor(rng.vec(2, 1.0), [1, 2], &device)).collect();
            let targets = tensor(rng.vec(400, 1.0), [200, 2], &device);
            let opt = AdamConfig::new().with_epsilon(1e-8).init();
            run(seconds, model, opt, |m| frequency_loss(m, &inputs, targets.clone()))
        }
        "matmuls" => {
            // Which product shapes the backend refuses: forward then backward of a·b, alone.
            for (m, k, n) in [
                (1, 16, 16),
                (1, 2, 16),
                (200, 16, 2),
                (16, 200, 2),
                (200, 2, 16),
                (16, 1, 16),
                (2, 1, 16),
            ] {
                let a = Param::from_tensor(tensor(rng.vec(m * k, 1.0), [m, k], &device));
                let b = Param::from_tensor(tensor(rng.vec(k * n, 1.0), [k, n], &device));
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let product = a.val().matmul(b.val());
                    let value = product.clone().sum().into_scalar::<f32>();
                    let grads = product.sum().backward();
                    let ga = a.grad(&grads).expect("grad").sum().into_scalar::<f32>();
                    (value, ga)
                }));
                println!(
                    "[{m}×{k}]·[{k}×{n}]: {}",
                    match outcome {
                        Ok((v, g)) => format!("ok ({v:.3}, {g:.3})"),
                        Err(_) => "panicked".to_string(),
                    }
                );
            }
            return;
        }
        other => panic!("unknown workload {other}"),
    };
    println!("{backend} {workload}: {rate:.3} iterations/s ({iterations} in {seconds} s; first 3 steps {warm:.2} s)");
}
