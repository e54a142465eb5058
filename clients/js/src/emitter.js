// A small typed event emitter: EventTarget would do in both runtimes, but its
// listeners get Event objects, which loses the payload types.

/** @template {Record<string, unknown>} Events */
export class Emitter {
  constructor() {
    /** @type {Map<keyof Events, Set<(payload: any) => void>>} */
    this.listeners = new Map();
  }

  /**
   * Call `listener` for every `event`; returns a function that stops it.
   * @template {keyof Events} K
   * @param {K} event
   * @param {(payload: Events[K]) => void} listener
   * @returns {() => void}
   */
  on(event, listener) {
    let set = this.listeners.get(event);
    if (!set) { set = new Set(); this.listeners.set(event, set); }
    set.add(listener);
    return () => this.off(event, listener);
  }

  /**
   * @template {keyof Events} K
   * @param {K} event
   * @param {(payload: Events[K]) => void} listener
   */
  off(event, listener) {
    this.listeners.get(event)?.delete(listener);
  }

  /**
   * The next `event` (that `accept` accepts), as a promise.
   * @template {keyof Events} K
   * @param {K} event
   * @param {(payload: Events[K]) => boolean} [accept]
   * @returns {Promise<Events[K]>}
   */
  once(event, accept = () => true) {
    return new Promise((resolve) => {
      const stop = this.on(event, (payload) => {
        if (!accept(payload)) return;
        stop();
        resolve(payload);
      });
    });
  }

  /**
   * A listener that throws stops neither the others nor the client, nor the
   * process: what it threw goes to `console.error` (re-throwing it later would
   * end a Node process as an uncaught exception).
   * @template {keyof Events} K
   * @param {K} event
   * @param {Events[K]} payload
   */
  emit(event, payload) {
    for (const listener of [...(this.listeners.get(event) || [])]) {
      try {
        listener(payload);
      } catch (e) {
        try { console.error(`myroom-client: a '${String(event)}' listener threw:`, e); } catch { /* no console */ }
      }
    }
  }
}
