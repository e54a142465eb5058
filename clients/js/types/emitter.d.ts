/** @template {Record<string, unknown>} Events */
export class Emitter<Events extends Record<string, unknown>> {
    /** @type {Map<keyof Events, Set<(payload: any) => void>>} */
    listeners: Map<keyof Events, Set<(payload: any) => void>>;
    /**
     * Call `listener` for every `event`; returns a function that stops it.
     * @template {keyof Events} K
     * @param {K} event
     * @param {(payload: Events[K]) => void} listener
     * @returns {() => void}
     */
    on<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): () => void;
    /**
     * @template {keyof Events} K
     * @param {K} event
     * @param {(payload: Events[K]) => void} listener
     */
    off<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): void;
    /**
     * The next `event` (that `accept` accepts), as a promise.
     * @template {keyof Events} K
     * @param {K} event
     * @param {(payload: Events[K]) => boolean} [accept]
     * @returns {Promise<Events[K]>}
     */
    once<K extends keyof Events>(event: K, accept?: (payload: Events[K]) => boolean): Promise<Events[K]>;
    /**
     * A listener that throws stops neither the others nor the client, nor the
     * process: what it threw goes to `console.error` (re-throwing it later would
     * end a Node process as an uncaught exception).
     * @template {keyof Events} K
     * @param {K} event
     * @param {Events[K]} payload
     */
    emit<K extends keyof Events>(event: K, payload: Events[K]): void;
}
