/**
 * SSH key material for targets that ship keys inside manifests (Kubernetes): an ed25519 user keypair and a
 * host key in OpenSSH format, generated with node:crypto (no `ssh-keygen` needed on the machine that renders),
 * or reused from a directory laid out like the local runtime's SSH directory (`SSH_FILES` names). The local
 * runtime generates its own with `ensureSshMaterial` (targets/local/ssh/keys.ts); this module is the one the
 * `render` command calls.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SshKeyMaterial } from '../targets/kubernetes/index.js';
import { SSH_FILES } from '../targets/local/ssh/keys.js';

export interface OpenSshKeyPair {
  readonly privateKey: string;
  readonly publicKey: string;
}

function sshString(buf: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(buf.length);
  return Buffer.concat([len, buf]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** A fresh ed25519 keypair as OpenSSH private key text and public key line. */
export function generateOpenSshEd25519(comment: string): OpenSshKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url');
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d ?? '', 'base64url');
  const type = Buffer.from('ssh-ed25519');
  const blob = Buffer.concat([sshString(type), sshString(pub)]);
  const check = randomBytes(4).readUInt32BE();
  let priv = Buffer.concat([
    u32(check),
    u32(check),
    sshString(type),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
    sshString(Buffer.from(comment)),
  ]);
  const pad: number[] = [];
  for (let i = 1; (priv.length + pad.length) % 8 !== 0; i++) pad.push(i);
  priv = Buffer.concat([priv, Buffer.from(pad)]);
  const none = Buffer.from('none');
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    sshString(none),
    sshString(none),
    sshString(Buffer.alloc(0)),
    u32(1),
    sshString(blob),
    sshString(priv),
  ]);
  const b64 = body.toString('base64').replace(/(.{70})/g, '$1\n');
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${b64.replace(/\n$/, '')}\n-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `ssh-ed25519 ${blob.toString('base64')} ${comment}\n`,
  };
}

/** Reads `<dir>/<name>` and `<name>.pub`, or generates them there (dir 0700, private key 0600). */
async function readOrCreate(
  dir: string,
  name: string,
  pubName: string,
  comment: string,
): Promise<OpenSshKeyPair> {
  try {
    return {
      privateKey: await readFile(join(dir, name), 'utf8'),
      publicKey: await readFile(join(dir, pubName), 'utf8'),
    };
  } catch {
    const k = generateOpenSshEd25519(comment);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(join(dir, name), k.privateKey, { mode: 0o600 });
    await writeFile(join(dir, pubName), k.publicKey, { mode: 0o644 });
    return k;
  }
}

/**
 * Key material for `name` (comments `multinode:<name>:user|host`): reused from (or created in) `dir` when
 * given, else fresh on every call.
 */
export async function sshKeysFor(name: string, dir: string | undefined): Promise<SshKeyMaterial> {
  const user =
    dir !== undefined
      ? await readOrCreate(dir, SSH_FILES.userKey, SSH_FILES.userPub, `multinode:${name}:user`)
      : generateOpenSshEd25519(`multinode:${name}:user`);
  const host =
    dir !== undefined
      ? await readOrCreate(dir, SSH_FILES.hostKey, SSH_FILES.hostPub, `multinode:${name}:host`)
      : generateOpenSshEd25519(`multinode:${name}:host`);
  return {
    privateKey: user.privateKey,
    publicKey: user.publicKey,
    hostPrivateKey: host.privateKey,
    hostPublicKey: host.publicKey,
  };
}
