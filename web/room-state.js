// What the page shows of the room beyond what the library keeps: my moves
// predicted before the server confirms them, and where each avatar is drawn
// while it glides to its cell. The room itself is the library's (client.room).

export const DIRS = [[0, -1], [1, 0], [0, 1], [-1, 0]];
const MAX_PENDING = 6; // predicted moves not yet confirmed
const PREDICTION_TIMEOUT_MS = 1000;

export class RoomView {
  constructor() {
    /** my predicted moves, oldest first: [{ x, y, at }] */
    this.pending = [];
    /** where I am shown while moves are pending, else null (the server's position) */
    this.predicted = null;
    /** user id -> { dx, dy }: the drawn position */
    this.drawn = new Map();
  }

  /** A new room state from the server: predictions start again. */
  resync() {
    this.pending = [];
    this.predicted = null;
  }

  /** Where `user` is shown: my prediction, else the server's position. */
  target(user, meId) {
    if (user.id === meId && this.predicted) return this.predicted;
    return { x: user.x, y: user.y };
  }

  /**
   * The cell a move of mine in `dir` leads to, or null if it cannot be made
   * (off the grid, into a filled cell, too many unconfirmed).
   */
  next(state, meId, dir) {
    const room = state.room;
    const me = room && room.users.get(meId);
    if (!me || this.pending.length >= MAX_PENDING) return null;
    const from = this.target(me, meId);
    const x = from.x + DIRS[dir][0];
    const y = from.y + DIRS[dir][1];
    if (x < 0 || y < 0 || x >= room.side || y >= room.side || state.isFilled(x, y)) return null;
    return { x, y };
  }

  /** I sent a move to `cell`. */
  predict(cell, now) {
    this.pending.push({ ...cell, at: now });
    this.predicted = cell;
  }

  /** The server's MOVE of me: keep the prediction only while it agrees. */
  confirm(move) {
    const expected = this.pending.shift();
    if (!expected || expected.x !== move.x || expected.y !== move.y || this.pending.length === 0) this.resync();
  }

  /** A prediction the server never confirmed is dropped. Returns whether it was. */
  expire(now) {
    if (this.pending.length && now - this.pending[0].at > PREDICTION_TIMEOUT_MS) {
      this.resync();
      return true;
    }
    return false;
  }

  /**
   * Ease every drawn position toward its target; returns whether any is still moving.
   * @param {Map<string, {id: string, x: number, y: number}>} users
   */
  glide(users, meId, dt) {
    const k = 1 - Math.exp(-dt / 35);
    let moving = false;
    for (const id of [...this.drawn.keys()]) if (!users.has(id)) this.drawn.delete(id);
    for (const u of users.values()) {
      const to = this.target(u, meId);
      const d = this.drawn.get(u.id);
      if (!d) { this.drawn.set(u.id, { dx: to.x, dy: to.y }); continue; }
      const dist = Math.abs(to.x - d.dx) + Math.abs(to.y - d.dy);
      if (dist > 2.5 || dist <= 0.01) { d.dx = to.x; d.dy = to.y; } else {
        d.dx += (to.x - d.dx) * k; d.dy += (to.y - d.dy) * k; moving = true;
      }
    }
    return moving;
  }
}
