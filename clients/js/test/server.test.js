// The client against the real example server binary over loopback.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RoomClient, RoomError } from '../src/index.js';
import { startProxy } from './helpers/proxy.js';
import { getJson, PATIENCE, startServer, token, waitFor, within } from './helpers/server.js';

const FAST = { initialDelayMs: 50, maxDelayMs: 400 };
const ALICE = 1;
const BOB = 2;
const CAROL = 3;

/** @param {{ url: string }} server */
function client(server, user, extra = {}) {
  return new RoomClient({ url: server.url, token: token(user), reconnect: FAST, timeoutMs: PATIENCE, ...extra });
}

/** Everything the client emits, in order, for assertions about what did (not) happen. */
function record(c) {
  const seen = [];
  for (const name of ['enter', 'leave', 'move', 'sync', 'replaced', 'error', 'disconnected', 'closed', 'connecting']) {
    c.on(name, (e) => seen.push({ name, e }));
  }
  return seen;
}

const positions = (room) => Object.fromEntries([...room.users.values()].map((u) => [u.id, [u.x, u.y]]));

/** Wait until `c`'s room shows user `id` at (x, y). */
const seesAt = (c, id, x, y) => waitFor(() => {
  const u = c.room?.users.get(String(id));
  return u && u.x === x && u.y === y;
}, `user ${id} at ${x},${y}`);

describe('against the example server', () => {
  let server;
  const open = [];
  const track = (c) => { open.push(c); return c; };
  before(async () => { server = await startServer(); });
  after(async () => {
    for (const c of open) c.close();
    await server?.cleanup();
  });

  test('enter, see others, and keep the room state up to date (plain and batch=1 sockets)', async () => {
    const alice = track(client(server, ALICE));
    const bob = track(client(server, BOB, { batch: true, tokenIn: 'query' }));
    const room = await alice.enter(1);
    assert.equal(room.id, '1');
    assert.deepEqual(positions(room), { 1: [0, 0] });
    const bobCame = alice.once('enter');
    await bob.enter(1);
    assert.equal((await within(bobCame, 'alice sees bob enter')).nickname, 'bob');
    assert.deepEqual(positions(alice.room), { 1: [0, 0], 2: [0, 0] });
    assert.equal(bob.room.users.get('1').nickname, 'alice');

    assert.equal(bob.move(1), true);
    assert.equal(bob.move(2), true);
    await seesAt(alice, BOB, 1, 1);
    await seesAt(bob, BOB, 1, 1);
    alice.move(1);
    await seesAt(bob, ALICE, 1, 0);
    // What both clients keep is what the server has.
    const truth = await getJson(server.http, '/rooms/1');
    const fromServer = Object.fromEntries(Object.entries(truth.users).map(([id, u]) => [id, [u.x, u.y]]));
    assert.deepEqual(positions(alice.room), fromServer);
    assert.deepEqual(positions(bob.room), fromServer);
  });

  test('build: the owner\'s map reaches everyone; a guest\'s BUILD is refused and changes nothing', async () => {
    const [alice, bob] = open;
    const bobSync = bob.once('sync', (s) => s.cause === 'build');
    const map = {
      side: 12, gameList: ['12'], objectList: ['w1'],
      games: { 12: { name: 'Chess', x: 3, y: 0 } }, objects: { w1: { name: 'wall', x: 0, y: 1 } },
    };
    const built = await alice.build(map);
    assert.equal(built.side, 12);
    assert.deepEqual(built.games, map.games);
    const seen = await within(bobSync, 'bob sees the build');
    assert.deepEqual(seen.room.objects, map.objects);
    assert.equal(bob.state.isFilled(3, 0), true);
    // Everyone back at spawn.
    assert.deepEqual(positions(bob.room), { 1: [0, 0], 2: [0, 0] });

    const refused = bob.build({ ...map, games: {}, gameList: [], objects: {}, objectList: [] });
    await assert.rejects(refused, (e) => e instanceof RoomError && e.code === 76403 && e.isRefusal);
    const truth = await getJson(server.http, '/rooms/1');
    assert.deepEqual(truth.map.games, map.games, 'the refused BUILD changed nothing');
    assert.equal(bob.status, 'open', 'a refused BUILD does not close the connection');
  });

  test('a second socket of the same user replaces the first: 98, close 4000, no reconnect; the others see nothing', async () => {
    const [alice, bob] = open;
    alice.move(1);
    await seesAt(bob, ALICE, 1, 0);
    const seenByAlice = record(alice);
    const seenByBob = record(bob);
    const closed = alice.once('closed');
    const alice2 = track(client(server, ALICE));
    const room = await alice2.enter(1);
    const { code, error } = await within(closed, 'the old socket closed');
    assert.equal(code, 4000);
    assert.ok(error instanceof RoomError && error.closeCode === 4000);
    assert.ok(seenByAlice.some((s) => s.name === 'replaced'));
    assert.equal(alice.status, 'closed');
    assert.equal(alice.nextRetryAt, null, 'no reconnect planned');
    assert.equal(seenByAlice.filter((s) => s.name === 'connecting').length, 0);
    assert.deepEqual(room.users.get('1'), { id: '1', nickname: 'alice', x: 1, y: 0 }, 'position kept');
    // Bob's SYNC comes after anything the replacement made the server send him.
    const now = await bob.sync();
    assert.ok(now.users.has('1'));
    assert.deepEqual(seenByBob.filter((s) => s.name === 'leave' || s.name === 'enter'), []);
    assert.equal(alice2.status, 'open');
    open.splice(0, 1, alice2);
  });

  test('LEAVE: the others see the leave, the client closes and stays closed', async () => {
    const [alice, bob] = open;
    const left = alice.once('leave', (e) => e.userId === '2');
    await within(bob.leave(), 'leave()');
    await within(left, 'alice sees bob leave');
    assert.equal(bob.status, 'closed');
    assert.equal(bob.nextRetryAt, null);
    assert.equal(bob.room, null);
    assert.deepEqual([...alice.room.users.keys()], ['1']);
  });

  test('a refused ENTER (76404) rejects with a RoomError and stops the client', async () => {
    const carol = track(client(server, CAROL));
    await assert.rejects(carol.enter(999), (e) => e instanceof RoomError && e.code === 76404);
    assert.equal(carol.status, 'closed');
    assert.equal(carol.nextRetryAt, null);
  });

  test('after the socket is cut the client reconnects and resumes its seat (§9): nobody sees it leave, and it gets what it missed', async () => {
    const proxy = await startProxy(server.port);
    try {
      const [alice] = open;
      const carol = track(client({ url: `ws://127.0.0.1:${proxy.port}/library` }, CAROL));
      await carol.enter(1);
      assert.ok(carol.seat, 'the server offered a seat');
      carol.move(1);
      await seesAt(alice, CAROL, 1, 0);
      const seen = record(carol);
      const aliceSeen = record(alice);
      const back = carol.once('resumed');
      const gone = carol.once('disconnected');
      // The network stays down while alice moves: carol misses it.
      proxy.refuse(true);
      proxy.cut();
      await within(gone, 'carol notices the cut');
      const from = { ...alice.room.users.get('1') };
      alice.move(from.y === 0 ? 2 : 0);
      await waitFor(() => alice.room.users.get('1').y !== from.y, 'alice moved');
      const moved = alice.room.users.get('1');
      proxy.refuse(false);
      await within(back, 'carol resumed');
      const disconnected = seen.find((s) => s.name === 'disconnected');
      assert.ok(disconnected && disconnected.e.retryInMs !== null, 'a retry was planned');
      assert.equal(carol.status, 'open');
      // Nobody saw carol go or come back; she is where she was, and saw alice's move.
      assert.ok(!aliceSeen.some((s) => (s.name === 'leave' || s.name === 'enter') && s.e.userId === '3'), JSON.stringify(aliceSeen));
      assert.deepEqual(carol.room.users.get('3'), { id: '3', nickname: 'carol', x: 1, y: 0 });
      await seesAt(carol, 1, moved.x, moved.y);
      // The new socket works both ways.
      carol.move(1);
      await seesAt(alice, CAROL, 2, 0);
      await seesAt(carol, CAROL, 2, 0);
      await carol.leave();
      await waitFor(() => aliceSeen.some((s) => s.name === 'leave' && s.e.userId === '3'), 'alice sees carol leave');
    } finally {
      await proxy.close();
    }
  });
});

describe('limits of the example server', () => {
  test('rate limit: the excess is dropped with 76429, the client keeps its connection and a state that matches', async () => {
    const server = await startServer({ args: ['--rate', '5', '--rate-burst', '5'] });
    // A SYNC the limiter drops is never answered: ask again soon.
    const bob = client(server, BOB, { timeoutMs: 500 });
    try {
      await bob.enter(1);
      const seen = record(bob);
      const limited = bob.once('error', (e) => e.code === 76429);
      for (let i = 0; i < 15; i += 1) bob.move(1);
      const error = await within(limited, 'ERROR 76429');
      assert.ok(error instanceof RoomError && !error.isRefusal);
      // A SYNC that gets through comes after every move the server read.
      const room = await waitFor(() => bob.sync().catch(() => null), 'a SYNC through the limiter');
      const x = room.users.get('2').x;
      assert.ok(x >= 4 && x < 15, `moved ${x} of 15: the excess was dropped`);
      assert.equal(seen.filter((s) => s.name === 'move').length, x, 'one MOVE event per applied move');
      assert.equal(bob.room.users.get('2').x, x);
      assert.equal(bob.status, 'open');
      assert.deepEqual(seen.filter((s) => s.name === 'disconnected'), []);
    } finally {
      bob.close();
      await server.cleanup();
    }
  });

  test('flooding is closed with 1008, and the client does not come back', async () => {
    const server = await startServer({ args: ['--rate', '2', '--rate-burst', '2'] });
    const bob = client(server, BOB);
    let timer;
    try {
      await bob.enter(1);
      const seen = record(bob);
      const closed = bob.once('closed');
      // Ten frames a second against a limit of two: over three times the rate, for five seconds.
      timer = setInterval(() => bob.move(seen.length % 2 ? 1 : 3), 100);
      const { code } = await within(closed, 'close 1008', 30_000);
      assert.equal(code, 1008);
      assert.equal(bob.status, 'closed');
      assert.equal(bob.nextRetryAt, null);
      assert.equal(seen.filter((s) => s.name === 'connecting').length, 0);
    } finally {
      clearInterval(timer);
      bob.close();
      await server.cleanup();
    }
  });
});
