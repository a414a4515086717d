//! Webhook endpoints (API key): register, list, remove, and read the delivery attempts. See
//! `crate::webhooks` and docs/webhooks.md.

use actix_web::{web, HttpResponse};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;

use super::error::Error;
use super::extract::ApiKey;
use crate::entities::{webhook_attempt, webhook_endpoint};
use crate::state::AppState;
use crate::time_util::micros_to_rfc3339;
use crate::webhooks;
use crate::wire::rest::{
    AttemptView, AttemptsResponse, EndpointView, RegisterRequest, WebhookList,
};

/// Most attempts one page shows.
const MAX_ATTEMPTS_PAGE: u64 = 500;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks")
            .route(web::post().to(register))
            .route(web::get().to(list)),
    )
    .route("/webhooks/{id}", web::delete().to(remove))
    .route("/webhooks/{id}/attempts", web::get().to(attempts));
}

impl EndpointView {
    fn new(m: webhook_endpoint::Model, with_secret: bool) -> EndpointView {
        EndpointView {
            secret: with_secret.then_some(m.secret),
            id: m.id,
            url: m.url,
            created_by: m.created_by,
            created_at: micros_to_rfc3339(m.created_at),
            delivered_through: m.cursor,
            failures: m.failures,
            next_attempt_at: micros_to_rfc3339(m.next_attempt_at),
        }
    }
}

/// `POST /api/webhooks` `{"url": …}`: 201 with the endpoint and its secret, shown once.
#[utoipa::path(post, path = "/api/webhooks", tag = "webhooks", request_body = RegisterRequest, responses((status = 201, body = EndpointView), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn register(
    key: ApiKey,
    state: web::Data<AppState>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, Error> {
    let url = webhooks::validate_url(&body.url).map_err(Error::BadRequest)?;
    if webhook_endpoint::Entity::find().count(&state.db).await? >= webhooks::MAX_ENDPOINTS {
        return Err(Error::BadRequest(format!(
            "at most {} webhook endpoints can be registered",
            webhooks::MAX_ENDPOINTS
        )));
    }
    let endpoint = webhooks::register(&state.db, url.as_str(), key.actor()).await?;
    tracing::info!(endpoint = %endpoint.id, "webhook endpoint registered");
    Ok(HttpResponse::Created().json(EndpointView::new(endpoint, true)))
}

/// `GET /api/webhooks`: every endpoint and where its deliveries stand (no secrets).
#[utoipa::path(get, path = "/api/webhooks", operation_id = "list_webhooks", tag = "webhooks", responses((status = 200, body = WebhookList), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn list(_key: ApiKey, state: web::Data<AppState>) -> Result<HttpResponse, Error> {
    let all = webhook_endpoint::Entity::find()
        .order_by_asc(webhook_endpoint::Column::CreatedAt)
        .all(&state.db)
        .await?;
    Ok(HttpResponse::Ok().json(WebhookList {
        webhooks: all
            .into_iter()
            .map(|m| EndpointView::new(m, false))
            .collect(),
    }))
}

/// `DELETE /api/webhooks/{id}`: 204; deliveries to it stop.
#[utoipa::path(delete, path = "/api/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)), responses((status = 204, description = "removed"), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn remove(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let res = webhook_endpoint::Entity::delete_by_id(id.to_string())
        .exec(&state.db)
        .await?;
    if res.rows_affected == 0 {
        return Err(Error::NotFound(format!("no webhook endpoint `{id}`")));
    }
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AttemptsQuery {
    /// Attempts with an id above this (the previous page's `next`).
    after: Option<i64>,
    limit: Option<u64>,
}

/// `GET /api/webhooks/{id}/attempts?after=&limit=`: the endpoint's attempts, oldest first.
#[utoipa::path(get, path = "/api/webhooks/{id}/attempts", tag = "webhooks", params(("id" = String, Path), AttemptsQuery), responses((status = 200, body = AttemptsResponse), (status = 400, description = "invalid request", body = crate::wire::rest::ErrorBody), (status = 401, description = "missing or invalid credentials", body = crate::wire::rest::ErrorBody), (status = 404, body = crate::wire::rest::ErrorBody)), security(("api_key" = [])))]
async fn attempts(
    _key: ApiKey,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<AttemptsQuery>,
) -> Result<HttpResponse, Error> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_ATTEMPTS_PAGE).contains(&limit) {
        return Err(Error::BadRequest(format!(
            "`limit` must be between 1 and {MAX_ATTEMPTS_PAGE}"
        )));
    }
    if webhook_endpoint::Entity::find_by_id(id.to_string())
        .one(&state.db)
        .await?
        .is_none()
    {
        return Err(Error::NotFound(format!("no webhook endpoint `{id}`")));
    }
    let rows = webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::EndpointId.eq(id.as_str()))
        .filter(webhook_attempt::Column::Id.gt(query.after.unwrap_or(0)))
        .order_by_asc(webhook_attempt::Column::Id)
        .limit(limit)
        .all(&state.db)
        .await?;
    let next = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(HttpResponse::Ok().json(AttemptsResponse {
        attempts: rows
            .into_iter()
            .map(|r| AttemptView {
                id: r.id,
                webhook_id: format!("evt_{}", r.event_id),
                at: micros_to_rfc3339(r.at),
                status: r.status,
                error: r.error,
                delivered: r.delivered,
            })
            .collect(),
        next,
    }))
}
