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

/// One satisfiable byte range: `length` ≥ 1 bytes from `start`, inside the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub length: u64,
}

/// What a `Range` header asks of a document of `size` bytes: one range, or `None` for the whole
/// document (no ranges, or several, which RFC 9110 lets a server answer with everything).
/// Malformed or unsatisfiable specs are 416. Values past the end (up to `u64::MAX`) are cut to
/// the document, never added up past it.
pub fn requested_range(spec: &str, size: u64) -> Result<Option<ByteRange>, Error> {
    match HttpRange::parse(spec, size) {
        Ok(ranges) => match ranges.as_slice() {
            [r] if r.length > 0 && r.start.checked_add(r.length).is_some_and(|end| end <= size) => {
                Ok(Some(ByteRange {
                    start: r.start,
                    length: r.length,
                }))
            }
            [_] => Err(Error::RangeNotSatisfiable(size)),
            _ => Ok(None),
        },
        Err(_) => Err(Error::RangeNotSatisfiable(size)),
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
        Some(spec) => requested_range(spec, size)?,
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn range(spec: &str, size: u64) -> Option<(u64, u64)> {
        requested_range(spec, size)
            .unwrap_or_else(|e| panic!("{spec:?} refused: {e}"))
            .map(|r| (r.start, r.length))
    }

    fn refused(spec: &str, size: u64) -> bool {
        matches!(
            requested_range(spec, size),
            Err(Error::RangeNotSatisfiable(s)) if s == size
        )
    }

    #[test]
    fn a_valid_range_is_served_as_asked_and_cut_at_the_end() {
        assert_eq!(range("bytes=0-99", 1000), Some((0, 100)));
        assert_eq!(range("bytes=990-", 1000), Some((990, 10)));
        assert_eq!(range("bytes=990-5000", 1000), Some((990, 10)));
        assert_eq!(range("bytes=999-999", 1000), Some((999, 1)));
    }

    #[test]
    fn a_suffix_range_counts_from_the_end() {
        assert_eq!(range("bytes=-100", 1000), Some((900, 100)));
        assert_eq!(range("bytes=-5000", 1000), Some((0, 1000)));
    }

    #[test]
    fn no_range_or_several_ranges_mean_the_whole_document() {
        assert_eq!(range("", 1000), None);
        assert_eq!(range("bytes=0-1,5-9", 1000), None);
    }

    #[test]
    fn malformed_and_unsatisfiable_ranges_are_416() {
        for spec in [
            "bytes=1000-",
            "bytes=5000-6000",
            "bytes=9-5",
            "bytes=x-y",
            "bytes=--5",
            "items=0-5",
            "bytes=-0",
            "bytes 0-5",
        ] {
            assert!(refused(spec, 1000), "{spec:?} accepted");
        }
    }

    #[test]
    fn huge_values_do_not_overflow() {
        assert_eq!(range("bytes=0-18446744073709551615", 1000), Some((0, 1000)));
        assert_eq!(range("bytes=-18446744073709551615", 1000), Some((0, 1000)));
        assert!(refused("bytes=18446744073709551615-", 1000));
        assert!(refused("bytes=18446744073709551616-", 1000));
        assert!(refused("bytes=0-18446744073709551616", 1000));
        assert_eq!(
            range("bytes=18446744073709551614-", u64::MAX),
            Some((u64::MAX - 1, 1))
        );
    }

    proptest! {
        /// Whatever the header says, the answer is the whole document, one range inside it, or
        /// 416, and never a panic.
        #[test]
        fn any_range_header_gives_a_range_inside_the_document_or_416(
            spec in "(bytes=)?[0-9, -]{0,40}|\\PC{0,40}",
            size in 1u64..=u64::MAX,
        ) {
            match requested_range(&spec, size) {
                Ok(Some(r)) => {
                    prop_assert!(r.length >= 1);
                    prop_assert!(r.start.checked_add(r.length).is_some_and(|end| end <= size));
                }
                Ok(None) => {}
                Err(e) => prop_assert!(matches!(e, Error::RangeNotSatisfiable(s) if s == size)),
            }
        }
    }
}
