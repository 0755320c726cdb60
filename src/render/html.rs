//! `outputs/index.html`: the whole reproduction on one self-contained page — every figure
//! inlined as SVG, its caption, its claims colour-coded, its provenance — with no network access
//! and no JavaScript.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::experiments::Unavailable;
use crate::pipeline::ArtefactResult;
use crate::spec::{LoadedSpec, Paper, Profile};
use crate::verify::ClaimResult;

/// Text safe inside HTML elements and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// An SVG file's `<svg …>…</svg>` element, ready to inline (its XML prologue dropped).
fn inline_svg(svg: &str) -> Option<&str> {
    let start = svg.find("<svg")?;
    let end = svg.rfind("</svg>")? + "</svg>".len();
    (start < end).then(|| &svg[start..end])
}

const STYLE: &str = "
body { font-family: 'DejaVu Sans', Arial, sans-serif; margin: 2em auto; max-width: 1300px; color: #222; }
h1 { margin-bottom: 0.2em; }
.meta { color: #555; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.pass { background: #e3f4e1; }
.fail { background: #fbe0e0; font-weight: bold; }
.notrep { background: #fff3d6; }
.skipped { background: #eeeeee; }
figure { margin: 0.5em 0; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9em; margin-top: 0.3em; }
section { border-top: 2px solid #ddd; padding-top: 0.6em; margin-top: 1.6em; }
.source { color: #555; font-size: 0.85em; }
.provenance { color: #666; font-size: 0.8em; }
";

fn result_class(result: ClaimResult) -> &'static str {
    match result {
        ClaimResult::Pass => "pass",
        ClaimResult::Fail | ClaimResult::NowReproduces => "fail",
        ClaimResult::NotReproduced => "notrep",
    }
}

#[derive(Default)]
struct Tally {
    passed: usize,
    failed: usize,
    not_reproduced: usize,
    skipped: usize,
}

/// The page. `outputs` is where the artefacts' files are (their SVGs are read and inlined; the
/// links are relative to it).
pub fn report_html(
    results: &[ArtefactResult],
    unavailable: &[(LoadedSpec, Unavailable)],
    profile: Profile,
    backend: &str,
    outputs: &Path,
) -> String {
    let mut tallies: BTreeMap<Paper, Tally> = BTreeMap::new();
    for r in results {
        let tally = tallies.entry(r.loaded.spec.paper).or_default();
        for o in &r.outcomes {
            match o.result() {
                ClaimResult::Pass => tally.passed += 1,
                ClaimResult::Fail | ClaimResult::NowReproduces => tally.failed += 1,
                ClaimResult::NotReproduced => tally.not_reproduced += 1,
            }
        }
    }
    for (loaded, _) in unavailable {
        tallies.entry(loaded.spec.paper).or_default().skipped += loaded.spec.claims.len();
    }

    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>modrepro report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>modrepro report</h1>\n<p class=\"meta\">Profile <code>{}</code>, backend <code>{}</code>, numerics version {}, analysis version {}.</p>\n",
        profile.name(),
        escape(backend),
        crate::NUMERICS_VERSION,
        crate::ANALYSIS_VERSION
    );
    html.push_str("<table id=\"summary\">\n<tr><th>paper</th><th>passed</th><th>failed</th><th>not reproduced</th><th>skipped</th></tr>\n");
    for (paper, t) in &tallies {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td class=\"num pass\">{}</td><td class=\"num{}\">{}</td><td class=\"num{}\">{}</td><td class=\"num{}\">{}</td></tr>",
            escape(paper.citation()),
            t.passed,
            if t.failed > 0 { " fail" } else { "" },
            t.failed,
            if t.not_reproduced > 0 { " notrep" } else { "" },
            t.not_reproduced,
            if t.skipped > 0 { " skipped" } else { "" },
            t.skipped
        );
    }
    html.push_str("</table>\n<p class=\"meta\">Not reproduced: measured, and found not to hold, as the spec documents (each note is shown with its claim). Skipped: the artefact cannot be produced on this machine.</p>\n");

    for r in results {
        artefact_section(&mut html, r, outputs);
    }
    for (loaded, reason) in unavailable {
        let _ = writeln!(
            html,
            "<section class=\"artefact\" id=\"{id}\">\n<h2>{id} — {title} ({figure})</h2>\n<p class=\"skipped\"><b>{status}</b>: {message}</p>\n<p class=\"meta\">{n} claim(s) not evaluated.</p>\n</section>",
            id = escape(&loaded.id.to_string()),
            title = escape(&loaded.spec.title),
            figure = escape(&loaded.spec.figure),
            status = escape(reason.status()),
            message = escape(reason.message()),
            n = loaded.spec.claims.len()
        );
    }
    html.push_str("</body>\n</html>\n");
    html
}

fn artefact_section(html: &mut String, r: &ArtefactResult, outputs: &Path) {
    let id = r.loaded.id.to_string();
    let link = |p: &Path| escape(&p.display().to_string());
    let _ = writeln!(
        html,
        "<section class=\"artefact\" id=\"{}\">\n<h2>{} — {} ({})</h2>",
        escape(&id),
        escape(&id),
        escape(&r.loaded.spec.title),
        escape(&r.loaded.spec.figure)
    );
    let svg = std::fs::read_to_string(outputs.join(&r.files[1])).unwrap_or_default();
    let figure = inline_svg(&svg).unwrap_or("<p class=\"fail\">figure missing</p>");
    let caption = format!(
        "{}. {} runs: {} from the cache, {} trained{}; {:.1} s.",
        r.notes.join(" ").trim_end_matches('.'),
        r.runs,
        r.stats.hits,
        r.stats.trained,
        if r.summary_cached {
            ", measurements from the cache"
        } else {
            ""
        },
        r.seconds
    );
    let _ = writeln!(
        html,
        "<figure>\n{figure}\n<figcaption>{}</figcaption>\n</figure>",
        escape(&caption)
    );
    html.push_str("<table class=\"claims\">\n<tr><th>claim</th><th>statement</th><th>published</th><th>measured</th><th>expected</th><th>result</th></tr>\n");
    for o in &r.outcomes {
        let result = o.result();
        let note = o.claim.not_reproduced.as_ref().map_or_else(String::new, |n| {
            format!("<br><span class=\"source\">Not reproduced: {}</span>", escape(n))
        });
        let _ = writeln!(
            html,
            "<tr class=\"claim {class}\"><td><code>{id}</code></td><td>{statement}<br><span class=\"source\">Source: {source}</span>{note}</td><td>{published}</td><td class=\"num\">{measured}</td><td>{expected}</td><td class=\"verdict\">{verdict}</td></tr>",
            class = result_class(result),
            id = escape(&o.claim.id),
            statement = escape(&o.claim.statement),
            source = escape(&o.claim.source),
            published = escape(&o.claim.published),
            measured = o
                .measured
                .map_or_else(|| "not measured".to_string(), |v| format!("{v:.4}")),
            expected = escape(&o.claim.expect.to_string()),
            verdict = escape(result.label()),
        );
    }
    html.push_str("</table>\n");
    let _ = writeln!(
        html,
        "<p class=\"provenance\">Spec <code>{}</code> (SHA-256 {}…). Files: <a href=\"{csv}\">{csv}</a>, <a href=\"{manifest}\">{manifest}</a> (every run's cache key), <a href=\"{png}\">{png}</a>.</p>\n</section>",
        escape(&r.loaded.path.display().to_string()),
        escape(&r.loaded.source_sha256[..16.min(r.loaded.source_sha256.len())]),
        csv = link(&r.files[2]),
        manifest = link(&r.files[3]),
        png = link(&r.files[0]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_svg_is_inlined_without_its_prologue() {
        assert_eq!(escape("a < b & \"c\""), "a &lt; b &amp; &quot;c&quot;");
        let svg = "<?xml version=\"1.0\"?>\n<svg width=\"1\"><text>x</text></svg>\n";
        assert_eq!(inline_svg(svg), Some("<svg width=\"1\"><text>x</text></svg>"));
        assert_eq!(inline_svg("no figure"), None);
    }
}
