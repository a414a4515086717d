// The PDF the end-to-end test annotates, written here so that a fresh clone needs no file from
// outside the repository: Letter-size pages with real text (Helvetica, one of the standard 14
// fonts, so nothing is embedded) that PDF.js puts into its text layer, where the test selects it.

/** The title line at the top of page 1: one text run, so one span in the text layer. */
export const TITLE = "Quire end-to-end sample: the title line";

const WIDTH = 612;
const HEIGHT = 792;

/** Escapes a string for a PDF literal string. */
function literal(text) {
  return `(${text.replace(/[\\()]/g, (c) => `\\${c}`)})`;
}

/** A content stream placing `lines` ([size, x, y, text]) in font /F1. */
function content(lines) {
  return lines.map(([size, x, y, text]) => `BT /F1 ${size} Tf ${x} ${y} Td ${literal(text)} Tj ET`).join("\n");
}

function pageLines(index, pages) {
  const lines = [];
  if (index === 0) lines.push([20, 72, 720, TITLE]);
  else lines.push([16, 72, 720, `Section ${index + 1}`]);
  for (let i = 0; i < 24; i++) {
    lines.push([11, 72, 680 - i * 22, `Page ${index + 1} of ${pages}, line ${i + 1}: text to select, highlight and comment on.`]);
  }
  return lines;
}

/**
 * A PDF with `pages` pages (at least 2: the test draws on page 2). Offsets in the cross-reference
 * table are byte offsets; everything written is ASCII, so string lengths are byte lengths.
 */
export function samplePdf(pages = 3) {
  if (pages < 1) throw new Error("a PDF needs a page");
  // Objects 1..3: catalog, page tree, font; then a page and its content stream per page.
  const pageIds = Array.from({ length: pages }, (_, i) => 4 + i * 2);
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R >>",
    `<< /Type /Pages /Kids [${pageIds.map((id) => `${id} 0 R`).join(" ")}] /Count ${pages} >>`,
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
  ];
  for (let i = 0; i < pages; i++) {
    const stream = content(pageLines(i, pages));
    objects.push(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${WIDTH} ${HEIGHT}] /Resources << /Font << /F1 3 0 R >> >> /Contents ${pageIds[i] + 1} 0 R >>`,
    );
    objects.push(`<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`);
  }
  let out = "%PDF-1.4\n";
  const offsets = [];
  objects.forEach((body, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) out += `${String(offset).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  if (/[^\x20-\x7e\n]/.test(out)) throw new Error("the sample PDF must be ASCII");
  return new TextEncoder().encode(out);
}
