// Type-checked only (scripts/js-tests.sh): what a TypeScript application sees
// of the package through its .d.ts files. Never run.
import { RoomClient, RoomError, ErrorCode, mapOf, type Room } from 'myroom-client';

export async function example(token: string): Promise<Room> {
  const client = new RoomClient({ url: 'ws://127.0.0.1:8210/library', token, batch: true });
  client.on('move', (m) => { const x: number = m.x; const who: string = m.userId; void x; void who; });
  client.on('error', (e) => { if (e.code === ErrorCode.RATE_LIMITED) void e.isRefusal; });
  client.on('disconnected', (d) => { const retry: number | null = d.retryInMs; void retry; });
  // @ts-expect-error: not an event of this client
  client.on('nonsense', () => {});
  // @ts-expect-error: a direction is 0..3
  client.move(4);
  // The browser's WebSocket class, as the README says for any runtime.
  const explicit = new RoomClient({ url: 'ws://127.0.0.1:8210/library', token, WebSocket });
  const me: string | null = explicit.me;
  void me;
  const room = await client.enter(1);
  const side: number = room.side;
  await client.build(mapOf(side, {}, { w1: { name: 'wall', x: 0, y: 1 } })).catch((e: unknown) => {
    if (e instanceof RoomError && e.kind === 'server') return null;
    throw e;
  });
  return room;
}
