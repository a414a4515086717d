/**
 * The `Quire` global of dist/quire.js: `Quire.load` (the viewer) and `Quire.Client` (the live
 * session without UI), plus the pieces an integrator may want.
 */
import "./viewer/quire.css";
import { setScriptOrigin } from "./viewer/load";

// The script's own origin is the default server: captured now, while `currentScript` is set.
const script = typeof document !== "undefined" ? document.currentScript : null;
setScriptOrigin(script instanceof HTMLScriptElement && script.src ? new URL(script.src).origin : null);

export { load, defaultBaseUrl } from "./viewer/load";
export type { LoadOptions } from "./viewer/load";
export type { Instance } from "./viewer/instance";
export type { ViewerEvents } from "./viewer/viewer";
export { QuireClient as Client } from "./client/client";
export { MemoryQueueStore, IndexedDbQueueStore } from "./client/queue-store";
export { Rights } from "./client/rights";
export { fetchSession, fetchRecords, QuireApiError } from "./client/api";
export * as geometry from "./viewer/geometry";
export const version = "0.1.0";
