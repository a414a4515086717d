//! Generated PDFs, so the core tests need no files from outside the repository.

/// A PDF with `pages` empty pages; different markers give different bytes.
pub fn with_pages(pages: usize, marker: &str) -> Vec<u8> {
    quire::pdf::sample(pages, marker)
}

/// A one-page PDF.
pub fn one_page(marker: &str) -> Vec<u8> {
    with_pages(1, marker)
}
