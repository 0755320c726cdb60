//! The Euler-discretised rate RNN of Krause et al. 2022 (dt = 1 ms, τ = 10 ms):
//! x_{t+1} = (1 − α) x_t + α (B u_t + W tanh(x_t) + b_x + σ ξ_t), z_t = w_out · tanh(x_t) + b_z,
//! simulated in plain f64 for analysis (any W may be swapped in: reduced-rank networks).

use crate::data::krause_tasks::Trial;
use crate::model::portable_tanh::tanh;
use crate::model::transpose;
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

/// A simulated trial: the state after each step (when recorded) and the readout.
pub struct Trajectory {
    /// Empty when the simulation was asked for [`Record::Outputs`] only.
    pub states: Vec<Vec<f64>>,
    pub outputs: Vec<f64>,
}

/// What a simulation keeps of each trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// The readout z_t only (all a cost needs; saves an allocation per step).
    Outputs,
    /// Every state x_t as well as the readout.
    StatesAndOutputs,
}

/// Trials simulated side by side: each step loads W once for all of them (W, 80 KB at n = 100,
/// lives in L2, and one trial at a time spent most of its time loading it).
const LANES: usize = 4;

/// Up to [`LANES`] trials of equal length to simulate together, and how.
struct Group<'a> {
    /// Wᵀ: the recurrent drive of a block of units is then one contiguous load per input.
    w_transposed: &'a [f64],
    trials: &'a [&'a [Vec<f64>]],
    x0: &'a [f64],
    record: Record,
}

/// A step's noise for one trial of a batch: `fill(trial, ξ)` writes the n draws of ξ.
type StepNoise<'a> = dyn FnMut(usize, &mut [f64]) + 'a;

impl RateRnn {
    /// Runs `inputs` (one vector per step) from `x0` with recurrent weights `w`; with `noise`,
    /// adds σξ per unit and step from that generator: each step's ξ are one
    /// [`SplitMix64::fill_normal_f32`] of `n` draws (as the training's noise; a Box–Muller
    /// draw per unit took a quarter of the analysis).
    pub fn simulate(&self, w: &[f64], inputs: &[Vec<f64>], x0: &[f64], noise: Option<&mut SplitMix64>) -> Trajectory {
        let noises = noise.map(std::slice::from_mut);
        let mut trajectories = self.simulate_trials(w, &[inputs], x0, noises, Record::StatesAndOutputs);
        trajectories.pop().expect("one trial in, one out")
    }

    /// Runs every trial in `trials` (each one input vector per step) from `x0`, with trial k's
    /// noise from `noises[k]` as [`simulate`](Self::simulate) draws it (or none). Trials of
    /// equal length run [`LANES`] at a time; each trial's numbers are those of simulating it
    /// alone (tested), so grouping changes speed only.
    pub fn simulate_trials(
        &self,
        w: &[f64],
        trials: &[&[Vec<f64>]],
        x0: &[f64],
        mut noises: Option<&mut [SplitMix64]>,
        record: Record,
    ) -> Vec<Trajectory> {
        if let Some(g) = &noises {
            assert_eq!(g.len(), trials.len(), "one noise generator per trial");
        }
        let w_transposed = transpose(w, self.n, self.n);
        let mut draws = vec![0f32; self.n];
        let mut trajectories = Vec::with_capacity(trials.len());
        let mut start = 0;
        while start < trials.len() {
            let steps = trials[start].len();
            let count = trials[start..]
                .iter()
                .take(LANES)
                .take_while(|t| t.len() == steps)
                .count();
            let group = &trials[start..start + count];
            let mut fill = |lane: usize, xi: &mut [f64]| match noises.as_deref_mut() {
                Some(g) => {
                    g[start + lane].fill_normal_f32(&mut draws, 1.0);
                    xi.iter_mut().zip(&draws).for_each(|(x, &d)| *x = f64::from(d));
                }
                None => xi.fill(0.0),
            };
            let group = Group {
                w_transposed: &w_transposed,
                trials: group,
                x0,
                record,
            };
            trajectories.extend(self.simulate_group(&group, &mut fill));
            start += count;
        }
        trajectories
    }

    /// As [`simulate`](Self::simulate), with ξ drawn from `xi` (per step, unit by unit).
    pub fn simulate_with_noise(
        &self,
        w: &[f64],
        inputs: &[Vec<f64>],
        x0: &[f64],
        xi: &mut dyn FnMut() -> f64,
    ) -> Trajectory {
        let mut fill = |_: usize, out: &mut [f64]| out.iter_mut().for_each(|v| *v = xi());
        let group = Group {
            w_transposed: &transpose(w, self.n, self.n),
            trials: &[inputs],
            x0,
            record: Record::StatesAndOutputs,
        };
        let mut trajectories = self.simulate_group(&group, &mut fill);
        trajectories.pop().expect("one trial in, one out")
    }

    /// Up to [`LANES`] trials of equal length, side by side.
    ///
    /// On x86-64 CPUs with AVX-512 (or else AVX2) the same loops run compiled for it. No
    /// product is fused with its sum and tanh is [`portable_tanh`](crate::model::portable_tanh),
    /// so every build gives the same bits (tested).
    fn simulate_group(&self, group: &Group, noise: &mut StepNoise) -> Vec<Trajectory> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU has these AVX-512 extensions, checked just above.
            return unsafe { self.simulate_group_avx512(group, noise) };
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.simulate_group_avx2(group, noise) };
        }
        self.simulate_group_portable(group, noise)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2")]
    fn simulate_group_avx512(&self, group: &Group, noise: &mut StepNoise) -> Vec<Trajectory> {
        self.simulate_group_portable(group, noise)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn simulate_group_avx2(&self, group: &Group, noise: &mut StepNoise) -> Vec<Trajectory> {
        self.simulate_group_portable(group, noise)
    }

    #[inline(always)]
    fn simulate_group_portable(&self, group: &Group, noise: &mut StepNoise) -> Vec<Trajectory> {
        let &Group {
            w_transposed,
            trials: group,
            x0,
            record,
        } = group;
        let (n, lanes) = (self.n, group.len());
        let steps = group.first().map_or(0, |t| t.len());
        // Bᵀ, so that each input's contribution to every unit is one contiguous pass.
        let b_transposed = transpose(&self.b, n, self.inputs);
        // Lane l's state, rates and drive are [l·n, (l + 1)·n) of each buffer.
        let mut x: Vec<f64> = x0.iter().copied().cycle().take(lanes * n).collect();
        let mut r: Vec<f64> = x.iter().map(|&v| tanh(v)).collect();
        let mut drive = vec![0.0; lanes * n];
        let mut input = vec![0.0; n];
        let mut xi = vec![0.0; n];
        let mut trajectories: Vec<Trajectory> = (0..lanes)
            .map(|_| Trajectory {
                states: Vec::with_capacity(if record == Record::StatesAndOutputs { steps } else { 0 }),
                outputs: Vec::with_capacity(steps),
            })
            .collect();
        // `step` indexes every lane's inputs at once, which no single iterator can.
        #[allow(clippy::needless_range_loop)]
        for step in 0..steps {
            recurrent_drives(w_transposed, &r, lanes, &mut drive);
            for lane in 0..lanes {
                let u = &group[lane][step];
                // Σ_m B[i][m]·u[m], from −0.0 and in order of m, as `Iterator::sum` adds.
                input.fill(-0.0);
                for (b_column, &u_m) in b_transposed.chunks_exact(n).zip(u) {
                    input.iter_mut().zip(b_column).for_each(|(v, &b)| *v += b * u_m);
                }
                noise(lane, &mut xi);
                let x = &mut x[lane * n..(lane + 1) * n];
                let drive = &drive[lane * n..(lane + 1) * n];
                for i in 0..n {
                    let d = drive[i] + input[i] + self.b_x[i];
                    x[i] = (1.0 - ALPHA) * x[i] + ALPHA * (d + NOISE_SD * xi[i]);
                }
            }
            r.iter_mut().zip(&x).for_each(|(r, &x)| *r = tanh(x));
            // z = w_out · r per lane, each summed in order of units; the lanes' sums side by side.
            let mut z = [-0.0f64; LANES];
            for (i, &w) in self.w_out.iter().enumerate() {
                for (lane, z) in z[..lanes].iter_mut().enumerate() {
                    *z += w * r[lane * n + i];
                }
            }
            for (lane, trajectory) in trajectories.iter_mut().enumerate() {
                trajectory.outputs.push(z[lane] + self.b_z);
                if record == Record::StatesAndOutputs {
                    trajectory.states.push(x[lane * n..(lane + 1) * n].to_vec());
                }
            }
        }
        trajectories
    }
}

/// Units whose recurrent drives are summed side by side: 8 units × 4 lanes is 8 AVX2
/// registers of accumulators (16 units spilled to the stack, and were slower with AVX-512 too).
const DRIVE_BLOCK: usize = 8;

/// `drive[l·n + i] = Σ_j W[i][j] · r[l·n + j]` for each of `lanes` trials, each a running sum
/// over j in order from −0.0 (as `Iterator::sum` adds), but [`DRIVE_BLOCK`] units of every lane
/// at a time: one unit's sum is a chain of dependent additions, so summing many side by side
/// keeps the vector units busy, and each load of W serves every lane, without changing any
/// unit's order of additions (the bits are those of one sum per unit).
#[inline(always)]
fn recurrent_drives(w_transposed: &[f64], r: &[f64], lanes: usize, drive: &mut [f64]) {
    match lanes {
        1 => lane_drives::<1>(w_transposed, r, drive),
        2 => lane_drives::<2>(w_transposed, r, drive),
        3 => lane_drives::<3>(w_transposed, r, drive),
        4 => lane_drives::<4>(w_transposed, r, drive),
        _ => unreachable!("groups hold 1 to {LANES} trials"),
    }
}

#[inline(always)]
fn lane_drives<const LANES_NOW: usize>(w_transposed: &[f64], r: &[f64], drive: &mut [f64]) {
    let n = r.len() / LANES_NOW;
    let mut i0 = 0;
    while i0 + DRIVE_BLOCK <= n {
        drive_tile::<DRIVE_BLOCK, LANES_NOW>(w_transposed, r, n, i0, drive);
        i0 += DRIVE_BLOCK;
    }
    // The remainder a half block at a time, then unit by unit (n = 100: 12 blocks, one half).
    while i0 + DRIVE_BLOCK / 2 <= n {
        drive_tile::<{ DRIVE_BLOCK / 2 }, LANES_NOW>(w_transposed, r, n, i0, drive);
        i0 += DRIVE_BLOCK / 2;
    }
    for i0 in i0..n {
        drive_tile::<1, LANES_NOW>(w_transposed, r, n, i0, drive);
    }
}

#[inline(always)]
fn drive_tile<const UNITS: usize, const LANES_NOW: usize>(
    w_transposed: &[f64],
    r: &[f64],
    n: usize,
    i0: usize,
    drive: &mut [f64],
) {
    let mut acc = [[-0.0f64; UNITS]; LANES_NOW];
    for j in 0..n {
        let column: [f64; UNITS] = w_transposed[j * n + i0..][..UNITS].try_into().unwrap();
        for (lane, acc) in acc.iter_mut().enumerate() {
            let rj = r[lane * n + j];
            for k in 0..UNITS {
                acc[k] += column[k] * rj;
            }
        }
    }
    for (lane, acc) in acc.iter().enumerate() {
        drive[lane * n + i0..][..UNITS].copy_from_slice(acc);
    }
}

impl RateRnn {
    /// The network output cost with recurrent weights `w`: the mean squared error over every
    /// step of every trial (as the authors' `get_mse`, context period included), from x₀ = 0
    /// with network noise (trial k's noise from stream k of `noise_seed`, so every W sees the
    /// same noise).
    pub fn output_cost(&self, w: &[f64], trials: &[Trial], noise_seed: u64) -> f64 {
        let x0 = vec![0.0; self.n];
        let inputs: Vec<&[Vec<f64>]> = trials.iter().map(|t| t.inputs.as_slice()).collect();
        let mut noises: Vec<SplitMix64> = (0..trials.len())
            .map(|k| SplitMix64::derive(noise_seed, 1000 + k as u64))
            .collect();
        let trajectories = self.simulate_trials(w, &inputs, &x0, Some(&mut noises), Record::Outputs);
        trials
            .iter()
            .zip(&trajectories)
            .map(|(trial, traj)| {
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
            let mut r: Vec<f64> = x.iter().map(|&v| tanh(v)).collect();
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
                for (ri, &xi) in r.iter_mut().zip(&x) {
                    *ri = tanh(xi);
                }
                outputs.push(self.w_out.iter().zip(&r).map(|(a, b)| a * b).sum::<f64>() + self.b_z);
                states.push(x.clone());
            }
            Trajectory { states, outputs }
        }
    }

    fn random_network(n: usize, inputs: usize, rng: &mut SplitMix64) -> RateRnn {
        let mut draw = |count: usize, scale: f64| -> Vec<f64> { (0..count).map(|_| scale * rng.normal()).collect() };
        RateRnn {
            n,
            inputs,
            w: draw(n * n, 1.5 / (n as f64).sqrt()),
            b: draw(n * inputs, 1.0),
            w_out: draw(n, 0.3),
            b_x: draw(n, 0.1),
            b_z: 0.05,
        }
    }

    fn bits(t: &Trajectory) -> Vec<u64> {
        t.states
            .iter()
            .flatten()
            .chain(&t.outputs)
            .map(|v| v.to_bits())
            .collect()
    }

    #[test]
    fn blocked_drives_give_the_reference_bits() {
        let mut rng = SplitMix64::new(3);
        // 37 units: four blocks of 8, a half block and one single unit.
        let (n, inputs) = (37, 3);
        let net = random_network(n, inputs, &mut rng);
        let steps: Vec<Vec<f64>> = (0..50).map(|_| (0..inputs).map(|_| rng.normal()).collect()).collect();
        let x0: Vec<f64> = (0..n).map(|_| 0.5 * rng.normal()).collect();
        let noise_of = |seed: u64| {
            let mut g = SplitMix64::new(seed);
            move || g.normal()
        };
        let blocked = net.simulate_with_noise(&net.w, &steps, &x0, &mut noise_of(9));
        let reference = net.reference_simulate(&net.w, &steps, &x0, &mut noise_of(9));
        let w_transposed = transpose(&net.w, n, n);
        let group = Group {
            w_transposed: &w_transposed,
            trials: &[&steps],
            x0: &x0,
            record: Record::StatesAndOutputs,
        };
        let mut g = noise_of(9);
        let mut fill = |_: usize, out: &mut [f64]| out.iter_mut().for_each(|v| *v = g());
        let portable = net.simulate_group_portable(&group, &mut fill).pop().unwrap();
        assert_eq!(bits(&blocked), bits(&reference));
        assert_eq!(bits(&portable), bits(&reference));
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            let mut g = noise_of(9);
            let mut fill = |_: usize, out: &mut [f64]| out.iter_mut().for_each(|v| *v = g());
            // SAFETY: the CPU has AVX2, checked just above.
            let avx2 = unsafe { net.simulate_group_avx2(&group, &mut fill) };
            assert_eq!(bits(&avx2.into_iter().next().unwrap()), bits(&reference));
        }
    }

    /// Trials run side by side give each trial the bits of running it alone, whatever the group:
    /// ten trials of three lengths make groups of 4, 1, 2 and 3, and five of one length a group
    /// of 4 and one of 1, with noise from per-trial generators or none.
    #[test]
    fn trials_side_by_side_give_each_trial_its_own_bits() {
        let mut rng = SplitMix64::new(11);
        let (n, inputs) = (37, 2);
        let net = random_network(n, inputs, &mut rng);
        let mut trial = |steps: usize| -> Vec<Vec<f64>> {
            (0..steps)
                .map(|_| (0..inputs).map(|_| rng.normal()).collect())
                .collect()
        };
        let trials: Vec<Vec<Vec<f64>>> = [40, 40, 40, 40, 40, 25, 25, 30, 30, 30].map(&mut trial).into();
        let x0 = vec![0.1; n];
        let w = net.w.iter().map(|v| 0.9 * v).collect::<Vec<_>>();
        for (lengths, record) in [(&trials[..], Record::StatesAndOutputs), (&trials[..5], Record::Outputs)] {
            let refs: Vec<&[Vec<f64>]> = lengths.iter().map(Vec::as_slice).collect();
            for noisy in [false, true] {
                let mut noises: Vec<SplitMix64> = (0..refs.len() as u64).map(|k| SplitMix64::derive(5, k)).collect();
                let together = net.simulate_trials(&w, &refs, &x0, noisy.then_some(noises.as_mut_slice()), record);
                assert_eq!(together.len(), refs.len());
                for (k, (inputs, traj)) in refs.iter().zip(&together).enumerate() {
                    let mut own = SplitMix64::derive(5, k as u64);
                    let alone = net.simulate(&w, inputs, &x0, noisy.then_some(&mut own));
                    assert_eq!(traj.outputs.len(), inputs.len());
                    assert_eq!(traj.states.is_empty(), record == Record::Outputs);
                    let alone_bits: Vec<u64> = match record {
                        Record::StatesAndOutputs => bits(&alone),
                        Record::Outputs => alone.outputs.iter().map(|v| v.to_bits()).collect(),
                    };
                    assert_eq!(bits(traj), alone_bits, "trial {k}, noisy {noisy}");
                }
            }
        }
        // And alone, noisy, is the reference simulation fed the same draws.
        let mut g = SplitMix64::derive(5, 0);
        let alone = net.simulate(&w, &trials[0], &x0, Some(&mut g));
        let mut replay = SplitMix64::derive(5, 0);
        let mut step = vec![0f32; n];
        let mut next = n;
        let reference = net.reference_simulate(&w, &trials[0], &x0, &mut || {
            if next == n {
                replay.fill_normal_f32(&mut step, 1.0);
                next = 0;
            }
            next += 1;
            f64::from(step[next - 1])
        });
        assert_eq!(bits(&alone), bits(&reference));
    }
}
