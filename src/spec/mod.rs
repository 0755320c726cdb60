//! Specs: the RON files under `specs/` that describe each figure and table.

pub mod domain;
pub mod load;
pub mod schema;

pub use load::{ArtefactId, LoadedSpec, SpecError, load};
pub use schema::{Claim, Expectation, Paper, Profile, Spec};
