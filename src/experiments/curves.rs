//! Per-group curves of a score against the sources' multiinformation: mean and standard error
//! over seeds at each sweep parameter (Fig 2's lines with bands).

use std::collections::BTreeMap;

use crate::render::figure::{Panel, Series};

/// The kept runs of one (group, parameter): the sources' NMI and each run's scores.
pub struct PointRuns {
    pub nmi: f64,
    pub cinfom: Vec<f64>,
    pub infom: Vec<f64>,
}

/// Per group, (nmi, mean, standard error) per parameter, sorted by nmi.
pub type Curves = BTreeMap<&'static str, Vec<(f64, f64, f64)>>;

pub fn curves(
    points: &BTreeMap<(String, String), PointRuns>,
    groups: &[&'static str],
    pick: fn(&PointRuns) -> &Vec<f64>,
) -> Curves {
    let mut by_group: Curves = BTreeMap::new();
    for ((group, _), runs) in points {
        let ys = pick(runs);
        if ys.is_empty() {
            continue;
        }
        let n = ys.len() as f64;
        let mean = ys.iter().sum::<f64>() / n;
        let se = if ys.len() > 1 {
            (ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() / n.sqrt()
        } else {
            0.0
        };
        let name = groups
            .iter()
            .find(|g| **g == group.as_str())
            .copied()
            .unwrap_or("other");
        by_group.entry(name).or_default().push((runs.nmi, mean, se));
    }
    for curve in by_group.values_mut() {
        curve.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    by_group
}

/// Linear interpolation of a curve sorted by x; `None` outside its range.
pub fn interpolate(curve: &[(f64, f64, f64)], x: f64) -> Option<f64> {
    curve.windows(2).find(|w| w[0].0 <= x && x <= w[1].0).map(|w| {
        let (x0, y0, x1, y1) = (w[0].0, w[0].1, w[1].0, w[1].1);
        if x1 > x0 {
            y0 + (y1 - y0) * (x - x0) / (x1 - x0)
        } else {
            y0
        }
    })
}

/// What the claims read of the group that cuts the range: the Spearman correlation of its
/// CInfoM with NMI, and its CInfoM and NMI at the largest cut.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CutCurve {
    pub spearman_cinfom_vs_nmi: Option<f64>,
    pub cinfom_at_max_nmi: Option<f64>,
    pub max_nmi: Option<f64>,
}

pub fn cut_curve(curves: &Curves, group: &str) -> CutCurve {
    let Some(cut) = curves.get(group) else {
        return CutCurve::default();
    };
    let (x, y): (Vec<f64>, Vec<f64>) = cut.iter().map(|p| (p.0, p.1)).unzip();
    // Curves are sorted by NMI: the last point is the largest cut.
    CutCurve {
        spearman_cinfom_vs_nmi: crate::analysis::stats::spearman(&x, &y),
        cinfom_at_max_nmi: cut.last().map(|p| p.1),
        max_nmi: cut.last().map(|p| p.0),
    }
}

/// What the claims read of a group that keeps the range: its lowest CInfoM and largest NMI.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KeptCurve {
    pub min_cinfom: Option<f64>,
    pub max_nmi: Option<f64>,
}

pub fn kept_curve(curves: &Curves, group: &str) -> KeptCurve {
    let Some(curve) = curves.get(group) else {
        return KeptCurve::default();
    };
    KeptCurve {
        min_cinfom: Some(curve.iter().map(|p| p.1).fold(f64::INFINITY, f64::min)),
        max_nmi: Some(curve.iter().map(|p| p.0).fold(0.0, f64::max)),
    }
}

/// The values a range-manipulation figure's claims read off its CInfoM curves: for the group
/// that cuts the range, Spearman(CInfoM, NMI) and CInfoM and NMI at its largest NMI; for the
/// groups that keep the range, their smallest CInfoM and largest NMI. Named `<group>_<what>`.
pub fn curve_measures(curves: &Curves, cut_group: &str, range_keeping: &[&str]) -> BTreeMap<String, f64> {
    let mut measured = BTreeMap::new();
    let cut = cut_curve(curves, cut_group);
    let named = [
        ("spearman_cinfom_vs_nmi", cut.spearman_cinfom_vs_nmi),
        ("cinfom_at_max_nmi", cut.cinfom_at_max_nmi),
        ("max_nmi", cut.max_nmi),
    ];
    for (name, value) in named {
        if let Some(v) = value {
            measured.insert(format!("{cut_group}_{name}"), v);
        }
    }
    for group in range_keeping {
        let kept = kept_curve(curves, group);
        for (name, value) in [("min_cinfom", kept.min_cinfom), ("max_nmi", kept.max_nmi)] {
            if let Some(v) = value {
                measured.insert(format!("{group}_{name}"), v);
            }
        }
    }
    measured
}

/// A panel with one line, band (± s.e.) and markers per group; colours follow `groups`.
pub fn curves_panel(title: &str, y_label: &str, groups: &[&'static str], curves: &Curves) -> Panel {
    Panel {
        title: title.into(),
        x_label: "source normalised multiinformation".into(),
        y_label: y_label.into(),
        equal_aspect: false,
        legend: crate::render::figure::Legend::LowerLeft,
        series: curves
            .iter()
            .flat_map(|(group, curve)| {
                let colour = groups.iter().position(|g| g == group).unwrap_or(4);
                let mut band: Vec<(f64, f64)> = curve.iter().map(|p| (p.0, p.1 + p.2)).collect();
                band.extend(curve.iter().rev().map(|p| (p.0, p.1 - p.2)));
                [
                    Series::band(format!("{group} ± s.e."), colour, band),
                    Series::line(group.to_string(), colour, curve.iter().map(|p| (p.0, p.1)).collect()),
                    Series::points(String::new(), colour, curve.iter().map(|p| (p.0, p.1)).collect()),
                ]
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_inside_and_outside() {
        let curve = [(0.0, 1.0, 0.0), (0.02, 0.8, 0.0)];
        assert!((interpolate(&curve, 0.01).unwrap() - 0.9).abs() < 1e-12);
        assert_eq!(interpolate(&curve, 0.03), None);
    }
}
