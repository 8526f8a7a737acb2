/**
 * The symbolic-plan oracle: for every golden case and example spec, each rank's environment, command and
 * the service files as the literal planner gave them for the local target (recorded once in
 * `test/fixtures/oracle/local-envs.json` before the plan became symbolic). `plan-oracle.test.ts` checks that
 * resolving today's symbolic plan for the local target gives exactly these values.
 * Re-record only with `UPDATE_ORACLE=1 node scripts/run-tests.mjs unit plan-oracle` (and read the diff).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Inventory } from '../../../src/api/inventory.js';
import type { PlanOptions } from '../../../src/api/plan.js';
import type { Spec } from '../../../src/api/spec.js';
import { parseSpec } from '../../../src/spec/index.js';
import { defaultPlanOptions, generateInventory } from '../../../src/plan/index.js';
import { kubernetesInventory as inventoryForSpec } from '../../../src/targets/kubernetes/target.js';
import { GOLDEN_DIR, goldenCaseNames, loadCase } from './k8s-plan-fixtures.js';

export const ORACLE_FILE = join(import.meta.dirname, '..', '..', 'fixtures', 'oracle', 'local-envs.json');

export interface OracleRank {
  readonly env: Record<string, string>;
  readonly argv: string[];
  readonly kind: string;
}
export interface OracleService {
  readonly ranks: OracleRank[];
  readonly files: Record<string, string>;
}
export type Oracle = Record<string, Record<string, OracleService>>;

export interface OracleCase {
  readonly name: string;
  readonly spec: Spec;
  readonly inventory: Inventory;
  readonly options: PlanOptions;
}

const EXAMPLES = join(import.meta.dirname, '..', '..', '..', 'examples');

/** Golden cases (local target, default local paths) and every example, as root and as non-root. */
export function oracleCases(): OracleCase[] {
  const out: OracleCase[] = [];
  for (const name of goldenCaseNames()) {
    const c = loadCase(name);
    for (const runAsRoot of [true, false])
      out.push({
        name: `golden/${name}${runAsRoot ? '' : ' (non-root)'}`,
        spec: c.spec,
        inventory: c.inventory,
        options: defaultPlanOptions({ target: 'local', seed: c.config.seed ?? 0, runAsRoot }),
      });
  }
  for (const f of readdirSync(EXAMPLES)
    .filter((x) => x.endsWith('.yaml'))
    .sort()) {
    const parsed = parseSpec(readFileSync(join(EXAMPLES, f), 'utf8'), `examples/${f}`);
    if (!parsed.ok) throw new Error(`examples/${f} invalid`);
    out.push({
      name: `examples/${f}`,
      spec: parsed.value,
      inventory: inventoryForSpec(parsed.value),
      options: defaultPlanOptions({ target: 'local', seed: 7, runAsRoot: true }),
    });
  }
  // A host-mode service with auto ports on a crowded small inventory, env-compat everywhere.
  const hostYaml = `
version: v1
services:
  train:
    image: { uri: docker://x/y:1 }
    resource:
      cpu: { cores: 2 }
      memory: { size: 4GB }
      devices: { nvidia.com/gpu: 2 }
      annotations: { nvidia.com/gpu.model: NVIDIA L4 }
    multinode: { nodes: 3, implementation: ompi, launch: all }
    env-compat: [slurm, skypilot, lws, volcano, backendai]
    network: { host: true }
    ports:
      - { name: http, port: 8000, host-port: auto }
      - { name: metrics, port: 9000 }
    env: [FOO=bar]
    script: |
      echo hi
`;
  const parsed = parseSpec(hostYaml, 'oracle/host.yaml');
  if (parsed.ok) {
    out.push({
      name: 'inline/host-auto-compat',
      spec: parsed.value,
      inventory: generateInventory({ nodes: 4, gpusPerNode: 4, gpuModel: 'NVIDIA L4' }),
      options: defaultPlanOptions({ target: 'local', seed: 3, runAsRoot: false }),
    });
  } else throw new Error(`inline host spec invalid: ${JSON.stringify(parsed.issues)}`);
  for (const impl of ['mpich', 'gasnet']) {
    const y = `
version: v1
services:
  ${impl}:
    resource: { cpu: { cores: 3 }, memory: { size: 1GB } }
    multinode: { nodes: 2, implementation: ${impl} }
    script: |
      echo hi
`;
    const p = parseSpec(y, `oracle/${impl}.yaml`);
    if (!p.ok) throw new Error(`inline ${impl} spec invalid`);
    out.push({
      name: `inline/${impl}`,
      spec: p.value,
      inventory: inventoryForSpec(p.value),
      options: defaultPlanOptions({ target: 'local', seed: 1, runAsRoot: true }),
    });
  }
  return out;
}

export function readOracle(): Oracle {
  return JSON.parse(readFileSync(ORACLE_FILE, 'utf8')) as Oracle;
}

export { GOLDEN_DIR };
