/** What each ERROR code means (PROTOCOL.md §6). */
export const ErrorCode: Readonly<{
    PARSE: 76100;
    REPLACED: 76101;
    NOT_IN_ROOM: 76102;
    UNAUTHORIZED: 76401;
    FORBIDDEN: 76403;
    ROOM_NOT_FOUND: 76404;
    SEAT_EXPIRED: 76408;
    ROOM_FULL: 76409;
    INVALID_MAP: 76410;
    FRAME_TOO_LARGE: 76413;
    RATE_LIMITED: 76429;
    UNAVAILABLE: 76503;
    CODE_NOT_ALLOWED: 76900;
    SERVER_ERROR: 76999;
}>;
/** @type {Readonly<Record<number, string>>} */
export const ERROR_TEXT: Readonly<Record<number, string>>;
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
     * @param {number} code
     * @param {string} [serverMessage]
     */
    static fromServer(code: number, serverMessage?: string): RoomError;
    /**
     * @param {RoomErrorKind} kind
     * @param {string} message
     * @param {{ code?: number, closeCode?: number, serverMessage?: string }} [details]
     */
    constructor(kind: RoomErrorKind, message: string, details?: {
        code?: number;
        closeCode?: number;
        serverMessage?: string;
    });
    /** @type {RoomErrorKind} */
    kind: RoomErrorKind;
    /** The ERROR code (76xxx) for `kind: 'server'`, else 0. */
    code: number;
    /** The WebSocket close code for `kind: 'closed'`, else 0. */
    closeCode: number;
    /** The server's own words, if it sent any. */
    serverMessage: string;
    /** A refusal: the same request will be refused again (76401, 76403, 76404, 76409, 76410, and `kind: 'auth'`). */
    get isRefusal(): boolean;
}
/**
 * Where a `RoomError` came from:
 * - `server`: an ERROR (99) frame; `code` is its code;
 * - `closed`: the connection ended for good (`closeCode` says how);
 * - `timeout`: the server did not answer in time;
 * - `auth`: the server refused the access token at the handshake (HTTP 401,
 *   learnt from `POST /auth/check`); `code` is 76401;
 * - `usage`: the call cannot be made now (not connected, no WebSocket, a bad argument, ...).
 */
export type RoomErrorKind = "server" | "closed" | "timeout" | "auth" | "usage";
