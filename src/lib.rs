//! modrepro: regenerates the figures and tables of three papers on modularity in neural
//! networks from declarative RON specs, and checks the papers' claims against measurements.
//!
//! Data flows one way: `spec` → `plan` → `cache` / `execute` (`model`) → `experiments`
//! (`analysis`) → `render` / `verify`. `analysis` knows nothing of Burn, `model` nothing of
//! RON, and `cli` only wires the pieces together.

pub mod analysis;
pub mod backend;
pub mod cache;
pub mod cli;
pub mod data;
pub mod execute;
pub mod experiments;
pub mod fsutil;
pub mod gaussian_noise;
pub mod model;
pub mod own_data;
pub mod own_mlp;
pub mod own_rnn;
pub mod pipeline;
pub mod plan;
pub mod render;
pub mod rng;
pub mod slurm;
pub mod spec;
pub mod verify;

/// Bumped whenever a change alters any number the harness produces (a generator, an
/// initialisation, the training loop). Part of every cache key.
pub const NUMERICS_VERSION: u32 = 1;

/// Bumped whenever a change alters what is computed from trained runs: a measurement, a
/// summary (table, figure, measured values) or an analysis. Part of every artefact summary's
/// cache key, so the next run recomputes summaries (never retrains). Claims are not part of it:
/// they are evaluated afresh on every run. 7: Fig 1c's `cinfom_separation`. 8: faer's
/// eigensolver for the spectral start of modularity clustering and SVD-based R² for the linear
/// information metrics (were Jacobi rotations and normal equations). 9: Fig 2 centre's
/// `min_group_kept_share`. 10: the Monte Carlo clustering reads an emptied cluster from its
/// unit count, not from a summed degree of exactly 0 (rounding residues had made phantom
/// clusters, and at the Lange paper profile a panic). 11: Lange's association matrices summed
/// as matrix products over blocks of samples (were per-sample loops; the last bits differ), and
/// the Krause analysis's noise drawn by erfinv (its own ANALYSIS_VERSION 6). 12: the Krause
/// analysis's tanh is `portable_tanh` (its own ANALYSIS_VERSION 7).
pub const ANALYSIS_VERSION: u32 = 12;

/// Bumped whenever a change alters how figures are drawn (layout, legends, colours). An
/// unchanged rerun redraws an artefact's figure when its manifest names another version.
pub const RENDER_VERSION: u32 = 2;
