//! The teacher of Dorrell et al. 2025, Fig 3f–g: a 2-unit tanh RNN whose hidden states follow
//! range-manipulated targets, and the sequences a student RNN learns from it.
//!
//! The authors draw target states i.i.d. per (sequence, step), match them to sequences that can
//! reach them (an assignment problem) and solve for the teacher's inputs with Newton steps. Here
//! the inputs are solved in closed form instead: with h_t = tanh(W h_{t−1} + U x_t) and U
//! orthogonal, x_t = Uᵀ(atanh(h_t) − W h_{t−1}) puts the teacher exactly on any target in
//! (−1, 1)², so its states have exactly the target distribution and no matching is needed.

use serde::{Deserialize, Serialize};

use crate::data::frequency_task::Sequence;
use crate::model::frequency_rnn::orthogonal;
use crate::rng::SplitMix64;

/// The authors' scale of the target states: drawn on [−½, ½]², then multiplied by this.
pub const STATE_SCALE: f64 = 0.7;

/// Which part of the square the teacher's states cover (coordinates on [−½, ½]² before
/// [`STATE_SCALE`]; the authors' conditions in `disentangled_rnn_utils.py`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum StateRange {
    /// The whole square.
    Uniform,
    /// Only the band |s₁ − s₂| < `band`: both corners off the diagonal are cut
    /// (`corner_cut_both`).
    CornerCut { band: f64 },
    /// A point off the band |s₁ − s₂| < `band` is redrawn with probability `redraw`: the
    /// diagonal is oversampled but the range stays the square (`oversample_diagonal_2`).
    OversampleDiagonal { band: f64, redraw: f64 },
    /// The same with both diagonals, |s₁ − s₂| < `band` or |s₁ + s₂| < `band`
    /// (`oversample_diagonals`).
    OversampleDiagonals { band: f64, redraw: f64 },
}

impl StateRange {
    /// The condition's group, for tables and figures.
    pub fn group(&self) -> &'static str {
        match self {
            StateRange::Uniform => "uniform",
            StateRange::CornerCut { .. } => "corner cut",
            StateRange::OversampleDiagonal { .. } => "diagonal oversampled",
            StateRange::OversampleDiagonals { .. } => "both diagonals oversampled",
        }
    }

    /// The condition's swept value (the band of a corner cut, the redraw probability
    /// otherwise; 0 for the uniform square).
    pub fn level(&self) -> f64 {
        match *self {
            StateRange::Uniform => 0.0,
            StateRange::CornerCut { band } => band,
            StateRange::OversampleDiagonal { redraw, .. } | StateRange::OversampleDiagonals { redraw, .. } => redraw,
        }
    }

    /// Whether a draw at `s` is kept (`coin` is a fresh uniform draw for the redraw chance).
    fn keeps(&self, s: [f64; 2], coin: f64) -> bool {
        let on_diagonal = |band: f64| (s[0] - s[1]).abs() < band;
        let on_anti_diagonal = |band: f64| (s[0] + s[1]).abs() < band;
        match *self {
            StateRange::Uniform => true,
            StateRange::CornerCut { band } => on_diagonal(band),
            StateRange::OversampleDiagonal { band, redraw } => on_diagonal(band) || coin >= redraw,
            StateRange::OversampleDiagonals { band, redraw } => {
                on_diagonal(band) || on_anti_diagonal(band) || coin >= redraw
            }
        }
    }

    /// Checks the condition can be sampled: a band in (0, 1], a redraw probability in [0, 1).
    pub fn check(&self) -> Result<(), String> {
        let band_ok = |band: f64| band > 0.0 && band <= 1.0;
        match *self {
            StateRange::Uniform => Ok(()),
            StateRange::CornerCut { band } if band_ok(band) => Ok(()),
            StateRange::OversampleDiagonal { band, redraw } | StateRange::OversampleDiagonals { band, redraw }
                if band_ok(band) && (0.0..1.0).contains(&redraw) =>
            {
                Ok(())
            }
            _ => Err(format!(
                "{self:?}: a band must be in (0, 1] and a redraw probability in [0, 1)"
            )),
        }
    }
}

/// `count` target states drawn i.i.d. from `range`, already scaled by [`STATE_SCALE`].
pub fn draw_states(range: StateRange, count: usize, rng: &mut SplitMix64) -> Vec<[f64; 2]> {
    let mut states = Vec::with_capacity(count);
    while states.len() < count {
        let s = [rng.uniform() - 0.5, rng.uniform() - 0.5];
        if range.keeps(s, rng.uniform()) {
            states.push([s[0] * STATE_SCALE, s[1] * STATE_SCALE]);
        }
    }
    states
}

/// The teacher: h_t = tanh(W h_{t−1} + U x_t), h_{−1} = 0, y_t = R h_t; W, U, R orthogonal 2×2,
/// zero biases (the authors' initialisation, never trained).
#[derive(Debug, Clone, PartialEq)]
pub struct Teacher {
    w: [f64; 4],
    u: [f64; 4],
    r: [f64; 4],
}

fn times(m: &[f64; 4], v: [f64; 2]) -> [f64; 2] {
    [m[0] * v[0] + m[1] * v[1], m[2] * v[0] + m[3] * v[1]]
}

fn transpose_times(m: &[f64; 4], v: [f64; 2]) -> [f64; 2] {
    [m[0] * v[0] + m[2] * v[1], m[1] * v[0] + m[3] * v[1]]
}

impl Teacher {
    pub fn new(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let mut matrix = || -> [f64; 4] {
            orthogonal(2, 2, &mut rng)
                .try_into()
                .expect("a 2×2 matrix has 4 entries")
        };
        Self {
            w: matrix(),
            u: matrix(),
            r: matrix(),
        }
    }

    /// The inputs that put the teacher on `states` in order (each coordinate in (−1, 1)).
    pub fn inputs_for(&self, states: &[[f64; 2]]) -> Vec<[f64; 2]> {
        let mut previous = [0.0; 2];
        states
            .iter()
            .map(|&h| {
                let recurrent = times(&self.w, previous);
                previous = h;
                transpose_times(&self.u, [h[0].atanh() - recurrent[0], h[1].atanh() - recurrent[1]])
            })
            .collect()
    }

    /// The teacher's states when driven by `inputs`.
    pub fn run(&self, inputs: &[[f64; 2]]) -> Vec<[f64; 2]> {
        let mut h = [0.0; 2];
        inputs
            .iter()
            .map(|&x| {
                let (a, b) = (times(&self.w, h), times(&self.u, x));
                h = [(a[0] + b[0]).tanh(), (a[1] + b[1]).tanh()];
                h
            })
            .collect()
    }

    /// The teacher's output for a state.
    pub fn output(&self, h: [f64; 2]) -> [f64; 2] {
        times(&self.r, h)
    }
}

/// One sequence of the task: what the student sees, what it must output (the teacher's outputs
/// divided by [`STATE_SCALE`], as the authors), and the teacher's states (the sources).
#[derive(Debug, Clone, PartialEq)]
pub struct TeacherSequence {
    pub sequence: Sequence,
    pub states: Vec<[f64; 2]>,
}

/// `count` sequences of `steps` steps whose teacher states are drawn from `range`.
pub fn sequences(teacher: &Teacher, range: StateRange, count: usize, steps: usize, seed: u64) -> Vec<TeacherSequence> {
    let mut rng = SplitMix64::new(seed);
    (0..count)
        .map(|_| {
            let states = draw_states(range, steps, &mut rng);
            let inputs = teacher.inputs_for(&states);
            let targets = states
                .iter()
                .map(|&h| teacher.output(h).map(|y| y / STATE_SCALE).to_vec())
                .collect();
            TeacherSequence {
                sequence: Sequence {
                    inputs: inputs.iter().map(|x| x.to_vec()).collect(),
                    targets,
                },
                states,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solved_inputs_put_the_teacher_on_its_targets() {
        let teacher = Teacher::new(4);
        let mut rng = SplitMix64::new(9);
        let targets = draw_states(StateRange::Uniform, 50, &mut rng);
        let reached = teacher.run(&teacher.inputs_for(&targets));
        for (t, r) in targets.iter().zip(&reached) {
            assert!(
                (t[0] - r[0]).abs() < 1e-12 && (t[1] - r[1]).abs() < 1e-12,
                "{t:?} vs {r:?}"
            );
        }
    }

    #[test]
    fn each_condition_samples_its_region() {
        let mut rng = SplitMix64::new(1);
        let scaled = |band: f64| band * STATE_SCALE;
        let cut = draw_states(StateRange::CornerCut { band: 0.4 }, 2000, &mut rng);
        assert!(cut.iter().all(|s| (s[0] - s[1]).abs() < scaled(0.4)));
        assert!(
            cut.iter()
                .all(|s| s[0].abs() <= 0.5 * STATE_SCALE && s[1].abs() <= 0.5 * STATE_SCALE)
        );
        // Redrawing 80% of off-band points: the band's share rises from ≈ 19% (area 1 − 0.9²)
        // to ≈ 0.19 / (0.19 + 0.2 · 0.81) ≈ 54%, and off-band points remain.
        let over = draw_states(
            StateRange::OversampleDiagonal { band: 0.1, redraw: 0.8 },
            20_000,
            &mut rng,
        );
        let in_band = over.iter().filter(|s| (s[0] - s[1]).abs() < scaled(0.1)).count() as f64 / 20_000.0;
        assert!((in_band - 0.54).abs() < 0.02, "{in_band}");
        let both = draw_states(
            StateRange::OversampleDiagonals { band: 0.1, redraw: 0.0 },
            20_000,
            &mut rng,
        );
        let anti = both.iter().filter(|s| (s[0] + s[1]).abs() < scaled(0.1)).count() as f64 / 20_000.0;
        assert!((anti - 0.19).abs() < 0.02, "redraw 0 is the uniform square: {anti}");
    }

    #[test]
    fn conditions_are_checked() {
        assert!(StateRange::CornerCut { band: 0.0 }.check().is_err());
        assert!(
            StateRange::OversampleDiagonal { band: 0.1, redraw: 1.0 }
                .check()
                .is_err()
        );
        assert!(
            StateRange::OversampleDiagonals { band: 0.1, redraw: 0.5 }
                .check()
                .is_ok()
        );
    }

    #[test]
    fn sequences_are_seeded() {
        let teacher = Teacher::new(2);
        let a = sequences(&teacher, StateRange::Uniform, 3, 5, 7);
        assert_eq!(a, sequences(&teacher, StateRange::Uniform, 3, 5, 7));
        assert_ne!(a, sequences(&teacher, StateRange::Uniform, 3, 5, 8));
        assert_eq!(a[0].sequence.inputs.len(), 5);
    }
}
