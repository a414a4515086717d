//! `GET /api/documents/{id}/history` (API key): a document's audit log, oldest first, paged by
//! cursor and filtered by actor, kind and time. It answers for deleted documents too (their
//! history outlives them). See docs/audit.md.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::error::Error;
use super::extract::ApiKey;
use crate::audit::{self, Filter};
use crate::state::AppState;
use crate::time_util::parse_to_micros;
use crate::wire::rest::HistoryResponse;

/// Entries per page unless `limit` says otherwise.
const DEFAULT_PAGE: u64 = 100;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/documents/{id}/history", web::get().to(history));
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    /// The actor: a user id, or `api_key:<id>`.
    user: Option<String>,
    /// An exact kind (`record.update`) or a prefix ending in `.` (`record.`).
    kind: Option<String>,
    /// RFC 3339 time or `YYYY-MM-DD`: entries at or after it.
    from: Option<String>,
    /// RFC 3339 time or `YYYY-MM-DD`: entries before it.
    to: Option<String>,
    /// The `next` of the previous page.
    after: Option<i64>,
    limit: Option<u64>,
}

fn time(name: &str, value: Option<String>) -> Result<Option<i64>, Error> {
    value
        .map(|v| {
            parse_to_micros(&v).ok_or_else(|| {
                Error::BadRequest(format!("`{name}` must be an RFC 3339 time or YYYY-MM-DD"))
            })
        })
        .transpose()
}

/// Checks the query and turns it into a filter; pure, so each refusal is unit-tested.
fn filter(q: HistoryQuery) -> Result<Filter, Error> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=audit::MAX_PAGE).contains(&limit) {
        return Err(Error::BadRequest(format!(
            "`limit` must be between 1 and {}",
            audit::MAX_PAGE
        )));
    }
    if q.user
        .as_ref()
        .is_some_and(|u| u.is_empty() || u.len() > 300)
    {
        return Err(Error::BadRequest(
            "`user` must be 1 to 300 characters".into(),
        ));
    }
    if q.kind
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > 32)
    {
        return Err(Error::BadRequest(
            "`kind` must be 1 to 32 characters".into(),
        ));
    }
    if q.after.is_some_and(|a| a < 0) {
        return Err(Error::BadRequest("`after` must be a `next` value".into()));
    }
    Ok(Filter {
        actor: q.user,
        kind: q.kind,
        from: time("from", q.from)?,
        to: time("to", q.to)?,
        after: q.after,
        limit,
    })
}

#[utoipa::path(get, path = "/api/documents/{id}/history", tag = "audit", params(("id" = String, Path), HistoryQuery), responses((status = 200, body = HistoryResponse), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn history(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, Error> {
    crate::documents::validate_id(&id)?;
    let filter = filter(query.into_inner())?;
    let (events, next) = audit::history(&state.db, &id, &filter).await?;
    Ok(HttpResponse::Ok().json(HistoryResponse {
        document_id: &id,
        events,
        next,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> HistoryQuery {
        HistoryQuery {
            user: None,
            kind: None,
            from: None,
            to: None,
            after: None,
            limit: None,
        }
    }

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(filter(query()).unwrap().limit, DEFAULT_PAGE);
        for bad in [0, audit::MAX_PAGE + 1] {
            let q = HistoryQuery {
                limit: Some(bad),
                ..query()
            };
            assert!(matches!(filter(q), Err(Error::BadRequest(m)) if m.contains("limit")));
        }
        let q = HistoryQuery {
            from: Some("yesterday".into()),
            ..query()
        };
        assert!(matches!(filter(q), Err(Error::BadRequest(m)) if m.contains("from")));
        let q = HistoryQuery {
            kind: Some("x".repeat(33)),
            ..query()
        };
        assert!(filter(q).is_err());
        let q = HistoryQuery {
            to: Some("2026-11-26".into()),
            ..query()
        };
        assert!(filter(q).unwrap().to.is_some());
    }
}
