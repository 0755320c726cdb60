//! The two tasks of Krause et al. 2022, as trials of inputs and targets (seeded).
//!
//! - Context-dependent integration (Mante et al. 2013): 5 inputs — two sensory, two one-hot
//!   context channels on for the whole trial, one always 0; 650 steps of context only, then 750
//!   of stimulus, where each sensory input is its coherence + N(0, 1) noise per step
//!   (coherences {±0.5, ±0.12, ±0.03} × 0.3). Target: 0 in the context period, then
//!   y_t = clip(y_{t−1} + 0.02·u_relevant,t, ±1), staying at ±1 once reached.
//! - Sine-wave generation (Sussillo & Barak 2013): one static input u = j/51 + 0.25 for
//!   j = 1…51, frequency 1 + 0.1 (j − 1) Hz; target sin(2π f t) for t = 1…500 ms.

use crate::rng::SplitMix64;

pub const CONTEXT_STEPS: usize = 650;
pub const STIMULUS_STEPS: usize = 750;
pub const SINE_STEPS: usize = 500;
pub const COHERENCES: [f64; 6] = [-0.5 * 0.3, -0.12 * 0.3, -0.03 * 0.3, 0.03 * 0.3, 0.12 * 0.3, 0.5 * 0.3];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Task {
    ContextIntegration,
    SineWave,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    pub inputs: Vec<Vec<f64>>,
    pub targets: Vec<f64>,
    /// Which initial-state column (context) the trial starts from.
    pub context: usize,
}

/// An integration trial; `noisy = false` gives the condition's mean input (for averages).
pub fn integration_trial(context: usize, coherence: [f64; 2], noisy: bool, rng: &mut SplitMix64) -> Trial {
    let total = CONTEXT_STEPS + STIMULUS_STEPS;
    let mut inputs = Vec::with_capacity(total);
    let mut targets = Vec::with_capacity(total);
    let mut y: f64 = 0.0;
    for t in 0..total {
        let mut u = vec![0.0; 5];
        u[2 + context] = 1.0;
        if t >= CONTEXT_STEPS {
            for s in 0..2 {
                u[s] = coherence[s] + if noisy { rng.normal() } else { 0.0 };
            }
            if y.abs() < 1.0 {
                y = (y + 0.02 * u[context]).clamp(-1.0, 1.0);
            }
        }
        inputs.push(u);
        targets.push(y);
    }
    Trial {
        inputs,
        targets,
        context,
    }
}

/// The evaluation set: `repeats` trials per relevant coherence and context, the irrelevant
/// coherence drawn at random.
pub fn integration_evaluation(repeats: usize, seed: u64) -> Vec<Trial> {
    let mut rng = SplitMix64::new(seed);
    let mut trials = Vec::new();
    for context in 0..2 {
        for &relevant in &COHERENCES {
            for _ in 0..repeats {
                let irrelevant = COHERENCES[(rng.next_u64() % 6) as usize];
                let coherence = if context == 0 {
                    [relevant, irrelevant]
                } else {
                    [irrelevant, relevant]
                };
                trials.push(integration_trial(context, coherence, true, &mut rng));
            }
        }
    }
    trials
}

pub fn sine_trial(j: usize) -> Trial {
    let u = j as f64 / 51.0 + 0.25;
    let f = 1.0 + 0.1 * (j as f64 - 1.0);
    let targets = (1..=SINE_STEPS)
        .map(|t| (2.0 * std::f64::consts::PI * f * t as f64 / 1000.0).sin())
        .collect();
    Trial {
        inputs: vec![vec![u]; SINE_STEPS],
        targets,
        context: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_target_integrates_the_relevant_input_and_clips() {
        let mut rng = SplitMix64::new(0);
        let trial = integration_trial(1, [0.0, 0.15], false, &mut rng);
        assert_eq!(trial.inputs.len(), 1400);
        assert_eq!(trial.targets[649], 0.0);
        // Noiseless: y grows by 0.02·0.15 per step from step 650.
        assert!((trial.targets[650] - 0.003).abs() < 1e-12);
        assert!((trial.targets[659] - 0.03).abs() < 1e-12);
        assert_eq!(trial.inputs[10][3], 1.0);
        assert_eq!(trial.inputs[10][0], 0.0);
        let strong = integration_trial(0, [1.0, 0.0], false, &mut rng);
        assert_eq!(*strong.targets.last().unwrap(), 1.0);
    }

    #[test]
    fn sine_trial_by_hand() {
        let trial = sine_trial(1);
        assert!((trial.inputs[0][0] - (1.0 / 51.0 + 0.25)).abs() < 1e-15);
        assert!((trial.targets[249] - (2.0 * std::f64::consts::PI * 0.25).sin()).abs() < 1e-12);
    }
}
