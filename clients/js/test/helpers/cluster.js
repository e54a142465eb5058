// Three server processes sharing MariaDB, Redis and RabbitMQ, as
// tests/common/cluster.rs starts them: a database and a key prefix of their
// own per test, removed again by `cleanup()`.
//
// Services: MYROOM_TEST_MYSQL_URL (mysql://root@127.0.0.1:3306),
// MYROOM_TEST_REDIS_URL (redis://127.0.0.1:6379), MYROOM_TEST_AMQP_URL
// (amqp://guest:guest@127.0.0.1:5672/%2f).

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './server.js';

const MYSQL = process.env.MYROOM_TEST_MYSQL_URL || 'mysql://root@127.0.0.1:3306';
const REDIS = process.env.MYROOM_TEST_REDIS_URL || 'redis://127.0.0.1:6379';
const AMQP = process.env.MYROOM_TEST_AMQP_URL || 'amqp://guest:guest@127.0.0.1:5672/%2f';

function mariadb(sql) {
  const url = new URL(MYSQL);
  execFileSync('mariadb', ['-h', url.hostname, '-P', url.port || '3306', '-u', decodeURIComponent(url.username || 'root'),
    ...(url.password ? [`-p${decodeURIComponent(url.password)}`] : []), '-e', sql], { stdio: ['ignore', 'ignore', 'inherit'] });
}

/** Delete every Redis key starting with `prefix` (best effort). */
function cleanRedis(prefix) {
  const url = new URL(REDIS);
  const script = "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) n = n + 1 end return n";
  const parts = ['EVAL', script, '0', `${prefix}*`];
  const request = `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`;
  return new Promise((done) => {
    const socket = connect(Number(url.port || 6379), url.hostname);
    const end = () => { socket.destroy(); done(); };
    socket.setTimeout(2000, end);
    socket.on('error', end);
    socket.on('data', end);
    socket.on('connect', () => socket.write(request));
  });
}

export async function startCluster(nodes = 3) {
  const dir = mkdtempSync(join(tmpdir(), 'myroom-js-cluster-'));
  const tag = randomBytes(5).toString('hex');
  const db = `myroom_js_${tag}`;
  // The trailing 'x' keeps one prefix from being the start of another.
  const prefix = `jsclient${tag}x`;
  mariadb(`CREATE DATABASE \`${db}\``);
  const cluster = { dir, db, prefix, nodes: [] };
  cluster.cleanup = async () => {
    for (const node of cluster.nodes) await node.stop();
    await cleanRedis(prefix);
    try { mariadb(`DROP DATABASE IF EXISTS \`${db}\``); } catch { /* reported by mariadb itself */ }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 1; i <= nodes; i += 1) {
      // One at a time: each seeds the fixtures into MySQL.
      cluster.nodes.push(await startServer({
        dir, ready: '/readyz',
        args: ['--node-id', `n${i}`, '--key-prefix', prefix, '--lease-ms', '1500', '--node-ttl-ms', '2500',
          '--mysql', `${MYSQL}/${db}`, '--redis', REDIS, '--amqp', AMQP],
      }));
    }
  } catch (e) {
    await cluster.cleanup();
    throw e;
  }
  return cluster;
}
