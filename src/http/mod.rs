//! HTTP routes. Handlers are thin: extract (authorisation lives in the extractor types of
//! [`extract`]), call a service, map errors through [`error::Error`].

pub mod assets;
pub mod body;
pub mod client;
pub mod documents;
pub mod error;
pub mod exchange;
pub mod extract;
pub mod file;
pub mod health;
pub mod history;
pub mod layers;
pub mod metrics;
pub mod openapi;
pub mod pdf_export;
pub mod presence;
pub mod records;
pub mod server;
pub mod sessions;
pub mod usage;
pub mod webhooks;
pub mod ws;

use actix_cors::Cors;
use actix_web::middleware::from_fn;
use actix_web::web;

/// Registers every route. `cors_origins` applies to the client API only; backend routes are
/// called server to server and send no CORS headers.
pub fn configure(cfg: &mut web::ServiceConfig, cors_origins: &[String]) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(8 * 1024 * 1024)
            .error_handler(|e, _| {
                error::Error::BadRequest(format!("invalid JSON body: {e}")).into()
            }),
    )
    .app_data(web::QueryConfig::default().error_handler(|e, _| {
        error::Error::BadRequest(format!("invalid query string: {e}")).into()
    }))
    .app_data(
        web::PathConfig::default()
            .error_handler(|e, _| error::Error::BadRequest(format!("invalid path: {e}")).into()),
    )
    .configure(health::configure)
    // Public, like the health probes: registered before the `/api` scope, which would ask for
    // an API key.
    .configure(openapi::configure)
    // The socket authenticates with its first message, not a header: outside the session scope.
    .configure(ws::configure)
    // CORS wraps authentication so that preflight requests are answered without credentials.
    .service(
        web::scope("/api/client")
            .wrap(from_fn(extract::require_session))
            .wrap(cors(cors_origins))
            .configure(client::configure)
            .configure(records::configure_client)
            .configure(exchange::configure_client)
            .configure(pdf_export::configure_client),
    )
    .service(
        web::scope("/api")
            .wrap(from_fn(extract::require_api_key))
            .configure(documents::configure)
            .configure(records::configure_backend)
            .configure(layers::configure)
            .configure(exchange::configure_backend)
            .configure(pdf_export::configure_backend)
            .configure(history::configure)
            .configure(presence::configure)
            .configure(sessions::configure)
            .configure(usage::configure)
            .configure(webhooks::configure),
    )
    .default_service(web::to(assets::serve));
}

fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "HEAD", "POST", "OPTIONS"])
        .allowed_headers([
            "authorization",
            "content-type",
            "range",
            "if-none-match",
            "if-range",
        ])
        .expose_headers([
            "content-range",
            "content-length",
            "accept-ranges",
            "etag",
            "content-disposition",
        ])
        .max_age(3600)
        // A disallowed origin gets no CORS headers (so the browser refuses), not an error.
        .block_on_origin_mismatch(false);
    for origin in origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}
