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

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let ((x0, x1), (y0, y1)) = ranges(panel);
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
        let points: Vec<(f64, f64)> = series
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect();
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
        // Series without a label (e.g. markers on a labelled line) get no legend entry.
        if !series.label.is_empty() && series.style != Style::Heatmap {
            drawn
                .label(series.label.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 4), (x + 12, y + 4)], colour.filled()));
        }
    }
    if panel
        .series
        .iter()
        .any(|s| !s.label.is_empty() && s.style != Style::Heatmap)
    {
        chart
            .configure_series_labels()
            .label_font((FAMILY, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(match panel.legend {
                Legend::UpperRight => SeriesLabelPosition::UpperRight,
                Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
            })
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
}
