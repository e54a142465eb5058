// One user's connection to a room: the handshake, ENTER, the commands, the
// events, and what happens when the socket drops (PROTOCOL.md §1-§4, §8, §9).

import {
  decode, encodeBuild, encodeEnter, encodeLeave, encodeMove, encodeSync, splitFrame,
} from './codec.js';
import { backoffDelay, BACKOFF_DEFAULTS } from './backoff.js';
import { Emitter } from './emitter.js';
import { ErrorCode, RoomError } from './errors.js';
import { handshake, routeUrl, socketConstructor } from './handshake.js';
import { RoomState } from './state.js';

/**
 * @typedef {import('./codec.js').ServerMessage} ServerMessage
 * @typedef {import('./codec.js').EnterMessage} EnterMessage
 * @typedef {import('./codec.js').LeaveMessage} LeaveMessage
 * @typedef {import('./codec.js').MoveMessage} MoveMessage
 * @typedef {import('./codec.js').SeatMessage} SeatMessage
 * @typedef {import('./codec.js').ResumedMessage} ResumedMessage
 * @typedef {import('./codec.js').ReplacedMessage} ReplacedMessage
 * @typedef {import('./codec.js').RoomMap} RoomMap
 * @typedef {import('./codec.js').DirectionValue} DirectionValue
 * @typedef {import('./state.js').Room} Room
 * @typedef {import('./backoff.js').BackoffOptions} BackoffOptions
 *
 * @typedef {import('./handshake.js').SocketLike} SocketLike
 * @typedef {import('./handshake.js').SocketConstructor} SocketConstructor
 *
 * @typedef {object} ClientOptions
 * @property {string | (() => string | Promise<string>)} token the access token (PROTOCOL.md §1), or a
 *   function asked for it before every connection (to refresh an expiring one)
 * @property {string} [url] the WebSocket endpoint, e.g. `ws://127.0.0.1:8210/library`
 * @property {string} [http] the cluster's HTTP base, e.g. `http://127.0.0.1:8210`: before each
 *   connection `GET {http}/rooms/{id}/route` names the node to use; `url` (default: `http` with a
 *   ws scheme and `/library`) is the fallback when there is no route
 * @property {'subprotocol' | 'query'} [tokenIn] how the token travels (default `subprotocol`:
 *   `myroom.v1, bearer.<token>`; `query`: `?token=`)
 * @property {boolean} [batch] ask for `batch=1` (several messages per frame; split here)
 * @property {boolean} [resume] opt into seat resume, §9 (default true)
 * @property {false | BackoffOptions} [reconnect] reconnection delays, or `false` for none
 * @property {number} [timeoutMs] how long an ENTER, SYNC, BUILD, resume, route lookup or token
 *   check may wait for its answer (default 10000)
 * @property {boolean} [authCheck] after a connection that never opened, ask the server's
 *   `POST /auth/check` whether the token is refused (default true): a refused one stops the client
 *   with a `RoomError` of kind `auth` (an expired one only after the token function gave a new one
 *   that is refused too)
 * @property {SocketConstructor} [WebSocket] default: the global `WebSocket`
 * @property {typeof fetch} [fetch] default: the global `fetch`
 * @property {() => number} [random] for the jitter (default `Math.random`)
 *
 * @typedef {'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed'} Status
 * @typedef {'enter' | 'resync' | 'request' | 'build'} SyncCause
 * @typedef {{ room: Room, seq?: number, cause: SyncCause }} SyncEvent
 * @typedef {{ cause: 'sync' | 'enter' | 'leave' | 'move' | 'resumed' }} StateEvent
 * @typedef {{ url: string, attempt: number, resuming: boolean }} ConnectingEvent
 * @typedef {{ url: string }} OpenEvent
 * @typedef {{ code: number, reason: string, wasOpen: boolean, retryInMs: number | null }} DisconnectedEvent
 * @typedef {{ code: number, reason: string, error: RoomError | null }} ClosedEvent
 *
 * @typedef {{
 *   enter: EnterMessage, leave: LeaveMessage, move: MoveMessage, sync: SyncEvent,
 *   seat: SeatMessage, resumed: ResumedMessage, replaced: ReplacedMessage, error: RoomError,
 *   state: StateEvent, connecting: ConnectingEvent, open: OpenEvent,
 *   disconnected: DisconnectedEvent, closed: ClosedEvent, status: { status: Status },
 * }} ClientEvents
 *
 * @typedef {{ resolve: (room: Room) => void, reject: (e: RoomError) => void,
 *             timer: ReturnType<typeof setTimeout> | null }} Waiter
 */

const OPEN = 1;
// Close codes after which coming back would be wrong: 1008 (policy: flooding,
// legacy deadline) and 4000 (another socket of this user took the seat).
const FINAL_CLOSE_CODES = new Set([1008, 4000]);
// ERROR codes that answer an ENTER but may pass: try again after a delay.
/** @type {Set<number>} */
const TRANSIENT_ENTER_ERRORS = new Set([ErrorCode.UNAVAILABLE, ErrorCode.RATE_LIMITED, ErrorCode.SERVER_ERROR]);

/** @extends {Emitter<ClientEvents>} */
export class RoomClient extends Emitter {
  /** @param {ClientOptions} options */
  constructor(options) {
    super();
    if (!options || (typeof options.token !== 'string' && typeof options.token !== 'function')) {
      throw new RoomError('usage', 'RoomClient needs a token');
    }
    if (!options.url && !options.http) throw new RoomError('usage', 'RoomClient needs a url or an http base');
    this.options = options;
    /** The room as the server has told it. */
    this.state = new RoomState();
    /** @type {Status} */
    this.status = 'idle';
    /** @type {{ token: string, roomId: string } | null} the seat to resume (§9), if the server offered one */
    this.seat = null;
    /** @type {string | null} the room this client wants to be in */
    this.roomId = null;
    /** @private @type {SocketLike | null} */
    this.ws = null;
    this.attempt = 0;
    /** @private @type {ReturnType<typeof setTimeout> | null} */
    this.retryTimer = null;
    /** @type {number | null} when the next connection attempt starts (Date.now() clock), if one is planned */
    this.nextRetryAt = null;
    // The socket is in `roomId` and may send commands.
    /** @private */
    this.entered = false;
    /** @private @type {Waiter | null} the ENTER on this socket waiting for its SYNC */
    this.entering = null;
    /** @private @type {Waiter | null} the enter() call's promise: it outlives reconnects */
    this.enterCall = null;
    /** @private @type {ReturnType<typeof setTimeout> | null} waiting for the answer to resume=<token> */
    this.resumeTimer = null;
    /** @private */
    this.resuming = false;
    /** @private @type {Waiter[]} */
    this.syncWaiters = [];
    /** @private @type {Map<string, Waiter>} BUILDs waiting for their answer, by their `ref` */
    this.buildWaiters = new Map();
    /** @private */
    this.builds = 0;
    /** @type {string | null} the user this client speaks for, as the server named it (SYNC `you`) */
    this.me = null;
    /** @private the token was refused as expired once since the last open socket: asked again */
    this.expiredOnce = false;
    /** @private @type {{ url: string, token: string } | null} the last connection attempt's */
    this.lastAttempt = null;
    /** @private how many sockets opened so far (a token check made before one opened is stale) */
    this.opens = 0;
    /** @private */
    this.resyncAsked = false;
    /** @private */
    this.leaving = false;
    /** @private */
    this.replaced = false;
    /** @private */
    this.stopped = false;
    /** @private */
    this.generation = 0;
    /** @private @type {RoomError | null} why the client stopped, when it stopped on an error */
    this.finalError = null;
  }

  /** The room, once entered (kept while reconnecting). */
  get room() { return this.state.room; }

  /** Whether commands can be sent now. */
  get ready() { return this.entered && !!this.ws && this.ws.readyState === OPEN; }

  /**
   * Enter room `roomId` (connecting first if needed); resolves with the room
   * once the server's SYNC arrived, through reconnects if it takes some.
   * Rejects with a `RoomError`: a refusal (76401, 76403, 76404, 76409, ...)
   * stops the client; so does a final close.
   * @param {string | number} roomId
   * @returns {Promise<Room>}
   */
  enter(roomId) {
    const id = String(roomId).trim();
    if (!/^[0-9]{1,19}$/.test(id)) return Promise.reject(new RoomError('usage', `not a room id: ${roomId}`));
    if (this.enterCall) this.settle(this.enterCall, new RoomError('usage', `superseded by enter(${id})`));
    if (this.seat && this.seat.roomId !== id) this.seat = null;
    if (this.roomId !== id) this.state.clear();
    this.roomId = id;
    this.stopped = false;
    this.leaving = false;
    this.replaced = false;
    this.finalError = null;
    const promise = new Promise((resolve, reject) => { this.enterCall = { resolve, reject, timer: null }; });
    if (this.ws && this.ws.readyState === OPEN) {
      // A resume in flight is for the seat's room: another room is entered at once.
      if (!this.resuming) this.sendEnter();
      else if (!this.seat) this.giveUpSeat();
    } else if (!this.ws) {
      // Also cuts a planned retry short; a connection being prepared is superseded.
      this.cancelRetry();
      void this.connect();
    } // else: the socket is opening, or resuming; it enters `roomId` when it can
    return /** @type {Promise<Room>} */ (promise);
  }

  /**
   * Move one cell. Returns false (and sends nothing) when not in a room right now.
   * Throws a `RoomError` of kind `usage` for a direction other than 0, 1, 2 or 3.
   * @param {DirectionValue} direction 0 up, 1 right, 2 down, 3 left
   */
  move(direction) {
    const frame = encodeMove(direction);
    if (!this.ready) return false;
    /** @type {SocketLike} */ (this.ws).send(frame);
    return true;
  }

  /**
   * Ask for the whole room again; resolves with it.
   * @returns {Promise<Room>}
   */
  sync() {
    if (!this.ready) return Promise.reject(new RoomError('usage', 'not in a room'));
    /** @type {SocketLike} */ (this.ws).send(encodeSync());
    return new Promise((resolve, reject) => {
      /** @type {Waiter} */
      const waiter = { resolve, reject, timer: null };
      waiter.timer = setTimeout(() => {
        this.syncWaiters = this.syncWaiters.filter((w) => w !== waiter);
        reject(new RoomError('timeout', 'no SYNC in time'));
      }, this.timeoutMs);
      this.syncWaiters.push(waiter);
    });
  }

  /**
   * Replace the room's map (owner only). Resolves with the room of the SYNC
   * answering this BUILD; rejects with the ERROR that refused it (76403,
   * 76410, 76503 when another writer changed the map meanwhile, ...). The
   * BUILD carries a `ref` that the server echoes in its answer (PROTOCOL.md
   * §5), so other SYNCs and ERRORs arriving meanwhile are not taken for it.
   * @param {RoomMap} map
   * @returns {Promise<Room>}
   */
  build(map) {
    if (!this.ready) return Promise.reject(new RoomError('usage', 'not in a room'));
    this.builds += 1;
    const ref = `b${this.builds}`;
    /** @type {SocketLike} */ (this.ws).send(encodeBuild(map, ref));
    return new Promise((resolve, reject) => {
      /** @type {Waiter} */
      const waiter = { resolve, reject, timer: null };
      waiter.timer = setTimeout(() => {
        this.buildWaiters.delete(ref);
        reject(new RoomError('timeout', 'no answer to BUILD in time'));
      }, this.timeoutMs);
      this.buildWaiters.set(ref, waiter);
    });
  }

  /**
   * Leave the room (LEAVE, 19): the server closes the socket, and this client
   * does not reconnect. Resolves once closed.
   * @returns {Promise<void>}
   */
  leave() {
    if (this.status === 'closed' || this.status === 'idle') {
      this.seat = null;
      this.state.clear();
      this.roomId = null;
      this.stopped = true;
      return Promise.resolve();
    }
    const closed = this.once('closed').then(() => undefined);
    this.leaving = true;
    this.seat = null;
    if (this.ws && this.ws.readyState === OPEN) {
      this.stopped = true;
      this.cancelRetry();
      this.ws.send(encodeLeave());
      const ws = this.ws;
      // The server closes after LEAVE; a server that does not is not waited for forever.
      const timer = setTimeout(() => {
        if (this.ws !== ws) return;
        try { ws.close(1000); } catch { /* closing */ }
        this.onClosed(ws, 1000, 'left', true);
      }, this.timeoutMs);
      void closed.then(() => clearTimeout(timer));
    } else {
      this.close();
    }
    return closed;
  }

  /**
   * Close the connection without LEAVE and stop reconnecting. To the server
   * this is a dropped connection (§8; with resume, the seat is kept for the
   * grace). `enter()` starts again.
   */
  close() {
    this.stopped = true;
    this.cancelRetry();
    this.generation += 1;
    if (this.ws) {
      const wasOpen = this.ws.readyState === OPEN;
      try { this.ws.close(1000); } catch { /* already closing */ }
      // Some WebSocket implementations report the close late, or not at all for a socket still connecting.
      this.onClosed(this.ws, 1000, 'closed by the client', wasOpen);
    } else if (this.status !== 'closed') {
      this.finish(1000, 'closed by the client');
    }
  }

  /**
   * Cut a planned retry short and connect now (say, when the browser reports
   * it is online again). Does nothing unless a retry is planned.
   */
  reconnectNow() {
    if (!this.retryTimer || this.stopped) return;
    this.cancelRetry();
    void this.connect();
  }

  // ---------- connection ----------

  /** @private */
  get timeoutMs() { return this.options.timeoutMs ?? 10_000; }

  /** @private */
  async connect() {
    const generation = ++this.generation;
    const roomId = this.roomId;
    if (!roomId) return;
    this.setStatus(this.attempt > 0 ? 'reconnecting' : 'connecting');
    let url;
    let token;
    try {
      const ctor = socketConstructor(this.options.WebSocket);
      [url, token] = await Promise.all([routeUrl({ ...this.options, timeoutMs: this.timeoutMs }, roomId), this.tokenNow()]);
      if (generation !== this.generation || this.stopped) return;
      const seat = this.seat && this.seat.roomId === roomId && this.state.seq !== null && this.options.resume !== false
        ? { token: this.seat.token, seq: this.state.seq } : null;
      const resuming = seat !== null;
      const { tokenIn, batch, resume } = this.options;
      const upgrade = handshake(url, { token, tokenIn, batch, resume, seat });
      this.lastAttempt = { url, token };
      this.emit('connecting', { url, attempt: this.attempt, resuming });
      const ws = upgrade.protocols ? new ctor(upgrade.url, upgrade.protocols) : new ctor(upgrade.url);
      this.ws = ws;
      this.resuming = resuming;
      this.attach(ws, url);
    } catch (e) {
      if (generation !== this.generation) return;
      const error = e instanceof RoomError ? e : new RoomError('usage', `cannot connect: ${e instanceof Error ? e.message : String(e)}`);
      this.stopped = true;
      this.ws = null;
      this.finish(0, error.message, error);
    }
  }

  /** @private */
  async tokenNow() {
    const token = this.options.token;
    return typeof token === 'function' ? String(await token()) : token;
  }

  /**
   * @param {SocketLike} ws
   * @param {string} url
   * @private
   */
  attach(ws, url) {
    let opened = false;
    // An upgrade nobody answers is a failed connection too.
    const openTimer = setTimeout(() => {
      if (this.ws === ws && !opened) this.drop(ws, 'no answer to the upgrade in time', false);
    }, this.timeoutMs);
    ws.onopen = () => {
      clearTimeout(openTimer);
      if (this.ws !== ws) return;
      opened = true;
      this.opens += 1;
      this.expiredOnce = false;
      this.setStatus('open');
      this.emit('open', { url });
      // enter() into another room while this socket was opening: no seat to resume there.
      if (this.resuming && !(this.seat && this.seat.roomId === this.roomId)) this.resuming = false;
      if (this.resuming) {
        // §9: no ENTER; the server answers RESUMED, a SYNC, or 76408. One that
        // answers nothing (not a §9 server after all) gets a plain ENTER.
        this.resumeTimer = setTimeout(() => this.giveUpSeat(), this.timeoutMs);
      } else {
        this.sendEnter();
      }
    };
    ws.onmessage = (event) => {
      if (this.ws !== ws || typeof event.data !== 'string') return;
      for (const line of splitFrame(event.data)) {
        const message = decode(line);
        if (message) this.handle(message);
        if (this.ws !== ws) return;
      }
    };
    // Browsers follow an error with a close event; Node 20's WebSocket may not
    // (a connection reset during the upgrade leaves it CONNECTING for ever), so
    // an error ends the socket here. onClosed runs once per socket.
    ws.onerror = () => {
      clearTimeout(openTimer);
      if (this.ws === ws) this.drop(ws, 'connection error', opened);
    };
    ws.onclose = (event) => {
      clearTimeout(openTimer);
      this.onClosed(ws, event.code, event.reason, opened);
    };
  }

  /** @private */
  sendEnter() {
    if (!this.ws || !this.roomId) return;
    this.clearEntering();
    this.entered = false;
    this.ws.send(encodeEnter(this.roomId));
    const ws = this.ws;
    this.entering = {
      resolve: () => {},
      reject: () => {},
      timer: setTimeout(() => {
        // No answer: treat the socket as dead and come back through a new one.
        if (this.ws === ws) this.drop(ws, 'no answer to ENTER in time', true);
      }, this.timeoutMs),
    };
  }

  /** @private */
  giveUpSeat() {
    this.resuming = false;
    this.clearResume();
    this.seat = null;
    this.sendEnter();
  }

  /**
   * Close `ws` ourselves and handle it as a drop (reconnect).
   * @param {SocketLike} ws
   * @param {string} reason
   * @param {boolean} wasOpen
   * @private
   */
  drop(ws, reason, wasOpen) {
    this.onClosed(ws, 1006, reason, wasOpen);
    try { ws.close(1000); } catch { /* already closing */ }
  }

  /**
   * @param {SocketLike} ws
   * @param {number} code
   * @param {string} reason
   * @param {boolean} wasOpen
   * @private
   */
  onClosed(ws, code, reason, wasOpen) {
    if (this.ws !== ws) return;
    ws.onopen = null; ws.onmessage = null; ws.onclose = null; ws.onerror = null;
    this.ws = null;
    this.entered = false;
    this.resuming = false;
    this.clearEntering();
    this.clearResume();
    this.failCommands(new RoomError('closed', `connection closed (${code})`, { closeCode: code }));
    // §9: no seat after LEAVE, 1008 or a replacement.
    if (this.leaving || this.replaced || FINAL_CLOSE_CODES.has(code)) this.seat = null;
    const reconnect = this.options.reconnect === false ? null : { ...BACKOFF_DEFAULTS, ...this.options.reconnect };
    const final = this.stopped || this.leaving || this.replaced || FINAL_CLOSE_CODES.has(code)
      || !reconnect || !this.roomId || this.attempt >= reconnect.maxAttempts;
    if (final) {
      const error = this.finalError ?? (this.leaving || this.stopped ? null
        : new RoomError('closed', this.replaced || code === 4000
          ? 'replaced by a newer connection of this user (4000)'
          : `connection closed (${code}${reason ? `: ${reason}` : ''})`, { closeCode: code }));
      if (this.leaving) { this.state.clear(); this.roomId = null; }
      this.emit('disconnected', { code, reason, wasOpen, retryInMs: null });
      this.finish(code, reason, error);
      return;
    }
    const delay = backoffDelay(this.attempt, reconnect, this.options.random);
    this.attempt += 1;
    this.setStatus('reconnecting');
    this.nextRetryAt = Date.now() + delay;
    this.emit('disconnected', { code, reason, wasOpen, retryInMs: delay });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.nextRetryAt = null;
      void this.connect();
    }, delay);
    // A refused upgrade (401) looks like a server that is down: ask the server which it is.
    if (!wasOpen && this.lastAttempt && this.options.authCheck !== false) void this.checkToken();
  }

  /**
   * After a connection that never opened: `POST /auth/check` on the server
   * tried says whether the token is refused. Refused: the client stops with a
   * `RoomError` of kind `auth`, except that an expired token is asked of the
   * token function once more first (the retry already planned does that).
   * No answer, or another one (a server without the route): the retry goes on.
   * A verdict counts while no socket opened since and the latest attempt
   * presents the same token (a token asked again gets a check of its own),
   * however many retries started while the check was on its way.
   * @private
   */
  async checkToken() {
    const attempt = /** @type {{ url: string, token: string }} */ (this.lastAttempt);
    const opens = this.opens;
    const fetcher = this.options.fetch ?? globalThis.fetch;
    if (typeof fetcher !== 'function') return;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    /** @type {{ reason?: unknown, message?: unknown } | null} */
    let refused = null;
    try {
      const target = new URL(attempt.url);
      target.protocol = target.protocol === 'wss:' ? 'https:' : 'http:';
      const response = await fetcher(new URL('/auth/check', target.origin).toString(), {
        method: 'POST', body: attempt.token, headers: { 'content-type': 'text/plain' },
        cache: 'no-store', signal: controller.signal,
      });
      if (response.status !== 401) return;
      refused = await response.json().catch(() => ({}));
    } catch {
      return;
    } finally {
      clearTimeout(timer);
    }
    if (opens !== this.opens || attempt.token !== this.lastAttempt?.token || this.stopped || !refused) return;
    const reason = typeof refused.reason === 'string' ? refused.reason : 'invalid';
    if (reason === 'expired' && typeof this.options.token === 'function' && !this.expiredOnce) {
      this.expiredOnce = true;
      return;
    }
    const message = typeof refused.message === 'string' ? refused.message : `access token refused (${reason})`;
    const error = new RoomError('auth', `the server refused the access token: ${message}`,
      { code: ErrorCode.UNAUTHORIZED, serverMessage: message });
    this.seat = null;
    this.emit('error', error);
    const ws = this.ws;
    if (ws) {
      // The retry already started: it is given up, and reported as the refusal.
      this.stopped = true;
      this.finalError = error;
      try { ws.close(1000); } catch { /* closing */ }
      this.onClosed(ws, 1000, message, false);
    } else {
      this.finish(0, message, error);
    }
  }

  /**
   * The client has stopped: no socket, no retry.
   * @param {number} code
   * @param {string} reason
   * @param {RoomError | null} [error]
   * @private
   */
  finish(code, reason, error = null) {
    this.cancelRetry();
    this.stopped = true;
    this.finalError = error;
    if (this.enterCall) {
      this.settle(this.enterCall, error ?? new RoomError('closed', 'closed before entering', { closeCode: code }));
    }
    this.setStatus('closed');
    this.emit('closed', { code, reason, error });
  }

  /** @private */
  cancelRetry() {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.nextRetryAt = null;
  }

  /** @private */
  clearEntering() {
    if (this.entering?.timer) clearTimeout(this.entering.timer);
    this.entering = null;
  }

  /** @private */
  clearResume() {
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.resumeTimer = null;
  }

  /** @private @param {RoomError} error */
  failCommands(error) {
    for (const waiter of this.syncWaiters) this.settle(waiter, error);
    this.syncWaiters = [];
    for (const waiter of this.buildWaiters.values()) this.settle(waiter, error);
    this.buildWaiters.clear();
    this.resyncAsked = false;
  }

  /**
   * @param {Waiter} waiter
   * @param {RoomError | Room} outcome
   * @private
   */
  settle(waiter, outcome) {
    if (waiter.timer) clearTimeout(waiter.timer);
    if (waiter === this.enterCall) this.enterCall = null;
    if (outcome instanceof RoomError) waiter.reject(outcome);
    else waiter.resolve(outcome);
  }

  /** @private @param {Status} status */
  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.emit('status', { status });
  }

  // ---------- messages ----------

  /** @private @param {ServerMessage} m */
  handle(m) {
    switch (m.code) {
      case 11: return this.onSync(m);
      case 10: case 19: case 20: return this.onEvent(m);
      case 12:
        this.seat = { token: m.token, roomId: m.roomId };
        this.emit('seat', m);
        return;
      case 13: return this.onResumed(m);
      case 98:
        // The close 4000 that follows is final.
        this.replaced = true;
        this.seat = null;
        this.emit('replaced', m);
        return;
      case 99: return this.onError(m);
    }
  }

  /** @private @param {import('./codec.js').SyncMessage} m */
  onSync(m) {
    this.state.apply(m);
    const room = /** @type {Room} */ (this.state.room);
    if (m.you !== undefined) this.me = m.you;
    /** @type {SyncCause} */
    let cause = 'build';
    if (this.entering) {
      cause = 'enter';
      this.clearEntering();
    } else if (this.resuming) {
      // §9: the seat is held but the missed events cannot be replayed; a new SEAT follows.
      cause = 'resync';
      this.resuming = false;
      this.clearResume();
    } else if (m.you !== undefined) {
      // A SYNC for this socket alone that answers no ENTER answers an `11`.
      cause = 'request';
    } else if (m.ref === undefined && this.me === null && (this.syncWaiters.length > 0 || this.resyncAsked)) {
      // A server that names nobody: a SYNC while one was asked for is taken as its answer.
      cause = 'request';
    }
    this.resyncAsked = false;
    if (cause === 'enter' || cause === 'resync') this.onInRoom();
    for (const waiter of this.syncWaiters) this.settle(waiter, room);
    this.syncWaiters = [];
    const built = m.ref === undefined ? undefined : this.buildWaiters.get(m.ref);
    if (built && m.ref !== undefined) {
      this.buildWaiters.delete(m.ref);
      this.settle(built, room);
    }
    this.emit('sync', m.seq === undefined ? { room, cause } : { room, seq: m.seq, cause });
    this.emit('state', { cause: 'sync' });
  }

  /** @private */
  onInRoom() {
    this.entered = true;
    this.attempt = 0;
    if (this.enterCall && this.state.room) this.settle(this.enterCall, this.state.room);
  }

  /** @private @param {EnterMessage | LeaveMessage | MoveMessage} m */
  onEvent(m) {
    const verdict = this.state.apply(m);
    if (verdict === 'stale' || verdict === 'ignored') return;
    if (verdict === 'gap' && !this.resyncAsked && this.ready) {
      // An event went missing: the state may be behind, so ask for all of it.
      this.resyncAsked = true;
      /** @type {SocketLike} */ (this.ws).send(encodeSync());
    }
    if (m.code === 10) this.emit('enter', m);
    else if (m.code === 19) this.emit('leave', m);
    else this.emit('move', m);
    this.emit('state', { cause: m.code === 10 ? 'enter' : m.code === 19 ? 'leave' : 'move' });
  }

  /** @private @param {ResumedMessage} m */
  onResumed(m) {
    // Only the answer to our own resume counts (not one that comes after we gave up on it).
    if (!this.resuming) return;
    this.resuming = false;
    this.clearResume();
    this.onInRoom();
    this.emit('resumed', m);
    this.emit('state', { cause: 'resumed' });
  }

  /** @private @param {import('./codec.js').ErrorMessage} m */
  onError(m) {
    const error = RoomError.fromServer(m.errorCode, m.message);
    if (this.resuming) {
      // The answer to resume=<token>: the seat is gone (76408) or the token was not
      // accepted (76100, 76401). The socket stays open: enter as usual.
      this.giveUpSeat();
      return;
    }
    if (this.entering) {
      this.clearEntering();
      const ws = this.ws;
      if (TRANSIENT_ENTER_ERRORS.has(m.errorCode) && ws) {
        this.emit('error', error);
        this.drop(ws, error.message, true);
        return;
      }
      // Refused: the same ENTER would be refused again.
      this.emit('error', error);
      this.stopped = true;
      this.finalError = error;
      this.seat = null;
      if (ws) {
        try { ws.close(1000); } catch { /* closing */ }
        this.onClosed(ws, 1000, error.message, true);
      }
      return;
    }
    const built = m.ref === undefined ? undefined : this.buildWaiters.get(m.ref);
    if (built && m.ref !== undefined) {
      this.buildWaiters.delete(m.ref);
      this.settle(built, error);
    }
    this.emit('error', error);
  }
}
