//! Pure functions on plain arrays: the theory's condition and the metrics. Nothing here knows
//! about Burn, specs or files.

pub mod associations;
pub mod info_metrics;
pub mod linalg;
pub mod linear_info;
pub mod mixing;
pub mod modularity;
pub mod multiinfo;
pub mod mutual_info;
pub mod operative_dims;
pub mod operative_rows;
pub mod partition_similarity;
pub mod spectral;
pub mod stats;
pub mod theory;
