//! Seeded generators of 2-D source point sets (Dorrell et al. 2025, Fig 1c and 1d).

use serde::{Deserialize, Serialize};

use crate::analysis::theory::{AngleGrid, Verdict, check_two_sources};
use crate::rng::SplitMix64;

/// How to make one run's point set. Part of the run's hash: everything that decides the
/// points is here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum PointRecipe {
    /// Set `index` of a family of sets of `n_points` uniform on [0,1]², redrawn until the
    /// theory's verdict is `required` (if given): the authors alternate modular and mixed sets
    /// this way so that both verdicts are equally represented (`Figure 1d.ipynb`).
    UniformWithVerdict {
        n_points: usize,
        data_seed: u64,
        index: u64,
        required: Option<Verdict>,
    },
    /// Two sets that differ by one point and fall on opposite sides of the condition: the
    /// `Modular` member has `n_points`, the `Mixed` member is the same set less one point.
    OnePointApart {
        n_points: usize,
        data_seed: u64,
        member: Verdict,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("no point set satisfying the request after {attempts} draws ({what}); try another data_seed or n_points")]
    Exhausted { attempts: usize, what: String },
}

const MAX_ATTEMPTS: usize = 100_000;

fn uniform_set(rng: &mut SplitMix64, n: usize) -> Vec<[f64; 2]> {
    (0..n).map(|_| [rng.uniform(), rng.uniform()]).collect()
}

fn verdict(points: &[[f64; 2]]) -> Verdict {
    check_two_sources(points, AngleGrid::default())
        .expect("generated points are finite")
        .verdict
}

impl PointRecipe {
    pub fn n_points(&self) -> usize {
        match self {
            PointRecipe::UniformWithVerdict { n_points, .. } => *n_points,
            PointRecipe::OnePointApart { n_points, member, .. } => match member {
                Verdict::Modular => *n_points,
                Verdict::Mixed => n_points - 1,
            },
        }
    }

    pub fn generate(&self) -> Result<Vec<[f64; 2]>, GenerateError> {
        match *self {
            PointRecipe::UniformWithVerdict {
                n_points,
                data_seed,
                index,
                required,
            } => {
                let mut rng = SplitMix64::derive(data_seed, index);
                for _ in 0..MAX_ATTEMPTS {
                    let set = uniform_set(&mut rng, n_points);
                    if required.is_none_or(|v| verdict(&set) == v) {
                        return Ok(set);
                    }
                }
                Err(GenerateError::Exhausted {
                    attempts: MAX_ATTEMPTS,
                    what: format!("{n_points} uniform points, verdict {required:?}"),
                })
            }
            PointRecipe::OnePointApart {
                n_points,
                data_seed,
                member,
            } => {
                let (full, removed) = one_point_apart(n_points, data_seed)?;
                Ok(match member {
                    Verdict::Modular => full,
                    Verdict::Mixed => full
                        .iter()
                        .enumerate()
                        .filter(|&(k, _)| k != removed)
                        .map(|(_, p)| *p)
                        .collect(),
                })
            }
        }
    }
}

/// Draws uniform sets until one is modular and loses that by removing a single point; returns
/// the set and the index of that point (the first such index).
fn one_point_apart(n_points: usize, data_seed: u64) -> Result<(Vec<[f64; 2]>, usize), GenerateError> {
    for attempt in 0..MAX_ATTEMPTS as u64 {
        let mut rng = SplitMix64::derive(data_seed, attempt);
        let set = uniform_set(&mut rng, n_points);
        if verdict(&set) != Verdict::Modular {
            continue;
        }
        for k in 0..n_points {
            let less: Vec<[f64; 2]> = set
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != k)
                .map(|(_, p)| *p)
                .collect();
            if verdict(&less) == Verdict::Mixed {
                return Ok((set, k));
            }
        }
    }
    Err(GenerateError::Exhausted {
        attempts: MAX_ATTEMPTS,
        what: format!("{n_points} points one point apart"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_point_apart_members_differ_by_one_point_and_straddle_the_condition() {
        let modular = PointRecipe::OnePointApart {
            n_points: 28,
            data_seed: 1,
            member: Verdict::Modular,
        };
        let mixed = PointRecipe::OnePointApart {
            n_points: 28,
            data_seed: 1,
            member: Verdict::Mixed,
        };
        let (a, b) = (modular.generate().unwrap(), mixed.generate().unwrap());
        assert_eq!((a.len(), b.len()), (28, 27));
        assert!(b.iter().all(|p| a.contains(p)));
        assert_eq!(verdict(&a), Verdict::Modular);
        assert_eq!(verdict(&b), Verdict::Mixed);
    }

    #[test]
    fn uniform_sets_honour_the_required_verdict_and_are_seeded() {
        for (index, want) in [(0, Verdict::Modular), (1, Verdict::Mixed)] {
            let recipe = PointRecipe::UniformWithVerdict {
                n_points: 32,
                data_seed: 5,
                index,
                required: Some(want),
            };
            let set = recipe.generate().unwrap();
            assert_eq!(set.len(), 32);
            assert_eq!(verdict(&set), want);
            assert_eq!(set, recipe.generate().unwrap());
            assert!(set.iter().flatten().all(|v| (0.0..1.0).contains(v)));
        }
    }
}
