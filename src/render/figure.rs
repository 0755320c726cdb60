//! Figures as data (panels of series), drawn by plotters to PNG and SVG.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::font::{FAMILY, ensure_registered};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Style {
    Points,
    Line,
    /// Consecutive pairs of points are separate segments.
    Segments,
    /// A closed polygon, filled translucent (error bands).
    Band,
    /// Unit cells at the points' (column, row), shaded by `values` (white → dark blue, scaled
    /// to the largest value).
    Heatmap,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Series {
    pub label: String,
    pub style: Style,
    /// Index into the palette.
    pub colour: usize,
    pub points: Vec<(f64, f64)>,
    /// Cell values, for heatmaps (one per point); empty otherwise.
    pub values: Vec<f64>,
}

impl Series {
    pub fn points(label: impl Into<String>, colour: usize, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            style: Style::Points,
            colour,
            points,
            values: Vec::new(),
        }
    }
    pub fn line(label: impl Into<String>, colour: usize, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            style: Style::Line,
            colour,
            points,
            values: Vec::new(),
        }
    }
    pub fn segments(label: impl Into<String>, colour: usize, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            style: Style::Segments,
            colour,
            points,
            values: Vec::new(),
        }
    }
    /// An n × n matrix (row-major) as a heatmap, row 0 at the top.
    pub fn heatmap(label: impl Into<String>, n: usize, matrix: &[f64]) -> Self {
        let points = (0..n * n).map(|k| ((k % n) as f64, (n - 1 - k / n) as f64)).collect();
        Self {
            label: label.into(),
            style: Style::Heatmap,
            colour: 0,
            points,
            values: matrix.to_vec(),
        }
    }

    /// The points that can be drawn (a NaN or ∞ coordinate is skipped).
    fn finite_points(&self) -> Vec<(f64, f64)> {
        self.points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect()
    }

    pub fn band(label: impl Into<String>, colour: usize, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            style: Style::Band,
            colour,
            points,
            values: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Same scale on both axes (for point clouds in source space).
    pub equal_aspect: bool,
    /// Where the legend goes (out of the data's way).
    pub legend: Legend,
    pub series: Vec<Series>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub enum Legend {
    #[default]
    UpperRight,
    LowerLeft,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Figure {
    pub columns: usize,
    pub panels: Vec<Panel>,
}

/// Tableau 10, the first five.
const PALETTE: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

const PANEL_WIDTH: u32 = 620;
const PANEL_HEIGHT: u32 = 480;

type DrawResult = Result<(), Box<dyn std::error::Error>>;

impl Figure {
    fn size(&self) -> (u32, u32) {
        let columns = self.columns.max(1);
        let rows = self.panels.len().div_ceil(columns).max(1);
        (PANEL_WIDTH * columns as u32, PANEL_HEIGHT * rows as u32)
    }

    /// Writes PNG and SVG renderings, each atomically.
    pub fn write(&self, png: &Path, svg: &Path) -> DrawResult {
        ensure_registered();
        let size = self.size();
        let tmp = crate::fsutil::sibling_temp_path(png);
        {
            let root = BitMapBackend::new(&tmp, size).into_drawing_area();
            self.draw(&root)?;
            root.present()?;
        }
        std::fs::rename(&tmp, png)?;
        let mut svg_text = String::new();
        {
            let root = SVGBackend::with_string(&mut svg_text, size).into_drawing_area();
            self.draw(&root)?;
            root.present()?;
        }
        crate::fsutil::write_atomic(svg, svg_text.as_bytes())?;
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let columns = self.columns.max(1);
        let rows = self.panels.len().div_ceil(columns).max(1);
        let areas = root.split_evenly((rows, columns));
        for (area, panel) in areas.iter().zip(&self.panels) {
            draw_panel(area, panel)?;
        }
        Ok(())
    }
}

fn finite_points(panel: &Panel) -> impl Iterator<Item = (f64, f64)> + '_ {
    panel
        .series
        .iter()
        .flat_map(|s| {
            // A heatmap cell spans [x, x + 1] × [y, y + 1].
            let corner = if s.style == Style::Heatmap { 1.0 } else { 0.0 };
            s.points
                .iter()
                .flat_map(move |&(x, y)| [(x, y), (x + corner, y + corner)])
        })
        .filter(|(x, y)| x.is_finite() && y.is_finite())
}

fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let span = (hi - lo).max(1e-9);
    (lo - 0.06 * span, hi + 0.06 * span)
}

fn ranges(panel: &Panel) -> ((f64, f64), (f64, f64)) {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for (x, y) in finite_points(panel) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    let (mut xr, mut yr) = (padded(x0, x1), padded(y0, y1));
    if panel.equal_aspect {
        let half = (xr.1 - xr.0).max(yr.1 - yr.0) / 2.0;
        let (cx, cy) = ((xr.0 + xr.1) / 2.0, (yr.0 + yr.1) / 2.0);
        xr = (cx - half, cx + half);
        yr = (cy - half, cy + half);
    }
    (xr, yr)
}

/// Whether `band` is drawn around `line`: a band of the line's colour whose label extends the
/// line's ("corner ± s.e." around "corner").
fn surrounds(band: &Series, line: &Series) -> bool {
    band.style == Style::Band
        && line.style != Style::Band
        && !line.label.is_empty()
        && band.colour == line.colour
        && band.label.starts_with(line.label.as_str())
}

/// The legend's entries: every labelled series but heatmaps and but bands drawn around a line;
/// such a line's entry takes its band's label, so each curve is listed once.
fn legend_entries(panel: &Panel) -> Vec<(usize, String)> {
    let all = &panel.series;
    all.iter()
        .enumerate()
        .filter(|(_, s)| !s.label.is_empty() && s.style != Style::Heatmap)
        .filter(|(_, s)| !all.iter().any(|line| surrounds(s, line)))
        .map(|(k, s)| {
            let band = all.iter().find(|band| surrounds(band, s));
            (k, band.map_or_else(|| s.label.clone(), |b| b.label.clone()))
        })
        .collect()
}

/// Where the legend sits, as fractions of the plotting area (x from the left, y from the top).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Corner {
    UpperLeft,
    UpperRight,
    LowerLeft,
    LowerRight,
}

impl Corner {
    fn position(self) -> SeriesLabelPosition {
        match self {
            Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
            Corner::UpperRight => SeriesLabelPosition::UpperRight,
            Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
            Corner::LowerRight => SeriesLabelPosition::LowerRight,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct LegendBox {
    corner: Corner,
    x: (f64, f64),
    y: (f64, f64),
}

/// Pixels of the plotting area inside a panel of `PANEL_WIDTH` × `PANEL_HEIGHT` (less the axis
/// label areas, margins and caption set in [`draw_panel`]).
const PLOT_WIDTH: f64 = (PANEL_WIDTH - 55 - 2 * 12) as f64;
const PLOT_HEIGHT: f64 = (PANEL_HEIGHT - 40 - 2 * 12 - 25) as f64;

/// The four corner boxes a legend of `entries` may take, the panel's preferred corner first.
fn legend_boxes(entries: &[(usize, String)], preferred: Legend) -> Vec<LegendBox> {
    let longest = entries.iter().map(|(_, l)| l.chars().count()).max().unwrap_or(0) as f64;
    // plotters' legend: ≈ 17 px per entry at 12 px text, a 12 px marker, padding and a 5 px
    // margin from the plot's edge.
    let (w, h) = (
        ((40.0 + 6.6 * longest) / PLOT_WIDTH).min(1.0),
        ((12.0 + 17.0 * entries.len() as f64) / PLOT_HEIGHT).min(1.0),
    );
    let upper_right = LegendBox {
        corner: Corner::UpperRight,
        x: (1.0 - w, 1.0),
        y: (0.0, h),
    };
    let upper_left = LegendBox {
        corner: Corner::UpperLeft,
        x: (0.0, w),
        y: (0.0, h),
    };
    let lower_right = LegendBox {
        corner: Corner::LowerRight,
        x: (1.0 - w, 1.0),
        y: (1.0 - h, 1.0),
    };
    let lower_left = LegendBox {
        corner: Corner::LowerLeft,
        x: (0.0, w),
        y: (1.0 - h, 1.0),
    };
    match preferred {
        Legend::UpperRight => vec![upper_right, upper_left, lower_right, lower_left],
        Legend::LowerLeft => vec![lower_left, lower_right, upper_right, upper_left],
    }
}

/// Every drawn point of the panel, lines and bands densified so that a line crossing a box
/// between two vertices still counts as inside it.
fn drawn_points(panel: &Panel) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for s in panel.series.iter().filter(|s| s.style != Style::Heatmap) {
        let points = s.finite_points();
        out.extend(&points);
        let pairs: Vec<((f64, f64), (f64, f64))> = match s.style {
            Style::Line | Style::Band => points.windows(2).map(|w| (w[0], w[1])).collect(),
            Style::Segments => points.chunks_exact(2).map(|w| (w[0], w[1])).collect(),
            _ => Vec::new(),
        };
        for (a, b) in pairs {
            out.extend((1..24).map(|k| {
                let t = k as f64 / 24.0;
                (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))
            }));
        }
    }
    out
}

/// How many drawn points fall inside `legend` on axes `x` × `y`.
fn covered(points: &[(f64, f64)], legend: &LegendBox, x: (f64, f64), y: (f64, f64)) -> usize {
    points
        .iter()
        .filter(|&&(px, py)| {
            let fx = (px - x.0) / (x.1 - x.0);
            let fy = (y.1 - py) / (y.1 - y.0);
            (legend.x.0..=legend.x.1).contains(&fx) && (legend.y.0..=legend.y.1).contains(&fy)
        })
        .count()
}

/// The legend's corner and the y range: the corner covering the fewest drawn points; where
/// every corner covers some, the preferred upper corner with the y axis raised until the data
/// under the legend sit below it — a legend never hides data.
fn place_legend(panel: &Panel, entries: &[(usize, String)], x: (f64, f64), y: (f64, f64)) -> (Corner, (f64, f64)) {
    let points = drawn_points(panel);
    let boxes = legend_boxes(entries, panel.legend);
    let best = boxes
        .iter()
        .min_by_key(|b| covered(&points, b, x, y))
        .copied()
        .expect("four candidate corners");
    if covered(&points, &best, x, y) == 0 {
        return (best.corner, y);
    }
    let top = boxes.iter().find(|b| b.y.0 == 0.0).copied().expect("an upper corner");
    let under: f64 = points
        .iter()
        .filter(|&&(px, _)| (top.x.0..=top.x.1).contains(&((px - x.0) / (x.1 - x.0))))
        .map(|&(_, py)| py)
        .fold(f64::NEG_INFINITY, f64::max);
    // Raise the top so that `under` lies (a small gap) below the legend's lower edge.
    let h = (top.y.1 + 0.02).min(0.9);
    let raised = y.0 + (under - y.0) / (1.0 - h);
    (top.corner, (y.0, raised.max(y.1)))
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let ((x0, x1), (y0, y1)) = ranges(panel);
    let entries = legend_entries(panel);
    let (legend_corner, (y0, y1)) = if entries.is_empty() {
        (Corner::UpperRight, (y0, y1))
    } else {
        place_legend(panel, &entries, (x0, x1), (y0, y1))
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FAMILY, 15))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .label_style((FAMILY, 12))
        .axis_desc_style((FAMILY, 13))
        .draw()?;
    for series in &panel.series {
        let colour = PALETTE[series.colour % PALETTE.len()];
        let points = series.finite_points();
        let drawn = match series.style {
            Style::Points => chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?,
            Style::Line => chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?,
            Style::Segments => chart.draw_series(
                points
                    .chunks_exact(2)
                    .map(|pair| PathElement::new(vec![pair[0], pair[1]], colour.stroke_width(2))),
            )?,
            Style::Band => chart.draw_series(std::iter::once(Polygon::new(points, colour.mix(0.2).filled())))?,
            Style::Heatmap => {
                let top = series
                    .values
                    .iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .fold(0.0, f64::max)
                    .max(1e-300);
                chart.draw_series(series.points.iter().zip(&series.values).map(|(&(x, y), &v)| {
                    let t = (v / top).clamp(0.0, 1.0);
                    let shade = |white: f64, dark: f64| (white + (dark - white) * t) as u8;
                    let cell = RGBColor(shade(255.0, 8.0), shade(255.0, 48.0), shade(255.0, 107.0));
                    Rectangle::new([(x, y), (x + 1.0, y + 1.0)], cell.filled())
                }))?
            }
        };
        // Series without a label (e.g. markers on a labelled line) get no legend entry; the
        // marker shows how the series is drawn.
        if let Some((_, label)) = entries.iter().find(|(k, _)| std::ptr::eq(&panel.series[*k], series)) {
            let style = series.style;
            drawn
                .label(label.as_str())
                .legend(move |(x, y)| -> DynElement<'static, DB, (i32, i32)> {
                    match style {
                        Style::Points => Circle::new((x + 6, y), 3, colour.filled()).into_dyn(),
                        Style::Line | Style::Segments => {
                            PathElement::new(vec![(x, y), (x + 12, y)], colour.stroke_width(2)).into_dyn()
                        }
                        _ => Rectangle::new([(x, y - 4), (x + 12, y + 4)], colour.mix(0.4).filled()).into_dyn(),
                    }
                });
        }
    }
    if !entries.is_empty() {
        chart
            .configure_series_labels()
            .label_font((FAMILY, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(legend_corner.position())
            .draw()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_png_and_svg_with_text_and_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let figure = Figure {
            columns: 1,
            panels: vec![Panel {
                title: "a title".into(),
                x_label: "x".into(),
                y_label: "y".into(),
                equal_aspect: true,
                legend: Legend::UpperRight,
                series: vec![
                    Series::points("pts", 0, vec![(0.0, 0.0), (1.0, 1.0), (f64::NAN, 2.0)]),
                    Series::line("line", 1, vec![(0.0, 1.0), (1.0, 0.0)]),
                    Series::segments("segs", 2, vec![(0.5, 0.5), (0.7, 0.9)]),
                ],
            }],
        };
        let (png, svg) = (dir.path().join("f.png"), dir.path().join("f.svg"));
        figure.write(&png, &svg).unwrap();
        let svg_text = std::fs::read_to_string(&svg).unwrap();
        assert!(svg_text.contains("a title"), "the title is drawn as text");
        let first = std::fs::read(&png).unwrap();
        assert!(first.len() > 5_000 && first.starts_with(b"\x89PNG"));
        figure.write(&png, &svg).unwrap();
        assert_eq!(first, std::fs::read(&png).unwrap());
    }

    fn panel(series: Vec<Series>) -> Panel {
        Panel {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            equal_aspect: false,
            legend: Legend::UpperRight,
            series,
        }
    }

    #[test]
    fn a_band_and_its_line_make_one_legend_entry() {
        let p = panel(vec![
            Series {
                label: "corner ± s.e.".into(),
                style: Style::Band,
                colour: 2,
                points: vec![(0.0, 0.0), (1.0, 1.0), (1.0, 0.5)],
                values: vec![],
            },
            Series::line("corner", 2, vec![(0.0, 0.0), (1.0, 1.0)]),
            Series::line("diag", 3, vec![(0.0, 1.0), (1.0, 0.0)]),
        ]);
        let labels: Vec<String> = legend_entries(&p).into_iter().map(|(_, l)| l).collect();
        assert_eq!(labels, ["corner ± s.e.", "diag"]);
    }

    #[test]
    fn the_legend_takes_a_free_corner_or_raises_the_axis_never_covering_data() {
        let entries = vec![(0, "a".to_string()), (1, "b".to_string())];
        // A rising line leaves the upper left and lower right free: the preferred upper right is
        // covered, so the legend moves.
        let rising = panel(vec![Series::line("a", 0, vec![(0.0, 0.0), (1.0, 1.0)])]);
        let (corner, y) = place_legend(&rising, &entries, (0.0, 1.0), (0.0, 1.0));
        assert_eq!((corner, y), (Corner::UpperLeft, (0.0, 1.0)));
        // Data along every edge: the y axis is raised until the data sit below the legend.
        let edges = panel(vec![
            Series::line("a", 0, vec![(0.0, 1.0), (1.0, 1.0)]),
            Series::line("b", 1, vec![(0.0, 0.0), (1.0, 0.0)]),
        ]);
        let (corner, (y0, y1)) = place_legend(&edges, &entries, (0.0, 1.0), (0.0, 1.0));
        assert_eq!(corner, Corner::UpperRight);
        assert!(y0 == 0.0 && y1 > 1.05, "{y1}");
        let legend = legend_boxes(&entries, Legend::UpperRight)[0];
        assert_eq!(covered(&drawn_points(&edges), &legend, (0.0, 1.0), (y0, y1)), 0);
    }
}
