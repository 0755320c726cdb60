//! The Euler-discretised rate RNN of Krause et al. 2022 (dt = 1 ms, τ = 10 ms):
//! x_{t+1} = (1 − α) x_t + α (B u_t + W tanh(x_t) + b_x + σ ξ_t), z_t = w_out · tanh(x_t) + b_z,
//! simulated in plain f64 for analysis (any W may be swapped in: reduced-rank networks).

use crate::data::krause_tasks::Trial;
use crate::rng::SplitMix64;

pub const ALPHA: f64 = 0.1;
pub const NOISE_SD: f64 = 0.1;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RateRnn {
    pub n: usize,
    pub inputs: usize,
    /// [n × n] row-major; the dynamics use W · tanh(x).
    pub w: Vec<f64>,
    /// [n × inputs] row-major.
    pub b: Vec<f64>,
    pub w_out: Vec<f64>,
    pub b_x: Vec<f64>,
    pub b_z: f64,
}

/// A simulated trial: the state after each step and the readout.
pub struct Trajectory {
    pub states: Vec<Vec<f64>>,
    pub outputs: Vec<f64>,
}

impl RateRnn {
    /// Runs `inputs` (one vector per step) from `x0` with recurrent weights `w`; with `noise`,
    /// adds σξ per unit and step from that generator: each step's ξ are one
    /// [`SplitMix64::fill_normal_f32`] of `n` draws (as the training's noise; a Box–Muller
    /// draw per unit took a quarter of the analysis).
    pub fn simulate(&self, w: &[f64], inputs: &[Vec<f64>], x0: &[f64], noise: Option<&mut SplitMix64>) -> Trajectory {
        match noise {
            Some(g) => {
                let mut step = vec![0f32; self.n];
                let mut next = step.len();
                self.simulate_with_noise(w, inputs, x0, &mut || {
                    if next == step.len() {
                        g.fill_normal_f32(&mut step, 1.0);
                        next = 0;
                    }
                    next += 1;
                    f64::from(step[next - 1])
                })
            }
            None => self.simulate_with_noise(w, inputs, x0, &mut || 0.0),
        }
    }

    /// As [`simulate`](Self::simulate), with ξ drawn from `xi` (per step, unit by unit).
    ///
    /// On x86-64 CPUs with AVX2 the same loops run compiled for AVX2. No product is fused with
    /// its sum, so both builds give the same bits (tested).
    pub fn simulate_with_noise(
        &self,
        w: &[f64],
        inputs: &[Vec<f64>],
        x0: &[f64],
        xi: &mut dyn FnMut() -> f64,
    ) -> Trajectory {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.simulate_avx2(w, inputs, x0, xi) };
        }
        self.simulate_portable(w, inputs, x0, xi)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn simulate_avx2(&self, w: &[f64], inputs: &[Vec<f64>], x0: &[f64], xi: &mut dyn FnMut() -> f64) -> Trajectory {
        self.simulate_portable(w, inputs, x0, xi)
    }

    #[inline(always)]
    fn simulate_portable(&self, w: &[f64], inputs: &[Vec<f64>], x0: &[f64], xi: &mut dyn FnMut() -> f64) -> Trajectory {
        let n = self.n;
        // Wᵀ, so that the recurrent drive of a block of units is one contiguous load per input.
        let w_transposed: Vec<f64> = (0..n * n).map(|k| w[(k % n) * n + k / n]).collect();
        let mut x = x0.to_vec();
        let mut r: Vec<f64> = x.iter().map(|v| v.tanh()).collect();
        let mut states = Vec::with_capacity(inputs.len());
        let mut outputs = Vec::with_capacity(inputs.len());
        let mut drive = vec![0.0; n];
        for u in inputs {
            recurrent_drive(&w_transposed, &r, &mut drive);
            for (i, d) in drive.iter_mut().enumerate() {
                let b_row = &self.b[i * self.inputs..(i + 1) * self.inputs];
                let input: f64 = b_row.iter().zip(u).map(|(a, b)| a * b).sum();
                *d = *d + input + self.b_x[i];
            }
            for i in 0..n {
                x[i] = (1.0 - ALPHA) * x[i] + ALPHA * (drive[i] + NOISE_SD * xi());
            }
            for (ri, xi) in r.iter_mut().zip(&x) {
                *ri = xi.tanh();
            }
            outputs.push(self.w_out.iter().zip(&r).map(|(a, b)| a * b).sum::<f64>() + self.b_z);
            states.push(x.clone());
        }
        Trajectory { states, outputs }
    }
}

/// Units whose recurrent drives are summed side by side.
const DRIVE_BLOCK: usize = 16;

/// `drive[i] = Σ_j W[i][j] · r[j]`, each a running sum over j in order from −0.0 (as
/// `Iterator::sum` adds), but [`DRIVE_BLOCK`] units at a time: one unit's sum is a chain of
/// dependent additions, so summing many side by side keeps the vector units busy without
/// changing any unit's order of additions (the bits are those of one sum per unit).
#[inline(always)]
fn recurrent_drive(w_transposed: &[f64], r: &[f64], drive: &mut [f64]) {
    let n = r.len();
    let whole = n - n % DRIVE_BLOCK;
    for i0 in (0..whole).step_by(DRIVE_BLOCK) {
        drive_block::<DRIVE_BLOCK>(w_transposed, r, i0, drive);
    }
    for i0 in whole..n {
        drive_block::<1>(w_transposed, r, i0, drive);
    }
}

#[inline(always)]
fn drive_block<const UNITS: usize>(w_transposed: &[f64], r: &[f64], i0: usize, drive: &mut [f64]) {
    let n = r.len();
    let mut acc = [-0.0f64; UNITS];
    for (j, &rj) in r.iter().enumerate() {
        let column: [f64; UNITS] = w_transposed[j * n + i0..][..UNITS].try_into().unwrap();
        for k in 0..UNITS {
            acc[k] += column[k] * rj;
        }
    }
    drive[i0..i0 + UNITS].copy_from_slice(&acc);
}

impl RateRnn {
    /// The network output cost with recurrent weights `w`: the mean squared error over every
    /// step of every trial (as the authors' `get_mse`, context period included), from x₀ = 0
    /// with network noise (trial k's noise from stream k of `noise_seed`, so every W sees the
    /// same noise).
    pub fn output_cost(&self, w: &[f64], trials: &[Trial], noise_seed: u64) -> f64 {
        let x0 = vec![0.0; self.n];
        trials
            .iter()
            .enumerate()
            .map(|(k, trial)| {
                let mut noise = SplitMix64::derive(noise_seed, 1000 + k as u64);
                let traj = self.simulate(w, &trial.inputs, &x0, Some(&mut noise));
                traj.outputs
                    .iter()
                    .zip(&trial.targets)
                    .map(|(z, y)| (z - y).powi(2))
                    .sum::<f64>()
                    / trial.targets.len() as f64
            })
            .sum::<f64>()
            / trials.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl RateRnn {
        /// The simulation as first written, one unit's drive at a time: the reference for the bits.
        fn reference_simulate(
            &self,
            w: &[f64],
            inputs: &[Vec<f64>],
            x0: &[f64],
            xi: &mut dyn FnMut() -> f64,
        ) -> Trajectory {
            let n = self.n;
            let mut x = x0.to_vec();
            let mut r: Vec<f64> = x.iter().map(|v| v.tanh()).collect();
            let mut states = Vec::with_capacity(inputs.len());
            let mut outputs = Vec::with_capacity(inputs.len());
            let mut drive = vec![0.0; n];
            for u in inputs {
                for i in 0..n {
                    let row = &w[i * n..(i + 1) * n];
                    let recurrent: f64 = row.iter().zip(&r).map(|(a, b)| a * b).sum();
                    let input: f64 = self.b[i * self.inputs..(i + 1) * self.inputs]
                        .iter()
                        .zip(u)
                        .map(|(a, b)| a * b)
                        .sum();
                    drive[i] = recurrent + input + self.b_x[i];
                }
                for i in 0..n {
                    x[i] = (1.0 - ALPHA) * x[i] + ALPHA * (drive[i] + NOISE_SD * xi());
                }
                for (ri, xi) in r.iter_mut().zip(&x) {
                    *ri = xi.tanh();
                }
                outputs.push(self.w_out.iter().zip(&r).map(|(a, b)| a * b).sum::<f64>() + self.b_z);
                states.push(x.clone());
            }
            Trajectory { states, outputs }
        }
    }

    #[test]
    fn blocked_drives_give_the_reference_bits() {
        let mut rng = SplitMix64::new(3);
        // 37 units: two blocks of 16 and five single units.
        let (n, inputs) = (37, 3);
        let mut draw = |count: usize, scale: f64| -> Vec<f64> { (0..count).map(|_| scale * rng.normal()).collect() };
        let net = RateRnn {
            n,
            inputs,
            w: draw(n * n, 1.5 / (n as f64).sqrt()),
            b: draw(n * inputs, 1.0),
            w_out: draw(n, 0.3),
            b_x: draw(n, 0.1),
            b_z: 0.05,
        };
        let steps: Vec<Vec<f64>> = (0..50).map(|_| draw(inputs, 1.0)).collect();
        let x0 = draw(n, 0.5);
        let noise_of = |seed: u64| {
            let mut g = SplitMix64::new(seed);
            move || g.normal()
        };
        let blocked = net.simulate_with_noise(&net.w, &steps, &x0, &mut noise_of(9));
        let reference = net.reference_simulate(&net.w, &steps, &x0, &mut noise_of(9));
        let portable = net.simulate_portable(&net.w, &steps, &x0, &mut noise_of(9));
        let bits = |t: &Trajectory| -> Vec<u64> {
            t.states
                .iter()
                .flatten()
                .chain(&t.outputs)
                .map(|v| v.to_bits())
                .collect()
        };
        assert_eq!(bits(&blocked), bits(&reference));
        assert_eq!(bits(&portable), bits(&reference));
    }
}
