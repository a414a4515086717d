//! `GET /api/usage` (API key): session opens per document and per day.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::error::Error;
use super::extract::ApiKey;
use crate::state::AppState;
use crate::time_util::parse_to_micros;
use crate::usage::{self, Filter};
use crate::wire::rest::UsageResponse;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/usage", web::get().to(get_usage));
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct UsageQuery {
    /// Inclusive start: RFC 3339 or `YYYY-MM-DD`.
    from: Option<String>,
    /// Exclusive end: RFC 3339 or `YYYY-MM-DD`.
    to: Option<String>,
    document_id: Option<String>,
}

fn parse_time(name: &str, value: &Option<String>) -> Result<Option<i64>, Error> {
    value
        .as_deref()
        .map(|v| {
            parse_to_micros(v).ok_or_else(|| {
                Error::BadRequest(format!(
                    "`{name}` must be RFC 3339 or YYYY-MM-DD, got `{v}`"
                ))
            })
        })
        .transpose()
}

#[utoipa::path(get, path = "/api/usage", tag = "usage", params(UsageQuery), responses((status = 200, body = UsageResponse), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn get_usage(
    _key: ApiKey,
    state: web::Data<AppState>,
    query: web::Query<UsageQuery>,
) -> Result<HttpResponse, Error> {
    let filter = Filter {
        from: parse_time("from", &query.from)?,
        to: parse_time("to", &query.to)?,
        document_id: query.document_id.clone(),
    };
    let rows = usage::aggregate(&state.db, &filter).await?;
    let total_opens = rows.iter().map(|r| r.opens).sum();
    Ok(HttpResponse::Ok().json(UsageResponse {
        usage: rows,
        total_opens,
    }))
}
