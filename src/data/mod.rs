//! Data generators and loaders, each seeded explicitly.

pub mod frequency_task;
pub mod grid3d;
pub mod grid_room;
pub mod inputs;
pub mod isaac3d;
pub mod krause_tasks;
pub mod mnist;
pub mod mnist_cache;
pub mod npy;
pub mod npz;
pub mod object_room;
pub mod points;
pub mod points_file;
pub mod teacher_rnn;
pub mod what_where;
