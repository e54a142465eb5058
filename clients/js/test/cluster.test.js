// The route lookup (GET /rooms/{id}/route) on a three-node cluster.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RoomClient } from '../src/index.js';
import { startCluster } from './helpers/cluster.js';
import { getJson, PATIENCE, token, waitFor, within } from './helpers/server.js';

let cluster;
before(async () => { cluster = await startCluster(3); });
after(async () => { await cluster?.cleanup(); });

test('given an HTTP base, the client asks for the route and connects to the node hosting the room', async () => {
  const [n1] = cluster.nodes;
  const alice = new RoomClient({ http: n1.http, token: token(1), timeoutMs: PATIENCE });
  const urls = { alice: [], bob: [] };
  alice.on('connecting', (e) => urls.alice.push(e.url));
  let bob;
  try {
    await alice.enter(1);
    // Room 1 is hosted now; every node names the same host.
    const route = await waitFor(async () => {
      const r = await getJson(n1.http, '/rooms/1/route');
      return r.hosted ? r : null;
    }, 'room 1 hosted');
    const host = cluster.nodes.find((n) => route.url === n.url);
    assert.ok(host, `the route ${route.url} is one of the nodes`);
    assert.deepEqual(urls.alice.length, 1);
    // Ask a node that does not host the room: the client still lands on the host.
    const other = cluster.nodes.find((n) => n !== host);
    bob = new RoomClient({ http: other.http, token: token(2), timeoutMs: PATIENCE });
    bob.on('connecting', (e) => urls.bob.push(e.url));
    const seen = alice.once('enter', (e) => e.userId === '2');
    await bob.enter(1);
    assert.deepEqual(urls.bob, [host.url], 'bob connected to the host, not to the node he asked');
    await within(seen, 'alice sees bob');
    bob.move(1);
    await waitFor(() => alice.room.users.get('2')?.x === 1, 'alice sees bob move');
  } finally {
    alice.close();
    bob?.close();
  }
});

test('without a route (an unknown host) the client falls back to its url', async () => {
  const [n1] = cluster.nodes;
  const c = new RoomClient({ http: 'http://127.0.0.1:9', url: n1.url, token: token(3), timeoutMs: PATIENCE, reconnect: false });
  const urls = [];
  c.on('connecting', (e) => urls.push(e.url));
  try {
    await c.enter(1);
    assert.deepEqual(urls, [n1.url]);
  } finally {
    c.close();
  }
});
