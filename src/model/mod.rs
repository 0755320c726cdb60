//! Burn modules and their training loops. Knows nothing of specs or files.

pub mod linear_ae;
