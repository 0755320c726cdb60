//! The two-frequency task of Dorrell et al. 2025, Fig 3a–d: a recurrent network is driven by
//! pulse trains and must output cosines. Frequency pairs are drawn with a rational or an
//! irrational ratio, as the authors' code draws them.

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// Whether a pair's frequencies have a rational or an irrational ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Ratio {
    /// Integers whose ratio is not an integer (the authors' "rational" draws).
    Rational,
    Irrational,
    /// Integers whose ratio is an integer (f2 a harmonic of f1): the authors' code excludes
    /// these from its rational draws; here they are an option.
    Harmonic,
}

impl Ratio {
    pub fn name(self) -> &'static str {
        match self {
            Ratio::Rational => "rational",
            Ratio::Irrational => "irrational",
            Ratio::Harmonic => "harmonic",
        }
    }
}

/// The task's time base: `steps` samples `dt` apart, t = 0, dt, …
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeBase {
    /// The authors: 200 (T = 20).
    pub steps: usize,
    /// The authors: 0.1.
    pub dt: f64,
}

impl TimeBase {
    pub fn time(&self, step: usize) -> f64 {
        step as f64 * self.dt
    }
}

/// Draws pair `index` of a group from its own stream, so a pair never depends on how many other
/// pairs were drawn.
///
/// - irrational (authors' code): f1 = U(0.5, 4)·π, f2 = √U(1, 100), redrawn until
///   |f1 − f2| > `min_gap` (the authors: 1 for the linear RNN, 2 for the ReLU RNN);
/// - rational: integers in 1…19, |f1 − f2| > `min_gap`, the larger not a multiple of the smaller;
/// - harmonic: the same integers, the larger a multiple of the smaller.
pub fn draw_pair(ratio: Ratio, data_seed: u64, index: u64, min_gap: f64) -> (f64, f64) {
    let stream = match ratio {
        Ratio::Rational => 2 * index,
        Ratio::Irrational => 2 * index + 1,
        // Disjoint from the two above (their streams are below 2⁶³ for any sane index).
        Ratio::Harmonic => (1 << 63) | index,
    };
    let mut rng = SplitMix64::derive(data_seed, stream);
    loop {
        let (f1, f2) = match ratio {
            Ratio::Irrational => (
                rng.uniform_in(0.5, 4.0) * std::f64::consts::PI,
                rng.uniform_in(1.0, 100.0).sqrt(),
            ),
            Ratio::Rational | Ratio::Harmonic => ((1 + rng.next_u64() % 19) as f64, (1 + rng.next_u64() % 19) as f64),
        };
        let apart = (f1 - f2).abs() > min_gap;
        let integer_ratio = f1.max(f2) % f1.min(f2) == 0.0;
        let wanted = match ratio {
            Ratio::Rational => !integer_ratio,
            Ratio::Harmonic => integer_ratio,
            Ratio::Irrational => true,
        };
        if apart && wanted {
            return (f1, f2);
        }
    }
}

/// A pulse train at frequency `f`: 1 at steps ⌊2πn / (f·dt)⌋, n = 0, 1, …, else 0.
pub fn pulse_train(f: f64, time: TimeBase) -> Vec<f64> {
    let mut train = vec![0.0; time.steps];
    let period_steps = 2.0 * std::f64::consts::PI / (f * time.dt);
    for n in 0.. {
        let step = (n as f64 * period_steps) as usize;
        if step >= time.steps {
            break;
        }
        train[step] = 1.0;
    }
    train
}

/// cos(f t) at every step.
pub fn cosine(f: f64, time: TimeBase) -> Vec<f64> {
    (0..time.steps).map(|s| (f * time.time(s)).cos()).collect()
}

/// What drives the network and what it must output, per step: `inputs[t]`, `targets[t]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    pub inputs: Vec<Vec<f64>>,
    pub targets: Vec<Vec<f64>>,
}

/// How the inputs relate to the target frequencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Drive {
    /// The linear RNN's task: pulse trains at f1 and f2, targets cos(f1 t), cos(f2 t).
    AtTargets,
    /// The ReLU RNN's task: pulse trains at (f_max + f_min)/2 and (f_max − f_min)/2, targets
    /// cos(f_max t), cos(f_min t) — the network must make the targets' frequencies itself.
    SumAndDifference,
}

/// The sequence for a frequency pair.
pub fn sequence(drive: Drive, (f1, f2): (f64, f64), time: TimeBase) -> Sequence {
    let (input_freqs, target_freqs) = match drive {
        Drive::AtTargets => ([f1, f2], [f1, f2]),
        Drive::SumAndDifference => {
            let (hi, lo) = (f1.max(f2), f1.min(f2));
            ([(hi + lo) / 2.0, (hi - lo) / 2.0], [hi, lo])
        }
    };
    let per_step = |channels: [Vec<f64>; 2]| (0..time.steps).map(|t| vec![channels[0][t], channels[1][t]]).collect();
    Sequence {
        inputs: per_step(input_freqs.map(|f| pulse_train(f, time))),
        targets: per_step(target_freqs.map(|f| cosine(f, time))),
    }
}

/// The frequencies a trained network should carry (those of its targets).
pub fn target_frequencies(drive: Drive, (f1, f2): (f64, f64)) -> [f64; 2] {
    match drive {
        Drive::AtTargets => [f1, f2],
        Drive::SumAndDifference => [f1.max(f2), f1.min(f2)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIME: TimeBase = TimeBase { steps: 200, dt: 0.1 };

    #[test]
    fn pulses_fall_once_per_period() {
        // f = π: period 2 time units = 20 steps.
        let train = pulse_train(std::f64::consts::PI, TIME);
        let at: Vec<usize> = (0..200).filter(|&t| train[t] == 1.0).collect();
        assert_eq!(at, (0..10).map(|n| 20 * n).collect::<Vec<_>>());
    }

    #[test]
    fn pairs_obey_the_authors_constraints_and_are_stable() {
        for index in 0..50 {
            let (a, b) = draw_pair(Ratio::Rational, 7, index, 1.0);
            assert!(a.fract() == 0.0 && b.fract() == 0.0 && (1.0..=19.0).contains(&a) && (1.0..=19.0).contains(&b));
            assert!((a - b).abs() > 1.0 && a.max(b) % a.min(b) != 0.0);
            let (c, d) = draw_pair(Ratio::Irrational, 7, index, 2.0);
            assert!((0.5 * std::f64::consts::PI..4.0 * std::f64::consts::PI).contains(&c));
            assert!((1.0..10.0).contains(&d) && (c - d).abs() > 2.0);
        }
        for index in 0..20 {
            let (a, b) = draw_pair(Ratio::Harmonic, 7, index, 1.0);
            assert!((a - b).abs() > 1.0 && a.max(b) % a.min(b) == 0.0, "{a}, {b}");
        }
        assert_eq!(
            draw_pair(Ratio::Irrational, 7, 3, 1.0),
            draw_pair(Ratio::Irrational, 7, 3, 1.0)
        );
        assert_ne!(
            draw_pair(Ratio::Irrational, 7, 3, 1.0),
            draw_pair(Ratio::Irrational, 8, 3, 1.0)
        );
    }

    #[test]
    fn the_relu_task_drives_at_sum_and_difference() {
        let s = sequence(Drive::SumAndDifference, (3.0, 7.0), TIME);
        // Targets: cos(7t), cos(3t); inputs at 5 and 2.
        assert_eq!(s.targets[0], vec![1.0, 1.0]);
        assert!((s.targets[10][0] - 7f64.cos()).abs() < 1e-12);
        assert!((s.targets[10][1] - 3f64.cos()).abs() < 1e-12);
        let input0: Vec<f64> = s.inputs.iter().map(|x| x[0]).collect();
        assert_eq!(input0, pulse_train(5.0, TIME));
        assert_eq!(target_frequencies(Drive::SumAndDifference, (3.0, 7.0)), [7.0, 3.0]);
    }
}
