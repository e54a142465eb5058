// The page's one connection: a RoomClient of the library for the signed-in
// user, and what its status means on the connection indicator. Nothing of
// the wire protocol is spoken here or anywhere else in the page.

import { RoomClient } from '/lib/myroom-client/index.js';
import { setConn } from './ui.js';

/**
 * @param {{ token: string, wsPath: string,
 *           onTokenRefused: (message: string) => void }} options
 */
export function openConnection({ token, wsPath, onTokenRefused }) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const client = new RoomClient({
    token,
    // In a cluster the library asks this host for the route to the room;
    // without a cluster it stays on this host.
    http: location.origin,
    url: `${scheme}://${location.host}${wsPath}`,
    // A browser cannot set headers on an upgrade: the token goes as a subprotocol.
    tokenIn: 'subprotocol',
  });
  let countdown = null;
  let reconnects = 0;
  const stopCountdown = () => { clearInterval(countdown); countdown = null; };

  client.on('connecting', ({ attempt }) => {
    stopCountdown();
    setConn(attempt > 0 ? 'reconnecting' : 'connecting', attempt > 0 ? 'Reconnecting…' : 'Connecting…');
  });
  client.on('sync', ({ cause }) => {
    if (cause !== 'enter' && cause !== 'resync') return;
    stopCountdown();
    setConn('online', 'Connected');
  });
  client.on('resumed', () => { setConn('online', 'Connected'); });
  client.on('open', () => {
    const conn = document.getElementById('conn');
    if (conn && client.attempt > 0) conn.dataset.reconnects = String(++reconnects);
  });
  client.on('disconnected', async ({ wasOpen, retryInMs }) => {
    if (retryInMs === null) return;
    const until = Date.now() + retryInMs;
    const tick = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      setConn('reconnecting', `Connection lost; retrying in ${left} s`);
    };
    stopCountdown();
    tick();
    countdown = setInterval(tick, 500);
    if (wasOpen) return;
    // The upgrade failed: a refused token, or no server. Tell them apart.
    try {
      const response = await fetch('/me/games', { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
      if (response.status === 401) {
        const body = await response.json().catch(() => ({}));
        onTokenRefused(`Your access token was refused (${body.error || 'unauthorized'}). Please sign in again.`);
      }
    } catch { /* server unreachable: the client retries */ }
  });
  client.on('closed', ({ code }) => {
    stopCountdown();
    setConn('offline', code === 4000 ? 'Opened elsewhere' : 'Not in a room');
  });
  return client;
}
