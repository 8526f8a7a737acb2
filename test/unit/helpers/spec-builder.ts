/**
 * Test builders: normalized `Spec`/`ServiceSpec` objects with the spec layer's defaults, so planner tests do
 * not depend on the YAML parser. Override only what a case is about:
 *   buildSpec([service('vllm', { nodes: 2, resource: { gpus: 1, gpuModel: 'NVIDIA L4' } })])
 */
import type { ResourceSpec, ServiceSpec, Spec } from '../../../src/api/spec.js';
import type { SourcePos } from '../../../src/api/issues.js';

export type ServiceOverrides = Partial<Omit<ServiceSpec, 'resource' | 'placement' | 'restart'>> & {
  readonly resource?: Partial<ResourceSpec>;
  readonly placement?: Partial<ServiceSpec['placement']>;
  readonly restart?: Partial<ServiceSpec['restart']>;
};

export function resource(over: Partial<ResourceSpec> = {}): ResourceSpec {
  const gpus = over.gpus ?? 0;
  return {
    cpuCores: 1,
    cpuAffinity: 'none',
    memoryBytes: 2 ** 30,
    memoryText: '1Gi',
    devices: gpus > 0 ? { [over.gpuResource ?? 'nvidia.com/gpu']: gpus } : {},
    gpus,
    gpuResource: 'nvidia.com/gpu',
    annotations: over.gpuModel === undefined ? {} : { 'nvidia.com/gpu.model': over.gpuModel },
    fabricNics: [],
    ...over,
  };
}

export function service(name: string, over: ServiceOverrides = {}): ServiceSpec {
  const nodes = over.nodes ?? 2;
  const { resource: res, placement, restart, ...rest } = over;
  return {
    name,
    script: '#!/bin/sh\necho hello\n',
    env: [],
    mounts: [],
    nodes,
    implementation: 'generic',
    launch: 'leader',
    hostNetwork: false,
    ports: [],
    endpoints: [],
    persist: false,
    envCompat: [],
    ...rest,
    resource: resource(res),
    restart: {
      policy: nodes > 1 ? 'recreate-group' : 'on-failure',
      maxRestarts: 5,
      maxStartupRestarts: 10,
      backoffSeconds: 1,
      backoffMaxSeconds: 30,
      ...restart,
    },
    placement: { strategy: 'spread', topologyMode: 'preferred', exclusive: false, ...placement },
  };
}

export function buildSpec(
  services: readonly ServiceSpec[],
  positions: Readonly<Record<string, SourcePos>> = {},
  file = 'test.yaml',
): Spec {
  return { version: 'v1', file, volumes: {}, services, positions };
}

/** The two-node vLLM service of seed 000, normalized by hand. */
export function seed000Vllm(): ServiceSpec {
  return service('vllm', {
    cwd: '/home/vllm',
    env: [{ key: 'MULTINODE_WRAPPER_FORWARD_STREAMS', value: '1' }],
    imageUri: 'docker://public.ecr.aws/deep-learning-containers/vllm:0.20.0',
    mounts: [{ volume: 'data', location: '/home/vllm' }],
    script: [
      '#!/bin/sh',
      'HOSTNAME=$(hostname)',
      'vllm serve "openai/gpt-oss-20b" \\',
      '--tensor-parallel-size 2 \\',
      '--nnodes 2 --node-rank 0 \\',
      '--master-addr ${MULTINODE_NODE_IP} \\',
      '--port 8080 &',
      'pid=$!',
      '',
    ].join('\n'),
    resource: {
      cpuCores: 16,
      cpuAffinity: 'NUMA',
      memoryBytes: 120e9,
      memoryText: '120GB',
      gpus: 1,
      gpuModel: 'NVIDIA L4',
    },
    nodes: 2,
    implementation: 'generic',
    hostNetwork: true,
    ports: [{ name: 'openai-api', port: 8080, protocol: 'tcp' }],
    endpoints: [
      { name: 'openai-vllm', portName: 'openai-api', protocol: 'http', type: 'subdomain', scope: 'public' },
    ],
    readinessProbe: {
      action: { kind: 'tcp', port: 8080 },
      periodSeconds: 30,
      failureThreshold: 60,
      successThreshold: 1,
      initialDelaySeconds: 60,
      timeoutSeconds: 1,
    },
    persist: true,
  });
}
