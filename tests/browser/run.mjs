// Browser tests of the My Room page (issue 4): playwright-core drives the
// system Chromium (/usr/bin/chromium, Debian's package; never a downloaded
// browser) against the example server, which this file builds and starts on
// a free port with a fresh data directory, and stops at the end.
//
//   node --test --test-concurrency=1 tests/browser/run.mjs
//
// Environment: MYROOM_SERVER_BIN (a built server binary; default: build
// target/debug/examples/server with cargo), CHROMIUM (default /usr/bin/chromium).
// Every test saves a screenshot under tests/browser/screenshots/.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startProxy } from '../../clients/js/test/helpers/proxy.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const SHOTS = join(HERE, 'screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// At least 32 bytes: shorter secrets are a start-up error.
const SECRET = 'myroom-browser-tests-secret-0123456789abcdef';
const WAIT = 15_000; // a guard against hanging, not a speed requirement
const WIDE = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

// The demo users of the embedded default (src/fixtures.rs).
const ALICE = { id: '1', nickname: 'alice' }; // owns 12 Chess, 13 Go
const BOB = { id: '2', nickname: 'bob' };
const CAROL = { id: '3', nickname: 'carol' };

let server; // { proc, port, base, dataDir, logFile }
let browser;
const work = mkdtempSync(join(tmpdir(), 'myroom-browser-'));

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

function serverBinary() {
  if (process.env.MYROOM_SERVER_BIN) return process.env.MYROOM_SERVER_BIN;
  const build = spawnSync('cargo', ['build', '--example', 'server'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('cargo build --example server failed');
  return join(ROOT, 'target', 'debug', 'examples', 'server');
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

async function waitHealthy(base, proc) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}: ${serverLog()}`);
    try {
      const response = await fetch(`${base}/healthz`);
      if (response.ok) return;
    } catch { /* not up yet */ }
    await sleep(100);
  }
  throw new Error(`server did not answer /healthz: ${serverLog()}`);
}

function serverLog() {
  try { return readFileSync(server.logFile, 'utf8').slice(-4000); } catch { return '(no log)'; }
}

async function startServer(bin, port, dataDir, logFile) {
  const log = createWriteStream(logFile, { flags: 'a' });
  const proc = spawn(bin, ['--listen', `127.0.0.1:${port}`, '--data', dataDir, '--jwt-secret', SECRET], {
    cwd: work,
    // The embedded default: no MYROOM_* setting from the caller's environment leaks in.
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MYROOM_'))), RUST_LOG: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.pipe(log);
  proc.stderr.pipe(log);
  const base = `http://127.0.0.1:${port}`;
  server = { proc, port, base, dataDir, logFile, bin };
  await waitHealthy(base, proc);
  return server;
}

async function stopServer() {
  if (!server || server.proc.exitCode !== null) return;
  const exited = new Promise((ok) => server.proc.once('exit', ok));
  server.proc.kill('SIGTERM');
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** Wait until the text of `selector` on `page` equals (or, for a RegExp, matches) `expected`. */
async function waitText(page, selector, expected) {
  const pattern = expected instanceof RegExp ? { source: expected.source, flags: expected.flags } : null;
  try {
    await page.waitForFunction(
      ({ selector, text, pattern }) => {
        const node = document.querySelector(selector);
        if (!node) return false;
        const value = node.textContent.trim();
        return pattern ? new RegExp(pattern.source, pattern.flags).test(value) : value === text;
      },
      { selector, text: expected instanceof RegExp ? null : expected, pattern },
      { timeout: WAIT },
    );
  } catch (e) {
    const actual = await page.locator(selector).first().textContent({ timeout: 1000 }).catch(() => '(absent)');
    throw new Error(`${selector}: expected ${expected}, page shows ${JSON.stringify(actual)} (${e.message.split('\n')[0]})`);
  }
}

async function newPage(viewport = WIDE) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (e) => { page.errors = [...(page.errors || []), e.message]; });
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/.test(m.text())) page.errors = [...(page.errors || []), m.text()];
  });
  return page;
}

async function signIn(page, user) {
  await page.goto(`${server.base}/`);
  await page.locator(`#dev-users button[data-user="${user.id}"]`).click();
  await page.locator('#picker').waitFor({ state: 'visible' });
  await waitText(page, '#whoami', `${user.nickname} #${user.id}`);
}

async function enterRoom(page, roomId) {
  await page.locator('#room-id').fill(roomId);
  await page.locator('#enter-room').click();
  await page.locator('#room').waitFor({ state: 'visible' });
  await page.locator('#conn[data-state="online"]').waitFor();
}

const pos = (user) => `#people li[data-user="${user.id}"] .pos`;

/** Click cell (x, y) of the grid canvas. */
async function clickCell(page, x, y) {
  const canvas = page.locator('#grid');
  const side = Number(await canvas.getAttribute('data-side'));
  const box = await canvas.boundingBox();
  await page.mouse.click(box.x + ((x + 0.5) * box.width) / side, box.y + ((y + 0.5) * box.height) / side);
}

/** Press `key` and wait for the owner's page to show `user` at `expected`. */
async function step(mover, key, watcher, user, expected) {
  await mover.keyboard.press(key);
  await waitText(watcher, pos(user), expected);
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const bin = serverBinary();
  const port = await freePort();
  const dataDir = join(work, 'data');
  mkdirSync(dataDir);
  await startServer(bin, port, dataDir, join(work, 'server.log'));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Playwright gives each launch a fresh temporary profile (user-data-dir).
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
});

after(async () => {
  if (browser) await browser.close().catch(() => {});
  await stopServer();
  rmSync(work, { recursive: true, force: true });
});

describe('the room in a browser', () => {
  let owner; // alice, in her own room
  let guest; // bob, visiting alice

  test('two users sign in and enter the same room; the guest\'s keys move their avatar on the owner\'s page', async () => {
    owner = await newPage();
    guest = await newPage();
    await signIn(owner, ALICE);
    await owner.locator('#my-room').click();
    await owner.locator('#conn[data-state="online"]').waitFor();
    await waitText(owner, '#room-title', 'Your room (#1)');

    await signIn(guest, BOB);
    await enterRoom(guest, ALICE.id);
    await waitText(guest, '#room-title', "alice's room (#1)");
    await waitText(owner, '#people-count', '2');
    await waitText(owner, pos(BOB), '0, 0');

    await step(guest, 'd', owner, BOB, '1, 0');
    await step(guest, 'ArrowRight', owner, BOB, '2, 0');
    await step(guest, 's', owner, BOB, '2, 1');
    await step(guest, 'ArrowDown', owner, BOB, '2, 2');
    await step(guest, 'a', owner, BOB, '1, 2');
    await step(guest, 'w', owner, BOB, '1, 1');
    // The guest's own page agrees with the server.
    await waitText(guest, pos(BOB), '1, 1');
    // The owner moves too, so that the reset to spawn below is visible.
    await step(owner, 'ArrowRight', guest, ALICE, '1, 0');
    await step(owner, 'ArrowRight', guest, ALICE, '2, 0');
    await shot(owner, '01-owner-sees-guest-move');
    await shot(guest, '01-guest');
  });

  test('the owner places games and walls and saves; the guest sees them and both are back at spawn', async () => {
    await owner.locator('#edit-toggle').click();
    await owner.locator('#palette button[data-palette="12"]').click(); // Chess
    await clickCell(owner, 0, 0);
    await clickCell(owner, 5, 3);
    await owner.locator('#palette button[data-palette="13"]').click(); // Go
    await clickCell(owner, 8, 3);
    // Click a filled cell again: it is removed; place it back.
    await clickCell(owner, 8, 3);
    await clickCell(owner, 8, 4);
    await owner.locator('#palette button[data-palette="wall"]').click();
    for (let x = 3; x <= 10; x += 1) await clickCell(owner, x, 6);
    await clickCell(owner, 10, 6); // and remove the last wall
    await shot(owner, '02-owner-editing');
    await owner.locator('#save').click();

    // Chess was placed twice: the second click moved it.
    for (const page of [owner, guest]) {
      await waitText(page, '#items li[data-item="12"]', /^Chess\s*5, 3$/);
      await waitText(page, '#items li[data-item="13"]', /^Go\s*8, 4$/);
      await waitText(page, '#items li[data-item="w1"]', /^wall\s*3, 6$/);
      await waitText(page, '#items li[data-item="w7"]', /^wall\s*9, 6$/);
      assert.equal(await page.locator('#items li[data-kind="object"]').count(), 7);
      // An accepted BUILD sends everyone back to spawn: (0,0) is free again.
      await waitText(page, pos(ALICE), '0, 0');
      await waitText(page, pos(BOB), '0, 0');
    }
    await owner.locator('#edit-tools').waitFor({ state: 'hidden' });
    await waitText(owner, '#notice-text', /^Saved/);

    // Walls block: bob walks down column 3 and stops above the wall at (3,6).
    for (const [key, expected] of [['d', '1, 0'], ['d', '2, 0'], ['d', '3, 0'], ['s', '3, 1'], ['s', '3, 2'],
      ['s', '3, 3'], ['s', '3, 4'], ['s', '3, 5']]) {
      await step(guest, key, owner, BOB, expected);
    }
    await guest.keyboard.press('s'); // into the wall: nothing happens
    await owner.keyboard.press('s');
    await waitText(guest, pos(ALICE), '0, 1'); // a later move is seen, and bob has not moved
    assert.equal((await owner.locator(pos(BOB)).textContent()).trim(), '3, 5');
    await waitText(guest, pos(BOB), '3, 5');
    await shot(owner, '02-owner-after-save');
    await owner.locator('#notice-close').click();
    await shot(owner, 'room'); // docs/screenshot.png is a copy of this one
    await shot(guest, '02-guest-sees-build');
  });

  test('the guest cannot edit', async () => {
    assert.equal(await guest.locator('#editor').isVisible(), false);
    assert.equal(await guest.locator('#edit-toggle').isVisible(), false);
    await clickCell(guest, 12, 12); // clicks do nothing for a guest
    assert.equal(await guest.locator('#items li').count(), 9);
    assert.equal(await owner.locator('#editor').isVisible(), true);
    await shot(guest, '03-guest-no-editor');
  });

  test('a phone-width window shows the room and moves with the on-screen pad', async () => {
    const phone = await newPage(PHONE);
    await signIn(phone, CAROL);
    await enterRoom(phone, ALICE.id);
    const box = await phone.locator('#grid').boundingBox();
    assert.ok(box.width <= PHONE.width && box.width >= 200, `grid is ${box.width}px wide`);
    await phone.locator('.pad button[data-dir="1"]').click();
    await waitText(owner, pos(CAROL), '1, 0');
    await phone.locator('.pad button[data-dir="2"]').click();
    await waitText(owner, pos(CAROL), '1, 1');
    await shot(phone, '04-phone');
    // Closing the page (as a user closes the tab) leaves the room at once;
    // only a lost connection keeps the seat (PROTOCOL.md §9).
    const context = phone.context();
    await phone.close({ runBeforeUnload: true });
    await waitText(owner, '#people-count', '2');
    await context.close();
  });

  test('an unknown room shows a readable error and the room picker', async () => {
    const page = await newPage();
    await signIn(page, CAROL);
    await page.locator('#room-id').fill('999');
    await page.locator('#enter-room').click();
    await waitText(page, '#notice-text', /That room does not exist.*\(76404\)/);
    await page.locator('#lobby').waitFor({ state: 'visible' });
    await shot(page, '05-unknown-room');
    await page.context().close();
  });

  test('after the server restarts, the pages resume their seats: same places, the map kept', async () => {
    // A restart with SIGTERM keeps the room's seats and places (PROTOCOL.md §9):
    // both pages come back where they stood, not at spawn.
    const before = {};
    for (const user of [ALICE, BOB]) before[user.id] = (await owner.locator(pos(user)).textContent()).trim();
    await stopServer();
    await owner.locator('#conn[data-state="reconnecting"]').waitFor();
    await shot(owner, '06-reconnecting');
    await startServer(server.bin, server.port, server.dataDir, server.logFile);
    for (const page of [owner, guest]) {
      await page.locator('#conn[data-state="online"]').waitFor({ timeout: 30_000 });
      await waitText(page, '#people-count', '2');
      for (const user of [ALICE, BOB]) await waitText(page, pos(user), before[user.id]);
    }
    assert.notEqual(before[BOB.id], '0, 0', 'bob had moved off the spawn, so a kept place shows');
    await waitText(owner, '#items li[data-item="12"]', /^Chess\s*5, 3$/);
    const [x, y] = before[BOB.id].split(', ').map(Number);
    await step(guest, 'd', owner, BOB, `${x + 1}, ${y}`);
    await shot(owner, '06-reconnected');
  });

  test('a cut connection: the page resumes its seat by itself, the others see no LEAVE, and it shows what it missed', async () => {
    // Carol's page goes through a TCP proxy whose connections the test resets.
    const proxy = await startProxy(server.port);
    const page = await newPage();
    try {
      await page.goto(`http://127.0.0.1:${proxy.port}/`);
      await page.locator(`#dev-users button[data-user="${CAROL.id}"]`).click();
      await enterRoom(page, ALICE.id);
      await waitText(owner, '#people-count', '3');
      await step(page, 'd', owner, CAROL, '1, 0');
      assert.equal(await page.locator('#conn').getAttribute('data-reconnects'), null);
      // The owner's page remembers the fewest people it ever showed from now on.
      await owner.evaluate(() => {
        const count = document.getElementById('people-count');
        window.fewestPeople = Number(count.textContent);
        new MutationObserver(() => {
          window.fewestPeople = Math.min(window.fewestPeople, Number(count.textContent));
        }).observe(count, { childList: true, characterData: true, subtree: true });
      });
      proxy.refuse(true);
      proxy.cut();
      await page.locator('#conn[data-state="reconnecting"]').waitFor();
      await shot(page, '07-reconnecting');
      // While carol is away the owner moves: carol's page must show it once back.
      const [ax, ay] = (await owner.locator(pos(ALICE)).textContent()).trim().split(', ').map(Number);
      const aliceAfter = `${ax}, ${ay + 1}`;
      await step(owner, 's', guest, ALICE, aliceAfter);
      proxy.refuse(false);
      await page.locator('#conn[data-state="online"][data-reconnects="1"]').waitFor({ timeout: 30_000 });
      // Her seat was kept (PROTOCOL.md §9): where she stood, with the move she missed.
      await waitText(page, pos(CAROL), '1, 0');
      await waitText(page, pos(ALICE), aliceAfter);
      await waitText(page, '#people-count', '3');
      assert.equal(await owner.evaluate(() => window.fewestPeople), 3, 'the owner never saw carol leave');
      await step(page, 'd', owner, CAROL, '2, 0');
      await shot(page, '07-resumed-after-cut');
      assert.deepEqual(page.errors || [], []);
    } finally {
      await page.close({ runBeforeUnload: true });
      await page.context().close();
      await proxy.close();
    }
    // Closing the page leaves the room.
    await waitText(owner, '#people-count', '2');
  });

  test('a bad token shows the sign-in again with a message', async () => {
    const page = await newPage();
    await page.goto(`${server.base}/#token=not-a-real-token`);
    await page.locator('#signin').waitFor({ state: 'visible' });
    await waitText(page, '#signin-message', /access token was refused/);
    assert.equal(new URL(page.url()).hash, '', 'the token is taken out of the address');
    assert.ok(await page.locator(`#dev-users button[data-user="${ALICE.id}"]`).isVisible());
    await shot(page, '08-bad-token');
    await page.context().close();
  });

  test('no page threw an error', () => {
    for (const page of [owner, guest]) assert.deepEqual(page.errors || [], []);
  });
});

// The client library itself in Chromium (issue 25): the same promises its
// Node tests check (test/promises.test.js), with the browser's own WebSocket
// and fetch, the library served by the server at /lib/myroom-client/.
describe('myroom-client in Chromium', () => {
  let page;
  const devToken = async (user) => {
    const response = await fetch(`${server.base}/dev/token`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: Number(user) }),
    });
    assert.equal(response.status, 200);
    return (await response.json()).token;
  };

  before(async () => {
    page = await newPage();
    await page.goto(`${server.base}/`);
  });

  test('build() settles on its own answer; client.me; move(7) throws a RoomError', async () => {
    const tokens = { owner: await devToken(ALICE.id), guest: await devToken(CAROL.id) };
    const outcome = await page.evaluate(async ({ tokens, url }) => {
      const { RoomClient, RoomError } = await import('/lib/myroom-client/index.js');
      const owner = new RoomClient({ url, token: tokens.owner });
      const guest = new RoomClient({ url, token: tokens.guest });
      await owner.enter(1);
      await guest.enter(1);
      const map = (side) => ({ side, gameList: [], objectList: [], games: {}, objects: {} });
      const rounds = [];
      for (let i = 0; i < 5; i += 1) {
        const built = owner.build(map(10 + i));
        const synced = guest.sync();
        const refused = guest.build(map(30)).then(() => 'resolved', (e) => e.code);
        rounds.push({ owner: (await built).side, guest: await refused });
        await synced;
      }
      let thrown = null;
      try { guest.move(7); } catch (e) { thrown = e instanceof RoomError ? e.kind : String(e); }
      const me = [owner.me, guest.me];
      await owner.leave();
      await guest.leave();
      return { rounds, thrown, me };
    }, { tokens, url: `ws://127.0.0.1:${server.port}/library` });
    assert.deepEqual(outcome.rounds, [10, 11, 12, 13, 14].map((side) => ({ owner: side, guest: 76403 })));
    assert.equal(outcome.thrown, 'usage');
    assert.deepEqual(outcome.me, [ALICE.id, CAROL.id]);
  });

  test('a wrong token ends in a RoomError of kind auth within two attempts', async () => {
    const outcome = await page.evaluate(async ({ url }) => {
      const { RoomClient } = await import('/lib/myroom-client/index.js');
      const client = new RoomClient({ url, token: 'not-a-token', reconnect: { initialDelayMs: 50, maxDelayMs: 100 } });
      let attempts = 0;
      client.on('connecting', () => { attempts += 1; });
      const error = await client.enter(1).then(() => null, (e) => e);
      return { kind: error?.kind, code: error?.code, refusal: error?.isRefusal, attempts, status: client.status };
    }, { url: `ws://127.0.0.1:${server.port}/library` });
    assert.deepEqual({ ...outcome, attempts: outcome.attempts <= 2 },
      { kind: 'auth', code: 76401, refusal: true, attempts: true, status: 'closed' });
  });

  test('a listener that throws stops neither the others nor the client, and is no page error', async () => {
    const tokens = { a: await devToken(BOB.id), b: await devToken(ALICE.id) };
    const heard = await page.evaluate(async ({ tokens, url }) => {
      const { RoomClient } = await import('/lib/myroom-client/index.js');
      const a = new RoomClient({ url, token: tokens.a });
      const b = new RoomClient({ url, token: tokens.b });
      await a.enter(2);
      let heard = 0;
      a.on('enter', () => { throw new Error('a listener bug'); });
      a.on('enter', () => { heard += 1; });
      const seen = a.once('enter');
      await b.enter(2);
      await seen;
      const moved = a.once('move', (e) => e.userId === a.me);
      a.move(1);
      await moved;
      await a.leave();
      await b.leave();
      return heard;
    }, { tokens, url: `ws://127.0.0.1:${server.port}/library` });
    assert.equal(heard, 1);
    await sleep(100);
    assert.deepEqual(page.errors || [], []);
  });
});

