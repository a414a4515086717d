//! Reading upload bodies within the size limit, raw or multipart. The PDF goes to a spool file
//! as it arrives ([`crate::spool`]); only the small text parts are held in memory.

use std::path::Path;

use actix_multipart::Multipart;
use actix_web::{web, HttpRequest};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use super::error::Error;
use crate::spool::{self, Spool, Spooled};

/// Most bytes a text field of a multipart upload (title, id) may have.
const MAX_TEXT_FIELD: usize = 4096;

/// The parts of an upload.
pub struct Upload {
    pub file: Spooled,
    pub title: Option<String>,
    pub id: Option<String>,
}

/// Rejects early when `Content-Length` already exceeds the limit, so nothing is read.
pub fn check_content_length(req: &HttpRequest, limit: u64) -> Result<(), Error> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        // Multipart framing adds a little; the file part itself is checked while streaming.
        Some(n) if n > limit.saturating_add(64 * 1024) => Err(Error::PayloadTooLarge(limit)),
        _ => Ok(()),
    }
}

/// Collects a stream of chunks, failing with 413 as soon as it passes `limit` bytes.
async fn collect<S, E>(mut stream: S, limit: u64) -> Result<Bytes, Error>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut buf = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| Error::BadRequest(format!("could not read the request body: {e}")))?;
        if (buf.len() + chunk.len()) as u64 > limit {
            return Err(Error::PayloadTooLarge(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Writes a stream of chunks to a new spool file in `dir`, failing with 413 as soon as it passes
/// `limit` bytes (the partial file is deleted).
async fn spool<S, E>(mut stream: S, dir: &Path, limit: u64) -> Result<Spooled, Error>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut file = Spool::create(dir, limit).await?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| Error::BadRequest(format!("could not read the request body: {e}")))?;
        file.write(&chunk).await?;
    }
    Ok(file.finish().await?)
}

impl From<spool::Error> for Error {
    fn from(e: spool::Error) -> Error {
        match e {
            spool::Error::TooLarge(limit) => Error::PayloadTooLarge(limit),
            spool::Error::Io(e) => Error::Documents(crate::documents::Error::Spool(e)),
        }
    }
}

/// Reads a raw `application/pdf` body into a spool file in `dir`.
pub async fn raw(payload: web::Payload, dir: &Path, limit: u64) -> Result<Spooled, Error> {
    spool(payload, dir, limit).await
}

/// Reads a `multipart/form-data` body with a `file` part (spooled to a file in `dir`) and
/// optional `title` and `id` parts.
pub async fn multipart(mut form: Multipart, dir: &Path, limit: u64) -> Result<Upload, Error> {
    let mut file = None;
    let mut title = None;
    let mut id = None;
    while let Some(field) = form.next().await {
        let field =
            field.map_err(|e| Error::BadRequest(format!("malformed multipart body: {e}")))?;
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "file" if file.is_some() => {
                return Err(Error::BadRequest(
                    "the multipart body has more than one `file` part".into(),
                ))
            }
            "file" => file = Some(spool(field, dir, limit).await?),
            "title" | "id" => {
                let raw = collect(field, MAX_TEXT_FIELD as u64).await.map_err(|_| {
                    Error::BadRequest(format!(
                        "the `{name}` part is longer than {MAX_TEXT_FIELD} bytes"
                    ))
                })?;
                let text = String::from_utf8(raw.to_vec())
                    .map_err(|_| Error::BadRequest(format!("the `{name}` part is not UTF-8")))?;
                if name == "title" {
                    title = Some(text);
                } else {
                    id = Some(text);
                }
            }
            other => {
                return Err(Error::BadRequest(format!(
                    "unexpected multipart part `{other}` (expected file, title, id)"
                )))
            }
        }
    }
    match file {
        Some(file) => Ok(Upload { file, title, id }),
        None => Err(Error::BadRequest(
            "the multipart body has no `file` part".into(),
        )),
    }
}
