// The token check after a connection that never opened (README "A refused
// token"), with a fake socket and a fake fetch the test answers by hand.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RoomClient, RoomError } from '../src/index.js';
import { fakeWebSocket } from './helpers/fake-ws.js';
import { within } from './helpers/server.js';

/** A fetch whose answers the test gives, in the order asked. */
function fakeFetch() {
  const asked = [];
  const fetch = (url, init) => new Promise((answer) => { asked.push({ url: String(url), init, answer }); });
  const next = async (n) => {
    while (asked.length <= n) await new Promise((ok) => setTimeout(ok, 1));
    return asked[n];
  };
  const reply = (status, body) => ({ status, ok: status === 200, json: async () => body });
  return { fetch, asked, next, reply };
}

describe('the token check', () => {
  test('a refusal that comes back while the next attempt is connecting ends that attempt too', async () => {
    const fake = fakeWebSocket();
    const http = fakeFetch();
    const client = new RoomClient({
      url: 'ws://127.0.0.1:1/library', token: 't', WebSocket: fake.WebSocket, fetch: http.fetch,
      reconnect: { initialDelayMs: 1, maxDelayMs: 1, jitter: 0 },
    });
    const entered = client.enter(1).then(() => null, (e) => e);
    (await fake.socket(0)).drop(1006);
    const check = await http.next(0);
    assert.equal(check.url, 'http://127.0.0.1:1/auth/check');
    assert.equal(check.init.method, 'POST');
    assert.equal(check.init.body, 't');
    // The retry is already connecting when the (slow) check answers: the same
    // token, no socket opened since, so the check decides and ends that retry.
    const retry = await fake.socket(1);
    check.answer(http.reply(401, { reason: 'invalid', message: 'invalid access token: forged' }));
    const error = await within(entered, 'enter() settles');
    assert.equal(retry.readyState, 3, 'the retry in flight is closed');
    assert.ok(error instanceof RoomError);
    assert.equal(error.kind, 'auth');
    assert.equal(error.isRefusal, true);
    assert.equal(client.status, 'closed');
    assert.equal(fake.sockets.length, 2, 'no third attempt');
  });

  test('an expired token given as a function is asked again; a stale check of the old token does not decide', async () => {
    const fake = fakeWebSocket();
    const http = fakeFetch();
    let asked = 0;
    const client = new RoomClient({
      url: 'ws://127.0.0.1:1/library', token: () => `t${asked++}`, WebSocket: fake.WebSocket, fetch: http.fetch,
      reconnect: { initialDelayMs: 1, maxDelayMs: 1, jitter: 0 },
    });
    const entered = client.enter(1);
    (await fake.socket(0)).drop(1006);
    const first = await http.next(0);
    assert.equal(first.init.body, 't0');
    first.answer(http.reply(401, { reason: 'expired', message: 'access token expired' }));
    // The retry presents a new token; a late verdict about t0 would not count.
    const second = await fake.socket(1);
    assert.equal(second.protocols[1], 'bearer.t1');
    second.open();
    assert.equal(await second.nextSent(1), '10{"room_id":"1"}');
    second.deliver('11{"room":{"roomId":"1","users":{}},"you":"5"}');
    await within(entered, 'entered with the fresh token');
    assert.equal(client.me, '5');
    client.close();
  });

  test('a server that does not answer the check, or says the token is fine, is retried as before', async () => {
    const fake = fakeWebSocket();
    const http = fakeFetch();
    const client = new RoomClient({
      url: 'ws://127.0.0.1:1/library', token: 't', WebSocket: fake.WebSocket, fetch: http.fetch,
      reconnect: { initialDelayMs: 1, maxDelayMs: 1, jitter: 0 },
    });
    void client.enter(1).catch(() => {});
    (await fake.socket(0)).drop(1006);
    (await http.next(0)).answer(http.reply(404, {}));
    (await fake.socket(1)).drop(1006);
    (await http.next(1)).answer(http.reply(200, { user: '1', nickname: 'a' }));
    const third = await fake.socket(2);
    third.open();
    assert.equal(await third.nextSent(1), '10{"room_id":"1"}');
    client.close();
  });
});
