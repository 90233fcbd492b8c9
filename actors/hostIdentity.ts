/**
 * Where pids mean something. A pid (with its kernel start time) identifies a process only
 * inside the PID namespace that assigned it, and only until the machine reboots: read in
 * another namespace it names nothing, or an unrelated process. So every runtime and every
 * turn is recorded with the identity of the namespace it ran in — machine, boot and PID
 * namespace — and pids are evidence (probed, signalled) only under the same identity.
 * Anything recorded under another identity is judged by heartbeats alone and never
 * signalled. A hostname alone is no identity: containers share hostnames, and two PID
 * namespaces on one machine share everything but their pids.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import { HostIdentityError } from '../core/errors.js';

/** This process's host identity. */
export interface HostIdentity {
  /**
   * `<machine>/<boot>/<pid namespace>`: `/etc/machine-id` (else `/var/lib/dbus/machine-id`,
   * else the hostname), `/proc/sys/kernel/random/boot_id`, and the inode of
   * `/proc/self/ns/pid`, e.g. `5f0c…/a1b2…/pid:4026531836`. Equal for every process of one
   * PID namespace during one boot; different across machines, reboots and PID namespaces.
   */
  readonly id: string;
  /** `os.hostname()`, for people: shown beside the id, never compared. */
  readonly name: string;
}

let cached: HostIdentity | undefined;

/**
 * The identity of the PID namespace this process runs in (computed once per process).
 * @throws HostIdentityError when `/proc` is not this namespace's (`/proc/self` is not
 *   `process.pid`): pids read there would name other processes.
 * @throws the file-system error when `/proc` cannot be read at all (not Linux).
 */
export function localHostIdentity(): HostIdentity {
  if (cached !== undefined) return cached;
  const procSelf = readlinkSync('/proc/self');
  if (procSelf !== String(process.pid)) {
    throw new HostIdentityError(
      `/proc belongs to another PID namespace (it calls this process ${procSelf}, Node calls it ${process.pid}): `
        + 'statecrew cannot verify or signal its processes; mount a /proc of its own (unshare --pid --fork --mount-proc)',
    );
  }
  const namespace = /^pid:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/pid'))?.[1];
  if (namespace === undefined) throw new HostIdentityError(`cannot read the PID namespace of this process from /proc/self/ns/pid`);
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  cached = { id: `${machineId()}/${boot}/pid:${namespace}`, name: os.hostname() };
  return cached;
}

/** True when something recorded under `hostId` ran in this process's PID namespace and boot; `null`/`undefined` (recorded before identities existed) counts as local. */
export function isLocalHost(hostId: string | null | undefined): boolean {
  return hostId == null || hostId === localHostIdentity().id;
}

function machineId(): string {
  for (const file of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = readFileSync(file, 'utf8').trim();
      if (id !== '') return id;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return `host:${os.hostname()}`;
}
