//! The rooms of Dorrell et al. 2025, Fig 5 (the authors' `Correlated_Missing_Vars_Train.ipynb`):
//! a periodic 3 × 3 room holds 3 objects; in some rooms they are placed independently, in the
//! others in a correlated layout (object k one cell diagonally on from object k − 1). At every
//! cell the network reports, per object, which way to go along the axis on which the object is
//! farther: two outputs per object, one of them ±1 and the other 0.
//!
//! As the notebook, objects sit half a cell off the grid (cell − ½), so no object is ever on the
//! agent's cell and every displacement coordinate is ±½ or ±3⁄2 after wrapping.

use serde::{Deserialize, Serialize};

use crate::data::grid_room::{ACTIONS, Cell, covering_walk, index, step};
use crate::model::action_rnn::Episode;
use crate::rng::SplitMix64;

/// Objects per room (the notebook's code is written for 3).
pub const OBJECTS: usize = 3;

/// A room's object cells, object 0 first.
pub type Layout = [Cell; OBJECTS];

/// How a room's objects are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Placement {
    Independent,
    /// Object k at object k − 1 + (1, 1), wrapped.
    Correlated,
}

/// Draws a room: correlated with probability `share_correlated`.
pub fn draw_room(side: usize, share_correlated: f64, rng: &mut SplitMix64) -> (Placement, Layout) {
    let cell = |rng: &mut SplitMix64| {
        (
            (rng.next_u64() % side as u64) as usize,
            (rng.next_u64() % side as u64) as usize,
        )
    };
    if rng.uniform() < share_correlated {
        let first = cell(rng);
        let layout = std::array::from_fn(|k| ((first.0 + k) % side, (first.1 + k) % side));
        (Placement::Correlated, layout)
    } else {
        (Placement::Independent, std::array::from_fn(|_| cell(rng)))
    }
}

/// The signed displacement from the agent's cell to an object that sits at its cell − ½, each
/// coordinate wrapped as the notebook (above side/2: − side; below −side/2: + side), returned
/// doubled so that it stays an integer (±1 or ±3 in a room of side 3).
pub fn displacement_doubled(agent: Cell, object: Cell, side: usize) -> (i64, i64) {
    let axis = |a: usize, o: usize| {
        let (side2, mut d) = (2 * side as i64, 2 * o as i64 - 1 - 2 * a as i64);
        if d > side as i64 {
            d -= side2;
        } else if d < -(side as i64) {
            d += side2;
        }
        d
    };
    (axis(agent.0, object.0), axis(agent.1, object.1))
}

/// The two outputs for one object: along the farther axis (y on a tie), −1 if the object lies
/// in the positive direction and +1 otherwise (the notebook's signs); 0 on the other axis.
pub fn direction_labels(agent: Cell, object: Cell, side: usize) -> [f64; 2] {
    let (dx, dy) = displacement_doubled(agent, object, side);
    let sign = |d: i64| if d > 0 { -1.0 } else { 1.0 };
    if dx.abs() > dy.abs() {
        [sign(dx), 0.0]
    } else {
        [0.0, sign(dy)]
    }
}

/// A label for an object's displacement from the agent (16 values in a room of side 3), for
/// the information metrics.
pub fn displacement_class(agent: Cell, object: Cell, side: usize) -> u32 {
    let (dx, dy) = displacement_doubled(agent, object, side);
    let shift = side as i64;
    ((dx + shift) * (2 * shift + 1) + (dy + shift)) as u32
}

/// One walk in a room as the network sees it: each object's cell one-hot (object k's block of
/// `side²` inputs) at t = 0, the actions, and every object's two direction labels at each cell.
pub fn episode(layout: &Layout, actions: &[usize], side: usize) -> Episode {
    let cells = side * side;
    let mut agent = (0, 0);
    let mut visited = vec![agent];
    for &a in actions {
        agent = step(agent, a, side);
        visited.push(agent);
    }
    Episode {
        active_inputs: layout
            .iter()
            .enumerate()
            .map(|(k, &c)| k * cells + index(c, side))
            .collect(),
        actions: actions.to_vec(),
        targets: visited
            .iter()
            .flat_map(|&at| layout.iter().flat_map(move |&o| direction_labels(at, o, side)))
            .collect(),
    }
}

/// The cells an episode visits, (0, 0) first.
pub fn visited(actions: &[usize], side: usize) -> Vec<Cell> {
    let mut cells = vec![(0, 0)];
    for &a in actions {
        cells.push(step(*cells.last().expect("starts non-empty"), a, side));
    }
    cells
}

/// A training batch: `rooms` rooms of `steps` random actions each.
pub fn random_episodes(
    rooms: usize,
    steps: usize,
    side: usize,
    share_correlated: f64,
    rng: &mut SplitMix64,
) -> Vec<Episode> {
    (0..rooms)
        .map(|_| {
            let (_, layout) = draw_room(side, share_correlated, rng);
            let actions: Vec<usize> = (0..steps).map(|_| (rng.next_u64() % ACTIONS as u64) as usize).collect();
            episode(&layout, &actions, side)
        })
        .collect()
}

/// An evaluation room: its layout walked along a path that visits every cell once.
pub fn covering_episode(layout: &Layout, side: usize) -> Episode {
    episode(layout, &covering_walk(side), side)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displacements_wrap_to_the_nearer_image_as_the_notebook() {
        // Object at cell 2 (position 1.5), agent at 0: 1.5 stays (not > 1.5) → doubled 3.
        assert_eq!(displacement_doubled((0, 0), (2, 2), 3), (3, 3));
        // Object at cell 0 (−0.5), agent at 2: −2.5 < −1.5 → +0.5.
        assert_eq!(displacement_doubled((2, 2), (0, 0), 3), (1, 1));
        // Object at cell 1 (0.5), agent at 2: −1.5 stays.
        assert_eq!(displacement_doubled((2, 0), (1, 1), 3), (-3, 1));
    }

    #[test]
    fn labels_point_along_the_farther_axis_and_ties_go_to_y() {
        // dx = −3 (farther), dy = +1: x label +1 (object in the negative direction).
        assert_eq!(direction_labels((2, 0), (1, 1), 3), [1.0, 0.0]);
        // dx = dy = 3: tie → y, object in the positive direction → −1.
        assert_eq!(direction_labels((0, 0), (2, 2), 3), [0.0, -1.0]);
    }

    #[test]
    fn correlated_rooms_step_diagonally_and_independent_ones_do_not_always() {
        let mut rng = SplitMix64::new(3);
        let mut independent_off_diagonal = false;
        for _ in 0..200 {
            match draw_room(3, 0.5, &mut rng) {
                (Placement::Correlated, l) => {
                    assert_eq!(l[1], ((l[0].0 + 1) % 3, (l[0].1 + 1) % 3));
                    assert_eq!(l[2], ((l[0].0 + 2) % 3, (l[0].1 + 2) % 3));
                }
                (Placement::Independent, l) => {
                    independent_off_diagonal |= l[1] != ((l[0].0 + 1) % 3, (l[0].1 + 1) % 3);
                }
            }
        }
        assert!(independent_off_diagonal);
    }

    #[test]
    fn an_episode_has_one_hot_objects_and_six_labels_per_state() {
        let layout = [(0, 0), (1, 1), (2, 2)];
        let e = covering_episode(&layout, 3);
        assert_eq!(e.active_inputs, vec![0, 9 + 4, 18 + 8]);
        assert_eq!(e.targets.len(), 9 * 6);
        // Each object: exactly one of its two labels is ±1.
        for state in e.targets.chunks(6) {
            for object in state.chunks(2) {
                assert_eq!(object.iter().filter(|v| v.abs() == 1.0).count(), 1, "{state:?}");
            }
        }
        assert_eq!(visited(&e.actions, 3).len(), 9);
    }

    #[test]
    fn displacement_classes_take_sixteen_values_on_a_three_room() {
        let mut classes: Vec<u32> = (0..9)
            .flat_map(|a| (0..9).map(move |o| displacement_class((a / 3, a % 3), (o / 3, o % 3), 3)))
            .collect();
        classes.sort();
        classes.dedup();
        assert_eq!(classes.len(), 16);
    }
}
