// The room as the server has told it: rebuilt by every SYNC, updated by
// ENTER, LEAVE and MOVE. Pure: a message in, a changed state out, no socket.

/**
 * @typedef {import('./codec.js').Item} Item
 * @typedef {import('./codec.js').ServerMessage} ServerMessage
 * @typedef {{ id: string, nickname: string, x: number, y: number }} User
 * @typedef {{ id: string, side: number, games: Record<string, Item>, objects: Record<string, Item>,
 *             users: Map<string, User> }} Room
 */

/** The side of a map with no stored layout (PROTOCOL.md §4). */
export const DEFAULT_SIDE = 20;

export class RoomState {
  constructor() {
    /** @type {Room | null} the room, once a SYNC arrived */
    this.room = null;
    /** @type {number | null} the `seq` of the last room event this state contains (§9), if the server numbers them */
    this.seq = null;
  }

  /** Forget the room (after LEAVE, or before entering another). */
  clear() {
    this.room = null;
    this.seq = null;
  }

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
  apply(m) {
    if (m.code === 11) {
      this.room = roomFromWire(m.room);
      if (m.seq !== undefined) this.seq = m.seq;
      return 'applied';
    }
    if (!this.room || (m.code !== 10 && m.code !== 19 && m.code !== 20)) return 'ignored';
    let verdict = /** @type {'applied' | 'gap'} */ ('applied');
    if (m.seq !== undefined && this.seq !== null) {
      if (m.seq <= this.seq) return 'stale';
      if (m.seq !== this.seq + 1) verdict = 'gap';
    }
    if (m.seq !== undefined) this.seq = m.seq;
    const users = this.room.users;
    if (m.code === 10) {
      users.set(m.userId, { id: m.userId, nickname: m.nickname, x: m.x, y: m.y });
    } else if (m.code === 19) {
      users.delete(m.userId);
    } else {
      const user = users.get(m.userId);
      if (user) { user.x = m.x; user.y = m.y; }
    }
    return verdict;
  }

  /** Whether cell (x, y) holds a game or an object (it blocks movement). */
  /** @param {number} x @param {number} y */
  isFilled(x, y) {
    const room = this.room;
    if (!room) return false;
    for (const item of Object.values(room.games)) if (item.x === x && item.y === y) return true;
    for (const item of Object.values(room.objects)) if (item.x === x && item.y === y) return true;
    return false;
  }
}

/**
 * @param {import('./codec.js').WireRoom} wire
 * @returns {Room}
 */
export function roomFromWire(wire) {
  const map = wire.map || {};
  /** @type {Map<string, User>} */
  const users = new Map();
  for (const [id, u] of Object.entries(wire.users || {})) {
    users.set(id, { id, nickname: u.nickname, x: u.x, y: u.y });
  }
  return {
    id: String(wire.roomId),
    side: typeof map.side === 'number' ? map.side : DEFAULT_SIDE,
    games: { ...(map.games || {}) },
    objects: { ...(map.objects || {}) },
    users,
  };
}

/**
 * The MAP a BUILD sends for these items (the lists are the keys, PROTOCOL.md §5).
 * @param {number} side
 * @param {Record<string, Item>} games
 * @param {Record<string, Item>} objects
 * @returns {import('./codec.js').RoomMap}
 */
export function mapOf(side, games, objects) {
  return { side, gameList: Object.keys(games), objectList: Object.keys(objects), games, objects };
}
