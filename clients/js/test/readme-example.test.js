// The README's snippets, copied out of README.md as it stands, each run as its
// own Node process against the example server (scripts/js-tests.sh also
// type-checks them: test/helpers/readme-snippets.mjs --check).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE, snippets, writeSnippets } from './helpers/readme-snippets.mjs';
import { startServer, token } from './helpers/server.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.cleanup(); });

/** @param {string} file @returns {Promise<{ stdout: string, stderr: string }>} */
const run = (file) => new Promise((ok, fail) => {
  execFile(process.execPath, ['--experimental-websocket', '--no-warnings', file],
    { env: { ...process.env, TOKEN: token(2) }, timeout: 20_000 },
    (error, out, err) => (error ? fail(new Error(`${error.message}\n${out}\n${err}`)) : ok({ stdout: out, stderr: err })));
});

test('every snippet of the README runs against the example server; the example prints what it says', async () => {
  const code = snippets();
  assert.ok(code.length >= 2, 'the example and the Node snippet');
  assert.ok(code[0].includes("'ws://127.0.0.1:8210/library'"));
  const dir = join(PACKAGE, '.cache', `readme-run-${process.pid}`);
  const files = writeSnippets(dir, (c) => c.replaceAll("'ws://127.0.0.1:8210/library'", `'${server.url}'`));
  try {
    const outputs = [];
    for (const file of files) outputs.push(await run(file));
    for (const { stderr } of outputs) assert.equal(stderr, '');
    assert.deepEqual(outputs[0].stdout.trim().split('\n'), [
      'in room 1: 1 user(s), 20x20 cells',
      'I am user 2',
      'user 2 is at 1,0',
      'I am at 1,0',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
