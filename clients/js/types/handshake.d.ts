/**
 * @typedef {object} SocketLike The part of the WebSocket API this client uses. The
 *   handlers take `any`: the browser's, Node 20's and Node 22's `WebSocket` each type
 *   their events their own way (`MessageEvent`, `CloseEvent`, undici's), and a
 *   parameter narrower than theirs would refuse their class under `--strict`. This
 *   client reads `event.data` (a string) and `event.code`, `event.reason`.
 * @property {number} readyState
 * @property {(data: string) => void} send
 * @property {(code?: number, reason?: string) => void} close
 * @property {((event: any) => any) | null} onopen
 * @property {((event: any) => any) | null} onmessage
 * @property {((event: any) => any) | null} onclose
 * @property {((event: any) => any) | null} onerror
 *
 * @typedef {new (url: string, protocols?: string | string[]) => SocketLike} SocketConstructor
 */
/**
 * The WebSocket class: the one given, else the runtime's.
 * @param {SocketConstructor | undefined} given
 * @returns {SocketConstructor}
 */
export function socketConstructor(given: SocketConstructor | undefined): SocketConstructor;
/**
 * `url`, else the WebSocket endpoint on the `http` base's host.
 * @param {{ url?: string, http?: string }} options
 */
export function fallbackUrl({ url, http }: {
    url?: string;
    http?: string;
}): string;
/**
 * The node to connect to for `roomId`: what `GET {http}/rooms/{id}/route`
 * names, else the fallback (not a cluster, no answer within `timeoutMs`).
 * @param {{ url?: string, http?: string, fetch?: typeof fetch, timeoutMs: number }} options
 * @param {string} roomId
 * @returns {Promise<string>}
 */
export function routeUrl(options: {
    url?: string;
    http?: string;
    fetch?: typeof fetch;
    timeoutMs: number;
}, roomId: string): Promise<string>;
/**
 * The URL and subprotocols of one upgrade. With `seat` (and the `seq` of the
 * last event seen) it resumes that seat; else `resume` opts in with `resume=1`.
 * @param {string} url
 * @param {{ token: string, tokenIn?: 'subprotocol' | 'query', batch?: boolean, resume?: boolean,
 *           seat?: { token: string, seq: number } | null }} how
 * @returns {{ url: string, protocols: string[] | undefined }}
 */
export function handshake(url: string, how: {
    token: string;
    tokenIn?: "subprotocol" | "query";
    batch?: boolean;
    resume?: boolean;
    seat?: {
        token: string;
        seq: number;
    } | null;
}): {
    url: string;
    protocols: string[] | undefined;
};
/**
 * The part of the WebSocket API this client uses. The
 *   handlers take `any`: the browser's, Node 20's and Node 22's `WebSocket` each type
 *   their events their own way (`MessageEvent`, `CloseEvent`, undici's), and a
 *   parameter narrower than theirs would refuse their class under `--strict`. This
 *   client reads `event.data` (a string) and `event.code`, `event.reason`.
 */
export type SocketLike = {
    readyState: number;
    send: (data: string) => void;
    close: (code?: number, reason?: string) => void;
    onopen: ((event: any) => any) | null;
    onmessage: ((event: any) => any) | null;
    onclose: ((event: any) => any) | null;
    onerror: ((event: any) => any) | null;
};
export type SocketConstructor = new (url: string, protocols?: string | string[]) => SocketLike;
