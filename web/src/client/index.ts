/** The client library's public surface (also `Quire.Client` and friends in the bundle). */
export { QuireClient } from "./client";
export type { ClientEvents, ClientOptions, ConnectionState, RecordsOrigin, SocketLike } from "./client";
export { SyncState } from "./sync-state";
export type { PendingChange, RejectOutcome, Resolution } from "./sync-state";
export { MemoryQueueStore, IndexedDbQueueStore, queueKey } from "./queue-store";
export type { QueueStore } from "./queue-store";
export { Rights } from "./rights";
export { backoffDelay } from "./backoff";
export {
  fetchSession,
  fetchRecords,
  documentUrl,
  QuireApiError,
  exportInstantJson,
  exportXfdf,
  exportPdf,
  annotatedPdfUrl,
} from "./api";
export type { InstantJsonDocument } from "./api";
export type { ClientSession } from "./api";
export { newRecordId } from "./ids";
export { jsonEqual, rebaseContent } from "./json";
export type * from "./types";
