// Builds web/dist: quire.js + quire.css (the client and viewer, global `Quire`), the dashboard
// (index.html, dashboard.js, dashboard.css) and the PDF.js worker and data files the viewer
// loads at run time. The Rust server serves this directory at the site root.
import { build } from "esbuild";
import { cp, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const pdfjs = join(root, "node_modules", "pdfjs-dist");
const watch = process.argv.includes("--dev");

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

const common = {
  bundle: true,
  format: "iife",
  target: ["chrome115", "firefox115", "safari16.4"],
  minify: !watch,
  sourcemap: "linked",
  legalComments: "linked",
  logLevel: "warning",
  // pdf.js mentions import.meta only on its Node.js code path, which browsers never take.
  logOverride: { "empty-import-meta": "silent" },
};

await build({
  ...common,
  entryPoints: { quire: join(root, "src", "index.ts") },
  globalName: "Quire",
  outdir: dist,
  // Minifying drops PDF.js's licence header (it is not marked as a legal comment): say it here.
  banner: { js: "/*! Quire web client. Includes PDF.js, Copyright Mozilla Foundation, Apache-2.0: /pdfjs/LICENSE */" },
});

await build({
  ...common,
  entryPoints: {
    dashboard: join(root, "src", "dashboard", "main.ts"),
    "dashboard-style": join(root, "src", "dashboard", "dashboard.css"),
  },
  outdir: dist,
  entryNames: "[name]",
});
// esbuild names a CSS entry after its key; the page links /dashboard.css.
await cp(join(dist, "dashboard-style.css"), join(dist, "dashboard.css"));
await rm(join(dist, "dashboard-style.css"));
await rm(join(dist, "dashboard-style.css.map"), { force: true });

await cp(join(root, "src", "dashboard", "index.html"), join(dist, "index.html"));
await cp(join(pdfjs, "build", "pdf.worker.min.mjs"), join(dist, "pdf.worker.min.mjs"));
for (const dir of ["cmaps", "standard_fonts", "wasm", "iccs"]) {
  await cp(join(pdfjs, dir), join(dist, "pdfjs", dir), { recursive: true });
}
await cp(join(pdfjs, "LICENSE"), join(dist, "pdfjs", "LICENSE"));
console.log("built", dist);
