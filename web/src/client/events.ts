/**
 * A minimal typed event emitter. Handlers run synchronously in registration order; one that
 * throws is reported and does not stop the others (a buggy UI handler must not break sync).
 */
export type Handler<T> = (payload: T) => void;

export class Emitter<Events extends object> {
  private handlers = new Map<keyof Events, Set<Handler<never>>>();

  /** Registers `handler`; returns a function that unregisters it. */
  on<K extends keyof Events>(name: K, handler: Handler<Events[K]>): () => void {
    let set = this.handlers.get(name);
    if (!set) this.handlers.set(name, (set = new Set()));
    set.add(handler);
    return () => this.off(name, handler);
  }

  off<K extends keyof Events>(name: K, handler: Handler<Events[K]>): void {
    this.handlers.get(name)?.delete(handler);
  }

  emit<K extends keyof Events>(name: K, payload: Events[K]): void {
    for (const handler of [...(this.handlers.get(name) ?? [])]) {
      try {
        (handler as Handler<Events[K]>)(payload);
      } catch (error) {
        console.error(`quire: a "${String(name)}" handler threw`, error);
      }
    }
  }

  /** Drops every handler (on unload). */
  clear(): void {
    this.handlers.clear();
  }
}
