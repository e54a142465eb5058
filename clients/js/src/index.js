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
