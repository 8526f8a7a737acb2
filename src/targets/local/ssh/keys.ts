/**
 * SSH key material for one service: a freshly generated ed25519 user keypair and host key (`ssh-keygen`),
 * `authorized_keys` holding the user key, and a pinned `known_hosts` listing every rank's host name,
 * address and aliases in `[host]:port` form, so no host-key prompt can ever appear. Private keys are mode
 * 0600 in a 0700 directory and are never read back, printed or logged by this module; `removeSshMaterial`
 * deletes the directory on `down`.
 */
import { writeFileAtomic } from '../../atomic-file.js';
import { execFile } from 'node:child_process';
import { access, chmod, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const SSH_KEYGEN = '/usr/bin/ssh-keygen';

/** File names inside a service's SSH directory. */
export const SSH_FILES = {
  userKey: 'id_ed25519',
  userPub: 'id_ed25519.pub',
  hostKey: 'ssh_host_ed25519_key',
  hostPub: 'ssh_host_ed25519_key.pub',
  authorizedKeys: 'authorized_keys',
  knownHosts: 'known_hosts',
} as const;

/** One rank as other ranks address it. */
export interface KnownHost {
  readonly hostname: string;
  readonly address: string;
  readonly port: number;
  /** Further names that resolve to this rank (FQDNs, short names). */
  readonly aliases?: readonly string[];
}

export interface SshMaterial {
  readonly dir: string;
  readonly userKey: string;
  readonly userPub: string;
  readonly hostKey: string;
  readonly hostPub: string;
  readonly authorizedKeys: string;
  readonly knownHosts: string;
}

export function sshMaterialPaths(dir: string): SshMaterial {
  return {
    dir,
    userKey: join(dir, SSH_FILES.userKey),
    userPub: join(dir, SSH_FILES.userPub),
    hostKey: join(dir, SSH_FILES.hostKey),
    hostPub: join(dir, SSH_FILES.hostPub),
    authorizedKeys: join(dir, SSH_FILES.authorizedKeys),
    knownHosts: join(dir, SSH_FILES.knownHosts),
  };
}

/** `host` on port 22, `[host]:port` otherwise (OpenSSH's known_hosts form). */
export function knownHostPattern(name: string, port: number): string {
  return port === 22 ? name : `[${name}]:${port}`;
}

/**
 * The pinned known_hosts text: one line per rank naming its host name, address and aliases, each with its
 * port, followed by the host key type and base64 (the comment is dropped). Pure.
 */
export function buildKnownHosts(hostPubLine: string, hosts: readonly KnownHost[]): string {
  const [type, key] = hostPubLine.trim().split(/\s+/);
  if (type === undefined || key === undefined) throw new Error('host public key line is malformed');
  const lines = hosts.map((h) => {
    const names = [...new Set([h.hostname, h.address, ...(h.aliases ?? [])])].filter((n) => n !== '');
    return `${names.map((n) => knownHostPattern(n, h.port)).join(',')} ${type} ${key}`;
  });
  return `${lines.join('\n')}\n`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

async function keygen(path: string, comment: string): Promise<void> {
  // -q: no randomart on stdout; the private key goes to the file only, never to our output.
  await execFileAsync(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], {
    timeout: 30_000,
  });
  await chmod(path, 0o600);
  await chmod(`${path}.pub`, 0o644);
}

export interface EnsureSshMaterialOptions {
  /** Comment written into the public keys (`multinode:<service>`). */
  readonly comment: string;
  readonly hosts: readonly KnownHost[];
}

/**
 * Generates the user keypair and host key in `dir` unless they already exist (a restarted rank keeps the
 * service's keys), then (re)writes authorized_keys and known_hosts for the given hosts.
 */
export async function ensureSshMaterial(
  dir: string,
  options: EnsureSshMaterialOptions,
): Promise<SshMaterial> {
  const m = sshMaterialPaths(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const ensureKey = async (key: string, pub: string, comment: string): Promise<void> => {
    if ((await exists(key)) && (await exists(pub))) return;
    await rm(key, { force: true });
    await rm(pub, { force: true });
    await keygen(key, comment);
  };
  // Both keys at once: two ssh-keygen runs side by side, not one after the other.
  await Promise.all([
    ensureKey(m.userKey, m.userPub, `${options.comment}:user`),
    ensureKey(m.hostKey, m.hostPub, `${options.comment}:host`),
  ]);
  const userPub = (await readFile(m.userPub, 'utf8')).trim();
  const hostPub = (await readFile(m.hostPub, 'utf8')).trim();
  // Atomic replacement: wrapper calls may be reading these while a restarted rank re-prepares.
  await writeFileAtomic(m.authorizedKeys, `${userPub}\n`, 0o644);
  await writeFileAtomic(m.knownHosts, buildKnownHosts(hostPub, options.hosts), 0o644);
  return m;
}

/** Deletes a service's SSH directory (keys included). Idempotent: a missing directory is success. */
export async function removeSshMaterial(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
