/** parseSpec on good specs: both seed-000 examples, defaults, additions, units, positions, hints. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSpec, parseMemorySize, SPEC_DEFAULTS } from '../../src/spec/index.js';
import type { Spec } from '../../src/api/spec.js';

const root = join(import.meta.dirname, '..', '..');
const read = (rel: string): string => readFileSync(join(root, rel), 'utf8');

function mustParse(text: string, file = 'test.yaml'): { spec: Spec; warnings: readonly { code: string }[] } {
  const r = parseSpec(text, file);
  if (!r.ok)
    assert.fail(
      `expected valid, got:\n${r.issues.map((i) => `${i.code} ${i.path}: ${i.message}`).join('\n')}`,
    );
  return { spec: r.value, warnings: r.warnings };
}

function mustFail(text: string): readonly { code: string; path: string; hint?: string; severity: string }[] {
  const r = parseSpec(text, 'bad.yaml');
  assert.equal(r.ok, false, 'expected the spec to be rejected');
  return r.ok ? [] : r.issues;
}

test('seed 000 MPI inference example validates and normalizes', () => {
  const { spec, warnings } = mustParse(read('examples/seed-000-mpi-inference.yaml'), 'mpi.yaml');
  assert.equal(spec.version, 'v1');
  assert.equal(spec.file, 'mpi.yaml');
  assert.deepEqual(spec.volumes, {});
  assert.equal(spec.services.length, 1);
  const s = spec.services[0]!;
  assert.equal(s.name, 'distributed-inference');
  assert.equal(s.imageUri, 'docker://myregistry/mpi-inference:latest');
  assert.equal(s.script, '#!/bin/bash\npython -m inference_server --model /models/llm\n');
  assert.equal(s.nodes, 4);
  assert.equal(s.implementation, 'ompi', 'openmpi normalizes to ompi');
  assert.equal(s.launch, 'leader');
  assert.equal(s.hostNetwork, true);
  assert.deepEqual(s.resource, {
    cpuCores: 16,
    cpuAffinity: 'NUMA',
    memoryBytes: 64e9,
    memoryText: '64GB',
    devices: { 'nvidia.com/gpu': 2 },
    gpus: 2,
    gpuResource: 'nvidia.com/gpu',
    annotations: {},
    fabricNics: [],
  });
  assert.deepEqual(s.ports, [{ name: 'http', port: 8080, protocol: 'tcp' }]);
  assert.deepEqual(s.endpoints, [
    { name: 'inference', portName: 'http', protocol: 'https', type: 'subdomain', scope: 'group' },
  ]);
  assert.equal(s.readinessProbe, undefined);
  assert.equal(s.persist, false);
  assert.deepEqual(s.restart, {
    policy: 'recreate-group',
    maxRestarts: 5,
    maxStartupRestarts: 10,
    backoffSeconds: 1,
    backoffMaxSeconds: 30,
  });
  assert.deepEqual(s.placement, { strategy: 'spread', topologyMode: 'preferred', exclusive: false });
  assert.deepEqual(s.envCompat, []);
  assert.deepEqual(
    warnings.map((w) => w.code),
    ['host-network'],
  );
  assert.deepEqual(spec.positions['services.distributed-inference.ports[0].port'], {
    file: 'mpi.yaml',
    line: 23,
    col: 15,
  });
});

test('seed 000 vLLM example validates and normalizes', () => {
  const { spec, warnings } = mustParse(read('examples/seed-000-vllm.yaml'), 'vllm.yaml');
  assert.deepEqual(spec.volumes, { models: { reference: 'volume://user/persistent/vllm-cache' } });
  const s = spec.services[0]!;
  assert.equal(s.name, 'vllm');
  assert.equal(s.cwd, '/home/vllm');
  assert.deepEqual(s.env, [{ key: 'MULTINODE_WRAPPER_FORWARD_STREAMS', value: '1' }]);
  assert.match(
    s.imageUri ?? '',
    /^docker:\/\/public\.ecr\.aws\/deep-learning-containers\/vllm:0\.20\.0-gpu-py312-cu130-ubuntu22\.04-ec2-v1\.1-2026-04-29-18-08-36-soci$/,
  );
  assert.deepEqual(s.mounts, [{ volume: 'data', location: '/home/vllm' }]);
  assert.match(s.script, /^#!\/bin\/sh\nHOSTNAME=\$\(hostname\)\n/);
  assert.match(s.script, /--nnodes 2 --node-rank 1/);
  assert.match(s.script, /wait \$pid\n$/);
  assert.equal(s.resource.cpuCores, 16);
  assert.equal(s.resource.memoryBytes, 120e9);
  assert.equal(s.resource.gpus, 1);
  assert.equal(s.resource.gpuModel, 'NVIDIA L4');
  assert.equal(s.nodes, 2);
  assert.equal(s.implementation, 'generic');
  assert.equal(s.hostNetwork, true);
  assert.deepEqual(s.ports, [{ name: 'openai-api', port: 8080, protocol: 'tcp' }]);
  assert.deepEqual(s.endpoints, [
    { name: 'openai-vllm', portName: 'openai-api', protocol: 'http', type: 'subdomain', scope: 'public' },
  ]);
  assert.deepEqual(s.readinessProbe, {
    action: { kind: 'tcp', port: 8080 },
    periodSeconds: 30,
    failureThreshold: 60,
    successThreshold: 1,
    initialDelaySeconds: 60,
    timeoutSeconds: 1,
  });
  assert.equal(s.persist, true);
  assert.deepEqual(warnings.map((w) => w.code).sort(), ['host-network', 'unused-volume']);
  assert.ok(spec.positions['services.vllm.resource.devices["nvidia.com/gpu"]']);
  assert.ok(spec.positions['services.vllm.readiness-probe.tcp-socket.port']);
});

test('defaults for a minimal service', () => {
  const { spec, warnings } = mustParse('services:\n  app:\n    script: run\n');
  assert.deepEqual(warnings, []);
  const s = spec.services[0]!;
  assert.equal(s.resource.cpuCores, SPEC_DEFAULTS.cpuCores);
  assert.equal(s.resource.memoryBytes, 2 ** 30);
  assert.equal(s.resource.memoryText, '1Gi');
  assert.equal(s.resource.gpus, 0);
  assert.equal(s.nodes, 1);
  assert.equal(s.implementation, 'generic');
  assert.equal(s.launch, 'leader');
  assert.equal(s.hostNetwork, false);
  assert.equal(s.restart.policy, 'on-failure', 'one rank → on-failure');
  assert.equal(s.persist, false);
  assert.equal(s.imageUri, undefined);
  assert.equal('cwd' in s, false, 'absent optional fields are absent, not undefined');
});

test('our additions normalize', () => {
  const { spec } = mustParse(`
services:
  srv:
    backend:
      kind: sglang
      command: python -m sglang.launch_server --tp 8
    multinode:
      nodes: 2
      launch: all
    network:
      host: true
      fabric-nics: 2
    ports:
      - name: api
        port: 30000
        host-port: auto
      - name: metrics
        port: 9090
        host-port: 19090
    readiness-probe:
      http-get:
        port: 30000
        scheme: https
      timeout-seconds: 3
    restart:
      policy: exit-code
      max-restarts: 2
      backoff-seconds: 2
      backoff-max-seconds: 60
    placement:
      strategy: pack
      topology:
        key: block
        mode: required
      exclusive: true
    env-compat: [slurm, lws, slurm]
`);
  const s = spec.services[0]!;
  assert.deepEqual(s.backend, { kind: 'sglang', command: 'python -m sglang.launch_server --tp 8' });
  assert.equal(s.script, '');
  assert.equal(s.launch, 'all');
  assert.deepEqual(s.resource.fabricNics, ['fabric0', 'fabric1']);
  assert.deepEqual(s.ports, [
    { name: 'api', port: 30000, protocol: 'tcp', hostPort: 'auto' },
    { name: 'metrics', port: 9090, protocol: 'tcp', hostPort: 19090 },
  ]);
  assert.deepEqual(s.readinessProbe?.action, { kind: 'http', path: '/', port: 30000, scheme: 'https' });
  assert.equal(s.readinessProbe?.timeoutSeconds, 3);
  assert.equal(s.readinessProbe?.periodSeconds, 10);
  assert.deepEqual(s.restart, {
    policy: 'exit-code',
    maxRestarts: 2,
    maxStartupRestarts: 10,
    backoffSeconds: 2,
    backoffMaxSeconds: 60,
  });
  assert.deepEqual(s.placement, {
    strategy: 'pack',
    topologyKey: 'block',
    topologyMode: 'required',
    exclusive: true,
  });
  assert.deepEqual(s.envCompat, ['slurm', 'lws']);
});

test('fabric NICs from rdma/fabricN devices', () => {
  const { spec } = mustParse(`
services:
  t:
    script: run
    resource:
      devices:
        rdma/fabric10: 1
        rdma/fabric2: 1
        rdma/fabric3: 0
`);
  assert.deepEqual(spec.services[0]!.resource.fabricNics, ['fabric2', 'fabric10']);
});

test('memory unit table', () => {
  const cases: [string | number, number | undefined][] = [
    ['64GB', 64e9],
    ['120GB', 120e9],
    ['512Mi', 512 * 2 ** 20],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['2Ti', 2 * 2 ** 40],
    ['1k', 1000],
    ['1K', 1000],
    ['10M', 10e6],
    ['3MiB', 3 * 2 ** 20],
    ['100', 100],
    ['100B', 100],
    [1073741824, 1073741824],
    ['4 Gi', 4 * 2 ** 30],
    ['', undefined],
    ['1.5', 1],
    ['12XB', undefined],
    ['1ki', undefined],
    ['-1G', undefined],
    ['1e9', undefined],
    ['99999999999Pi', undefined],
  ];
  for (const [input, want] of cases)
    assert.equal(parseMemorySize(input), want, `parseMemorySize(${JSON.stringify(input)})`);
});

test('unknown keys carry a did-you-mean hint', () => {
  const issues = mustFail('services:\n  app:\n    script: run\n    multinode:\n      node: 2\n');
  const i = issues.find((x) => x.code === 'unknown-key');
  assert.equal(i?.path, 'services.app.multinode.node');
  assert.equal(i?.hint, 'did you mean "nodes"?');
  const far = mustFail('services:\n  app:\n    script: run\n    zzzzzzzz: 1\n').find(
    (x) => x.code === 'unknown-key',
  );
  assert.equal(far?.hint, undefined, 'no hint when nothing is close');
});

test('every problem is collected: schema and semantic errors in one run, across services', () => {
  const issues = mustFail(`
services:
  Bad_Name:
    script: run
    ports:
      - name: http
        port: 80
    endpoints:
      - name: web
        port-name: nope
  other:
    script: run
    multinode:
      nodes: -1
    mounts:
      ghost:
        location: /g
`);
  const codes = issues.map((i) => i.code).sort();
  assert.deepEqual(codes, ['dns-label', 'mount-volume', 'range', 'unknown-port-name']);
});

test('warnings do not fail: network.host', () => {
  const { warnings } = mustParse('services:\n  app:\n    script: run\n    network:\n      host: true\n');
  assert.deepEqual(
    warnings.map((w) => w.code),
    ['host-network'],
  );
});

test('service order follows the file, numeric names included', () => {
  const { spec } = mustParse(
    'services:\n  zeta:\n    script: a\n  "42":\n    script: b\n  alpha:\n    script: c\n',
  );
  assert.deepEqual(
    spec.services.map((s) => s.name),
    ['zeta', '42', 'alpha'],
  );
});

test('YAML errors are located issues, not exceptions', () => {
  const issues = mustFail('services:\n  app:\n    script: "unterminated\n');
  assert.equal(issues[0]?.code, 'yaml-syntax');
  const proto = parseSpec('services:\n  __proto__:\n    script: x\n', 'p.yaml');
  assert.equal(proto.ok, false);
});
