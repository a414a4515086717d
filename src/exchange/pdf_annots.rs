//! One annotation as a PDF annotation dictionary and its appearance stream (see
//! [`super::pdf_export`]).

use lopdf::{dictionary, Dictionary, Object, ObjectId, Stream, StringFormat};
use serde_json::{Map, Value};

use super::appearance::{self, MarkupKind, Shape, Style};
use super::geometry::PageGeometry;
use super::xfdf::{color_field, has_text, iso_to_pdf_date, width_field};

/// A text string: ASCII as a literal, anything else as UTF-16BE with a byte-order mark.
pub fn text_string(s: &str) -> Object {
    if s.is_ascii() {
        Object::String(s.as_bytes().to_vec(), StringFormat::Literal)
    } else {
        let mut bytes = vec![0xFE, 0xFF];
        for unit in s.encode_utf16() {
            bytes.extend(unit.to_be_bytes());
        }
        Object::String(bytes, StringFormat::Hexadecimal)
    }
}

pub(super) fn rect_object(r: [f64; 4]) -> Object {
    Object::Array(r.iter().map(|v| Object::Real(*v as f32)).collect())
}

fn numbers_object(v: impl IntoIterator<Item = f64>) -> Object {
    Object::Array(v.into_iter().map(|f| Object::Real(f as f32)).collect())
}

pub(super) fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("value")?.as_str().map(str::to_string),
        _ => None,
    }
}

fn nums(v: Option<&Value>) -> Option<Vec<f64>> {
    v?.as_array()?.iter().map(Value::as_f64).collect()
}

/// `/T`, `/NM`, dates and opacity, common to annotations and replies.
pub(super) fn common(obj: &Map<String, Value>, dict: &mut Dictionary) {
    if let Some(id) = obj.get("id").and_then(Value::as_str) {
        dict.set("NM", text_string(id));
    }
    if let Some(author) = obj.get("creatorName").and_then(Value::as_str) {
        dict.set("T", text_string(author));
    }
    for (field, key) in [("createdAt", "CreationDate"), ("updatedAt", "M")] {
        if let Some(d) = obj
            .get(field)
            .and_then(Value::as_str)
            .and_then(iso_to_pdf_date)
        {
            dict.set(key, Object::string_literal(d));
        }
    }
}

pub(super) struct Built {
    pub dict: Dictionary,
    pub appearance: Stream,
    pub rect: [f64; 4],
}

/// One annotation's dictionary (without `/AP`) and appearance stream, or `None` for a type
/// with no PDF counterpart or unreadable geometry.
pub(super) fn build(
    obj: &Map<String, Value>,
    g: &PageGeometry,
    page_id: ObjectId,
) -> Option<Built> {
    let ty = obj.get("type")?.as_str()?;
    let b: [f64; 4] = nums(obj.get("bbox"))?.try_into().ok()?;
    let rect = g.bbox_to_pdf(b);
    let pt = |v: &Value| -> Option<(f64, f64)> {
        let p = nums(Some(v))?;
        Some(g.to_pdf_point(*p.first()?, *p.get(1)?))
    };
    let pts =
        |v: Option<&Value>| -> Option<Vec<(f64, f64)>> { v?.as_array()?.iter().map(pt).collect() };
    let color = |field: &str| {
        obj.get(field)
            .and_then(Value::as_str)
            .and_then(appearance::parse_color)
    };
    let stroke = color(color_field(ty));
    let fill = color("fillColor");
    let width = width_field(ty)
        .and_then(|f| obj.get(f))
        .and_then(Value::as_f64)
        .unwrap_or(1.0);
    let opacity = obj.get("opacity").and_then(Value::as_f64).unwrap_or(1.0);
    let contents = if has_text(ty) {
        text_of(obj.get("text"))
    } else {
        text_of(obj.get("note"))
    };

    let mut dict = dictionary! {
        "Type" => "Annot",
        "Rect" => rect_object(rect),
        "P" => page_id,
        "F" => 4,
    };
    let markup = |kind| -> Option<(Shape, Vec<[f64; 4]>)> {
        let rects: Vec<[f64; 4]> = obj
            .get("rects")?
            .as_array()?
            .iter()
            .map(|r| Some(g.bbox_to_pdf(nums(Some(r))?.try_into().ok()?)))
            .collect::<Option<_>>()?;
        Some((
            Shape::Markup {
                kind,
                rects: rects.clone(),
            },
            rects,
        ))
    };
    let (subtype, shape) = match ty {
        "pspdfkit/shape/rectangle" => ("Square", Shape::Rectangle(rect)),
        "pspdfkit/shape/ellipse" => ("Circle", Shape::Ellipse(rect)),
        "pspdfkit/shape/line" => {
            let (a, bpt) = (pt(obj.get("startPoint")?)?, pt(obj.get("endPoint")?)?);
            dict.set("L", numbers_object([a.0, a.1, bpt.0, bpt.1]));
            ("Line", Shape::Line(a, bpt))
        }
        "pspdfkit/shape/polygon" | "pspdfkit/shape/polyline" => {
            let points = pts(obj.get("points"))?;
            dict.set(
                "Vertices",
                numbers_object(points.iter().flat_map(|p| [p.0, p.1])),
            );
            let closed = ty.ends_with("polygon");
            (
                if closed { "Polygon" } else { "PolyLine" },
                Shape::Path { points, closed },
            )
        }
        "pspdfkit/ink" => {
            let strokes: Vec<Vec<(f64, f64)>> = obj
                .get("lines")?
                .get("points")?
                .as_array()?
                .iter()
                .map(|s| pts(Some(s)))
                .collect::<Option<_>>()?;
            dict.set(
                "InkList",
                Object::Array(
                    strokes
                        .iter()
                        .map(|s| numbers_object(s.iter().flat_map(|p| [p.0, p.1])))
                        .collect(),
                ),
            );
            ("Ink", Shape::Ink(strokes))
        }
        t if t.starts_with("pspdfkit/markup/") => {
            let (subtype, kind) = match t {
                "pspdfkit/markup/highlight" => ("Highlight", MarkupKind::Highlight),
                "pspdfkit/markup/underline" => ("Underline", MarkupKind::Underline),
                "pspdfkit/markup/strikeout" => ("StrikeOut", MarkupKind::StrikeOut),
                _ => ("Squiggly", MarkupKind::Squiggly),
            };
            let (shape, rects) = markup(kind)?;
            dict.set(
                "QuadPoints",
                numbers_object(
                    rects
                        .iter()
                        .flat_map(|[x0, y0, x1, y1]| [*x0, *y1, *x1, *y1, *x0, *y0, *x1, *y0]),
                ),
            );
            (subtype, shape)
        }
        "pspdfkit/note" => {
            if let Some(icon) = obj.get("icon").and_then(Value::as_str) {
                dict.set("Name", Object::Name(icon.as_bytes().to_vec()));
            }
            ("Text", Shape::NoteIcon(rect))
        }
        "pspdfkit/text" => {
            let size = obj
                .get("fontSize")
                .and_then(Value::as_f64)
                .unwrap_or(12.0)
                .clamp(1.0, 200.0);
            let c = stroke.unwrap_or([0.0, 0.0, 0.0]);
            dict.set(
                "DA",
                Object::string_literal(format!(
                    "/Helv {} Tf {} {} {} rg",
                    appearance::n(size),
                    appearance::n(c[0]),
                    appearance::n(c[1]),
                    appearance::n(c[2])
                )),
            );
            let text = contents.clone().unwrap_or_default();
            (
                "FreeText",
                Shape::Text {
                    rect,
                    text,
                    size,
                    border: false,
                },
            )
        }
        "pspdfkit/stamp" => {
            let label = obj
                .get("stampType")
                .or_else(|| obj.get("title"))
                .and_then(Value::as_str)
                .unwrap_or("Stamp")
                .to_string();
            dict.set("Name", Object::Name(label.as_bytes().to_vec()));
            let size = ((rect[3] - rect[1]) * 0.5).clamp(4.0, 72.0);
            (
                "Stamp",
                Shape::Text {
                    rect,
                    text: label,
                    size,
                    border: true,
                },
            )
        }
        _ => return None,
    };
    dict.set("Subtype", Object::Name(subtype.as_bytes().to_vec()));
    if let Some(c) = stroke {
        dict.set("C", numbers_object(c));
    }
    if let Some(c) = fill {
        dict.set("IC", numbers_object(c));
    }
    if width_field(ty).is_some() {
        dict.set("BS", dictionary! { "W" => Object::Real(width as f32) });
    }
    if opacity < 1.0 {
        dict.set("CA", Object::Real(opacity as f32));
    }
    if let Some(c) = &contents {
        dict.set("Contents", text_string(c));
    }
    common(obj, &mut dict);

    let with_gs = opacity < 1.0;
    let style = Style {
        stroke,
        fill,
        width,
    };
    let mut resources = dictionary! {
        "Font" => dictionary! {
            "Helv" => dictionary! {
                "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
                "Encoding" => "WinAnsiEncoding",
            },
        },
    };
    if with_gs {
        let a = Object::Real(opacity.clamp(0.0, 1.0) as f32);
        resources.set(
            "ExtGState",
            dictionary! { "GS0" => dictionary! { "CA" => a.clone(), "ca" => a } },
        );
    }
    let appearance = Stream::new(
        dictionary! {
            "Type" => "XObject",
            "Subtype" => "Form",
            "BBox" => rect_object(rect),
            "Resources" => resources,
        },
        appearance::content(&shape, style, with_gs),
    );
    Some(Built {
        dict,
        appearance,
        rect,
    })
}
