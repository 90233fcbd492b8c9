import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { CLI_PATH } from './ticks.js';

/** A `statecrew` running in network and PID namespaces of its own, reaching the database through one veth link. */
export interface IsolatedHost {
  readonly child: ChildProcess;
  /** Takes the link down: packets are dropped, connections hang (no reset), as when a cable or a route goes. */
  cut(): void;
  /** Removes the link and the relay. */
  dispose(): Promise<void>;
}

let hosts = 0;

/**
 * Starts `statecrew <args> --store <url>` with `RUN=<run>` in `cwd`, in network and PID
 * namespaces of its own (`unshare --net --pid --fork --mount-proc --kill-child`). Its only way
 * out is a veth pair: `10.213.<n>.2` inside, `10.213.<n>.1` here, where a TCP relay forwards to
 * the database at `127.0.0.1:<port of url>`. The runtime waits on a FIFO until the link is up,
 * then gets `url` rewritten to the relay. Needs root (CAP_NET_ADMIN), `ip` and `nsenter`.
 */
export async function startIsolatedHost(cwd: string, run: string, args: readonly string[], url: string, dir: string): Promise<IsolatedHost> {
  const n = (process.pid + hosts++) % 250;
  const outside = `scx${n}a`;
  const inside = `scx${n}b`;
  const hostIp = `10.213.${n}.1`;
  const guestIp = `10.213.${n}.2`;
  const fifo = path.join(dir, `netns-${n}.fifo`);
  execFileSync('mkfifo', [fifo]);
  const child = spawn(
    'unshare',
    ['--net', '--pid', '--fork', '--mount-proc', '--kill-child', 'sh', '-c', 'read url < "$0"; exec "$@" --store "$url"', fifo, process.execPath, CLI_PATH, ...args],
    { cwd, env: { ...process.env, RUN: run }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const init = await childOf(child.pid ?? 0);
  const ip = (...command: string[]) => execFileSync('ip', command);
  const inNamespace = (...command: string[]) => execFileSync('nsenter', ['-t', String(init), '-n', 'ip', ...command]);
  ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
  ip('link', 'set', inside, 'netns', String(init));
  ip('addr', 'add', `${hostIp}/30`, 'dev', outside);
  ip('link', 'set', outside, 'up');
  inNamespace('addr', 'add', `${guestIp}/30`, 'dev', inside);
  inNamespace('link', 'set', inside, 'up');
  inNamespace('link', 'set', 'lo', 'up');

  const target = new URL(url);
  const sockets = new Set<net.Socket>();
  const relay = net.createServer((socket) => {
    const upstream = net.connect(Number(target.port), '127.0.0.1');
    for (const end of [socket, upstream]) {
      sockets.add(end);
      end.on('error', () => {
        socket.destroy();
        upstream.destroy();
      });
      end.on('close', () => sockets.delete(end));
    }
    socket.pipe(upstream).pipe(socket);
  });
  relay.listen(0, hostIp);
  await new Promise((resolve) => relay.once('listening', resolve));
  const relayed = new URL(url);
  relayed.hostname = hostIp;
  relayed.port = String((relay.address() as net.AddressInfo).port);
  fs.writeFileSync(fifo, `${relayed.href}\n`);

  const linkExists = (): boolean => execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).includes(`${outside}@`);
  return {
    child,
    cut: () => ip('link', 'set', outside, 'down'),
    dispose: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => relay.close(resolve));
      if (linkExists()) ip('link', 'del', outside);
    },
  };
}

/** The first child of process `pid` (for `unshare --fork`: the namespace's init), waited for up to 5 s. */
export async function childOf(pid: number): Promise<number> {
  for (let i = 0; i < 500; i++) {
    const text = fs.existsSync(`/proc/${pid}/task/${pid}/children`) ? fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim() : '';
    const [first] = text.split(/\s+/).map(Number);
    if (first !== undefined && first > 0) return first;
    await delay(10);
  }
  throw new Error(`process ${pid} started no child within 5 s`);
}
