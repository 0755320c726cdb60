//! One experiment kind in one place: the [`Kind`] trait.
//!
//! A kind says, with typed data, what its runs are (`Recipe`, hashed for the cache), what
//! training leaves (`Output`, cached), what is measured on a run (`Measurement`) and what the
//! artefact measures (`Measures`, one struct whose fields are the names claims may use). The
//! pipeline handles every kind through [`ErasedKind`], which erases those types to JSON (for the
//! cache) and to `Any` (for measurements), so adding a kind touches no pipeline code: its own
//! files, one variant of [`super::Experiment`] and one arm of `Experiment::as_kind`
//! (docs/ADDING_AN_EXPERIMENT.md walks through it).
//!
//! Kinds written before this trait went through parallel enums (`RunRecipe`, `RunOutput`,
//! `Measurement` variants); they kept their cache entries when they moved here: a moved kind
//! says in [`Kind::LEGACY_KEY`] how its old variant keyed its runs (`{"WhatWhere": recipe}`),
//! and `RunOutput::Kind` reads the outputs stored under the old variants' names.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use burn::tensor::Device;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{MeasuredRun, Measurement, RunRecipe, RunSlot, Summary, Unavailable};
use crate::data::inputs::{DataInput, InputDigests};
use crate::render::figure::Figure;
use crate::render::table::Table;
use crate::spec::domain::Checked;

/// The label of a run within its seed and sweep point (e.g. `group = rational, pair = 3`).
pub type Label = BTreeMap<String, String>;

/// A measured run of kind `K`, as its summary sees it.
pub struct Measured<'a, K: Kind> {
    pub sweep: &'a BTreeMap<String, String>,
    pub seed: u64,
    pub label: &'a Label,
    pub measurement: &'a K::Measurement,
}

/// An experiment kind. `Self` is the spec's parameters for it.
pub trait Kind: Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync + 'static {
    /// The kind's name, as a spec writes it (`TwoFrequencies(( … ))`).
    const NAME: &'static str;
    /// The paper it reproduces (a spec naming another paper is refused).
    const PAPER: crate::spec::Paper;
    /// Bump when a change to the kind's training code changes its numbers for an unchanged
    /// recipe (a faster but differently rounded loop, a fixed bug): it goes into every run's
    /// cache key, so no stale cached result is read as the new code's. Left out of the key
    /// while 0, so the keys of runs cached before it existed stay valid.
    const VERSION: u32 = 0;
    /// For a kind that existed before this trait: how its old `RunRecipe` variant keyed its
    /// runs, so that runs cached before the move stay valid (`RunOutput::Kind` reads their
    /// outputs under the old variants' names). `None` for every kind written with the trait.
    /// A kind that bumps [`Kind::VERSION`] drops it (a compile-time check): its runs are then
    /// keyed in the trait's form, with the version.
    const LEGACY_KEY: Option<LegacyKey> = None;
    /// `true`: an output holding a NaN or an infinity is stored as diverged, left out of the
    /// measurements and listed by the pipeline (a `status` column in the table, a note, and
    /// `share_diverged`), as for the kinds written before this trait. `false`: the kind reports
    /// divergence inside its output and measures (`share_diverged` is then its own field).
    const PIPELINE_DIVERGENCE: bool = false;
    /// One fully resolved unit of training work; its JSON is hashed into the cache key.
    type Recipe: Serialize + DeserializeOwned + Clone + Debug + PartialEq + Send + Sync;
    /// What training leaves, stored in the cache. Must hold only finite numbers (JSON has no NaN).
    type Output: Serialize + DeserializeOwned + Clone + PartialEq + Send + Sync;
    /// What is measured on one trained run (recomputed from the cached output).
    type Measurement: Send + Sync + 'static;
    /// The values claims may name: one field each, `Option<f64>` for a value that may be
    /// missing. `Default` gives the list of names.
    type Measures: Serialize + Default;

    /// Checks the parameters against their domain (sizes ≥ 1, rates in range, finite numbers)
    /// after profiles and sweeps are applied. The message names the parameter and what is allowed.
    fn validate(&self) -> Checked;

    /// `Some` when the artefact cannot be produced here (its data or its implementation is
    /// missing: reported as such, never as a pass); an error when the data is there but invalid.
    fn unavailable(&self) -> anyhow::Result<Option<Unavailable>> {
        Ok(None)
    }

    /// The names claims may use: the fields of [`Kind::Measures`]. A kind whose artefact
    /// measures a subset depending on its parameters (Lange's `report`) narrows it here, so a
    /// claim on a value the artefact does not measure is refused when the spec loads.
    fn measure_names(&self) -> Vec<String> {
        measure_names::<Self::Measures>()
    }

    /// The input data the kind reads (none by default), fingerprinted before planning.
    fn inputs(&self) -> Vec<DataInput> {
        Vec::new()
    }

    /// The runs of one seed at one sweep point. `inputs` holds the digests of [`Kind::inputs`]
    /// that could be read: recipes carry a digest, never a path, and `runs` reads no file.
    fn runs(&self, seed: u64, inputs: &InputDigests) -> Vec<(Label, Self::Recipe)>;

    /// Runs with equal keys may be trained together in one call of [`Kind::train`].
    fn batch_key(recipe: &Self::Recipe) -> String {
        serde_json::to_string(recipe).expect("recipes are plain data")
    }

    /// Units of work of a run, for the progress bar (e.g. its iterations).
    fn work(recipe: &Self::Recipe) -> u64;

    /// The most runs one call of [`Kind::train`] should take on `device`, where that is fewer
    /// than the executor's even split (one call per job). A kind whose runs train one after
    /// another gains nothing from long calls: calls of one run are handed to the jobs as they
    /// free up, so no core waits while another ends a long call, and each run is cached as it
    /// ends. `None` (the default): the even split, for kinds that train a call's runs together.
    fn runs_per_call(_device: &Device) -> Option<usize> {
        None
    }

    /// Trains runs with one batch key; calls `progress(units)` as work is done. `self` says
    /// where input data is (a recipe holds only its digest, so that moving a file keeps the
    /// cache). `threads`: CPU threads these runs may use between them (more than one only when
    /// there are fewer batches to train than `--jobs`); a kind whose loops run on one thread
    /// ignores it, and none may let it change a result.
    fn train(
        &self,
        recipes: &[&Self::Recipe],
        device: &Device,
        progress: &(dyn Fn(u64) + Sync),
        threads: usize,
    ) -> anyhow::Result<Vec<Self::Output>>;

    /// Measures one trained run.
    fn measure(&self, recipe: &Self::Recipe, output: &Self::Output) -> anyhow::Result<Self::Measurement>;

    /// The artefact's values for its claims.
    fn measures(&self, runs: &[Measured<'_, Self>]) -> Self::Measures;

    /// One row per run (or per neuron): the CSV.
    fn table(&self, runs: &[Measured<'_, Self>]) -> Table;

    /// The figure.
    fn figure(&self, runs: &[Measured<'_, Self>], measures: &Self::Measures) -> Figure;

    /// Lines for the report: what was trained and what was dropped.
    fn notes(&self, runs: &[Measured<'_, Self>]) -> Vec<String>;
}

/// What became of a trained run: the kinds' tables, notes and filters share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Trained,
    /// Trained to the end but its fit is worse than the spec's bound: left out of the comparison.
    DidNotLearn,
    /// Its loss or weights became non-finite.
    Diverged,
}

impl RunStatus {
    pub fn of(diverged: bool, fit: f64, max_fit: f64) -> Self {
        if diverged {
            RunStatus::Diverged
        } else if fit > max_fit {
            RunStatus::DidNotLearn
        } else {
            RunStatus::Trained
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RunStatus::Trained => "trained",
            RunStatus::DidNotLearn => "did not learn",
            RunStatus::Diverged => "diverged",
        }
    }
}

/// An `on_iteration(i)` callback for a training loop of `total` iterations that reports work
/// to the progress bar in chunks of `every`, and the last chunk at iteration `total`.
pub fn throttled<'a>(progress: &'a (dyn Fn(u64) + Sync), every: usize, total: usize) -> impl FnMut(usize) + 'a {
    let mut reported = 0;
    move |i: usize| {
        if i - reported >= every || i == total {
            progress((i - reported) as u64);
            reported = i;
        }
    }
}

/// An `on_step(step)` callback for one batched program of `runs` runs and `steps` steps that
/// reports `runs` units per step to the progress bar, every 1,000 steps and at the last.
pub fn batch_progress<'a>(progress: &'a (dyn Fn(u64) + Sync), runs: usize, steps: usize) -> impl FnMut(usize) + 'a {
    let mut reported = 0;
    move |step: usize| {
        if step - reported >= 1000 || step == steps {
            progress(((step - reported) * runs) as u64);
            reported = step;
        }
    }
}

/// A kind's CSV: the sweep's parameters first (the first run's sweep keys), then `columns`;
/// `rows` gives a run's rows (one per run, or one per unit), each after the run's sweep values.
pub fn sweep_table<K: Kind>(
    runs: &[Measured<'_, K>],
    columns: &[&str],
    rows: impl Fn(&Measured<'_, K>) -> Vec<Vec<String>>,
) -> Table {
    let header = runs
        .first()
        .map(|r| r.sweep.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(columns.iter().map(|c| c.to_string()))
        .collect();
    let mut table = Table::new(header);
    for run in runs {
        for row in rows(run) {
            table.push(run.sweep.values().cloned().chain(row).collect());
        }
    }
    table
}

/// The names of a measures struct's fields, sorted.
pub fn measure_names<M: Serialize + Default>() -> Vec<String> {
    names_of(&M::default())
}

/// The field names of a measures value, sorted (for a measures enum: its variant's).
pub fn names_of<M: Serialize>(measures: &M) -> Vec<String> {
    match serde_json::to_value(measures) {
        Ok(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// A measures struct as the map claims read: numbers by field name; absent values left out.
pub fn measure_map<M: Serialize>(measures: &M) -> BTreeMap<String, f64> {
    match serde_json::to_value(measures) {
        Ok(serde_json::Value::Object(fields)) => fields
            .into_iter()
            .filter_map(|(name, value)| value.as_f64().map(|v| (name, v)))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// A run of a [`Kind`] as the pipeline carries it: the kind's name and its recipe as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct KindRecipe {
    pub kind: String,
    pub recipe: serde_json::Value,
    /// [`Kind::VERSION`]; absent from the JSON (and so from the key) while 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: u32,
    /// Set for a kind with a [`Kind::LEGACY_KEY`]: `RunRecipe` then serialises this run as
    /// this JSON, the recipe as its own type writes it (fields in declaration order, as the
    /// old enum did; `recipe` above is a JSON value, whose keys are sorted).
    #[serde(skip)]
    pub legacy: Option<LegacyForm>,
}

/// How a kind written before the trait keyed its runs (see [`Kind::LEGACY_KEY`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyKey {
    /// Its runs were one `RunRecipe` variant: keyed as `{"<tag>": recipe}`.
    Tagged(&'static str),
    /// Its runs were several variants, and its recipe is an enum of those variants with the
    /// same names (serde's external tagging): keyed as the recipe serialises itself.
    SelfTagged,
}

/// A run as the `RunRecipe` variant of a kind written before the trait serialised it: the
/// exact JSON its key was hashed from.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyForm {
    pub json: String,
}

impl LegacyForm {
    fn of<R: Serialize>(key: LegacyKey, recipe: &R) -> LegacyForm {
        let json = serde_json::to_string(recipe).expect("recipes are plain data");
        LegacyForm {
            json: match key {
                LegacyKey::Tagged(tag) => format!("{{{}:{json}}}", serde_json::Value::from(tag)),
                LegacyKey::SelfTagged => json,
            },
        }
    }
}

/// What [`ErasedKind::train`] gives back for one run.
#[derive(Debug, Clone, PartialEq)]
pub enum KindOutput {
    Trained(serde_json::Value),
    /// Only for kinds with [`Kind::PIPELINE_DIVERGENCE`].
    Diverged(crate::execute::Divergence),
}

fn is_zero(version: &u32) -> bool {
    *version == 0
}

/// A measurement of a [`Kind`], type-erased; its summary downcasts it back.
#[derive(Clone)]
pub struct KindMeasurement(pub Arc<dyn Any + Send + Sync>);

impl Debug for KindMeasurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KindMeasurement(..)")
    }
}

/// [`Kind`] with its types erased, so that `Experiment` can hand out any kind as one trait object.
pub trait ErasedKind: Sync {
    fn name(&self) -> &'static str;
    fn paper(&self) -> crate::spec::Paper;
    fn validate(&self) -> Checked;
    fn unavailable(&self) -> anyhow::Result<Option<Unavailable>>;
    fn measure_names(&self) -> Vec<String>;
    fn pipeline_divergence(&self) -> bool;
    fn inputs(&self) -> Vec<DataInput>;
    fn runs(&self, seed: u64, inputs: &InputDigests) -> Vec<RunSlot>;
    fn batch_key(&self, recipe: &KindRecipe) -> String;
    fn work(&self, recipe: &KindRecipe) -> u64;
    fn runs_per_call(&self, device: &Device) -> Option<usize>;
    fn train(
        &self,
        recipes: &[&KindRecipe],
        device: &Device,
        progress: &(dyn Fn(u64) + Sync),
        threads: usize,
    ) -> anyhow::Result<Vec<KindOutput>>;
    fn measure(&self, recipe: &KindRecipe, output: &serde_json::Value) -> anyhow::Result<Measurement>;
    fn summarise(&self, runs: &[MeasuredRun<'_>]) -> Summary;
}

/// A run of kind `K` as the pipeline carries it (and hashes it).
fn run_slot<K: Kind>(label: Label, recipe: &K::Recipe) -> RunSlot {
    const {
        assert!(
            K::LEGACY_KEY.is_none() || K::VERSION == 0,
            "a kind whose VERSION is bumped drops its LEGACY_KEY: nothing cached under the old key is valid"
        )
    };
    RunSlot {
        label,
        recipe: RunRecipe(KindRecipe {
            kind: K::NAME.to_string(),
            recipe: serde_json::to_value(recipe).expect("recipes are plain data"),
            version: K::VERSION,
            legacy: K::LEGACY_KEY.map(|key| LegacyForm::of(key, recipe)),
        }),
    }
}

/// How a trained output is stored: as JSON, or — when the pipeline handles the kind's
/// divergence (`diverged_by: Some(steps)`) and the output holds a NaN or an infinity, which JSON
/// cannot hold (it could never be read back, and would be retrained forever) — as diverged.
fn stored_form<O: Serialize + DeserializeOwned + PartialEq>(
    output: &O,
    diverged_by: Option<u64>,
    kind: &str,
) -> anyhow::Result<KindOutput> {
    if let Some(steps) = diverged_by
        && !crate::cache::survives_json(output)
    {
        return Ok(KindOutput::Diverged(crate::execute::Divergence {
            by_step: steps,
            detail: format!("the trained weights hold NaN or infinite values after {steps} steps"),
        }));
    }
    serde_json::to_value(output)
        .map(KindOutput::Trained)
        .map_err(|e| anyhow::anyhow!("a {kind} output does not serialise: {e}"))
}

fn typed_recipe<K: Kind>(recipe: &KindRecipe) -> anyhow::Result<K::Recipe> {
    anyhow::ensure!(
        recipe.kind == K::NAME,
        "a {} run was handed to {} (a bug: runs are grouped by kind)",
        recipe.kind,
        K::NAME
    );
    serde_json::from_value(recipe.recipe.clone())
        .map_err(|e| anyhow::anyhow!("a {} run's recipe does not parse: {e}", K::NAME))
}

impl<K: Kind> ErasedKind for K {
    fn name(&self) -> &'static str {
        K::NAME
    }

    fn paper(&self) -> crate::spec::Paper {
        K::PAPER
    }

    fn validate(&self) -> Checked {
        Kind::validate(self)
    }

    fn unavailable(&self) -> anyhow::Result<Option<Unavailable>> {
        Kind::unavailable(self)
    }

    fn measure_names(&self) -> Vec<String> {
        let mut names = Kind::measure_names(self);
        if K::PIPELINE_DIVERGENCE {
            names.push("share_diverged".into());
        }
        names
    }

    fn pipeline_divergence(&self) -> bool {
        K::PIPELINE_DIVERGENCE
    }

    fn inputs(&self) -> Vec<DataInput> {
        Kind::inputs(self)
    }

    fn runs(&self, seed: u64, inputs: &InputDigests) -> Vec<RunSlot> {
        Kind::runs(self, seed, inputs)
            .into_iter()
            .map(|(label, recipe)| run_slot::<K>(label, &recipe))
            .collect()
    }

    fn batch_key(&self, recipe: &KindRecipe) -> String {
        match typed_recipe::<K>(recipe) {
            Ok(typed) => format!("{}:{}", K::NAME, K::batch_key(&typed)),
            // Unparseable recipes train alone, and fail there with the parse error.
            Err(_) => format!("{}:{}", K::NAME, recipe.recipe),
        }
    }

    fn work(&self, recipe: &KindRecipe) -> u64 {
        typed_recipe::<K>(recipe).map_or(1, |r| K::work(&r))
    }

    fn runs_per_call(&self, device: &Device) -> Option<usize> {
        K::runs_per_call(device)
    }

    fn train(
        &self,
        recipes: &[&KindRecipe],
        device: &Device,
        progress: &(dyn Fn(u64) + Sync),
        threads: usize,
    ) -> anyhow::Result<Vec<KindOutput>> {
        let typed = recipes
            .iter()
            .map(|r| typed_recipe::<K>(r))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let refs: Vec<&K::Recipe> = typed.iter().collect();
        let outputs = Kind::train(self, &refs, device, progress, threads)?;
        anyhow::ensure!(
            outputs.len() == recipes.len(),
            "{} trained {} of {} runs",
            K::NAME,
            outputs.len(),
            recipes.len()
        );
        outputs
            .iter()
            .zip(&typed)
            .map(|(o, recipe)| stored_form(o, K::PIPELINE_DIVERGENCE.then(|| K::work(recipe)), K::NAME))
            .collect()
    }

    fn measure(&self, recipe: &KindRecipe, output: &serde_json::Value) -> anyhow::Result<Measurement> {
        let recipe = typed_recipe::<K>(recipe)?;
        let output: K::Output = serde_json::from_value(output.clone()).map_err(|e| {
            anyhow::anyhow!(
                "a cached {} result does not parse: {e} (fix: `modrepro cache gc`)",
                K::NAME
            )
        })?;
        let measurement = Kind::measure(self, &recipe, &output)?;
        Ok(KindMeasurement(Arc::new(measurement)))
    }

    fn summarise(&self, runs: &[MeasuredRun<'_>]) -> Summary {
        let typed: Vec<Measured<'_, K>> = runs
            .iter()
            .map(|run| Measured {
                sweep: run.sweep,
                seed: run.seed,
                label: run.label,
                measurement: run
                    .measurement
                    .0
                    .downcast_ref::<K::Measurement>()
                    .expect("a kind's runs are measured by that kind"),
            })
            .collect();
        let measures = Kind::measures(self, &typed);
        Summary {
            table: self.table(&typed),
            figure: self.figure(&typed, &measures),
            measured: measure_map(&measures),
            notes: self.notes(&typed),
        }
    }
}

/// Test helper for a kind moved onto the trait: its runs must hash the bytes its old
/// `RunRecipe::<tag>` variant serialised, `{"<tag>":{…fields in declaration order…}}`, so
/// that no cached run retrains. Returns that JSON for further checks.
#[cfg(test)]
pub fn assert_legacy_key<K: Kind>(params: &K, seed: u64) -> String {
    let slot = ErasedKind::runs(params, seed, &InputDigests::of(&Kind::inputs(params))).remove(0);
    let typed: K::Recipe = serde_json::from_value(slot.recipe.0.recipe.clone()).expect("the recipe parses");
    assert_legacy_form::<K>(&typed)
}

/// [`assert_legacy_key`] for one recipe.
#[cfg(test)]
pub fn assert_legacy_form<K: Kind>(recipe: &K::Recipe) -> String {
    let slot = run_slot::<K>(Label::new(), recipe);
    let json = serde_json::to_string(recipe).expect("plain data");
    let old_form = match K::LEGACY_KEY.expect("a kind moved onto the trait says how it was keyed") {
        LegacyKey::Tagged(tag) => format!("{{\"{tag}\":{json}}}"),
        LegacyKey::SelfTagged => json,
    };
    assert_eq!(
        String::from_utf8(crate::cache::canonical_json(&slot.recipe)).unwrap(),
        old_form
    );
    old_form
}

/// Test helper for a kind moved onto the trait whose [`Kind::VERSION`] was since bumped: its
/// runs are keyed in the trait's form with the version, no longer in the old variant's (whose
/// cached outputs were made by the old code). Returns the key's JSON.
#[cfg(test)]
pub fn assert_versioned_key<K: Kind>(params: &K, seed: u64) -> String {
    assert!(K::VERSION > 0, "{} has not been versioned", K::NAME);
    let slot = ErasedKind::runs(params, seed, &InputDigests::of(&Kind::inputs(params))).remove(0);
    let json = String::from_utf8(crate::cache::canonical_json(&slot.recipe)).unwrap();
    let expected_start = format!("{{\"Kind\":{{\"kind\":\"{}\",\"recipe\":{{", K::NAME);
    assert!(json.starts_with(&expected_start), "{json}");
    assert!(json.ends_with(&format!(",\"version\":{}}}}}", K::VERSION)), "{json}");
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Default)]
    struct Example {
        alpha: Option<f64>,
        beta: f64,
    }

    #[test]
    fn a_kind_version_enters_the_recipe_only_once_bumped() {
        let recipe = |version| KindRecipe {
            kind: "K".into(),
            recipe: serde_json::json!({"a": 1}),
            version,
            legacy: None,
        };
        // Version 0 serialises as recipes did before versions existed: their keys stay valid.
        assert_eq!(
            serde_json::to_string(&recipe(0)).unwrap(),
            r#"{"kind":"K","recipe":{"a":1}}"#
        );
        assert_eq!(
            serde_json::to_string(&recipe(2)).unwrap(),
            r#"{"kind":"K","recipe":{"a":1},"version":2}"#
        );
    }

    #[test]
    fn non_finite_outputs_are_stored_as_diverged_where_the_pipeline_handles_divergence() {
        let weights = |w: f32| vec![0.5, w];
        assert_eq!(
            stored_form(&weights(1.0), Some(500), "K").unwrap(),
            KindOutput::Trained(serde_json::json!([0.5, 1.0]))
        );
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let KindOutput::Diverged(divergence) = stored_form(&weights(bad), Some(500), "K").unwrap() else {
                panic!("{bad} was kept as a result")
            };
            assert_eq!(divergence.by_step, 500);
        }
    }

    #[test]
    fn measure_names_and_values_come_from_one_struct() {
        assert_eq!(measure_names::<Example>(), vec!["alpha", "beta"]);
        let map = measure_map(&Example { alpha: None, beta: 2.5 });
        assert_eq!(map, BTreeMap::from([("beta".to_string(), 2.5)]));
    }
}
