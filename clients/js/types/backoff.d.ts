/**
 * The delay before attempt `attempt` (0 = the first retry after a drop).
 * @param {number} attempt
 * @param {BackoffOptions} [options]
 * @param {() => number} [random] uniform in [0, 1)
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt: number, options?: BackoffOptions, random?: () => number): number;
/**
 * @typedef {object} BackoffOptions
 * @property {number} [initialDelayMs] first delay before jitter (default 500)
 * @property {number} [maxDelayMs] cap before jitter (default 10000)
 * @property {number} [factor] growth per attempt (default 2)
 * @property {number} [jitter] fraction of the delay drawn at random, 0..1 (default 0.5:
 *   a delay of d becomes a uniform draw in [d/2, d])
 * @property {number} [maxAttempts] attempts in a row before giving up (default: never give up)
 */
export const BACKOFF_DEFAULTS: Readonly<{
    initialDelayMs: 500;
    maxDelayMs: 10000;
    factor: 2;
    jitter: 0.5;
    maxAttempts: number;
}>;
export type BackoffOptions = {
    /**
     * first delay before jitter (default 500)
     */
    initialDelayMs?: number | undefined;
    /**
     * cap before jitter (default 10000)
     */
    maxDelayMs?: number | undefined;
    /**
     * growth per attempt (default 2)
     */
    factor?: number | undefined;
    /**
     * fraction of the delay drawn at random, 0..1 (default 0.5:
     * a delay of d becomes a uniform draw in [d/2, d])
     */
    jitter?: number | undefined;
    /**
     * attempts in a row before giving up (default: never give up)
     */
    maxAttempts?: number | undefined;
};
