//! The periodic room of Dorrell et al. 2025, Fig 4 (the authors' `Grid_Warp_Train.ipynb`): an
//! agent walks an L × L torus by four actions from (0, 0); a reward sits at one cell per room,
//! at a fixed cell or uniformly at random. The network must output its position and the
//! displacement from it to the reward, each as a one-hot code of L² cells.

use serde::{Deserialize, Serialize};

use crate::model::action_rnn::Episode;
use crate::rng::SplitMix64;

/// The four moves: +x, −x, +y, −y.
pub const ACTIONS: usize = 4;

/// A cell (x, y) on the torus.
pub type Cell = (usize, usize);

/// Where rewards are placed across rooms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardPlacement {
    /// Probability that a room's reward is at one of `fixed_cells` (chosen uniformly among
    /// them); otherwise it is uniform over all cells.
    pub share_fixed: f64,
    pub fixed_cells: Vec<Cell>,
}

impl RewardPlacement {
    pub fn draw(&self, side: usize, rng: &mut SplitMix64) -> Cell {
        if rng.uniform() < self.share_fixed {
            self.fixed_cells[(rng.next_u64() % self.fixed_cells.len() as u64) as usize]
        } else {
            let k = (rng.next_u64() % (side * side) as u64) as usize;
            (k / side, k % side)
        }
    }
}

/// Moves `cell` by `action` on a torus of `side`.
pub fn step(cell: Cell, action: usize, side: usize) -> Cell {
    let (x, y) = cell;
    match action {
        0 => ((x + 1) % side, y),
        1 => ((x + side - 1) % side, y),
        2 => (x, (y + 1) % side),
        _ => (x, (y + side - 1) % side),
    }
}

/// The index of a cell in one-hot codes (x-major, as the authors' `all_positions`).
pub fn index(cell: Cell, side: usize) -> usize {
    cell.0 * side + cell.1
}

/// The displacement from `position` to `reward`, per axis mod `side`.
pub fn displacement(position: Cell, reward: Cell, side: usize) -> Cell {
    (
        (reward.0 + side - position.0) % side,
        (reward.1 + side - position.1) % side,
    )
}

/// The network's targets at a position: one-hot(position) ‖ one-hot(displacement to reward).
pub fn targets(position: Cell, reward: Cell, side: usize) -> Vec<f64> {
    let cells = side * side;
    let mut t = vec![0.0; 2 * cells];
    t[index(position, side)] = 1.0;
    t[cells + index(displacement(position, reward, side), side)] = 1.0;
    t
}

/// One room: its reward and a walk of `actions` from (0, 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Walk {
    pub reward: Cell,
    pub actions: Vec<usize>,
}

impl Walk {
    /// The walk as the network sees it: the reward's cell one-hot at t = 0, the actions, and
    /// [`targets`] at every cell visited.
    pub fn episode(&self, side: usize) -> Episode {
        Episode {
            active_inputs: vec![index(self.reward, side)],
            actions: self.actions.clone(),
            targets: self
                .cells(side)
                .into_iter()
                .flat_map(|c| targets(c, self.reward, side))
                .collect(),
        }
    }

    /// The cells visited: (0, 0), then one per action.
    pub fn cells(&self, side: usize) -> Vec<Cell> {
        let mut cells = vec![(0, 0)];
        for &a in &self.actions {
            cells.push(step(*cells.last().expect("starts non-empty"), a, side));
        }
        cells
    }
}

/// `rooms` walks of `steps` uniformly random actions, rewards placed by `placement`.
pub fn random_walks(
    rooms: usize,
    steps: usize,
    side: usize,
    placement: &RewardPlacement,
    rng: &mut SplitMix64,
) -> Vec<Walk> {
    (0..rooms)
        .map(|_| Walk {
            reward: placement.draw(side, rng),
            actions: (0..steps).map(|_| (rng.next_u64() % ACTIONS as u64) as usize).collect(),
        })
        .collect()
}

/// A fixed walk from (0, 0) that visits every cell of the torus once: along y, then one step in
/// x (a boustrophedon path), `side² − 1` actions.
pub fn covering_walk(side: usize) -> Vec<usize> {
    let mut actions = Vec::new();
    for x in 0..side {
        let along = if x % 2 == 0 { 2 } else { 3 };
        actions.extend(std::iter::repeat_n(along, side - 1));
        if x + 1 < side {
            actions.push(0);
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_covering_walk_visits_every_cell_once() {
        for side in [2, 3, 4] {
            let walk = Walk {
                reward: (0, 0),
                actions: covering_walk(side),
            };
            let mut cells: Vec<usize> = walk.cells(side).iter().map(|&c| index(c, side)).collect();
            cells.sort();
            assert_eq!(cells, (0..side * side).collect::<Vec<_>>());
        }
    }

    #[test]
    fn moves_wrap_around_and_displacements_are_mod_side() {
        assert_eq!(step((2, 0), 0, 3), (0, 0));
        assert_eq!(step((0, 0), 3, 3), (0, 2));
        assert_eq!(displacement((2, 0), (1, 1), 3), (2, 1));
        let t = targets((2, 0), (1, 1), 3);
        assert_eq!(t.iter().sum::<f64>(), 2.0);
        assert_eq!(t[6], 1.0); // position (2, 0)
        assert_eq!(t[9 + 7], 1.0); // displacement (2, 1)
    }

    #[test]
    fn rewards_follow_the_placement() {
        let mut rng = SplitMix64::new(4);
        let always = RewardPlacement {
            share_fixed: 1.0,
            fixed_cells: vec![(0, 0), (1, 1)],
        };
        let draws: Vec<Cell> = (0..1000).map(|_| always.draw(3, &mut rng)).collect();
        assert!(draws.iter().all(|&c| c == (1, 1) || c == (0, 0)));
        let at_first = draws.iter().filter(|&&c| c == (0, 0)).count();
        assert!((400..600).contains(&at_first), "{at_first}");
        let never = RewardPlacement {
            share_fixed: 0.0,
            fixed_cells: vec![(1, 1)],
        };
        let at_fixed = (0..9000).filter(|_| never.draw(3, &mut rng) == (1, 1)).count();
        assert!((800..1200).contains(&at_fixed), "{at_fixed}");
    }
}
