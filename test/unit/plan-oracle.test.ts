/**
 * The symbolic plan, resolved for the local target, gives every rank exactly the environment, command and
 * files the literal planner gave (recorded in test/fixtures/oracle/local-envs.json; see helpers/oracle.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { localLeaves, planSpec, resolveArgv, resolveFiles, resolveRankEnv } from '../../src/plan/index.js';
import type { ServicePlan } from '../../src/api/plan.js';
import { ORACLE_FILE, oracleCases, readOracle } from './helpers/oracle.js';
import type { Oracle, OracleService } from './helpers/oracle.js';

function localView(svc: ServicePlan): OracleService {
  const l = localLeaves(svc);
  return {
    ranks: svc.ranks.map((r) => ({
      env: resolveRankEnv(svc, r.rank, l),
      argv: resolveArgv(svc, r.rank, l),
      kind: r.command.kind,
    })),
    files: Object.fromEntries(resolveFiles(svc.files, l).map((f) => [f.path, f.content])),
  };
}

const cases = oracleCases();
const current: Oracle = {};
for (const c of cases) {
  const r = planSpec(c.spec, c.inventory, c.options);
  if (!r.ok) throw new Error(`${c.name}: ${JSON.stringify(r)}`);
  current[c.name] = Object.fromEntries(r.plan.services.map((s) => [s.name, localView(s)]));
}

if (process.env['UPDATE_ORACLE'] === '1') writeFileSync(ORACLE_FILE, `${JSON.stringify(current, null, 1)}\n`);

test('the oracle covers the golden cases, the examples and a host-mode case', () => {
  assert.ok(cases.length >= 20, `${cases.length} cases`);
});

const oracle = readOracle();
for (const c of cases) {
  test(`oracle ${c.name}: local resolution equals the literal planner's`, () => {
    assert.deepEqual(current[c.name], oracle[c.name]);
  });
}
