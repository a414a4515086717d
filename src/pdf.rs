//! PDF validation: every upload must open as a PDF with a real parser before it is stored.
//!
//! Parsing is the costliest thing an uploader can make the server do, so it is bounded three
//! ways: lopdf refuses any stream that decompresses past a limit ([`inspect_with`]), and the
//! server runs the parser in a child process ([`sandbox`]) with a memory ceiling, a wall-clock
//! limit and a bound on how many run at once.

mod exchange_child;
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
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Info {
    pub page_count: u32,
    /// Every page's boxes and rotation, in page order (see [`crate::exchange::geometry`]).
    pub pages: Vec<crate::exchange::geometry::PageGeometry>,
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
    let pages = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::exchange::geometry::read_pages(&doc)
    }))
    .map_err(|_| Error::Damaged("its page tree could not be read".into()))?;
    if pages.is_empty() {
        return Err(Error::Damaged("it has no pages".into()));
    }
    Ok(Info {
        page_count: u32::try_from(pages.len()).unwrap_or(u32::MAX),
        pages,
    })
}

/// Maps a lopdf load failure to the reason given to the uploader.
pub(crate) fn classify(e: lopdf::Error, max_stream_bytes: usize) -> Error {
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
    let objects: Vec<Vec<u8>> = objects.into_iter().map(String::into_bytes).collect();
    assemble(&objects)
}

/// A PDF file of `objects` (numbered 1, 2, … in order; object 1 is the catalog) with a valid
/// cross-reference table. For [`sample`] and for tests that need PDFs of a particular shape.
pub fn assemble(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.5\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
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
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_sample_pdf_parses_with_its_page_count() {
        assert_eq!(inspect(&sample(3, "x")).unwrap().page_count, 3);
    }

    /// The outcomes a parse may have: accepted with pages, or refused for the file's own sake.
    fn is_clean(outcome: &Result<Info, Error>) -> bool {
        match outcome {
            Ok(info) => info.page_count >= 1,
            Err(Error::NotPdf(_) | Error::Encrypted | Error::Damaged(_) | Error::TooCostly(_)) => {
                true
            }
            Err(Error::Busy | Error::Internal(_)) => false,
        }
    }

    /// One edit to a file: overwrite a byte, delete a run, or insert bytes.
    #[derive(Debug, Clone)]
    enum Mutation {
        Set(usize, u8),
        Delete(usize, usize),
        Insert(usize, Vec<u8>),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Mutation::Set(at, b)),
            (any::<usize>(), 1usize..64).prop_map(|(at, n)| Mutation::Delete(at, n)),
            (
                any::<usize>(),
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 1..16),
                    // PDF syntax is more likely than noise to reach deep into the parser.
                    prop::sample::select(vec![
                        b"<<".to_vec(),
                        b">>".to_vec(),
                        b"[".to_vec(),
                        b" 0 R".to_vec(),
                        b"stream\n".to_vec(),
                        b"endobj".to_vec(),
                        b"/Kids [2 0 R]".to_vec(),
                        b"/Count -1".to_vec(),
                        b"/Length 99999999999".to_vec(),
                        b"/Filter /FlateDecode".to_vec(),
                        b"/Type /ObjStm /N 5 /First 9999".to_vec(),
                        b"/Encrypt 3 0 R".to_vec(),
                        b"xref\n0 99999999\n".to_vec(),
                        b"startxref\n18446744073709551615\n".to_vec(),
                    ]),
                ]
            )
                .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        ]
    }

    fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
        for m in mutations {
            let len = bytes.len().max(1);
            match m {
                Mutation::Set(at, b) => {
                    if let Some(slot) = bytes.get_mut(at % len) {
                        *slot = *b;
                    }
                }
                Mutation::Delete(at, n) => {
                    let start = (at % len).min(bytes.len());
                    let end = start.saturating_add(*n).min(bytes.len());
                    bytes.drain(start..end);
                }
                Mutation::Insert(at, ins) => {
                    let at = (at % len).min(bytes.len());
                    bytes.splice(at..at, ins.iter().copied());
                }
            }
        }
        bytes
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        /// Noise, with or without a PDF header, is refused cleanly.
        #[test]
        fn arbitrary_bytes_are_refused_or_accepted_cleanly(
            header in any::<bool>(),
            body in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let mut bytes = if header { b"%PDF-1.7\n".to_vec() } else { Vec::new() };
            bytes.extend(body);
            let outcome = inspect(&bytes);
            prop_assert!(is_clean(&outcome), "{outcome:?}");
        }

        /// A valid PDF with a few edits never panics the parser wrapper and never gets a
        /// server-fault answer.
        #[test]
        fn mutated_small_pdfs_are_refused_or_accepted_cleanly(
            pages in 1usize..4,
            mutations in proptest::collection::vec(mutation(), 1..6),
        ) {
            let bytes = apply(sample(pages, "m"), &mutations);
            let outcome = inspect_with(&bytes, 1024 * 1024);
            prop_assert!(is_clean(&outcome), "{outcome:?}");
        }

        /// Truncating a valid PDF anywhere gives a clean answer (lopdf may repair it).
        #[test]
        fn truncated_pdfs_are_refused_or_accepted_cleanly(cut in any::<prop::sample::Index>()) {
            let full = sample(2, "t");
            let bytes = &full[..cut.index(full.len())];
            let outcome = inspect(bytes);
            prop_assert!(is_clean(&outcome), "{outcome:?}");
        }
    }
}
