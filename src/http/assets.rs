//! The browser viewer and the operator dashboard: the files of `web/dist`, served at the site
//! root. Release builds embed them in the binary (source maps excluded); debug builds read them
//! from disk, so `npm run build` in `web/` shows up without recompiling the server.
//!
//! Every answer from here carries a strict Content-Security-Policy ([`Csp`]) and
//! `X-Content-Type-Options: nosniff`: the dashboard holds an API key, so no script may run in it
//! but the files Quire ships, and no other site may frame it unless the operator says so
//! (`--frame-ancestors`).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use rust_embed::RustEmbed;

use super::error::Error;
use crate::state::AppState;

#[derive(RustEmbed)]
#[folder = "web/dist/"]
#[allow_missing = true]
#[exclude = "*.map"]
struct Assets;

/// The PDF.js worker: it compiles PDF.js's WebAssembly decoders (JPEG 2000, colour profiles), so
/// its own policy (a worker's policy comes from its script's response) allows that and no more.
const WORKER: &str = "pdf.worker.min.mjs";

/// The Content-Security-Policy values of the web assets.
///
/// The dashboard and viewer need: scripts, styles, the worker and fetches (document bytes,
/// records, PDF.js's fonts and cmaps; the WebSocket, which `'self'` covers) from this origin
/// only; images from `data:` and `blob:` (the favicon, PDF.js's annotation icons). The viewer
/// styles elements through the CSSOM (`el.style.x = …`), which CSP does not restrict, so no
/// `'unsafe-inline'` is needed for styles either.
#[derive(Debug, Clone)]
pub struct Csp {
    /// For every answer but the worker script.
    pub document: String,
    /// For the PDF.js worker script.
    pub worker: String,
}

impl Csp {
    /// Builds the policies with `frame_ancestors` as the `frame-ancestors` sources (checked by
    /// [`check_frame_ancestors`]).
    pub fn new(frame_ancestors: &str) -> Csp {
        Csp {
            document: format!(
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                 font-src 'self' data:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; \
                 base-uri 'none'; form-action 'none'; object-src 'none'; frame-ancestors {}",
                frame_ancestors.trim()
            ),
            worker: "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'"
                .to_string(),
        }
    }
}

/// Checks a `--frame-ancestors` value: `'none'` alone, or space-separated sources (`'self'`,
/// `https:`, `https://app.example.com`, `https://*.example.com:8443`). Anything that could end
/// the directive or the header (`;`, `,`, quotes around other words, control characters) is
/// refused, so the flag cannot weaken the rest of the policy.
pub fn check_frame_ancestors(value: &str) -> Result<String, String> {
    let sources: Vec<&str> = value.split_ascii_whitespace().collect();
    if sources.is_empty() {
        return Err("give at least one source, or 'none'".into());
    }
    if sources.contains(&"'none'") && sources.len() > 1 {
        return Err("'none' cannot be combined with other sources".into());
    }
    for source in &sources {
        let keyword = matches!(*source, "'self'" | "'none'");
        let host_source = source.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '/' | '*' | '-' | '_' | '+')
        });
        if !keyword && !host_source {
            return Err(format!(
                "`{source}` is not a frame-ancestors source ('self', 'none', a scheme like https: or an origin like https://app.example.com)"
            ));
        }
    }
    Ok(sources.join(" "))
}

/// Serves `GET /<path>` from the web assets; `/` is the dashboard. Errors carry the same
/// security headers as files.
pub async fn serve(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let path = req.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    let mut response = match file(&req, path) {
        Ok(response) => response,
        Err(e) => e.error_response(),
    };
    let policy = if path == WORKER {
        &state.csp.worker
    } else {
        &state.csp.document
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn file(req: &HttpRequest, path: &str) -> Result<HttpResponse, Error> {
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
        // Public files: a customer's page on another origin loads quire.js, the PDF.js worker
        // (a module script) and its data files from here, which needs CORS.
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(file.data.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ancestors_accepts_keywords_schemes_and_origins() {
        assert_eq!(check_frame_ancestors("'none'").unwrap(), "'none'");
        assert_eq!(
            check_frame_ancestors(" 'self'  https://app.example.com https://*.example.com:8443 ")
                .unwrap(),
            "'self' https://app.example.com https://*.example.com:8443"
        );
        assert!(check_frame_ancestors("https:").is_ok());
    }

    #[test]
    fn frame_ancestors_cannot_smuggle_other_directives() {
        for bad in [
            "",
            "'self'; script-src *",
            "https://a.example.com,https://b.example.com",
            "'unsafe-inline'",
            "'none' 'self'",
            "https://a.example.com\r\nSet-Cookie: x=1",
        ] {
            assert!(check_frame_ancestors(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_document_policy_allows_no_inline_or_foreign_script() {
        let csp = Csp::new("'none'");
        assert!(csp.document.contains("script-src 'self';"));
        assert!(!csp.document.contains("unsafe"));
        assert!(csp.document.ends_with("frame-ancestors 'none'"));
        assert!(!csp.worker.contains("unsafe-inline"));
    }
}
