//! The paper's Figure 2 for our runs: the cumulative rate of targets solved by the policy's
//! search (percent of all targets) per meta-iteration, one line per method, the enumerator's
//! solve rate as a flat dashed line, and the paper's
//! reported points (after 20 meta-iterations) as a reference series. Two panels, one per solve
//! rule (all known terms, the headline; terms 26..35, the paper's). Drawn with `plotters` to PNG
//! and SVG; the text is DejaVu Sans, embedded, so the PNG's pixels do not depend on the fonts
//! of the machine.

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// One method's line: (label, [(iteration, percent solved by its search on all known terms, by
/// the paper's rule)]).
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub label: String,
    pub points: Vec<(u32, f64, f64)>,
}

/// What the figure shows.
#[derive(Clone, Debug, Default)]
pub struct Figure {
    pub methods: Vec<Line>,
    /// The enumerator's solve rate (percent, all known terms / paper's rule), when measured.
    pub enumeration: Option<(f64, f64)>,
    /// The number of targets the rates are over (in the caption).
    pub targets: usize,
}

/// The paper's reported solve rates after 20 meta-iterations (DESIGN.md section 7), by its rule
/// (terms 26..35): (method, percent).
pub const PAPER: [(&str, f64); 4] = [
    ("full", 11.5),
    ("baseline", 8.7),
    ("uniform", 10.4),
    ("no-hindsight", 5.3),
];
/// The meta-iteration the paper's points are at.
pub const PAPER_ITERATION: u32 = 20;

pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 560;

/// A method's colour (the same in both panels and for its paper point).
fn colour(label: &str) -> RGBColor {
    let first = label.split(',').next().unwrap_or("").trim();
    match first {
        "full" => RGBColor(31, 119, 180),
        "baseline" => RGBColor(255, 127, 14),
        "uniform" => RGBColor(44, 160, 44),
        "no-hindsight" => RGBColor(214, 39, 40),
        "random-init" => RGBColor(148, 103, 189),
        _ => RGBColor(23, 190, 207),
    }
}

const GREY: RGBColor = RGBColor(110, 110, 110);

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // the embedded font is valid: registering it cannot fail
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// Writes the figure as PNG.
pub fn png(fig: &Figure, path: &Path) -> Result<()> {
    register_font();
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    draw(fig, &root)?;
    root.present()
        .map_err(|e| anyhow!("writing {}: {e}", path.display()))
}

/// The figure as an SVG document.
pub fn svg(fig: &Figure) -> Result<String> {
    register_font();
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (WIDTH, HEIGHT)).into_drawing_area();
        draw(fig, &root)?;
        root.present()
            .map_err(|e| anyhow!("drawing the SVG: {e}"))?;
    }
    Ok(s)
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing the figure: {e:?}")
}

fn draw<DB: DrawingBackend>(fig: &Figure, root: &DrawingArea<DB, Shift>) -> Result<()> {
    root.fill(&WHITE).map_err(err)?;
    let root = root
        .titled(
            &format!(
                "Targets solved by the policy's search (cumulative, % of {} targets) per meta-iteration",
                fig.targets
            ),
            ("sans-serif", 22),
        )
        .map_err(err)?;
    let (left, right) = root.split_horizontally(WIDTH / 2);
    panel(fig, &left, true)?;
    panel(fig, &right, false)?;
    Ok(())
}

/// The smallest of 1, 2, 2.5, 5 × 10^n at or above `v`.
pub fn nice_ceiling(v: f64) -> f64 {
    let v = v.max(0.1);
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v - 1e-9 {
            return m * mag;
        }
    }
    10.0 * mag
}

/// One panel: `all_terms` picks the rule.
fn panel<DB: DrawingBackend>(
    fig: &Figure,
    area: &DrawingArea<DB, Shift>,
    all_terms: bool,
) -> Result<()> {
    let pick = |p: &(u32, f64, f64)| if all_terms { p.1 } else { p.2 };
    let last = fig
        .methods
        .iter()
        .flat_map(|m| m.points.iter().map(|p| p.0))
        .max()
        .unwrap_or(1);
    // the paper's points sit at iteration 20; the axis reaches them on the paper's rule
    let x_max = if all_terms {
        last.max(1)
    } else {
        last.max(PAPER_ITERATION)
    };
    let mut y_max = fig
        .methods
        .iter()
        .flat_map(|m| m.points.iter().map(pick))
        .fold(0.0f64, f64::max);
    if let Some(e) = fig.enumeration {
        y_max = y_max.max(if all_terms { e.0 } else { e.1 });
    }
    if !all_terms {
        y_max = y_max.max(PAPER.iter().map(|p| p.1).fold(0.0, f64::max));
    }
    let y_max = nice_ceiling(y_max * 1.08);
    let caption = if all_terms {
        "all known terms (the headline rule)"
    } else {
        "terms 26..35 (the paper's rule)"
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(16)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(0.5f64..(x_max as f64 + 0.5), 0f64..y_max)
        .map_err(err)?;
    let decimals = if y_max <= 2.0 { 2 } else { 1 };
    chart
        .configure_mesh()
        .x_desc("meta-iteration")
        .y_desc("targets solved (%)")
        .x_labels((x_max as usize).min(20) + 1)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-6 && *x >= 1.0 {
                format!("{}", x.round() as i64)
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| format!("{y:.decimals$}%"))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    if let Some(e) = fig.enumeration {
        let v = if all_terms { e.0 } else { e.1 };
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.5, v), (x_max as f64 + 0.5, v)],
                8,
                5,
                GREY.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!("enumeration alone ({v:.2}%)"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREY.stroke_width(2)));
    }
    for m in &fig.methods {
        let c = colour(&m.label);
        let pts: Vec<(f64, f64)> = m.points.iter().map(|p| (p.0 as f64, pick(p))).collect();
        let end = pts.last().map_or(0.0, |p| p.1);
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
            .map_err(err)?
            .label(format!("{} ({end:.2}%)", m.label))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|p| Circle::new(*p, 4, c.filled())))
            .map_err(err)?;
    }
    if !all_terms {
        for (i, (name, v)) in PAPER.iter().enumerate() {
            let c = colour(name);
            let s = chart
                .draw_series(std::iter::once(TriangleMarker::new(
                    (PAPER_ITERATION as f64, *v),
                    9,
                    c.filled(),
                )))
                .map_err(err)?;
            if i == 0 {
                s.label("paper, after 20 iterations (triangles)")
                    .legend(|(x, y)| TriangleMarker::new((x + 10, y), 7, GREY.filled()));
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig() -> Figure {
        Figure {
            methods: vec![
                Line {
                    label: "full".into(),
                    points: vec![(1, 10.0, 25.0), (2, 14.0, 31.0)],
                },
                Line {
                    label: "baseline".into(),
                    points: vec![(1, 10.0, 25.0), (2, 12.0, 29.0)],
                },
            ],
            enumeration: Some((13.0, 30.0)),
            targets: 10_000,
        }
    }

    #[test]
    fn svg_names_every_series() {
        let s = svg(&fig()).unwrap();
        assert!(s.starts_with("<svg"));
        for label in [
            "full (14.00%)",
            "baseline (12.00%)",
            "enumeration alone (13.00%)",
            "enumeration alone (30.00%)",
            "paper, after 20 iterations",
            "meta-iteration",
            "10000 targets",
        ] {
            assert!(s.contains(label), "missing {label:?}");
        }
    }

    #[test]
    fn png_is_drawn() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.png");
        png(&fig(), &p).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(&bytes[1..4], b"PNG");
        // deterministic: the same figure gives the same bytes
        let q = dir.path().join("g.png");
        png(&fig(), &q).unwrap();
        assert_eq!(bytes, std::fs::read(&q).unwrap());
    }

    #[test]
    fn ceilings() {
        assert_eq!(nice_ceiling(2.3), 2.5);
        assert_eq!(nice_ceiling(11.5), 20.0);
        assert_eq!(nice_ceiling(31.0), 50.0);
        assert_eq!(nice_ceiling(0.0), 0.1);
    }
}
