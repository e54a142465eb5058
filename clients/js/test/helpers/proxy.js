// A loopback TCP proxy in front of a server, whose connections a test can cut
// (a dropped network, a laptop going to sleep) while it keeps listening.

import { createServer, connect } from 'node:net';

/** @param {number} targetPort */
export function startProxy(targetPort) {
  const pairs = new Set();
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) { client.resetAndDestroy(); return; }
    const upstream = connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => { pairs.delete(pair); client.destroy(); upstream.destroy(); };
    client.on('error', end); upstream.on('error', end);
    client.on('close', end); upstream.on('close', end);
    client.pipe(upstream); upstream.pipe(client);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => {
    const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
    ok({
      port,
      get connections() { return pairs.size; },
      /** Reset every connection now (no close handshake): the peers see a dropped socket. */
      cut() {
        for (const { client, upstream } of pairs) { client.resetAndDestroy(); upstream.resetAndDestroy(); }
        pairs.clear();
      },
      /** While on, new connections are reset at once (the network is still down). */
      refuse(on) { refusing = on; },
      close() {
        this.cut();
        return new Promise((done) => server.close(() => done()));
      },
    });
  }));
}
