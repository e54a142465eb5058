// Drawing: the grid canvas, and the side panels (people, placed items, title).

import { $, el, userColor } from './ui.js';

export const GAME_FILL = '#f2b84b';
export const WALL_FILL = '#59606e';
const itemFill = (item) => (item.kind === 'object' ? WALL_FILL : GAME_FILL);

/** Games and objects of a map, in reading order. */
export function itemsOf(map) {
  return [
    ...Object.entries(map.games).map(([id, g]) => ({ id, kind: 'game', ...g })),
    ...Object.entries(map.objects).map(([id, o]) => ({ id, kind: 'object', ...o })),
  ].sort((a, b) => a.y - b.y || a.x - b.x);
}

export function renderTitle(room, meId) {
  const owner = room.users.get(room.id);
  $('room-title').textContent = meId === room.id
    ? `Your room (#${room.id})`
    : owner ? `${owner.nickname}'s room (#${room.id})` : `Room #${room.id}`;
}

/** The people list shows the server's positions (not predictions). */
export function renderPeople(room, meId) {
  const users = [...room.users.values()].sort((a, b) => Number(a.id) - Number(b.id));
  $('people-count').textContent = String(users.length);
  $('people').replaceChildren(...users.map((u) => el('li', { dataset: { user: u.id } },
    el('span', { class: 'swatch', style: { background: userColor(u.id) } }),
    el('span', { class: 'name' }, u.nickname),
    u.id === meId ? el('span', { class: 'tag' }, '(you)') : null,
    u.id === room.id ? el('span', { class: 'tag' }, 'owner') : null,
    el('span', { class: 'pos' }, `${u.x}, ${u.y}`))));
}

export function renderItems(room) {
  const items = itemsOf(room);
  $('items').replaceChildren(...(items.length ? items.map((item) => el('li', { dataset: { item: item.id, kind: item.kind } },
    el('span', { class: 'swatch square', style: { background: itemFill(item) } }),
    el('span', { class: 'name' }, item.name),
    el('span', { class: 'pos' }, `${item.x}, ${item.y}`))) : [el('li', { class: 'hint' }, 'Nothing yet.')]));
}

export class GridCanvas {
  /** @param {HTMLCanvasElement} canvas @param {HTMLElement} box */
  constructor(canvas, box) {
    this.canvas = canvas;
    this.box = box;
    this.ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    this.cell = 32;
    this.side = 20;
    this.narrow = window.matchMedia('(max-width: 760px)');
    this.last = 0;
  }

  /** Size the canvas for a room of `side` cells in its box. */
  fit(side) {
    this.side = side;
    const width = this.box.clientWidth;
    const height = this.narrow.matches ? width : this.box.clientHeight;
    this.cell = Math.max(8, Math.floor(Math.min(width, height) / side));
    const px = this.cell * side;
    this.canvas.dataset.side = String(side);
    const dpr = window.devicePixelRatio || 1;
    this.canvas.style.width = `${px}px`;
    this.canvas.style.height = `${px}px`;
    this.canvas.width = Math.round(px * dpr);
    this.canvas.height = Math.round(px * dpr);
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  /** The cell under a mouse event, or null. */
  cellAt(event) {
    const rect = this.canvas.getBoundingClientRect();
    const x = Math.floor(((event.clientX - rect.left) / rect.width) * this.side);
    const y = Math.floor(((event.clientY - rect.top) / rect.height) * this.side);
    if (x < 0 || y < 0 || x >= this.side || y >= this.side) return null;
    return { x, y };
  }

  fitText(text, maxWidth) {
    const ctx = this.ctx;
    if (ctx.measureText(text).width <= maxWidth) return text;
    let cut = text;
    while (cut.length > 1 && ctx.measureText(`${cut}…`).width > maxWidth) cut = cut.slice(0, -1);
    return cut.length > 1 ? `${cut}…` : cut;
  }

  drawItem(item, x, y, ghost) {
    const { ctx, cell } = this;
    const pad = Math.max(1, cell * 0.06);
    ctx.globalAlpha = ghost ? 0.55 : 1;
    ctx.beginPath();
    ctx.roundRect(x * cell + pad, y * cell + pad, cell - 2 * pad, cell - 2 * pad, Math.max(2, cell * 0.12));
    ctx.fillStyle = itemFill(item);
    ctx.fill();
    if (item.kind === 'object') {
      ctx.strokeStyle = 'rgba(255,255,255,0.18)';
      ctx.lineWidth = 1;
      ctx.beginPath();
      const top = y * cell + pad;
      for (let row = 1; row < 3; row += 1) {
        ctx.moveTo(x * cell + pad, top + (row * (cell - 2 * pad)) / 3);
        ctx.lineTo(x * cell + cell - pad, top + (row * (cell - 2 * pad)) / 3);
      }
      ctx.stroke();
    }
    // The name, as large as fits (down to 7px), then cut with an ellipsis.
    const room = cell - 2 * pad - 2;
    let size = Math.max(7, Math.min(14, Math.floor(cell * 0.32)));
    ctx.font = `600 ${size}px system-ui, sans-serif`;
    while (size > 7 && ctx.measureText(item.name).width > room) {
      size -= 1;
      ctx.font = `600 ${size}px system-ui, sans-serif`;
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillStyle = item.kind === 'object' ? '#e4e6eb' : '#3b2a05';
    const text = this.fitText(item.name, room);
    // A wall too small to name is plain wall; a game keeps at least its initial.
    if (item.kind === 'game' || text === item.name) ctx.fillText(text, x * cell + cell / 2, y * cell + cell / 2);
    ctx.globalAlpha = 1;
  }

  /**
   * Draw one frame; returns whether avatars are still moving.
   * @param {number} now
   * @param {{ room: any, meId: string | null, view: import('./room-state.js').RoomView, map: any,
   *           hover: {x: number, y: number} | null, ghost: {kind: string, name: string} | null, connected: boolean }} scene
   */
  draw(now, scene) {
    const { ctx, cell } = this;
    const { room, meId, view, map } = scene;
    const side = room.side;
    const px = side * cell;
    ctx.clearRect(0, 0, px, px);
    // Floor: a soft checkerboard with grid lines.
    ctx.fillStyle = '#fbf8f1';
    ctx.fillRect(0, 0, px, px);
    ctx.fillStyle = '#f1ece0';
    for (let y = 0; y < side; y += 1) {
      for (let x = (y % 2); x < side; x += 2) ctx.fillRect(x * cell, y * cell, cell, cell);
    }
    ctx.strokeStyle = '#e2dccd';
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let i = 0; i <= side; i += 1) {
      ctx.moveTo(i * cell + 0.5, 0); ctx.lineTo(i * cell + 0.5, px);
      ctx.moveTo(0, i * cell + 0.5); ctx.lineTo(px, i * cell + 0.5);
    }
    ctx.stroke();

    const items = itemsOf(map);
    for (const item of items) this.drawItem(item, item.x, item.y, false);
    if (scene.hover && scene.ghost && !items.some((i) => i.x === scene.hover.x && i.y === scene.hover.y)) {
      this.drawItem(scene.ghost, scene.hover.x, scene.hover.y, true);
    }

    // Avatars: ease the drawn position toward the (predicted or authoritative) one.
    const dt = Math.min(100, now - (this.last || now));
    this.last = now;
    const moving = view.glide(room.users, meId, dt);
    const groups = new Map();
    for (const u of room.users.values()) {
      const to = view.target(u, meId);
      const key = `${to.x},${to.y}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(u);
    }
    const drawn = [];
    for (const group of groups.values()) {
      group.sort((a, b) => Number(a.id === meId) - Number(b.id === meId) || Number(a.id) - Number(b.id));
      group.forEach((u, i) => {
        const n = group.length;
        const spread = n > 1 ? cell * 0.2 : 0;
        const angle = (i / n) * Math.PI * 2 - Math.PI / 2;
        const d = view.drawn.get(u.id);
        drawn.push({ u, d, cx: (d.dx + 0.5) * cell + Math.cos(angle) * spread, cy: (d.dy + 0.5) * cell + Math.sin(angle) * spread, n, i });
      });
    }
    // Others first, me on top.
    drawn.sort((a, b) => Number(a.u.id === meId) - Number(b.u.id === meId));
    for (const { u, cx, cy, n } of drawn) {
      const r = Math.max(4, cell * (n > 1 ? 0.26 : 0.34));
      const me = u.id === meId;
      ctx.beginPath();
      ctx.arc(cx, cy + r * 0.15, r, 0, Math.PI * 2);
      ctx.fillStyle = 'rgba(0,0,0,0.18)';
      ctx.fill();
      ctx.beginPath();
      ctx.arc(cx, cy, r, 0, Math.PI * 2);
      ctx.fillStyle = userColor(u.id);
      ctx.fill();
      ctx.lineWidth = me ? Math.max(2, r * 0.3) : Math.max(1.5, r * 0.15);
      ctx.strokeStyle = me ? '#1f2430' : '#ffffff';
      ctx.stroke();
      if (me) {
        ctx.beginPath();
        ctx.arc(cx, cy, r + Math.max(2, r * 0.3), 0, Math.PI * 2);
        ctx.strokeStyle = '#ffffff';
        ctx.lineWidth = 1.5;
        ctx.stroke();
      }
      // Initial inside the avatar.
      ctx.fillStyle = '#ffffff';
      ctx.font = `700 ${Math.max(7, Math.floor(r * 1.05))}px system-ui, sans-serif`;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText((u.nickname || '?').slice(0, 1).toUpperCase(), cx, cy + 0.5);
    }
    // Labels last, so nothing covers them; stacked when users share a cell.
    for (const { u, d, n, i } of drawn) {
      const me = u.id === meId;
      const size = Math.max(9, Math.min(13, Math.floor(cell * 0.34)));
      ctx.font = `${me ? 700 : 500} ${size}px system-ui, sans-serif`;
      const label = me ? `${u.nickname} (you)` : u.nickname;
      const w = ctx.measureText(label).width + 8;
      const h = size + 5;
      const baseX = (d.dx + 0.5) * cell;
      let top = d.dy * cell - h - 2 - (n > 1 ? i * (h + 1) : 0);
      if (top < 0) top = (d.dy + 1) * cell + 2 + (n > 1 ? i * (h + 1) : 0);
      const left = Math.min(Math.max(0, baseX - w / 2), px - w);
      ctx.beginPath();
      ctx.roundRect(left, top, w, h, h / 2);
      ctx.fillStyle = me ? '#1f2430' : 'rgba(255,255,255,0.92)';
      ctx.fill();
      ctx.strokeStyle = userColor(u.id);
      ctx.lineWidth = 1.5;
      ctx.stroke();
      ctx.fillStyle = me ? '#ffffff' : '#1f2430';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(label, left + w / 2, top + h / 2 + 0.5);
    }
    if (!scene.connected) {
      ctx.fillStyle = 'rgba(255,255,255,0.45)';
      ctx.fillRect(0, 0, px, px);
    }
    return moving;
  }
}
