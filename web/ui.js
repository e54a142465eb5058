// The page's chrome: DOM helpers, notices, the connection indicator, views.

/** @param {string} id */
export const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

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

/** @param {number} code @param {string} [message] */
export const errorText = (code, message) => `${ERRORS[code] || `Error: ${message || 'unknown'}`} (${code})`;

export const storage = {
  /** @param {string} key */
  get(key) { try { return sessionStorage.getItem(key); } catch { return null; } },
  /** @param {string} key @param {string | null} value */
  set(key, value) {
    try {
      if (value === null || value === undefined) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, value);
    } catch { /* private mode: fine */ }
  },
};

export function el(tag, props = {}, ...children) {
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
export const userColor = (id) => `hsl(${hue(id).toFixed(1)} 68% 48%)`;

let noticeTimer = null;
export function notice(text, kind = 'error') {
  $('notice-text').textContent = text;
  $('notice').dataset.kind = kind;
  $('notice').hidden = false;
  clearTimeout(noticeTimer);
  if (kind === 'info') noticeTimer = setTimeout(() => { $('notice').hidden = true; }, 4000);
}
export function clearNotice() { $('notice').hidden = true; }

/** @param {'offline' | 'connecting' | 'reconnecting' | 'online'} kind @param {string} text */
export function setConn(kind, text) {
  $('conn').dataset.state = kind;
  $('conn-text').textContent = text;
}

/** @param {'signin' | 'lobby' | 'room'} view */
export function show(view) {
  $('signin').hidden = view !== 'signin';
  $('lobby').hidden = view !== 'lobby';
  $('room').hidden = view !== 'room';
  $('picker').hidden = view === 'signin';
}
