/**
 * `multinode render --target kubernetes` end to end through the CLI: valid specs print a YAML stream that
 * passes `--check`; invalid combinations (tp mismatch, fabric NICs without inventory capacity, clashing host
 * ports) exit 2 with located errors and print nothing on stdout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

const root = join(import.meta.dirname, '..', '..');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function withSpec(text: string, fn: (file: string, dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'mn-k8s-cli-'));
  try {
    const file = join(dir, 'spec.yaml');
    writeFileSync(file, text);
    fn(file, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('render --check prints a multi-document stream kubectl can take, and reports the validation', () => {
  const r = cli(['render', 'examples/seed-000-vllm.yaml', '--target', 'kubernetes', '--check', '-n', 'ml']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /ok: \d+ objects valid against the Kubernetes and CRD schemas/);
  const docs = parseAllDocuments(r.stdout).map(
    (d) => d.toJS() as { kind: string; metadata: { namespace?: string } },
  );
  assert.deepEqual(
    docs.map((d) => d.kind),
    [
      'Secret',
      'ConfigMap',
      'PersistentVolumeClaim',
      'Service',
      'Service',
      'Service',
      'Ingress',
      'NetworkPolicy',
      'NetworkPolicy',
      'PodGroup',
      'LeaderWorkerSet',
    ],
  );
  assert.ok(docs.every((d) => d.metadata.namespace === 'ml'));
});

test('invalid combinations fail with located errors before anything is printed', () => {
  const cases: [string, string, RegExp][] = [
    [
      'tp mismatch',
      `services:
  llm:
    image: { uri: docker://x:1 }
    multinode: { nodes: 2 }
    backend: { kind: sglang, command: python3 -m sglang.launch_server --tp-size 4 }
    resource: { devices: { nvidia.com/gpu: 4 } }
`,
      /spec\.yaml:5:\d+: error\[plan-parallelism\].*2 nodes × 4 GPUs per node = 8 GPUs/,
    ],
    [
      'fabric NICs without inventory capacity',
      `services:
  t:
    image: { uri: docker://x:1 }
    script: echo hi
    multinode: { nodes: 2 }
    network: { fabric-nics: 8 }
`,
      /spec\.yaml:2:3: error\[render\.plan-infeasible\] services\.t: .*lacks fabric NIC fabric0[^]*hint: without --inventory/,
    ],
    [
      'host ports clashing',
      `services:
  t:
    image: { uri: docker://x:1 }
    script: echo hi
    multinode: { nodes: 2 }
    network: { host: true }
    ports:
      - { name: a, port: 8080, host-port: 30000 }
      - { name: b, port: 8081, host-port: 30000 }
`,
      /spec\.yaml:9:\d+: error\[duplicate-host-port\]/,
    ],
    [
      'no image (Kubernetes needs one)',
      `services:
  noimg:
    script: echo hi
    multinode: { nodes: 2, launch: all }
`,
      /spec\.yaml:2:3: error\[k8s-no-image\] services\.noimg\.image\.uri/,
    ],
  ];
  for (const [name, spec, want] of cases) {
    withSpec(spec, (file) => {
      const r = cli(['render', file, '--target', 'kubernetes']);
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      assert.equal(r.stdout, '', name);
      assert.match(r.stderr, want, name);
    });
  }
});

test('a batch job renders as a JobSet; what LWS cannot express is a located warning on stderr', () => {
  const spec = [
    'services:',
    '  train:',
    '    image: { uri: docker://x:1 }',
    '    script: ./train',
    '    multinode: { nodes: 2 }',
    '    restart:',
    '      policy: never',
    '',
  ].join('\n');
  withSpec(spec, (file) => {
    const r = cli(['render', file, '--target', 'kubernetes', '--check']);
    assert.equal(r.code, 0, r.stderr);
    const kinds = parseAllDocuments(r.stdout).map((d) => (d.toJS() as { kind: string }).kind);
    assert.equal(kinds.at(-1), 'JobSet');
    assert.doesNotMatch(r.stderr, /warning/);
    const lws = cli(['render', file, '--target', 'kubernetes', '--orchestrator', 'lws']);
    assert.equal(lws.code, 0, lws.stderr);
    assert.match(
      lws.stderr,
      new RegExp(
        `${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:7:\\d+: warning\\[k8s-restart-policy\\] services\\.train\\.restart\\.policy: restart policy \`never\` cannot be expressed by a LeaderWorkerSet`,
      ),
    );
    assert.equal(
      (parseAllDocuments(lws.stdout).at(-1)?.toJS() as { kind: string } | undefined)?.kind,
      'LeaderWorkerSet',
    );
  });
});

test('--ssh-key-dir keeps one keypair across renders', () => {
  withSpec('', (_file, dir) => {
    const keys = join(dir, 'keys');
    const args = ['render', 'examples/seed-000-vllm.yaml', '--target', 'kubernetes', '--ssh-key-dir', keys];
    const a = cli(args);
    const b = cli(args);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.match(a.stdout, /BEGIN OPENSSH PRIVATE KEY/);
  });
});

test('--ssh-secret: no key material printed, the pods mount that Secret, and --check passes', () => {
  const r = cli([
    'render',
    'examples/seed-000-mpi-inference.yaml',
    '--target',
    'kubernetes',
    '--ssh-secret',
    'team-ssh',
    '--check',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /PRIVATE KEY|ssh-ed25519|kind: Secret/);
  assert.match(r.stdout, /secretName: team-ssh\n/);
  assert.doesNotMatch(r.stdout, /multinode\.dev\/ssh-key-hash/);
});

test('--ssh-secret with --ssh-key-dir, or a bad Secret name, exits 2 and prints nothing', () => {
  withSpec('', (_file, dir) => {
    const base = ['render', 'examples/seed-000-mpi-inference.yaml', '--target', 'kubernetes'];
    const both = cli([...base, '--ssh-secret', 'team-ssh', '--ssh-key-dir', join(dir, 'keys')]);
    assert.equal(both.code, 2);
    assert.equal(both.stdout, '');
    assert.match(both.stderr, /--ssh-secret and --ssh-key-dir cannot be used together/);
    assert.equal(existsSync(join(dir, 'keys')), false, 'no key directory created');
    const bad = cli([...base, '--ssh-secret', 'Team_SSH']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /k8s-ssh-secret/);
  });
});

test('--ssh-key-dir: the key hash on the pod templates stays across renders; fresh keys change it', () => {
  withSpec('', (_file, dir) => {
    const base = ['render', 'examples/seed-000-mpi-inference.yaml', '--target', 'kubernetes'];
    const hash = (out: string): string[] =>
      [...out.matchAll(/multinode\.dev\/ssh-key-hash: ([0-9a-f]{64})/g)].map((m) => m[1] ?? '');
    const a = hash(cli([...base, '--ssh-key-dir', join(dir, 'keys')]).stdout);
    const b = hash(cli([...base, '--ssh-key-dir', join(dir, 'keys')]).stdout);
    const fresh = hash(cli(base).stdout);
    assert.ok(a.length >= 2, 'every pod template carries it');
    assert.deepEqual(b, a);
    assert.equal(fresh.length, a.length);
    assert.notEqual(fresh[0], a[0]);
  });
});

test('--inventory with fabric NICs: the same spec renders NetworkAttachmentDefinitions and rdma resources', () => {
  const spec = `services:
  t:
    image: { uri: docker://x:1 }
    script: echo hi
    multinode: { nodes: 2 }
    network: { fabric-nics: 2 }
`;
  const node = (i: number) => `  - name: gpu-${i}
    address: 10.0.0.${i + 1}
    cpus: 8
    memory: 64Gi
    fabric-nics: 2
`;
  withSpec(spec, (file, dir) => {
    const inv = join(dir, 'inventory.yaml');
    writeFileSync(inv, `nodes:\n${node(0)}${node(1)}`);
    const r = cli(['render', file, '--target', 'kubernetes', '--inventory', inv, '--check']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((r.stdout.match(/kind: NetworkAttachmentDefinition/g) ?? []).length, 2);
    assert.match(
      r.stdout,
      /k8s\.v1\.cni\.cncf\.io\/networks: roce-net-fabric0@fabric0, roce-net-fabric1@fabric1/,
    );
    assert.match(r.stdout, /rdma\/fabric1: "1"/);
  });
});

test('-o json prints the same objects as one List; --startup-policy overrides the default', () => {
  const r = cli([
    'render',
    'examples/seed-000-vllm.yaml',
    '--target',
    'kubernetes',
    '-o',
    'json',
    '--startup-policy',
    'LeaderReady',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const list = JSON.parse(r.stdout) as {
    kind: string;
    items: { kind: string; spec?: { startupPolicy?: string } }[];
  };
  assert.equal(list.kind, 'List');
  const lws = list.items.find((i) => i.kind === 'LeaderWorkerSet');
  assert.equal(lws?.spec?.startupPolicy, 'LeaderReady');
});

test('the bundled CLI (esbuild, lazily loaded chunks) renders and validates', async () => {
  const { build } = await import('esbuild');
  const dir = mkdtempSync(join(tmpdir(), 'mn-k8s-bundle-'));
  try {
    await build({
      entryPoints: { multinode: join(root, 'src/cli/main.ts') },
      outdir: dir,
      entryNames: '[name]',
      chunkNames: 'chunks/[name]-[hash]',
      outExtension: { '.js': '.mjs' },
      splitting: true,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      banner: {
        js: "import { createRequire as __mnCreateRequire } from 'node:module'; const require = __mnCreateRequire(import.meta.url);",
      },
      logLevel: 'silent',
    });
    const r = spawnSync(
      process.execPath,
      [
        join(dir, 'multinode.mjs'),
        'render',
        'examples/seed-000-vllm.yaml',
        '--target',
        'kubernetes',
        '--check',
      ],
      { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /ok: 11 objects valid/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
