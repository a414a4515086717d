//! XFDF export: a layer's records as an XFDF document (see the parent module for the mapping).

use std::collections::HashMap;
use std::fmt::Write as _;

use quick_xml::escape::escape;
use serde_json::{Map, Value};

use super::{color_field, has_text, iso_to_pdf_date, round, width_field, TYPES};
use crate::exchange::geometry::PageGeometry;
use crate::exchange::layers::StoredRecord;
use crate::wire::common::Kind;

fn num(f: f64) -> String {
    let r = round(f);
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r}")
    }
}

fn nums_of(v: &Value) -> Option<Vec<f64>> {
    v.as_array()?.iter().map(Value::as_f64).collect()
}

fn text_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("value")?.as_str().map(str::to_string),
        _ => None,
    }
}

/// What an export left out: records XFDF has no element for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Annotations of a type without an XFDF counterpart (image, link, redaction) or on a
    /// page the document does not have.
    pub annotations: usize,
    /// Comments whose annotation is not in the layer.
    pub comments: usize,
    /// Bookmarks (XFDF carries none).
    pub bookmarks: usize,
}

/// A layer's records as an XFDF document, and what had to be left out.
pub fn export(records: &[StoredRecord], pages: &[PageGeometry]) -> (String, Skipped) {
    let mut skipped = Skipped::default();
    let parsed: Vec<(&StoredRecord, Map<String, Value>)> = records
        .iter()
        .filter_map(|r| match serde_json::from_str(r.content.get()) {
            Ok(Value::Object(o)) => Some((r, o)),
            _ => None,
        })
        .collect();
    // Where each annotation is, for its replies.
    let mut anchors: HashMap<&str, (usize, String)> = HashMap::new();
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xfdf xmlns=\"http://ns.adobe.com/xfdf/\" xml:space=\"preserve\">\n<annots>\n",
    );
    for (r, o) in parsed.iter().filter(|(r, _)| r.kind == Kind::Annotation) {
        match annotation_xml(r, o, pages) {
            Some((xml, page, rect)) => {
                out.push_str(&xml);
                anchors.insert(r.id.as_str(), (page, rect));
            }
            None => skipped.annotations += 1,
        }
    }
    for (r, o) in parsed.iter().filter(|(r, _)| r.kind == Kind::Comment) {
        let anchor = o
            .get("rootId")
            .and_then(Value::as_str)
            .and_then(|root| Some((root, anchors.get(root)?)));
        let Some((root, (page, rect))) = anchor else {
            skipped.comments += 1;
            continue;
        };
        let mut attrs = vec![
            ("name", r.id.clone()),
            ("page", page.to_string()),
            ("rect", rect.clone()),
            ("inreplyto", root.to_string()),
        ];
        common_attrs(r, o, &mut attrs);
        let body = format!(
            "<contents>{}</contents>",
            escape(text_of(o.get("text")).unwrap_or_default())
        );
        out.push_str(&element("text", &attrs, &body));
    }
    out.push_str("</annots>\n<fields>\n");
    for (_, o) in parsed.iter().filter(|(r, _)| r.kind == Kind::FormField) {
        let Some(name) = o.get("name").and_then(Value::as_str) else {
            continue;
        };
        let values: Vec<String> = match o.get("value") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Number(n)) => vec![n.to_string()],
            Some(Value::Bool(b)) => vec![if *b { "On" } else { "Off" }.to_string()],
            _ => vec![],
        };
        let _ = write!(out, "<field name=\"{}\">", escape(name));
        for v in values {
            let _ = write!(out, "<value>{}</value>", escape(v));
        }
        out.push_str("</field>\n");
    }
    skipped.bookmarks = parsed
        .iter()
        .filter(|(r, _)| r.kind == Kind::Bookmark)
        .count();
    out.push_str("</fields>\n</xfdf>\n");
    (out, skipped)
}

fn element(name: &str, attrs: &[(&str, String)], body: &str) -> String {
    let mut s = format!("<{name}");
    for (k, v) in attrs {
        let _ = write!(s, " {k}=\"{}\"", escape(v.as_str()));
    }
    if body.is_empty() {
        s.push_str("/>\n");
    } else {
        let _ = writeln!(s, ">{body}</{name}>");
    }
    s
}

fn common_attrs(r: &StoredRecord, o: &Map<String, Value>, attrs: &mut Vec<(&str, String)>) {
    let author = o
        .get("creatorName")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| r.creator_name.clone());
    if let Some(a) = author {
        attrs.push(("title", a));
    }
    let created = o
        .get("createdAt")
        .and_then(Value::as_str)
        .unwrap_or(&r.created_at);
    let updated = o
        .get("updatedAt")
        .and_then(Value::as_str)
        .unwrap_or(&r.updated_at);
    if let Some(d) = iso_to_pdf_date(created) {
        attrs.push(("creationdate", d));
    }
    if let Some(d) = iso_to_pdf_date(updated) {
        attrs.push(("date", d));
    }
}

/// One annotation as an XFDF element, with its page and `rect` (for its replies).
fn annotation_xml(
    r: &StoredRecord,
    o: &Map<String, Value>,
    pages: &[PageGeometry],
) -> Option<(String, usize, String)> {
    let ty = o.get("type")?.as_str()?;
    let name = TYPES.iter().find(|(_, t)| *t == ty)?.0;
    let page = usize::try_from(o.get("pageIndex")?.as_u64()?).ok()?;
    let g = pages.get(page)?;
    let b: [f64; 4] = nums_of(o.get("bbox")?)?.try_into().ok()?;
    let rect = g.bbox_to_pdf(b).map(num).join(",");
    let mut attrs = vec![
        ("name", r.id.clone()),
        ("page", page.to_string()),
        ("rect", rect.clone()),
    ];
    common_attrs(r, o, &mut attrs);
    if let Some(c) = o.get(color_field(ty)).and_then(Value::as_str) {
        attrs.push(("color", c.to_string()));
    }
    if let Some(c) = o.get("fillColor").and_then(Value::as_str) {
        attrs.push(("interior-color", c.to_string()));
    }
    if let Some(v) = o.get("opacity").and_then(Value::as_f64) {
        attrs.push(("opacity", num(v)));
    }
    if let Some(v) = width_field(ty)
        .and_then(|f| o.get(f))
        .and_then(Value::as_f64)
    {
        attrs.push(("width", num(v)));
    }
    let pdf_points = |v: Option<&Value>| -> Option<String> {
        let pts = v?.as_array()?;
        let mut parts = Vec::with_capacity(pts.len());
        for p in pts {
            let p = nums_of(p)?;
            let (u, v) = g.to_pdf_point(*p.first()?, *p.get(1)?);
            parts.push(format!("{},{}", num(u), num(v)));
        }
        Some(parts.join(";"))
    };
    let mut body = String::new();
    let contents = if has_text(ty) {
        text_of(o.get("text"))
    } else {
        text_of(o.get("note"))
    };
    if let Some(c) = contents.filter(|c| !c.is_empty()) {
        let _ = write!(body, "<contents>{}</contents>", escape(c));
    }
    match name {
        "highlight" | "underline" | "strikeout" | "squiggly" => {
            let mut coords = Vec::new();
            for rr in o.get("rects")?.as_array()? {
                let rb: [f64; 4] = nums_of(rr)?.try_into().ok()?;
                let [x0, y0, x1, y1] = g.bbox_to_pdf(rb);
                // Upper left, upper right, lower left, lower right.
                coords.extend([x0, y1, x1, y1, x0, y0, x1, y0].map(num));
            }
            attrs.push(("coords", coords.join(",")));
        }
        "ink" => {
            let lines = o.get("lines")?.get("points")?.as_array()?;
            body.push_str("<inklist>");
            for stroke in lines {
                let _ = write!(body, "<gesture>{}</gesture>", pdf_points(Some(stroke))?);
            }
            body.push_str("</inklist>");
        }
        "line" => {
            for (attr, field) in [("start", "startPoint"), ("end", "endPoint")] {
                let p = nums_of(o.get(field)?)?;
                let (u, v) = g.to_pdf_point(*p.first()?, *p.get(1)?);
                attrs.push((attr, format!("{},{}", num(u), num(v))));
            }
        }
        "polygon" | "polyline" => {
            let _ = write!(
                body,
                "<vertices>{}</vertices>",
                pdf_points(o.get("points"))?
            );
        }
        "stamp" => {
            if let Some(icon) = o.get("stampType").and_then(Value::as_str) {
                attrs.push(("icon", icon.to_string()));
            }
        }
        "text" => {
            if let Some(icon) = o.get("icon").and_then(Value::as_str) {
                attrs.push(("icon", icon.to_string()));
            }
        }
        _ => {}
    }
    Some((element(name, &attrs, &body), page, rect))
}
