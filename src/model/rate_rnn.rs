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
    /// adds σξ per unit and step from that generator.
    pub fn simulate(&self, w: &[f64], inputs: &[Vec<f64>], x0: &[f64], noise: Option<&mut SplitMix64>) -> Trajectory {
        match noise {
            Some(g) => self.simulate_with_noise(w, inputs, x0, &mut || g.normal()),
            None => self.simulate_with_noise(w, inputs, x0, &mut || 0.0),
        }
    }

    /// As [`simulate`](Self::simulate), with ξ drawn from `xi` (per step, unit by unit).
    pub fn simulate_with_noise(
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
