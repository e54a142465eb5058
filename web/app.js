// My Room in a browser: sign in, pick a room, walk around, and (as the owner)
// place games and walls. Speaks PROTOCOL.md v1 over one WebSocket.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  // PROTOCOL.md §6, in words a person can act on.
  const ERRORS = {
    76100: 'The server could not read a message from this page.',
    76101: 'You entered this room again somewhere else, so this window was disconnected.',
    76102: 'You are not in a room yet: enter one first.',
    76401: 'Your sign-in was refused: please sign in again.',
    76403: 'Not allowed: only the room\'s owner can edit it, and only with games they own.',
    76404: 'That room does not exist: there is no user with that id.',
    76409: 'That room is full; try again later.',
    76410: 'That layout is not valid: items must be inside the grid, on different cells, and at least one cell must stay free.',
    76413: 'A message was too large for the server.',
    76429: 'Too many messages: slow down a little.',
    76503: 'A service the room needs is unavailable right now; try again in a moment.',
    76900: 'The server does not accept that kind of message.',
    76999: 'Something went wrong on the server.',
  };
  const errorText = (code, message) =>
    `${ERRORS[code] || `Error: ${message || 'unknown'}`} (${code})`;

  const DIRS = [[0, -1], [1, 0], [0, 1], [-1, 0]];
  const KEYS = {
    ArrowUp: 0, KeyW: 0, w: 0, W: 0,
    ArrowRight: 1, KeyD: 1, d: 1, D: 1,
    ArrowDown: 2, KeyS: 2, s: 2, S: 2,
    ArrowLeft: 3, KeyA: 3, a: 3, A: 3,
  };
  const MOVE_INTERVAL_MS = 50; // 20 moves a second: under the server's 30 messages per second
  const MAX_PENDING = 6; // predicted moves not yet confirmed
  const PREDICTION_TIMEOUT_MS = 1000;
  const ID_RE = /^[0-9]{1,19}$/;

  const state = {
    config: { wsPath: '/library', devLogin: false },
    token: null,
    me: null, // { user: "1", nickname }
    games: [], // the games I own: [{ id: "12", name }]
    roomId: null, // the room I want to be in
    room: null, // { id, side, games, objects, users: Map(id -> user) }
    entering: false,
    ws: null,
    wantConnected: false,
    attempt: 0,
    retryTimer: null,
    pending: [], // my predicted moves: [{ x, y, at }]
    lastMoveAt: -Infinity,
    editing: false,
    draft: null, // { side, games: {id: {name,x,y}}, objects: {...} }
    selected: null, // "wall" or a game id
    saving: false,
    hover: null,
    dirty: true,
  };

  // ---------- small helpers ----------

  const storage = {
    get(key) { try { return sessionStorage.getItem(key); } catch { return null; } },
    set(key, value) {
      try {
        if (value === null || value === undefined) sessionStorage.removeItem(key);
        else sessionStorage.setItem(key, value);
      } catch { /* private mode: fine */ }
    },
  };

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === 'class') node.className = value;
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else if (key === 'style') Object.assign(node.style, value); // CSSOM: allowed by the page's CSP
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function hue(id) {
    let n = 0;
    for (const ch of String(id)) n = (n * 31 + ch.charCodeAt(0)) >>> 0;
    const numeric = /^[0-9]+$/.test(String(id)) ? Number(String(id).slice(-9)) : n;
    return (numeric * 137.508) % 360;
  }
  const userColor = (id) => `hsl(${hue(id).toFixed(1)} 68% 48%)`;

  let noticeTimer = null;
  function notice(text, kind = 'error') {
    $('notice-text').textContent = text;
    $('notice').dataset.kind = kind;
    $('notice').hidden = false;
    clearTimeout(noticeTimer);
    if (kind === 'info') noticeTimer = setTimeout(() => { $('notice').hidden = true; }, 4000);
  }
  function clearNotice() { $('notice').hidden = true; }

  function setConn(kind, text) {
    $('conn').dataset.state = kind;
    $('conn-text').textContent = text;
  }

  function show(view) {
    $('signin').hidden = view !== 'signin';
    $('lobby').hidden = view !== 'lobby';
    $('room').hidden = view !== 'room';
    $('picker').hidden = view === 'signin';
    if (view === 'room') { fit(); state.dirty = true; }
  }

  // ---------- sign-in ----------

  async function showSignIn(message) {
    disconnect();
    state.token = null;
    state.me = null;
    storage.set('myroom.token', null);
    $('whoami').hidden = true;
    $('sign-out').hidden = true;
    setConn('offline', 'Signed out');
    $('signin-message').textContent = message || '';
    $('signin-message').hidden = !message;
    show('signin');
    $('dev-login').hidden = !state.config.devLogin;
    $('token-help').hidden = false;
    if (!state.config.devLogin) return;
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
  async function signIn(token, room) {
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
    state.token = token;
    state.me = { user: String(body.user), nickname: body.nickname };
    state.games = body.games || [];
    storage.set('myroom.token', token);
    $('whoami').textContent = `${body.nickname} #${body.user}`;
    $('whoami').style.color = userColor(state.me.user);
    $('whoami').hidden = false;
    $('sign-out').hidden = false;
    clearNotice();
    const target = room || storage.get('myroom.room');
    if (target && ID_RE.test(target)) enterRoom(target);
    else { show('lobby'); setConn('offline', 'Not in a room'); }
  }

  // ---------- connection ----------

  function wsUrl() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    return `${scheme}://${location.host}${state.config.wsPath}`;
  }

  // In a cluster, GET /rooms/{id}/route names the node hosting the room (or the
  // least loaded one); any node accepts any room, so without it we stay here.
  async function routedWsUrl(roomId) {
    try {
      const response = await fetch(`/rooms/${encodeURIComponent(roomId)}/route`, { cache: 'no-store' });
      if (response.ok) {
        const body = await response.json();
        if (body && typeof body.url === 'string' && /^wss?:\/\//.test(body.url)) return body.url;
      }
    } catch (_) { /* no route: connect here */ }
    return wsUrl();
  }

  function send(code, body) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(code + JSON.stringify(body));
      return true;
    }
    return false;
  }

  function enterRoom(id) {
    id = String(id).trim();
    if (!ID_RE.test(id)) { notice('A room id is a number (the owner\'s user id).'); return; }
    if (state.editing) stopEditing();
    if (state.room && state.room.id !== id) state.room = null;
    state.roomId = id;
    storage.set('myroom.room', id);
    $('room-id').value = '';
    clearNotice();
    state.wantConnected = true;
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.entering = true;
      send('10', { room_id: id });
    } else if (!state.ws && !state.routing) {
      connect();
    } // else: connecting; onopen enters state.roomId
    if (state.room) show('room');
  }

  function connect() {
    clearTimeout(state.retryTimer);
    state.retryTimer = null;
    if (!state.token || !state.roomId) return;
    const reconnecting = state.attempt > 0;
    setConn(reconnecting ? 'reconnecting' : 'connecting', reconnecting ? 'Reconnecting…' : 'Connecting…');
    state.routing = true;
    routedWsUrl(state.roomId).then((url) => {
      state.routing = false;
      if (state.ws || !state.wantConnected || !state.token || !state.roomId) return;
      openSocket(url);
    });
  }

  function openSocket(url) {
    // A browser cannot set headers on an upgrade: offer the token as a subprotocol (PROTOCOL.md §1).
    const ws = new WebSocket(url, ['myroom.v1', `bearer.${state.token}`]);
    state.ws = ws;
    let opened = false;
    ws.onopen = () => {
      if (state.ws !== ws) return;
      opened = true;
      state.entering = true;
      send('10', { room_id: state.roomId });
    };
    ws.onmessage = (event) => {
      if (state.ws !== ws || typeof event.data !== 'string') return;
      for (const line of event.data.split('\n')) if (line) handleFrame(line);
    };
    ws.onclose = (event) => {
      if (state.ws !== ws) return;
      state.ws = null;
      onClosed(event, opened);
    };
  }

  function disconnect() {
    state.wantConnected = false;
    clearTimeout(state.retryTimer);
    state.retryTimer = null;
    const ws = state.ws;
    state.ws = null;
    if (ws) { try { ws.close(1000); } catch { /* already closed */ } }
  }

  async function onClosed(event, opened) {
    state.entering = false;
    state.pending = [];
    state.dirty = true;
    if (event.code === 4000) {
      // Replaced by a newer socket of mine (PROTOCOL.md §4): do not fight it.
      state.wantConnected = false;
      setConn('offline', 'Opened elsewhere');
      return;
    }
    if (!state.wantConnected) { setConn('offline', 'Disconnected'); return; }
    if (!opened && state.token) {
      // The upgrade failed: a refused token, or no server. Tell them apart.
      try {
        const response = await fetch('/me/games', {
          headers: { Authorization: `Bearer ${state.token}` },
          cache: 'no-store',
        });
        if (response.status === 401) {
          const body = await response.json().catch(() => ({}));
          showSignIn(`Your access token was refused (${body.error || 'unauthorized'}). Please sign in again.`);
          return;
        }
      } catch { /* server unreachable: retry below */ }
    }
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (!state.wantConnected || state.retryTimer) return;
    const base = Math.min(10000, 500 * 2 ** state.attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    state.attempt += 1;
    const until = Date.now() + delay;
    const tick = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      setConn('reconnecting', `Connection lost; retrying in ${left} s`);
    };
    tick();
    const countdown = setInterval(tick, 500);
    state.retryTimer = setTimeout(() => {
      clearInterval(countdown);
      state.retryTimer = null;
      if (state.wantConnected && !state.ws && !state.routing) connect();
    }, delay);
  }

  // ---------- protocol ----------

  function handleFrame(frame) {
    const code = frame.slice(0, 2);
    let body = {};
    if (frame.length > 2) {
      try { body = JSON.parse(frame.slice(2)); } catch { return; }
    }
    switch (code) {
      case '11': onSync(body.room); break;
      case '10': onEnter(body); break;
      case '19': onLeave(body); break;
      case '20': onMove(body); break;
      case '98': onReplaced(body); break;
      case '99': onError(body); break;
      default: break;
    }
  }

  function onSync(room) {
    if (!room) return;
    const id = String(room.roomId);
    const old = state.room && state.room.id === id ? state.room.users : new Map();
    const users = new Map();
    for (const [uid, u] of Object.entries(room.users || {})) {
      const before = old.get(uid);
      users.set(uid, {
        id: uid, nickname: u.nickname, x: u.x, y: u.y, sx: u.x, sy: u.y,
        dx: before ? before.dx : u.x, dy: before ? before.dy : u.y,
      });
    }
    const map = room.map || { side: 20 };
    state.room = {
      id, side: map.side || 20, games: map.games || {}, objects: map.objects || {}, users,
    };
    state.roomId = id;
    state.pending = [];
    state.entering = false;
    state.attempt = 0;
    setConn('online', 'Connected');
    if (state.saving) {
      state.saving = false;
      stopEditing();
      notice('Saved. Everyone is back at the start.', 'info');
    }
    renderRoomChrome();
    show('room');
  }

  function onEnter(body) {
    if (!state.room) return;
    const id = String(body.user_id);
    state.room.users.set(id, {
      id, nickname: body.nickname, x: body.x, y: body.y, sx: body.x, sy: body.y, dx: body.x, dy: body.y,
    });
    renderPeople();
    state.dirty = true;
  }

  function onLeave(body) {
    if (!state.room) return;
    state.room.users.delete(String(body.user_id));
    renderPeople();
    state.dirty = true;
  }

  function onMove(body) {
    if (!state.room) return;
    const id = String(body.user_id);
    const u = state.room.users.get(id);
    if (!u) return;
    u.sx = body.x;
    u.sy = body.y;
    if (state.me && id === state.me.user) {
      // The server's position is the truth: keep the prediction only while it agrees.
      const expected = state.pending.shift();
      if (!expected || expected.x !== body.x || expected.y !== body.y || state.pending.length === 0) {
        state.pending = [];
        u.x = body.x;
        u.y = body.y;
      }
    } else {
      u.x = body.x;
      u.y = body.y;
    }
    renderPeople();
    state.dirty = true;
  }

  function onReplaced(body) {
    state.wantConnected = false;
    notice(`${body.message || 'This room was opened in another window.'} Pick a room to come back here.`);
  }

  function onError(body) {
    const text = errorText(body.code, body.message);
    if (state.saving) state.saving = false;
    renderEditor();
    if (state.entering) {
      // The ENTER failed: close this socket, go back to the room picker.
      state.entering = false;
      state.room = null;
      storage.set('myroom.room', null);
      disconnect();
      setConn('offline', 'Not in a room');
      show('lobby');
    }
    notice(text);
  }

  // ---------- moving ----------

  function filled(map, x, y) {
    for (const item of Object.values(map.games)) if (item.x === x && item.y === y) return true;
    for (const item of Object.values(map.objects)) if (item.x === x && item.y === y) return true;
    return false;
  }

  let queuedMove = null; // a key pressed too soon after the last move waits for its turn

  function tryMove(dir) {
    const room = state.room;
    if (!room || !state.me || state.entering || !state.ws) return;
    const me = room.users.get(state.me.user);
    if (!me || state.pending.length >= MAX_PENDING) return;
    const now = performance.now();
    const wait = state.lastMoveAt + MOVE_INTERVAL_MS - now;
    if (wait > 0) {
      if (queuedMove) clearTimeout(queuedMove);
      queuedMove = setTimeout(() => { queuedMove = null; tryMove(dir); }, wait);
      return;
    }
    const nx = me.x + DIRS[dir][0];
    const ny = me.y + DIRS[dir][1];
    if (nx < 0 || ny < 0 || nx >= room.side || ny >= room.side || filled(room, nx, ny)) return;
    if (!send('20', { direction: dir })) return;
    state.lastMoveAt = now;
    state.pending.push({ x: nx, y: ny, at: now });
    me.x = nx;
    me.y = ny;
    state.dirty = true;
  }

  document.addEventListener('keydown', (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.target instanceof HTMLElement && event.target.closest('input, textarea, select')) return;
    const dir = KEYS[event.code] ?? KEYS[event.key];
    if (dir === undefined || $('room').hidden) return;
    event.preventDefault();
    tryMove(dir);
  });
  for (const button of document.querySelectorAll('.pad button')) {
    button.addEventListener('click', () => tryMove(Number(button.dataset.dir)));
  }

  // ---------- side panels ----------

  function isOwner() {
    return !!(state.me && state.room && state.me.user === state.room.id);
  }

  function renderRoomChrome() {
    const room = state.room;
    const owner = room.users.get(room.id);
    const mine = isOwner();
    $('room-title').textContent = mine
      ? `Your room (#${room.id})`
      : owner ? `${owner.nickname}'s room (#${room.id})` : `Room #${room.id}`;
    renderPeople();
    renderItems();
    $('editor').hidden = !mine;
    if (!mine && state.editing) stopEditing();
    renderEditor();
    fit();
    state.dirty = true;
  }

  function renderPeople() {
    const room = state.room;
    if (!room) return;
    const users = [...room.users.values()].sort((a, b) => Number(a.id) - Number(b.id));
    $('people-count').textContent = String(users.length);
    $('people').replaceChildren(...users.map((u) => el('li', { dataset: { user: u.id } },
      el('span', { class: 'swatch', style: { background: userColor(u.id) } }),
      el('span', { class: 'name' }, u.nickname),
      state.me && u.id === state.me.user ? el('span', { class: 'tag' }, '(you)') : null,
      u.id === room.id ? el('span', { class: 'tag' }, 'owner') : null,
      el('span', { class: 'pos' }, `${u.sx}, ${u.sy}`))));
  }

  function itemsOf(map) {
    return [
      ...Object.entries(map.games).map(([id, g]) => ({ id, kind: 'game', ...g })),
      ...Object.entries(map.objects).map(([id, o]) => ({ id, kind: 'object', ...o })),
    ].sort((a, b) => a.y - b.y || a.x - b.x);
  }

  function renderItems() {
    const items = itemsOf(state.room);
    $('items').replaceChildren(...(items.length ? items.map((item) => el('li', { dataset: { item: item.id, kind: item.kind } },
      el('span', { class: 'swatch square', style: { background: itemFill(item) } }),
      el('span', { class: 'name' }, item.name),
      el('span', { class: 'pos' }, `${item.x}, ${item.y}`))) : [el('li', { class: 'hint' }, 'Nothing yet.')]));
  }

  // ---------- editing ----------

  function startEditing() {
    const room = state.room;
    state.editing = true;
    state.draft = {
      side: room.side,
      games: structuredClone(room.games),
      objects: structuredClone(room.objects),
    };
    if (!state.selected) state.selected = state.games.length ? state.games[0].id : 'wall';
    renderEditor();
    state.dirty = true;
  }

  function stopEditing() {
    state.editing = false;
    state.draft = null;
    state.saving = false;
    renderEditor();
    state.dirty = true;
  }

  function renderEditor() {
    const editing = state.editing;
    $('edit-toggle').textContent = editing ? 'Stop editing' : 'Edit';
    $('edit-tools').hidden = !editing;
    $('grid').classList.toggle('editing', editing);
    $('save').disabled = state.saving;
    $('save').textContent = state.saving ? 'Saving…' : 'Save';
    if (!editing) return;
    const options = [...state.games.map((g) => ({ id: g.id, name: g.name })), { id: 'wall', name: 'Wall' }];
    $('palette').replaceChildren(...options.map((o) => el('li', {},
      el('button', {
        type: 'button',
        role: 'option',
        'aria-selected': String(state.selected === o.id),
        dataset: { palette: o.id },
        onclick: () => { state.selected = o.id; renderEditor(); },
      }, el('span', { class: 'swatch square', style: { background: o.id === 'wall' ? WALL_FILL : GAME_FILL } }), ` ${o.name}`))));
  }

  function nextWallId(draft) {
    for (let n = 1; ; n += 1) if (!(`w${n}` in draft.objects) && !(`w${n}` in draft.games)) return `w${n}`;
  }

  function editCell(x, y) {
    const draft = state.draft;
    if (!draft || state.saving) return;
    for (const table of [draft.games, draft.objects]) {
      for (const [id, item] of Object.entries(table)) {
        if (item.x === x && item.y === y) { delete table[id]; state.dirty = true; return; }
      }
    }
    const pick = state.selected;
    if (!pick) return;
    if (pick === 'wall') {
      draft.objects[nextWallId(draft)] = { name: 'wall', x, y };
    } else {
      const game = state.games.find((g) => g.id === pick);
      if (!game) return;
      // A game is one item: placing it again moves it.
      draft.games[pick] = { name: game.name, x, y };
    }
    state.dirty = true;
  }

  function save() {
    const draft = state.draft;
    if (!draft || state.saving) return;
    const map = {
      side: draft.side,
      gameList: Object.keys(draft.games),
      objectList: Object.keys(draft.objects),
      games: draft.games,
      objects: draft.objects,
    };
    if (!send('40', { map })) { notice('Not connected: cannot save now.'); return; }
    state.saving = true;
    renderEditor();
  }

  $('edit-toggle').addEventListener('click', () => (state.editing ? stopEditing() : startEditing()));
  $('save').addEventListener('click', save);
  $('cancel').addEventListener('click', stopEditing);

  // ---------- drawing ----------

  const canvas = $('grid');
  const ctx = canvas.getContext('2d');
  let cell = 32;
  const GAME_FILL = '#f2b84b';
  const WALL_FILL = '#59606e';
  const itemFill = (item) => (item.kind === 'object' ? WALL_FILL : GAME_FILL);
  const narrow = window.matchMedia('(max-width: 760px)');

  function fit() {
    const room = state.room;
    if (!room || $('room').hidden) return;
    const box = $('canvas-box');
    const width = box.clientWidth;
    const height = narrow.matches ? width : box.clientHeight;
    cell = Math.max(8, Math.floor(Math.min(width, height) / room.side));
    const px = cell * room.side;
    canvas.dataset.side = String(room.side);
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = `${px}px`;
    canvas.style.height = `${px}px`;
    canvas.width = Math.round(px * dpr);
    canvas.height = Math.round(px * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    state.dirty = true;
  }
  new ResizeObserver(() => fit()).observe($('canvas-box'));
  narrow.addEventListener('change', fit);

  function roundRect(x, y, w, h, r) {
    ctx.beginPath();
    ctx.roundRect(x, y, w, h, r);
  }

  function fitText(text, maxWidth) {
    if (ctx.measureText(text).width <= maxWidth) return text;
    let cut = text;
    while (cut.length > 1 && ctx.measureText(`${cut}…`).width > maxWidth) cut = cut.slice(0, -1);
    return cut.length > 1 ? `${cut}…` : cut;
  }

  function drawItem(item, x, y, ghost) {
    const pad = Math.max(1, cell * 0.06);
    ctx.globalAlpha = ghost ? 0.55 : 1;
    roundRect(x * cell + pad, y * cell + pad, cell - 2 * pad, cell - 2 * pad, Math.max(2, cell * 0.12));
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
    const text = fitText(item.name, room);
    // A wall too small to name is plain wall; a game keeps at least its initial.
    if (item.kind === 'game' || text === item.name) ctx.fillText(text, x * cell + cell / 2, y * cell + cell / 2);
    ctx.globalAlpha = 1;
  }

  function draw(now) {
    const room = state.room;
    if (!room) return;
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

    const map = state.editing && state.draft ? state.draft : room;
    for (const item of itemsOf(map)) drawItem(item, item.x, item.y, false);

    if (state.editing && state.hover && !filled(map, state.hover.x, state.hover.y) && state.selected) {
      const game = state.games.find((g) => g.id === state.selected);
      const ghost = state.selected === 'wall' ? { kind: 'object', name: 'wall' } : { kind: 'game', name: game ? game.name : '' };
      drawItem(ghost, state.hover.x, state.hover.y, true);
    }

    // Avatars: ease the drawn position toward the (predicted or authoritative) one.
    const dt = Math.min(100, now - (draw.last || now));
    draw.last = now;
    const k = 1 - Math.exp(-dt / 35);
    let moving = false;
    const groups = new Map();
    for (const u of room.users.values()) {
      const dist = Math.abs(u.x - u.dx) + Math.abs(u.y - u.dy);
      if (dist > 2.5) { u.dx = u.x; u.dy = u.y; } else if (dist > 0.01) {
        u.dx += (u.x - u.dx) * k; u.dy += (u.y - u.dy) * k; moving = true;
      } else { u.dx = u.x; u.dy = u.y; }
      const key = `${u.x},${u.y}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(u);
    }
    const mine = state.me ? state.me.user : null;
    const drawn = [];
    for (const group of groups.values()) {
      group.sort((a, b) => (a.id === mine) - (b.id === mine) || Number(a.id) - Number(b.id));
      group.forEach((u, i) => {
        const n = group.length;
        const spread = n > 1 ? cell * 0.2 : 0;
        const angle = (i / n) * Math.PI * 2 - Math.PI / 2;
        drawn.push({ u, cx: (u.dx + 0.5) * cell + Math.cos(angle) * spread, cy: (u.dy + 0.5) * cell + Math.sin(angle) * spread, n, i });
      });
    }
    // Others first, me on top.
    drawn.sort((a, b) => (a.u.id === mine) - (b.u.id === mine));
    for (const { u, cx, cy, n } of drawn) {
      const r = Math.max(4, cell * (n > 1 ? 0.26 : 0.34));
      const me = u.id === mine;
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
    for (const { u, cx, cy, n, i } of drawn) {
      const me = u.id === mine;
      const size = Math.max(9, Math.min(13, Math.floor(cell * 0.34)));
      ctx.font = `${me ? 700 : 500} ${size}px system-ui, sans-serif`;
      const label = me ? `${u.nickname} (you)` : u.nickname;
      const w = ctx.measureText(label).width + 8;
      const h = size + 5;
      const baseX = (u.dx + 0.5) * cell;
      let top = u.dy * cell - h - 2 - (n > 1 ? i * (h + 1) : 0);
      if (top < 0) top = (u.dy + 1) * cell + 2 + (n > 1 ? i * (h + 1) : 0);
      const left = Math.min(Math.max(0, baseX - w / 2), px - w);
      roundRect(left, top, w, h, h / 2);
      ctx.fillStyle = me ? '#1f2430' : 'rgba(255,255,255,0.92)';
      ctx.fill();
      ctx.strokeStyle = userColor(u.id);
      ctx.lineWidth = 1.5;
      ctx.stroke();
      ctx.fillStyle = me ? '#ffffff' : '#1f2430';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(label, left + w / 2, top + h / 2 + 0.5);
      void cx; void cy;
    }
    if (!state.ws) {
      ctx.fillStyle = 'rgba(255,255,255,0.45)';
      ctx.fillRect(0, 0, px, px);
    }
    return moving;
  }

  function frame(now) {
    // A prediction the server never confirmed is dropped: back to the server's position.
    const room = state.room;
    if (room && state.me && state.pending.length && now - state.pending[0].at > PREDICTION_TIMEOUT_MS) {
      const me = room.users.get(state.me.user);
      state.pending = [];
      if (me) { me.x = me.sx; me.y = me.sy; }
      state.dirty = true;
    }
    if (state.dirty && !$('room').hidden) {
      state.dirty = false;
      if (draw(now)) state.dirty = true;
    } else {
      draw.last = now;
    }
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);

  function cellAt(event) {
    const room = state.room;
    if (!room) return null;
    const rect = canvas.getBoundingClientRect();
    const x = Math.floor(((event.clientX - rect.left) / rect.width) * room.side);
    const y = Math.floor(((event.clientY - rect.top) / rect.height) * room.side);
    if (x < 0 || y < 0 || x >= room.side || y >= room.side) return null;
    return { x, y };
  }
  canvas.addEventListener('click', (event) => {
    if (!state.editing) return;
    const at = cellAt(event);
    if (at) editCell(at.x, at.y);
  });
  canvas.addEventListener('mousemove', (event) => {
    if (!state.editing) return;
    const at = cellAt(event);
    if (JSON.stringify(at) !== JSON.stringify(state.hover)) { state.hover = at; state.dirty = true; }
  });
  canvas.addEventListener('mouseleave', () => { state.hover = null; state.dirty = true; });

  // ---------- chrome ----------

  $('picker').addEventListener('submit', (event) => {
    event.preventDefault();
    enterRoom($('room-id').value);
  });
  $('my-room').addEventListener('click', () => { if (state.me) enterRoom(state.me.user); });
  $('sign-out').addEventListener('click', () => { storage.set('myroom.room', null); state.room = null; showSignIn(); });
  $('notice-close').addEventListener('click', clearNotice);
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('token-input').value.trim();
    $('token-input').value = '';
    if (token) signIn(token);
  });
  window.addEventListener('online', () => {
    if (state.wantConnected && !state.ws && !state.routing) { state.attempt = 0; connect(); }
  });

  async function boot() {
    try {
      const response = await fetch('/web/config', { cache: 'no-store' });
      if (response.ok) state.config = await response.json();
    } catch { /* keep the defaults */ }
    // A token (and a room) may come in the fragment: #token=...&room=7. It is
    // taken out of the address at once, so it is not bookmarked or shared.
    const fragment = new URLSearchParams(location.hash.slice(1));
    const fromFragment = fragment.get('token');
    const room = fragment.get('room');
    if (fromFragment || room) history.replaceState(null, '', location.pathname + location.search);
    const token = fromFragment || storage.get('myroom.token');
    if (token) return signIn(token, room);
    return showSignIn();
  }
  boot();
})();
