export { RoomClient } from "./client.js";
export { Emitter } from "./emitter.js";
export { RoomError, ErrorCode, ERROR_TEXT } from "./errors.js";
export { RoomState, roomFromWire, mapOf, DEFAULT_SIDE } from "./state.js";
export { ClientCode, ServerCode, Direction, encode, decode, splitFrame, encodeServerMessage, encodeEnter, encodeSync, encodeLeave, encodeMove, encodeBuild } from "./codec.js";
export { backoffDelay, BACKOFF_DEFAULTS } from "./backoff.js";
