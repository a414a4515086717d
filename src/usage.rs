//! Usage metering: one event per successful client session open, aggregated per document and day.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::auth::tokens::{DocumentRef, VerifiedToken};
use crate::entities::usage_event;
use crate::store::Committer;
use crate::time_util::{micros_to_day, now_micros};
use crate::wire::rest::DailyUsage;

/// Records that `token`'s holder opened its document now. Goes through the committer, so
/// thousands of opens a second share transactions instead of contending for the database;
/// `event` (a live session's `session.opened` webhook row) is written in the same savepoint.
pub async fn record_open(
    committer: &Committer,
    token: &VerifiedToken,
    event: Option<crate::entities::webhook_event::ActiveModel>,
) -> Result<(), DbErr> {
    let now = now_micros();
    let (document_id, app_document_id) = match &token.grant.document {
        DocumentRef::Managed(id) => (Some(id.clone()), None),
        DocumentRef::App(id) => (None, Some(id.clone())),
    };
    committer
        .record(
            usage_event::ActiveModel {
                document_id: Set(document_id),
                app_document_id: Set(app_document_id),
                user_id: Set(token.grant.user_id.clone()),
                revocation_id: Set(token.root_revocation_id().to_string()),
                day: Set(micros_to_day(now)),
                opened_at: Set(now),
                ..Default::default()
            },
            event,
        )
        .await
}

/// Which events to aggregate. Times are microseconds; `from` is inclusive, `to` exclusive.
#[derive(Debug, Default)]
pub struct Filter {
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Matches a managed document id or an app document id.
    pub document_id: Option<String>,
}

/// Aggregates opens per document and per day, oldest day first.
pub async fn aggregate(db: &DatabaseConnection, filter: &Filter) -> Result<Vec<DailyUsage>, DbErr> {
    use usage_event::Column as C;
    let mut query = usage_event::Entity::find()
        .select_only()
        .column(C::Day)
        .column(C::DocumentId)
        .column(C::AppDocumentId)
        .column_as(Expr::col(C::Id).count(), "opens")
        .column_as(Expr::cust("COUNT(DISTINCT user_id)"), "unique_users")
        .group_by(C::Day)
        .group_by(C::DocumentId)
        .group_by(C::AppDocumentId)
        .order_by_asc(C::Day)
        .order_by_asc(C::DocumentId)
        .order_by_asc(C::AppDocumentId);
    if let Some(from) = filter.from {
        query = query.filter(C::OpenedAt.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(C::OpenedAt.lt(to));
    }
    if let Some(id) = &filter.document_id {
        query = query.filter(
            C::DocumentId
                .eq(id.clone())
                .or(C::AppDocumentId.eq(id.clone())),
        );
    }
    query.into_model::<DailyUsage>().all(db).await
}
