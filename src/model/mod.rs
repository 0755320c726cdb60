//! Burn modules and their training loops. Knows nothing of specs or files.

pub mod classifier;
pub mod linear_ae;
pub mod mlp_ae;
pub mod rate_rnn;
pub mod what_where;
