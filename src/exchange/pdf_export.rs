//! PDF export: the original PDF plus an incremental update (ISO 32000-1, 7.5.6) holding a
//! layer's annotations as standard annotation objects with appearance streams, comments as
//! replies (`/IRT`), and form values filled — or, with `flatten`, the appearances drawn into the
//! page content instead of added as annotations.
//!
//! The original bytes are copied unchanged at the start of the output (the stored blob is never
//! touched); only new and changed objects follow. This runs in the sandboxed child process
//! (`quire export-pdf`), with the same memory and time bounds as upload parsing, because it has
//! to parse the PDF.

use std::collections::{BTreeMap, HashMap};

use lopdf::{dictionary, Dictionary, IncrementalDocument, Object, ObjectId, Stream};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::geometry::read_pages;
use super::pdf_annots::{build, common, rect_object, text_of, text_string};
use crate::pdf::{classify as classify_load_error, Error};

/// Most annotations and comments one export writes (more is refused as too costly).
pub const MAX_EXPORT_ANNOTATIONS: usize = 100_000;
/// Deepest form-field tree walked, and most fields visited.
const MAX_FIELD_DEPTH: usize = 32;
const MAX_FIELDS: usize = 20_000;

/// What an export wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub annotations: usize,
    pub comments: usize,
    pub form_fields: usize,
    /// Records that could not be written (type without a PDF counterpart, page out of range,
    /// a comment whose annotation is not in the layer, a form value for a field the PDF lacks).
    pub skipped: usize,
}

/// Writes the Instant JSON document `doc` (as [`super::instant_json::export`] makes it) into
/// `original`. `max_stream_bytes` bounds decompression while the original is parsed.
pub fn export(
    original: &[u8],
    doc: &Value,
    flatten: bool,
    max_stream_bytes: usize,
) -> Result<(Vec<u8>, Summary), Error> {
    let options = lopdf::LoadOptions::with_max_decompressed_size(max_stream_bytes);
    let parsed =
        std::panic::catch_unwind(|| lopdf::Document::load_mem_with_options(original, options))
            .map_err(|_| Error::Damaged("the parser could not make sense of it".into()))?
            .map_err(|e| classify_load_error(e, max_stream_bytes))?;
    if parsed.is_encrypted() {
        return Err(Error::Encrypted);
    }
    let items = |k: &str| doc.get(k).and_then(Value::as_array).map_or(0, Vec::len);
    if items("annotations") + items("comments") > MAX_EXPORT_ANNOTATIONS {
        return Err(Error::TooCostly(format!(
            "more than {MAX_EXPORT_ANNOTATIONS} annotations and comments"
        )));
    }
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        write(original, parsed, doc, flatten)
    }))
    .map_err(|_| Error::Damaged("its structure could not be updated".into()))?
}

fn write(
    original: &[u8],
    parsed: lopdf::Document,
    doc: &Value,
    flatten: bool,
) -> Result<(Vec<u8>, Summary), Error> {
    let geometry = read_pages(&parsed);
    let page_ids: Vec<ObjectId> = parsed.get_pages().values().copied().collect();
    let mut inc = IncrementalDocument::create_from(original.to_vec(), parsed);
    let mut summary = Summary::default();
    // Per page: the new annotation objects (or, flattened, their appearance streams).
    let mut per_page: BTreeMap<usize, Vec<ObjectId>> = BTreeMap::new();
    // Per annotation id: its object, page and rectangle (for replies).
    let mut written: HashMap<String, (ObjectId, usize, [f64; 4])> = HashMap::new();

    for item in array(doc, "annotations") {
        let Some(obj) = item.as_object() else {
            summary.skipped += 1;
            continue;
        };
        let built = obj
            .get("pageIndex")
            .and_then(Value::as_u64)
            .and_then(|p| usize::try_from(p).ok())
            .and_then(|p| Some((p, geometry.get(p)?, page_ids.get(p)?)))
            .and_then(|(p, g, page_id)| Some((p, build(obj, g, *page_id)?)));
        let Some((page, built)) = built else {
            summary.skipped += 1;
            continue;
        };
        let ap = inc.new_document.add_object(built.appearance);
        summary.annotations += 1;
        if flatten {
            per_page.entry(page).or_default().push(ap);
            continue;
        }
        let mut dict = built.dict;
        dict.set("AP", dictionary! { "N" => ap });
        let id = inc.new_document.add_object(dict);
        if let Some(nm) = obj.get("id").and_then(Value::as_str) {
            written.insert(nm.to_string(), (id, page, built.rect));
        }
        per_page.entry(page).or_default().push(id);
    }

    if !flatten {
        for item in array(doc, "comments") {
            let Some(obj) = item.as_object() else {
                summary.skipped += 1;
                continue;
            };
            let root = obj.get("rootId").and_then(Value::as_str).unwrap_or("");
            let Some(&(root_id, page, rect)) = written.get(root) else {
                summary.skipped += 1;
                continue;
            };
            let mut dict = dictionary! {
                "Type" => "Annot",
                "Subtype" => "Text",
                "Rect" => rect_object(rect),
                "IRT" => root_id,
                "P" => page_ids[page],
                "F" => 4,
                "Contents" => text_string(&text_of(obj.get("text")).unwrap_or_default()),
            };
            common(obj, &mut dict);
            // Replies are read in a viewer's comment list; on the page they draw nothing.
            let empty = Stream::new(
                dictionary! {"Type" => "XObject", "Subtype" => "Form", "BBox" => rect_object(rect)},
                Vec::new(),
            );
            dict.set(
                "AP",
                dictionary! { "N" => inc.new_document.add_object(empty) },
            );
            per_page
                .entry(page)
                .or_default()
                .push(inc.new_document.add_object(dict));
            summary.comments += 1;
        }
    } else {
        summary.skipped += array(doc, "comments").len();
    }

    for (page, objects) in per_page {
        let page_id = page_ids[page];
        if flatten {
            flatten_into(&mut inc, page_id, &objects)?;
        } else {
            append_annots(&mut inc, page_id, &objects)?;
        }
    }
    let (filled, missing) = fill_fields(&mut inc, array(doc, "formFieldValues"))?;
    summary.form_fields = filled;
    summary.skipped += missing;

    let mut out = Vec::with_capacity(original.len() + 4096);
    inc.save_to(&mut out)
        .map_err(|e| Error::Damaged(format!("writing the update: {e}")))?;
    Ok((out, summary))
}

fn array<'a>(doc: &'a Value, key: &str) -> &'a [Value] {
    doc.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn lerr(e: lopdf::Error) -> Error {
    Error::Damaged(e.to_string())
}

/// Adds `objects` to the page's `/Annots` (creating it, or extending the array in place or
/// where its reference points).
fn append_annots(
    inc: &mut IncrementalDocument,
    page_id: ObjectId,
    objects: &[ObjectId],
) -> Result<(), Error> {
    inc.opt_clone_object_to_new_document(page_id)
        .map_err(lerr)?;
    let refs = objects.iter().map(|&id| Object::Reference(id));
    let existing = inc
        .new_document
        .get_dictionary(page_id)
        .map_err(lerr)?
        .get(b"Annots")
        .ok()
        .cloned();
    match existing {
        Some(Object::Reference(arr_id)) => {
            inc.opt_clone_object_to_new_document(arr_id).map_err(lerr)?;
            let arr = inc
                .new_document
                .get_object_mut(arr_id)
                .and_then(Object::as_array_mut)
                .map_err(lerr)?;
            arr.extend(refs);
        }
        Some(Object::Array(mut arr)) => {
            arr.extend(refs);
            let page = inc.new_document.get_dictionary_mut(page_id).map_err(lerr)?;
            page.set("Annots", arr);
        }
        _ => {
            let page = inc.new_document.get_dictionary_mut(page_id).map_err(lerr)?;
            page.set("Annots", refs.collect::<Vec<_>>());
        }
    }
    Ok(())
}

/// Draws the appearance streams into the page: its content becomes `q`, the original content,
/// `Q`, then one `Do` per appearance (so nothing the original leaves in the graphics state
/// shifts them).
fn flatten_into(
    inc: &mut IncrementalDocument,
    page_id: ObjectId,
    appearances: &[ObjectId],
) -> Result<(), Error> {
    let mut draw = String::new();
    for (i, &ap) in appearances.iter().enumerate() {
        let name = format!("QuireAnnot{i}");
        inc.add_xobject(page_id, name.as_bytes(), ap)
            .map_err(lerr)?;
        draw.push_str(&format!("q /{name} Do Q\n"));
    }
    let open = inc
        .new_document
        .add_object(Stream::new(Dictionary::new(), b"q\n".to_vec()));
    let close = inc
        .new_document
        .add_object(Stream::new(Dictionary::new(), b"\nQ\n".to_vec()));
    let ours = inc
        .new_document
        .add_object(Stream::new(Dictionary::new(), draw.into_bytes()));
    inc.opt_clone_object_to_new_document(page_id)
        .map_err(lerr)?;
    let page = inc.new_document.get_dictionary_mut(page_id).map_err(lerr)?;
    let mut contents = vec![Object::Reference(open)];
    match page.get(b"Contents").ok().cloned() {
        Some(Object::Array(old)) => contents.extend(old),
        Some(old @ Object::Reference(_)) => contents.push(old),
        _ => {}
    }
    contents.push(Object::Reference(close));
    contents.push(Object::Reference(ours));
    page.set("Contents", contents);
    Ok(())
}

/// Sets the values of the PDF's form fields named in `values` and asks viewers to regenerate
/// the fields' appearances (`/NeedAppearances`). Returns how many were filled and how many
/// named a field the PDF does not have.
fn fill_fields(inc: &mut IncrementalDocument, values: &[Value]) -> Result<(usize, usize), Error> {
    if values.is_empty() {
        return Ok((0, 0));
    }
    let prev = inc.get_prev_documents();
    let root_id = prev
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(lerr)?;
    let catalog = prev.get_dictionary(root_id).map_err(lerr)?;
    let acroform = catalog.get(b"AcroForm").ok().cloned();
    let form_dict = match &acroform {
        Some(Object::Reference(id)) => prev.get_dictionary(*id).ok(),
        Some(Object::Dictionary(d)) => Some(d),
        _ => None,
    };
    let mut fields: HashMap<String, (ObjectId, bool)> = HashMap::new();
    if let Some(Ok(Object::Array(kids))) = form_dict.map(|d| d.get(b"Fields")) {
        let mut budget = MAX_FIELDS;
        for kid in kids {
            walk_fields(prev, kid, "", 0, &mut budget, &mut fields);
        }
    }
    let mut filled = 0;
    let mut missing = 0;
    for v in values {
        let name = v.get("name").and_then(Value::as_str).unwrap_or("");
        let Some(&(id, is_button)) = fields.get(name) else {
            missing += 1;
            continue;
        };
        let value = match v.get("value") {
            Some(Value::String(s)) if is_button => Object::Name(s.as_bytes().to_vec()),
            Some(Value::String(s)) => text_string(s),
            Some(Value::Bool(b)) => {
                Object::Name(if *b { b"Yes".to_vec() } else { b"Off".to_vec() })
            }
            Some(Value::Number(n)) => text_string(&n.to_string()),
            Some(Value::Array(items)) => Object::Array(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(text_string)
                    .collect(),
            ),
            _ => Object::Null,
        };
        inc.opt_clone_object_to_new_document(id).map_err(lerr)?;
        inc.new_document
            .get_dictionary_mut(id)
            .map_err(lerr)?
            .set("V", value);
        filled += 1;
    }
    if filled > 0 {
        match acroform {
            Some(Object::Reference(id)) => {
                inc.opt_clone_object_to_new_document(id).map_err(lerr)?;
                inc.new_document
                    .get_dictionary_mut(id)
                    .map_err(lerr)?
                    .set("NeedAppearances", true);
            }
            Some(Object::Dictionary(_)) => {
                inc.opt_clone_object_to_new_document(root_id)
                    .map_err(lerr)?;
                let catalog = inc.new_document.get_dictionary_mut(root_id).map_err(lerr)?;
                if let Ok(Object::Dictionary(form)) = catalog.get_mut(b"AcroForm") {
                    form.set("NeedAppearances", true);
                }
            }
            _ => {}
        }
    }
    Ok((filled, missing))
}

fn walk_fields(
    doc: &lopdf::Document,
    field: &Object,
    prefix: &str,
    depth: usize,
    budget: &mut usize,
    out: &mut HashMap<String, (ObjectId, bool)>,
) {
    if depth > MAX_FIELD_DEPTH || *budget == 0 {
        return;
    }
    *budget -= 1;
    let Ok(id) = field.as_reference() else {
        return;
    };
    let Ok(dict) = doc.get_dictionary(id) else {
        return;
    };
    let partial = dict
        .get(b"T")
        .ok()
        .and_then(|t| lopdf::decode_text_string(t).ok());
    let name = match (&partial, prefix.is_empty()) {
        (Some(p), true) => p.clone(),
        (Some(p), false) => format!("{prefix}.{p}"),
        (None, _) => prefix.to_string(),
    };
    if partial.is_some() {
        let is_button = matches!(dict.get(b"FT"), Ok(Object::Name(n)) if n == b"Btn");
        out.entry(name.clone()).or_insert((id, is_button));
    }
    if let Ok(Object::Array(kids)) = dict.get(b"Kids") {
        for kid in kids {
            walk_fields(doc, kid, &name, depth + 1, budget, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc() -> Value {
        json!({"annotations": [
            {"id": "a", "type": "pspdfkit/shape/ellipse", "pageIndex": 0, "bbox": [10, 10, 50, 50]},
            {"id": "b", "type": "pspdfkit/image", "pageIndex": 0, "bbox": [10, 10, 50, 50]},
            {"id": "c", "type": "pspdfkit/note", "pageIndex": 5, "bbox": [10, 10, 50, 50]},
        ], "comments": [{"id": "r", "rootId": "a", "text": "hi"}, {"id": "s", "rootId": "zz", "text": "x"}]})
    }

    #[test]
    fn annotations_are_appended_as_an_incremental_update() {
        let original = crate::pdf::sample(1, "e");
        let (bytes, summary) = export(&original, &doc(), false, 1 << 20).unwrap();
        assert_eq!(
            summary,
            Summary {
                annotations: 1,
                comments: 1,
                form_fields: 0,
                skipped: 3
            }
        );
        assert!(bytes.starts_with(&original));
        let parsed = lopdf::Document::load_mem(&bytes).unwrap();
        let page = parsed.get_pages()[&1];
        let annots = parsed.get_dictionary(page).unwrap().get(b"Annots").unwrap();
        assert_eq!(annots.as_array().unwrap().len(), 2);
    }

    #[test]
    fn flattening_adds_no_annotations_and_wraps_the_content() {
        let original = crate::pdf::sample(1, "f");
        let (bytes, summary) = export(&original, &doc(), true, 1 << 20).unwrap();
        assert_eq!(summary.annotations, 1);
        let parsed = lopdf::Document::load_mem(&bytes).unwrap();
        let page = parsed.get_dictionary(parsed.get_pages()[&1]).unwrap();
        assert!(page.get(b"Annots").is_err());
        assert_eq!(page.get(b"Contents").unwrap().as_array().unwrap().len(), 3);
    }

    #[test]
    fn damaged_originals_and_huge_layers_are_refused_cleanly() {
        assert!(export(b"%PDF-1.7 junk", &doc(), false, 1 << 20).is_err());
        let many: Vec<Value> = (0..=MAX_EXPORT_ANNOTATIONS).map(|_| json!({})).collect();
        let huge = json!({"annotations": many});
        assert!(matches!(
            export(&crate::pdf::sample(1, "h"), &huge, false, 1 << 20),
            Err(Error::TooCostly(_))
        ));
    }
}
