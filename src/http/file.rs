//! Serving a document's bytes with `Range`, `ETag` and `Content-Length`: what PDF.js needs to load
//! a large PDF progressively.

use actix_files::HttpRange;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt;

use super::error::Error;
use crate::blobs::BlobStore;
use crate::entities::document;

/// Whether the bytes are shown inline (viewer) or offered as a download.
pub enum Disposition {
    Inline,
    Attachment,
}

fn filename(doc: &document::Model) -> String {
    let base = doc.title.as_deref().unwrap_or(&doc.id);
    let safe: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.to_ascii_lowercase().ends_with(".pdf") {
        safe
    } else {
        format!("{safe}.pdf")
    }
}

/// Streams `doc`'s blob, honouring `If-None-Match`, `Range` and `If-Range`.
pub async fn serve(
    req: &HttpRequest,
    blobs: &BlobStore,
    doc: &document::Model,
    disposition: Disposition,
) -> Result<HttpResponse, Error> {
    let size = doc.byte_size as u64;
    let etag = format!("\"{}\"", doc.sha256);
    let header_str = |name| {
        req.headers()
            .get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
    };

    if let Some(inm) = header_str(header::IF_NONE_MATCH) {
        if inm.split(',').any(|t| t.trim() == etag || t.trim() == "*") {
            return Ok(HttpResponse::NotModified()
                .insert_header((header::ETAG, etag))
                .finish());
        }
    }

    let range_applies = header_str(header::IF_RANGE).is_none_or(|v| v.trim() == etag);
    let range = match header_str(header::RANGE).filter(|_| range_applies) {
        None => None,
        Some(spec) => match HttpRange::parse(spec, size) {
            Ok(ranges) if ranges.len() == 1 => Some(ranges[0]),
            // Several ranges: serve the whole document, which RFC 9110 allows.
            Ok(_) => None,
            Err(_) => return Err(Error::RangeNotSatisfiable(size)),
        },
    };

    let mut response = match range {
        Some(_) => HttpResponse::PartialContent(),
        None => HttpResponse::Ok(),
    };
    response
        .insert_header((header::CONTENT_TYPE, "application/pdf"))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            match disposition {
                Disposition::Inline => format!("inline; filename=\"{}\"", filename(doc)),
                Disposition::Attachment => format!("attachment; filename=\"{}\"", filename(doc)),
            },
        ));
    let (start, length) = match range {
        Some(r) => {
            response.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{}", r.start, r.start + r.length - 1, size),
            ));
            (r.start, r.length)
        }
        None => (0, size),
    };
    let stream = blobs.get(&doc.sha256, Some(start..start + length)).await?;
    response.no_chunking(length);
    Ok(response
        .streaming(stream.map(|chunk| chunk.map_err(actix_web::error::ErrorInternalServerError))))
}
