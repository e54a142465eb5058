// The client's reconnection and §9 resume logic against an injected fake
// WebSocket, every answer a server may give (server.test.js resumes against
// the real one): what it sends on each socket, in which order, and what it
// does with each answer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RoomClient, RoomError, encodeServerMessage as wire } from '../src/index.js';
import { fakeWebSocket } from './helpers/fake-ws.js';
import { within } from './helpers/server.js';

const FAST = { initialDelayMs: 1, maxDelayMs: 4, factor: 2, jitter: 0.5 };
const wireRoom = (users) => ({ roomId: '7', userCount: Object.keys(users).length, users, map: { side: 20 } });
const alice = { nickname: 'alice', x: 0, y: 0 };
const bob = { nickname: 'bob', x: 2, y: 0 };

function newClient(fake, extra = {}) {
  return new RoomClient({ url: 'ws://room.test/library', token: 'tok', WebSocket: fake.WebSocket, reconnect: FAST, ...extra });
}

/** Open socket n, answer its ENTER with SYNC(seq) and, if `seat`, a SEAT. */
async function enterOn(fake, n, { seq = 40, seat = 'seat-1', users = { 1: alice, 2: bob } } = {}) {
  const ws = await fake.socket(n);
  ws.open();
  assert.equal(await ws.nextSent(1), '10{"room_id":"7"}');
  ws.deliver(wire({ code: 11, room: wireRoom(users), seq }));
  if (seat) ws.deliver(wire({ code: 12, token: seat, roomId: '7' }));
  return ws;
}

describe('handshake', () => {
  test('the token goes as a subprotocol by default, or in the query; resume=1 opts in', async () => {
    const fake = fakeWebSocket();
    const a = newClient(fake, { batch: true });
    a.enter(7).catch(() => {});
    const ws = await fake.socket(0);
    assert.deepEqual(ws.protocols, ['myroom.v1', 'bearer.tok']);
    assert.equal(ws.url.searchParams.get('resume'), '1');
    assert.equal(ws.url.searchParams.get('batch'), '1');
    assert.equal(ws.url.searchParams.get('token'), null);
    a.close();

    const fake2 = fakeWebSocket();
    const b = newClient(fake2, { tokenIn: 'query', resume: false });
    b.enter(7).catch(() => {});
    const ws2 = await fake2.socket(0);
    assert.equal(ws2.protocols, undefined);
    assert.equal(ws2.url.searchParams.get('token'), 'tok');
    assert.equal(ws2.url.searchParams.get('resume'), null);
    b.close();
  });

  test('a token function is asked again for every connection', async () => {
    const fake = fakeWebSocket();
    let n = 0;
    const c = newClient(fake, { token: async () => `tok${++n}` });
    c.enter(7).catch(() => {});
    const first = await enterOn(fake, 0, { seat: null });
    assert.deepEqual(first.protocols, ['myroom.v1', 'bearer.tok1']);
    first.drop(1006);
    const second = await fake.socket(1);
    assert.deepEqual(second.protocols, ['myroom.v1', 'bearer.tok2']);
    c.close();
  });

  test('without a WebSocket it says how to get one', async () => {
    const saved = globalThis.WebSocket;
    // @ts-ignore
    delete globalThis.WebSocket;
    try {
      const c = new RoomClient({ url: 'ws://room.test/library', token: 'tok' });
      await assert.rejects(c.enter(7), (e) => e instanceof RoomError && /experimental-websocket/.test(e.message));
    } finally {
      if (saved) globalThis.WebSocket = saved;
    }
  });
});

describe('resume (PROTOCOL.md §9)', () => {
  test('after a drop it resumes the seat with resume=<token>&seq=<last>, sends no ENTER, and applies the replay', async () => {
    const fake = fakeWebSocket();
    const c = newClient(fake);
    const entered = c.enter(7);
    const first = await enterOn(fake, 0, { seq: 40 });
    await entered;
    first.deliver(wire({ code: 20, userId: '2', direction: 1, x: 3, y: 0, seq: 41 }));
    assert.equal(c.state.seq, 41);
    assert.deepEqual(c.seat, { token: 'seat-1', roomId: '7' });
    const events = [];
    for (const name of ['enter', 'leave', 'move', 'sync', 'resumed']) c.on(name, (e) => events.push([name, e.seq ?? null]));

    first.drop(1006);
    const second = await within(fake.socket(1), 'the reconnect');
    assert.equal(second.url.searchParams.get('resume'), 'seat-1');
    assert.equal(second.url.searchParams.get('seq'), '41');
    second.open();
    second.deliver(wire({ code: 13, roomId: '7', seq: 44, replayed: 3 }));
    second.deliver([
      wire({ code: 20, userId: '2', direction: 1, x: 4, y: 0, seq: 42 }),
      wire({ code: 10, userId: '3', nickname: 'carol', x: 0, y: 0, seq: 43 }),
      wire({ code: 20, userId: '3', direction: 2, x: 0, y: 1, seq: 44 }),
    ].join('\n'));
    assert.deepEqual(second.sent, [], 'no ENTER on a resumed socket, and no SYNC either');
    assert.deepEqual(events, [['resumed', 44], ['move', 42], ['enter', 43], ['move', 44]]);
    assert.equal(c.state.seq, 44);
    assert.deepEqual(c.room.users.get('2'), { id: '2', nickname: 'bob', x: 4, y: 0 });
    assert.deepEqual(c.room.users.get('3'), { id: '3', nickname: 'carol', x: 0, y: 1 });
    assert.equal(c.ready, true);
    assert.equal(c.move(1), true);
    assert.deepEqual(second.sent, ['20{"direction":1}']);
    c.close();
  });

  test('an event replayed twice is applied once', async () => {
    const fake = fakeWebSocket();
    const c = newClient(fake);
    c.enter(7).catch(() => {});
    const first = await enterOn(fake, 0, { seq: 40 });
    first.drop(1006);
    const second = await fake.socket(1);
    second.open();
    second.deliver(wire({ code: 13, roomId: '7', seq: 41, replayed: 1 }));
    const moves = [];
    c.on('move', (m) => moves.push(m.seq));
    second.deliver(wire({ code: 20, userId: '2', direction: 1, x: 3, y: 0, seq: 41 }));
    second.deliver(wire({ code: 20, userId: '2', direction: 1, x: 3, y: 0, seq: 41 }));
    assert.deepEqual(moves, [41]);
    c.close();
  });

  test('seat expired (76408): a fresh ENTER on the same socket, then the new SEAT', async () => {
    const fake = fakeWebSocket();
    const c = newClient(fake);
    c.enter(7).catch(() => {});
    const first = await enterOn(fake, 0, { seq: 40 });
    const errors = [];
    c.on('error', (e) => errors.push(e.code));
    first.drop(1006);
    const second = await fake.socket(1);
    second.open();
    second.deliver(wire({ code: 99, errorCode: 76408, message: 'seat expired; enter again' }));
    assert.equal(await second.nextSent(1), '10{"room_id":"7"}');
    assert.equal(c.seat, null, 'the expired token is forgotten');
    const syncs = [];
    c.on('sync', (s) => syncs.push(s.cause));
    second.deliver(wire({ code: 11, room: wireRoom({ 1: alice }), seq: 90 }));
    second.deliver(wire({ code: 12, token: 'seat-2', roomId: '7' }));
    assert.deepEqual(syncs, ['enter']);
    assert.deepEqual([...c.room.users.keys()], ['1'], 'the state is the new SYNC');
    assert.deepEqual(c.seat, { token: 'seat-2', roomId: '7' });
    assert.deepEqual(errors, [], 'the answer to our own resume is not an error for the application');
    assert.equal(fake.sockets.length, 2, 'the socket stayed');
    // The next drop resumes with the new seat.
    second.drop(1006);
    const third = await fake.socket(2);
    assert.equal(third.url.searchParams.get('resume'), 'seat-2');
    assert.equal(third.url.searchParams.get('seq'), '90');
    c.close();
  });

  test('a SYNC instead of RESUMED (too much missed): the state is replaced and the new SEAT kept', async () => {
    const fake = fakeWebSocket();
    const c = newClient(fake);
    c.enter(7).catch(() => {});
    const first = await enterOn(fake, 0, { seq: 40 });
    first.drop(1001);
    const second = await fake.socket(1);
    second.open();
    const syncs = [];
    c.on('sync', (s) => syncs.push([s.cause, s.seq]));
    second.deliver(wire({ code: 11, room: wireRoom({ 1: { ...alice, x: 5 } }), seq: 900 }));
    second.deliver(wire({ code: 12, token: 'seat-3', roomId: '7' }));
    assert.deepEqual(second.sent, []);
    assert.deepEqual(syncs, [['resync', 900]]);
    assert.equal(c.room.users.get('1').x, 5);
    assert.equal(c.state.seq, 900);
    assert.deepEqual(c.seat, { token: 'seat-3', roomId: '7' });
    assert.equal(c.ready, true);
    c.close();
  });

  test('a resume nobody answers falls back to ENTER within the deadline', async () => {
    const fake = fakeWebSocket();
    const c = newClient(fake, { timeoutMs: 30 });
    c.enter(7).catch(() => {});
    const first = await enterOn(fake, 0, { seq: 40 });
    first.drop(1006);
    const second = await fake.socket(1);
    second.open();
    assert.equal(await within(second.nextSent(1), 'the fallback ENTER'), '10{"room_id":"7"}');
    c.close();
  });

  test('enter() into another room while a resume is in flight enters that room, and the late RESUMED is ignored', async () => {
    const fake = fakeWebSocket();
    const c = newClient(fake);
    c.enter(7).catch(() => {});
    const first = await enterOn(fake, 0, { seq: 40 });
    first.drop(1006);
    const second = await fake.socket(1);
    second.open();
    const other = c.enter(8);
    assert.equal(await second.nextSent(1), '10{"room_id":"8"}');
    second.deliver(wire({ code: 13, roomId: '7', seq: 40, replayed: 0 }));
    assert.equal(c.ready, false, 'not in room 7');
    second.deliver(wire({ code: 11, room: { ...wireRoom({ 1: alice }), roomId: '8' }, seq: 3 }));
    assert.equal((await within(other, 'enter(8)')).id, '8');
    assert.equal(c.room.id, '8');
    c.close();
  });

  test('a gap in the numbered events asks for the whole room', async () => {
    const fake = fakeWebSocket();
    const c = newClient(fake);
    c.enter(7).catch(() => {});
    const ws = await enterOn(fake, 0, { seq: 40 });
    ws.deliver(wire({ code: 20, userId: '2', direction: 1, x: 3, y: 0, seq: 41 }));
    assert.equal(ws.sent.length, 1);
    ws.deliver(wire({ code: 20, userId: '2', direction: 1, x: 5, y: 0, seq: 43 }));
    assert.equal(await ws.nextSent(2), '11{}');
    c.close();
  });

  test('a server that offers no SEAT gets a fresh ENTER after a drop', async () => {
    const fake = fakeWebSocket();
    const c = newClient(fake);
    c.enter(7).catch(() => {});
    const first = await enterOn(fake, 0, { seq: undefined, seat: null });
    first.drop(1006);
    const second = await fake.socket(1);
    assert.equal(second.url.searchParams.get('resume'), '1');
    assert.equal(second.url.searchParams.get('seq'), null);
    second.open();
    assert.equal(await second.nextSent(1), '10{"room_id":"7"}');
    c.close();
  });
});

describe('when to reconnect, and when not', () => {
  for (const [what, act] of [
    ['98 then close 4000', (ws) => { ws.deliver(wire({ code: 98, message: 'replaced' })); ws.drop(4000); }],
    ['close 4000 alone', (ws) => ws.drop(4000)],
    ['close 1008', (ws) => ws.drop(1008)],
  ]) {
    test(`after ${what}: closed, no retry planned, the seat forgotten`, async () => {
      const fake = fakeWebSocket();
      const c = newClient(fake);
      c.enter(7).catch(() => {});
      const ws = await enterOn(fake, 0, { seq: 40 });
      const closed = c.once('closed');
      act(ws);
      const { error } = await within(closed, 'closed');
      assert.equal(c.status, 'closed');
      assert.equal(c.nextRetryAt, null);
      assert.equal(c.retryTimer, null);
      assert.equal(c.seat, null);
      assert.ok(error instanceof RoomError && error.kind === 'closed');
      assert.equal(fake.sockets.length, 1);
    });
  }

  test('after LEAVE: LEAVE is sent, the server closes 1000, nothing reopens', async () => {
    const fake = fakeWebSocket();
    const c = newClient(fake);
    c.enter(7).catch(() => {});
    const ws = await enterOn(fake, 0, { seq: 40 });
    const left = c.leave();
    assert.equal(await ws.nextSent(2), '19{}');
    ws.drop(1000);
    await within(left, 'leave()');
    assert.equal(c.status, 'closed');
    assert.equal(c.nextRetryAt, null);
    assert.equal(c.seat, null);
    assert.equal(c.room, null);
    assert.equal(fake.sockets.length, 1);
  });

  test('after LEAVE a server that does not close is not waited for beyond the deadline', async () => {
    const fake = fakeWebSocket();
    const c = newClient(fake, { timeoutMs: 30 });
    c.enter(7).catch(() => {});
    const ws = await enterOn(fake, 0, { seq: 40 });
    const left = c.leave();
    assert.equal(await ws.nextSent(2), '19{}');
    await within(left, 'leave() without the server closing');
    assert.equal(c.status, 'closed');
    assert.equal(ws.readyState, 3, 'the client closed the socket itself');
    assert.equal(fake.sockets.length, 1);
  });

  test('a refused ENTER rejects with the RoomError and stops', async () => {
    const fake = fakeWebSocket();
    const c = newClient(fake);
    const entered = c.enter(999);
    const ws = await fake.socket(0);
    ws.open();
    await ws.nextSent(1);
    ws.deliver(wire({ code: 99, errorCode: 76404, message: 'room not found' }));
    await assert.rejects(entered, (e) => e instanceof RoomError && e.code === 76404 && e.isRefusal);
    assert.equal(c.status, 'closed');
    assert.equal(c.nextRetryAt, null);
    assert.equal(fake.sockets.length, 1);
  });

  test('a socket that errors while connecting, and one never answered, are retried', async () => {
    const fake = fakeWebSocket();
    const c = newClient(fake, { timeoutMs: 30 });
    const entered = c.enter(7);
    // Node 20's WebSocket: an error, and no close event ever.
    (await fake.socket(0)).onerror?.({});
    await within(fake.socket(1), 'a retry after the error');
    // The second upgrade is never answered: the deadline gives up on it.
    await within(fake.socket(2), 'a retry after the upgrade deadline');
    await enterOn(fake, 2);
    await within(entered, 'enter()');
    c.close();
  });

  test('a dropped socket is retried with growing delays; enter() resolves once back in', async () => {
    const fake = fakeWebSocket();
    const draws = [];
    const c = newClient(fake, { reconnect: { initialDelayMs: 2, maxDelayMs: 8, factor: 2, jitter: 0.5 } });
    c.on('disconnected', (d) => draws.push(d.retryInMs));
    const entered = c.enter(7);
    for (let i = 0; i < 4; i += 1) (await fake.socket(i)).drop(1006); // never opens
    const ws = await enterOn(fake, 4);
    await within(entered, 'enter()');
    assert.equal(draws.length, 4);
    draws.forEach((d, i) => {
      const nominal = Math.min(8, 2 * 2 ** i);
      assert.ok(d >= nominal / 2 && d <= nominal, `attempt ${i}: ${d} ms of nominal ${nominal}`);
    });
    assert.equal(c.attempt, 0, 'back in: the next drop starts from the first delay again');
    ws.drop(1006);
    await fake.socket(5);
    c.close();
  });
});

describe('close() and leave()', () => {
  test('close() keeps the seat: enter() into the same room presents it; leave() ends it', async () => {
    const fake = fakeWebSocket();
    const c = newClient(fake);
    const entered = c.enter(7);
    await enterOn(fake, 0, { seq: 40 });
    await entered;
    const dropped = c.once('disconnected');
    c.close();
    assert.equal((await dropped).wasOpen, true);
    assert.equal(fake.sockets[0].sent.includes('19{}'), false, 'no LEAVE');
    void c.enter(7).catch(() => {});
    const again = await fake.socket(1);
    assert.equal(again.url.searchParams.get('resume'), 'seat-1');
    assert.equal(again.url.searchParams.get('seq'), '40');
    again.open();
    again.deliver(wire({ code: 13, roomId: '7', seq: 40, replayed: 0 }));
    const left = c.leave();
    assert.equal(await again.nextSent(1), '19{}');
    again.drop(1000);
    await left;
    assert.equal(c.seat, null, 'no seat after LEAVE');
  });
});
