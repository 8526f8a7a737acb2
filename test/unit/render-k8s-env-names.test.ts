/**
 * A variable may be named anything the spec allows, `__proto__` included: the Kubernetes output carries it
 * like any other (an object used as a map would drop it silently).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSpec } from '../../src/spec/index.js';
import { planFor } from '../../src/app/plan-for.js';
import { kubernetesTarget } from '../../src/targets/kubernetes/target.js';

const SPEC = `version: v1
services:
  p:
    image:
      uri: docker://busybox
    script: |
      echo hi
    env:
      - __proto__=x
      - A=1
    multinode:
      nodes: 2
`;

test('kubernetes: an env var named __proto__ reaches every pod template', async () => {
  const parsed = parseSpec(SPEC, 'p.yaml');
  assert.ok(parsed.ok);
  const { plan } = planFor(kubernetesTarget, parsed.value);
  const out = await kubernetesTarget.render?.(plan, parsed.value, { sshSecret: 'p-keys' });
  assert.ok(out?.ok, JSON.stringify(out?.issues));
  const containers = out.text.split('\n').filter((l) => /^\s+- name: (__proto__|A)$/.test(l));
  // Leader and worker templates each carry both variables.
  assert.equal(containers.filter((l) => l.endsWith('__proto__')).length, 2, out.text);
  assert.equal(containers.filter((l) => l.endsWith(' A')).length, 2);
});
