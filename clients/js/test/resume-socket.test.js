// §9 resume over a real socket: the runtime's own WebSocket against a small
// in-test server that plays a §9 server's part (the example server does not
// offer seats yet).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoomClient, encodeServerMessage as wire } from '../src/index.js';
import { startWsServer } from './helpers/ws-server.js';
import { waitFor, within } from './helpers/server.js';

const room = (users) => ({ roomId: '7', userCount: Object.keys(users).length, users, map: { side: 20 } });
// A token with the characters a query must escape.
const SEAT = 'c2VhdA+/x=y&z';

test('a cut socket is resumed on a new one: resume=<token>&seq=<n>, RESUMED, the replay in one batch frame', async () => {
  const connections = [];
  const server = await startWsServer((conn) => connections.push(conn));
  const client = new RoomClient({ url: server.url, token: 'tok', batch: true, reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
  try {
    const entered = client.enter(7);
    const first = await waitFor(() => connections[0], 'the first socket');
    assert.deepEqual(first.protocols, ['myroom.v1', 'bearer.tok']);
    assert.equal(first.url.searchParams.get('resume'), '1');
    assert.equal(await first.messages.next(), '10{"room_id":"7"}');
    first.send([
      wire({ code: 11, room: room({ 1: { nickname: 'alice', x: 0, y: 0 }, 2: { nickname: 'bob', x: 0, y: 0 } }), seq: 5 }),
      wire({ code: 12, token: SEAT, roomId: '7' }),
    ].join('\n'));
    await within(entered, 'entered');
    // The SEAT came in the same frame as the SYNC.
    assert.deepEqual(client.seat, { token: SEAT, roomId: '7' });

    const resumed = client.once('resumed');
    first.cut();
    const second = await waitFor(() => connections[1], 'the second socket');
    assert.equal(second.url.searchParams.get('resume'), SEAT, 'the seat token arrives intact');
    assert.equal(second.url.searchParams.get('seq'), '5');
    assert.equal(second.url.searchParams.get('batch'), '1');
    second.send([
      wire({ code: 13, roomId: '7', seq: 7, replayed: 2 }),
      wire({ code: 20, userId: '2', direction: 1, x: 1, y: 0, seq: 6 }),
      wire({ code: 19, userId: '2', seq: 7 }),
    ].join('\n'));
    assert.deepEqual(await within(resumed, 'RESUMED'), { code: 13, roomId: '7', seq: 7, replayed: 2 });
    // The replay came in the same frame: it is applied by now.
    assert.deepEqual([...client.room.users.keys()], ['1']);
    assert.equal(client.state.seq, 7);
    // No ENTER went out on the resumed socket: the first frame is this move.
    client.move(2);
    assert.equal(await second.messages.next(), '20{"direction":2}');
  } finally {
    client.close();
    await server.close();
  }
});
