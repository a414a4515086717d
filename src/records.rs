//! Records (annotations, comments, form-field values, bookmarks) and the validation of their
//! content. Content is kept as the client sent it (unknown fields preserved); validation only
//! checks what Quire relies on or what the Instant JSON shape requires.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::wire::common::{Kind, RecordView, RejectCode, Timestamp};

/// Largest serialised content of one record.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// Longest record id.
pub const MAX_RECORD_ID_LEN: usize = 128;
/// Longest comment text, in characters.
pub const MAX_COMMENT_CHARS: usize = 10_000;

/// Annotation types Quire accepts (Instant JSON `type`).
pub const ANNOTATION_TYPES: &[&str] = &[
    "pspdfkit/ink",
    "pspdfkit/markup/highlight",
    "pspdfkit/markup/underline",
    "pspdfkit/markup/strikeout",
    "pspdfkit/markup/squiggly",
    "pspdfkit/shape/rectangle",
    "pspdfkit/shape/ellipse",
    "pspdfkit/shape/line",
    "pspdfkit/shape/polygon",
    "pspdfkit/shape/polyline",
    "pspdfkit/note",
    "pspdfkit/text",
    "pspdfkit/stamp",
    "pspdfkit/image",
    "pspdfkit/link",
    "pspdfkit/redaction",
];

/// A record in a document actor's memory.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    pub kind: Kind,
    pub content: Box<RawValue>,
    pub creator: String,
    pub creator_name: Option<String>,
    pub group: Option<String>,
    /// Sequence number of the record's last change.
    pub rev: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// For comments: the annotation whose thread this comment belongs to.
    pub root_id: Option<String>,
}

impl Record {
    /// The record as clients see it.
    pub fn view(&self) -> RecordView<'_> {
        RecordView {
            id: &self.id,
            kind: self.kind,
            content: &self.content,
            creator: &self.creator,
            creator_name: self.creator_name.as_deref(),
            group: self.group.as_deref(),
            rev: self.rev,
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
        }
    }
}

/// Why content was refused.
pub type Refusal = (RejectCode, String);

fn invalid(msg: impl Into<String>) -> Refusal {
    (RejectCode::Invalid, msg.into())
}

/// Checks a record id: 1–128 of `A-Z a-z 0-9 . _ - :`.
pub fn validate_id(id: &str) -> Result<(), Refusal> {
    if id.is_empty() || id.len() > MAX_RECORD_ID_LEN {
        return Err(invalid(format!(
            "record ids are 1 to {MAX_RECORD_ID_LEN} characters"
        )));
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
    {
        return Err(invalid(
            "record ids use only A-Z, a-z, 0-9, '.', '_', '-' and ':'",
        ));
    }
    Ok(())
}

/// What validation learnt about the content that the actor needs.
#[derive(Debug, Default)]
pub struct Checked {
    /// For comments: the thread's root annotation.
    pub root_id: Option<String>,
}

/// Validates content of `kind`. `page_count` bounds `pageIndex` when the document is managed.
pub fn validate(
    kind: Kind,
    content: &RawValue,
    page_count: Option<u32>,
) -> Result<Checked, Refusal> {
    if content.get().len() > MAX_RECORD_BYTES {
        return Err((
            RejectCode::TooLarge,
            format!(
                "record content is {} bytes; the limit is {MAX_RECORD_BYTES}",
                content.get().len()
            ),
        ));
    }
    let value: Value =
        serde_json::from_str(content.get()).map_err(|e| invalid(format!("content: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(invalid("content must be a JSON object"));
    };
    match kind {
        Kind::Annotation => annotation(&obj, page_count).map(|_| Checked::default()),
        Kind::Comment => comment(&obj),
        Kind::FormField => form_field(&obj).map(|_| Checked::default()),
        Kind::Bookmark => bookmark(&obj, page_count).map(|_| Checked::default()),
    }
}

fn finite(v: &Value) -> Option<f64> {
    v.as_f64().filter(|f| f.is_finite())
}

/// An array of exactly `n` finite numbers.
fn numbers(v: Option<&Value>, n: usize, what: &str) -> Result<Vec<f64>, Refusal> {
    let arr = v
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(format!("`{what}` must be an array of {n} numbers")))?;
    if arr.len() != n {
        return Err(invalid(format!(
            "`{what}` must have {n} numbers, not {}",
            arr.len()
        )));
    }
    arr.iter()
        .map(|x| finite(x).ok_or_else(|| invalid(format!("`{what}` must hold finite numbers"))))
        .collect()
}

fn page_index(
    obj: &Map<String, Value>,
    field: &str,
    page_count: Option<u32>,
) -> Result<(), Refusal> {
    let index = obj
        .get(field)
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid(format!("`{field}` must be a page index (an integer)")))?;
    if index < 0 || page_count.is_some_and(|n| index >= n as i64) {
        return Err(invalid(match page_count {
            Some(n) => format!(
                "`{field}` {index} is outside the document's {n} pages (0 to {})",
                n.saturating_sub(1)
            ),
            None => format!("`{field}` must not be negative"),
        }));
    }
    Ok(())
}

/// A text field: a string, or `{"format": "plain", "value": "..."}`. Only plain text is
/// accepted: a viewer must never be handed markup to render.
fn text_value<'a>(v: Option<&'a Value>, what: &str) -> Result<&'a str, Refusal> {
    match v {
        Some(Value::String(s)) => Ok(s),
        Some(Value::Object(o)) => {
            match o.get("format") {
                None => {}
                Some(Value::String(f)) if f == "plain" => {}
                Some(_) => {
                    return Err(invalid(format!(
                        "`{what}.format` must be \"plain\": only plain text is accepted"
                    )))
                }
            }
            o.get("value")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("`{what}.value` must be a string")))
        }
        _ => Err(invalid(format!(
            "`{what}` is required: a string or {{\"format\": \"plain\", \"value\": \"...\"}}"
        ))),
    }
}

/// Style fields a viewer turns into CSS or SVG attributes. Colours must be colours (`#rgb`,
/// `#rgba`, `#rrggbb`, `#rrggbbaa`) or null, so nothing else (`url(...)`, `expression(...)`)
/// can reach a stylesheet; numbers must be finite and in range.
const COLOR_FIELDS: &[&str] = &[
    "color",
    "strokeColor",
    "fillColor",
    "fontColor",
    "backgroundColor",
    "borderColor",
];

fn is_color(s: &str) -> bool {
    s.strip_prefix('#').is_some_and(|hex| {
        matches!(hex.len(), 3 | 4 | 6 | 8) && hex.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

fn style(obj: &Map<String, Value>) -> Result<(), Refusal> {
    for field in COLOR_FIELDS {
        match obj.get(*field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if is_color(s) => {}
            Some(_) => {
                return Err(invalid(format!(
                    "`{field}` must be a colour such as \"#2563eb\" (or null)"
                )))
            }
        }
    }
    let ranges: [(&str, f64, f64); 3] = [
        ("opacity", 0.0, 1.0),
        ("strokeWidth", 0.0, 1000.0),
        ("fontSize", 0.0, 1000.0),
    ];
    for (field, min, max) in ranges {
        if let Some(v) = obj.get(field) {
            if !finite(v).is_some_and(|f| (min..=max).contains(&f)) {
                return Err(invalid(format!(
                    "`{field}` must be a number from {min} to {max}"
                )));
            }
        }
    }
    if let Some(font) = obj.get("font") {
        let ok = font.as_str().is_some_and(|f| {
            f.len() <= 128
                && f.chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        });
        if !ok {
            return Err(invalid(
                "`font` must be a font name (letters, digits, spaces, '-', '_'; at most 128 bytes)",
            ));
        }
    }
    Ok(())
}

fn annotation(obj: &Map<String, Value>, page_count: Option<u32>) -> Result<(), Refusal> {
    match obj.get("v").and_then(Value::as_i64) {
        Some(1 | 2) => {}
        _ => return Err(invalid("`v` must be the Instant JSON version, 1 or 2")),
    }
    let ty = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("`type` is required"))?;
    if !ANNOTATION_TYPES.contains(&ty) {
        return Err(invalid(format!(
            "unsupported annotation type `{ty}`; see docs/protocol.md for the list"
        )));
    }
    page_index(obj, "pageIndex", page_count)?;
    style(obj)?;
    let bbox = numbers(obj.get("bbox"), 4, "bbox")?;
    if bbox[2] < 0.0 || bbox[3] < 0.0 {
        return Err(invalid(
            "`bbox` is [left, top, width, height] with non-negative width and height",
        ));
    }
    match ty {
        "pspdfkit/ink" => {
            let lines = obj
                .get("lines")
                .and_then(Value::as_object)
                .ok_or_else(|| invalid("ink needs `lines`"))?;
            let points = lines
                .get("points")
                .and_then(Value::as_array)
                .filter(|p| !p.is_empty())
                .ok_or_else(|| invalid("ink needs `lines.points`: a non-empty array of strokes"))?;
            for stroke in points {
                let stroke = stroke
                    .as_array()
                    .ok_or_else(|| invalid("each stroke is an array of [x, y] points"))?;
                for p in stroke {
                    numbers(Some(p), 2, "lines.points[][]")?;
                }
            }
        }
        t if t.starts_with("pspdfkit/markup/") => {
            let rects = obj
                .get("rects")
                .and_then(Value::as_array)
                .filter(|r| !r.is_empty())
                .ok_or_else(|| invalid("text markup needs `rects`: a non-empty array of [left, top, width, height]"))?;
            for r in rects {
                numbers(Some(r), 4, "rects[]")?;
            }
        }
        "pspdfkit/shape/line" => {
            numbers(obj.get("startPoint"), 2, "startPoint")?;
            numbers(obj.get("endPoint"), 2, "endPoint")?;
        }
        "pspdfkit/shape/polygon" | "pspdfkit/shape/polyline" => {
            let points = obj
                .get("points")
                .and_then(Value::as_array)
                .filter(|p| p.len() >= 2)
                .ok_or_else(|| {
                    invalid("polygons and polylines need `points`: at least two [x, y] points")
                })?;
            for p in points {
                numbers(Some(p), 2, "points[]")?;
            }
        }
        "pspdfkit/text" => {
            text_value(obj.get("text"), "text")?;
        }
        _ => {}
    }
    Ok(())
}

fn comment(obj: &Map<String, Value>) -> Result<Checked, Refusal> {
    if let Some(ty) = obj.get("type") {
        if ty != "pspdfkit/comment" {
            return Err(invalid("a comment's `type` is `pspdfkit/comment`"));
        }
    }
    let root = obj.get("rootId").and_then(Value::as_str).ok_or_else(|| {
        invalid("a comment needs `rootId`: the id of the annotation it belongs to")
    })?;
    validate_id(root).map_err(|(_, m)| invalid(format!("`rootId`: {m}")))?;
    let text = text_value(obj.get("text"), "text")?;
    if text.trim().is_empty() {
        return Err(invalid("a comment's text must not be empty"));
    }
    // Counted in Unicode scalar values (what `chars()` yields), not bytes or UTF-16 units.
    if text.chars().count() > MAX_COMMENT_CHARS {
        return Err((
            RejectCode::TooLarge,
            format!("comment text is limited to {MAX_COMMENT_CHARS} characters"),
        ));
    }
    Ok(Checked {
        root_id: Some(root.to_string()),
    })
}

fn form_field(obj: &Map<String, Value>) -> Result<(), Refusal> {
    let name = obj.get("name").and_then(Value::as_str).unwrap_or("");
    if name.is_empty() || name.len() > 1024 {
        return Err(invalid(
            "a form-field value needs `name`: the field's name, 1 to 1024 bytes",
        ));
    }
    match obj.get("value") {
        Some(Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_)) | None => Ok(()),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
        Some(_) => Err(invalid(
            "`value` must be a string, an array of strings, a number, a boolean or null",
        )),
    }
}

fn bookmark(obj: &Map<String, Value>, page_count: Option<u32>) -> Result<(), Refusal> {
    if let Some(name) = obj.get("name") {
        if !name.is_string() {
            return Err(invalid("a bookmark's `name` is a string"));
        }
    }
    if let Some(action) = obj.get("action") {
        let action = action
            .as_object()
            .ok_or_else(|| invalid("a bookmark's `action` is an object"))?;
        if action.contains_key("pageIndex") {
            page_index(action, "pageIndex", page_count)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotation_with(extra: &str) -> Box<RawValue> {
        raw(&format!(
            r#"{{"v":2,"type":"pspdfkit/shape/rectangle","pageIndex":0,"bbox":[1,2,3,4]{extra}}}"#
        ))
    }

    #[test]
    fn colours_that_reach_css_must_be_colours() {
        for ok in [
            r##","strokeColor":"#2563eb""##,
            r##","fillColor":"#FFF""##,
            r#","fillColor":null"#,
            r##","backgroundColor":"#11223344""##,
        ] {
            validate(Kind::Annotation, &annotation_with(ok), Some(1)).unwrap();
        }
        for bad in [
            r#","strokeColor":"url(https://evil.example/x)""#,
            r#","fillColor":"red; background: url(x)""#,
            r##","fontColor":"#12345""##,
            r#","backgroundColor":7"#,
        ] {
            let err = validate(Kind::Annotation, &annotation_with(bad), Some(1)).unwrap_err();
            assert_eq!(err.0, RejectCode::Invalid, "{bad}");
            assert!(err.1.contains("colour"), "{bad}: {}", err.1);
        }
    }

    #[test]
    fn style_numbers_and_fonts_are_bounded() {
        for bad in [
            r#","opacity":2"#,
            r#","opacity":"1""#,
            r#","fontSize":-1"#,
            r#","font":"x;}body{""#,
        ] {
            assert!(
                validate(Kind::Annotation, &annotation_with(bad), Some(1)).is_err(),
                "{bad}"
            );
        }
        validate(
            Kind::Annotation,
            &annotation_with(r#","opacity":0.5,"font":"Helvetica""#),
            Some(1),
        )
        .unwrap();
    }

    #[test]
    fn only_plain_text_is_accepted() {
        let xhtml = r#"{"v":2,"type":"pspdfkit/text","pageIndex":0,"bbox":[1,2,3,4],"text":{"format":"xhtml","value":"<p>x</p>"}}"#;
        let err = validate(Kind::Annotation, &raw(xhtml), Some(1)).unwrap_err();
        assert!(err.1.contains("plain"), "{}", err.1);
        let plain = r#"{"v":2,"type":"pspdfkit/text","pageIndex":0,"bbox":[1,2,3,4],"text":{"format":"plain","value":"x"}}"#;
        validate(Kind::Annotation, &raw(plain), Some(1)).unwrap();
        let comment = r#"{"rootId":"a1","text":{"format":"xhtml","value":"<b>hi</b>"}}"#;
        assert!(validate(Kind::Comment, &raw(comment), None).is_err());
    }

    #[test]
    fn comment_length_is_counted_in_characters() {
        let at_limit = format!(
            r#"{{"rootId":"a1","text":"{}"}}"#,
            "é".repeat(MAX_COMMENT_CHARS)
        );
        validate(Kind::Comment, &raw(&at_limit), None).unwrap();
        let over = format!(
            r#"{{"rootId":"a1","text":"{}"}}"#,
            "é".repeat(MAX_COMMENT_CHARS + 1)
        );
        assert_eq!(
            validate(Kind::Comment, &raw(&over), None).unwrap_err().0,
            RejectCode::TooLarge
        );
    }

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn a_valid_ink_annotation_passes() {
        let ink = r#"{"v":2,"type":"pspdfkit/ink","pageIndex":1,"bbox":[1,2,3,4],
            "lines":{"points":[[[1,2],[3,4]]],"intensities":[[1,1]]},"customData":{"x":1}}"#;
        validate(Kind::Annotation, &raw(ink), Some(2)).unwrap();
    }

    #[test]
    fn bad_annotations_are_refused_with_a_reason() {
        let cases = [
            (
                r#"{"v":2,"type":"pspdfkit/ink","pageIndex":2,"bbox":[1,2,3,4],"lines":{"points":[[[1,2]]]}}"#,
                "outside",
            ),
            (
                r#"{"v":2,"type":"pspdfkit/ink","pageIndex":0,"bbox":[1,2,3],"lines":{"points":[[[1,2]]]}}"#,
                "bbox",
            ),
            (
                r#"{"v":2,"type":"pspdfkit/ink","pageIndex":0,"bbox":[1,2,3,4]}"#,
                "lines",
            ),
            (
                r#"{"v":2,"type":"pspdfkit/markup/highlight","pageIndex":0,"bbox":[1,2,3,4],"rects":[]}"#,
                "rects",
            ),
            (
                r#"{"v":2,"type":"pspdfkit/widget","pageIndex":0,"bbox":[1,2,3,4]}"#,
                "unsupported",
            ),
            (
                r#"{"type":"pspdfkit/note","pageIndex":0,"bbox":[1,2,3,4]}"#,
                "`v`",
            ),
            (r#"[1,2]"#, "object"),
        ];
        for (content, needle) in cases {
            let err = validate(Kind::Annotation, &raw(content), Some(2)).unwrap_err();
            assert!(err.1.contains(needle), "{content}: {}", err.1);
        }
    }

    #[test]
    fn comments_need_a_root_and_text() {
        let ok = validate(
            Kind::Comment,
            &raw(r#"{"rootId":"a1","text":{"format":"plain","value":"hi"}}"#),
            None,
        )
        .unwrap();
        assert_eq!(ok.root_id.as_deref(), Some("a1"));
        assert!(validate(Kind::Comment, &raw(r#"{"text":"hi"}"#), None).is_err());
        assert!(validate(Kind::Comment, &raw(r#"{"rootId":"a1","text":"  "}"#), None).is_err());
    }

    #[test]
    fn oversized_content_is_too_large() {
        let big = format!(
            r#"{{"name":"f","value":"{}"}}"#,
            "x".repeat(MAX_RECORD_BYTES)
        );
        assert_eq!(
            validate(Kind::FormField, &raw(&big), None).unwrap_err().0,
            RejectCode::TooLarge
        );
    }
}
