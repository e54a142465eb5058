// The example server binary, started on a free loopback port for a test and
// stopped after it; JWTs signed here with the same secret.
//
// MYROOM_SERVER_BIN names a built binary; without it `cargo build --example
// server` runs once (debug) and target/debug/examples/server is used.

import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
// At least 32 bytes: shorter secrets are a start-up error.
export const SECRET = 'myroom-client-tests-secret-0123456789abcdef';
/** Guard against hangs only, not a speed requirement. */
export const PATIENCE = 15_000;

/** Users 1..6; alice (1) owns games 12 and 13. */
export const FIXTURES = JSON.stringify({
  users: [
    { idx: 1, nickname: 'alice', games: [{ id: 12, name: 'Chess' }, { id: 13, name: 'Go' }] },
    { idx: 2, nickname: 'bob', games: [14] },
    { idx: 3, nickname: 'carol' }, { idx: 4, nickname: 'dave' }, { idx: 5, nickname: 'erin' },
    { idx: 6, nickname: 'frank' },
  ],
});
const NICKNAMES = { 1: 'alice', 2: 'bob', 3: 'carol', 4: 'dave', 5: 'erin', 6: 'frank' };

const b64url = (data) => Buffer.from(data).toString('base64url');

/** An HS256 access token for `user` (PROTOCOL.md §1). */
export function token(user, secret = SECRET, lifetimeSecs = 3600) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ idx: user, nickname: NICKNAMES[user] ?? `user${user}`, exp: Math.floor(Date.now() / 1000) + lifetimeSecs }));
  const mac = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${mac}`;
}

let built = null;
export function serverBinary() {
  if (process.env.MYROOM_SERVER_BIN) return process.env.MYROOM_SERVER_BIN;
  if (built) return built;
  const build = spawnSync('cargo', ['build', '--example', 'server'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('cargo build --example server failed');
  built = join(ROOT, 'target', 'debug', 'examples', 'server');
  return built;
}

export function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.on('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

/** Resolve when `check()` returns a truthy value; poll with a deadline. */
export async function waitFor(check, what, patience = PATIENCE) {
  const deadline = Date.now() + patience;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
}

/** Reject if `promise` does not settle within `ms` (a hang guard). */
export function within(promise, what, ms = PATIENCE) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, fail) => { timer = setTimeout(() => fail(new Error(`timed out: ${what}`)), ms); }),
  ]);
}

/**
 * One server process.
 * @param {{ args?: string[], dir?: string, env?: Record<string,string>, ready?: string }} [options]
 */
export async function startServer(options = {}) {
  const bin = serverBinary();
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'myroom-js-'));
  const fixtures = join(dir, 'fixtures.json');
  writeFileSync(fixtures, FIXTURES);
  const port = await freePort();
  const logFile = join(dir, `server-${port}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MYROOM_')));
  const proc = spawn(bin, [
    '--listen', `127.0.0.1:${port}`, '--jwt-secret', SECRET, '--fixtures', fixtures,
    '--data', join(dir, `data-${port}`), ...(options.args ?? []),
  ], { env: { ...env, RUST_LOG: 'info', NO_COLOR: '1', ...(options.env ?? {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  const http = `http://127.0.0.1:${port}`;
  const server = {
    proc, port, dir, http, url: `ws://127.0.0.1:${port}/library`, logFile,
    log: () => { try { return readFileSync(logFile, 'utf8').slice(-4000); } catch { return '(no log)'; } },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((ok) => proc.once('exit', ok));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    async cleanup() {
      await server.stop();
      if (!options.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  const path = options.ready ?? '/healthz';
  try {
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}: ${server.log()}`);
      try { return (await fetch(`${http}${path}`)).ok; } catch { return false; }
    }, `${http}${path}`, 90_000);
  } catch (e) {
    await server.cleanup();
    throw e;
  }
  return server;
}

/** GET `path` as JSON. */
export async function getJson(base, path, user = 1) {
  // The room view needs a signed-in user (the route lookup does not mind one).
  const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token(user)}` } });
  if (!response.ok) throw new Error(`GET ${path}: ${response.status}`);
  return response.json();
}
