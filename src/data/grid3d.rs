//! Three discrete sources on a regular grid over [0,1]³, with manipulations of their joint
//! distribution (Dorrell et al. 2025, Fig 2 centre). Each sample keeps its grid indices as
//! the sources' discrete labels.
//!
//! - `Untouched`: every grid point once.
//! - `Corner { cut }`: keep points with s₁ + s₂ + s₃ ≥ cut (boundary kept): removes the corner
//!   at the origin, so the sources' joint *range* shrinks and they become dependent.
//! - `DiagonalRemove { radius }`: remove points closer than `radius` to the main diagonal
//!   s₁ = s₂ = s₃, except its two end points (0,0,0) and (1,1,1). Every corner of the cube stays,
//!   so the convex hull (the range) is intact while the sources become dependent.
//! - `DiagonalStrengthen { radius, copies }`: points closer than `radius` to the diagonal appear
//!   `copies` extra times: dependence without touching the range.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Manipulation {
    Untouched,
    Corner { cut: f64 },
    DiagonalRemove { radius: f64 },
    DiagonalStrengthen { radius: f64, copies: usize },
}

/// Samples of the sources: grid labels and values.
#[derive(Debug, Clone, PartialEq)]
pub struct GridSamples {
    pub labels: Vec<Vec<u32>>,
    pub values: Vec<Vec<f64>>,
}

/// Tolerance for boundary comparisons on grid values (k/(n−1) are not exact in binary).
const EPS: f64 = 1e-9;

fn distance_to_diagonal(p: [f64; 3]) -> f64 {
    let t = (p[0] + p[1] + p[2]) / 3.0;
    ((p[0] - t).powi(2) + (p[1] - t).powi(2) + (p[2] - t).powi(2)).sqrt()
}

pub fn generate(values_per_source: usize, manipulation: &Manipulation) -> GridSamples {
    assert!(values_per_source >= 2, "a grid needs at least 2 values per source");
    let step = 1.0 / (values_per_source - 1) as f64;
    let top = (values_per_source - 1) as u32;
    let mut samples = GridSamples {
        labels: Vec::new(),
        values: Vec::new(),
    };
    for a in 0..=top {
        for b in 0..=top {
            for c in 0..=top {
                let p = [a as f64 * step, b as f64 * step, c as f64 * step];
                let on_diagonal_end = (a == b && b == c) && (a == 0 || a == top);
                let copies = match *manipulation {
                    Manipulation::Untouched => 1,
                    Manipulation::Corner { cut } => usize::from(p[0] + p[1] + p[2] >= cut - EPS),
                    Manipulation::DiagonalRemove { radius } => {
                        usize::from(on_diagonal_end || distance_to_diagonal(p) >= radius - EPS)
                    }
                    Manipulation::DiagonalStrengthen { radius, copies } => {
                        if distance_to_diagonal(p) < radius - EPS {
                            1 + copies
                        } else {
                            1
                        }
                    }
                };
                for _ in 0..copies {
                    samples.labels.push(vec![a, b, c]);
                    samples.values.push(p.to_vec());
                }
            }
        }
    }
    samples
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_grid_has_every_point_once() {
        let g = generate(21, &Manipulation::Untouched);
        assert_eq!(g.labels.len(), 9261);
        assert_eq!(g.values[9260], vec![1.0, 1.0, 1.0]);
    }

    #[test]
    fn corner_cut_keeps_the_boundary() {
        // 3 values per source: sums of labels 0..6 in steps of ½; cut 0.5 drops only the
        // origin (sum 0), the boundary points with sum exactly ½ stay.
        let g = generate(3, &Manipulation::Corner { cut: 0.5 });
        assert_eq!(g.labels.len(), 26);
        assert!(!g.labels.contains(&vec![0, 0, 0]));
        assert!(g.labels.contains(&vec![1, 0, 0]));
    }

    #[test]
    fn diagonal_removal_keeps_every_corner_of_the_cube() {
        let g = generate(5, &Manipulation::DiagonalRemove { radius: 0.3 });
        for corner in [[0, 0, 0], [4, 4, 4], [4, 0, 0], [0, 4, 4]] {
            assert!(g.labels.contains(&corner.to_vec()), "{corner:?}");
        }
        assert!(!g.labels.contains(&vec![2, 2, 2]));
        assert!(g.labels.len() < 125);
    }

    #[test]
    fn strengthening_duplicates_points_near_the_diagonal() {
        let g = generate(5, &Manipulation::DiagonalStrengthen { radius: 0.1, copies: 2 });
        // The 5 diagonal points are the only ones within 0.1: each appears 3 times.
        assert_eq!(g.labels.len(), 125 + 5 * 2);
        assert_eq!(g.labels.iter().filter(|l| **l == vec![2, 2, 2]).count(), 3);
    }
}
