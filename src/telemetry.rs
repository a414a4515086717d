//! Logging set-up: `tracing` to stderr, pretty or JSON, filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. Secrets never reach it: no span or event records a key or token.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_span_list(false)
            .init(),
    }
}

/// Request spans for `tracing-actix-web`: the default span (method, route, target, status) plus
/// one `request finished` event per request, so every request leaves a log line. Headers, where
/// credentials travel, are never recorded.
pub struct RequestSpans;

impl tracing_actix_web::RootSpanBuilder for RequestSpans {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        tracing_actix_web::root_span!(request)
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        let status = match outcome {
            Ok(response) => response.status().as_u16(),
            Err(error) => error.as_response_error().status_code().as_u16(),
        };
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span.clone(), outcome);
        span.in_scope(|| tracing::info!(status, "request finished"));
    }
}
