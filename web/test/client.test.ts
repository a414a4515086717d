import "fake-indexeddb/auto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { QuireClient, type ClientOptions } from "../src/client/client";
import { IndexedDbQueueStore, MemoryQueueStore, type QueueStore } from "../src/client/queue-store";
import type { RejectOutcome } from "../src/client/sync-state";
import { FakeSocket } from "./fake-socket";
import { ack, change, ink, record, reject, welcome } from "./fixtures";

/** A network whose online state the test controls (the browser's `window`, in production). */
class FakeNetwork extends EventTarget {
  navigator = { onLine: true };
  set(onLine: boolean) {
    this.navigator.onLine = onLine;
    this.dispatchEvent(new Event(onLine ? "online" : "offline"));
  }
}

function makeClient(store: QueueStore, network = new FakeNetwork(), extra: Partial<ClientOptions> = {}) {
  return new QuireClient({
    token: "tok",
    baseUrl: "http://quire.test",
    store,
    WebSocket: FakeSocket,
    network,
    backoff: { initialMs: 1, maxMs: 1 },
    heartbeatMs: 60_000,
    ...extra,
  });
}

/** Connects and answers the hello with `w`; resolves once the client is ready. */
async function join(client: QuireClient, w = welcome([], 0)) {
  const ready = client.connect();
  const socket = FakeSocket.latest();
  socket.accept();
  socket.push(w);
  await ready;
  await settle();
  return socket;
}

/** Lets microtasks and pending IndexedDB work run. */
async function settle() {
  await new Promise((resolve) => setTimeout(resolve, 5));
}

beforeEach(() => {
  FakeSocket.all = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe("QuireClient", () => {
  it("sends hello with the token (never in the URL) and joins", async () => {
    const client = makeClient(new MemoryQueueStore());
    const states: string[] = [];
    client.on("connection", ({ state }) => states.push(state));
    const socket = await join(client, welcome([record("a", 1, ink())], 1));
    expect(socket.url).toBe("ws://quire.test/api/client/ws");
    expect(socket.sent[0]).toEqual({ type: "hello", token: "tok", protocol: 1 });
    expect(states).toEqual(["connecting", "online"]);
    expect(client.getRecords().map((r) => r.id)).toEqual(["a"]);
    client.close();
  });

  it("batches local changes into one frame and reconciles the acks", async () => {
    const client = makeClient(new MemoryQueueStore());
    const socket = await join(client);
    client.create("annotation", ink(), "x");
    client.create("annotation", ink(1), "y");
    await settle();
    expect(socket.sent.filter((m) => m.type === "changes")).toHaveLength(1);
    const [cx, cy] = socket.changes();
    socket.push(ack(cx.client_id, 1));
    socket.push(ack(cy.client_id, 2));
    expect(client.pendingChanges).toEqual([]);
    expect(client.getRecord("y")?.rev).toBe(2);
    client.close();
  });

  it("emits rejected and rolls back a refused change", async () => {
    const client = makeClient(new MemoryQueueStore());
    const socket = await join(client, welcome([record("a", 1, ink())], 1));
    const rejected: RejectOutcome[] = [];
    client.on("rejected", (r) => rejected.push(r));
    client.update("a", ink(0, "#00ff00"));
    await settle();
    socket.push(reject(socket.changes()[0].client_id, "not_permitted"));
    expect(rejected.map((r) => r.resolution)).toEqual(["rolled_back"]);
    expect(client.getRecord("a")?.content.strokeColor).toBe("#ff0000");
    client.close();
  });

  it("queues changes while offline and flushes them in order after a hello with since", async () => {
    const network = new FakeNetwork();
    const store = new MemoryQueueStore();
    // A long backoff: only the `online` event may bring the connection back in this test.
    const client = makeClient(store, network, { backoff: { initialMs: 60_000, maxMs: 60_000 } });
    const first = await join(client, welcome([record("a", 4, ink())], 4));
    first.push(change(5, record("b", 5, ink())));

    network.set(false); // the client drops the socket at once
    expect(client.connectionState).toBe("offline");
    client.update("a", ink(0, "#000001"));
    client.create("annotation", ink(2), "c");
    client.delete("b");
    await settle();
    expect(FakeSocket.all).toHaveLength(1); // no attempt until the network is back
    expect(first.changes()).toEqual([]);
    await client.whenSaved();
    expect((await store.load(JSON.stringify(["paper", "", "ada"]))).map((p) => p.op)).toEqual(["update", "create", "delete"]);

    network.set(true);
    const second = FakeSocket.latest();
    expect(second).not.toBe(first);
    second.accept();
    expect(second.sent[0]).toEqual({ type: "hello", token: "tok", protocol: 1, since: 5 });
    second.push(welcome(null, 5, []));
    await settle();
    expect(second.changes().map((c) => [c.op, c.id, c.base_rev])).toEqual([
      ["update", "a", 4],
      ["create", "c", undefined],
      ["delete", "b", 5],
    ]);
    client.close();
  });

  it("reconnects with backoff after an abnormal close", async () => {
    const client = makeClient(new MemoryQueueStore());
    const first = await join(client);
    const states: string[] = [];
    client.on("connection", ({ state }) => states.push(state));
    first.drop(1006);
    await vi.waitFor(() => expect(FakeSocket.all).toHaveLength(2));
    expect(states).toEqual(["reconnecting"]);
    client.close();
  });

  it("gives up on a socket that sends no welcome and reconnects with growing backoff", async () => {
    vi.useFakeTimers();
    const client = makeClient(new MemoryQueueStore(), new FakeNetwork(), {
      welcomeTimeoutMs: 10_000,
      backoff: { initialMs: 1_000, maxMs: 60_000 },
      random: () => 1,
    });
    const retries: (number | undefined)[] = [];
    client.on("connection", ({ state, retryInMs }) => {
      if (state === "reconnecting") retries.push(retryInMs);
    });
    const ready = client.connect();
    FakeSocket.latest().accept(); // the upgrade succeeds, the welcome never comes
    await vi.advanceTimersByTimeAsync(9_999);
    expect(FakeSocket.latest().closedByClient).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all[0].closedByClient).toBe(1000);
    expect(retries).toEqual([1_000]);

    await vi.advanceTimersByTimeAsync(1_000);
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.latest().accept();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(FakeSocket.all[1].closedByClient).toBe(1000);
    expect(retries).toEqual([1_000, 2_000]);

    // The third socket is welcomed: the client joins and the timer no longer fires.
    await vi.advanceTimersByTimeAsync(2_000);
    const third = FakeSocket.latest();
    expect(FakeSocket.all).toHaveLength(3);
    third.accept();
    third.push(welcome([], 0));
    await vi.advanceTimersByTimeAsync(20_000);
    await ready;
    expect(third.closedByClient).toBeNull();
    expect(client.connectionState).toBe("online");
    client.close();
  });

  it("starts the welcome timer over on each socket, and a socket that never opens counts too", async () => {
    vi.useFakeTimers();
    const client = makeClient(new MemoryQueueStore(), new FakeNetwork(), { welcomeTimeoutMs: 5_000 });
    void client.connect().catch(() => {});
    // Never accepted (a connect that hangs): abandoned all the same.
    await vi.advanceTimersByTimeAsync(5_000);
    expect(FakeSocket.all[0].closedByClient).toBe(1000);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all).toHaveLength(2);
    // A welcomed session that later drops gets a fresh timer on its next socket.
    const second = FakeSocket.latest();
    second.accept();
    second.push(welcome([], 0));
    await vi.advanceTimersByTimeAsync(4_000);
    second.drop(1006);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all).toHaveLength(3);
    FakeSocket.latest().accept();
    await vi.advanceTimersByTimeAsync(4_999);
    expect(FakeSocket.latest().closedByClient).toBeNull();
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.latest().closedByClient).toBe(1000);
    client.close();
  });

  it("stops on a terminal close and reports it", async () => {
    const client = makeClient(new MemoryQueueStore());
    const socket = await join(client);
    const closed: unknown[] = [];
    client.on("sessionClosed", (e) => closed.push(e));
    socket.drop(4003, "token_revoked: the session token has been revoked");
    await settle();
    expect(closed).toEqual([{ code: 4003, name: "token_revoked", reason: "token_revoked: the session token has been revoked" }]);
    expect(FakeSocket.all).toHaveLength(1);
    expect(client.connectionState).toBe("offline");
  });

  it("keeps the queue in IndexedDB across a reload and sends it after the next welcome", async () => {
    const store = new IndexedDbQueueStore(indexedDB, "quire-test-reload");
    const network = new FakeNetwork();
    const before = makeClient(store, network);
    await join(before, welcome([record("a", 1, ink())], 1));
    network.set(false);
    before.create("annotation", ink(3), "offline-ink");
    await before.whenSaved();
    before.close();

    FakeSocket.all = [];
    const after = makeClient(new IndexedDbQueueStore(indexedDB, "quire-test-reload"));
    const socket = await join(after, welcome([record("a", 1, ink())], 1));
    expect(after.getRecord("offline-ink")?.content).toEqual(ink(3));
    expect(socket.changes()).toMatchObject([{ op: "create", id: "offline-ink" }]);
    socket.push(ack(socket.changes()[0].client_id, 2));
    await after.whenSaved();
    expect(await store.load(JSON.stringify(["paper", "", "ada"]))).toEqual([]);
    after.close();
  });

  it("tracks presence from the welcome and presence events", async () => {
    const client = makeClient(new MemoryQueueStore());
    const w = welcome([], 0);
    w.presence = [{ session_id: "s2", user_id: "bo", user_name: "Bo", state: null }];
    const socket = await join(client, w);
    socket.push({ type: "presence", event: "state", session_id: "s2", user_id: "bo", state: { page: 3 } });
    socket.push({ type: "presence", event: "joined", session: { session_id: "s3", user_id: "cy", user_name: "Cy", state: null } });
    socket.push({ type: "presence", event: "left", session_id: "s3", user_id: "cy" });
    expect(client.presence).toEqual([{ session_id: "s2", user_id: "bo", user_name: "Bo", state: { page: 3 } }]);
    client.close();
  });

  it("applies a presence batch in order, with one presence event for the whole batch", async () => {
    const client = makeClient(new MemoryQueueStore());
    const w = welcome([], 0);
    w.presence = [{ session_id: "s2", user_id: "bo", user_name: "Bo", state: null }];
    const socket = await join(client, w);
    const seen: number[] = [];
    client.on("presence", ({ peers }) => seen.push(peers.length));
    socket.push({
      type: "presence",
      event: "batch",
      events: [
        { event: "joined", session: { session_id: "s3", user_id: "cy", user_name: "Cy", state: null } },
        { event: "state", session_id: "s3", user_id: "cy", state: { page: 1 } },
        { event: "left", session_id: "s2", user_id: "bo" },
        { event: "joined", session: { session_id: "s4", user_id: "di", user_name: null, state: null } },
      ],
    });
    expect(seen).toEqual([2]);
    expect(client.presence).toEqual([
      { session_id: "s3", user_id: "cy", user_name: "Cy", state: { page: 1 } },
      { session_id: "s4", user_id: "di", user_name: null, state: null },
    ]);
    client.close();
  });
});
