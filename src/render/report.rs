//! `outputs/REPORT.md` and the claims table printed by `verify`.

use std::fmt::Write;

use crate::experiments::Unavailable;
use crate::pipeline::ArtefactResult;
use crate::spec::LoadedSpec;
use crate::spec::Profile;
use crate::verify::ClaimResult;

fn fmt_measured(v: Option<f64>) -> String {
    v.map_or_else(|| "not measured".into(), |v| format!("{v:.4}"))
}

/// Rows of (artefact, claim, published, measured, expectation, verdict); claims of artefacts
/// that could not be produced are listed with the reason instead of a verdict.
pub fn claim_rows(results: &[ArtefactResult], unavailable: &[(LoadedSpec, Unavailable)]) -> Vec<[String; 6]> {
    let skipped = unavailable.iter().flat_map(|(loaded, reason)| {
        loaded.spec.claims.iter().map(move |c| {
            [
                loaded.id.to_string(),
                c.id.clone(),
                c.published.clone(),
                "—".into(),
                c.expect.to_string(),
                reason.status().to_string(),
            ]
        })
    });
    results
        .iter()
        .flat_map(|r| {
            r.outcomes.iter().map(move |o| {
                [
                    r.loaded.id.to_string(),
                    o.claim.id.clone(),
                    o.claim.published.clone(),
                    fmt_measured(o.measured),
                    o.claim.expect.to_string(),
                    o.result().label().into(),
                ]
            })
        })
        .chain(skipped)
        .collect()
}

/// A plain-text table for the terminal.
pub fn claims_table(results: &[ArtefactResult], unavailable: &[(LoadedSpec, Unavailable)]) -> String {
    let header = ["artefact", "claim", "published", "measured", "expected", "result"].map(String::from);
    let rows = claim_rows(results, unavailable);
    text_table(&header, &rows, 48)
}

/// A plain-text table with columns as wide as their widest cell (at most `max_width` characters;
/// longer cells are cut) and a rule under the header.
pub fn text_table<const N: usize>(header: &[String; N], rows: &[[String; N]], max_width: usize) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
                .min(max_width)
        })
        .collect();
    let line = |cells: &[String; N]| {
        let mut s = String::new();
        for (c, cell) in cells.iter().enumerate() {
            let shown: String = cell.chars().take(widths[c]).collect();
            let pad = widths[c] - shown.chars().count();
            let _ = write!(s, "{shown}{}  ", " ".repeat(pad));
        }
        s.trim_end().to_string()
    };
    let mut out = line(header) + "\n";
    out += &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("  ");
    out += "\n";
    for row in rows {
        out += &line(row);
        out += "\n";
    }
    out
}

pub fn report_markdown(
    results: &[ArtefactResult],
    unavailable: &[(LoadedSpec, Unavailable)],
    profile: Profile,
    backend: &str,
) -> String {
    let mut md = String::new();
    let passed = results
        .iter()
        .flat_map(|r| &r.outcomes)
        .filter(|o| o.result() == ClaimResult::Pass)
        .count();
    let not_reproduced = results
        .iter()
        .flat_map(|r| &r.outcomes)
        .filter(|o| o.result() == ClaimResult::NotReproduced)
        .count();
    let total: usize = results.iter().map(|r| r.outcomes.len()).sum();
    let _ = writeln!(md, "# modrepro report\n");
    let _ = writeln!(
        md,
        "Profile `{}`, backend `{backend}`, numerics version {}. Claims: **{passed} of {total} pass**{}{}.\n",
        profile.name(),
        crate::NUMERICS_VERSION,
        if not_reproduced > 0 {
            format!("; {not_reproduced} measured and not reproduced, as their specs document")
        } else {
            String::new()
        },
        if unavailable.is_empty() {
            String::new()
        } else {
            format!(
                "; {} artefact(s) unavailable here, their claims not evaluated",
                unavailable.len()
            )
        }
    );
    let _ = writeln!(
        md,
        "| artefact | claim | published | measured | expected | result |\n|---|---|---|---|---|---|"
    );
    for row in claim_rows(results, unavailable) {
        let _ = writeln!(md, "| {} |", row.map(|c| c.replace('|', "\\|")).join(" | "));
    }
    for r in results {
        let spec = &r.loaded.spec;
        let _ = writeln!(md, "\n## {} — {} ({})\n", r.loaded.id, spec.title, spec.figure);
        let _ = writeln!(md, "{}. Spec: `{}`.\n", spec.paper.citation(), r.loaded.path.display());
        let _ = writeln!(md, "![{}]({})\n", r.loaded.id, r.files[0].display());
        for note in &r.notes {
            let _ = writeln!(md, "- {note}");
        }
        let _ = writeln!(
            md,
            "- {} runs: {} from the cache, {} trained{}; {:.1} s.",
            r.runs,
            r.stats.hits,
            r.stats.trained,
            if r.stats.corrupt > 0 {
                format!(", {} corrupt entries recomputed", r.stats.corrupt)
            } else {
                String::new()
            },
            r.seconds
        );
        let _ = writeln!(md, "- Table: [`{}`]({}).\n", r.files[2].display(), r.files[2].display());
        for o in &r.outcomes {
            let _ = writeln!(
                md,
                "- **{}** ({}): {} Published: {}. Measured `{}` = {} (expected {}). Source: {}",
                o.claim.id,
                o.result().label(),
                o.claim.statement,
                o.claim.published,
                o.claim.measure,
                fmt_measured(o.measured),
                o.claim.expect,
                o.claim.source
            );
            if let Some(why) = &o.claim.not_reproduced {
                let _ = writeln!(md, "  - Not reproduced: {why}");
            }
        }
    }
    for (loaded, reason) in unavailable {
        let _ = writeln!(
            md,
            "\n## {} — {} ({})\n",
            loaded.id, loaded.spec.title, loaded.spec.figure
        );
        let _ = writeln!(md, "**{}**: {}\n", reason.status(), reason.message());
        let _ = writeln!(
            md,
            "Spec: `{}`; its {} claim(s) were not evaluated.",
            loaded.path.display(),
            loaded.spec.claims.len()
        );
    }
    md
}
