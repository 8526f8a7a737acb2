/**
 * torch.distributed (gloo) all-reduce across 2 emulated nodes with `launch: all`, using only the planned
 * MASTER_ADDR/MASTER_PORT (RANK/WORLD_SIZE derived from MULTINODE_*), in overlay and in host mode. Runs `up`
 * in the foreground: the service completes, `up` returns rank 0's exit code and tears everything down.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EMPTY_SNAPSHOT,
  cleanupStateDir,
  cli,
  hashesFor,
  makeStateDir,
  skipReason,
  snapshot,
} from './runtime-helpers.js';

function torchSkip(): string | false {
  const base = skipReason();
  if (base) return base;
  const r = spawnSync('/usr/bin/python3', [
    '-c',
    'import torch.distributed as d; assert d.is_gloo_available()',
  ]);
  return r.status === 0 ? false : 'needs Debian python3-torch with gloo (/usr/bin/python3)';
}
const skip = torchSkip();

const SCRIPT = `#!/usr/bin/python3
import os, socket, torch, torch.distributed as dist
rank = int(os.environ["MULTINODE_NODE_RANK"]); world = int(os.environ["MULTINODE_NUM_NODES"])
assert "RANK" not in os.environ and "WORLD_SIZE" not in os.environ
dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=world)
x = torch.ones(4) * (rank + 1)
dist.all_reduce(x)
print(f"host={socket.gethostname()} master={os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} allreduce={x.tolist()}", flush=True)
dist.destroy_process_group()
`;

function spec(name: string, host: boolean): string {
  const lines = [
    'version: v1',
    'services:',
    `  ${name}:`,
    '    script: |',
    ...SCRIPT.trimEnd()
      .split('\n')
      .map((l) => `      ${l}`),
    '    multinode:',
    '      nodes: 2',
    '      launch: all',
    '    resource:',
    '      memory:',
    '        size: 1GB',
  ];
  if (host) lines.push('    network:', '      host: true');
  return `${lines.join('\n')}\n`;
}

for (const mode of ['overlay', 'host'] as const) {
  test(`torch gloo all-reduce across 2 nodes (${mode})`, { skip, timeout: 180_000 }, () => {
    const state = makeStateDir(`torch-${mode}`);
    try {
      const file = join(state, `torch-${mode}.yaml`);
      writeFileSync(file, spec(`torch-${mode}`, mode === 'host'));
      const c = cli(state, ['cluster', 'create', 'tc', '--nodes', '2']);
      assert.equal(c.code, 0, c.stderr);
      const up = cli(state, ['up', file], 150_000);
      assert.equal(up.code, 0, `up failed:\n${up.stdout}\n${up.stderr}`);
      for (const r of [0, 1]) {
        const re = new RegExp(
          `torch-${mode}-${r} +\\| host=torch-${mode}-${r} master=torch-${mode}-0:\\d+ allreduce=\\[3\\.0, 3\\.0, 3\\.0, 3\\.0\\]`,
        );
        assert.match(up.stdout, re);
      }
      assert.equal(cli(state, ['cluster', 'delete', 'tc']).code, 0);
      assert.deepEqual(snapshot(state, hashesFor(state, ['tc'], [['tc', `torch-${mode}`]])), EMPTY_SNAPSHOT);
    } finally {
      cleanupStateDir(state);
    }
  });
}
