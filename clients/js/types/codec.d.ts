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
export function encode(code: number, body?: object): string;
/**
 * MOVE one cell. Throws a `RoomError` (`kind: 'usage'`) for anything but 0, 1, 2 or 3.
 * @param {DirectionValue} direction
 */
export function encodeMove(direction: DirectionValue): string;
/**
 * The messages of one frame: with `batch=1` the server joins several with `\n`.
 * @param {string} data
 * @returns {string[]}
 */
export function splitFrame(data: string): string[];
/**
 * One server message, or `null` if it is not one this client knows (an
 * unknown code, or a body without the fields its code needs): a newer server
 * may send more, and a message we cannot read must not break the connection.
 * @param {string} text
 * @returns {ServerMessage | null}
 */
export function decode(text: string): ServerMessage | null;
/**
 * The server's wire form of a decoded message (the inverse of `decode`), for
 * tests and fake servers.
 * @param {ServerMessage} m
 * @returns {string}
 */
export function encodeServerMessage(m: ServerMessage): string;
/** Client-to-server behaviour codes (PROTOCOL.md §3). */
export const ClientCode: Readonly<{
    ENTER: 10;
    SYNC: 11;
    LEAVE: 19;
    MOVE: 20;
    BUILD: 40;
}>;
/** Server-to-client behaviour codes (PROTOCOL.md §4, §9). */
export const ServerCode: Readonly<{
    ENTER: 10;
    SYNC: 11;
    SEAT: 12;
    RESUMED: 13;
    LEAVE: 19;
    MOVE: 20;
    CLOSE_PRE_CONNECTION: 98;
    ERROR: 99;
}>;
/** Directions of MOVE: 0 up, 1 right, 2 down, 3 left. */
export const Direction: Readonly<{
    UP: 0;
    RIGHT: 1;
    DOWN: 2;
    LEFT: 3;
}>;
export function encodeEnter(roomId: string | number, authorization?: string): string;
export function encodeSync(): string;
export function encodeLeave(): string;
export function encodeBuild(map: RoomMap, ref?: string): string;
export type DirectionValue = 0 | 1 | 2 | 3;
export type Item = {
    name: string;
    x: number;
    y: number;
};
export type RoomMap = {
    side: number;
    gameList: string[];
    objectList: string[];
    games: Record<string, Item>;
    objects: Record<string, Item>;
};
export type WireUser = {
    nickname: string;
    x: number;
    y: number;
};
export type WireRoom = {
    roomId: string | number;
    userCount?: number;
    users: Record<string, WireUser>;
    map?: Partial<RoomMap>;
};
export type EnterMessage = {
    code: 10;
    userId: string;
    nickname: string;
    x: number;
    y: number;
    seq?: number;
};
export type SyncMessage = {
    code: 11;
    room: WireRoom;
    seq?: number;
    ref?: string;
    you?: string;
};
export type SeatMessage = {
    code: 12;
    token: string;
    roomId: string;
};
export type ResumedMessage = {
    code: 13;
    roomId: string;
    seq: number;
    replayed: number;
};
export type LeaveMessage = {
    code: 19;
    userId: string;
    seq?: number;
};
export type MoveMessage = {
    code: 20;
    userId: string;
    direction: number;
    x: number;
    y: number;
    seq?: number;
};
export type ReplacedMessage = {
    code: 98;
    message: string;
};
export type ErrorMessage = {
    code: 99;
    errorCode: number;
    message: string;
    ref?: string;
};
export type ServerMessage = EnterMessage | SyncMessage | SeatMessage | ResumedMessage | LeaveMessage | MoveMessage | ReplacedMessage | ErrorMessage;
