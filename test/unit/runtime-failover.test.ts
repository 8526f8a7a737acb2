/**
 * Failover re-planning (pure): released ports cool down and the restarted rank gets new ones, running ranks
 * keep theirs, cluster.json's version is bumped, and nothing moves in overlay mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpec } from '../../src/spec/index.js';
import {
  defaultPlanOptions,
  generateInventory,
  localLeaves,
  planSpec,
  resolveFiles,
  resolveRankEnv,
} from '../../src/plan/index.js';
import type { ServicePlan } from '../../src/api/plan.js';
import type { Spec } from '../../src/api/spec.js';
import {
  hasMovablePorts,
  releasedPorts,
  replanService,
  versionedFiles,
} from '../../src/plan/failover/replan.js';
import { coolingByNode, releasePorts } from '../../src/plan/failover/port-pool.js';

const YAML = (host: boolean) => `version: v1
services:
  hp:
    script: |
      #!/bin/sh
      true
    multinode:
      nodes: 2
      launch: all
${host ? '    network:\n      host: true\n' : ''}    ports:
      - name: http
        port: 8080
${host ? '        host-port: auto\n' : ''}`;

function setup(host: boolean): { spec: Spec; plan: ServicePlan } {
  const r = parseSpec(YAML(host), 'x.yaml');
  assert.ok(r.ok);
  const inv = generateInventory({ nodes: 2 });
  const p = planSpec(r.value, inv, defaultPlanOptions({ target: 'local' }));
  assert.ok(p.ok);
  const plan = p.plan.services[0];
  assert.ok(plan);
  return { spec: r.value, plan };
}

const http = (p: ServicePlan, r: number) => p.ranks[r]?.ports.find((x) => x.name === 'http')?.hostPort;

test('re-plan moves only the restarted rank, away from its cooling ports', () => {
  const { spec, plan } = setup(true);
  assert.ok(hasMovablePorts(plan));
  const rank1 = plan.ranks[1];
  assert.ok(rank1);
  const released = releasedPorts(plan, rank1);
  assert.ok(released.includes(http(plan, 1) ?? -1));
  const cooling = coolingByNode(releasePorts([], rank1.node, released, 0), 1);
  const r = replanService(
    spec,
    plan,
    generateInventory({ nodes: 2 }),
    defaultPlanOptions({ target: 'local' }),
    cooling,
    [0],
  );
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.equal(http(r.plan, 0), http(plan, 0));
  assert.notEqual(http(r.plan, 1), http(plan, 1));
  assert.ok(r.moved.some((m) => m.startsWith('1/http ')));
  // Every rank's view (env of rank 0 too) names rank 1's new port in TF_CONFIG / cluster.json.
  const l = localLeaves(r.plan);
  const cf = resolveFiles(r.plan.files, l).find((f) => f.path.endsWith('/cluster.json'));
  const port = String(http(r.plan, 1));
  assert.equal(
    (JSON.parse(cf?.content ?? '{}') as { ranks: { ports: { http: number } }[] }).ranks[1]?.ports.http,
    Number(port),
  );
  const tf = resolveRankEnv(r.plan, 0, l)['TF_CONFIG'] ?? '';
  const tfPort = r.plan.ranks[1]?.tfPort;
  assert.ok(tfPort !== undefined && tf.includes(`hp-1:${tfPort}`), tf);
});

test('cluster.json version is bumped; overlay services have nothing to move', () => {
  const { plan } = setup(false);
  assert.equal(hasMovablePorts(plan), false);
  assert.deepEqual(releasedPorts(plan, plan.ranks[0] ?? plan.ranks[1]!), []);
  const files = versionedFiles(plan.files, 7);
  const cf = resolveFiles(files, localLeaves(plan)).find((f) => f.path.endsWith('/cluster.json'));
  assert.equal((JSON.parse(cf?.content ?? '{}') as { version: number }).version, 7);
  assert.deepEqual(
    files.filter((f) => !f.path.endsWith('/cluster.json')),
    plan.files.filter((f) => !f.path.endsWith('/cluster.json')),
  );
});
