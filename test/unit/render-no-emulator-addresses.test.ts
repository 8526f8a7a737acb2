/**
 * Nothing rendered for Slurm or Kubernetes names an address of the emulator's range (198.18.0.0/15): those
 * addresses exist only on this machine's emulated cluster. Every example and golden spec is rendered for
 * both targets. Cases that still leak are marked `todo` with the reason (the symbolic plan removes them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseSpec } from '../../src/spec/index.js';
import { planSpec } from '../../src/plan/index.js';
import { slurmInventory, slurmPlanOptions } from '../../src/targets/slurm/target.js';
import { renderSlurm } from '../../src/targets/slurm/index.js';
import { goldenCaseNames, loadCase, renderCase } from './helpers/k8s-plan-fixtures.js';

const ROOT = join(import.meta.dirname, '..', '..');
/** 198.18.0.0/15 = 198.18.x.y and 198.19.x.y, as an address or a subnet. */
const EMULATOR = /(?<![0-9.])198\.1[89]\.\d{1,3}\.\d{1,3}(?:\/\d+)?/g;

const SYMBOLIC = 'symbolic plan (branch symbolic) removes emulator subnets';
/** Every Slurm script writes the plan's cluster file, whose `network.subnet` is the emulator's. */
const CLUSTER_FILE_TODO = `${SYMBOLIC} (cluster.json keeps network.subnet)`;
/** Known leaks outside the cluster file today, by `<target>:<case>`. */
const KNOWN: Readonly<Record<string, string>> = {
  'slurm:golden/backend-trtllm-tp8': `${SYMBOLIC} (TRT-LLM mpirun --mca btl_tcp_if_include <subnet>)`,
};

interface Case {
  readonly name: string;
  readonly text: string;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const f of readdirSync(join(ROOT, 'examples'))
    .filter((f) => f.endsWith('.yaml'))
    .sort())
    out.push({ name: `examples/${f}`, text: readFileSync(join(ROOT, 'examples', f), 'utf8') });
  for (const g of goldenCaseNames())
    out.push({
      name: `golden/${g}`,
      text: readFileSync(join(ROOT, 'test', 'golden', g, 'spec.yaml'), 'utf8'),
    });
  return out;
}

/** The Slurm script of a case, or why the case cannot be planned for Slurm (a listed skip, not a pass). */
function slurmScript(c: Case): { script: string } | { skip: string } {
  const parsed = parseSpec(c.text, c.name);
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.issues));
  const r = planSpec(parsed.value, slurmInventory(parsed.value), { ...slurmPlanOptions(0), runAsRoot: true });
  if (!r.ok)
    return {
      skip: `not plannable for Slurm: ${[...r.reasons.map((x) => x.summary), ...r.issues.map((i) => i.message)].join('; ')}`,
    };
  return { script: renderSlurm(r.plan) };
}

function leaks(text: string): string[] {
  return [...new Set(text.match(EMULATOR) ?? [])];
}

for (const c of cases()) {
  const key = `slurm:${c.name}`;
  test(`slurm render of ${c.name} names no 198.18.0.0/15 address`, { todo: KNOWN[key] ?? false }, (t) => {
    const s = slurmScript(c);
    if ('skip' in s) return t.skip(s.skip);
    const script = s.script
      .split('\n')
      .filter((l) => !isClusterFileLine(l))
      .join('\n');
    assert.deepEqual(leaks(script), [], lineOf(script));
  });
  test(
    `slurm render of ${c.name}: its cluster file names no 198.18.0.0/15 subnet`,
    { todo: CLUSTER_FILE_TODO },
    () => {
      const parsed = parseSpec(c.text, c.name);
      assert.ok(parsed.ok);
      const r = planSpec(parsed.value, slurmInventory(parsed.value), {
        ...slurmPlanOptions(0),
        runAsRoot: true,
      });
      assert.ok(r.ok);
      const lines = renderSlurm(r.plan).split('\n').filter(isClusterFileLine);
      assert.ok(lines.length > 0);
      assert.deepEqual(leaks(lines.join('\n')), []);
    },
  );
}

/** The line of the Slurm script that writes the plan's cluster file. */
function isClusterFileLine(line: string): boolean {
  return /^mn_put \S*cluster\.json"? /.test(line);
}

for (const g of goldenCaseNames()) {
  const key = `kubernetes:golden/${g}`;
  test(
    `kubernetes render of golden/${g} names no 198.18.0.0/15 address`,
    { todo: KNOWN[key] ?? false },
    () => {
      const yaml = renderCase(loadCase(g)).yaml;
      assert.deepEqual(leaks(yaml), [], lineOf(yaml));
    },
  );
}

test('the check itself finds an emulator address or subnet, and ignores look-alikes', () => {
  assert.deepEqual(leaks('--mca btl_tcp_if_include 198.18.128.0/24 x'), ['198.18.128.0/24']);
  assert.deepEqual(leaks('MASTER_ADDR=198.19.0.7'), ['198.19.0.7']);
  assert.deepEqual(leaks('10.198.18.1 198.20.0.1 1198.18.0.1'), []);
});

function lineOf(text: string): string {
  return text
    .split('\n')
    .filter((l) => EMULATOR.test(l))
    .slice(0, 5)
    .join('\n');
}
