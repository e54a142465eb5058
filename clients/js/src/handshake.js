// Where to connect and how to present oneself (PROTOCOL.md §1, §9): the
// route lookup, the handshake URL and subprotocols, the WebSocket to use.

import { RoomError } from './errors.js';

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
export function socketConstructor(given) {
  const ctor = given ?? /** @type {any} */ (globalThis).WebSocket;
  if (typeof ctor !== 'function') {
    throw new RoomError('usage',
      'no WebSocket: pass one as options.WebSocket, or run Node 20 with --experimental-websocket (22+ has one)');
  }
  return ctor;
}

/**
 * `url`, else the WebSocket endpoint on the `http` base's host.
 * @param {{ url?: string, http?: string }} options
 */
export function fallbackUrl({ url, http }) {
  if (url) return url;
  const base = new URL(/** @type {string} */ (http));
  base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  base.pathname = '/library';
  return base.toString();
}

/**
 * The node to connect to for `roomId`: what `GET {http}/rooms/{id}/route`
 * names, else the fallback (not a cluster, no answer within `timeoutMs`).
 * @param {{ url?: string, http?: string, fetch?: typeof fetch, timeoutMs: number }} options
 * @param {string} roomId
 * @returns {Promise<string>}
 */
export async function routeUrl(options, roomId) {
  const fetcher = options.fetch ?? globalThis.fetch;
  if (!options.http || typeof fetcher !== 'function') return fallbackUrl(options);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs);
  try {
    const base = options.http.replace(/\/+$/, '');
    const response = await fetcher(`${base}/rooms/${encodeURIComponent(roomId)}/route`,
      { cache: 'no-store', signal: controller.signal });
    if (response.ok) {
      const body = await response.json();
      if (body && typeof body.url === 'string' && /^wss?:\/\//.test(body.url)) return body.url;
    }
  } catch { /* no route: the fallback */ } finally {
    clearTimeout(timer);
  }
  return fallbackUrl(options);
}

/**
 * The URL and subprotocols of one upgrade. With `seat` (and the `seq` of the
 * last event seen) it resumes that seat; else `resume` opts in with `resume=1`.
 * @param {string} url
 * @param {{ token: string, tokenIn?: 'subprotocol' | 'query', batch?: boolean, resume?: boolean,
 *           seat?: { token: string, seq: number } | null }} how
 * @returns {{ url: string, protocols: string[] | undefined }}
 */
export function handshake(url, how) {
  const target = new URL(url);
  const inQuery = how.tokenIn === 'query';
  if (inQuery) target.searchParams.set('token', how.token);
  if (how.batch) target.searchParams.set('batch', '1');
  if (how.seat) {
    target.searchParams.set('resume', how.seat.token);
    target.searchParams.set('seq', String(how.seat.seq));
  } else if (how.resume !== false) {
    target.searchParams.set('resume', '1');
  }
  // Browsers fail a connection whose server picks none of the offered
  // subprotocols: myroom.v1 is the one it picks (§1).
  return { url: target.toString(), protocols: inQuery ? undefined : ['myroom.v1', `bearer.${how.token}`] };
}
