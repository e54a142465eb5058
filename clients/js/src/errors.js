// The error codes of PROTOCOL.md §6 and the one error type this client throws.

/** What each ERROR code means (PROTOCOL.md §6). */
export const ErrorCode = Object.freeze({
  PARSE: 76100,
  REPLACED: 76101,
  NOT_IN_ROOM: 76102,
  UNAUTHORIZED: 76401,
  FORBIDDEN: 76403,
  ROOM_NOT_FOUND: 76404,
  SEAT_EXPIRED: 76408,
  ROOM_FULL: 76409,
  INVALID_MAP: 76410,
  FRAME_TOO_LARGE: 76413,
  RATE_LIMITED: 76429,
  UNAVAILABLE: 76503,
  CODE_NOT_ALLOWED: 76900,
  SERVER_ERROR: 76999,
});

/** @type {Readonly<Record<number, string>>} */
export const ERROR_TEXT = Object.freeze({
  76100: 'message cannot be parsed',
  76101: 'entered the same room again elsewhere; this socket is replaced',
  76102: 'not in a room yet',
  76401: 'unauthorized',
  76403: 'no permission',
  76404: 'room (owner) not found',
  76408: 'seat expired; enter again',
  76409: 'room is full',
  76410: 'invalid map',
  76413: 'frame too large',
  76429: 'too many messages; slow down',
  76503: 'a backing service is unavailable; try again',
  76900: 'behaviour code not allowed',
  76999: 'unexpected server error',
});

// Codes after which trying the same ENTER again is pointless: the client stops.
const REFUSALS = new Set([76401, 76403, 76404, 76409, 76410]);

/**
 * Where a `RoomError` came from:
 * - `server`: an ERROR (99) frame; `code` is its code;
 * - `closed`: the connection ended for good (`closeCode` says how);
 * - `timeout`: the server did not answer in time;
 * - `auth`: the server refused the access token at the handshake (HTTP 401,
 *   learnt from `POST /auth/check`); `code` is 76401;
 * - `usage`: the call cannot be made now (not connected, no WebSocket, a bad argument, ...).
 * @typedef {'server' | 'closed' | 'timeout' | 'auth' | 'usage'} RoomErrorKind
 */

export class RoomError extends Error {
  /**
   * @param {RoomErrorKind} kind
   * @param {string} message
   * @param {{ code?: number, closeCode?: number, serverMessage?: string }} [details]
   */
  constructor(kind, message, details = {}) {
    super(message);
    this.name = 'RoomError';
    /** @type {RoomErrorKind} */
    this.kind = kind;
    /** The ERROR code (76xxx) for `kind: 'server'`, else 0. */
    this.code = details.code ?? 0;
    /** The WebSocket close code for `kind: 'closed'`, else 0. */
    this.closeCode = details.closeCode ?? 0;
    /** The server's own words, if it sent any. */
    this.serverMessage = details.serverMessage ?? '';
  }

  /** A refusal: the same request will be refused again (76401, 76403, 76404, 76409, 76410, and `kind: 'auth'`). */
  get isRefusal() {
    return this.kind === 'auth' || (this.kind === 'server' && REFUSALS.has(this.code));
  }

  /**
   * @param {number} code
   * @param {string} [serverMessage]
   */
  static fromServer(code, serverMessage = '') {
    const text = ERROR_TEXT[code] ?? 'error';
    return new RoomError('server', `${text} (${code})${serverMessage ? `: ${serverMessage}` : ''}`, { code, serverMessage });
  }
}
