/**
 * What PDF.js's annotation layer calls when the user follows a link in the PDF: internal
 * destinations scroll the viewer, external URLs open in a new tab. A small stand-in for
 * PDF.js's own `PDFLinkService`, which would pull the whole pdf_viewer component into the
 * bundle.
 */
import type { PDFDocumentProxy } from "pdfjs-dist";

export class LinkService {
  readonly externalLinkEnabled = true;
  readonly isInPresentationMode = false;
  readonly eventBus = null;

  constructor(
    private readonly doc: PDFDocumentProxy,
    private readonly goToPage: (pageIndex: number) => void,
    private readonly currentPage: () => number,
  ) {}

  get pagesCount(): number {
    return this.doc.numPages;
  }

  getDestinationHash(dest: unknown): string {
    return typeof dest === "string" ? `#${encodeURIComponent(dest)}` : "#";
  }

  getAnchorUrl(hash: string): string {
    return hash;
  }

  addLinkAttributes(link: HTMLAnchorElement, url: string): void {
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener noreferrer nofollow";
  }

  async goToDestination(dest: unknown): Promise<void> {
    const explicit = typeof dest === "string" ? await this.doc.getDestination(dest) : dest;
    if (!Array.isArray(explicit) || explicit.length === 0) return;
    const ref: unknown = explicit[0];
    let index: number | null = null;
    if (typeof ref === "number") index = ref;
    else if (ref && typeof ref === "object") {
      index = await this.doc.getPageIndex(ref as Parameters<PDFDocumentProxy["getPageIndex"]>[0]).catch(() => null);
    }
    if (index !== null && index >= 0 && index < this.doc.numPages) this.goToPage(index);
  }

  executeNamedAction(action: string): void {
    const page = this.currentPage();
    const target: Record<string, number> = {
      NextPage: page + 1,
      PrevPage: page - 1,
      FirstPage: 0,
      LastPage: this.doc.numPages - 1,
    };
    if (action in target) this.goToPage(Math.max(0, Math.min(this.doc.numPages - 1, target[action])));
  }

  executeSetOCGState(): void {
    // Optional-content toggles are not supported by this viewer.
  }

  setHash(): void {}
}
