// The owner's editor: a draft of the map, the palette, placing and removing
// items. Saving hands the draft to the library's build().

import { mapOf } from '/lib/myroom-client/index.js';
import { $, el } from './ui.js';
import { GAME_FILL, WALL_FILL } from './render.js';

export class Editor {
  /** @param {() => void} changed called whenever the drawing must be redone */
  constructor(changed) {
    this.changed = changed;
    this.editing = false;
    /** @type {{ side: number, games: Record<string, any>, objects: Record<string, any> } | null} */
    this.draft = null;
    /** "wall" or a game id */
    this.selected = null;
    this.saving = false;
    this.hover = null;
    /** the games I own: [{ id, name }] */
    this.games = [];
  }

  start(room) {
    this.editing = true;
    this.draft = { side: room.side, games: structuredClone(room.games), objects: structuredClone(room.objects) };
    if (!this.selected) this.selected = this.games.length ? this.games[0].id : 'wall';
    this.render();
    this.changed();
  }

  stop() {
    this.editing = false;
    this.draft = null;
    this.saving = false;
    this.render();
    this.changed();
  }

  render() {
    const editing = this.editing;
    $('edit-toggle').textContent = editing ? 'Stop editing' : 'Edit';
    $('edit-tools').hidden = !editing;
    $('grid').classList.toggle('editing', editing);
    const save = /** @type {HTMLButtonElement} */ ($('save'));
    save.disabled = this.saving;
    save.textContent = this.saving ? 'Saving…' : 'Save';
    if (!editing) return;
    const options = [...this.games.map((g) => ({ id: g.id, name: g.name })), { id: 'wall', name: 'Wall' }];
    $('palette').replaceChildren(...options.map((o) => el('li', {},
      el('button', {
        type: 'button',
        role: 'option',
        'aria-selected': String(this.selected === o.id),
        dataset: { palette: o.id },
        onclick: () => { this.selected = o.id; this.render(); },
      }, el('span', { class: 'swatch square', style: { background: o.id === 'wall' ? WALL_FILL : GAME_FILL } }), ` ${o.name}`))));
  }

  /** What the hovered cell would get. */
  ghost() {
    if (!this.editing || !this.selected) return null;
    if (this.selected === 'wall') return { kind: 'object', name: 'wall' };
    const game = this.games.find((g) => g.id === this.selected);
    return { kind: 'game', name: game ? game.name : '' };
  }

  nextWallId() {
    const draft = /** @type {NonNullable<Editor['draft']>} */ (this.draft);
    for (let n = 1; ; n += 1) if (!(`w${n}` in draft.objects) && !(`w${n}` in draft.games)) return `w${n}`;
  }

  /** A click on cell (x, y): remove what is there, else place the selected item. */
  cell(x, y) {
    const draft = this.draft;
    if (!draft || this.saving) return;
    for (const table of [draft.games, draft.objects]) {
      for (const [id, item] of Object.entries(table)) {
        if (item.x === x && item.y === y) { delete table[id]; this.changed(); return; }
      }
    }
    const pick = this.selected;
    if (!pick) return;
    if (pick === 'wall') {
      draft.objects[this.nextWallId()] = { name: 'wall', x, y };
    } else {
      const game = this.games.find((g) => g.id === pick);
      if (!game) return;
      // A game is one item: placing it again moves it.
      draft.games[pick] = { name: game.name, x, y };
    }
    this.changed();
  }

  /** The MAP to save, or null when there is nothing to save now. */
  map() {
    const draft = this.draft;
    if (!draft || this.saving) return null;
    return mapOf(draft.side, draft.games, draft.objects);
  }
}
