// The frames of PROTOCOL.md §2-§4 and §9: two ASCII digits, then a JSON object.
// Pure functions only, so they can be tested without a socket.

import { RoomError } from './errors.js';

/** Client-to-server behaviour codes (PROTOCOL.md §3). */
export const ClientCode = Object.freeze({ ENTER: 10, SYNC: 11, LEAVE: 19, MOVE: 20, BUILD: 40 });

/** Server-to-client behaviour codes (PROTOCOL.md §4, §9). */
export const ServerCode = Object.freeze({
  ENTER: 10, SYNC: 11, SEAT: 12, RESUMED: 13, LEAVE: 19, MOVE: 20, CLOSE_PRE_CONNECTION: 98, ERROR: 99,
});

/** Directions of MOVE: 0 up, 1 right, 2 down, 3 left. */
export const Direction = Object.freeze({ UP: 0, RIGHT: 1, DOWN: 2, LEFT: 3 });

/**
 * @typedef {0 | 1 | 2 | 3} DirectionValue
 *
 * @typedef {{ name: string, x: number, y: number }} Item
 * @typedef {{ side: number, gameList: string[], objectList: string[],
 *             games: Record<string, Item>, objects: Record<string, Item> }} RoomMap
 * @typedef {{ nickname: string, x: number, y: number }} WireUser
 * @typedef {{ roomId: string | number, userCount?: number, users: Record<string, WireUser>,
 *             map?: Partial<RoomMap> }} WireRoom
 *
 * @typedef {{ code: 10, userId: string, nickname: string, x: number, y: number, seq?: number }} EnterMessage
 * @typedef {{ code: 11, room: WireRoom, seq?: number, ref?: string, you?: string }} SyncMessage
 * @typedef {{ code: 12, token: string, roomId: string }} SeatMessage
 * @typedef {{ code: 13, roomId: string, seq: number, replayed: number }} ResumedMessage
 * @typedef {{ code: 19, userId: string, seq?: number }} LeaveMessage
 * @typedef {{ code: 20, userId: string, direction: number, x: number, y: number, seq?: number }} MoveMessage
 * @typedef {{ code: 98, message: string }} ReplacedMessage
 * @typedef {{ code: 99, errorCode: number, message: string, ref?: string }} ErrorMessage
 * @typedef {EnterMessage | SyncMessage | SeatMessage | ResumedMessage | LeaveMessage | MoveMessage
 *           | ReplacedMessage | ErrorMessage} ServerMessage
 */

/**
 * One frame for the server.
 * @param {number} code
 * @param {object} [body]
 * @returns {string}
 */
export function encode(code, body = {}) {
  if (!Number.isInteger(code) || code < 10 || code > 99) throw new RangeError(`not a behaviour code: ${code}`);
  return `${code}${JSON.stringify(body)}`;
}

/**
 * ENTER: join `roomId`. `authorization` only for a legacy-mode server.
 * @param {string | number} roomId
 * @param {string} [authorization]
 */
export const encodeEnter = (roomId, authorization) =>
  encode(ClientCode.ENTER, authorization ? { room_id: String(roomId), authorization } : { room_id: String(roomId) });
export const encodeSync = () => encode(ClientCode.SYNC);
export const encodeLeave = () => encode(ClientCode.LEAVE);
/**
 * MOVE one cell. Throws a `RoomError` (`kind: 'usage'`) for anything but 0, 1, 2 or 3.
 * @param {DirectionValue} direction
 */
export function encodeMove(direction) {
  if (direction !== 0 && direction !== 1 && direction !== 2 && direction !== 3) {
    throw new RoomError('usage', `direction must be 0, 1, 2 or 3, not ${String(direction)}`);
  }
  return encode(ClientCode.MOVE, { direction });
}
/**
 * BUILD `map`; `ref` names the request, and the server echoes it in the
 * builder's SYNC or ERROR that answers it (PROTOCOL.md §5).
 * @param {RoomMap} map
 * @param {string} [ref]
 */
export const encodeBuild = (map, ref) => encode(ClientCode.BUILD, ref === undefined ? { map } : { map, ref });

/**
 * The messages of one frame: with `batch=1` the server joins several with `\n`.
 * @param {string} data
 * @returns {string[]}
 */
export function splitFrame(data) {
  return data.split('\n').filter((line) => line.length > 0);
}

/** @param {unknown} v @returns {v is Record<string, unknown>} */
const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
/** @param {unknown} v @returns {v is number} */
const isInt = (v) => typeof v === 'number' && Number.isInteger(v);
/** @param {unknown} v */
const isId = (v) => typeof v === 'string' || isInt(v);
/** @param {Record<string, unknown>} body */
const seqOf = (body) => (isInt(body.seq) && body.seq >= 0 ? { seq: body.seq } : {});
/** @param {Record<string, unknown>} body */
const refOf = (body) => (typeof body.ref === 'string' ? { ref: body.ref } : {});

/**
 * One server message, or `null` if it is not one this client knows (an
 * unknown code, or a body without the fields its code needs): a newer server
 * may send more, and a message we cannot read must not break the connection.
 * @param {string} text
 * @returns {ServerMessage | null}
 */
export function decode(text) {
  if (text.length < 2 || !/^[0-9]{2}$/.test(text.slice(0, 2))) return null;
  const code = Number(text.slice(0, 2));
  /** @type {unknown} */
  let parsed = {};
  if (text.length > 2) {
    try { parsed = JSON.parse(text.slice(2)); } catch { return null; }
  }
  if (!isObject(parsed)) return null;
  const b = parsed;
  switch (code) {
    case ServerCode.ENTER:
      if (!isId(b.user_id) || !isInt(b.x) || !isInt(b.y)) return null;
      return { code, userId: String(b.user_id), nickname: typeof b.nickname === 'string' ? b.nickname : '', x: b.x, y: b.y, ...seqOf(b) };
    case ServerCode.SYNC: {
      const room = b.room;
      if (!isObject(room) || !isId(room.roomId) || !isObject(room.users)) return null;
      const you = isId(b.you) ? { you: String(b.you) } : {};
      return { code, room: /** @type {WireRoom} */ (/** @type {unknown} */ (room)), ...seqOf(b), ...refOf(b), ...you };
    }
    case ServerCode.SEAT:
      if (typeof b.token !== 'string' || !isId(b.room_id)) return null;
      return { code, token: b.token, roomId: String(b.room_id) };
    case ServerCode.RESUMED:
      if (!isId(b.room_id) || !isInt(b.seq) || !isInt(b.replayed)) return null;
      return { code, roomId: String(b.room_id), seq: b.seq, replayed: b.replayed };
    case ServerCode.LEAVE:
      if (!isId(b.user_id)) return null;
      return { code, userId: String(b.user_id), ...seqOf(b) };
    case ServerCode.MOVE:
      if (!isId(b.user_id) || !isInt(b.direction) || !isInt(b.x) || !isInt(b.y)) return null;
      return { code, userId: String(b.user_id), direction: b.direction, x: b.x, y: b.y, ...seqOf(b) };
    case ServerCode.CLOSE_PRE_CONNECTION:
      return { code, message: typeof b.message === 'string' ? b.message : '' };
    case ServerCode.ERROR:
      if (!isInt(b.code)) return null;
      return { code, errorCode: b.code, message: typeof b.message === 'string' ? b.message : '', ...refOf(b) };
    default:
      return null;
  }
}

/**
 * The server's wire form of a decoded message (the inverse of `decode`), for
 * tests and fake servers.
 * @param {ServerMessage} m
 * @returns {string}
 */
export function encodeServerMessage(m) {
  /** @param {object} body @param {number} [seq] */
  const withSeq = (body, seq) => (seq === undefined ? body : { ...body, seq });
  /** @param {object} body @param {string} [ref] */
  const withRef = (body, ref) => (ref === undefined ? body : { ...body, ref });
  switch (m.code) {
    case 10: return encode(10, withSeq({ user_id: m.userId, nickname: m.nickname, x: m.x, y: m.y }, m.seq));
    case 11: return encode(11, withRef(withSeq(m.you === undefined ? { room: m.room } : { room: m.room, you: m.you }, m.seq), m.ref));
    case 12: return encode(12, { token: m.token, room_id: m.roomId });
    case 13: return encode(13, { room_id: m.roomId, seq: m.seq, replayed: m.replayed });
    case 19: return encode(19, withSeq({ user_id: m.userId }, m.seq));
    case 20: return encode(20, withSeq({ user_id: m.userId, direction: m.direction, x: m.x, y: m.y }, m.seq));
    case 98: return encode(98, { message: m.message });
    case 99: return encode(99, withRef({ code: m.errorCode, message: m.message }, m.ref));
  }
}
