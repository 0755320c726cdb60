//! Data generators and loaders, each seeded explicitly.

pub mod grid3d;
pub mod points;
pub mod points_file;
