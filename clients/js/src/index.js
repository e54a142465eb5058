// myroom-client: a client for myroom rooms (PROTOCOL.md v1.1) in browsers and Node.
export { RoomClient } from './client.js';
export { RoomError, ErrorCode, ERROR_TEXT } from './errors.js';
export { RoomState, roomFromWire, mapOf, DEFAULT_SIDE } from './state.js';
export {
  ClientCode, ServerCode, Direction, encode, decode, splitFrame, encodeServerMessage,
  encodeEnter, encodeSync, encodeLeave, encodeMove, encodeBuild,
} from './codec.js';
export { backoffDelay, BACKOFF_DEFAULTS } from './backoff.js';
export { Emitter } from './emitter.js';
export { handshake } from './handshake.js';

/**
 * @typedef {import('./state.js').Room} Room
 * @typedef {import('./state.js').User} User
 * @typedef {import('./codec.js').Item} Item
 * @typedef {import('./codec.js').RoomMap} RoomMap
 * @typedef {import('./codec.js').ServerMessage} ServerMessage
 * @typedef {import('./codec.js').DirectionValue} DirectionValue
 * @typedef {import('./client.js').ClientOptions} ClientOptions
 * @typedef {import('./client.js').ClientEvents} ClientEvents
 * @typedef {import('./client.js').Status} Status
 * @typedef {import('./handshake.js').SocketConstructor} SocketConstructor
 * @typedef {import('./errors.js').RoomErrorKind} RoomErrorKind
 * @typedef {import('./backoff.js').BackoffOptions} BackoffOptions
 */
