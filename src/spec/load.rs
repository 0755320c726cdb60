//! Finding, parsing and validating spec files, and resolving a spec's parameters for a profile
//! and a sweep point. Every error names the file, and the line and column where there is one.

use std::path::{Path, PathBuf};

use super::schema::{DerivedSpec, Profile, Scalar, Spec};
use crate::experiments::Experiment;

/// `<paper dir>/<file stem>`, e.g. `dorrell2025/fig1c`: the artefact's id, and where its
/// outputs go (`outputs/dorrell2025/fig1c.*`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArtefactId {
    pub group: String,
    pub name: String,
}

impl std::fmt::Display for ArtefactId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.group, self.name)
    }
}

/// A parsed, validated spec and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    pub id: ArtefactId,
    pub path: PathBuf,
    pub spec: Spec,
    /// SHA-256 of the file's bytes, for manifests.
    pub source_sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{path}: cannot read the spec: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("{location}: {message}")]
    Invalid { location: String, message: String },
    #[error(
        "unknown artefact `{id}`; known: {known} (fix: `modrepro list` shows every spec, or give a path to a .ron file)"
    )]
    UnknownArtefact { id: String, known: String },
    #[error("{path}: a spec lives at specs/<paper>/<artefact>.ron (fix: move it into a paper directory)")]
    Misplaced { path: PathBuf },
}

fn invalid(path: &Path, position: Option<(usize, usize)>, message: impl Into<String>) -> SpecError {
    let location = match position {
        Some((line, col)) => format!("{}:{line}:{col}", path.display()),
        None => path.display().to_string(),
    };
    SpecError::Invalid {
        location,
        message: message.into(),
    }
}

/// Line and column (1-based) of the first occurrence of `needle` in `source`.
fn position_of(source: &str, needle: &str) -> Option<(usize, usize)> {
    let offset = source.find(needle)?;
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let col = offset - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    Some((line, col))
}

/// A RON parse error in a user's words: the field it is in (the last `name:` before it on its
/// line), what went wrong, and where the schema is.
fn describe_syntax_error(code: &ron::Error, source: &str, line: usize, col: usize) -> String {
    let what = match code {
        ron::Error::ExceededRecursionLimit => "the file nests brackets too deeply to be a spec".to_string(),
        other => other.to_string(),
    };
    let text = source.lines().nth(line.saturating_sub(1)).unwrap_or("");
    let head: String = text.chars().take(col.saturating_sub(1)).collect();
    let field = head.rfind(':').and_then(|colon| {
        let name: String = head[..colon]
            .chars()
            .rev()
            .skip_while(|c| c.is_whitespace())
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        (!name.is_empty()).then_some(name)
    });
    let field = field.map_or_else(String::new, |f| format!("`{f}`: "));
    format!("{field}{what} (fix: compare with the schema in README.md, section 'Specs')")
}

/// Where a (dotted) parameter is written: each part as `name:` (not inside a longer name or a
/// `//` comment), each searched after the one before it, so `training.steps` finds the `steps:`
/// inside `training: (…)`. The position of the last part found.
fn position_of_field(source: &str, param: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    let mut found_at = None;
    for part in param.split('.') {
        let needle = format!("{part}:");
        let mut search = from;
        let offset = loop {
            let Some(hit) = source[search..].find(&needle) else {
                break None;
            };
            let offset = search + hit;
            let line_start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
            let before = source[..offset].chars().next_back();
            let in_comment = source[line_start..offset].contains("//");
            if !in_comment && !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                break Some(offset);
            }
            search = offset + needle.len();
        };
        // A part not written as `name:` (an enum variant like `Trained(…)`, or a default) is
        // skipped: the next part is looked for from here.
        if let Some(offset) = offset {
            found_at = Some(offset);
            from = offset + needle.len();
        }
    }
    let offset = found_at?;
    let head = &source[..offset];
    let line = head.matches('\n').count() + 1;
    Some((line, offset - head.rfind('\n').map_or(0, |i| i + 1) + 1))
}

fn artefact_id(path: &Path) -> Result<ArtefactId, SpecError> {
    let name = path.file_stem().and_then(|s| s.to_str());
    let group = path.parent().and_then(|p| p.file_name()).and_then(|s| s.to_str());
    match (group, name) {
        (Some(group), Some(name)) if !group.is_empty() && group != "specs" => Ok(ArtefactId {
            group: group.to_string(),
            name: name.to_string(),
        }),
        _ => Err(SpecError::Misplaced { path: path.to_owned() }),
    }
}

/// Parses and validates one spec file: a full `Spec(…)`, or a `Derived(base: …)` spec that
/// shares a full spec's experiment.
pub fn load(path: &Path) -> Result<LoadedSpec, SpecError> {
    let (bytes, source) = read_source(path)?;
    let id = artefact_id(path)?;
    let (spec, source_sha256) = if leading_identifier(&source) == Some("Derived") {
        let derived: DerivedSpec = parse(path, &source)?;
        let base = load_base(path, &source, &derived.base)?;
        // The artefact depends on both files: the manifest's digest covers both.
        let digest =
            crate::cache::sha256_hex(format!("{}{}", crate::cache::sha256_hex(&bytes), base.source_sha256).as_bytes());
        (derive(path, &source, &base.spec, derived)?, digest)
    } else {
        (parse::<Spec>(path, &source)?, crate::cache::sha256_hex(&bytes))
    };
    validate(path, &source, &spec)?;
    Ok(LoadedSpec {
        id,
        path: path.to_owned(),
        spec,
        source_sha256,
    })
}

fn read_source(path: &Path) -> Result<(Vec<u8>, String), SpecError> {
    let bytes = std::fs::read(path).map_err(|source| SpecError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    let source = String::from_utf8(bytes.clone()).map_err(|_| invalid(path, None, "the file is not UTF-8 text"))?;
    Ok((bytes, source))
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, source: &str) -> Result<T, SpecError> {
    ron::Options::default().from_str(source).map_err(|e| {
        invalid(
            path,
            Some((e.position.line, e.position.col)),
            describe_syntax_error(&e.code, source, e.position.line, e.position.col),
        )
    })
}

/// The first identifier of a RON file after whitespace and comments: the top-level struct's
/// name (`Spec` or `Derived`), if the file names it.
fn leading_identifier(source: &str) -> Option<&str> {
    let mut rest = source;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.split_once('\n').map_or("", |(_, tail)| tail);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, tail)| tail);
        } else {
            break;
        }
    }
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// The full spec a derived spec names, relative to the derived spec's directory.
fn load_base(path: &Path, source: &str, base: &str) -> Result<LoadedSpec, SpecError> {
    let at = position_of_field(source, "base");
    let base_path = path.parent().unwrap_or(Path::new(".")).join(base);
    let base_source = std::fs::read_to_string(&base_path).map_err(|e| {
        invalid(
            path,
            at,
            format!(
                "base `{base}` cannot be read ({}: {e}) (fix: name a spec file relative to this one, e.g. \"q_vs_regularisation.ron\")",
                base_path.display()
            ),
        )
    })?;
    if leading_identifier(&base_source) == Some("Derived") {
        return Err(invalid(
            path,
            at,
            format!("base `{base}` is itself a Derived spec (fix: name the full Spec(…) it derives from)"),
        ));
    }
    load(&base_path).map_err(|e| invalid(path, at, format!("base `{base}` does not load: {e}")))
}

/// The spec a derived spec stands for: the base's, with the derived spec's figure, title,
/// claims and checks, and its `set` parameters applied to the base's experiment.
fn derive(path: &Path, source: &str, base: &Spec, derived: DerivedSpec) -> Result<Spec, SpecError> {
    let mut value = serde_json::to_value(&base.experiment).expect("experiments serialise");
    let params = value
        .as_object_mut()
        .and_then(|o| o.values_mut().next())
        .expect("an experiment is externally tagged: {Kind: params}");
    let at = |param: &str| position_of(source, &format!("\"{param}\"")).or_else(|| position_of_field(source, "set"));
    for (param, scalar) in &derived.set {
        if !scalar.is_finite() {
            return Err(invalid(
                path,
                at(param),
                format!("`set` gives `{param}` the value {scalar}; allowed: finite numbers"),
            ));
        }
        set_path(params, param, scalar.to_json())
            .map_err(|message| invalid(path, at(param), format!("`set` changes `{param}`: {message}")))?;
    }
    let experiment = serde_json::from_value(value).map_err(|e| {
        // Blame the first change that breaks the parameters on its own.
        let pristine = serde_json::to_value(&base.experiment).expect("experiments serialise");
        let culprit = derived
            .set
            .iter()
            .find(|(param, scalar)| breaks_alone(&pristine, param, scalar));
        let (position, what) = match culprit {
            Some((param, scalar)) => (at(param), format!("`set` gives `{param}` the value {scalar}")),
            None => (
                position_of_field(source, "set"),
                "`set` makes the base's parameters invalid".to_string(),
            ),
        };
        invalid(
            path,
            position,
            format!("{what}: {e} (fix: give the parameter a value of its type)"),
        )
    })?;
    Ok(Spec {
        paper: base.paper,
        figure: derived.figure,
        title: derived.title,
        experiment,
        sweep: base.sweep.clone(),
        seeds: base.seeds.clone(),
        profiles: base.profiles.clone(),
        claims: derived.claims,
        checks: derived.checks,
    })
}

fn validate(path: &Path, source: &str, spec: &Spec) -> Result<(), SpecError> {
    if spec.seeds.is_empty() {
        return Err(invalid(
            path,
            position_of(source, "seeds"),
            "`seeds` is empty (fix: give at least one seed)",
        ));
    }
    let expected = spec.experiment.paper();
    if expected != spec.paper {
        return Err(invalid(
            path,
            position_of_field(source, "paper"),
            format!(
                "`paper: {:?}` but {} is an experiment of {:?} (fix: `paper: {expected:?}`)",
                spec.paper,
                spec.experiment.kind(),
                expected
            ),
        ));
    }
    let mut distinct_seeds = std::collections::BTreeSet::new();
    if let Some(seed) = spec.seeds.iter().find(|s| !distinct_seeds.insert(**s)) {
        return Err(invalid(
            path,
            position_of_field(source, "seeds"),
            format!("seed {seed} is listed twice (fix: list each seed once; a repeated seed repeats the same runs)"),
        ));
    }
    let mut axes = std::collections::BTreeSet::new();
    for axis in &spec.sweep {
        let at = position_of(source, &format!("\"{}\"", axis.param));
        if !axes.insert(&axis.param) {
            return Err(invalid(
                path,
                at,
                format!(
                    "the sweep has two axes for `{}` (fix: one axis per parameter, with all its values)",
                    axis.param
                ),
            ));
        }
        let mut values: Vec<String> = Vec::new();
        for value in &axis.values {
            if !value.is_finite() {
                return Err(invalid(
                    path,
                    at,
                    format!(
                        "sweep axis `{}` has the value {value}; allowed: finite numbers",
                        axis.param
                    ),
                ));
            }
            let text = value.to_string();
            if values.contains(&text) {
                return Err(invalid(
                    path,
                    at,
                    format!(
                        "sweep axis `{}` lists {text} twice (fix: list each value once)",
                        axis.param
                    ),
                ));
            }
            values.push(text);
        }
    }
    for (profile, overrides) in &spec.profiles {
        for (param, value) in overrides {
            if !value.is_finite() {
                return Err(invalid(
                    path,
                    position_of(source, &format!("\"{param}\"")),
                    format!(
                        "profile `{}` sets `{param}` to {value}; allowed: finite numbers",
                        profile.name()
                    ),
                ));
            }
        }
    }
    if let Some(check) = spec.checks.iter().find(|c| c.not_reproduced.is_some()) {
        return Err(invalid(
            path,
            position_of(source, &format!("\"{}\"", check.id)),
            format!(
                "check `{}` has `not_reproduced`; a check must hold (fix: remove it, or make it a claim)",
                check.id
            ),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for claim in spec.claims.iter().chain(&spec.checks) {
        if let Err(message) = claim.expect.check() {
            let id_quoted = format!("\"{}\"", claim.id);
            let expect_at = source.find(&id_quoted).and_then(|at| {
                position_of_field(&source[at..], "expect")
                    .map(|(line, col)| (line + source[..at].matches('\n').count(), col))
            });
            return Err(invalid(
                path,
                expect_at.or_else(|| position_of(source, &id_quoted)),
                format!("claim `{}`: {message}", claim.id),
            ));
        }
        let at = position_of(source, &format!("\"{}\"", claim.id));
        if !seen.insert(&claim.id) {
            return Err(invalid(path, at, format!("two claims share the id `{}`", claim.id)));
        }
        if !spec.experiment.measures().contains(&claim.measure) {
            return Err(invalid(
                path,
                position_of(source, &format!("\"{}\"", claim.measure)).or(at),
                format!(
                    "claim `{}` uses measure `{}`, which {} does not produce (fix: use one of {})",
                    claim.id,
                    claim.measure,
                    spec.experiment.kind(),
                    spec.experiment.measures().join(", ")
                ),
            ));
        }
    }
    for axis in &spec.sweep {
        if axis.values.is_empty() {
            return Err(invalid(
                path,
                position_of(source, &format!("\"{}\"", axis.param)),
                format!("sweep axis `{}` has no values", axis.param),
            ));
        }
    }
    // Every profile, at every sweep point, must resolve to valid parameters.
    for profile in [Profile::Smoke, Profile::Quick, Profile::Paper] {
        let seeds = seeds_for(spec, profile).map_err(|e| invalid(path, position_of(source, "\"seeds\""), e.message))?;
        if seeds.len() > MAX_SEEDS {
            return Err(invalid(
                path,
                position_of(source, "\"seeds\"").or_else(|| position_of_field(source, "seeds")),
                format!(
                    "profile `{}` has {} seeds; allowed: at most {MAX_SEEDS} (every seed repeats every run)",
                    profile.name(),
                    seeds.len()
                ),
            ));
        }
        for point in sweep_points(spec) {
            let experiment = resolve(spec, profile, &point)
                .map_err(|e| invalid(path, position_of(source, &format!("\"{}\"", e.path)), e.message))?;
            if let Err(e) = experiment.validate() {
                let overridden = spec.profiles.get(&profile).is_some_and(|o| o.contains_key(&e.param))
                    || point.iter().any(|(p, _)| *p == e.param);
                let position = if overridden {
                    position_of(source, &format!("\"{}\"", e.param))
                } else {
                    // A derived spec writes the parameters it changes as `"param": value`.
                    position_of_field(source, &e.param).or_else(|| position_of(source, &format!("\"{}\"", e.param)))
                };
                let origin = if overridden {
                    format!(" (as profile `{}` or the sweep sets it)", profile.name())
                } else {
                    String::new()
                };
                return Err(invalid(
                    path,
                    position,
                    format!("{}{origin} (fix: set it within the allowed range)", e.message),
                ));
            }
        }
    }
    Ok(())
}

/// One point of the sweep's cartesian product: (parameter path, value) per axis.
pub type SweepPoint = Vec<(String, Scalar)>;

/// Most seeds a spec may list: each repeats every run.
const MAX_SEEDS: usize = 10_000;

pub fn sweep_points(spec: &Spec) -> Vec<SweepPoint> {
    let mut points: Vec<SweepPoint> = vec![Vec::new()];
    for axis in &spec.sweep {
        points = points
            .into_iter()
            .flat_map(|p| {
                axis.values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push((axis.param.clone(), v.clone()));
                    q
                })
            })
            .collect();
    }
    points
}

/// The profile key that replaces the spec's seeds rather than a parameter.
pub const SEEDS: &str = "seeds";

/// The seeds at a profile: the profile's `"seeds": [..]` if it has one, else the spec's.
pub fn seeds_for(spec: &Spec, profile: Profile) -> Result<Vec<u64>, ResolveError> {
    let Some(value) = spec.profiles.get(&profile).and_then(|o| o.get(SEEDS)) else {
        return Ok(spec.seeds.clone());
    };
    let bad = || ResolveError {
        path: SEEDS.into(),
        message: format!(
            "profile `{}` sets `seeds` to {value}: expected a non-empty list of non-negative integers",
            profile.name()
        ),
    };
    match value {
        Scalar::List(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Scalar::Int(i) if *i >= 0 => Ok(*i as u64),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

/// Why a profile override or sweep value could not be applied.
#[derive(Debug)]
pub struct ResolveError {
    pub path: String,
    pub message: String,
}

/// The experiment with the profile's overrides and then the sweep point's values applied.
pub fn resolve(spec: &Spec, profile: Profile, point: &SweepPoint) -> Result<Experiment, ResolveError> {
    let mut value = serde_json::to_value(&spec.experiment).expect("experiments serialise");
    let pristine = value.clone();
    let params = value
        .as_object_mut()
        .and_then(|o| o.values_mut().next())
        .expect("an experiment is externally tagged: {Kind: params}");
    let overrides: Vec<(String, Scalar, String)> = spec
        .profiles
        .get(&profile)
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != SEEDS)
        .map(|(k, v)| (k.clone(), v.clone(), format!("profile `{}`", profile.name())))
        .chain(point.iter().map(|(k, v)| (k.clone(), v.clone(), "sweep".to_string())))
        .collect();
    for (path, scalar, origin) in &overrides {
        set_path(params, path, scalar.to_json()).map_err(|message| ResolveError {
            message: format!("{origin} sets `{path}`: {message}"),
            path: path.clone(),
        })?;
    }
    serde_json::from_value(value.clone()).map_err(|e| {
        // Blame the first override that breaks the parameters on its own, so the error points
        // at it rather than at whichever override happens to come first.
        let culprit = overrides
            .iter()
            .find(|(path, scalar, _)| breaks_alone(&pristine, path, scalar));
        match culprit {
            Some((path, scalar, origin)) => ResolveError {
                path: path.clone(),
                message: format!(
                    "{origin} sets `{path}` to {scalar}: {e} (fix: give it a value of the parameter's type)"
                ),
            },
            None => ResolveError {
                path: point.first().map(|(p, _)| p.clone()).unwrap_or_default(),
                message: format!(
                    "with profile `{}` applied: {e} (fix: give the parameter a value of the right type)",
                    profile.name()
                ),
            },
        }
    })
}

/// Whether setting `path` to `scalar` alone, in an experiment serialised as `pristine`,
/// leaves parameters that no longer parse: how an error blames one override of several.
fn breaks_alone(pristine: &serde_json::Value, path: &str, scalar: &Scalar) -> bool {
    let mut alone = pristine.clone();
    let params = alone
        .as_object_mut()
        .and_then(|o| o.values_mut().next())
        .expect("an experiment is externally tagged: {Kind: params}");
    set_path(params, path, scalar.to_json()).is_ok() && serde_json::from_value::<Experiment>(alone).is_err()
}

fn set_path(root: &mut serde_json::Value, path: &str, new: serde_json::Value) -> Result<(), String> {
    let mut node = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (depth, part) in parts.iter().enumerate() {
        let object = node
            .as_object_mut()
            .ok_or_else(|| format!("`{}` is not a group of parameters", parts[..depth].join(".")))?;
        if !object.contains_key(*part) {
            let known: Vec<&String> = object.keys().collect();
            return Err(format!(
                "no parameter `{part}` here (fix: use one of {})",
                known.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
            ));
        }
        node = object.get_mut(*part).expect("checked above");
    }
    if node.is_object() {
        return Err("this is a group of parameters, not a single value".into());
    }
    *node = new;
    Ok(())
}

/// Every `.ron` spec under `root` (`root/<paper>/<artefact>.ron`), sorted by id.
pub fn discover(root: &Path) -> Result<Vec<PathBuf>, SpecError> {
    let mut found = Vec::new();
    let read = |dir: &Path| {
        std::fs::read_dir(dir).map_err(|source| SpecError::Unreadable {
            path: dir.to_owned(),
            source,
        })
    };
    for group in read(root)? {
        let group = group
            .map_err(|source| SpecError::Unreadable {
                path: root.to_owned(),
                source,
            })?
            .path();
        if !group.is_dir() {
            continue;
        }
        for entry in read(&group)? {
            let path = entry
                .map_err(|source| SpecError::Unreadable {
                    path: group.clone(),
                    source,
                })?
                .path();
            if path.extension().is_some_and(|e| e == "ron") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Resolves command-line targets (paths to .ron files or artefact ids) to spec files.
pub fn resolve_targets(root: &Path, targets: &[String]) -> Result<Vec<PathBuf>, SpecError> {
    if targets.is_empty() {
        return discover(root);
    }
    let mut paths = Vec::new();
    for target in targets {
        let as_path = PathBuf::from(target);
        if target.ends_with(".ron") {
            paths.push(as_path);
            continue;
        }
        let candidate = root.join(format!("{target}.ron"));
        if candidate.is_file() {
            paths.push(candidate);
            continue;
        }
        // A paper's directory (e.g. `lange2022`): every spec in it.
        let paper: Vec<PathBuf> = discover(root)?
            .into_iter()
            .filter(|p| artefact_id(p).is_ok_and(|id| id.group == target.trim_end_matches('/')))
            .collect();
        if !paper.is_empty() {
            paths.extend(paper);
            continue;
        }
        let known = discover(root)?
            .iter()
            .filter_map(|p| artefact_id(p).ok())
            .map(|id| id.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(SpecError::UnknownArtefact {
            id: target.clone(),
            known,
        });
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_of_counts_lines_and_columns_from_one() {
        assert_eq!(position_of("ab\ncd\n  ef", "ef"), Some((3, 3)));
        assert_eq!(position_of("ab", "zz"), None);
    }

    #[test]
    fn set_path_rejects_unknown_and_group_paths() {
        let mut v = serde_json::json!({"a": {"b": 1}});
        assert!(set_path(&mut v, "a.b", serde_json::json!(2)).is_ok());
        assert_eq!(v["a"]["b"], 2);
        assert!(
            set_path(&mut v, "a.c", serde_json::json!(2))
                .unwrap_err()
                .contains("use one of b")
        );
        assert!(set_path(&mut v, "a", serde_json::json!(2)).is_err());
    }
}
