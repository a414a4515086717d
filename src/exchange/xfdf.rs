//! XFDF (ISO 19444-1, XFDF 3.0) to and from a layer's records.
//!
//! Import turns an XFDF document into an Instant JSON document, which then goes through the
//! same all-or-nothing plan as an Instant JSON import ([`super::instant_json::plan_import`]), so
//! both formats obey one set of rules. Positions convert through the page geometry (XFDF is in
//! PDF user space). Supported: the annotation types below, with colour, interior colour, opacity,
//! line width, author (`title`), dates, contents, replies (`inreplyto`, as comments) and form
//! field values (`<fields>`, nested names joined with `.`).
//!
//! | XFDF | Instant JSON |
//! |---|---|
//! | `highlight` `underline` `strikeout` `squiggly` (`coords`) | `pspdfkit/markup/*` (`rects`) |
//! | `ink` (`inklist/gesture`) | `pspdfkit/ink` (`lines.points`) |
//! | `square` `circle` | `pspdfkit/shape/rectangle` `…/ellipse` |
//! | `line` (`start`, `end`) | `pspdfkit/shape/line` |
//! | `polygon` `polyline` (`vertices`) | `pspdfkit/shape/polygon` `…/polyline` |
//! | `text` | `pspdfkit/note` (or a comment when it has `inreplyto`) |
//! | `freetext` | `pspdfkit/text` |
//! | `stamp` (`icon`) | `pspdfkit/stamp` (`stampType`) |

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::geometry::PageGeometry;
use super::instant_json::{Refused, Rejected, FORMAT};
use super::xml::{self, Element};
use crate::wire::common::Kind;

/// XFDF element name ↔ Instant JSON type.
const TYPES: &[(&str, &str)] = &[
    ("highlight", "pspdfkit/markup/highlight"),
    ("underline", "pspdfkit/markup/underline"),
    ("strikeout", "pspdfkit/markup/strikeout"),
    ("squiggly", "pspdfkit/markup/squiggly"),
    ("ink", "pspdfkit/ink"),
    ("square", "pspdfkit/shape/rectangle"),
    ("circle", "pspdfkit/shape/ellipse"),
    ("line", "pspdfkit/shape/line"),
    ("polygon", "pspdfkit/shape/polygon"),
    ("polyline", "pspdfkit/shape/polyline"),
    ("text", "pspdfkit/note"),
    ("freetext", "pspdfkit/text"),
    ("stamp", "pspdfkit/stamp"),
];

/// The Instant JSON field that XFDF's `color` maps to, per type: the stroke of drawn shapes,
/// the text colour of free text, the colour of everything else.
pub(super) fn color_field(ty: &str) -> &'static str {
    match ty {
        "pspdfkit/text" => "fontColor",
        t if t == "pspdfkit/ink" || t.starts_with("pspdfkit/shape/") => "strokeColor",
        _ => "color",
    }
}

/// The Instant JSON field that XFDF's `width` maps to.
pub(super) fn width_field(ty: &str) -> Option<&'static str> {
    match ty {
        "pspdfkit/ink" => Some("lineWidth"),
        t if t.starts_with("pspdfkit/shape/") => Some("strokeWidth"),
        _ => None,
    }
}

/// Whether the type's text lives in `text` (notes and free text) rather than `note`.
pub(super) fn has_text(ty: &str) -> bool {
    matches!(ty, "pspdfkit/note" | "pspdfkit/text")
}

// ---------------------------------------------------------------- import

/// Converts an XFDF document into an Instant JSON document for `pages`. Elements that cannot be
/// converted (unsupported type, page out of range, bad numbers) are all reported together.
pub fn to_instant_json(input: &[u8], pages: &[PageGeometry]) -> Result<Value, Refused> {
    let root =
        xml::parse(input, xml::Bounds::default()).map_err(|e| Refused::Malformed(e.to_string()))?;
    if root.name != "xfdf" {
        return Err(Refused::Malformed(format!(
            "the root element is <{}>, not <xfdf>",
            root.name
        )));
    }
    let mut annotations = Vec::new();
    let mut comments = Vec::new();
    let mut rejected = Vec::new();
    let annots = root.child("annots").map_or(&[][..], |a| &a.children[..]);
    for (index, el) in annots.iter().enumerate() {
        match annotation_from(el, pages) {
            Ok((Kind::Comment, v)) => comments.push(v),
            Ok((_, v)) => annotations.push(v),
            Err(message) => rejected.push(Rejected {
                section: "annots".into(),
                index,
                id: el.attr("name").map(str::to_string),
                message,
            }),
        }
    }
    if !rejected.is_empty() {
        return Err(Refused::Items(rejected));
    }
    let mut fields = Vec::new();
    if let Some(f) = root.child("fields") {
        collect_fields(f, "", &mut fields);
    }
    Ok(json!({
        "format": FORMAT,
        "annotations": annotations,
        "comments": comments,
        "formFieldValues": fields,
    }))
}

fn collect_fields(parent: &Element, prefix: &str, out: &mut Vec<Value>) {
    for field in parent.children.iter().filter(|c| c.name == "field") {
        let name = field.attr("name").unwrap_or("");
        let full = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        };
        let values: Vec<&str> = field
            .children
            .iter()
            .filter(|c| c.name == "value")
            .map(|c| c.text.as_str())
            .collect();
        match values.as_slice() {
            [] => {}
            [one] => out.push(
                json!({"v": 1, "type": "pspdfkit/form-field-value", "name": full, "value": one}),
            ),
            many => out.push(
                json!({"v": 1, "type": "pspdfkit/form-field-value", "name": full, "value": many}),
            ),
        }
        collect_fields(field, &full, out);
    }
}

/// Numbers separated by commas, semicolons or whitespace.
fn numbers(s: &str, what: &str) -> Result<Vec<f64>, String> {
    s.split([',', ';', ' ', '\n', '\r', '\t'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| format!("`{what}` holds `{p}`, not a number"))
        })
        .collect()
}

fn point(g: &PageGeometry, u: f64, v: f64) -> Value {
    let (x, y) = g.from_pdf_point(u, v);
    json!([round(x), round(y)])
}

fn points(g: &PageGeometry, nums: &[f64]) -> Vec<Value> {
    nums.chunks_exact(2).map(|p| point(g, p[0], p[1])).collect()
}

/// Four decimals: a ten-thousandth of a point, far below what anyone can see or the 0.01 pt
/// the round trip promises, and no `100.00000000000001` in the output.
pub(super) fn round(f: f64) -> f64 {
    (f * 10_000.0).round() / 10_000.0
}

fn bbox(b: [f64; 4]) -> Value {
    json!(b.map(round))
}

fn annotation_from(el: &Element, pages: &[PageGeometry]) -> Result<(Kind, Value), String> {
    let ty = TYPES
        .iter()
        .find(|(x, _)| *x == el.name)
        .map(|(_, t)| *t)
        .ok_or_else(|| format!("unsupported annotation type <{}>", el.name))?;
    let page: usize = el
        .attr("page")
        .and_then(|p| p.trim().parse().ok())
        .ok_or("`page` must be a page index")?;
    let g = pages.get(page).ok_or_else(|| {
        format!(
            "`page` {page} is outside the document's {} pages",
            pages.len()
        )
    })?;
    let rect = numbers(el.attr("rect").ok_or("`rect` is required")?, "rect")?;
    let rect: [f64; 4] = rect
        .try_into()
        .map_err(|_| "`rect` must hold four numbers".to_string())?;
    let contents = el.child("contents").map(|c| c.text.clone());

    let mut o = Map::new();
    if let Some(id) = el.attr("name") {
        o.insert("id".into(), id.into());
    }
    if let Some(author) = el.attr("title") {
        o.insert("creatorName".into(), author.into());
    }
    for (attr, field) in [("creationdate", "createdAt"), ("date", "updatedAt")] {
        if let Some(d) = el.attr(attr) {
            let iso = pdf_date_to_iso(d).ok_or_else(|| format!("`{attr}` is not a PDF date"))?;
            o.insert(field.into(), iso.into());
        }
    }

    if let Some(root) = el.attr("inreplyto") {
        o.insert("v".into(), 2.into());
        o.insert("type".into(), "pspdfkit/comment".into());
        o.insert("rootId".into(), root.into());
        o.insert("pageIndex".into(), page.into());
        o.insert(
            "text".into(),
            json!({"format": "plain", "value": contents.unwrap_or_default()}),
        );
        return Ok((Kind::Comment, Value::Object(o)));
    }

    o.insert("v".into(), 2.into());
    o.insert("type".into(), ty.into());
    o.insert("pageIndex".into(), page.into());
    o.insert("bbox".into(), bbox(g.pdf_to_bbox(rect)));
    if let Some(c) = el.attr("color") {
        o.insert(color_field(ty).into(), c.into());
    }
    if let Some(c) = el.attr("interior-color") {
        o.insert("fillColor".into(), c.into());
    }
    for (attr, field) in [("opacity", Some("opacity")), ("width", width_field(ty))] {
        if let (Some(v), Some(field)) = (el.attr(attr), field) {
            let n = v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| format!("`{attr}` must be a number"))?;
            o.insert(field.into(), json!(n));
        }
    }
    match (contents, has_text(ty)) {
        (Some(c), true) => {
            o.insert("text".into(), json!({"format": "plain", "value": c}));
        }
        (None, true) => {
            o.insert("text".into(), json!({"format": "plain", "value": ""}));
        }
        (Some(c), false) => {
            o.insert("note".into(), c.into());
        }
        (None, false) => {}
    }
    match el.name.as_str() {
        "highlight" | "underline" | "strikeout" | "squiggly" => {
            let coords = numbers(el.attr("coords").ok_or("`coords` is required")?, "coords")?;
            if coords.is_empty() || coords.len() % 8 != 0 {
                return Err("`coords` must hold groups of eight numbers".into());
            }
            let rects: Vec<Value> = coords
                .chunks_exact(8)
                .map(|q| {
                    let xs = [q[0], q[2], q[4], q[6]];
                    let ys = [q[1], q[3], q[5], q[7]];
                    let r = [
                        xs.iter().copied().fold(f64::INFINITY, f64::min),
                        ys.iter().copied().fold(f64::INFINITY, f64::min),
                        xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                        ys.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    ];
                    bbox(g.pdf_to_bbox(r))
                })
                .collect();
            o.insert("rects".into(), rects.into());
        }
        "ink" => {
            let strokes: Vec<Value> = el
                .child("inklist")
                .map(|l| {
                    l.children
                        .iter()
                        .filter(|c| c.name == "gesture")
                        .map(|c| numbers(&c.text, "gesture").map(|n| points(g, &n)))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?
                .unwrap_or_default()
                .into_iter()
                .map(Value::from)
                .collect();
            let intensities: Vec<Value> = strokes
                .iter()
                .map(|s| json!(vec![1.0; s.as_array().map_or(0, Vec::len)]))
                .collect();
            o.insert(
                "lines".into(),
                json!({"points": strokes, "intensities": intensities}),
            );
        }
        "line" => {
            for (attr, field) in [("start", "startPoint"), ("end", "endPoint")] {
                let n = numbers(el.attr(attr).unwrap_or(""), attr)?;
                if n.len() != 2 {
                    return Err(format!("`{attr}` must be two numbers"));
                }
                o.insert(field.into(), point(g, n[0], n[1]));
            }
        }
        "polygon" | "polyline" => {
            let text = el.child("vertices").map_or("", |v| v.text.as_str());
            o.insert(
                "points".into(),
                points(g, &numbers(text, "vertices")?).into(),
            );
        }
        "stamp" => {
            if let Some(icon) = el.attr("icon") {
                o.insert("stampType".into(), icon.into());
            }
        }
        "text" => {
            if let Some(icon) = el.attr("icon") {
                o.insert("icon".into(), icon.into());
            }
        }
        _ => {}
    }
    Ok((Kind::Annotation, Value::Object(o)))
}

/// A PDF date (`D:YYYYMMDDHHmmSS` with an optional `Z` or `±HH'mm'`) as RFC 3339 in UTC.
pub fn pdf_date_to_iso(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s.strip_prefix("D:").unwrap_or(s);
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return None;
    }
    let rest = &s[digits.len()..];
    let part = |from: usize, len: usize, default: u32| -> Option<u32> {
        match digits.get(from..from + len) {
            Some(p) => p.parse().ok(),
            None => Some(default),
        }
    };
    let year: i32 = digits[..4].parse().ok()?;
    let month = time::Month::try_from(part(4, 2, 1)? as u8).ok()?;
    let date = time::Date::from_calendar_date(year, month, part(6, 2, 1)? as u8).ok()?;
    let t = time::Time::from_hms(
        part(8, 2, 0)? as u8,
        part(10, 2, 0)? as u8,
        part(12, 2, 0)? as u8,
    )
    .ok()?;
    let offset = match rest.chars().next() {
        None | Some('Z') => UtcOffset::UTC,
        Some(sign @ ('+' | '-')) => {
            let nums: Vec<i8> = rest[1..]
                .split('\'')
                .filter(|p| !p.is_empty())
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            let (h, m) = (*nums.first()?, nums.get(1).copied().unwrap_or(0));
            let k = if sign == '-' { -1 } else { 1 };
            UtcOffset::from_hms(k * h, k * m, 0).ok()?
        }
        Some(_) => return None,
    };
    let when = time::PrimitiveDateTime::new(date, t)
        .assume_offset(offset)
        .to_offset(UtcOffset::UTC);
    when.format(&Rfc3339).ok()
}

/// An RFC 3339 date as a PDF date in UTC (`D:YYYYMMDDHHmmSSZ`).
pub fn iso_to_pdf_date(s: &str) -> Option<String> {
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .ok()?
        .to_offset(UtcOffset::UTC);
    Some(format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

#[path = "xfdf_export.rs"]
mod export;
pub use export::{export, Skipped};

#[cfg(test)]
#[path = "xfdf_tests.rs"]
mod tests;
