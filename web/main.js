// My Room in a browser: sign in, pick a room, walk around, and (as the owner)
// place games and walls. The room and its protocol are the library's
// (myroom-client, served at /lib/myroom-client/); this wires it to the page.

import { openConnection } from './connection.js';
import { Editor } from './editor.js';
import { GridCanvas, renderItems, renderPeople, renderTitle } from './render.js';
import { RoomView } from './room-state.js';
import { $, clearNotice, el, errorText, notice, setConn, show, storage, userColor } from './ui.js';

const KEYS = {
  ArrowUp: 0, KeyW: 0, w: 0, W: 0,
  ArrowRight: 1, KeyD: 1, d: 1, D: 1,
  ArrowDown: 2, KeyS: 2, s: 2, S: 2,
  ArrowLeft: 3, KeyA: 3, a: 3, A: 3,
};
const MOVE_INTERVAL_MS = 50; // 20 moves a second: under the server's 30 messages per second
const ID_RE = /^[0-9]{1,19}$/;

const page = {
  config: { wsPath: '/library', devLogin: false },
  token: null,
  me: null, // { user: "1", nickname }
  /** @type {import('/lib/myroom-client/index.js').RoomClient | null} the library's client, while signed in */
  client: null,
  dirty: true,
  lastMoveAt: -Infinity,
  queuedMove: null,
};
const view = new RoomView();
const grid = new GridCanvas(/** @type {HTMLCanvasElement} */ ($('grid')), $('canvas-box'));
const editor = new Editor(() => { page.dirty = true; });

const room = () => page.client && page.client.room;
const meId = () => (page.me ? page.me.user : null);
const isOwner = () => !!(page.me && room() && page.me.user === room().id);

function fit() {
  const r = room();
  if (!r || $('room').hidden) return;
  grid.fit(r.side);
  page.dirty = true;
}
new ResizeObserver(() => fit()).observe($('canvas-box'));
grid.narrow.addEventListener('change', fit);

function showRoom() {
  show('room');
  fit();
}

function renderRoomChrome() {
  const r = room();
  if (!r) return;
  renderTitle(r, meId());
  renderPeople(r, meId());
  renderItems(r);
  $('editor').hidden = !isOwner();
  if (!isOwner() && editor.editing) editor.stop();
  editor.render();
  fit();
  page.dirty = true;
}

// ---------- sign-in ----------

async function showSignIn(message) {
  if (page.client) page.client.close();
  page.client = null;
  page.token = null;
  page.me = null;
  storage.set('myroom.token', null);
  $('whoami').hidden = true;
  $('sign-out').hidden = true;
  setConn('offline', 'Signed out');
  $('signin-message').textContent = message || '';
  $('signin-message').hidden = !message;
  show('signin');
  $('dev-login').hidden = !page.config.devLogin;
  $('token-help').hidden = false;
  if (!page.config.devLogin) return;
  const list = $('dev-users');
  list.replaceChildren(el('li', {}, 'Loading users…'));
  try {
    const response = await fetch('/dev/users', { cache: 'no-store' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const users = await response.json();
    list.replaceChildren(...users.map((u) => el('li', {},
      el('button', {
        type: 'button',
        dataset: { user: String(u.user) },
        onclick: () => devSignIn(u.user),
      }, el('span', { class: 'swatch', style: { background: userColor(u.user) } }), ` ${u.nickname} `,
      el('span', { class: 'tag' }, `#${u.user}`)))));
    if (users.length === 0) list.replaceChildren(el('li', {}, 'No users yet.'));
  } catch (e) {
    list.replaceChildren(el('li', {}, `Cannot list users: ${e.message}`));
  }
}

async function devSignIn(user) {
  try {
    const response = await fetch('/dev/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    await signIn(body.token);
  } catch (e) {
    showSignIn(`Sign-in failed: ${e.message}`);
  }
}

/** Check `token` with the server, learn who it names and what they own. */
async function signIn(token, target) {
  let response;
  try {
    response = await fetch('/me/games', { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
  } catch (e) {
    return showSignIn(`Cannot reach the server: ${e.message}`);
  }
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    return showSignIn(`Your access token was refused (${body.error || 'unauthorized'}). Please sign in again.`);
  }
  if (!response.ok) return showSignIn(`Sign-in failed: ${body.error || `HTTP ${response.status}`}`);
  if (page.client) page.client.close();
  page.token = token;
  page.me = { user: String(body.user), nickname: body.nickname };
  editor.games = body.games || [];
  storage.set('myroom.token', token);
  $('whoami').textContent = `${body.nickname} #${body.user}`;
  $('whoami').style.color = userColor(page.me.user);
  $('whoami').hidden = false;
  $('sign-out').hidden = false;
  clearNotice();
  page.client = openConnection({ token, wsPath: page.config.wsPath, onTokenRefused: showSignIn });
  listen(page.client);
  const wanted = target || storage.get('myroom.room');
  if (wanted && ID_RE.test(wanted)) enterRoom(wanted);
  else { show('lobby'); setConn('offline', 'Not in a room'); }
}

// ---------- the room, through the library ----------

function listen(client) {
  const mine = (handler) => (payload) => { if (page.client === client) handler(payload); };
  client.on('sync', mine(({ cause }) => {
    view.resync();
    if (cause === 'build' && editor.saving) {
      editor.stop();
      notice('Saved. Everyone is back at the start.', 'info');
    }
    renderRoomChrome();
    showRoom();
  }));
  client.on('resumed', mine(() => { view.resync(); renderRoomChrome(); }));
  client.on('move', mine((move) => {
    if (move.userId === meId()) view.confirm(move);
    renderPeople(room(), meId());
    page.dirty = true;
  }));
  for (const name of ['enter', 'leave']) {
    client.on(name, mine(() => { renderPeople(room(), meId()); page.dirty = true; }));
  }
  client.on('replaced', mine(({ message }) => {
    notice(`${message || 'This room was opened in another window.'} Pick a room to come back here.`);
  }));
  client.on('error', mine((error) => {
    if (error.code === 76429) return; // the page paces its moves; a burst is dropped silently
    notice(errorText(error.code, error.serverMessage));
  }));
  client.on('closed', mine(({ error }) => {
    view.resync();
    page.dirty = true;
    if (error && error.kind === 'server') {
      // An ENTER was refused: back to the room picker.
      storage.set('myroom.room', null);
      show('lobby');
    }
  }));
  client.on('disconnected', mine(() => { view.resync(); page.dirty = true; }));
}

function enterRoom(id) {
  id = String(id).trim();
  if (!ID_RE.test(id)) { notice('A room id is a number (the owner\'s user id).'); return; }
  if (!page.client) return;
  if (editor.editing) editor.stop();
  storage.set('myroom.room', id);
  /** @type {HTMLInputElement} */ ($('room-id')).value = '';
  clearNotice();
  const current = room();
  page.client.enter(id).catch(() => { /* told through the client's events */ });
  if (current && current.id === id) showRoom();
}

function tryMove(dir) {
  const client = page.client;
  if (!client || !client.ready || !room()) return;
  const now = performance.now();
  const wait = page.lastMoveAt + MOVE_INTERVAL_MS - now;
  if (wait > 0) {
    // A key pressed too soon after the last move waits for its turn.
    if (page.queuedMove) clearTimeout(page.queuedMove);
    page.queuedMove = setTimeout(() => { page.queuedMove = null; tryMove(dir); }, wait);
    return;
  }
  const cell = view.next(client.state, meId(), dir);
  if (!cell || !client.move(dir)) return;
  page.lastMoveAt = now;
  view.predict(cell, now);
  page.dirty = true;
}

function save() {
  const map = editor.map();
  if (!map || !page.client) return;
  const pending = page.client.build(map);
  editor.saving = true;
  editor.render();
  pending.catch((error) => {
    editor.saving = false;
    editor.render();
    if (error.kind !== 'server') notice('Not connected: cannot save now.');
  });
}

// ---------- input ----------

document.addEventListener('keydown', (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  if (event.target instanceof HTMLElement && event.target.closest('input, textarea, select')) return;
  const dir = KEYS[event.code] ?? KEYS[event.key];
  if (dir === undefined || $('room').hidden) return;
  event.preventDefault();
  tryMove(dir);
});
for (const button of /** @type {NodeListOf<HTMLButtonElement>} */ (document.querySelectorAll('.pad button'))) {
  button.addEventListener('click', () => tryMove(Number(button.dataset.dir)));
}
const canvas = $('grid');
canvas.addEventListener('click', (event) => {
  if (!editor.editing) return;
  const at = grid.cellAt(event);
  if (at) editor.cell(at.x, at.y);
});
canvas.addEventListener('mousemove', (event) => {
  if (!editor.editing) return;
  const at = grid.cellAt(event);
  if (JSON.stringify(at) !== JSON.stringify(editor.hover)) { editor.hover = at; page.dirty = true; }
});
canvas.addEventListener('mouseleave', () => { editor.hover = null; page.dirty = true; });

$('edit-toggle').addEventListener('click', () => (editor.editing ? editor.stop() : room() && editor.start(room())));
$('save').addEventListener('click', save);
$('cancel').addEventListener('click', () => editor.stop());
$('picker').addEventListener('submit', (event) => {
  event.preventDefault();
  enterRoom(/** @type {HTMLInputElement} */ ($('room-id')).value);
});
$('my-room').addEventListener('click', () => { if (page.me) enterRoom(page.me.user); });
$('sign-out').addEventListener('click', () => { storage.set('myroom.room', null); showSignIn(); });
$('notice-close').addEventListener('click', clearNotice);
$('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('token-input'));
  const token = input.value.trim();
  input.value = '';
  if (token) signIn(token);
});
addEventListener('online', () => { if (page.client) page.client.reconnectNow(); });
// Closing the page is leaving the room: the others see it at once. A lost
// network is not, and the seat is kept for a resume (PROTOCOL.md §9); nor is
// a page the browser keeps to show again (back/forward cache).
addEventListener('pagehide', (event) => { if (!event.persisted && page.client) void page.client.leave(); });

// ---------- drawing ----------

function frame(now) {
  if (view.expire(now)) page.dirty = true;
  const r = room();
  if (r && page.dirty && !$('room').hidden) {
    page.dirty = false;
    const scene = {
      room: r,
      meId: meId(),
      view,
      map: editor.editing && editor.draft ? editor.draft : r,
      hover: editor.editing ? editor.hover : null,
      ghost: editor.ghost(),
      connected: !!(page.client && page.client.ready),
    };
    if (grid.draw(now, scene)) page.dirty = true;
  } else {
    grid.last = now;
  }
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);

async function boot() {
  try {
    const response = await fetch('/web/config', { cache: 'no-store' });
    if (response.ok) page.config = await response.json();
  } catch { /* keep the defaults */ }
  // A token (and a room) may come in the fragment: #token=...&room=7. It is
  // taken out of the address at once, so it is not bookmarked or shared.
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromFragment = fragment.get('token');
  const target = fragment.get('room');
  if (fromFragment || target) history.replaceState(null, '', location.pathname + location.search);
  const token = fromFragment || storage.get('myroom.token');
  if (token) return signIn(token, target);
  return showSignIn();
}
boot();
