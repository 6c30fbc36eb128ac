//! Line charts written as SVG text (no plotting dependency): panels side by side, each with
//! its own y axis, a shared x axis that may be logarithmic, tick labels and a legend.

use std::fmt::Write;

pub struct Series {
    pub name: String,
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
}

pub struct Panel {
    pub title: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

pub struct Chart {
    pub x_label: String,
    pub log_x: bool,
    pub panels: Vec<Panel>,
}

const W: f64 = 420.0;
const H: f64 = 300.0;
const M: (f64, f64, f64, f64) = (60.0, 20.0, 40.0, 50.0); // left, right, top, bottom
const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Tick values: powers of ten on a log axis, about five round numbers on a linear one.
fn ticks(lo: f64, hi: f64, log: bool) -> Vec<f64> {
    if log {
        let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        return (a..=b)
            .map(|e| 10f64.powi(e))
            .filter(|t| *t >= lo * 0.999 && *t <= hi * 1.001)
            .collect();
    }
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 6.0)
        .unwrap_or(10.0 * mag);
    let (k0, k1) = ((lo / step).ceil() as i64, (hi / step + 1e-9).floor() as i64);
    (k0..=k1).map(|k| k as f64 * step).collect()
}

fn label(v: f64, log: bool) -> String {
    if log {
        format!("1e{}", v.log10().round() as i32)
    } else if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-2) {
        format!("{v:.0e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The chart as an SVG document. Non-finite points are skipped.
pub fn svg(chart: &Chart) -> String {
    let np = chart.panels.len().max(1);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{H}" font-family="sans-serif" font-size="12">"#,
        W * np as f64
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let tx = |x: f64| if chart.log_x { x.log10() } else { x };
    for (k, panel) in chart.panels.iter().enumerate() {
        let ox = W * k as f64;
        let pts: Vec<(f64, f64)> = panel
            .series
            .iter()
            .flat_map(|se| se.xs.iter().zip(&se.ys).map(|(&x, &y)| (x, y)))
            .filter(|(x, y)| x.is_finite() && y.is_finite() && (!chart.log_x || *x > 0.0))
            .collect();
        if pts.is_empty() {
            continue;
        }
        let (xlo, xhi) = pts
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (mut ylo, mut yhi) = pts
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        if yhi - ylo < 1e-12 * yhi.abs().max(1.0) {
            ylo -= 0.5;
            yhi += 0.5;
        }
        let (a, b) = (tx(xlo), tx(xhi));
        let (a, b) = if b - a < 1e-12 {
            (a - 0.5, b + 0.5)
        } else {
            (a, b)
        };
        let px = |x: f64| ox + M.0 + (tx(x) - a) / (b - a) * (W - M.0 - M.1);
        let py = |y: f64| M.2 + (yhi - y) / (yhi - ylo) * (H - M.2 - M.3);
        let (x0, x1, y0, y1) = (ox + M.0, ox + W - M.1, M.2, H - M.3);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>"#,
            (x0 + x1) / 2.0,
            escape(&panel.title)
        );
        let _ = writeln!(
            s,
            r#"<rect x="{x0}" y="{y0}" width="{}" height="{}" fill="none" stroke="black"/>"#,
            x1 - x0,
            y1 - y0
        );
        let xt = if chart.log_x {
            ticks(xlo, xhi, true)
        } else {
            ticks(xlo, xhi, false)
        };
        for t in xt {
            let x = px(t);
            let _ = writeln!(
                s,
                r#"<line x1="{x}" y1="{y1}" x2="{x}" y2="{}" stroke="black"/><text x="{x}" y="{}" text-anchor="middle">{}</text>"#,
                y1 + 4.0,
                y1 + 17.0,
                label(t, chart.log_x)
            );
        }
        for t in ticks(ylo, yhi, false) {
            let y = py(t);
            let _ = writeln!(
                s,
                r##"<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
                x0 - 5.0,
                y + 4.0,
                label(t, false)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            (x0 + x1) / 2.0,
            H - 12.0,
            escape(&chart.x_label)
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle" transform="rotate(-90 {} {})">{}</text>"#,
            ox + 14.0,
            (y0 + y1) / 2.0,
            ox + 14.0,
            (y0 + y1) / 2.0,
            escape(&panel.y_label)
        );
        for (j, se) in panel.series.iter().enumerate() {
            let color = COLORS[j % COLORS.len()];
            let line: Vec<String> = se
                .xs
                .iter()
                .zip(&se.ys)
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!chart.log_x || **x > 0.0))
                .map(|(&x, &y)| format!("{:.1},{:.1}", px(x), py(y)))
                .collect();
            let _ = writeln!(
                s,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
                line.join(" ")
            );
            for p in &line {
                let (cx, cy) = p.split_once(',').expect("x,y");
                let _ = writeln!(s, r#"<circle cx="{cx}" cy="{cy}" r="3" fill="{color}"/>"#);
            }
            let ly = y0 + 16.0 + 16.0 * j as f64;
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{ly}" fill="{color}">{}</text>"#,
                x0 + 8.0,
                escape(&se.name)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_every_point_on_the_canvas_and_escapes_text() {
        let chart = Chart {
            x_label: "lam".into(),
            log_x: true,
            panels: vec![Panel {
                title: "a <b>".into(),
                y_label: "acc".into(),
                series: vec![Series {
                    name: "test".into(),
                    xs: vec![1e-2, 1e-3, 1e-4, f64::NAN],
                    ys: vec![0.5, 0.9, 0.95, 1.0],
                }],
            }],
        };
        let s = svg(&chart);
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert!(s.contains("a &lt;b&gt;") && s.contains(">1e-3<"));
        assert_eq!(s.matches("<circle").count(), 3, "the NaN point is skipped");
        for c in s.split("<circle cx=\"").skip(1) {
            let x: f64 = c.split('"').next().unwrap().parse().unwrap();
            assert!((M.0..=W - M.1 + 1e-9).contains(&x), "{x}");
        }
        let t = ticks(0.0, 1.0, false);
        assert_eq!(t.len(), 6);
        assert!(
            t.iter()
                .zip([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
                .all(|(a, b)| (a - b).abs() < 1e-12)
        );
        assert_eq!(ticks(1e-5, 1e-2, true), vec![1e-5, 1e-4, 1e-3, 1e-2]);
    }
}
