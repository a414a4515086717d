//! `GET /api/openapi.json`: the OpenAPI 3.1 description of the REST API, generated (utoipa)
//! from the `#[utoipa::path]` annotations on the handlers and the `ToSchema` derives on their
//! request and response types (`crate::wire::rest`), so it cannot drift from the code.
//! docs/api.md is checked against it by a test (`tests/it/openapi.rs`), and its committed copy,
//! docs/openapi.json, from which the web client's REST types are generated, by another
//! (`tests/it/wire_schema.rs`). `GET /api/protocol.schema.json` serves the WebSocket messages'
//! JSON Schema (`crate::wire::schema`).

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    client, documents, exchange, health, history, layers, metrics, pdf_export, presence, records,
    sessions, usage, webhooks, ws,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/openapi.json", web::get().to(spec))
        .route("/api/protocol.schema.json", web::get().to(protocol_schema));
}

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Quire",
        description = "Self-hosted real-time collaboration engine for PDF documents. \
                       Prose, limits and examples: docs/api.md; the live protocol: docs/protocol.md."
    ),
    paths(
        health::healthz,
        health::readyz,
        metrics::metrics,
        spec,
        protocol_schema,
        documents::upload,
        documents::list,
        documents::get,
        documents::download,
        documents::delete,
        records::backend_records,
        records::backend_changes,
        history::history,
        presence::live_sessions,
        sessions::mint,
        sessions::revoke,
        sessions::public_key,
        usage::get_usage,
        webhooks::register,
        webhooks::list,
        webhooks::remove,
        webhooks::attempts,
        client::session,
        client::document,
        records::client_records,
        ws::upgrade,
        exchange::pages,
        exchange::export_instant_json,
        exchange::import_instant_json,
        exchange::export_xfdf,
        exchange::import_xfdf,
        exchange::import_pdf_annotations,
        exchange::client_instant_json,
        exchange::client_xfdf,
        pdf_export::backend_pdf,
        pdf_export::client_pdf,
        layers::list,
        layers::copy,
        layers::delete,
    ),
    modifiers(&Credentials, &HeadOperationIds)
)]
pub struct ApiDoc;

/// The two bearer credentials: backend API keys and session tokens.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, format) in [("api_key", "API key"), ("session_token", "biscuit")] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format(format)
                        .build(),
                ),
            );
        }
    }
}

/// A route answering GET and HEAD has one handler, hence one `operationId` for both methods;
/// OpenAPI wants them unique (code generators name functions and types after them), so the HEAD
/// operation's gets `_head` appended.
struct HeadOperationIds;

impl Modify for HeadOperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            if let Some(id) = item.head.as_mut().and_then(|op| op.operation_id.as_mut()) {
                id.push_str("_head");
            }
        }
    }
}

/// `GET /api/openapi.json`.
#[utoipa::path(get, path = "/api/openapi.json", tag = "health", responses((status = 200, description = "this description", body = Object)))]
async fn spec() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}

/// `GET /api/protocol.schema.json`: the JSON Schema (2020-12) of the live protocol's messages
/// (`crate::wire::schema`), also committed as docs/protocol.schema.json.
#[utoipa::path(get, path = "/api/protocol.schema.json", tag = "health", responses((status = 200, description = "the JSON Schema of the WebSocket messages (docs/protocol.md)", body = Object, content_type = "application/schema+json")))]
async fn protocol_schema() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/schema+json")
        .body(crate::wire::schema::protocol_schema_text())
}
