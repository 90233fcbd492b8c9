// A throwaway PostgreSQL server for tests, soak runs and benchmarks: `initdb` into a fresh
// temporary folder, started on a free loopback port, stopped and removed afterwards. Never a
// server of the machine's own, never a network interface other than 127.0.0.1.
//
// The server binaries come from $STATECREW_PG_BIN, else the newest /usr/lib/postgresql/*/bin
// (Debian's `postgresql` package; scripts/provision.mjs installs it when missing). PostgreSQL
// refuses to run as root: when this process is root, initdb and postgres run as the
// unprivileged user `nobody` (uid/gid of `id nobody`), and the folder is given to it.
//
// The superuser is `postgres` with a random password, required on TCP (scram-sha-256); the
// database `statecrew` is created for the tests. Readiness is the server's own log line
// ("ready to accept connections"), not a poll.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The folder holding initdb, postgres and psql. @throws Error naming what to install when there is none. */
export function pgBinDir() {
  const given = process.env.STATECREW_PG_BIN;
  if (given !== undefined) {
    if (!fs.existsSync(path.join(given, 'postgres'))) throw new Error(`STATECREW_PG_BIN is ${given}, which has no postgres binary`);
    return given;
  }
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'postgres'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) {
    throw new Error("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install Debian's `postgresql` package (npm test's pretest does, as root) or set STATECREW_PG_BIN");
  }
  return path.join(root, versions[0], 'bin');
}

/** uid/gid to run the server as: this process's own, or `nobody`'s when this is root. */
function serverUser() {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return {};
  const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** A TCP port free on 127.0.0.1 right now (the kernel's choice). */
async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Starts a fresh server.
 * @param {{ settings?: Record<string, string> }} [options] extra `postgres -c name=value` settings
 * @returns {Promise<{ url: string, port: number, password: string, dataDir: string, binDir: string,
 *   stop(): Promise<void>, restart(): Promise<void>, psql(sql: string): string }>}
 *   `url`: postgres://postgres:<password>@127.0.0.1:<port>/statecrew. `stop` shuts it down
 *   (fast) and removes its folder; `restart` stops and starts it on the same port and data.
 * @throws Error with the server's log when it does not start.
 */
export async function startPgServer(options = {}) {
  const binDir = pgBinDir();
  const user = serverUser();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'statecrew-pg-'));
  const dataDir = path.join(root, 'data');
  const password = randomBytes(12).toString('hex');
  const pwfile = path.join(root, 'pw');
  fs.writeFileSync(pwfile, `${password}\n`);
  if (user.uid !== undefined) {
    fs.chownSync(root, user.uid, user.gid);
    fs.chownSync(pwfile, user.uid, user.gid);
  }
  const asServer = { ...user, cwd: root, env: { ...process.env, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' } };
  try {
    execFileSync(path.join(binDir, 'initdb'), ['-D', dataDir, '-U', 'postgres', `--pwfile=${pwfile}`, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync'], { ...asServer, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    fs.rmSync(root, { recursive: true, force: true });
    throw new Error(`initdb failed: ${error.stderr?.toString() ?? error.message}`);
  }
  const port = await freePort();
  const settings = { listen_addresses: '127.0.0.1', unix_socket_directories: root, max_connections: '200', ...options.settings };
  let server = null;

  const start = async () => {
    const args = ['-D', dataDir, '-p', String(port), ...Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`])];
    const child = spawn(path.join(binDir, 'postgres'), args, { ...asServer, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    const ready = new Promise((resolve, reject) => {
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk) => {
        log += chunk;
        if (/database system is ready to accept connections/.test(log)) resolve();
      });
      child.once('exit', (code, signal) => reject(new Error(`postgres exited (${signal ?? code}) before it was ready:\n${log}`)));
      child.once('error', reject);
    });
    await ready;
    server = child;
  };
  const halt = async () => {
    if (server === null || server.exitCode !== null || server.signalCode !== null) return;
    const exited = once(server, 'exit');
    server.kill('SIGINT'); // fast shutdown: active transactions rolled back, clean checkpoint
    await exited;
    server = null;
  };

  try {
    await start();
    execFileSync(path.join(binDir, 'psql'), ['-h', root, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qc', 'CREATE DATABASE statecrew'], { ...asServer, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    await halt();
    fs.rmSync(root, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/statecrew`,
    port,
    password,
    dataDir,
    binDir,
    async stop() {
      await halt();
      fs.rmSync(root, { recursive: true, force: true });
    },
    async restart() {
      await halt();
      await start();
    },
    /** Runs `sql` as the superuser over the server's socket (trust), in database `statecrew`; returns psql's output. */
    psql(sql) {
      // Notices (DROP … CASCADE lists every object) are not output: warnings and errors still are.
      const env = { ...asServer.env, PGOPTIONS: '-c client_min_messages=warning' };
      return execFileSync(path.join(binDir, 'psql'), ['-h', root, '-p', String(port), '-U', 'postgres', '-d', 'statecrew', '-v', 'ON_ERROR_STOP=1', '-Atqc', sql], { ...asServer, env, encoding: 'utf8' });
    },
  };
}
