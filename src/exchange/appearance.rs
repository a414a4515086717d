//! Appearance streams: what an annotation looks like, drawn as PDF content in page user space.
//!
//! Viewers that do not regenerate appearances (and `flatten=true`, which draws them into the
//! page) show exactly this. Every annotation is drawn from its Instant JSON geometry, already
//! converted to user space by the caller; the form's `/BBox` is the annotation's `/Rect` and its
//! `/Matrix` the identity, so the drawing needs no further transformation.

use std::fmt::Write as _;

/// An RGB colour, components from 0 to 1.
pub type Rgb = [f64; 3];

/// `#rgb`, `#rgba`, `#rrggbb` or `#rrggbbaa` as RGB (alpha is carried by `opacity`).
pub fn parse_color(s: &str) -> Option<Rgb> {
    let hex = s.strip_prefix('#')?;
    let full: String = match hex.len() {
        3 | 4 => hex.chars().take(3).flat_map(|c| [c, c]).collect(),
        6 | 8 => hex[..6].to_string(),
        _ => return None,
    };
    let v = u32::from_str_radix(&full, 16).ok()?;
    Some([
        f64::from((v >> 16) & 0xff) / 255.0,
        f64::from((v >> 8) & 0xff) / 255.0,
        f64::from(v & 0xff) / 255.0,
    ])
}

/// A number as PDF content writes it.
pub fn n(f: f64) -> String {
    let r = (f * 1000.0).round() / 1000.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

fn rgb(c: Rgb) -> String {
    format!("{} {} {}", n(c[0]), n(c[1]), n(c[2]))
}

/// What to draw, in user space.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Rectangle([f64; 4]),
    Ellipse([f64; 4]),
    Line((f64, f64), (f64, f64)),
    /// Open (`closed = false`) or closed paths through the points.
    Path {
        points: Vec<(f64, f64)>,
        closed: bool,
    },
    Ink(Vec<Vec<(f64, f64)>>),
    /// Text markup over each rectangle: highlight fills, the others draw lines.
    Markup {
        kind: MarkupKind,
        rects: Vec<[f64; 4]>,
    },
    /// A note's icon: a small filled square with a border.
    NoteIcon([f64; 4]),
    /// Text in a box (free text, stamps).
    Text {
        rect: [f64; 4],
        text: String,
        size: f64,
        border: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkupKind {
    Highlight,
    Underline,
    StrikeOut,
    Squiggly,
}

/// Stroke and fill of one appearance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    pub stroke: Option<Rgb>,
    pub fill: Option<Rgb>,
    pub width: f64,
}

/// The content stream drawing `shape`. Opacity is applied by the caller through an ExtGState
/// named `/GS0` when `with_gs` is set.
pub fn content(shape: &Shape, style: Style, with_gs: bool) -> Vec<u8> {
    let mut s = String::from("q\n");
    if with_gs {
        s.push_str("/GS0 gs\n");
    }
    let stroke = style.stroke.unwrap_or([0.0, 0.0, 0.0]);
    let _ = writeln!(s, "{} RG {} w", rgb(stroke), n(style.width.max(0.0)));
    if let Some(f) = style.fill {
        let _ = writeln!(s, "{} rg", rgb(f));
    }
    let paint = if style.fill.is_some() { "B" } else { "S" };
    match shape {
        Shape::Rectangle([x0, y0, x1, y1]) => {
            let h = style.width / 2.0;
            let _ = writeln!(
                s,
                "{} {} {} {} re {paint}",
                n(x0 + h),
                n(y0 + h),
                n((x1 - x0 - style.width).max(0.0)),
                n((y1 - y0 - style.width).max(0.0))
            );
        }
        Shape::Ellipse([x0, y0, x1, y1]) => {
            let h = style.width / 2.0;
            ellipse(&mut s, [x0 + h, y0 + h, x1 - h, y1 - h]);
            let _ = writeln!(s, "{paint}");
        }
        Shape::Line(a, b) => {
            let _ = writeln!(s, "{} {} m {} {} l S", n(a.0), n(a.1), n(b.0), n(b.1));
        }
        Shape::Path { points, closed } => {
            path(&mut s, points);
            let _ = writeln!(
                s,
                "{}",
                if *closed {
                    "h ".to_string() + paint
                } else {
                    "S".into()
                }
            );
        }
        Shape::Ink(strokes) => {
            s.push_str("1 J 1 j\n");
            for stroke in strokes {
                path(&mut s, stroke);
                s.push_str("S\n");
            }
        }
        Shape::Markup { kind, rects } => {
            for [x0, y0, x1, y1] in rects {
                let h = y1 - y0;
                match kind {
                    MarkupKind::Highlight => {
                        let _ = writeln!(
                            s,
                            "{} rg {} {} {} {} re f",
                            rgb(stroke),
                            n(*x0),
                            n(*y0),
                            n(x1 - x0),
                            n(h)
                        );
                    }
                    MarkupKind::Underline | MarkupKind::StrikeOut => {
                        let y = if *kind == MarkupKind::Underline {
                            y0 + h * 0.08
                        } else {
                            y0 + h * 0.5
                        };
                        let _ = writeln!(
                            s,
                            "{} w {} {} m {} {} l S",
                            n((h * 0.07).max(0.5)),
                            n(*x0),
                            n(y),
                            n(*x1),
                            n(y)
                        );
                    }
                    MarkupKind::Squiggly => {
                        let step = (h / 6.0).max(1.0);
                        let _ = writeln!(s, "{} w {} {} m", n((h * 0.05).max(0.5)), n(*x0), n(*y0));
                        let mut x = *x0;
                        let mut up = true;
                        // Bounded: at most a few thousand segments for any page-sized rect.
                        while x < *x1 && x - x0 < 20_000.0 {
                            x = (x + step).min(*x1);
                            let y = if up { y0 + step } else { *y0 };
                            let _ = writeln!(s, "{} {} l", n(x), n(y));
                            up = !up;
                        }
                        s.push_str("S\n");
                    }
                }
            }
        }
        Shape::NoteIcon([x0, y0, x1, y1]) => {
            let fill = style.fill.or(style.stroke).unwrap_or([1.0, 0.85, 0.2]);
            let _ = writeln!(
                s,
                "{} rg 0 0 0 RG 0.5 w {} {} {} {} re B",
                rgb(fill),
                n(x0 + 0.5),
                n(y0 + 0.5),
                n((x1 - x0 - 1.0).max(0.0)),
                n((y1 - y0 - 1.0).max(0.0))
            );
        }
        Shape::Text {
            rect: [x0, y0, x1, y1],
            text,
            size,
            border,
        } => {
            if *border {
                let _ = writeln!(
                    s,
                    "{} {} {} {} re S",
                    n(x0 + 1.0),
                    n(y0 + 1.0),
                    n((x1 - x0 - 2.0).max(0.0)),
                    n((y1 - y0 - 2.0).max(0.0))
                );
            }
            let color = style.stroke.unwrap_or([0.0, 0.0, 0.0]);
            let _ = writeln!(
                s,
                "{} {} {} {} re W n",
                n(*x0),
                n(*y0),
                n(x1 - x0),
                n(y1 - y0)
            );
            let _ = writeln!(
                s,
                "BT /Helv {} Tf {} rg {} TL {} {} Td",
                n(*size),
                rgb(color),
                n(size * 1.2),
                n(x0 + 2.0),
                n(y1 - size - 1.0)
            );
            for (i, line) in text.lines().take(200).enumerate() {
                if i > 0 {
                    s.push_str("T* ");
                }
                let _ = writeln!(s, "({}) Tj", literal(line));
            }
            s.push_str("ET\n");
        }
    }
    s.push_str("Q\n");
    s.into_bytes()
}

fn path(s: &mut String, points: &[(f64, f64)]) {
    for (i, (x, y)) in points.iter().enumerate() {
        let _ = writeln!(s, "{} {} {}", n(*x), n(*y), if i == 0 { "m" } else { "l" });
    }
}

/// Four Bézier arcs approximating the ellipse inscribed in the rectangle.
fn ellipse(s: &mut String, [x0, y0, x1, y1]: [f64; 4]) {
    const K: f64 = 0.552_284_749_8;
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let (rx, ry) = ((x1 - x0) / 2.0, (y1 - y0) / 2.0);
    let (kx, ky) = (rx * K, ry * K);
    let _ = writeln!(s, "{} {} m", n(cx + rx), n(cy));
    let _ = writeln!(
        s,
        "{} {} {} {} {} {} c",
        n(cx + rx),
        n(cy + ky),
        n(cx + kx),
        n(cy + ry),
        n(cx),
        n(cy + ry)
    );
    let _ = writeln!(
        s,
        "{} {} {} {} {} {} c",
        n(cx - kx),
        n(cy + ry),
        n(cx - rx),
        n(cy + ky),
        n(cx - rx),
        n(cy)
    );
    let _ = writeln!(
        s,
        "{} {} {} {} {} {} c",
        n(cx - rx),
        n(cy - ky),
        n(cx - kx),
        n(cy - ry),
        n(cx),
        n(cy - ry)
    );
    let _ = writeln!(
        s,
        "{} {} {} {} {} {} c",
        n(cx + kx),
        n(cy - ry),
        n(cx + rx),
        n(cy - ky),
        n(cx + rx),
        n(cy)
    );
}

/// Text for a literal string in a content stream shown with a WinAnsi font: Latin-1 characters
/// as they are (escaped where PDF needs it), anything else as `?`.
pub fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            c if (c as u32) >= 0xA0 && (c as u32) <= 0xFF => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            _ => out.push('?'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_parse_in_every_accepted_form() {
        assert_eq!(parse_color("#ff0000"), Some([1.0, 0.0, 0.0]));
        assert_eq!(parse_color("#0F0"), Some([0.0, 1.0, 0.0]));
        assert_eq!(parse_color("#0000ff80"), Some([0.0, 0.0, 1.0]));
        assert_eq!(parse_color("red"), None);
        assert_eq!(parse_color("#12345"), None);
    }

    #[test]
    fn text_is_escaped_for_a_literal_string() {
        assert_eq!(literal(r"a(b)\c é ✓"), r"a\(b\)\\c \351 ?");
    }

    #[test]
    fn a_rectangle_is_stroked_inside_its_box() {
        let style = Style {
            stroke: Some([1.0, 0.0, 0.0]),
            fill: None,
            width: 2.0,
        };
        let c = String::from_utf8(content(
            &Shape::Rectangle([10.0, 20.0, 110.0, 70.0]),
            style,
            false,
        ))
        .unwrap();
        assert!(c.contains("1 0 0 RG 2 w"), "{c}");
        assert!(c.contains("11 21 98 48 re S"), "{c}");
    }
}
