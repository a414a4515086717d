//! PDF validation: every upload must open as a PDF with a real parser before it is stored.
//!
//! Parsing is the costliest thing an uploader can make the server do, so it is bounded three
//! ways: lopdf refuses any stream that decompresses past a limit ([`inspect_with`]), and the
//! server runs the parser in a child process ([`sandbox`]) with a memory ceiling, a wall-clock
//! limit and a bound on how many run at once.

pub mod sandbox;

pub use sandbox::{Inspector, InspectorConfig};

/// Why a body was refused as a PDF, or could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the body is not a PDF: {0}")]
    NotPdf(String),
    #[error("the PDF is encrypted and cannot be opened without a password; upload it decrypted")]
    Encrypted,
    #[error("the PDF is damaged beyond repair: {0}")]
    Damaged(String),
    /// Opening it would cost more than the server allows (decompressed size, memory or time).
    #[error("the PDF is too costly to open: {0}")]
    TooCostly(String),
    /// Every parse slot stayed busy for as long as an upload may wait for one.
    #[error("the server is busy checking other uploads; retry in a few seconds")]
    Busy,
    /// The parser could not be run at all (a server fault, not the file's).
    #[error("the PDF parser could not be run: {0}")]
    Internal(String),
}

/// What Quire records about a valid PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Info {
    pub page_count: u32,
}

/// How far into the file the `%PDF-` header may appear (the PDF spec tolerates leading junk).
const HEADER_WINDOW: usize = 1024;

/// Default bound on what one stream may decompress to while the document is opened: far above
/// what real object and cross-reference streams need (content streams are not decoded to count
/// pages), far below what a decompression bomb asks for.
pub const DEFAULT_MAX_STREAM_BYTES: usize = 32 * 1024 * 1024;

/// Parses `bytes` with lopdf and counts its pages, with the default bound on decompressed
/// stream size. See [`inspect_with`].
pub fn inspect(bytes: &[u8]) -> Result<Info, Error> {
    inspect_with(bytes, DEFAULT_MAX_STREAM_BYTES)
}

/// Parses `bytes` with lopdf and counts its pages; no stream may decompress to more than
/// `max_stream_bytes` (lopdf checks while inflating, so a bomb is refused before it grows past
/// the bound). An encrypted PDF passes only if it opens with the empty user password. The parser
/// runs under `catch_unwind`: a malformed file must produce an error, never a panic.
///
/// This bounds one stream, not the whole parse: the server runs it in a child process with a
/// memory and time limit ([`Inspector`]).
pub fn inspect_with(bytes: &[u8], max_stream_bytes: usize) -> Result<Info, Error> {
    let head = &bytes[..bytes.len().min(HEADER_WINDOW)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(Error::NotPdf(
            "no `%PDF-` header in the first 1024 bytes".into(),
        ));
    }
    let options = lopdf::LoadOptions::with_max_decompressed_size(max_stream_bytes);
    let parsed =
        std::panic::catch_unwind(|| lopdf::Document::load_mem_with_options(bytes, options))
            .map_err(|_| Error::Damaged("the parser could not make sense of it".into()))?;
    let mut doc = match parsed {
        Ok(doc) => doc,
        Err(e) => return Err(classify(e, max_stream_bytes)),
    };
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err(Error::Encrypted);
    }
    let pages = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| doc.get_pages().len()))
        .map_err(|_| Error::Damaged("its page tree could not be read".into()))?;
    if pages == 0 {
        return Err(Error::Damaged("it has no pages".into()));
    }
    Ok(Info {
        page_count: u32::try_from(pages).unwrap_or(u32::MAX),
    })
}

/// Maps a lopdf load failure to the reason given to the uploader.
fn classify(e: lopdf::Error, max_stream_bytes: usize) -> Error {
    match e {
        lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. }) => {
            Error::TooCostly(format!(
                "a compressed stream inflates to more than {max_stream_bytes} bytes"
            ))
        }
        lopdf::Error::Decompress(lopdf::DecompressError::TooManyFilters { .. }) => {
            Error::TooCostly("a stream names too many compression filters".into())
        }
        e if is_password_error(&e) => Error::Encrypted,
        e => Error::Damaged(e.to_string()),
    }
}

fn is_password_error(e: &lopdf::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("password") || text.contains("decrypt")
}

/// A minimal valid PDF with `pages` empty Letter-size pages and `marker` in an object of its own,
/// so different markers give different bytes (and blobs). For the test suite and the benchmark,
/// which must not depend on files from outside the repository.
pub fn sample(pages: usize, marker: &str) -> Vec<u8> {
    let kids: Vec<String> = (0..pages).map(|i| format!("{} 0 R", i + 4)).collect();
    let mut objects = vec![
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        format!(
            "<< /Type /Pages /Kids [{}] /Count {pages} >>",
            kids.join(" ")
        ),
        format!("<< /Marker ({}) >>", marker.replace(['(', ')', '\\'], "_")),
    ];
    objects.extend(
        (0..pages).map(|_| "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>".to_string()),
    );
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_sample_pdf_parses_with_its_page_count() {
        assert_eq!(
            super::inspect(&super::sample(3, "x")).unwrap().page_count,
            3
        );
    }
}
