//! Stored snapshots: a large document's records at one head, kept in one row.
//!
//! Opening a document reads every record row, builds the records and, for the first welcome,
//! serialises them all again: for 10,000 annotations about two thirds of a cold open. After a
//! restart or a deploy every client reconnects to the documents it had open, so the document
//! actor stores, when it closes (idle, or the server shutting down), every layer's record list
//! exactly as a welcome sends it, with the head it was taken at. The next open at that head
//! reads the one row, builds the records from it, and keeps the lists to send as they are.
//!
//! A snapshot is an optimisation and never the truth: it is used only while the document's
//! head is still the one it was taken at (any change, on any node, moves the head), and one
//! that cannot be read is ignored for the records' own rows. A later head replaces an earlier
//! one; deleting the document deletes its snapshot.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Set};
use serde_json::value::RawValue;

use crate::entities::document_snapshot;
use crate::records::Record;
use crate::wire::common::Kind;

/// A record as a snapshot's list holds it: the fields of `wire::common::RecordView`, read back.
/// `snapshot_tests` checks that what [`render`] wrote [`parse_lists`] and [`records_of`] read
/// back as it was.
#[derive(serde::Deserialize)]
struct Listed<'a> {
    id: String,
    kind: Kind,
    #[serde(borrow)]
    content: &'a RawValue,
    creator: String,
    creator_name: Option<String>,
    group: Option<String>,
    rev: i64,
    #[serde(borrow)]
    created_at: Cow<'a, str>,
    #[serde(borrow)]
    updated_at: Cow<'a, str>,
}

/// Every layer's record list, by layer: what a snapshot stores, and what a document keeps to
/// send to sessions that see every record.
pub type Lists = HashMap<String, Box<RawValue>>;

/// Records per layer, per id.
pub type Layers = HashMap<String, HashMap<String, Record>>;

/// The layout of a stored snapshot: 1 is the text below, compressed as one LZ4 block with its
/// length in front ([`pack`]). A row of another format is passed over.
pub const FORMAT: i32 = 1;

/// The longest snapshot text read back: a document at its limits (100,000 records, 64 MiB of
/// content for a stored snapshot) is well under it. A stored length past it is refused before
/// anything is allocated for it.
pub const MAX_TEXT_BYTES: usize = 512 * 1024 * 1024;

/// A snapshot's text as stored: compressed (records' JSON repeats its keys and values, so the
/// row is about a sixth of the text, and a cold open reads that much less).
pub fn pack(text: &str) -> Vec<u8> {
    lz4_flex::block::compress_prepend_size(text.as_bytes())
}

/// A stored snapshot's text; an error says what was wrong with the bytes.
pub fn unpack(bytes: &[u8]) -> Result<String, String> {
    let Some(len) = bytes
        .first_chunk::<4>()
        .map(|l| u32::from_le_bytes(*l) as usize)
    else {
        return Err("shorter than its length".into());
    };
    if len > MAX_TEXT_BYTES {
        return Err(format!(
            "its length, {len} bytes, is past the most read back"
        ));
    }
    // An LZ4 block grows by at most 255 times: a stated length past that is not what was
    // compressed, and nothing is allocated for it.
    if len > bytes.len().saturating_mul(255) {
        return Err(format!(
            "its length, {len} bytes, is more than its bytes can hold"
        ));
    }
    let text =
        lz4_flex::block::decompress_size_prepended(bytes).map_err(|e| format!("not LZ4: {e}"))?;
    String::from_utf8(text).map_err(|e| format!("not UTF-8: {e}"))
}

/// The stored text of a snapshot: a JSON object from layer name to that layer's record list.
pub fn render<'a>(lists: impl IntoIterator<Item = (&'a str, &'a RawValue)>) -> String {
    let lists: BTreeMap<&str, &RawValue> = lists.into_iter().collect();
    serde_json::to_string(&lists).expect("a map of JSON values serialises")
}

/// Reads a snapshot's text back into its layers' lists (checked as JSON, not yet as records:
/// [`records_of`] does that, while the first welcomes are sent from the lists).
pub fn parse_lists(text: &str) -> Result<Lists, String> {
    let lists: HashMap<String, &RawValue> =
        serde_json::from_str(text).map_err(|e| format!("not a map of layers: {e}"))?;
    Ok(lists
        .into_iter()
        .map(|(layer, list)| (layer, list.to_owned()))
        .collect())
}

/// The records the lists of a snapshot hold; an error says what was wrong with them.
pub fn records_of(lists: &Lists) -> Result<Layers, String> {
    let mut layers = HashMap::with_capacity(lists.len());
    for (layer, list) in lists {
        let listed: Vec<Listed> = serde_json::from_str(list.get())
            .map_err(|e| format!("layer `{layer}`: not a record list: {e}"))?;
        let mut records = HashMap::with_capacity(listed.len());
        for r in listed {
            let time = |t: &str| {
                crate::time_util::parse_to_micros(t)
                    .ok_or_else(|| format!("layer `{layer}`: record `{}`: bad time {t:?}", r.id))
            };
            let (created_at, updated_at) = (time(&r.created_at)?, time(&r.updated_at)?);
            let content = r.content.to_owned();
            let record = Record {
                root_id: super::root_of(r.kind, &content),
                id: r.id,
                kind: r.kind,
                content,
                creator: r.creator,
                creator_name: r.creator_name,
                group: r.group,
                rev: r.rev,
                created_at,
                updated_at,
            };
            if let Some(twice) = records.insert(record.id.clone(), record) {
                return Err(format!("layer `{layer}`: record `{}` twice", twice.id));
            }
        }
        layers.insert(layer.clone(), records);
    }
    Ok(layers)
}

/// The head of `document_id`'s stored snapshot, if it has one.
pub async fn stored_head(
    db: &impl ConnectionTrait,
    document_id: &str,
) -> Result<Option<i64>, DbErr> {
    document_snapshot::Entity::find()
        .select_only()
        .column(document_snapshot::Column::HeadSeq)
        .filter(document_snapshot::Column::DocumentId.eq(document_id))
        .into_tuple::<i64>()
        .one(db)
        .await
}

/// The bytes of `document_id`'s stored snapshot if it was taken at `head` (and is of this
/// version's [`FORMAT`]): [`unpack`] reads them.
pub async fn read_at(
    db: &impl ConnectionTrait,
    document_id: &str,
    head: i64,
) -> Result<Option<Vec<u8>>, DbErr> {
    document_snapshot::Entity::find()
        .select_only()
        .column(document_snapshot::Column::Layers)
        .filter(document_snapshot::Column::DocumentId.eq(document_id))
        .filter(document_snapshot::Column::HeadSeq.eq(head))
        .filter(document_snapshot::Column::Format.eq(FORMAT))
        .into_tuple::<Vec<u8>>()
        .one(db)
        .await
}

/// Stores `text` ([`pack`]ed) as `document_id`'s snapshot at `head`, unless one at this head
/// or a later one is stored already (another node may have closed the document after a later
/// change). Returns the bytes stored.
pub async fn write(
    db: &impl ConnectionTrait,
    document_id: &str,
    head: i64,
    text: String,
) -> Result<usize, DbErr> {
    use document_snapshot::Column;
    let packed = pack(&text);
    let stored = packed.len();
    let row = document_snapshot::ActiveModel {
        document_id: Set(document_id.to_string()),
        head_seq: Set(head),
        format: Set(FORMAT),
        layers: Set(packed),
        taken_at: Set(crate::time_util::now_micros()),
    };
    document_snapshot::Entity::insert(row)
        .on_conflict(
            OnConflict::column(Column::DocumentId)
                .update_columns([
                    Column::HeadSeq,
                    Column::Format,
                    Column::Layers,
                    Column::TakenAt,
                ])
                .action_and_where(
                    Expr::col((document_snapshot::Entity, Column::HeadSeq))
                        .lt(Expr::cust("excluded.head_seq")),
                )
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(stored)
}

/// Deletes `document_id`'s snapshot taken at `head`: its records proved unreadable.
pub async fn discard(db: &impl ConnectionTrait, document_id: &str, head: i64) -> Result<(), DbErr> {
    document_snapshot::Entity::delete_many()
        .filter(document_snapshot::Column::DocumentId.eq(document_id))
        .filter(document_snapshot::Column::HeadSeq.eq(head))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
