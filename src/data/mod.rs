//! Data generators and loaders, each seeded explicitly.

pub mod points;
pub mod points_file;
