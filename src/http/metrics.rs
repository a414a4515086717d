//! `GET /metrics` (Prometheus text format) and the middleware that counts HTTP requests. See
//! [`crate::metrics`] and docs/metrics.md.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::app::StartError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(metrics));
}

/// `GET /metrics`: every metric in the Prometheus text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format (docs/metrics.md)", body = String, content_type = "text/plain")))]
async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(crate::metrics::get().render())
}

/// Serves `/metrics` alone on `addr` (`--metrics-listen`), on one worker; returns its handle.
pub fn serve(addr: &str) -> Result<ServerHandle, StartError> {
    let server = HttpServer::new(|| App::new().configure(configure))
        .workers(1)
        .disable_signals()
        .bind(addr)
        .map_err(|e| StartError::Listen(addr.to_string(), e))?;
    for addr in server.addrs() {
        tracing::info!(%addr, "metrics listening");
    }
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    Ok(handle)
}

/// Counts every request by its route pattern (never its path: ids would make the label set
/// unbounded), method and status, and times it. Requests that match no route (the web assets
/// and unknown paths) count under `other`.
pub async fn count(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let result = next.call(req).await;
    let (route, status) = match &result {
        Ok(res) => (res.request().match_pattern(), res.status()),
        Err(e) => (None, e.as_response_error().status_code()),
    };
    record(route.as_deref().unwrap_or("other"), method, status, started);
    result
}

/// A method's label value: a client can send any method token, so only the standard ones
/// become label values.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// Counts and times one request (also called for WebSocket upgrades, which bypass the app).
pub fn record(route: &str, method: &str, status: StatusCode, started: Instant) {
    let metrics = crate::metrics::get();
    metrics
        .http_requests
        .with_label_values(&[route, method, status.as_str()])
        .inc();
    metrics
        .http_request_seconds
        .with_label_values(&[route])
        .observe(started.elapsed().as_secs_f64());
}
