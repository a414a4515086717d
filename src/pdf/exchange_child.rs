//! The sandboxed children's side of the exchange work: writing an exported PDF
//! (`quire export-pdf`) and reading a PDF's own annotations (`quire inspect-pdf
//! --annotations-out`). Both parse outside input, so both run under [`super::sandbox`]'s bounds.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::sandbox::{limit_memory, write_report, Report};
use super::{inspect_with, Error, Info};

/// The export itself, on files: reads the PDF and the document, writes the result.
pub(super) fn export_files(
    pdf: &Path,
    doc: &Path,
    out: &Path,
    flatten: bool,
    max_stream_bytes: usize,
) -> Result<crate::exchange::pdf_export::Summary, Error> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| Error::Internal(format!("reading: {e}")));
    let original = read(pdf)?;
    let doc: serde_json::Value = serde_json::from_slice(&read(doc)?)
        .map_err(|e| Error::Internal(format!("the annotations to write: {e}")))?;
    let (bytes, summary) =
        crate::exchange::pdf_export::export(&original, &doc, flatten, max_stream_bytes)?;
    std::fs::write(out, bytes).map_err(|e| Error::Internal(format!("writing: {e}")))?;
    Ok(summary)
}

/// The arguments of `export-pdf`, the child that writes an exported PDF (see
/// [`Inspector::export_pdf`]).
#[derive(Debug, clap::Args)]
pub struct ExportPdfArgs {
    #[arg(long)]
    pub max_memory_bytes: u64,
    #[arg(long)]
    pub max_stream_bytes: usize,
    #[arg(long)]
    pub flatten: bool,
    pub pdf: PathBuf,
    pub doc: PathBuf,
    pub out: PathBuf,
}

impl ExportPdfArgs {
    /// Runs the child's side: limits its memory, exports, reports as JSON on standard output.
    pub fn run(&self) -> ExitCode {
        if let Err(e) = limit_memory(self.max_memory_bytes) {
            return write_report(Report::from(Err::<Info, Error>(Error::Internal(format!(
                "setting the memory limit: {e}"
            )))));
        }
        let outcome = export_files(
            &self.pdf,
            &self.doc,
            &self.out,
            self.flatten,
            self.max_stream_bytes,
        );
        write_report(match outcome {
            Ok(summary) => Report::Exported { summary },
            Err(e) => Report::from(Err::<Info, Error>(e)),
        })
    }
}

/// Checks the PDF at `path` and writes its annotations to `out` as Instant JSON.
pub(super) fn read_annotations(
    path: &Path,
    out: &Path,
    max_stream_bytes: usize,
) -> Result<Info, Error> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::Internal(format!("reading the PDF: {e}")))?;
    let info = inspect_with(&bytes, max_stream_bytes)?;
    let options = lopdf::LoadOptions::with_max_decompressed_size(max_stream_bytes);
    let doc = lopdf::Document::load_mem_with_options(&bytes, options)
        .map_err(|e| super::classify(e, max_stream_bytes))?;
    let annotations = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        crate::exchange::pdf_import::read(&doc)
    }))
    .map_err(|_| Error::Damaged("its annotations could not be read".into()))?;
    let json = serde_json::to_vec(&annotations).map_err(|e| Error::Internal(e.to_string()))?;
    std::fs::write(out, json).map_err(|e| Error::Internal(format!("writing: {e}")))?;
    Ok(info)
}
