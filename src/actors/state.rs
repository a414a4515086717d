//! A document's records in memory and the rules that decide whether a change is accepted.
//!
//! Pure logic, no I/O: the document actor applies a batch of requests here, commits the
//! resulting log entries, and only then tells anyone.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::auth::access::{content_of, Access};
use crate::auth::rights::{Action, ContentType};
use crate::protocol::{ChangeRequest, Kind, Op, RejectCode};
use crate::records::{self, Record};
use crate::store::LoggedChange;

/// A document's committed records (plus, while a commit is in flight, that batch's changes).
pub struct DocState {
    pub head_seq: i64,
    pub log_floor: i64,
    pub page_count: Option<u32>,
    pub layers: HashMap<String, HashMap<String, Record>>,
}

/// The answer to one change request.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outcome {
    Ack {
        client_id: String,
        seq: i64,
        rev: i64,
    },
    Reject {
        client_id: String,
        code: RejectCode,
        message: String,
        /// The record as it is now, when the sender may see it (stale base, already exists).
        #[serde(skip_serializing_if = "Option::is_none")]
        current: Option<Box<RawValue>>,
    },
}

struct Refused {
    code: RejectCode,
    message: String,
    current: Option<Box<RawValue>>,
}

fn refuse(code: RejectCode, message: impl Into<String>) -> Refused {
    Refused {
        code,
        message: message.into(),
        current: None,
    }
}

impl From<records::Refusal> for Refused {
    fn from((code, message): records::Refusal) -> Self {
        refuse(code, message)
    }
}

fn record_json(r: &Record) -> Box<RawValue> {
    serde_json::value::to_raw_value(&r.view()).expect("records serialise")
}

impl DocState {
    /// Applies one request on behalf of `access` in `layer`, appending the resulting log entries
    /// (one, or more when deleting an annotation also deletes its comment thread) to `log`.
    /// `next_seq` is the sequence number of the first entry it may append.
    pub fn apply(
        &mut self,
        access: &Access,
        layer: &str,
        req: ChangeRequest,
        next_seq: i64,
        now: i64,
        log: &mut Vec<LoggedChange>,
    ) -> Outcome {
        let client_id = req.client_id.clone();
        match self.try_apply(access, layer, req, next_seq, now, log) {
            Ok(seq) => Outcome::Ack {
                client_id,
                seq,
                rev: seq,
            },
            Err(r) => Outcome::Reject {
                client_id,
                code: r.code,
                message: r.message,
                current: r.current,
            },
        }
    }

    fn try_apply(
        &mut self,
        access: &Access,
        layer: &str,
        req: ChangeRequest,
        seq: i64,
        now: i64,
        log: &mut Vec<LoggedChange>,
    ) -> Result<i64, Refused> {
        if req.client_id.is_empty() || req.client_id.len() > 128 {
            return Err(refuse(
                RejectCode::Invalid,
                "`client_id` must be 1 to 128 characters",
            ));
        }
        records::validate_id(&req.id)?;
        if !access.write {
            return Err(refuse(
                RejectCode::NotPermitted,
                "this session has no `write` permission",
            ));
        }
        let page_count = self.page_count;
        let records = self.layers.entry(layer.to_string()).or_default();
        let entry = |op: Op, record: Record| LoggedChange {
            seq: record.rev,
            layer: layer.to_string(),
            op,
            author: access.user_id.clone(),
            author_name: access.user_name.clone(),
            record,
        };

        if req.op == Op::Create {
            let kind = req
                .kind
                .ok_or_else(|| refuse(RejectCode::Invalid, "a create needs `kind`"))?;
            let content = req
                .content
                .ok_or_else(|| refuse(RejectCode::Invalid, "a create needs `content`"))?;
            if let Some(existing) = records.get(&req.id) {
                let visible =
                    access.can_view(existing.kind, &existing.creator, existing.group.as_deref());
                return Err(Refused {
                    code: RejectCode::AlreadyExists,
                    message: format!("a record with id `{}` exists", req.id),
                    current: visible.then(|| record_json(existing)),
                });
            }
            let checked = records::validate(kind, &content, page_count)?;
            let allowed = match kind {
                Kind::Comment => {
                    let root_id = checked.root_id.as_deref().unwrap_or_default();
                    let root = records
                        .get(root_id)
                        .filter(|r| r.kind == Kind::Annotation)
                        .filter(|r| access.can_view(r.kind, &r.creator, r.group.as_deref()))
                        .ok_or_else(|| {
                            refuse(
                                RejectCode::Invalid,
                                format!("`rootId` `{root_id}` is not an annotation in this layer"),
                            )
                        })?;
                    access.allows(
                        ContentType::Comments,
                        Action::Reply,
                        &root.creator,
                        root.group.as_deref(),
                    )
                }
                Kind::FormField => {
                    access.allows_any(ContentType::FormFields, Action::Fill)
                        || access.allows_any(ContentType::FormFields, Action::Edit)
                }
                Kind::Annotation | Kind::Bookmark => {
                    access.allows_any(ContentType::Annotations, Action::Edit)
                }
            };
            if !allowed {
                return Err(refuse(
                    RejectCode::NotPermitted,
                    format!("this session may not create {} records", kind.as_str()),
                ));
            }
            let record = Record {
                id: req.id.clone(),
                kind,
                content,
                creator: access.user_id.clone(),
                creator_name: access.user_name.clone(),
                group: access.group.clone(),
                rev: seq,
                created_at: now,
                updated_at: now,
                root_id: checked.root_id,
            };
            records.insert(req.id, record.clone());
            log.push(entry(Op::Create, record));
            return Ok(seq);
        }

        let existing = records
            .get(&req.id)
            .filter(|r| access.can_view(r.kind, &r.creator, r.group.as_deref()))
            .ok_or_else(|| {
                refuse(
                    RejectCode::NotFound,
                    format!("no record with id `{}`", req.id),
                )
            })?;
        if req.kind.is_some_and(|k| k != existing.kind) {
            return Err(refuse(
                RejectCode::Invalid,
                format!("record `{}` is a {}", req.id, existing.kind.as_str()),
            ));
        }
        if let Some(base) = req.base_rev {
            if base != existing.rev {
                return Err(Refused {
                    code: RejectCode::StaleBase,
                    message: format!(
                        "base revision {base} is stale; the record is at revision {}",
                        existing.rev
                    ),
                    current: Some(record_json(existing)),
                });
            }
        }
        let content_type = content_of(existing.kind);
        let (creator, group) = (existing.creator.as_str(), existing.group.as_deref());
        let allowed = match (req.op, existing.kind) {
            (Op::Delete, _) => access.allows(content_type, Action::Delete, creator, group),
            (_, Kind::FormField) => {
                access.allows(content_type, Action::Fill, creator, group)
                    || access.allows(content_type, Action::Edit, creator, group)
            }
            _ => access.allows(content_type, Action::Edit, creator, group),
        };
        if !allowed {
            return Err(refuse(
                RejectCode::NotPermitted,
                format!(
                    "this session may not {} record `{}` (created by another user)",
                    req.op.as_str(),
                    req.id
                ),
            ));
        }

        if req.op == Op::Update {
            let content = req
                .content
                .ok_or_else(|| refuse(RejectCode::Invalid, "an update needs `content`"))?;
            let checked = records::validate(existing.kind, &content, page_count)?;
            if existing.kind == Kind::Comment && checked.root_id != existing.root_id {
                return Err(refuse(
                    RejectCode::Invalid,
                    "a comment cannot move to another thread",
                ));
            }
            let mut record = existing.clone();
            record.content = content;
            record.rev = seq;
            record.updated_at = now;
            records.insert(req.id, record.clone());
            log.push(entry(Op::Update, record));
            return Ok(seq);
        }

        // Delete; deleting an annotation deletes its comment thread with it.
        let mut removed = records.remove(&req.id).expect("checked above");
        let cascade = if removed.kind == Kind::Annotation {
            let mut thread: Vec<String> = records
                .values()
                .filter(|r| r.root_id.as_deref() == Some(req.id.as_str()))
                .map(|r| r.id.clone())
                .collect();
            thread.sort();
            thread
        } else {
            Vec::new()
        };
        removed.rev = seq;
        removed.updated_at = now;
        log.push(entry(Op::Delete, removed));
        for (i, id) in cascade.into_iter().enumerate() {
            let mut comment = records.remove(&id).expect("found above");
            comment.rev = seq + 1 + i as i64;
            comment.updated_at = now;
            log.push(entry(Op::Delete, comment));
        }
        Ok(seq)
    }
}
