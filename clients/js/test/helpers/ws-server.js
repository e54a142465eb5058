// A minimal WebSocket server (RFC 6455: the upgrade, text frames, close) on
// loopback, for playing the server's part of PROTOCOL.md §9, which the real
// server does not speak yet, over a real socket and the runtime's own
// WebSocket client. Small text frames only; no extensions.

import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A frame of `opcode` with `payload`, unmasked (server to client). */
function frame(opcode, payload) {
  const length = payload.length;
  const head = length < 126 ? Buffer.from([0x80 | opcode, length])
    : Buffer.from([0x80 | opcode, 126, length >> 8, length & 0xff]);
  return Buffer.concat([head, payload]);
}

/**
 * @param {(conn: { url: URL, protocols: string[], send: (text: string) => void,
 *   close: (code: number) => void, cut: () => void, messages: AsyncIterable<string> & { next: () => Promise<string> } }) => void} onConnection
 */
export function startWsServer(onConnection) {
  const sockets = new Set();
  const server = createServer((_, response) => { response.writeHead(404).end(); });
  server.on('upgrade', (request, socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const key = request.headers['sec-websocket-key'];
    const protocols = String(request.headers['sec-websocket-protocol'] || '').split(',').map((p) => p.trim()).filter(Boolean);
    const accept = createHash('sha1').update(`${key}${GUID}`).digest('base64');
    socket.write([
      'HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${accept}`,
      ...(protocols.includes('myroom.v1') ? ['Sec-WebSocket-Protocol: myroom.v1'] : []), '', '',
    ].join('\r\n'));
    const queue = [];
    const waiting = [];
    const push = (text) => (waiting.length ? waiting.shift()(text) : queue.push(text));
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (buffer.length < 2) return;
        const opcode = buffer[0] & 0x0f;
        let length = buffer[1] & 0x7f;
        let offset = 2;
        if (length === 126) { if (buffer.length < 4) return; length = buffer.readUInt16BE(2); offset = 4; }
        if (buffer.length < offset + 4 + length) return;
        const mask = buffer.subarray(offset, offset + 4);
        const payload = Buffer.from(buffer.subarray(offset + 4, offset + 4 + length));
        for (let i = 0; i < payload.length; i += 1) payload[i] ^= mask[i % 4];
        buffer = buffer.subarray(offset + 4 + length);
        if (opcode === 0x1) push(payload.toString('utf8'));
        else if (opcode === 0x8) { socket.end(frame(0x8, payload.subarray(0, 2))); }
      }
    });
    onConnection({
      url: new URL(request.url, 'ws://127.0.0.1'),
      protocols,
      send: (text) => socket.write(frame(0x1, Buffer.from(text, 'utf8'))),
      close: (code) => socket.end(frame(0x8, Buffer.from([code >> 8, code & 0xff]))),
      cut: () => socket.destroy(),
      messages: { next: () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((ok) => waiting.push(ok))) },
    });
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => {
    const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
    ok({
      url: `ws://127.0.0.1:${port}/library`,
      close: () => new Promise((done) => { for (const s of sockets) s.destroy(); server.close(() => done()); }),
    });
  }));
}
