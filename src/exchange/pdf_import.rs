//! Reading the annotations already in a PDF as an Instant JSON document, so a file annotated in
//! another tool keeps its markup in Quire (and it becomes editable in the viewer).
//!
//! The inverse of [`super::pdf_export`]: each supported annotation's `/Rect`, `/QuadPoints`,
//! `/InkList`, `/L` and `/Vertices` are converted from user space through the page geometry;
//! `/C`, `/IC`, `/CA`, `/BS /W`, `/T`, `/Contents`, `/NM` and dates become the Instant JSON
//! fields; a `Text` annotation with `/IRT` becomes a comment on the annotation it replies to;
//! form fields with a value become `formFieldValues`. Runs in the sandboxed child with the
//! upload bounds, and reads at most [`MAX_PDF_ANNOTATIONS`] annotations.

use std::collections::HashMap;

use lopdf::{Dictionary, Document, Object, ObjectId};
use serde_json::{json, Map, Value};

use super::geometry::{read_pages, PageGeometry};
use super::xfdf::{color_field, pdf_date_to_iso, width_field};

/// Most annotations read from one PDF; the rest are counted as skipped.
pub const MAX_PDF_ANNOTATIONS: usize = 20_000;
const MAX_FIELD_DEPTH: usize = 32;
const MAX_FIELDS: usize = 20_000;

/// PDF `/Subtype` → Instant JSON `type`.
const SUBTYPES: &[(&[u8], &str)] = &[
    (b"Square", "pspdfkit/shape/rectangle"),
    (b"Circle", "pspdfkit/shape/ellipse"),
    (b"Line", "pspdfkit/shape/line"),
    (b"Polygon", "pspdfkit/shape/polygon"),
    (b"PolyLine", "pspdfkit/shape/polyline"),
    (b"Ink", "pspdfkit/ink"),
    (b"Highlight", "pspdfkit/markup/highlight"),
    (b"Underline", "pspdfkit/markup/underline"),
    (b"StrikeOut", "pspdfkit/markup/strikeout"),
    (b"Squiggly", "pspdfkit/markup/squiggly"),
    (b"Text", "pspdfkit/note"),
    (b"FreeText", "pspdfkit/text"),
    (b"Stamp", "pspdfkit/stamp"),
];

/// Subtypes that are part of another object's display, not annotations of their own.
const IGNORED: &[&[u8]] = &[b"Popup", b"Widget", b"Link"];

/// The annotations and form values of `doc` as an Instant JSON document, with
/// `skippedAnnotations`: how many annotations had a type Quire does not support or were past
/// the bound.
pub fn read(doc: &Document) -> Value {
    let geometry = read_pages(doc);
    let pages: Vec<ObjectId> = doc.get_pages().values().copied().collect();
    let mut annotations = Vec::new();
    let mut comments = Vec::new();
    let mut skipped = 0usize;
    let mut seen = 0usize;
    // Object id → Instant JSON id, for replies.
    let mut ids: HashMap<ObjectId, String> = HashMap::new();
    let mut replies: Vec<(usize, ObjectId, ObjectId)> = Vec::new();

    for (page, (&page_id, g)) in pages.iter().zip(&geometry).enumerate() {
        let annots = doc
            .get_dictionary(page_id)
            .ok()
            .and_then(|d| d.get(b"Annots").ok())
            .and_then(|a| doc.dereference(a).ok())
            .and_then(|(_, a)| a.as_array().ok())
            .cloned()
            .unwrap_or_default();
        for entry in annots {
            let Ok(obj_id) = entry.as_reference() else {
                continue;
            };
            let Ok(dict) = doc.get_dictionary(obj_id) else {
                continue;
            };
            let subtype = dict
                .get(b"Subtype")
                .and_then(Object::as_name)
                .unwrap_or(b"");
            if IGNORED.contains(&subtype) {
                continue;
            }
            seen += 1;
            if seen > MAX_PDF_ANNOTATIONS {
                skipped += 1;
                continue;
            }
            let id = record_id(doc, dict, obj_id);
            ids.insert(obj_id, id.clone());
            if let (b"Text", Ok(Object::Reference(parent))) = (subtype, dict.get(b"IRT")) {
                replies.push((page, obj_id, *parent));
                continue;
            }
            match annotation(doc, dict, subtype, page, g, &id) {
                Some(a) => annotations.push(a),
                None => skipped += 1,
            }
        }
    }
    for (page, obj_id, parent) in replies {
        let (Some(id), Some(root)) = (ids.get(&obj_id), ids.get(&parent)) else {
            skipped += 1;
            continue;
        };
        let Ok(dict) = doc.get_dictionary(obj_id) else {
            continue;
        };
        let mut o = Map::new();
        o.insert("id".into(), id.clone().into());
        o.insert("v".into(), 2.into());
        o.insert("type".into(), "pspdfkit/comment".into());
        o.insert("rootId".into(), root.clone().into());
        o.insert("pageIndex".into(), page.into());
        let text = string(doc, dict, b"Contents").unwrap_or_default();
        o.insert("text".into(), json!({"format": "plain", "value": text}));
        common(doc, dict, &mut o);
        comments.push(Value::Object(o));
    }
    json!({
        "format": super::instant_json::FORMAT,
        "annotations": annotations,
        "comments": comments,
        "formFieldValues": form_values(doc),
        "skippedAnnotations": skipped,
    })
}

/// `/NM` when it is a valid record id, else one made from the object number (stable across
/// reads of the same file).
fn record_id(doc: &Document, dict: &Dictionary, obj_id: ObjectId) -> String {
    string(doc, dict, b"NM")
        .filter(|nm| crate::records::validate_id(nm).is_ok())
        .unwrap_or_else(|| format!("pdf-{}-{}", obj_id.0, obj_id.1))
}

fn string(doc: &Document, dict: &Dictionary, key: &[u8]) -> Option<String> {
    let o = doc.dereference(dict.get(key).ok()?).ok()?.1;
    lopdf::decode_text_string(o).ok()
}

fn number(doc: &Document, o: &Object) -> Option<f64> {
    match doc.dereference(o).ok()?.1 {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(f64::from(*r)),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

fn numbers(doc: &Document, o: &Object) -> Option<Vec<f64>> {
    doc.dereference(o)
        .ok()?
        .1
        .as_array()
        .ok()?
        .iter()
        .map(|x| number(doc, x))
        .collect()
}

fn hex(doc: &Document, dict: &Dictionary, key: &[u8]) -> Option<String> {
    let c = numbers(doc, dict.get(key).ok()?)?;
    let to = |f: f64| (f.clamp(0.0, 1.0) * 255.0).round() as u8;
    match c.as_slice() {
        [g] => Some(format!("#{0:02X}{0:02X}{0:02X}", to(*g))),
        [r, g, b] => Some(format!("#{:02X}{:02X}{:02X}", to(*r), to(*g), to(*b))),
        [c, m, y, k] => {
            let f = |x: f64| to((1.0 - x) * (1.0 - k));
            Some(format!("#{:02X}{:02X}{:02X}", f(*c), f(*m), f(*y)))
        }
        _ => None,
    }
}

fn round(f: f64) -> f64 {
    (f * 10_000.0).round() / 10_000.0
}

fn bbox_value(b: [f64; 4]) -> Value {
    json!(b.map(round))
}

fn common(doc: &Document, dict: &Dictionary, o: &mut Map<String, Value>) {
    if let Some(t) = string(doc, dict, b"T") {
        o.insert("creatorName".into(), t.into());
    }
    for (key, field) in [(&b"CreationDate"[..], "createdAt"), (b"M", "updatedAt")] {
        if let Some(d) = string(doc, dict, key).and_then(|d| pdf_date_to_iso(&d)) {
            o.insert(field.into(), d.into());
        }
    }
}

fn annotation(
    doc: &Document,
    dict: &Dictionary,
    subtype: &[u8],
    page: usize,
    g: &PageGeometry,
    id: &str,
) -> Option<Value> {
    let ty = SUBTYPES.iter().find(|(s, _)| *s == subtype)?.1;
    let r: [f64; 4] = numbers(doc, dict.get(b"Rect").ok()?)?.try_into().ok()?;
    let rect = super::geometry::normalise(r);
    let pt = |u: f64, v: f64| {
        let (x, y) = g.from_pdf_point(u, v);
        json!([round(x), round(y)])
    };
    let flat_points = |key: &[u8]| -> Option<Vec<Value>> {
        let n = numbers(doc, dict.get(key).ok()?)?;
        Some(n.chunks_exact(2).map(|p| pt(p[0], p[1])).collect())
    };
    let mut o = Map::new();
    o.insert("id".into(), id.into());
    o.insert("v".into(), 2.into());
    o.insert("type".into(), ty.into());
    o.insert("pageIndex".into(), page.into());
    o.insert("bbox".into(), bbox_value(g.pdf_to_bbox(rect)));
    if let Some(c) = hex(doc, dict, b"C") {
        o.insert(color_field(ty).into(), c.into());
    }
    if let Some(c) = hex(doc, dict, b"IC") {
        o.insert("fillColor".into(), c.into());
    }
    if let Some(a) = dict.get(b"CA").ok().and_then(|a| number(doc, a)) {
        o.insert("opacity".into(), json!(round(a.clamp(0.0, 1.0))));
    }
    if let Some(field) = width_field(ty) {
        let w = dict
            .get(b"BS")
            .ok()
            .and_then(|bs| doc.dereference(bs).ok())
            .and_then(|(_, bs)| bs.as_dict().ok())
            .and_then(|bs| bs.get(b"W").ok())
            .and_then(|w| number(doc, w));
        if let Some(w) = w {
            o.insert(field.into(), json!(round(w.clamp(0.0, 1000.0))));
        }
    }
    let contents = string(doc, dict, b"Contents");
    match ty {
        "pspdfkit/note" | "pspdfkit/text" => {
            o.insert(
                "text".into(),
                json!({"format": "plain", "value": contents.unwrap_or_default()}),
            );
        }
        _ => {
            if let Some(c) = contents.filter(|c| !c.is_empty()) {
                o.insert("note".into(), c.into());
            }
        }
    }
    common(doc, dict, &mut o);
    match subtype {
        b"Highlight" | b"Underline" | b"StrikeOut" | b"Squiggly" => {
            let q = dict
                .get(b"QuadPoints")
                .ok()
                .and_then(|q| numbers(doc, q))
                .unwrap_or_default();
            let mut rects: Vec<Value> = q
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
                    bbox_value(g.pdf_to_bbox(r))
                })
                .collect();
            if rects.is_empty() {
                rects.push(bbox_value(g.pdf_to_bbox(rect)));
            }
            o.insert("rects".into(), rects.into());
        }
        b"Ink" => {
            let strokes: Vec<Value> = doc
                .dereference(dict.get(b"InkList").ok()?)
                .ok()?
                .1
                .as_array()
                .ok()?
                .iter()
                .filter_map(|s| numbers(doc, s))
                .filter(|s| s.len() >= 2)
                .map(|s| {
                    Value::from(
                        s.chunks_exact(2)
                            .map(|p| pt(p[0], p[1]))
                            .collect::<Vec<_>>(),
                    )
                })
                .collect();
            if strokes.is_empty() {
                return None;
            }
            let intensities: Vec<Value> = strokes
                .iter()
                .map(|s| json!(vec![1.0; s.as_array().map_or(0, Vec::len)]))
                .collect();
            o.insert(
                "lines".into(),
                json!({"points": strokes, "intensities": intensities}),
            );
        }
        b"Line" => {
            let l = numbers(doc, dict.get(b"L").ok()?)?;
            let [x1, y1, x2, y2]: [f64; 4] = l.try_into().ok()?;
            o.insert("startPoint".into(), pt(x1, y1));
            o.insert("endPoint".into(), pt(x2, y2));
        }
        b"Polygon" | b"PolyLine" => {
            let points = flat_points(b"Vertices")?;
            if points.len() < 2 {
                return None;
            }
            o.insert("points".into(), points.into());
        }
        b"Stamp" | b"Text" => {
            if let Ok(name) = dict.get(b"Name").and_then(Object::as_name) {
                let field = if subtype == b"Stamp" {
                    "stampType"
                } else {
                    "icon"
                };
                o.insert(
                    field.into(),
                    String::from_utf8_lossy(name).into_owned().into(),
                );
            }
        }
        _ => {}
    }
    Some(Value::Object(o))
}

/// Form fields that hold a value, by full name.
fn form_values(doc: &Document) -> Vec<Value> {
    let fields = doc
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .and_then(|r| doc.get_dictionary(r))
        .and_then(|c| c.get(b"AcroForm"))
        .ok()
        .and_then(|f| doc.dereference(f).ok())
        .and_then(|(_, f)| f.as_dict().ok())
        .and_then(|f| f.get(b"Fields").ok())
        .and_then(|f| doc.dereference(f).ok())
        .and_then(|(_, f)| f.as_array().ok())
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut budget = MAX_FIELDS;
    for f in &fields {
        walk(doc, f, "", 0, &mut budget, &mut out);
    }
    out
}

fn walk(
    doc: &Document,
    field: &Object,
    prefix: &str,
    depth: usize,
    budget: &mut usize,
    out: &mut Vec<Value>,
) {
    if depth > MAX_FIELD_DEPTH || *budget == 0 {
        return;
    }
    *budget -= 1;
    let Ok(dict) = field.as_reference().and_then(|r| doc.get_dictionary(r)) else {
        return;
    };
    let partial = string(doc, dict, b"T");
    let name = match (&partial, prefix.is_empty()) {
        (Some(p), true) => p.clone(),
        (Some(p), false) => format!("{prefix}.{p}"),
        (None, _) => prefix.to_string(),
    };
    if partial.is_some() {
        let value = dict
            .get(b"V")
            .ok()
            .and_then(|v| doc.dereference(v).ok())
            .and_then(|(_, v)| match v {
                Object::Name(n) => Some(Value::from(String::from_utf8_lossy(n).into_owned())),
                Object::String(..) => lopdf::decode_text_string(v).ok().map(Value::from),
                Object::Array(items) => Some(Value::from(
                    items
                        .iter()
                        .filter_map(|i| lopdf::decode_text_string(i).ok())
                        .collect::<Vec<_>>(),
                )),
                _ => None,
            });
        if let Some(value) = value {
            out.push(
                json!({"v": 1, "type": "pspdfkit/form-field-value", "name": name, "value": value}),
            );
        }
    }
    if let Ok(Object::Array(kids)) = dict.get(b"Kids") {
        for kid in kids {
            walk(doc, kid, &name, depth + 1, budget, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Export, then read back: the same annotations (type, page, rect within 0.01 pt, colour,
    /// contents, author), on a rotated page and on one with an offset CropBox.
    #[test]
    fn records_written_to_a_pdf_read_back_the_same() {
        let objects: Vec<Vec<u8>> = [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 /MediaBox [0 0 612 792] >>",
            "<< /Type /Page /Parent 2 0 R /Rotate 90 >>",
            "<< /Type /Page /Parent 2 0 R /CropBox [100 50 500 700] /Rotate 270 >>",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        let original = crate::pdf::assemble(&objects);
        let doc = json!({"annotations": [
            {"id": "sq", "v": 2, "type": "pspdfkit/shape/rectangle", "pageIndex": 0, "bbox": [10.5, 20.25, 100, 50],
             "strokeColor": "#FF0000", "creatorName": "Ann", "note": "look", "strokeWidth": 2},
            {"id": "hl", "v": 2, "type": "pspdfkit/markup/highlight", "pageIndex": 1, "bbox": [20, 30, 100, 12],
             "rects": [[20, 30, 100, 12]], "color": "#FFFF00", "creatorName": "Bob"},
            {"id": "ln", "v": 2, "type": "pspdfkit/shape/line", "pageIndex": 1, "bbox": [5, 5, 50, 50],
             "startPoint": [5, 5], "endPoint": [55, 55], "strokeColor": "#0000FF"},
            {"id": "nt", "v": 2, "type": "pspdfkit/note", "pageIndex": 0, "bbox": [50, 60, 24, 24],
             "text": {"format": "plain", "value": "a note"}, "color": "#FFCC00"},
        ], "comments": [{"id": "re", "rootId": "sq", "text": "agreed", "creatorName": "Cy"}]});
        let (bytes, _) = super::super::pdf_export::export(&original, &doc, false, 1 << 20).unwrap();
        let parsed = Document::load_mem(&bytes).unwrap();
        let back = read(&parsed);
        let by_id = |id: &str| {
            back["annotations"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["id"] == id)
                .unwrap_or_else(|| panic!("{id} in {back}"))
                .clone()
        };
        for a in doc["annotations"].as_array().unwrap() {
            let b = by_id(a["id"].as_str().unwrap());
            for key in [
                "type",
                "pageIndex",
                "creatorName",
                "note",
                "text",
                "color",
                "strokeColor",
            ] {
                assert_eq!(
                    a.get(key),
                    b.get(key).filter(|_| a.get(key).is_some()),
                    "{key} of {}",
                    a["id"]
                );
            }
            let close = |x: &Value, y: &Value| {
                let (x, y) = (x.as_array().unwrap(), y.as_array().unwrap());
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|(p, q)| (p.as_f64().unwrap() - q.as_f64().unwrap()).abs() < 0.01)
            };
            assert!(
                close(&a["bbox"], &b["bbox"]),
                "{} {} vs {}",
                a["id"],
                a["bbox"],
                b["bbox"]
            );
        }
        assert!(by_id("hl")["rects"][0].as_array().unwrap().len() == 4);
        assert_eq!(by_id("ln")["endPoint"], json!([55.0, 55.0]));
        assert_eq!(back["comments"][0]["rootId"], "sq");
        assert_eq!(back["comments"][0]["text"]["value"], "agreed");
        assert_eq!(back["skippedAnnotations"], 0);
    }
}
