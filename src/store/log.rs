//! Reading the change log: a layer's changes after a `since`, and what other writers
//! committed after a head (a catch-up).

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::{raw, root_of, LoggedChange};
use crate::entities::{change, document};
use crate::records::Record;
use crate::wire::common::{Kind, Op};

/// The logged changes of one layer with `after < seq <= upto`, in order.
pub async fn read_log(
    db: &impl ConnectionTrait,
    document_id: &str,
    layer: &str,
    after: i64,
    upto: i64,
) -> Result<Vec<LoggedChange>, DbErr> {
    let rows = change::Entity::find()
        .filter(change::Column::DocumentId.eq(document_id))
        .filter(change::Column::Layer.eq(layer))
        .filter(change::Column::Seq.gt(after))
        .filter(change::Column::Seq.lte(upto))
        .order_by_asc(change::Column::Seq)
        .all(db)
        .await?;
    rows.into_iter().map(logged).collect()
}

/// One log row as a change.
fn logged(row: change::Model) -> Result<LoggedChange, DbErr> {
    let kind = Kind::parse(&row.kind)
        .ok_or_else(|| DbErr::Custom(format!("unknown kind {}", row.kind)))?;
    let op = match row.op.as_str() {
        "create" => Op::Create,
        "update" => Op::Update,
        "delete" => Op::Delete,
        other => return Err(DbErr::Custom(format!("unknown op {other}"))),
    };
    let content = raw(row.content.unwrap_or_else(|| "null".to_string()))?;
    Ok(LoggedChange {
        seq: row.seq,
        layer: row.layer,
        op,
        author: row.author,
        author_name: row.author_name,
        record: Record {
            root_id: root_of(kind, &content),
            id: row.record_id,
            kind,
            content,
            creator: row.creator,
            creator_name: row.creator_name,
            group: row.creator_group,
            rev: row.seq,
            created_at: row.created_at,
            updated_at: row.at,
        },
    })
}

/// What another writer committed after a head, as a catch-up reads it.
#[derive(Debug)]
pub enum Missed {
    /// The changes after the head, every layer, in order, gap-free (possibly empty); `head` is
    /// the document's head when read, which may be past the last change when `limit` cut the
    /// read short.
    Changes {
        head: i64,
        changes: Vec<LoggedChange>,
    },
    /// The log no longer holds every change after the head (pruned): only a reload can catch up.
    Gap,
    /// The document no longer exists.
    Deleted,
}

/// Reads the changes committed after `after` (at most `limit` of them).
pub async fn read_missed(
    db: &impl ConnectionTrait,
    document_id: &str,
    after: i64,
    limit: u64,
) -> Result<Missed, DbErr> {
    read_missed_locking(db, document_id, after, limit, false).await
}

/// As [`read_missed`]; with `lock`, the document's sequence row is read `FOR UPDATE`, so that
/// (inside a transaction) no other writer can commit to the document until it ends.
pub(super) async fn read_missed_locking(
    db: &impl ConnectionTrait,
    document_id: &str,
    after: i64,
    limit: u64,
    lock: bool,
) -> Result<Missed, DbErr> {
    let mut select = document::Entity::find_by_id(document_id.to_string())
        .select_only()
        .column(document::Column::HeadSeq);
    if lock {
        select = select.lock_exclusive();
    }
    let head: Option<i64> = select.into_tuple().one(db).await?;
    let Some(head) = head else {
        return Ok(Missed::Deleted);
    };
    if head <= after {
        return Ok(Missed::Changes {
            head,
            changes: Vec::new(),
        });
    }
    let rows = change::Entity::find()
        .filter(change::Column::DocumentId.eq(document_id))
        .filter(change::Column::Seq.gt(after))
        .filter(change::Column::Seq.lte(head))
        .order_by_asc(change::Column::Seq)
        .limit(limit)
        .all(db)
        .await?;
    let changes: Vec<LoggedChange> = rows.into_iter().map(logged).collect::<Result<_, _>>()?;
    let gap_free = changes
        .iter()
        .enumerate()
        .all(|(i, c)| c.seq == after + 1 + i as i64);
    if changes.is_empty() || !gap_free {
        return Ok(Missed::Gap);
    }
    Ok(Missed::Changes { head, changes })
}
