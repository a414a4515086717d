//! A stored snapshot reads back as the records it was taken of, field for field, and its lists
//! byte for byte as they would be built again; anything else is an error, never a panic.

use proptest::prelude::*;

use super::*;
use crate::actors::state::{DocLimits, DocState};

fn record(id: &str, kind: Kind, content: &str, rev: i64) -> Record {
    let content = RawValue::from_string(content.to_string()).unwrap();
    Record {
        root_id: crate::store::root_of(kind, &content),
        id: id.into(),
        kind,
        content,
        creator: format!("user \"{id}\" ✓"),
        creator_name: (rev % 2 == 0).then(|| "Zoë \\ \u{1}".to_string()),
        group: (rev % 3 == 0).then(|| "legal".to_string()),
        rev,
        created_at: 1_764_000_000_123_456 + rev,
        updated_at: 1_764_000_000_999_999 + rev * 1_000_003,
    }
}

/// Two layers; a comment thread; content with escapes, unicode and odd spacing.
fn layers() -> HashMap<String, HashMap<String, Record>> {
    let main = [
        record("a", Kind::Annotation, r#"{"v":2, "name":"\"a\"\n é"}"#, 3),
        record("c", Kind::Comment, r#"{"rootId":"a","text":"hi 😀"}"#, 7),
        record("f", Kind::FormField, r#"{"value":[1,2.5e3,null]}"#, 4),
        record("b", Kind::Bookmark, "{}", 12),
    ];
    let other = [record("a", Kind::Annotation, r#"{"x":1}"#, 9)];
    HashMap::from([
        (
            "".to_string(),
            main.into_iter().map(|r| (r.id.clone(), r)).collect(),
        ),
        (
            "review ✍".to_string(),
            other.into_iter().map(|r| (r.id.clone(), r)).collect(),
        ),
    ])
}

fn fields(r: &Record) -> String {
    format!(
        "{} {:?} {} {} {:?} {:?} {} {} {} {:?}",
        r.id,
        r.kind,
        r.content.get(),
        r.creator,
        r.creator_name,
        r.group,
        r.rev,
        r.created_at,
        r.updated_at,
        r.root_id
    )
}

/// What an open from a snapshot reads: its lists, then the records in them.
fn parse(text: &str) -> Result<Read, String> {
    let lists = parse_lists(text)?;
    let layers = records_of(&lists)?;
    Ok(Read { layers, lists })
}

struct Read {
    layers: Layers,
    lists: Lists,
}

fn state(layers: HashMap<String, HashMap<String, Record>>) -> DocState {
    DocState::new(12, 0, Some(3), layers, DocLimits::default())
}

#[test]
fn a_snapshot_reads_back_as_the_records_it_was_taken_of() {
    let text = state(layers()).snapshot_text();
    let read = parse(&text).unwrap();
    let expected = layers();
    assert_eq!(read.layers.len(), expected.len());
    for (layer, records) in &expected {
        let got = &read.layers[layer];
        assert_eq!(got.len(), records.len(), "layer {layer:?}");
        for (id, r) in records {
            assert_eq!(fields(&got[id]), fields(r), "layer {layer:?}, record {id}");
        }
    }
    assert_eq!(read.layers[""]["c"].root_id.as_deref(), Some("a"));
}

#[test]
fn the_kept_lists_are_the_lists_built_again() {
    let mut fresh = state(layers());
    let read = parse(&fresh.snapshot_text()).unwrap();
    let mut loaded = state(read.layers);
    loaded.keep_lists(read.lists);
    for layer in ["", "review ✍"] {
        let kept = loaded.full_snapshot(layer).unwrap().get().to_string();
        let built = serde_json::to_string(&fresh.views(layer, |_| true)).unwrap();
        assert_eq!(kept, built, "layer {layer:?}");
        assert_eq!(fresh.full_snapshot(layer).unwrap().get(), built);
    }
    // Stored again, it is the same text.
    assert_eq!(loaded.snapshot_text(), fresh.snapshot_text());
}

#[test]
fn a_document_without_records_stores_an_empty_map() {
    let mut empty = state(HashMap::from([("gone".to_string(), HashMap::new())]));
    assert_eq!(empty.snapshot_text(), "{}");
    assert!(parse("{}").unwrap().layers.is_empty());
}

#[test]
fn a_broken_snapshot_is_an_error() {
    let good = state(layers()).snapshot_text();
    let cases = [
        ("[]", "not a map of layers"),
        (r#"{"":{}}"#, "not a record list"),
        (r#"{"":[{"id":"a"}]}"#, "not a record list"),
        (&good[..good.len() / 2], "not a map of layers"),
        (&good.replace("2025-11-24T", "yesterday "), "bad time"),
        (
            r#"{"":[{"id":"a","kind":"bookmark","content":{},"creator":"u","creator_name":null,"group":null,"rev":1,"created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z"},{"id":"a","kind":"bookmark","content":{},"creator":"u","creator_name":null,"group":null,"rev":2,"created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z"}]}"#,
            "twice",
        ),
    ];
    for (text, needle) in cases {
        let Err(e) = parse(text) else {
            panic!("{text:.60} was read");
        };
        assert!(e.contains(needle), "{e} (wanted {needle})");
    }
}

#[test]
fn a_packed_snapshot_unpacks_to_its_text_and_broken_bytes_are_errors() {
    let text = state(layers()).snapshot_text();
    let packed = pack(&text);
    assert!(packed.len() < text.len());
    assert_eq!(unpack(&packed).unwrap(), text);
    let mut huge = packed.clone();
    huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut inflated = packed.clone();
    inflated[..4].copy_from_slice(&((packed.len() * 256) as u32).to_le_bytes());
    let cases: [(&[u8], &str); 5] = [
        (&[], "shorter than its length"),
        (&[1, 0], "shorter than its length"),
        (&huge, "past the most read back"),
        (&inflated, "more than its bytes can hold"),
        (&packed[..packed.len() / 2], "not LZ4"),
    ];
    for (bytes, needle) in cases {
        let e = unpack(bytes).unwrap_err();
        assert!(e.contains(needle), "{e} (wanted {needle})");
    }
    let not_utf8 = lz4_flex::block::compress_prepend_size(&[0xff, 0xfe]);
    assert!(unpack(&not_utf8).unwrap_err().contains("not UTF-8"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever is stored, reading it never panics.
    #[test]
    fn any_text_is_read_or_refused(text in ".{0,300}") {
        let _ = parse(&text);
    }

    /// Whatever bytes are stored, unpacking them never panics nor allocates past the bound.
    #[test]
    fn any_bytes_are_unpacked_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = unpack(&bytes);
        let mut packed = pack(&state(layers()).snapshot_text());
        let at = bytes.len() % packed.len();
        packed[at] ^= bytes.first().copied().unwrap_or(1);
        let _ = unpack(&packed);
    }

    /// A snapshot cut anywhere, or with any byte changed, is read or refused, never a panic.
    #[test]
    fn a_damaged_snapshot_is_read_or_refused(cut in 0usize..2000, at in 0usize..2000, byte in any::<u8>()) {
        let good = state(layers()).snapshot_text();
        let _ = parse(&good[..good.floor_char_boundary(cut.min(good.len()))]);
        let mut bytes = good.into_bytes();
        let at = at % bytes.len();
        bytes[at] = byte;
        if let Ok(text) = String::from_utf8(bytes) {
            let _ = parse(&text);
        }
    }
}
