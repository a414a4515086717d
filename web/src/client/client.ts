/**
 * `QuireClient`: one user's live session on one document. It owns the WebSocket (hello,
 * heartbeat, reconnects with backoff), feeds server messages to the pure `SyncState`, persists
 * the offline queue, and tells the UI what happened through typed events. Usable without the
 * viewer:
 *
 * ```js
 * const client = new Quire.Client({ token, baseUrl: "https://quire.example.com" });
 * client.on("records", ({ changed, removed }) => render(changed, removed));
 * await client.connect();
 * client.create("annotation", { v: 2, type: "pspdfkit/note", pageIndex: 0, bbox: [10, 10, 24, 24] });
 * ```
 */
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff";
import { closeName, shouldReconnect } from "./close-codes";
import { Emitter, type Handler } from "./events";
import { newRecordId, randomHex } from "./ids";
import { defaultQueueStore, queueKey, type QueueStore } from "./queue-store";
import { Rights } from "./rights";
import { SyncState, type PendingChange, type RejectOutcome } from "./sync-state";
import {
  MAX_CHANGES_PER_MESSAGE,
  type ClientMessage,
  type JsonObject,
  type JsonValue,
  type PresenceEvent,
  type PresenceSession,
  type QuireRecord,
  type RecordKind,
  type ServerMessage,
  type WelcomeMessage,
} from "./types";

/** Where the live connection stands. */
export type ConnectionState =
  /** The first connection is being made. */
  | "connecting"
  /** Joined: changes flow both ways. */
  | "online"
  /** No connection and none being attempted: the browser is offline, or the session ended. */
  | "offline"
  /** The connection dropped; retrying with backoff. Local changes are queued meanwhile. */
  | "reconnecting";

/** Why records changed: the user's own edit, someone else's, or the server's answer. */
export type RecordsOrigin = "local" | "remote" | "server";

export interface ClientEvents {
  /** Records the user sees changed (`changed`) or disappeared (`removed`). */
  records: { changed: QuireRecord[]; removed: string[]; origin: RecordsOrigin };
  /** The other sessions on this document changed (joined, left, or moved). */
  presence: { peers: PresenceSession[] };
  connection: { state: ConnectionState; retryInMs?: number };
  /** The server ended the session for good (token expired or revoked, document deleted…). */
  sessionClosed: { code: number; name: string; reason: string };
  /** The server refused one of the user's changes; `resolution` says what the client did. */
  rejected: RejectOutcome;
  /** A welcome arrived (the first join, and every reconnect). */
  welcome: WelcomeMessage;
}

/** The subset of the browser's WebSocket the client uses (injectable for tests). */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export interface ClientOptions {
  /** The session token minted by your backend (`POST /api/sessions`). */
  token: string;
  /** Quire's origin, e.g. `https://quire.example.com`. Default: this page's origin. */
  baseUrl?: string;
  /** Where the offline queue is kept. Default: IndexedDB when available. */
  store?: QueueStore;
  /** The WebSocket constructor. Default: the browser's. */
  WebSocket?: new (url: string) => SocketLike;
  backoff?: BackoffOptions;
  /** An application ping every this many ms; no answer for two periods counts as a lost connection. */
  heartbeatMs?: number;
  /**
   * How long a socket may take, from its creation, to deliver the welcome (default 10 s). A
   * socket that does not (a server that accepted the upgrade but never answers the hello, a
   * proxy that holds the connection open) is abandoned like a dropped connection: the client
   * reconnects with backoff instead of waiting forever.
   */
  welcomeTimeoutMs?: number;
  /** Where `online`/`offline` events come from. Default: `window` (when there is one). */
  network?: EventTarget & { navigator?: { onLine?: boolean } };
  random?: () => number;
}

const OPEN = 1;

/** The default of `ClientOptions.welcomeTimeoutMs`. */
export const DEFAULT_WELCOME_TIMEOUT_MS = 10_000;

export class QuireClient {
  private readonly state = new SyncState();
  private readonly events = new Emitter<ClientEvents>();
  private readonly store: QueueStore;
  private readonly socketUrl: string;
  private readonly clientPrefix = randomHex(4);
  private clientSeq = 0;

  private ws: SocketLike | null = null;
  private welcomeMsg: WelcomeMessage | null = null;
  private rightsObj: Rights | null = null;
  private connection: ConnectionState = "offline";
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  /** Wakes the queue when a change held back after a retryable reject may be sent again. */
  private backoffTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private welcomeTimer: ReturnType<typeof setTimeout> | null = null;
  private lastHeard = 0;
  private stopped = false;
  private queueKeyStr: string | null = null;
  private queueReady = false;
  private flushScheduled = false;
  private saving: Promise<void> = Promise.resolve();
  private peers = new Map<string, PresenceSession>();
  private ownPresence: JsonValue | undefined;
  private presenceTimer: ReturnType<typeof setTimeout> | null = null;
  /** The pending `connect()` promise, until the first welcome (or a terminal close). */
  private firstWelcome: {
    resolve: (w: WelcomeMessage) => void;
    reject: (e: Error) => void;
    promise: Promise<WelcomeMessage>;
  } | null = null;
  private readonly onBrowserOffline = () => this.dropConnection("the browser went offline");
  private readonly onBrowserOnline = () => this.reconnectNow();

  constructor(private readonly options: ClientOptions) {
    this.store = options.store ?? defaultQueueStore();
    const base = options.baseUrl ?? globalThis.location?.origin;
    if (!base) throw new Error("QuireClient: baseUrl is required outside a browser page");
    const url = new URL("/api/client/ws", base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.socketUrl = url.toString();
  }

  // ---- lifecycle -----------------------------------------------------------------------

  /**
   * Opens the live session. Resolves with the first welcome (once the saved offline queue,
   * if any, is restored); rejects if the server ends the session before that.
   */
  connect(): Promise<WelcomeMessage> {
    if (this.welcomeMsg && this.queueReady) return Promise.resolve(this.welcomeMsg);
    if (this.firstWelcome) return this.firstWelcome.promise;
    let settle!: Pick<NonNullable<QuireClient["firstWelcome"]>, "resolve" | "reject">;
    const promise = new Promise<WelcomeMessage>((resolve, reject) => (settle = { resolve, reject }));
    this.firstWelcome = { ...settle, promise };
    this.stopped = false;
    this.network?.addEventListener("offline", this.onBrowserOffline);
    this.network?.addEventListener("online", this.onBrowserOnline);
    this.open();
    return promise;
  }

  /** Closes the session (normal closure) and stops reconnecting. Queued changes stay saved. */
  close(): void {
    this.stopped = true;
    this.clearTimers();
    this.network?.removeEventListener("offline", this.onBrowserOffline);
    this.network?.removeEventListener("online", this.onBrowserOnline);
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, "closed by the client");
    this.setConnection("offline");
    this.events.clear();
    this.firstWelcome?.reject(new Error("QuireClient: closed before the session was joined"));
    this.firstWelcome = null;
  }

  on<K extends keyof ClientEvents>(name: K, handler: Handler<ClientEvents[K]>): () => void {
    return this.events.on(name, handler);
  }

  off<K extends keyof ClientEvents>(name: K, handler: Handler<ClientEvents[K]>): void {
    this.events.off(name, handler);
  }

  // ---- what the session is -------------------------------------------------------------

  /** The latest welcome (document, user, rights), or null before the first. */
  get welcome(): WelcomeMessage | null {
    return this.welcomeMsg;
  }

  /** The session's rights; throws before the first welcome. */
  get rights(): Rights {
    if (!this.rightsObj) throw new Error("QuireClient: not connected yet");
    return this.rightsObj;
  }

  get connectionState(): ConnectionState {
    return this.connection;
  }

  /** The other sessions on this document. */
  get presence(): PresenceSession[] {
    return [...this.peers.values()];
  }

  /** Changes not yet acknowledged by the server (queued or in flight), oldest first. */
  get pendingChanges(): PendingChange[] {
    return this.state.pending;
  }

  // ---- records -------------------------------------------------------------------------

  /** Every record as the user sees it (including their unacknowledged changes). */
  getRecords(): QuireRecord[] {
    return this.state.records();
  }

  getRecord(id: string): QuireRecord | undefined {
    return this.state.view(id);
  }

  /** Creates a record (optimistically: it is visible at once). Returns it. */
  create(kind: RecordKind, content: JsonObject, id: string = newRecordId(idPrefix(kind, content))): QuireRecord {
    this.state.create(this.nextClientId(), kind, id, content);
    this.afterLocalChange(id);
    return this.state.view(id)!;
  }

  /**
   * Replaces a record's content. Returns the record as now seen. Pass `base` (the content the
   * edit started from) when the record may have changed since: only what the user changed is
   * then applied over others' changes.
   */
  update(id: string, content: JsonObject, base?: JsonObject): QuireRecord {
    this.state.update(this.nextClientId(), id, content, base);
    this.afterLocalChange(id);
    return this.state.view(id)!;
  }

  delete(id: string): void {
    this.state.delete(this.nextClientId(), id);
    this.afterLocalChange(id);
  }

  /** Shares this session's ephemeral state (current page, selection) with the others. */
  setPresence(state: JsonValue): void {
    this.ownPresence = state;
    if (this.presenceTimer !== null) return;
    // At most one presence frame per 200 ms: scrolling must not eat the frame budget.
    this.presenceTimer = setTimeout(() => {
      this.presenceTimer = null;
      this.sendPresence();
    }, 200);
  }

  // ---- connection ----------------------------------------------------------------------

  private get network(): ClientOptions["network"] {
    if (this.options.network) return this.options.network;
    return typeof window !== "undefined" ? window : undefined;
  }

  private browserOffline(): boolean {
    return this.network?.navigator?.onLine === false;
  }

  private open(): void {
    if (this.stopped || this.ws) return;
    if (this.browserOffline()) this.setConnection("offline");
    else this.setConnection(this.welcomeMsg ? "reconnecting" : "connecting");
    const Socket = this.options.WebSocket ?? WebSocket;
    const ws = new Socket(this.socketUrl);
    this.ws = ws;
    this.stopWelcomeTimer();
    const welcomeTimeout = this.options.welcomeTimeoutMs ?? DEFAULT_WELCOME_TIMEOUT_MS;
    this.welcomeTimer = setTimeout(() => {
      this.welcomeTimer = null;
      if (this.ws === ws) this.dropConnection(`no welcome within ${welcomeTimeout} ms`);
    }, welcomeTimeout);
    ws.onopen = () => {
      const hello: Extract<ClientMessage, { type: "hello" }> = { type: "hello", token: this.options.token, protocol: 1 };
      // `since` only when we hold the records it refers to (this page's earlier session).
      if (this.welcomeMsg && this.state.headSeq !== null) hello.since = this.state.headSeq;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastHeard = Date.now();
      let msg: ServerMessage;
      try {
        msg = JSON.parse(String(ev.data)) as ServerMessage;
      } catch {
        console.warn("quire: ignoring a frame that is not JSON");
        return;
      }
      this.handle(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws === ws) this.connectionClosed(ev.code, ev.reason);
    };
    ws.onerror = () => {
      // A close event always follows; it carries the code.
    };
  }

  /** Abandons the current socket without waiting for a close handshake that may never come. */
  private dropConnection(why: string): void {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    try {
      ws.close(1000, why.slice(0, 120));
    } catch {
      // Already closing.
    }
    this.connectionClosed(1006, why);
  }

  private reconnectNow(): void {
    if (this.stopped || this.ws) return;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.attempt = 0;
    this.open();
  }

  private connectionClosed(code: number, reason: string): void {
    this.ws = null;
    this.stopHeartbeat();
    this.stopWelcomeTimer();
    this.state.connectionLost();
    if (this.peers.size > 0) {
      this.peers.clear();
      this.events.emit("presence", { peers: [] });
    }
    if (this.stopped) return;
    if (!shouldReconnect(code)) {
      this.stopped = true;
      const name = closeName(code, reason);
      this.setConnection("offline");
      this.events.emit("sessionClosed", { code, name, reason });
      this.firstWelcome?.reject(new Error(`quire: the session was closed (${code} ${reason})`));
      this.firstWelcome = null;
      return;
    }
    const delay = backoffDelay(this.attempt++, this.options.backoff ?? DEFAULT_BACKOFF, this.options.random);
    // Offline, the `online` event reconnects at once; the timer is only a fallback for
    // browsers that miss the event.
    if (this.browserOffline()) this.setConnection("offline");
    else this.setConnection("reconnecting", delay);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.open();
    }, delay);
  }

  private setConnection(state: ConnectionState, retryInMs?: number): void {
    if (state === this.connection && retryInMs === undefined) return;
    this.connection = state;
    this.events.emit("connection", retryInMs === undefined ? { state } : { state, retryInMs });
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    const period = this.options.heartbeatMs ?? 20_000;
    this.lastHeard = Date.now();
    this.heartbeatTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > 2 * period) {
        this.dropConnection("no answer to pings");
        return;
      }
      this.send({ type: "ping" });
    }, period);
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private stopWelcomeTimer(): void {
    if (this.welcomeTimer !== null) clearTimeout(this.welcomeTimer);
    this.welcomeTimer = null;
  }

  private clearTimers(): void {
    this.stopHeartbeat();
    this.stopWelcomeTimer();
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.presenceTimer !== null) clearTimeout(this.presenceTimer);
    if (this.backoffTimer !== null) clearTimeout(this.backoffTimer);
    this.retryTimer = this.presenceTimer = this.backoffTimer = null;
  }

  private send(msg: ClientMessage): boolean {
    if (!this.ws || this.ws.readyState !== OPEN || this.connection !== "online") return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  private sendPresence(): void {
    if (this.ownPresence !== undefined) this.send({ type: "presence", state: this.ownPresence });
  }

  // ---- server messages -----------------------------------------------------------------

  private handle(msg: ServerMessage): void {
    switch (msg.type) {
      case "welcome":
        this.welcomed(msg);
        break;
      case "change":
        this.emitRecords(this.state.applyChange(msg), "remote");
        break;
      case "ack": {
        const p = this.state.applyAck(msg);
        if (p) this.emitRecords([p.id], "server");
        this.persist();
        this.scheduleFlush();
        break;
      }
      case "reject": {
        const outcome = this.state.applyReject(msg);
        if (!outcome) break;
        this.persist();
        if (outcome.resolution === "retrying") {
          console.warn(`quire: change ${outcome.change.id} not taken now (${outcome.code}); retrying`);
        } else {
          this.events.emit("rejected", outcome);
        }
        this.emitRecords([outcome.change.id], "server");
        this.scheduleFlush();
        break;
      }
      case "presence":
        this.presenceMessage(msg);
        break;
      case "error":
        console.warn(`quire: server error ${msg.code}: ${msg.message}`);
        break;
      case "pong":
        break;
    }
  }

  private welcomed(welcome: WelcomeMessage): void {
    const first = this.welcomeMsg === null;
    this.stopWelcomeTimer();
    this.welcomeMsg = welcome;
    this.rightsObj = new Rights(welcome.rights, welcome.user);
    this.attempt = 0;
    this.peers = new Map(welcome.presence.map((p) => [p.session_id, p]));
    const changed = this.state.applyWelcome(welcome);
    this.setConnection("online");
    this.startHeartbeat();
    this.events.emit("welcome", welcome);
    this.emitRecords(changed, "remote");
    this.events.emit("presence", { peers: this.presence });
    this.sendPresence();
    if (!first) {
      this.scheduleFlush();
      return;
    }
    this.queueKeyStr = queueKey(welcome.document_id, welcome.layer, welcome.user.user_id);
    void this.restoreQueue(this.queueKeyStr);
  }

  /** Brings back the changes a previous page load could not send, then starts sending. */
  private async restoreQueue(key: string): Promise<void> {
    try {
      const saved = await this.store.load(key);
      this.emitRecords(this.state.restore(saved), "local");
    } catch (error) {
      console.warn("quire: could not read the offline queue", error);
    }
    this.queueReady = true;
    this.persist();
    this.scheduleFlush();
    if (this.welcomeMsg) this.firstWelcome?.resolve(this.welcomeMsg);
    this.firstWelcome = null;
  }

  private presenceMessage(msg: Extract<ServerMessage, { type: "presence" }>): void {
    if (msg.event === "batch") {
      for (const event of msg.events) this.presenceEvent(event);
    } else {
      this.presenceEvent(msg);
    }
    this.events.emit("presence", { peers: this.presence });
  }

  private presenceEvent(msg: PresenceEvent): void {
    switch (msg.event) {
      case "joined":
        this.peers.set(msg.session.session_id, msg.session);
        break;
      case "state": {
        const peer = this.peers.get(msg.session_id);
        this.peers.set(msg.session_id, {
          session_id: msg.session_id,
          user_id: msg.user_id,
          user_name: peer?.user_name ?? null,
          state: msg.state,
        });
        break;
      }
      case "left":
        this.peers.delete(msg.session_id);
        break;
    }
  }

  // ---- local changes -------------------------------------------------------------------

  private nextClientId(): string {
    return `${this.clientPrefix}.${++this.clientSeq}`;
  }

  private afterLocalChange(id: string): void {
    this.emitRecords([id], "local");
    this.persist();
    this.scheduleFlush();
  }

  /** Flushes again when the earliest change held back by a retry backoff may go. */
  private armBackoff(): void {
    if (this.backoffTimer !== null) clearTimeout(this.backoffTimer);
    this.backoffTimer = null;
    const at = this.state.nextRetryAt();
    if (at === null) return;
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = null;
      this.scheduleFlush();
    }, Math.max(0, at - Date.now()));
  }

  /** Sends what can be sent, once per task: a burst of edits goes out as one frame. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.connection !== "online" || !this.queueReady || !this.ws) return;
    const { requests, settled } = this.state.takeSendable();
    this.armBackoff();
    if (settled.length > 0) {
      this.persist();
      this.emitRecords(settled.map((p) => p.id), "server");
    }
    for (let i = 0; i < requests.length; i += MAX_CHANGES_PER_MESSAGE) {
      this.send({ type: "changes", changes: requests.slice(i, i + MAX_CHANGES_PER_MESSAGE) });
    }
  }

  /** Saves the queue; saves are chained so that they land in order. */
  private persist(): void {
    const key = this.queueKeyStr;
    if (key === null || !this.queueReady) return;
    const snapshot = this.state.pending;
    this.saving = this.saving
      .then(() => this.store.save(key, snapshot))
      .catch((error) => console.warn("quire: could not save the offline queue", error));
  }

  /** Resolves once every queue save issued so far has completed (for tests and unload). */
  whenSaved(): Promise<void> {
    return this.saving;
  }

  private emitRecords(ids: string[], origin: RecordsOrigin): void {
    if (ids.length === 0) return;
    const changed: QuireRecord[] = [];
    const removed: string[] = [];
    for (const id of new Set(ids)) {
      const record = this.state.view(id);
      if (record) changed.push(record);
      else removed.push(id);
    }
    this.events.emit("records", { changed, removed, origin });
  }
}

/** A readable id prefix: `ink-…`, `highlight-…`, `comment-…`. */
function idPrefix(kind: RecordKind, content: JsonObject): string {
  const type = typeof content.type === "string" ? content.type.split("/").pop() : undefined;
  return kind === "annotation" && type ? type.replace(/[^A-Za-z0-9]/g, "") || "annotation" : kind;
}
