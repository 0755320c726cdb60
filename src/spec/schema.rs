//! The RON schema of a spec: one figure or table of one paper.
//!
//! Every struct rejects unknown fields, so a typo is an error, never a silently ignored
//! setting. A spec names the experiment and its parameters, how profiles change step counts
//! and sizes, optional sweep axes, the seeds, and the paper's claims.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::experiments::Experiment;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Paper {
    /// Dorrell, Hsu, Hollingsworth, Bhatt, Behrens, Whittington. ICLR 2025.
    Dorrell2025,
    /// Krause, Lange, Bhatt, Kording. NeurIPS 2022.
    Krause2022,
    /// Lange, Rolnick, Kording. TMLR 2022.
    Lange2022,
}

impl Paper {
    pub fn citation(self) -> &'static str {
        match self {
            Paper::Dorrell2025 => "Dorrell et al., ICLR 2025 — Range, not Independence, Drives Modularity",
            Paper::Krause2022 => {
                "Krause et al., NeurIPS 2022 — Operative dimensions in unconstrained connectivity of RNNs"
            }
            Paper::Lange2022 => "Lange, Rolnick & Kording, TMLR 2022 — Clustering units in neural networks",
        }
    }
}

/// How much work a run does. Profiles change step counts and sizes, never the science.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Seconds: for the test suite.
    Smoke,
    /// Minutes on a laptop CPU; the default, and what CI verifies.
    Quick,
    /// The published settings.
    Paper,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Smoke => "smoke",
            Profile::Quick => "quick",
            Profile::Paper => "paper",
        }
    }
}

/// A value a sweep or a profile may set: a scalar or a list of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<Scalar>),
}

impl Scalar {
    /// Whether every number in it is finite (JSON, and so a run's recipe, has no NaN or ∞).
    pub fn is_finite(&self) -> bool {
        match self {
            Scalar::Float(f) => f.is_finite(),
            Scalar::List(items) => items.iter().all(Scalar::is_finite),
            _ => true,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Scalar::Bool(b) => serde_json::Value::Bool(*b),
            Scalar::Int(i) => serde_json::Value::from(*i),
            Scalar::Float(f) => serde_json::Value::from(*f),
            Scalar::Text(s) => serde_json::Value::from(s.clone()),
            Scalar::List(items) => serde_json::Value::Array(items.iter().map(Scalar::to_json).collect()),
        }
    }
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Bool(b) => write!(f, "{b}"),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Text(s) => write!(f, "{s}"),
            Scalar::List(items) => {
                let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
                write!(f, "[{}]", parts.join(" "))
            }
        }
    }
}

/// One sweep axis: a dotted path into the experiment's parameters and the values it takes.
/// Several axes form their cartesian product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepAxis {
    pub param: String,
    pub values: Vec<Scalar>,
}

/// What a claim expects of its measured value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Expectation {
    /// measured ≥ bound
    AtLeast(f64),
    /// measured ≤ bound
    AtMost(f64),
    /// |measured| ≤ bound
    AbsAtMost(f64),
    /// |measured − value| ≤ tolerance
    Near { value: f64, tolerance: f64 },
}

impl Expectation {
    /// Whether the expectation can be evaluated: finite bounds, a tolerance ≥ 0.
    pub fn check(self) -> Result<(), String> {
        let finite = |x: f64| x.is_finite();
        match self {
            Expectation::AtLeast(b) | Expectation::AtMost(b) if !finite(b) => {
                Err(format!("the bound {b} is not a finite number"))
            }
            Expectation::AbsAtMost(b) if !finite(b) || b < 0.0 => {
                Err(format!("`AbsAtMost({b})` needs a finite bound ≥ 0"))
            }
            Expectation::Near { value, tolerance } if !finite(value) || !finite(tolerance) || tolerance < 0.0 => {
                Err(format!(
                    "`Near(value: {value}, tolerance: {tolerance})` needs a finite value and a finite tolerance ≥ 0"
                ))
            }
            _ => Ok(()),
        }
    }

    pub fn holds(self, measured: f64) -> bool {
        match self {
            Expectation::AtLeast(b) => measured >= b,
            Expectation::AtMost(b) => measured <= b,
            Expectation::AbsAtMost(b) => measured.abs() <= b,
            Expectation::Near { value, tolerance } => (measured - value).abs() <= tolerance,
        }
    }
}

impl std::fmt::Display for Expectation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expectation::AtLeast(b) => write!(f, "≥ {b}"),
            Expectation::AtMost(b) => write!(f, "≤ {b}"),
            Expectation::AbsAtMost(b) => write!(f, "|x| ≤ {b}"),
            Expectation::Near { value, tolerance } => write!(f, "{value} ± {tolerance}"),
        }
    }
}

/// A published claim, checked against a measured value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// Short identifier, unique within the spec.
    pub id: String,
    /// What the paper says, in words.
    pub statement: String,
    /// The name of a value the experiment measures (see `modrepro list --measures`).
    pub measure: String,
    pub expect: Expectation,
    /// The number or finding as published.
    pub published: String,
    /// Where the published value comes from (figure, table, repository file), and why the
    /// threshold is what it is.
    pub source: String,
    /// Set when this harness measured the claim and found it does not hold: what was measured
    /// and why it is believed. The claim is still evaluated on every run; its failure is
    /// reported as "not reproduced" (not counted as a failure), and if it ever passes, `verify`
    /// fails until this note is removed — so a stale note cannot hide a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_reproduced: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub paper: Paper,
    /// The figure or table, as the paper names it ("Figure 1d").
    pub figure: String,
    pub title: String,
    pub experiment: Experiment,
    #[serde(default)]
    pub sweep: Vec<SweepAxis>,
    /// Training seeds; every sweep point runs once per seed.
    pub seeds: Vec<u64>,
    /// Parameter overrides per profile: dotted path → value.
    #[serde(default)]
    pub profiles: BTreeMap<Profile, BTreeMap<String, Scalar>>,
    #[serde(default)]
    pub claims: Vec<Claim>,
    /// Preconditions of the spec's design on data the harness itself generates (e.g. "the
    /// diagonal groups reach the corner group's NMI"), not findings of the paper: written like
    /// claims, evaluated on every run, and an artefact whose check fails is an error (its
    /// comparison would not mean what the spec says), never a failed or passed claim.
    #[serde(default)]
    pub checks: Vec<Claim>,
}

/// A spec that shares another spec's experiment (`Derived(base: "other.ron", …)`): the same
/// paper, runs, seeds, sweep and profiles, so both read the same cached runs and editing the
/// base changes both; its own figure, title, claims and checks, and the parameters it `set`s.
/// Several artefacts of one experiment (Lange et al.'s five reports on one sweep of MLPs) are
/// one full spec and a `Derived` spec per other artefact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Derived")]
pub struct DerivedSpec {
    /// The full spec it derives from, relative to this file's directory (a base must be a full
    /// `Spec(…)`, not another `Derived`, so what a spec runs is one hop away).
    pub base: String,
    pub figure: String,
    pub title: String,
    /// The base experiment's parameters this artefact changes: dotted path → value, as in
    /// `profiles` (e.g. `{"report": "Agreement"}`). A parameter that enters the runs' recipes
    /// gives this artefact runs of its own.
    #[serde(default)]
    pub set: BTreeMap<String, Scalar>,
    #[serde(default)]
    pub claims: Vec<Claim>,
    #[serde(default)]
    pub checks: Vec<Claim>,
}
