//! Expansion of a spec into fully resolved runs: sweep points × seeds × the experiment's own
//! runs, each with its cache key.

use std::collections::BTreeMap;

use crate::backend::Backend;
use crate::cache::RunKey;
use crate::data::inputs::InputDigests;
use crate::experiments::{Experiment, RunRecipe};
use crate::spec::load::{resolve, seeds_for, sweep_points};
use crate::spec::{LoadedSpec, Profile};

#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// Sweep parameter → value, as text (for tables).
    pub sweep: BTreeMap<String, String>,
    pub seed: u64,
    /// The experiment's label for the run (e.g. which data set).
    pub label: BTreeMap<String, String>,
    pub recipe: RunRecipe,
    pub key: RunKey,
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// The experiment at the profile, before sweep values (used to summarise).
    pub experiment: Experiment,
    pub runs: Vec<PlannedRun>,
}

/// A deterministic subset of the runs: those whose position modulo `count` is `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    /// `i/n` with 1 ≤ i ≤ n (one-based, as Slurm array indices usually are).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (i, n) = s.split_once('/').ok_or("expected i/n, e.g. 2/8")?;
        let (i, n): (usize, usize) = (
            i.parse().map_err(|_| "i is not a number")?,
            n.parse().map_err(|_| "n is not a number")?,
        );
        if n == 0 || i == 0 || i > n {
            return Err(format!("need 1 ≤ i ≤ n, got {i}/{n}"));
        }
        Ok(Shard { index: i - 1, count: n })
    }
}

pub fn expand(loaded: &LoadedSpec, profile: Profile, backend: Backend) -> Plan {
    let spec = &loaded.spec;
    let experiment = resolve(spec, profile, &Vec::new()).expect("validated at load");
    let mut runs = Vec::new();
    let mut inputs = InputDigests::default();
    for point in sweep_points(spec) {
        let resolved = resolve(spec, profile, &point).expect("validated at load");
        // The step before planning: the only file reads; `runs` sees digests.
        inputs.read(&resolved.inputs());
        let sweep: BTreeMap<String, String> = point.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
        for seed in seeds_for(spec, profile).expect("validated at load") {
            for slot in resolved.runs(seed, &inputs) {
                let key = RunKey::of(&slot.recipe, crate::NUMERICS_VERSION, backend.name());
                runs.push(PlannedRun {
                    sweep: sweep.clone(),
                    seed,
                    label: slot.label,
                    recipe: slot.recipe,
                    key,
                });
            }
        }
    }
    Plan { experiment, runs }
}

impl Plan {
    /// The runs of shard `shard`: runs are dealt to shards by estimated cost, the costliest
    /// first, each to the shard with the least cost so far (ties: the lower shard, then plan
    /// order). Every task of a job array computes the same deal from the same plan, so shards
    /// are disjoint and cover the plan.
    pub fn shard(mut self, shard: Shard, cost: impl Fn(&PlannedRun) -> u64) -> Self {
        let owners = deal(&self.runs.iter().map(cost).collect::<Vec<_>>(), shard.count);
        self.runs = self
            .runs
            .into_iter()
            .zip(owners)
            .filter(|(_, owner)| *owner == shard.index)
            .map(|(r, _)| r)
            .collect();
        self
    }
}

/// Which of `count` shards each job goes to (longest processing time first).
pub fn deal(costs: &[u64], count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..costs.len()).collect();
    order.sort_by(|&a, &b| costs[b].cmp(&costs[a]).then(a.cmp(&b)));
    let mut load = vec![0u64; count.max(1)];
    let mut owners = vec![0; costs.len()];
    for job in order {
        let lightest = (0..load.len())
            .min_by_key(|&s| (load[s], s))
            .expect("at least one shard");
        load[lightest] += costs[job].max(1);
        owners[job] = lightest;
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_one_based() {
        assert_eq!("2/8".parse::<Shard>(), Ok(Shard { index: 1, count: 8 }));
        assert!("0/8".parse::<Shard>().is_err());
        assert!("9/8".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }

    #[test]
    fn shards_balance_cost_not_count() {
        // One long run and four short ones over two shards: the long one alone, the rest together.
        let owners = deal(&[100, 10, 10, 10, 10], 2);
        assert_eq!(owners, vec![0, 1, 1, 1, 1]);
        // Every job is dealt once, deterministically.
        let costs: Vec<u64> = (0..50).map(|k| (k * 37 % 11) as u64).collect();
        assert_eq!(deal(&costs, 3), deal(&costs, 3));
        let loads = (0..3).map(|s| {
            deal(&costs, 3)
                .iter()
                .zip(&costs)
                .filter(|(o, _)| **o == s)
                .map(|(_, c)| c.max(&1))
                .sum::<u64>()
        });
        let loads: Vec<u64> = loads.collect();
        let (lo, hi) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
        assert!(hi - lo <= 10, "{loads:?}");
    }
}
