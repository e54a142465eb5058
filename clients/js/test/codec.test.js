// Unit tests: the frame codec, batch splitting, the room state, backoff.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backoffDelay, decode, encode, handshake, encodeBuild, encodeEnter, encodeMove, encodeServerMessage, mapOf,
  RoomError, RoomState, splitFrame,
} from '../src/index.js';

const room = {
  roomId: '7', userCount: 2,
  users: { 7: { nickname: 'owner', x: 0, y: 0 }, 3: { nickname: 'guest', x: 1, y: 0 } },
  map: { side: 20, gameList: ['12'], objectList: ['w1'], games: { 12: { name: 'Chess', x: 3, y: 4 } },
    objects: { w1: { name: 'wall', x: 5, y: 5 } } },
};

describe('codec', () => {
  test('every server message survives encode then decode', () => {
    const messages = [
      { code: 10, userId: '3', nickname: 'n', x: 0, y: 0 },
      { code: 10, userId: '3', nickname: 'n', x: 2, y: 1, seq: 41 },
      { code: 11, room },
      { code: 11, room, seq: 0 },
      { code: 12, token: 'opaque.token', roomId: '7' },
      { code: 13, roomId: '7', seq: 44, replayed: 3 },
      { code: 19, userId: '3', seq: 45 },
      { code: 20, userId: '3', direction: 1, x: 4, y: 0 },
      { code: 20, userId: '3', direction: 3, x: 3, y: 0, seq: 46 },
      { code: 98, message: 'replaced' },
      { code: 99, errorCode: 76404, message: 'room not found' },
    ];
    for (const m of messages) assert.deepEqual(decode(encodeServerMessage(m)), m, JSON.stringify(m));
  });

  test('wire forms of the protocol document decode as written', () => {
    assert.deepEqual(decode('20{"user_id":"3","direction":1,"x":4,"y":0}'),
      { code: 20, userId: '3', direction: 1, x: 4, y: 0 });
    // Ids may be JSON numbers; they become strings.
    assert.deepEqual(decode('19{"user_id":3}'), { code: 19, userId: '3' });
    assert.deepEqual(decode('12{"token":"t","room_id":7}'), { code: 12, token: 't', roomId: '7' });
    assert.deepEqual(decode('99{"code":76429,"message":"slow down"}'), { code: 99, errorCode: 76429, message: 'slow down' });
  });

  test('what is not a known message decodes to null instead of throwing', () => {
    for (const bad of ['', '1', 'xx{}', '20{', '20[]', '20{"user_id":"3"}', '55{}', '11{"room":{}}',
      '13{"room_id":"7","seq":"4","replayed":0}', '99{"code":"76100"}']) {
      assert.equal(decode(bad), null, bad);
    }
    // A negative or fractional seq is not a seq.
    assert.equal(decode('19{"user_id":"3","seq":-1}').seq, undefined);
  });

  test('client frames are the two digits then JSON', () => {
    assert.equal(encodeEnter(7), '10{"room_id":"7"}');
    assert.equal(encodeEnter('7', 'tok'), '10{"room_id":"7","authorization":"tok"}');
    assert.equal(encodeMove(2), '20{"direction":2}');
    // A RoomError of kind usage, as the README says, not a bare RangeError.
    assert.throws(() => encodeMove(/** @type {any} */ (4)), (e) => e instanceof RoomError && e.kind === 'usage');
    assert.equal(encodeBuild(mapOf(2, {}, {}), 'b1').endsWith(',"ref":"b1"}'), true);
    assert.throws(() => encode(5), RangeError);
    const map = mapOf(10, { 12: { name: 'Chess', x: 1, y: 1 } }, { w1: { name: 'wall', x: 2, y: 2 } });
    assert.deepEqual(JSON.parse(encodeBuild(map).slice(2)),
      { map: { side: 10, gameList: ['12'], objectList: ['w1'], games: map.games, objects: map.objects } });
  });
});

describe('batch=1 frames', () => {
  test('a joined frame splits into its messages, in order', () => {
    const parts = [
      encodeServerMessage({ code: 20, userId: '3', direction: 1, x: 1, y: 0, seq: 5 }),
      encodeServerMessage({ code: 10, userId: '4', nickname: 'd', x: 0, y: 0, seq: 6 }),
      encodeServerMessage({ code: 19, userId: '4', seq: 7 }),
    ];
    assert.deepEqual(splitFrame(parts.join('\n')), parts);
    assert.deepEqual(splitFrame(parts[0]), [parts[0]]);
    // A trailing or doubled separator makes no empty message.
    assert.deepEqual(splitFrame(`${parts[0]}\n\n${parts[1]}\n`), [parts[0], parts[1]]);
  });
});

describe('room state', () => {
  const sync = (seq) => ({ code: 11, room, ...(seq === undefined ? {} : { seq }) });

  test('SYNC builds it; ENTER, MOVE and LEAVE update it', () => {
    const s = new RoomState();
    assert.equal(s.apply({ code: 20, userId: '3', direction: 1, x: 2, y: 0 }), 'ignored', 'nothing before a SYNC');
    assert.equal(s.apply(sync()), 'applied');
    assert.equal(s.room.id, '7');
    assert.equal(s.room.side, 20);
    assert.deepEqual([...s.room.users.keys()].sort(), ['3', '7']);
    assert.equal(s.isFilled(3, 4), true);
    assert.equal(s.isFilled(5, 5), true);
    assert.equal(s.isFilled(4, 4), false);
    s.apply({ code: 10, userId: '4', nickname: 'dave', x: 0, y: 0 });
    s.apply({ code: 20, userId: '4', direction: 2, x: 0, y: 1 });
    assert.deepEqual(s.room.users.get('4'), { id: '4', nickname: 'dave', x: 0, y: 1 });
    s.apply({ code: 19, userId: '3' });
    assert.deepEqual([...s.room.users.keys()].sort(), ['4', '7']);
    // The wire object is not aliased: changing the state does not change it.
    assert.equal(room.users[3].x, 1);
  });

  test('numbered events: stale ones are ignored, a gap is reported', () => {
    const s = new RoomState();
    s.apply(sync(10));
    assert.equal(s.seq, 10);
    assert.equal(s.apply({ code: 20, userId: '3', direction: 1, x: 2, y: 0, seq: 11 }), 'applied');
    assert.equal(s.apply({ code: 20, userId: '3', direction: 1, x: 9, y: 0, seq: 11 }), 'stale');
    assert.equal(s.room.users.get('3').x, 2, 'a replayed event is not applied twice');
    assert.equal(s.apply({ code: 20, userId: '3', direction: 1, x: 4, y: 0, seq: 13 }), 'gap');
    assert.equal(s.seq, 13);
  });

  test('a map with no layout is the empty map of side 20', () => {
    const s = new RoomState();
    s.apply({ code: 11, room: { roomId: 5, users: {} } });
    assert.equal(s.room.id, '5');
    assert.equal(s.room.side, 20);
    assert.deepEqual(s.room.games, {});
  });
});

describe('backoff', () => {
  test('grows exponentially up to the cap, with jitter below the nominal delay', () => {
    const o = { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5 };
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, o, () => 0)), [100, 200, 400, 800, 1000, 1000]);
    assert.deepEqual([0, 1, 2].map((a) => backoffDelay(a, o, () => 0.999999)), [50, 100, 200]);
    const draws = new Set(Array.from({ length: 50 }, () => backoffDelay(3, o)));
    assert.ok(draws.size > 5, 'jitter spreads the delays');
    for (const d of draws) assert.ok(d >= 400 && d <= 800, `${d}`);
  });
});

describe('errors', () => {
  test('a refusal is told apart from a passing error', () => {
    const e = RoomError.fromServer(76404, 'no such user');
    assert.ok(e instanceof Error);
    assert.equal(e.kind, 'server');
    assert.equal(e.code, 76404);
    assert.equal(e.isRefusal, true);
    assert.match(e.message, /room \(owner\) not found \(76404\)/);
    assert.equal(RoomError.fromServer(76429).isRefusal, false);
  });
});

describe('handshake', () => {
  test('token as subprotocol or query; resume=1, or the seat with its seq; batch=1', () => {
    assert.deepEqual(handshake('ws://h:1/library', { token: 't.k' }),
      { url: 'ws://h:1/library?resume=1', protocols: ['myroom.v1', 'bearer.t.k'] });
    assert.deepEqual(handshake('ws://h:1/library', { token: 't', tokenIn: 'query', batch: true, resume: false }),
      { url: 'ws://h:1/library?token=t&batch=1', protocols: undefined });
    const seat = handshake('ws://h:1/library', { token: 't', seat: { token: 'a+b/c=&d', seq: 0 } });
    const query = new URL(seat.url).searchParams;
    assert.equal(query.get('resume'), 'a+b/c=&d');
    assert.equal(query.get('seq'), '0');
    assert.equal([...query.keys()].join(','), 'resume,seq');
  });
});
