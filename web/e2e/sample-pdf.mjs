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
export function samplePdf(pages = 3, { rotateLast = 0 } = {}) {
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
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${WIDTH} ${HEIGHT}]${i === pages - 1 && rotateLast ? ` /Rotate ${rotateLast}` : ""} /Resources << /Font << /F1 3 0 R >> >> /Contents ${pageIds[i] + 1} 0 R >>`,
    );
    objects.push(`<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`);
  }
  return assemble(objects, "/Root 1 0 R");
}

/** Writes numbered objects (1..n) with a cross-reference table and a trailer naming `root`. */
function assemble(objects, root) {
  let out = "%PDF-1.4\n";
  const offsets = [];
  objects.forEach((body, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) out += `${String(offset).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} ${root} >>\nstartxref\n${xref}\n%%EOF\n`;
  if (/[^\x20-\x7e\n]/.test(out)) throw new Error("the sample PDF must be ASCII");
  return new TextEncoder().encode(out);
}

/** The fully qualified field names of `formPdf`, as a form_field record's `name` holds them. */
export const FORM_FIELDS = { text: "person.name", checkbox: "agree", radio: "size", choice: "colour" };

/**
 * A one-page PDF with an AcroForm: a text field nested under a parent ("person.name", to test
 * fully qualified names), a checkbox, a radio group of two buttons and a combo box. The buttons
 * carry appearance dictionaries, whose state names PDF.js reads as their export values.
 */
export function formPdf() {
  const box = (x, y, w, hgt) => `/Rect [${x} ${y} ${x + w} ${y + hgt}]`;
  const stream = content([[14, 72, 740, "Form sample"], [11, 72, 700, "Name"], [11, 72, 660, "Agree"], [11, 72, 620, "Size"], [11, 72, 580, "Colour"]]);
  const empty = "<< /Type /XObject /Subtype /Form /BBox [0 0 14 14] /Length 0 >>\nstream\n\nendstream";
  // 1 catalog, 2 pages, 3 font, 4 page, 5 contents, 6 parent "person", 7 "name", 8 "agree",
  // 9 "size", 10 radio S, 11 radio M, 12 "colour", 13 empty appearance.
  const objects = [
    "<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [6 0 R 8 0 R 9 0 R 12 0 R] /DA (/F1 0 Tf 0 g) /DR << /Font << /F1 3 0 R >> >> >> >>",
    "<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
    "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${WIDTH} ${HEIGHT}] /Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R /Annots [7 0 R 8 0 R 10 0 R 11 0 R 12 0 R] >>`,
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    "<< /T (person) /Kids [7 0 R] >>",
    `<< /Type /Annot /Subtype /Widget /Parent 6 0 R /T (name) /FT /Tx /V (Ada) /DA (/F1 12 Tf 0 g) ${box(160, 692, 200, 22)} /F 4 /P 4 0 R >>`,
    `<< /Type /Annot /Subtype /Widget /T (agree) /FT /Btn /V /Off /AS /Off ${box(160, 654, 16, 16)} /F 4 /P 4 0 R /AP << /N << /Yes 13 0 R /Off 13 0 R >> >> >>`,
    "<< /T (size) /FT /Btn /Ff 49152 /V /Off /Kids [10 0 R 11 0 R] >>",
    `<< /Type /Annot /Subtype /Widget /Parent 9 0 R /AS /Off ${box(160, 614, 16, 16)} /F 4 /P 4 0 R /AP << /N << /S 13 0 R /Off 13 0 R >> >> >>`,
    `<< /Type /Annot /Subtype /Widget /Parent 9 0 R /AS /Off ${box(200, 614, 16, 16)} /F 4 /P 4 0 R /AP << /N << /M 13 0 R /Off 13 0 R >> >> >>`,
    `<< /Type /Annot /Subtype /Widget /T (colour) /FT /Ch /Ff 131072 /Opt [(Red) (Green) (Blue)] /V (Red) /DA (/F1 12 Tf 0 g) ${box(160, 572, 120, 22)} /F 4 /P 4 0 R >>`,
    empty,
  ];
  return assemble(objects, "/Root 1 0 R");
}
