//! `outputs/index.html` of a smoke run: self-contained (every figure inlined as SVG, no
//! scripts, no remote resources), every claim row with its verdict, and — where Chromium is
//! installed — rendered by a real headless browser, whose DOM is checked and whose screenshot is
//! kept in the test's temporary directory for a person to look at.

mod util;

use std::process::Command;

use util::{Project, random_sets_spec};

fn spec() -> String {
    random_sets_spec(
        3,
        20,
        r#"claims: [
        Claim(id: "holds", statement: "s", measure: "verdict_accuracy", expect: AtLeast(0.0), published: "p", source: "Fig <1d> & co"),
        Claim(id: "fails", statement: "s", measure: "verdict_accuracy", expect: AtLeast(2.0), published: "p", source: "s"),
        Claim(id: "known", statement: "s", measure: "verdict_accuracy", expect: AtLeast(3.0), published: "p", source: "s", not_reproduced: Some("measured below 3")),
    ],"#,
    )
}

#[test]
fn the_page_is_self_contained_and_shows_every_figure_and_verdict() {
    let p = Project::new();
    p.write("specs/t/a.ron", &spec());
    let run = p.modrepro(&["verify"]);
    assert_eq!(run.code, 1, "one claim fails: {}", run.stdout);
    let html = p.read("outputs/index.html");
    assert!(html.contains("<svg"), "the figure is inlined");
    assert!(!html.contains("<script"), "no JavaScript");
    for needle in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(!html.contains(needle), "a remote resource: {needle}");
    }
    assert!(html.contains("Fig &lt;1d&gt; &amp; co"), "text is escaped");
    for (claim, class) in [("holds", "pass"), ("fails", "fail"), ("known", "notrep")] {
        let row = html
            .lines()
            .find(|l| l.contains(&format!("<code>{claim}</code>")))
            .unwrap_or_else(|| panic!("no row for {claim}"));
        assert!(row.contains(&format!("class=\"claim {class}\"")), "{claim}: {row}");
    }
    assert!(html.contains("Not reproduced: measured below 3"));
    assert!(html.contains("href=\"t/a.csv\""), "relative links to the files");
}

/// The first of `names` that runs, or `None`.
fn chromium() -> Option<String> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(|name| {
            Command::new(name)
                .arg("--version")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| name.to_string())
        })
}

#[test]
fn a_headless_browser_renders_the_page() {
    let Some(browser) = chromium() else {
        eprintln!("skipped: no Chromium here (apt-get install chromium) — the page's DOM was not checked in a browser");
        return;
    };
    let p = Project::new();
    p.write("specs/t/a.ron", &spec());
    p.modrepro(&["verify"]);
    let page = p.path().join("outputs/index.html");
    let url = format!("file://{}", page.display());
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
    ];
    let dom = Command::new(&browser)
        .args(common)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("the browser runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.contains("<svg"),
        "the browser's DOM has the figure: {}",
        &dom[..dom.len().min(500)]
    );
    assert_eq!(dom.matches("class=\"claim ").count(), 3, "every claim row");
    assert!(dom.contains("class=\"verdict\">pass<") && dom.contains("class=\"verdict\">FAIL<"));
    let shot = p.path().join("outputs/screenshot.png");
    let status = Command::new(&browser)
        .args(common)
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1300,1800")
        .arg(&url)
        .status()
        .expect("the browser runs");
    assert!(status.success());
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real screenshot ({} bytes)",
        png.len()
    );
    // Keep one for a person to look at, when asked to.
    if let Ok(dir) = std::env::var("MODREPRO_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, std::path::Path::new(&dir).join("index.png")).unwrap();
    }
}
