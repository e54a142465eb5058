// The page (web/) is built on this library: it speaks nothing of the wire
// protocol itself. A static check of its modules, so that a shortcut around
// the library (a WebSocket of its own, a hand-made frame) is caught.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers/server.js';

const WEB = join(ROOT, 'web');

test('the page speaks the protocol only through the library', () => {
  const modules = readdirSync(WEB).filter((f) => f.endsWith('.js'));
  assert.ok(modules.length >= 5, `page modules: ${modules}`);
  const forbidden = [
    [/\bWebSocket\b/, 'a WebSocket of its own'],
    [/\.send\(/, 'sending frames'],
    [/\bonmessage\b|\bJSON\.parse\(/, 'reading frames'],
    [/['"`](1[0139]|20|40|9[89])[{'"`]/, 'a behaviour code'],
    [/\b(room_id|user_id|roomId|gameList|objectList)\b/, 'wire field names'],
    [/\/rooms\//, 'the route endpoint'],
  ];
  for (const file of modules) {
    const source = readFileSync(join(WEB, file), 'utf8');
    for (const [pattern, what] of forbidden) assert.doesNotMatch(source, pattern, `${file}: ${what}`);
    for (const [, spec] of source.matchAll(/from '([^']+)'/g)) {
      assert.ok(spec.startsWith('./') || spec === '/lib/myroom-client/index.js', `${file} imports ${spec}`);
    }
  }
  const html = readFileSync(join(WEB, 'index.html'), 'utf8');
  assert.match(html, /<script type="module" src="\/main\.js"><\/script>/);
});
