// Behind a gateway (issue 24): the route endpoint answers the gateway's URL
// with the node parameter it routes on; the client must keep that parameter
// when it adds its own (token, resume) to the handshake.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handshake } from '../src/index.js';
import { routeUrl } from '../src/handshake.js';

test('a route through the gateway keeps its node parameter in the handshake URL', async () => {
  const fetch = async () => new Response(JSON.stringify(
    { url: 'wss://rooms.example/library?node=n2', node: 'n2', hosted: true }));
  const url = await routeUrl({ http: 'https://rooms.example', fetch, timeoutMs: 1000 }, '7');
  assert.equal(url, 'wss://rooms.example/library?node=n2');
  const query = new URL(handshake(url, { token: 't', tokenIn: 'query' }).url).searchParams;
  assert.equal(query.get('node'), 'n2');
  assert.equal(query.get('token'), 't');
  const seated = new URL(handshake(url, { token: 't', seat: { token: 's', seq: 4 } }).url).searchParams;
  assert.equal(seated.get('node'), 'n2');
  assert.equal(seated.get('resume'), 's');
});
