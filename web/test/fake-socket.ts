/**
 * A scripted stand-in for the browser's WebSocket: the test plays the server, accepting
 * sockets, reading what the client sent and pushing messages or closes.
 */
import type { SocketLike } from "../src/client/client";
import type { ClientMessage, ServerMessage } from "../src/client/types";

export class FakeSocket implements SocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onmessage: ((ev: MessageEvent) => unknown) | null = null;
  onclose: ((ev: CloseEvent) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  readonly sent: ClientMessage[] = [];
  closedByClient: number | null = null;

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }

  static latest(): FakeSocket {
    const socket = FakeSocket.all.at(-1);
    if (!socket) throw new Error("no socket opened");
    return socket;
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as ClientMessage);
  }

  close(code = 1000): void {
    this.closedByClient = code;
    this.readyState = 3;
  }

  /** The server accepts the connection (the client then sends hello). */
  accept(): void {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }

  push(msg: ServerMessage): void {
    this.onmessage?.({ data: JSON.stringify(msg) } as MessageEvent);
  }

  /** The connection ends with `code`. */
  drop(code = 1006, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason } as CloseEvent);
  }

  /** The `changes` messages the client sent, flattened. */
  changes() {
    return this.sent.flatMap((m) => (m.type === "changes" ? m.changes : []));
  }
}
