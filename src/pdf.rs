//! PDF validation: every upload must open as a PDF with a real parser before it is stored.

/// Why a body was refused as a PDF.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the body is not a PDF: {0}")]
    NotPdf(String),
    #[error("the PDF is encrypted and cannot be opened without a password; upload it decrypted")]
    Encrypted,
    #[error("the PDF is damaged beyond repair: {0}")]
    Damaged(String),
}

/// What Quire records about a valid PDF.
#[derive(Debug, Clone, Copy)]
pub struct Info {
    pub page_count: u32,
}

/// How far into the file the `%PDF-` header may appear (the PDF spec tolerates leading junk).
const HEADER_WINDOW: usize = 1024;

/// Parses `bytes` with lopdf and counts its pages. An encrypted PDF passes only if it opens with
/// the empty user password. The parser runs under `catch_unwind`: a malformed file must produce
/// an error, never take the server down.
pub fn inspect(bytes: &[u8]) -> Result<Info, Error> {
    let head = &bytes[..bytes.len().min(HEADER_WINDOW)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(Error::NotPdf(
            "no `%PDF-` header in the first 1024 bytes".into(),
        ));
    }
    let parsed = std::panic::catch_unwind(|| lopdf::Document::load_mem(bytes))
        .map_err(|_| Error::Damaged("the parser could not make sense of it".into()))?;
    let mut doc = match parsed {
        Ok(doc) => doc,
        Err(e) if is_password_error(&e) => return Err(Error::Encrypted),
        Err(e) => return Err(Error::Damaged(e.to_string())),
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
        page_count: pages as u32,
    })
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
