//! Audit snapshots: the records of one layer as of a sequence number, stored as JSON in
//! `audit_snapshots`. An `at_seq` read starts from the newest snapshot at or below the asked
//! number and replays only the audit rows after it, so its cost is bounded by the snapshot
//! interval (`--audit-snapshot-every`) rather than by the document's age. Snapshots are taken by
//! the maintenance task ([`super::maintenance`]), never on the commit path. A *base* snapshot
//! is the one the audit retention took before deleting the rows up to it: reads below it are
//! refused ([`super::ReplayError::Pruned`]).

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::entities::audit_event;
use crate::entities::audit_snapshot::{self, Column, Entity};
use crate::records::Record;
use crate::time_util::now_micros;
use crate::wire::common::Kind;

/// One record as a snapshot stores it.
#[derive(Serialize, Deserialize)]
struct Stored {
    id: String,
    kind: String,
    content: Box<RawValue>,
    creator: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    creator_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    rev: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<&Record> for Stored {
    fn from(r: &Record) -> Stored {
        Stored {
            id: r.id.clone(),
            kind: r.kind.as_str().to_string(),
            content: r.content.clone(),
            creator: r.creator.clone(),
            creator_name: r.creator_name.clone(),
            group: r.group.clone(),
            rev: r.rev,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl Stored {
    fn into_record(self) -> Option<Record> {
        Some(Record {
            id: self.id,
            kind: Kind::parse(&self.kind)?,
            content: self.content,
            creator: self.creator,
            creator_name: self.creator_name,
            group: self.group,
            rev: self.rev,
            created_at: self.created_at,
            updated_at: self.updated_at,
            root_id: None,
        })
    }
}

/// Where a replay starts: a snapshot's records and sequence number, or an empty layer at 0.
pub struct Start {
    pub seq: i64,
    pub records: Vec<Record>,
}

impl Start {
    pub fn empty() -> Start {
        Start {
            seq: 0,
            records: Vec::new(),
        }
    }
}

/// Encodes records for a snapshot.
pub fn encode(records: &[Record]) -> String {
    let stored: Vec<Stored> = records.iter().map(Stored::from).collect();
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".into())
}

/// Decodes a snapshot's records. The column is written by this server only; a value that does
/// not parse is an error rather than an empty layer, so a read never answers wrongly.
pub fn decode(text: &str) -> Result<Vec<Record>, DbErr> {
    let stored: Vec<Stored> = serde_json::from_str(text)
        .map_err(|e| DbErr::Custom(format!("an audit snapshot does not parse: {e}")))?;
    Ok(stored.into_iter().filter_map(Stored::into_record).collect())
}

fn of_layer(document_id: &str, since: i64, layer: &str) -> sea_orm::Select<Entity> {
    Entity::find()
        .filter(Column::DocumentId.eq(document_id))
        .filter(Column::DocumentCreatedAt.eq(since))
        .filter(Column::Layer.eq(layer))
}

/// The newest snapshot of the layer at or below `at_seq`, decoded.
pub async fn newest_at_or_below(
    db: &impl ConnectionTrait,
    document_id: &str,
    since: i64,
    layer: &str,
    at_seq: i64,
) -> Result<Option<Start>, DbErr> {
    let Some(row) = of_layer(document_id, since, layer)
        .filter(Column::Seq.lte(at_seq))
        .order_by_desc(Column::Seq)
        .limit(1)
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Start {
        seq: row.seq,
        records: decode(&row.records)?,
    }))
}

/// The layer's base snapshot (the retention pruned every row up to it), if any.
pub async fn base(
    db: &impl ConnectionTrait,
    document_id: &str,
    since: i64,
    layer: &str,
) -> Result<Option<audit_snapshot::Model>, DbErr> {
    of_layer(document_id, since, layer)
        .filter(Column::Base.eq(true))
        .order_by_desc(Column::Seq)
        .limit(1)
        .one(db)
        .await
}

/// The sequence number of the layer's newest snapshot (0 without one).
pub async fn newest_seq(
    db: &impl ConnectionTrait,
    document_id: &str,
    since: i64,
    layer: &str,
) -> Result<i64, DbErr> {
    Ok(of_layer(document_id, since, layer)
        .select_only()
        .column(Column::Seq)
        .order_by_desc(Column::Seq)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await?
        .unwrap_or(0))
}

/// A snapshot built and not yet stored (see [`build`], [`Built::store`]).
pub struct Built {
    document_id: String,
    since: i64,
    layer: String,
    seq: i64,
    records: String,
    count: usize,
}

/// Builds a snapshot of the layer at `seq`, replayed from the newest earlier snapshot: reads
/// only, so the write that stores it can open its own transaction.
pub async fn build(
    db: &impl ConnectionTrait,
    document_id: &str,
    since: i64,
    layer: &str,
    seq: i64,
) -> Result<Built, super::ReplayError> {
    let records = super::replay(db, document_id, since, layer, seq).await?;
    Ok(Built {
        document_id: document_id.to_string(),
        since,
        layer: layer.to_string(),
        seq,
        records: encode(&records),
        count: records.len(),
    })
}

impl Built {
    /// Stores the snapshot; `base` marks it as the retention's starting point.
    pub async fn store(self, db: &impl ConnectionTrait, base: bool) -> Result<(), DbErr> {
        Entity::insert(audit_snapshot::ActiveModel {
            id: NotSet,
            document_id: Set(self.document_id.clone()),
            document_created_at: Set(self.since),
            layer: Set(self.layer.clone()),
            seq: Set(self.seq),
            base: Set(base),
            records: Set(self.records),
            taken_at: Set(now_micros()),
        })
        .exec(db)
        .await?;
        tracing::info!(
            document_id = self.document_id,
            layer = self.layer,
            seq = self.seq,
            base,
            records = self.count,
            "audit snapshot taken"
        );
        Ok(())
    }
}

/// The sequence number of the `n`-th record change of the layer after its newest snapshot, if
/// there are that many.
pub async fn nth_seq_since_newest(
    db: &impl ConnectionTrait,
    document_id: &str,
    since: i64,
    layer: &str,
    n: u64,
) -> Result<Option<i64>, DbErr> {
    use audit_event::Column as A;
    let from = newest_seq(db, document_id, since, layer).await?;
    audit_event::Entity::find()
        .select_only()
        .column(A::Seq)
        .filter(A::DocumentId.eq(document_id))
        .filter(A::Layer.eq(layer))
        .filter(A::At.gte(since))
        .filter(A::Seq.gt(from))
        .order_by_asc(A::Seq)
        .offset(n.saturating_sub(1))
        .limit(1)
        .into_tuple::<Option<i64>>()
        .one(db)
        .await
        .map(Option::flatten)
}

/// How many record changes the layer has after its newest snapshot.
pub async fn rows_since_newest(
    db: &impl ConnectionTrait,
    document_id: &str,
    since: i64,
    layer: &str,
) -> Result<u64, DbErr> {
    use audit_event::Column as A;
    let from = newest_seq(db, document_id, since, layer).await?;
    let count = audit_event::Entity::find()
        .filter(A::DocumentId.eq(document_id))
        .filter(A::Layer.eq(layer))
        .filter(A::At.gte(since))
        .filter(A::Seq.gt(from))
        .count(db)
        .await?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_a_round_trip() {
        let record = Record {
            id: "a".into(),
            kind: Kind::parse("annotation").unwrap(),
            content: RawValue::from_string(r#"{"v":1}"#.into()).unwrap(),
            creator: "alice".into(),
            creator_name: Some("Alice".into()),
            group: None,
            rev: 7,
            created_at: 1,
            updated_at: 2,
            root_id: None,
        };
        let back = decode(&encode(std::slice::from_ref(&record))).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].id, "a");
        assert_eq!(back[0].rev, 7);
        assert_eq!(back[0].content.get(), r#"{"v":1}"#);
        assert_eq!(back[0].creator_name.as_deref(), Some("Alice"));
        assert!(decode("{not json").is_err());
    }
}
