//! A small, self-contained SVG plot writer: scatter points and/or lines, linear or log axes,
//! labelled axes with round tick values, and a legend. Enough for rate-distortion plots
//! (`ecq analyze`) and benchmark curves; no plotting crate needed.

use std::fmt::Write;

use crate::{Error, Result};

/// How an axis maps values to pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// Linear axis.
    Linear,
    /// Base-10 logarithmic axis (only positive values are drawn).
    Log10,
}

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Markers only.
    Points,
    /// A polyline through the points in the given order.
    Lines,
    /// A polyline with a marker at every point.
    LinesAndPoints,
}

/// One named series of (x, y) points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points, drawn in this order. Non-finite points (and non-positive ones on a log axis) are
    /// skipped.
    pub points: Vec<(f64, f64)>,
    /// Drawing style.
    pub style: Style,
}

/// A plot: axes, labels and series. Render with [`Plot::to_svg`].
#[derive(Clone, Debug, PartialEq)]
pub struct Plot {
    /// Title above the plot area.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// Label beside the y axis.
    pub y_label: String,
    /// Scale of the x axis.
    pub x_scale: Scale,
    /// Scale of the y axis.
    pub y_scale: Scale,
    /// The data.
    pub series: Vec<Series>,
    /// Reference lines `x = value` drawn dashed, with a label (e.g. "q4g64").
    pub x_marks: Vec<(f64, String)>,
}

/// Distinct colours for series, cycled (Tableau 10, then black and cyan).
const PALETTE: [&str; 12] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
    "#222222", "#17becf",
];
/// Marker shapes, cycled with a different period than the colours so that series stay distinct.
const MARKERS: [&str; 4] = ["circle", "square", "triangle", "diamond"];

impl Plot {
    /// A plot with linear axes and no series.
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        Plot {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            series: Vec::new(),
            x_marks: Vec::new(),
        }
    }

    /// Renders the plot as a standalone SVG document of `width` x `height` pixels.
    ///
    /// Errors when no series has a drawable point, or when the size is too small to hold the axes.
    pub fn to_svg(&self, width: u32, height: u32) -> Result<String> {
        if width < 200 || height < 150 {
            return Err(Error::InvalidArgument(format!("plot size {width}x{height}: at least 200x150 needed")));
        }
        let keep = |x: f64, s: Scale| x.is_finite() && (s == Scale::Linear || x > 0.0);
        let drawable: Vec<Vec<(f64, f64)>> = self
            .series
            .iter()
            .map(|s| {
                s.points.iter().copied().filter(|&(x, y)| keep(x, self.x_scale) && keep(y, self.y_scale)).collect()
            })
            .collect();
        let all: Vec<(f64, f64)> = drawable.iter().flatten().copied().collect();
        if all.is_empty() {
            return Err(Error::InvalidArgument(format!("plot `{}`: no finite points to draw", self.title)));
        }
        let marks: Vec<&(f64, String)> = self.x_marks.iter().filter(|(x, _)| keep(*x, self.x_scale)).collect();
        let xs = all.iter().map(|p| p.0).chain(marks.iter().map(|m| m.0));
        let x_axis = Axis::fit(xs, self.x_scale);
        let y_axis = Axis::fit(all.iter().map(|p| p.1), self.y_scale);

        let legend_w = 12.0 + 7.0 * self.series.iter().map(|s| s.name.chars().count()).max().unwrap_or(0) as f64 + 30.0;
        let (w, h) = (f64::from(width), f64::from(height));
        let (left, top, bottom) = (70.0, 40.0, 55.0);
        let right = 20.0 + legend_w;
        let (pw, ph) = (w - left - right, h - top - bottom);
        if pw < 60.0 || ph < 60.0 {
            return Err(Error::InvalidArgument(format!("plot size {width}x{height} leaves no room for the data")));
        }
        let px = |x: f64| left + x_axis.frac(x) * pw;
        let py = |y: f64| top + (1.0 - y_axis.frac(y)) * ph;

        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
            left + pw / 2.0,
            esc(&self.title)
        );
        // Grid and ticks.
        for t in &x_axis.ticks {
            let x = px(*t);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{:.1}" stroke="#e4e4e4"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                top + ph,
                top + ph + 16.0,
                fmt_tick(*t)
            );
        }
        for t in &y_axis.ticks {
            let y = py(*t);
            let _ = writeln!(
                s,
                r##"<line x1="{left:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                left + pw,
                left - 6.0,
                y + 4.0,
                fmt_tick(*t)
            );
        }
        let _ =
            writeln!(s, r#"<rect x="{left}" y="{top}" width="{pw:.1}" height="{ph:.1}" fill="none" stroke="black"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            left + pw / 2.0,
            h - 12.0,
            esc(&self.x_label)
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate(18,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            top + ph / 2.0,
            esc(&self.y_label)
        );
        for (x, label) in marks {
            let xp = px(*x);
            let _ = writeln!(
                s,
                r##"<line x1="{xp:.1}" y1="{top:.1}" x2="{xp:.1}" y2="{:.1}" stroke="#666" stroke-dasharray="4,3"/><text x="{:.1}" y="{:.1}" fill="#666">{}</text>"##,
                top + ph,
                xp + 3.0,
                top + 12.0,
                esc(label)
            );
        }
        // Series, clipped to the plot area.
        let _ = writeln!(
            s,
            r#"<clipPath id="area"><rect x="{left}" y="{top}" width="{pw:.1}" height="{ph:.1}"/></clipPath><g clip-path="url(#area)">"#
        );
        for (i, (series, pts)) in self.series.iter().zip(&drawable).enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            if series.style != Style::Points && pts.len() > 1 {
                let path: Vec<String> = pts.iter().map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y))).collect();
                let _ = writeln!(
                    s,
                    r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.8"/>"#,
                    path.join(" ")
                );
            }
            if series.style != Style::Lines {
                for &(x, y) in pts {
                    s.push_str(&marker(MARKERS[i % MARKERS.len()], px(x), py(y), color));
                }
            }
        }
        s.push_str("</g>\n");
        // Legend.
        let lx = left + pw + 15.0;
        for (i, series) in self.series.iter().enumerate() {
            let y = top + 8.0 + 18.0 * i as f64;
            let color = PALETTE[i % PALETTE.len()];
            if series.style != Style::Points {
                let _ = writeln!(
                    s,
                    r#"<line x1="{lx:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="1.8"/>"#,
                    lx + 22.0
                );
            }
            if series.style != Style::Lines {
                s.push_str(&marker(MARKERS[i % MARKERS.len()], lx + 11.0, y, color));
            }
            let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}">{}</text>"#, lx + 28.0, y + 4.0, esc(&series.name));
        }
        s.push_str("</svg>\n");
        Ok(s)
    }
}

/// An axis fitted to data: range (in scale space) and tick values (in data space).
struct Axis {
    scale: Scale,
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Axis {
    fn fit(values: impl Iterator<Item = f64>, scale: Scale) -> Axis {
        let t = |v: f64| if scale == Scale::Log10 { v.log10() } else { v };
        let (mut lo, mut hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(t(v)), b.max(t(v))));
        if hi - lo < 1e-12 {
            let pad = if lo.abs() > 1e-12 { lo.abs() * 0.1 } else { 1.0 };
            lo -= pad;
            hi += pad;
        }
        match scale {
            Scale::Linear => {
                let step = nice_step((hi - lo) / 6.0);
                let (lo, hi) = ((lo / step).floor() * step, (hi / step).ceil() * step);
                let n = ((hi - lo) / step).round() as usize;
                let ticks = (0..=n).map(|i| lo + step * i as f64).collect();
                Axis { scale, lo, hi, ticks }
            }
            Scale::Log10 => {
                let (lo, hi) = (lo.floor(), hi.ceil().max(lo.floor() + 1.0));
                let ticks = (lo as i32..=hi as i32).map(|e| 10f64.powi(e)).collect();
                Axis { scale, lo, hi, ticks }
            }
        }
    }

    /// Position of a data value along the axis, 0 at `lo` and 1 at `hi`.
    fn frac(&self, v: f64) -> f64 {
        let v = if self.scale == Scale::Log10 { v.log10() } else { v };
        (v - self.lo) / (self.hi - self.lo)
    }
}

/// A step of 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * p).find(|&s| s >= raw).unwrap_or(10.0 * p)
}

fn fmt_tick(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        format!("{v:.0e}")
    } else {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" { "0".into() } else { s.to_string() }
    }
}

fn marker(shape: &str, x: f64, y: f64, color: &str) -> String {
    let r = 3.5;
    match shape {
        "square" => format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"/>\n",
            x - r,
            y - r,
            2.0 * r,
            2.0 * r
        ),
        "triangle" => format!(
            "<polygon points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{color}\"/>\n",
            x,
            y - r - 0.5,
            x - r,
            y + r,
            x + r,
            y + r
        ),
        "diamond" => format!(
            "<polygon points=\"{:.1},{:.1} {:.1},{:.1} {:.1},{:.1} {:.1},{:.1}\" fill=\"{color}\"/>\n",
            x,
            y - r - 0.5,
            x + r,
            y,
            x,
            y + r + 0.5,
            x - r,
            y
        ),
        _ => format!("<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r}\" fill=\"{color}\"/>\n"),
    }
}

/// Escapes text for SVG content.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Plot {
        let mut p = Plot::new("SQNR <vs> bits", "bits per weight", "SQNR (dB)");
        p.series.push(Series {
            name: "affine & co".into(),
            points: vec![(2.5, 8.0), (3.5, 14.0), (4.5, 20.0), (f64::NAN, 1.0)],
            style: Style::LinesAndPoints,
        });
        p.series.push(Series { name: "svd".into(), points: vec![(1.0, 1.0), (6.0, 5.0)], style: Style::Points });
        p.x_marks.push((4.5, "q4g64".into()));
        p
    }

    #[test]
    fn svg_has_labels_legend_and_escaped_text() {
        let svg = sample().to_svg(800, 500).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        for needle in ["bits per weight", "SQNR (dB)", "SQNR &lt;vs&gt; bits", "affine &amp; co", "svd", "q4g64"] {
            assert!(svg.contains(needle), "missing {needle}");
        }
        assert_eq!(svg.matches("<polyline").count(), 1, "one line series");
        // 3 finite points + 2 points + 2 legend markers; the NaN point is skipped.
        let markers = svg.matches("<circle").count() + svg.matches("<rect x=").count() - 2;
        assert_eq!(markers, 7, "{svg}");
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn points_map_inside_the_plot_area() {
        let svg = sample().to_svg(800, 500).unwrap();
        for cap in svg.split("<circle cx=\"").skip(1) {
            let x: f64 = cap.split('"').next().unwrap().parse().unwrap();
            assert!((70.0..=800.0).contains(&x), "{x}");
        }
    }

    #[test]
    fn log_axis_skips_non_positive_and_ticks_decades() {
        let mut p = Plot::new("t", "x", "y");
        p.y_scale = Scale::Log10;
        p.series.push(Series {
            name: "s".into(),
            points: vec![(1.0, 0.0), (2.0, 0.02), (3.0, 30.0)],
            style: Style::Lines,
        });
        let svg = p.to_svg(600, 400).unwrap();
        for t in [">0.01<", ">0.1<", ">1<", ">10<", ">100<"] {
            assert!(svg.contains(t), "missing tick {t}");
        }
        let poly = svg.split("points=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(poly.split(' ').count(), 2, "the y=0 point is not drawn on a log axis");
    }

    #[test]
    fn nothing_to_draw_or_too_small_is_an_error() {
        let mut p = Plot::new("t", "x", "y");
        assert!(p.to_svg(600, 400).is_err());
        p.series.push(Series { name: "s".into(), points: vec![(f64::INFINITY, 1.0)], style: Style::Points });
        assert!(p.to_svg(600, 400).is_err());
        assert!(sample().to_svg(100, 100).is_err());
    }

    #[test]
    fn nice_ticks() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.2), 2.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(0.031), 0.05);
        assert_eq!(fmt_tick(2.5), "2.5");
        assert_eq!(fmt_tick(-0.0), "0");
        assert_eq!(fmt_tick(1e-5), "1e-5");
    }
}
