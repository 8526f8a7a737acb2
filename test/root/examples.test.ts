/**
 * The examples a user is told to run on the emulated cluster run here exactly as their header documents
 * (`./multinode up …`, `curl …`, `./multinode down …`), each in a private state directory with its own
 * cluster, and print what the header says. Examples that are only planned or rendered run in
 * test/unit/examples.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { exampleUsage, runsLocally } from '../unit/helpers/example-usage.js';
import { cleanupStateDir, cli, httpGet, makeStateDir, skipReason, sleep } from './runtime-helpers.js';

const dir = 'examples';
const needs: Readonly<Record<string, readonly string[]>> = {
  'mpi-allreduce.yaml': ['mpirun'],
  'torch-allreduce.yaml': [],
};

async function curl(url: string): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      const r = await httpGet(url);
      if (r.status === 200) return r.body;
    } catch (e) {
      if (i >= 20) throw e;
    }
    await sleep(250);
  }
}

for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
  const steps = exampleUsage(join(dir, file));
  if (!runsLocally(steps)) continue;
  test(
    `example ${file} runs as its header documents`,
    { skip: skipReason(needs[file] ?? []), timeout: 300_000 },
    async () => {
      const state = makeStateDir('ex');
      try {
        let port: string | undefined;
        for (const step of steps) {
          let out: string;
          if (step.kind === 'curl') {
            // The header names the spec's port; the endpoint's host port is the one `up` printed.
            const url =
              port === undefined ? (step.args[0] ?? '') : (step.args[0] ?? '').replace(/:\d+\//, `:${port}/`);
            out = await curl(url);
          } else {
            const r = cli(state, step.args, 240_000);
            assert.equal(r.code, 0, `multinode ${step.args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
            out = r.stdout + r.stderr;
            port = /127\.0\.0\.1:(\d+)/.exec(r.stdout)?.[1] ?? port;
          }
          for (const text of step.prints)
            assert.ok(out.includes(text), `${step.args.join(' ')} prints ${text}; got:\n${out}`);
        }
      } finally {
        cleanupStateDir(state);
      }
    },
  );
}
