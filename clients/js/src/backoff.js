// Reconnection delays: exponential, capped, with jitter so that the clients a
// node restart dropped together do not all come back in the same instant.

/**
 * @typedef {object} BackoffOptions
 * @property {number} [initialDelayMs] first delay before jitter (default 500)
 * @property {number} [maxDelayMs] cap before jitter (default 10000)
 * @property {number} [factor] growth per attempt (default 2)
 * @property {number} [jitter] fraction of the delay drawn at random, 0..1 (default 0.5:
 *   a delay of d becomes a uniform draw in [d/2, d])
 * @property {number} [maxAttempts] attempts in a row before giving up (default: never give up)
 */

export const BACKOFF_DEFAULTS = Object.freeze({
  initialDelayMs: 500, maxDelayMs: 10_000, factor: 2, jitter: 0.5, maxAttempts: Infinity,
});

/**
 * The delay before attempt `attempt` (0 = the first retry after a drop).
 * @param {number} attempt
 * @param {BackoffOptions} [options]
 * @param {() => number} [random] uniform in [0, 1)
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt, options = {}, random = Math.random) {
  const o = { ...BACKOFF_DEFAULTS, ...options };
  const base = Math.min(o.maxDelayMs, o.initialDelayMs * o.factor ** Math.max(0, attempt));
  const jitter = Math.min(1, Math.max(0, o.jitter));
  return Math.round(base * (1 - jitter * random()));
}
