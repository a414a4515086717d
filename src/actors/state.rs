//! A document's records in memory and the rules that decide whether a change is accepted.
//!
//! Pure logic, no I/O: the document actor applies a batch of requests here, commits the
//! resulting log entries, and only then tells anyone.

use std::collections::HashMap;

use serde_json::value::RawValue;

use crate::auth::access::{content_of, Access};
use crate::auth::rights::{Action, ContentType};
use crate::records::{self, Record};
use crate::store::LoggedChange;
use crate::wire::client::ChangeRequest;
use crate::wire::common::{Kind, Op, RecordView, RejectCode};
use crate::wire::server::Outcome;

/// How much one document may hold. Checked on every create and update, before the database.
#[derive(Debug, Clone, Copy)]
pub struct DocLimits {
    /// Most records over all layers.
    pub max_records: usize,
    /// Most bytes of record content over all layers.
    pub max_record_bytes: usize,
}

impl Default for DocLimits {
    fn default() -> Self {
        DocLimits {
            max_records: 100_000,
            max_record_bytes: 256 * 1024 * 1024,
        }
    }
}

/// A document's committed records (plus, while a commit is in flight, that batch's changes,
/// which [`Undo`] can take back exactly).
pub struct DocState {
    pub head_seq: i64,
    pub log_floor: i64,
    pub page_count: Option<u32>,
    layers: HashMap<String, HashMap<String, Record>>,
    pub limits: DocLimits,
    /// Records over all layers, and the bytes of their content: kept in step by `apply` and
    /// `Undo::rollback` so the limits are checked in constant time.
    record_count: usize,
    record_bytes: usize,
    /// Per layer, every record of the layer serialised once as a snapshot's record list
    /// (`None`: asked for once since the layer last changed, not built); see
    /// [`DocState::keep_full_snapshot`]. An entry goes when a record of its layer changes.
    snapshots: HashMap<String, Option<Box<RawValue>>>,
}

/// What a batch changed in memory, in order, so that a batch whose commit failed can be taken
/// back exactly: each entry is a record's value before one change (`None`: it did not exist).
#[derive(Default)]
pub struct Undo {
    before: Vec<(String, String, Option<Record>)>,
}

impl Undo {
    pub fn is_empty(&self) -> bool {
        self.before.is_empty()
    }

    /// Restores every record this batch touched to what it was before the batch, newest change
    /// first.
    pub fn rollback(mut self, state: &mut DocState) {
        self.rollback_to(0, state);
    }

    /// Where the batch is now: what [`Undo::rollback_to`] goes back to.
    pub fn mark(&self) -> usize {
        self.before.len()
    }

    /// Takes back what was applied since `mark` (newest first), keeping what came before it:
    /// an all-or-nothing part of a batch that is refused as a whole.
    pub fn rollback_to(&mut self, mark: usize, state: &mut DocState) {
        while self.before.len() > mark {
            let Some((layer, id, before)) = self.before.pop() else {
                break;
            };
            state.remove(&layer, &id);
            if let Some(record) = before {
                state.insert(&layer, record);
            }
        }
    }
}

/// The same answer, a reject with `code` and `message`, for every change of a batch.
pub fn reject_all(changes: &[ChangeRequest], code: RejectCode, message: &str) -> Vec<Outcome> {
    changes
        .iter()
        .map(|c| Outcome::Reject {
            client_id: c.client_id.clone(),
            code,
            message: message.to_string(),
            current: None,
        })
        .collect()
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
    /// A document's state as loaded from the database.
    pub fn new(
        head_seq: i64,
        log_floor: i64,
        page_count: Option<u32>,
        layers: HashMap<String, HashMap<String, Record>>,
        limits: DocLimits,
    ) -> DocState {
        let records = layers.values().flat_map(HashMap::values);
        let record_count = records.clone().count();
        let record_bytes = records.map(|r| r.content.get().len()).sum();
        DocState {
            head_seq,
            log_floor,
            page_count,
            layers,
            limits,
            record_count,
            record_bytes,
            snapshots: HashMap::new(),
        }
    }

    /// The records of `layer` in snapshot order (by revision), as clients see them.
    pub fn views<'a>(
        &'a self,
        layer: &str,
        visible: impl Fn(&Record) -> bool,
    ) -> Vec<RecordView<'a>> {
        let Some(records) = self.layers.get(layer) else {
            return Vec::new();
        };
        let mut list: Vec<&Record> = records.values().filter(|r| visible(r)).collect();
        list.sort_by_key(|r| r.rev);
        list.into_iter().map(Record::view).collect()
    }

    /// Asks for every record of `layer` as a snapshot's record list (`views` of all of them),
    /// serialised once and kept until a record of the layer changes; a session that may see
    /// everything is then sent it ([`DocState::full_snapshot`]). After a restart every client
    /// reconnects to the same large documents, and serialising 10,000 records took about 5 ms
    /// of the document's thread per welcome; sent from the kept list, 0.5 ms. The list is built
    /// at the second ask since the layer last changed: the first welcome after a change
    /// (often the only one, and always the one of a cold open) is serialised once, as before,
    /// not twice. What is kept is as large as the layer's records.
    pub fn keep_full_snapshot(&mut self, layer: &str) {
        if self.layers.get(layer).is_none_or(HashMap::is_empty) {
            // Nothing to keep, and no entry for a layer only ever asked about.
            return;
        }
        match self.snapshots.get(layer) {
            None => {
                self.snapshots.insert(layer.to_string(), None);
            }
            Some(None) => {
                let list = self.full_list(layer);
                self.snapshots.insert(layer.to_string(), Some(list));
            }
            Some(Some(_)) => {}
        }
    }

    /// Every record of `layer` serialised as a snapshot's record list.
    fn full_list(&self, layer: &str) -> Box<RawValue> {
        serde_json::value::to_raw_value(&self.views(layer, |_| true)).expect("records serialise")
    }

    /// The list [`DocState::keep_full_snapshot`] keeps for `layer`, if it is built and current.
    pub fn full_snapshot(&self, layer: &str) -> Option<&RawValue> {
        self.snapshots.get(layer).and_then(Option::as_deref)
    }

    /// Keeps `lists` (every record of a layer as a snapshot's record list, as
    /// [`DocState::keep_full_snapshot`] builds it) as the layers' current lists: the lists of a
    /// stored snapshot the records were just read from (`store::snapshot`).
    pub fn keep_lists(&mut self, lists: HashMap<String, Box<RawValue>>) {
        for (layer, list) in lists {
            if self.layers.get(&layer).is_some_and(|r| !r.is_empty()) {
                self.snapshots.insert(layer, Some(list));
            }
        }
    }

    /// Every record of the document, as `store::snapshot` stores it: each layer's full list,
    /// built (and kept) where it is not kept already.
    pub fn snapshot_text(&mut self) -> String {
        let layers: Vec<String> = self
            .layers
            .iter()
            .filter(|(_, records)| !records.is_empty())
            .map(|(layer, _)| layer.clone())
            .collect();
        for layer in &layers {
            if self.full_snapshot(layer).is_none() {
                let list = self.full_list(layer);
                self.snapshots.insert(layer.clone(), Some(list));
            }
        }
        crate::store::snapshot::render(
            layers
                .iter()
                .filter_map(|l| Some((l.as_str(), self.full_snapshot(l)?))),
        )
    }

    /// Records over all layers.
    pub fn record_count(&self) -> usize {
        self.record_count
    }

    /// Bytes of record content over all layers.
    pub fn record_bytes(&self) -> usize {
        self.record_bytes
    }

    fn insert(&mut self, layer: &str, record: Record) {
        self.snapshots.remove(layer);
        self.record_count += 1;
        self.record_bytes += record.content.get().len();
        if let Some(old) = self
            .layers
            .entry(layer.to_string())
            .or_default()
            .insert(record.id.clone(), record)
        {
            self.record_count -= 1;
            self.record_bytes -= old.content.get().len();
        }
    }

    fn remove(&mut self, layer: &str, id: &str) -> Option<Record> {
        let removed = self.layers.get_mut(layer)?.remove(id)?;
        self.snapshots.remove(layer);
        self.record_count -= 1;
        self.record_bytes -= removed.content.get().len();
        Some(removed)
    }

    /// Applies a change another node committed (read back from the log during a catch-up):
    /// no validation, no limits, no undo: the database already ordered and accepted it.
    pub fn absorb(&mut self, change: &LoggedChange) {
        if change.op == Op::Delete {
            self.remove(&change.layer, &change.record.id);
        } else {
            self.insert(&change.layer, change.record.clone());
        }
        self.head_seq = self.head_seq.max(change.seq);
    }

    /// Replaces (or creates) a record, remembering its previous value in `undo`.
    fn put(&mut self, layer: &str, record: Record, undo: &mut Undo) {
        let before = self
            .layers
            .get(layer)
            .and_then(|r| r.get(&record.id))
            .cloned();
        undo.before
            .push((layer.to_string(), record.id.clone(), before));
        self.insert(layer, record);
    }

    /// Deletes a record, remembering it in `undo`.
    fn take(&mut self, layer: &str, id: &str, undo: &mut Undo) -> Option<Record> {
        let removed = self.remove(layer, id)?;
        undo.before
            .push((layer.to_string(), id.to_string(), Some(removed.clone())));
        Some(removed)
    }

    /// Refuses a change that would take the document past its limits: `added` records more and
    /// `new_bytes` of content in place of `old_bytes`.
    fn check_limits(
        &self,
        added: usize,
        old_bytes: usize,
        new_bytes: usize,
    ) -> Result<(), Refused> {
        let limits = self.limits;
        if self.record_count + added > limits.max_records {
            return Err(refuse(
                RejectCode::LimitExceeded,
                format!(
                    "the document holds {} records, the most this server allows",
                    limits.max_records
                ),
            ));
        }
        if (self.record_bytes + new_bytes).saturating_sub(old_bytes) > limits.max_record_bytes {
            return Err(refuse(
                RejectCode::LimitExceeded,
                format!(
                    "the document's records would exceed {} bytes of content, the most this server allows",
                    limits.max_record_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Applies one request on behalf of `access` in `layer`, appending the resulting log entries
    /// (one, or more when deleting an annotation also deletes its comment thread) to `log` and
    /// what it replaced to `undo`. `next_seq` is the sequence number of the first entry it may
    /// append. A refused request changes nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        access: &Access,
        layer: &str,
        req: ChangeRequest,
        next_seq: i64,
        now: i64,
        log: &mut Vec<LoggedChange>,
        undo: &mut Undo,
    ) -> Outcome {
        let client_id = req.client_id.clone();
        match self.try_apply(access, layer, req, next_seq, now, log, undo) {
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

    #[allow(clippy::too_many_arguments)]
    fn try_apply(
        &mut self,
        access: &Access,
        layer: &str,
        req: ChangeRequest,
        seq: i64,
        now: i64,
        log: &mut Vec<LoggedChange>,
        undo: &mut Undo,
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
        let entry = |op: Op, record: Record| LoggedChange {
            seq: record.rev,
            layer: layer.to_string(),
            op,
            author: access.user_id.clone(),
            author_name: access.user_name.clone(),
            record,
        };
        let existing = self.layers.get(layer).and_then(|r| r.get(&req.id));

        if req.op == Op::Create {
            let kind = req
                .kind
                .ok_or_else(|| refuse(RejectCode::Invalid, "a create needs `kind`"))?;
            let content = req
                .content
                .ok_or_else(|| refuse(RejectCode::Invalid, "a create needs `content`"))?;
            if let Some(existing) = existing {
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
                    let root = self
                        .layers
                        .get(layer)
                        .and_then(|r| r.get(root_id))
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
            self.check_limits(1, 0, content.get().len())?;
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
            self.put(layer, record.clone(), undo);
            log.push(entry(Op::Create, record));
            return Ok(seq);
        }

        let existing = existing
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
            self.check_limits(0, existing.content.get().len(), content.get().len())?;
            let mut record = existing.clone();
            record.content = content;
            record.rev = seq;
            record.updated_at = now;
            self.put(layer, record.clone(), undo);
            log.push(entry(Op::Update, record));
            return Ok(seq);
        }

        // Delete. Deleting an annotation deletes its comment thread with it, so it needs the
        // right to delete every comment in the thread (including ones this session cannot see);
        // otherwise nothing is deleted.
        let cascade = if existing.kind == Kind::Annotation {
            let thread: Vec<&Record> = self.layers[layer]
                .values()
                .filter(|r| r.root_id.as_deref() == Some(req.id.as_str()))
                .collect();
            let forbidden = thread
                .iter()
                .filter(|c| {
                    !access.can_view(c.kind, &c.creator, c.group.as_deref())
                        || !access.allows(
                            ContentType::Comments,
                            Action::Delete,
                            &c.creator,
                            c.group.as_deref(),
                        )
                })
                .count();
            if forbidden > 0 {
                return Err(refuse(
                    RejectCode::NotPermitted,
                    format!(
                        "deleting annotation `{}` would delete {forbidden} comment(s) in its thread that this session may not delete",
                        req.id
                    ),
                ));
            }
            let mut ids: Vec<String> = thread.iter().map(|r| r.id.clone()).collect();
            ids.sort();
            ids
        } else {
            Vec::new()
        };
        let mut removed = self.take(layer, &req.id, undo).expect("checked above");
        removed.rev = seq;
        removed.updated_at = now;
        log.push(entry(Op::Delete, removed));
        for (i, id) in cascade.into_iter().enumerate() {
            let mut comment = self.take(layer, &id, undo).expect("found above");
            comment.rev = seq + 1 + i as i64;
            comment.updated_at = now;
            log.push(entry(Op::Delete, comment));
        }
        Ok(seq)
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
