// The README's example, copied out of README.md as it stands, run as its own
// Node process against the example server.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, token } from './helpers/server.js';

const PACKAGE = join(dirname(fileURLToPath(import.meta.url)), '..');

export function readmeExample() {
  const readme = readFileSync(join(PACKAGE, 'README.md'), 'utf8');
  const match = /<!-- example[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(match, 'README.md has the example block');
  return match[1];
}

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.cleanup(); });

test('the README example is 15 lines and runs against the example server', async () => {
  const code = readmeExample();
  assert.equal(code.trimEnd().split('\n').length, 15);
  assert.ok(code.includes("'ws://127.0.0.1:8210/library'"));
  // Inside the package directory, `import 'myroom-client'` resolves to this package.
  const file = join(PACKAGE, `.readme-example-${process.pid}.mjs`);
  writeFileSync(file, code.replace("'ws://127.0.0.1:8210/library'", `'${server.url}'`));
  try {
    const { stdout, stderr } = await new Promise((ok, fail) => {
      execFile(process.execPath, ['--experimental-websocket', '--no-warnings', file],
        { env: { ...process.env, TOKEN: token(2) }, timeout: 20_000 },
        (error, out, err) => (error ? fail(new Error(`${error.message}\n${out}\n${err}`)) : ok({ stdout: out, stderr: err })));
    });
    assert.equal(stderr, '');
    assert.deepEqual(stdout.trim().split('\n'), [
      'in room 1: 1 user(s), 20x20 cells',
      'user 2 is at 1,0',
      'I am at 1,0',
    ]);
  } finally {
    rmSync(file, { force: true });
  }
});
