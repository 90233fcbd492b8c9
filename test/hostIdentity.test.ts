import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isLocalHost, localHostIdentity } from '../actors/hostIdentity.js';
import { fixture } from './helpers/tempStore.js';

/**
 * A host identity says where a pid means something: machine, boot and PID namespace. Other
 * PID namespaces are made with `unshare` (as root), as two containers on one machine would be.
 */

function identityIn(prefix: readonly string[]): { id?: string; name?: string; error?: string; code?: string } {
  const [program = process.execPath, ...args] = [...prefix, process.execPath, fixture('print-host-identity.mjs')];
  const child = spawnSync(program, args, { encoding: 'utf8' });
  if (child.status !== 0) throw new Error(`${[program, ...args].join(' ')} exited ${child.status}: ${child.stderr}`);
  return JSON.parse(child.stdout) as { id?: string; error?: string };
}

describe('localHostIdentity', () => {
  it('is machine, boot and PID namespace, the same for every process of this namespace', () => {
    const here = localHostIdentity();
    const [machine, boot, namespace] = here.id.split('/');
    expect(machine).toBe(readFileSync('/etc/machine-id', 'utf8').trim());
    expect(boot).toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    expect(namespace).toMatch(/^pid:\d+$/);
    expect(identityIn([])).toEqual(here);
    expect(isLocalHost(here.id)).toBe(true);
    expect(isLocalHost(undefined), 'recorded before identities existed').toBe(true);
  });

  it('differs in another PID namespace of the same machine and boot, though the hostname is the same', () => {
    const here = localHostIdentity();
    const there = identityIn(['unshare', '--pid', '--fork', '--mount-proc']);
    expect(there.name).toBe(here.name);
    expect(there.id).toBeDefined();
    expect(there.id).not.toBe(here.id);
    expect(there.id?.split('/').slice(0, 2)).toEqual(here.id.split('/').slice(0, 2));
    expect(isLocalHost(there.id)).toBe(false);
  });

  it('refuses a PID namespace whose /proc is another namespace\'s (its pids would name other processes)', () => {
    const there = identityIn(['unshare', '--pid', '--fork']);
    expect(there).toMatchObject({ code: 'HOST_IDENTITY' });
    expect(there.error).toMatch(/\/proc belongs to another PID namespace.*--mount-proc/);
  });
});
