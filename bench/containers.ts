/**
 * Containers bench (run as root: `node --import tsx bench/containers.ts [iterations]`): `up -d` of an
 * 8-rank service (8 nodes, overlay, `launch: all`, `sleep`) with an image (the busybox test image) vs the
 * same service on this machine's file system, and vs starting the same 8 containers by hand with podman
 * (`podman run -d`, all 8 at once) in the same rank namespaces. Figures: median / max of N, and the ratios.
 * `up -d` is timed in this process (upLocal, detached; excludes CLI start-up); `down` is timed too.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { upLocal } from '../src/app/up.js';
import { downService } from '../src/targets/local/teardown.js';
import { readServiceState } from '../src/targets/local/service-state.js';
import { podmanBase, podmanEnv } from '../src/targets/local/container.js';
import { BUSYBOX_IMAGE, removePodmanRun, testImage } from '../test/root/container-helpers.js';
import { ROOT_DIR, cleanupStateDir, cli, makeStateDir } from '../test/root/runtime-helpers.js';
import { median as med } from './stats.js';

const N = Number(process.argv[2] ?? 3);
const RANKS = 8;
const state = makeStateDir('ctrbench');
process.env['MULTINODE_STATE_DIR'] = state;
const self = [process.execPath, '--import', 'tsx', join(ROOT_DIR, 'src/cli/main.ts')];

function spec(name: string, image: boolean): string {
  return `version: v1
services:
  ${name}:
${image ? `    image:\n      uri: ${BUSYBOX_IMAGE}\n` : ''}    script: exec sleep 100000
    multinode:
      nodes: ${RANKS}
      launch: all
    resource:
      cpu:
        cores: 1
      memory:
        size: 16MB
`;
}

const fmt = (xs: number[]) =>
  `${med(xs).toFixed(0).padStart(6)} / ${Math.max(...xs)
    .toFixed(0)
    .padStart(6)} ms`;

function run(argv: readonly string[]): Promise<number> {
  return new Promise((done) => {
    const c = spawn(argv[0] as string, argv.slice(1), {
      stdio: 'ignore',
      env: { ...process.env, ...podmanEnv() },
    });
    c.on('exit', (code) => done(code ?? 1));
  });
}

async function upDown(name: string, image: boolean): Promise<{ up: number; down: number }> {
  const file = join(state, `${name}.yaml`);
  writeFileSync(file, spec(name, image));
  const t = performance.now();
  await upLocal(file, { detach: true, selfArgv: self, cluster: 'cb', waitTimeoutS: 600 });
  const up = performance.now() - t;
  const t2 = performance.now();
  await downService(name);
  return { up, down: performance.now() - t2 };
}

/** 8 containers by hand in the rank namespaces of a running service without an image. */
async function byHand(): Promise<number> {
  const file = join(state, 'hand.yaml');
  writeFileSync(file, spec('hand', false));
  await upLocal(file, { detach: true, selfArgv: self, cluster: 'cb', waitTimeoutS: 600 });
  const s = await readServiceState('hand');
  const netns = (s?.ranks ?? []).map((r) => r.netns);
  const t = performance.now();
  const codes = await Promise.all(
    netns.map((ns, i) =>
      run([
        ...podmanBase(),
        'run',
        '-d',
        '--rm',
        '--name',
        `mnbench-hand-${i}`,
        '--network',
        `ns:/run/netns/${ns}`,
        '--hostname',
        `hand-${i}`,
        '--ulimit',
        'nofile=1024:1024',
        '--ulimit',
        'nproc=4096:4096',
        '--cgroup-parent',
        '/multinode-bench-hand',
        BUSYBOX_IMAGE,
        'sleep',
        '100000',
      ]),
    ),
  );
  const ms = performance.now() - t;
  if (codes.some((c) => c !== 0)) throw new Error(`podman run failed: ${codes.join(',')}`);
  await run([...podmanBase(), 'rm', '--force', '--time', '0', ...netns.map((_, i) => `mnbench-hand-${i}`)]);
  await downService('hand');
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const dir = join('/sys/fs/cgroup', h, 'multinode-bench-hand');
    if (!existsSync(dir)) continue;
    for (const sub of readdirSync(dir, { withFileTypes: true }))
      if (sub.isDirectory()) rmdirSync(join(dir, sub.name));
    rmdirSync(dir);
  }
  return ms;
}

try {
  const img = await testImage(state, 'busybox');
  console.log(`busybox image built/imported in ${img.buildMs} ms`);
  if (cli(state, ['cluster', 'create', 'cb', '--nodes', String(RANKS)]).code !== 0)
    throw new Error('cluster create failed');
  const plain = { up: [] as number[], down: [] as number[] };
  const inImage = { up: [] as number[], down: [] as number[] };
  const hand: number[] = [];
  for (let i = 0; i < N; i++) {
    const a = await upDown(`plain${i}`, false);
    plain.up.push(a.up);
    plain.down.push(a.down);
    const b = await upDown(`image${i}`, true);
    inImage.up.push(b.up);
    inImage.down.push(b.down);
    hand.push(await byHand());
  }
  console.log(`8 ranks, N=${N} (median / max)`);
  console.log(`up -d, no image          ${fmt(plain.up)}`);
  console.log(`up -d, image             ${fmt(inImage.up)}`);
  console.log(`8 × podman run -d by hand ${fmt(hand)}`);
  console.log(`down, no image           ${fmt(plain.down)}`);
  console.log(`down, image              ${fmt(inImage.down)}`);
  console.log(`ratio up image / no image: ${(med(inImage.up) / med(plain.up)).toFixed(2)}`);
  console.log(`ratio up image / by hand:  ${(med(inImage.up) / med(hand)).toFixed(2)}`);
} finally {
  cli(state, ['cluster', 'delete', '--force', 'cb']);
  cleanupStateDir(state);
  removePodmanRun(state);
}
