//! The browser viewer and the operator dashboard: the files of `web/dist`, served at the site
//! root. Release builds embed them in the binary (source maps excluded); debug builds read them
//! from disk, so `npm run build` in `web/` shows up without recompiling the server.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

use super::error::Error;

#[derive(RustEmbed)]
#[folder = "web/dist/"]
#[allow_missing = true]
#[exclude = "*.map"]
struct Assets;

/// Serves `GET /<path>` from the web assets; `/` is the dashboard.
pub async fn serve(req: HttpRequest) -> Result<HttpResponse, Error> {
    if !matches!(
        *req.method(),
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    ) {
        return Err(Error::NotFound(format!(
            "no route for {} {}",
            req.method(),
            req.path()
        )));
    }
    let path = req.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let Some(file) = Assets::get(path) else {
        if path == "index.html" {
            return Err(Error::NotFound(
                "the web assets are not built: run `npm ci && npm run build` in web/ (or build the server with npm available)"
                    .into(),
            ));
        }
        return Err(Error::NotFound(format!("no route or asset at /{path}")));
    };
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    if req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, file.metadata.mimetype()))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        // Public files: a customer's page on another origin loads quire.js, the PDF.js worker
        // (a module script) and its data files from here, which needs CORS.
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(file.data.into_owned()))
}
