use proptest::prelude::*;
use serde_json::value::RawValue;

use super::*;
use crate::exchange::layers::StoredRecord;

fn pages() -> Vec<PageGeometry> {
    vec![
        PageGeometry::new(Some([0.0, 0.0, 612.0, 792.0]), None, 0),
        PageGeometry::new(Some([0.0, 0.0, 612.0, 792.0]), None, 90),
        PageGeometry::new(
            Some([0.0, 0.0, 612.0, 792.0]),
            Some([100.0, 50.0, 500.0, 700.0]),
            270,
        ),
    ]
}

/// Every supported element, with every supported attribute, on each kind of page.
fn sample(page: usize) -> String {
    let common = format!(
        r#"page="{page}" title="Ann" creationdate="D:20260102030405Z" date="D:20260103040506Z" opacity="0.5""#
    );
    format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<xfdf xmlns="http://ns.adobe.com/xfdf/" xml:space="preserve"><annots>
<highlight name="h{page}" {common} rect="110,600,200,620" color="#FFFF00" coords="110,620,200,620,110,600,200,600"><contents>hl</contents></highlight>
<underline name="u{page}" {common} rect="110,500,200,520" color="#00FF00" coords="110,520,200,520,110,500,200,500"/>
<strikeout name="s{page}" {common} rect="110,400,200,420" color="#FF0000" coords="110,420,200,420,110,400,200,400"/>
<squiggly name="q{page}" {common} rect="110,300,200,320" color="#0000FF" coords="110,320,200,320,110,300,200,300"/>
<ink name="i{page}" {common} rect="120,120,180,180" color="#2293FB" width="4"><inklist><gesture>120,120;150,170;180,180</gesture></inklist></ink>
<square name="r{page}" {common} rect="150,150,250,250" color="#112233" interior-color="#445566" width="2"><contents>box &amp; more</contents></square>
<circle name="c{page}" {common} rect="150,260,250,360" color="#112233" width="1.5"/>
<line name="l{page}" {common} rect="150,150,300,300" color="#112233" width="3" start="150,150" end="300,300"/>
<polygon name="p{page}" {common} rect="150,150,300,300" color="#112233" width="1"><vertices>150,150;300,150;225,300</vertices></polygon>
<polyline name="y{page}" {common} rect="150,150,300,300" color="#112233" width="1"><vertices>150,150;300,150;225,300</vertices></polyline>
<text name="n{page}" {common} rect="300,600,320,620" color="#FFCC00" icon="Comment"><contents>a note</contents></text>
<freetext name="f{page}" {common} rect="300,500,400,550" color="#000000"><contents>free</contents></freetext>
<stamp name="t{page}" {common} rect="300,300,400,350" icon="Approved"/>
<text name="reply{page}" page="{page}" rect="110,600,200,620" inreplyto="h{page}" title="Bob" creationdate="D:20260104000000Z" date="D:20260104000000Z"><contents>I agree</contents></text>
</annots><fields><field name="person"><field name="email"><value>a@b.c</value></field></field><field name="colours"><value>red</value><value>blue</value></field></fields></xfdf>"##
    )
}

/// The Instant JSON document as stored records.
fn records_of(doc: &Value) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    for (section, kind) in [
        ("annotations", Kind::Annotation),
        ("comments", Kind::Comment),
        ("formFieldValues", Kind::FormField),
    ] {
        for (i, item) in doc[section].as_array().unwrap().iter().enumerate() {
            let mut o = item.as_object().unwrap().clone();
            let id = o
                .remove("id")
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{section}{i}"));
            crate::records::validate(
                kind,
                &RawValue::from_string(Value::Object(o.clone()).to_string()).unwrap(),
                Some(3),
            )
            .unwrap_or_else(|e| panic!("{id}: {e:?}"));
            out.push(StoredRecord {
                id,
                kind,
                content: RawValue::from_string(Value::Object(o).to_string()).unwrap(),
                creator: "u".into(),
                creator_name: None,
                group: None,
                rev: 1,
                created_at: "2026-11-26T00:00:00Z".into(),
                updated_at: "2026-11-26T00:00:00Z".into(),
            });
        }
    }
    out
}

fn close_numbers(a: &str, b: &str) -> bool {
    let (a, b) = (numbers(a, "a").unwrap(), numbers(b, "b").unwrap());
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 0.01)
}

#[test]
fn xfdf_to_quire_to_xfdf_keeps_every_supported_attribute() {
    for page in 0..3 {
        let input = sample(page);
        let doc = to_instant_json(input.as_bytes(), &pages()).unwrap();
        let (output, skipped) = export(&records_of(&doc), &pages());
        assert_eq!(skipped, Skipped::default());
        let before = xml::parse(input.as_bytes(), xml::Bounds::default()).unwrap();
        let after = xml::parse(output.as_bytes(), xml::Bounds::default()).unwrap();
        let after_annots = &after.child("annots").unwrap().children;
        for el in &before.child("annots").unwrap().children {
            let name = el.attr("name").unwrap();
            let out = after_annots
                .iter()
                .find(|a| a.attr("name") == Some(name))
                .unwrap_or_else(|| panic!("{name} missing from {output}"));
            assert_eq!(out.name, el.name, "{name}");
            for (k, v) in &el.attrs {
                let got = out
                    .attr(k)
                    .unwrap_or_else(|| panic!("{name}: no `{k}` in {output}"));
                if ["rect", "coords", "start", "end", "width", "opacity"].contains(&k.as_str()) {
                    assert!(
                        close_numbers(v, got),
                        "page {page} {name}.{k}: {v} vs {got}"
                    );
                } else {
                    assert_eq!(got, v, "{name}.{k}");
                }
            }
            for child in &el.children {
                let got = out
                    .child(&child.name)
                    .unwrap_or_else(|| panic!("{name}: no <{}>", child.name));
                match child.name.as_str() {
                    "contents" => assert_eq!(got.text, child.text),
                    "vertices" => assert!(close_numbers(&child.text, &got.text), "{name}"),
                    "inklist" => assert!(close_numbers(
                        &child.children[0].text,
                        &got.children[0].text
                    )),
                    other => panic!("unexpected <{other}>"),
                }
            }
        }
        let fields: Vec<(String, Vec<String>)> = after
            .child("fields")
            .unwrap()
            .children
            .iter()
            .map(|f| {
                (
                    f.attr("name").unwrap().to_string(),
                    f.children.iter().map(|v| v.text.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            fields,
            vec![
                ("person.email".to_string(), vec!["a@b.c".to_string()]),
                (
                    "colours".to_string(),
                    vec!["red".to_string(), "blue".to_string()]
                ),
            ]
        );
    }
}

#[test]
fn positions_convert_through_the_page_geometry() {
    let doc = to_instant_json(sample(1).as_bytes(), &pages()).unwrap();
    let square = doc["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "r1")
        .unwrap();
    // Rotated 90°: user-space x becomes displayed y, and user-space y displayed x.
    assert_eq!(square["bbox"], json!([150.0, 150.0, 100.0, 100.0]));
    assert_eq!(square["strokeColor"], "#112233");
    assert_eq!(square["fillColor"], "#445566");
    assert_eq!(square["note"], "box & more");
    assert_eq!(square["createdAt"], "2026-01-02T03:04:05Z");
    let reply = &doc["comments"][0];
    assert_eq!(reply["rootId"], "h1");
    assert_eq!(reply["text"]["value"], "I agree");
}

#[test]
fn pdf_dates_convert_to_utc_and_back() {
    assert_eq!(
        pdf_date_to_iso("D:20260102030405+01'30'").as_deref(),
        Some("2026-01-02T01:34:05Z")
    );
    assert_eq!(
        pdf_date_to_iso("D:2026").as_deref(),
        Some("2026-01-01T00:00:00Z")
    );
    assert_eq!(pdf_date_to_iso("D:20261302"), None);
    assert_eq!(pdf_date_to_iso("yesterday"), None);
    assert_eq!(
        iso_to_pdf_date("2026-01-02T03:04:05+02:00").as_deref(),
        Some("D:20260102010405Z")
    );
}

#[test]
fn unconvertible_elements_are_all_reported() {
    let input = r#"<xfdf><annots>
        <caret page="0" rect="0,0,1,1"/>
        <square page="9" rect="0,0,1,1"/>
        <square page="0" rect="0,0,1"/>
        <highlight page="0" rect="0,0,1,1" coords="1,2,3"/>
        <square page="0" rect="0,0,1,1" creationdate="soon"/>
        <square page="0" rect="0,0,1,1"/>
    </annots></xfdf>"#;
    let Err(Refused::Items(items)) = to_instant_json(input.as_bytes(), &pages()) else {
        panic!("expected a refusal");
    };
    let indexes: Vec<usize> = items.iter().map(|i| i.index).collect();
    assert_eq!(indexes, [0, 1, 2, 3, 4]);
    assert!(items[0].message.contains("unsupported"));
    assert!(items[1].message.contains("outside"));
    for bad in ["<notxfdf/>", "<xfdf", "<!DOCTYPE x><xfdf/>"] {
        assert!(
            matches!(
                to_instant_json(bad.as_bytes(), &pages()),
                Err(Refused::Malformed(_))
            ),
            "{bad}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Attribute values of any shape give a document or a clean refusal, never a panic.
    #[test]
    fn any_attribute_values_convert_or_are_refused_cleanly(
        element in prop::sample::select(TYPES.iter().map(|(x, _)| *x).collect::<Vec<_>>()),
        page in "[0-9-]{0,3}",
        rect in "[0-9e.,; -]{0,24}",
        extra in "[0-9e.,; -]{0,24}",
        date in "D?:?[0-9+'Z-]{0,20}",
    ) {
        let input = format!(
            r#"<xfdf><annots><{element} page="{page}" rect="{rect}" coords="{extra}" start="{extra}" end="{extra}" creationdate="{date}" opacity="{extra}" width="{extra}"><vertices>{extra}</vertices><inklist><gesture>{extra}</gesture></inklist></{element}></annots></xfdf>"#
        );
        if let Ok(doc) = to_instant_json(input.as_bytes(), &pages()) {
            // Whatever converted can be exported again.
            let _ = export(&records_of_lenient(&doc), &pages());
        }
    }
}

/// Like [`records_of`], without insisting that each item passes validation.
fn records_of_lenient(doc: &Value) -> Vec<StoredRecord> {
    doc["annotations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| StoredRecord {
            id: "x".into(),
            kind: Kind::Annotation,
            content: RawValue::from_string(item.to_string()).unwrap(),
            creator: "u".into(),
            creator_name: None,
            group: None,
            rev: 1,
            created_at: String::new(),
            updated_at: String::new(),
        })
        .collect()
}
