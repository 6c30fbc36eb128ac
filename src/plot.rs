//! Line charts as SVG text or PNG images: panels on a grid, each with its own axes (linear or
//! logarithmic), ticks, labels and a legend. The layout is written once against a small
//! `Canvas` trait; SVG writes elements, PNG rasterizes with tiny-skia and draws text from an
//! 8x8 bitmap font (font8x8), so no system font is needed.

use crate::error::{Error, Result};
use std::fmt::Write;

pub struct Series {
    pub name: String,
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
    /// Drawn dashed and black (a reference line such as a profile's 50 %).
    pub dashed: bool,
}

pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    pub series: Vec<Series>,
}

pub struct Chart {
    pub panels: Vec<Panel>,
    /// Panels per row.
    pub columns: usize,
}

const W: f64 = 420.0;
const H: f64 = 300.0;
const M: (f64, f64, f64, f64) = (64.0, 20.0, 40.0, 50.0); // left, right, top, bottom
const COLORS: [(u8, u8, u8); 8] = [
    (31, 119, 180),
    (214, 39, 40),
    (44, 160, 44),
    (148, 103, 189),
    (255, 127, 14),
    (140, 86, 75),
    (227, 119, 194),
    (23, 190, 207),
];
const BLACK: (u8, u8, u8) = (0, 0, 0);
const GRID: (u8, u8, u8) = (221, 221, 221);
/// PNG pixels per chart unit.
const SCALE: f64 = 2.0;

#[derive(Clone, Copy, PartialEq)]
enum Anchor {
    Start,
    Middle,
    End,
}

/// What the layout draws with. Coordinates are chart units, y downwards; text `at` is the
/// baseline point, `vertical` text reads bottom to top.
trait Canvas {
    fn line(&mut self, pts: &[(f64, f64)], color: (u8, u8, u8), width: f64);
    fn dot(&mut self, c: (f64, f64), r: f64, color: (u8, u8, u8));
    fn text(
        &mut self,
        at: (f64, f64),
        s: &str,
        size: f64,
        anchor: Anchor,
        vertical: bool,
        color: (u8, u8, u8),
    );
}

/// Tick values: powers of ten on a log axis (thinned to at most 7), about five round numbers on
/// a linear one.
fn ticks(lo: f64, hi: f64, log: bool) -> Vec<f64> {
    if log {
        let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        let stride = ((b - a) as usize / 7 + 1) as i32;
        return (a..=b)
            .filter(|e| (e - a) % stride == 0)
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

/// Data range of one axis; a log axis is widened to whole decades so it has ticks at both ends.
fn range(vals: impl Iterator<Item = f64>, log: bool) -> Option<(f64, f64)> {
    let (lo, hi) = vals.fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(v), b.max(v)));
    if lo > hi {
        return None;
    }
    if log {
        let (a, b) = ((lo.log10() + 1e-9).floor(), (hi.log10() - 1e-9).ceil());
        return Some((10f64.powf(a), 10f64.powf(if b > a { b } else { a + 1.0 })));
    }
    if hi - lo < 1e-12 * hi.abs().max(1.0) {
        return Some((lo - 0.5, hi + 0.5));
    }
    Some((lo, hi))
}

fn usable(x: f64, y: f64, p: &Panel) -> bool {
    x.is_finite() && y.is_finite() && (!p.log_x || x > 0.0) && (!p.log_y || y > 0.0)
}

fn size(chart: &Chart) -> (f64, f64) {
    let cols = chart.columns.clamp(1, chart.panels.len().max(1));
    let rows = chart.panels.len().div_ceil(cols).max(1);
    (W * cols as f64, H * rows as f64)
}

/// The whole layout, for any canvas.
fn draw(chart: &Chart, cv: &mut dyn Canvas) {
    let cols = chart.columns.clamp(1, chart.panels.len().max(1));
    for (k, panel) in chart.panels.iter().enumerate() {
        let (ox, oy) = (W * (k % cols) as f64, H * (k / cols) as f64);
        let pts = || {
            panel
                .series
                .iter()
                .flat_map(|se| se.xs.iter().copied().zip(se.ys.iter().copied()))
                .filter(|&(x, y)| usable(x, y, panel))
        };
        let (Some((xlo, xhi)), Some((ylo, yhi))) = (
            range(pts().map(|p| p.0), panel.log_x),
            range(pts().map(|p| p.1), panel.log_y),
        ) else {
            continue;
        };
        let t = |v: f64, log: bool| if log { v.log10() } else { v };
        let (a, b) = (t(xlo, panel.log_x), t(xhi, panel.log_x));
        let (a, b) = if b - a < 1e-12 {
            (a - 0.5, b + 0.5)
        } else {
            (a, b)
        };
        let (c, d) = (t(ylo, panel.log_y), t(yhi, panel.log_y));
        let (x0, x1, y0, y1) = (ox + M.0, ox + W - M.1, oy + M.2, oy + H - M.3);
        let px = |x: f64| x0 + (t(x, panel.log_x) - a) / (b - a) * (x1 - x0);
        let py = |y: f64| y0 + (d - t(y, panel.log_y)) / (d - c) * (y1 - y0);
        cv.text(
            ((x0 + x1) / 2.0, oy + 22.0),
            &panel.title,
            14.0,
            Anchor::Middle,
            false,
            BLACK,
        );
        for v in ticks(ylo, yhi, panel.log_y) {
            let y = py(v);
            cv.line(&[(x0, y), (x1, y)], GRID, 1.0);
            cv.text(
                (x0 - 5.0, y + 4.0),
                &label(v, panel.log_y),
                12.0,
                Anchor::End,
                false,
                BLACK,
            );
        }
        for v in ticks(xlo, xhi, panel.log_x) {
            let x = px(v);
            cv.line(&[(x, y1), (x, y1 + 4.0)], BLACK, 1.0);
            cv.text(
                (x, y1 + 17.0),
                &label(v, panel.log_x),
                12.0,
                Anchor::Middle,
                false,
                BLACK,
            );
        }
        cv.line(
            &[(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)],
            BLACK,
            1.0,
        );
        cv.text(
            ((x0 + x1) / 2.0, oy + H - 12.0),
            &panel.x_label,
            12.0,
            Anchor::Middle,
            false,
            BLACK,
        );
        cv.text(
            (ox + 16.0, (y0 + y1) / 2.0),
            &panel.y_label,
            12.0,
            Anchor::Middle,
            true,
            BLACK,
        );
        for (j, se) in panel.series.iter().enumerate() {
            let color = if se.dashed {
                BLACK
            } else {
                COLORS[j % COLORS.len()]
            };
            let line: Vec<(f64, f64)> = se
                .xs
                .iter()
                .zip(&se.ys)
                .filter(|&(&x, &y)| usable(x, y, panel))
                .map(|(&x, &y)| (px(x), py(y)))
                .collect();
            if se.dashed {
                for dash in dashes(&line, 6.0, 4.0) {
                    cv.line(&dash, color, 1.0);
                }
                continue;
            }
            cv.line(&line, color, 2.0);
            // Markers only where they stay readable (path points, not iteration traces).
            if line.len() <= 40 {
                for &p in &line {
                    cv.dot(p, 3.0, color);
                }
            }
            let ly = y0 + 16.0 + 16.0 * j as f64;
            cv.text((x0 + 8.0, ly), &se.name, 12.0, Anchor::Start, false, color);
        }
    }
}

/// A polyline cut into dashes of length `on` with gaps `off` (chart units).
fn dashes(pts: &[(f64, f64)], on: f64, off: f64) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    // Position within the current on+off period.
    let mut phase = 0.0;
    for w in pts.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        let len = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
        let at = |s: f64| (x0 + (x1 - x0) * s / len, y0 + (y1 - y0) * s / len);
        let mut s = 0.0;
        while s < len {
            let in_dash = phase < on;
            let step = if in_dash {
                on - phase
            } else {
                on + off - phase
            };
            let e = (s + step).min(len);
            if in_dash {
                if cur.is_empty() {
                    cur.push(at(s));
                }
                cur.push(at(e));
            }
            phase += e - s;
            if phase >= on && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            if phase >= on + off {
                phase = 0.0;
            }
            s = e;
        }
    }
    if cur.len() > 1 {
        out.push(cur);
    }
    out
}

struct Svg(String);

fn hex(c: (u8, u8, u8)) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Canvas for Svg {
    fn line(&mut self, pts: &[(f64, f64)], color: (u8, u8, u8), width: f64) {
        let p: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = writeln!(
            self.0,
            r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="{width}"/>"#,
            p.join(" "),
            hex(color)
        );
    }
    fn dot(&mut self, (x, y): (f64, f64), r: f64, color: (u8, u8, u8)) {
        let _ = writeln!(
            self.0,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="{}"/>"#,
            hex(color)
        );
    }
    fn text(
        &mut self,
        (x, y): (f64, f64),
        s: &str,
        size: f64,
        anchor: Anchor,
        vertical: bool,
        color: (u8, u8, u8),
    ) {
        let anchor = match anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        };
        let rotate = if vertical {
            format!(r#" transform="rotate(-90 {x} {y})""#)
        } else {
            String::new()
        };
        let _ = writeln!(
            self.0,
            r#"<text x="{x}" y="{y}" font-size="{size}" text-anchor="{anchor}" fill="{}"{rotate}>{}</text>"#,
            hex(color),
            escape(s)
        );
    }
}

/// The chart as an SVG document. Non-finite points (and non-positive ones on log axes) are skipped.
pub fn svg(chart: &Chart) -> String {
    let (w, h) = size(chart);
    let mut cv = Svg(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    ));
    draw(chart, &mut cv);
    cv.0.push_str("</svg>\n");
    cv.0
}

struct Raster(tiny_skia::Pixmap);

fn paint(color: (u8, u8, u8)) -> tiny_skia::Paint<'static> {
    let mut p = tiny_skia::Paint::default();
    p.set_color_rgba8(color.0, color.1, color.2, 255);
    p.anti_alias = true;
    p
}

impl Canvas for Raster {
    fn line(&mut self, pts: &[(f64, f64)], color: (u8, u8, u8), width: f64) {
        let mut pb = tiny_skia::PathBuilder::new();
        for (i, &(x, y)) in pts.iter().enumerate() {
            let (x, y) = ((x * SCALE) as f32, (y * SCALE) as f32);
            if i == 0 {
                pb.move_to(x, y)
            } else {
                pb.line_to(x, y)
            }
        }
        if let Some(path) = pb.finish() {
            let stroke = tiny_skia::Stroke {
                width: (width * SCALE) as f32,
                ..Default::default()
            };
            self.0.stroke_path(
                &path,
                &paint(color),
                &stroke,
                tiny_skia::Transform::identity(),
                None,
            );
        }
    }
    fn dot(&mut self, (x, y): (f64, f64), r: f64, color: (u8, u8, u8)) {
        let c = tiny_skia::PathBuilder::from_circle(
            (x * SCALE) as f32,
            (y * SCALE) as f32,
            (r * SCALE) as f32,
        );
        if let Some(c) = c {
            self.0.fill_path(
                &c,
                &paint(color),
                tiny_skia::FillRule::Winding,
                tiny_skia::Transform::identity(),
                None,
            );
        }
    }
    fn text(
        &mut self,
        (x, y): (f64, f64),
        s: &str,
        size: f64,
        anchor: Anchor,
        vertical: bool,
        color: (u8, u8, u8),
    ) {
        use font8x8::UnicodeFonts;
        // Whole device pixels per font cell keep the glyphs sharp.
        let cell = (size * SCALE / 10.0).round().max(1.0) as f32;
        let len = s.chars().count() as f32 * 8.0 * cell;
        let shift = match anchor {
            Anchor::Start => 0.0,
            Anchor::Middle => len / 2.0,
            Anchor::End => len,
        };
        let (bx, by) = ((x * SCALE) as f32, (y * SCALE) as f32);
        let mut p = paint(color);
        p.anti_alias = false;
        for (i, ch) in s.chars().enumerate() {
            let glyph = font8x8::BASIC_FONTS.get(ch).unwrap_or([0; 8]);
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) == 0 {
                        continue;
                    }
                    // Offsets along and across the text; row 7 sits on the baseline.
                    let along = i as f32 * 8.0 * cell + col as f32 * cell - shift;
                    let across = (row as f32 - 7.0) * cell;
                    let (px, py) = if vertical {
                        (bx + across, by - along - cell)
                    } else {
                        (bx + along, by + across)
                    };
                    if let Some(r) = tiny_skia::Rect::from_xywh(px, py, cell, cell) {
                        self.0
                            .fill_rect(r, &p, tiny_skia::Transform::identity(), None);
                    }
                }
            }
        }
    }
}

/// The chart as a PNG image (twice the SVG's size in pixels).
pub fn png(chart: &Chart) -> Result<Vec<u8>> {
    let (w, h) = size(chart);
    let mut pm = tiny_skia::Pixmap::new((w * SCALE) as u32, (h * SCALE) as u32)
        .ok_or_else(|| Error::Plot(format!("chart of {w} x {h} units has no pixels")))?;
    pm.fill(tiny_skia::Color::WHITE);
    let mut cv = Raster(pm);
    draw(chart, &mut cv);
    cv.0.encode_png()
        .map_err(|e| Error::Plot(format!("PNG encoding failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> Chart {
        Chart {
            columns: 2,
            panels: vec![
                Panel {
                    title: "a <b>".into(),
                    x_label: "lam".into(),
                    y_label: "acc".into(),
                    log_x: true,
                    log_y: false,
                    series: vec![Series {
                        name: "test".into(),
                        xs: vec![1e-2, 1e-3, 1e-4, f64::NAN],
                        ys: vec![0.5, 0.9, 0.95, 1.0],
                        dashed: false,
                    }],
                },
                Panel {
                    title: "residual".into(),
                    x_label: "iteration".into(),
                    y_label: "norm".into(),
                    log_x: false,
                    log_y: true,
                    series: vec![Series {
                        name: "grad".into(),
                        xs: (0..100).map(f64::from).collect(),
                        ys: (0..100).map(|k| 10f64.powf(-0.1 * k as f64)).collect(),
                        dashed: false,
                    }],
                },
            ],
        }
    }

    #[test]
    fn svg_has_every_point_on_the_canvas_and_escapes_text() {
        let s = svg(&chart());
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert!(
            s.contains("a &lt;b&gt;")
                && s.contains(">1e-3<")
                && s.contains(">1e-10<")
                && !s.contains(">1e-9<")
        );
        assert_eq!(
            s.matches("<circle").count(),
            3,
            "NaN skipped, no markers on 100 points"
        );
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
        assert!(ticks(1e-14, 1.0, true).len() <= 8);
    }

    #[test]
    fn png_decodes_with_series_and_text_pixels_inside_their_panels() {
        let bytes = png(&chart()).unwrap();
        let pm = tiny_skia::Pixmap::decode_png(&bytes).unwrap();
        assert_eq!(
            (pm.width(), pm.height()),
            ((2.0 * W * SCALE) as u32, (H * SCALE) as u32)
        );
        let count = |x0: f64, x1: f64, want: (u8, u8, u8)| {
            let mut n = 0;
            for y in 0..pm.height() {
                for x in (x0 * SCALE) as u32..(x1 * SCALE) as u32 {
                    let p = pm.pixel(x, y).unwrap();
                    n += usize::from((p.red(), p.green(), p.blue()) == want);
                }
            }
            n
        };
        // Each panel holds its series' colour and black text/frame pixels; the panels'
        // curves stay inside their own halves of the image.
        for k in 0..2 {
            let (x0, x1) = (W * k as f64, W * (k + 1) as f64);
            assert!(count(x0, x1, COLORS[0]) > 100, "panel {k} curve");
            assert!(count(x0, x1, BLACK) > 500, "panel {k} text and frame");
            assert_eq!(
                count(x0, x0 + M.0 - 45.0, COLORS[0]),
                0,
                "panel {k} left margin"
            );
        }
    }
}
