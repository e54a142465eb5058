/**
 * @param {import('./codec.js').WireRoom} wire
 * @returns {Room}
 */
export function roomFromWire(wire: import("./codec.js").WireRoom): Room;
/**
 * The MAP a BUILD sends for these items (the lists are the keys, PROTOCOL.md §5).
 * @param {number} side
 * @param {Record<string, Item>} games
 * @param {Record<string, Item>} objects
 * @returns {import('./codec.js').RoomMap}
 */
export function mapOf(side: number, games: Record<string, Item>, objects: Record<string, Item>): import("./codec.js").RoomMap;
/**
 * @typedef {import('./codec.js').Item} Item
 * @typedef {import('./codec.js').ServerMessage} ServerMessage
 * @typedef {{ id: string, nickname: string, x: number, y: number }} User
 * @typedef {{ id: string, side: number, games: Record<string, Item>, objects: Record<string, Item>,
 *             users: Map<string, User> }} Room
 */
/** The side of a map with no stored layout (PROTOCOL.md §4). */
export const DEFAULT_SIDE: 20;
export class RoomState {
    /** @type {Room | null} the room, once a SYNC arrived */
    room: Room | null;
    /** @type {number | null} the `seq` of the last room event this state contains (§9), if the server numbers them */
    seq: number | null;
    /** Forget the room (after LEAVE, or before entering another). */
    clear(): void;
    /**
     * Apply one server message. Returns what it did:
     * - `applied`: the state changed (or a SYNC replaced it);
     * - `stale`: a numbered event this state already contains (a replay overlap): ignored;
     * - `gap`: a numbered event after a missing one: applied, but the state may
     *   be behind (ask for a SYNC);
     * - `ignored`: not a room message, or no room yet.
     * @param {ServerMessage} m
     * @returns {'applied' | 'stale' | 'gap' | 'ignored'}
     */
    apply(m: ServerMessage): "applied" | "stale" | "gap" | "ignored";
    /** Whether cell (x, y) holds a game or an object (it blocks movement). */
    /** @param {number} x @param {number} y */
    isFilled(x: number, y: number): boolean;
}
export type Item = import("./codec.js").Item;
export type ServerMessage = import("./codec.js").ServerMessage;
export type User = {
    id: string;
    nickname: string;
    x: number;
    y: number;
};
export type Room = {
    id: string;
    side: number;
    games: Record<string, Item>;
    objects: Record<string, Item>;
    users: Map<string, User>;
};
