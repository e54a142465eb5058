// Type-checked only (scripts/js-tests.sh), with Node's own types and no DOM:
// the README's advice for Node, `new RoomClient({ url, token, WebSocket })`
// with Node's built-in WebSocket (global in 22, behind a flag in 20; the
// types are @types/node's, checked at 20 and at 22). Never run.
import { RoomClient, RoomError } from 'myroom-client';

export function withNodesWebSocket(token: string): RoomClient {
  const client = new RoomClient({ url: 'ws://127.0.0.1:8210/library', token, WebSocket });
  client.on('error', (e: RoomError) => { void e.kind; });
  return client;
}
