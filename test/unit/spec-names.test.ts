/** Name, path and Slurm value checks (src/spec/names.ts) and control characters in every free-text field. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkName, checkSlurmValue, isInside, parseSpec } from '../../src/spec/index.js';
import type { NameKind } from '../../src/spec/index.js';

const HOSTILE = [
  '',
  '.',
  '..',
  '../x',
  'a/b',
  '/etc',
  'a\0b',
  'x'.repeat(64),
  'Upper',
  '-lead',
  'a b',
  'a\nb',
  'a\u001b[31m',
  'a.b',
];

for (const kind of ['service', 'cluster'] as NameKind[]) {
  test(`${kind} names: DNS-1123 labels only`, () => {
    for (const ok of ['a', 'vllm', 'a-1', 'x'.repeat(63), '0abc'])
      assert.deepEqual(checkName(kind, ok), { ok: true }, ok);
    for (const bad of [...HOSTILE, 'trail-']) {
      const r = checkName(kind, bad);
      assert.equal(r.ok, false, JSON.stringify(bad));
      if (r.ok) continue;
      assert.match(r.message, /allowed: 1–63 characters of a-z, 0-9 and '-'/);
      assert.ok(
        !['\0', '\n', '\u001b'].some((c) => r.message.includes(c)),
        'the message never carries the raw control character',
      );
    }
    const m = (v: string): string => {
      const r = checkName(kind, v);
      return r.ok ? '' : r.message;
    };
    assert.match(m('..'), /would name a directory/);
    assert.match(m('a/b'), /holds '\/'/);
    assert.match(m('a\0b'), /U\+0000 \(NUL\)/);
    assert.match(m('x'.repeat(64)), /has 64 characters/);
    assert.match(m('Upper'), /upper-case/);
    assert.match(m('-lead'), /starts with '-'/);
  });
}

test('node names, job ids and record ids: allow-lists without . / or controls', () => {
  for (const ok of ['node-0', 'gpu_01', 'N1']) assert.ok(checkName('node', ok).ok, ok);
  for (const ok of ['12345']) assert.ok(checkName('job', ok).ok);
  for (const ok of ['12345-ab12cd', 'x_y']) assert.ok(checkName('record', ok).ok);
  for (const kind of ['node', 'job', 'record'] as NameKind[]) {
    for (const bad of ['', '.', '..', '../x', 'a/b', 'a\0b', '-x', 'a b', 'a.b']) {
      assert.equal(checkName(kind, bad).ok, false, `${kind} ${JSON.stringify(bad)}`);
    }
  }
  assert.equal(checkName('job', '12a').ok, false);
  assert.equal(checkName('node', 'x'.repeat(64)).ok, false);
});

test('isInside: strictly below the root, after resolving . and .. as strings', () => {
  assert.equal(isInside('/var/lib/multinode', '/var/lib/multinode/services/a'), true);
  assert.equal(isInside('/var/lib/multinode/', '/var/lib/multinode//services/./a'), true);
  assert.equal(isInside('/var/lib/multinode', '/var/lib/multinode'), false, 'the root itself');
  assert.equal(isInside('/var/lib/multinode', '/var/lib/multinode/services/..'), false, 'is the root');
  assert.equal(isInside('/var/lib/multinode', '/var/lib/multinode/a/../b'), true);
  assert.equal(isInside('/var/lib/multinode', '/var/lib/multinode/services/../..'), false);
  assert.equal(isInside('/var/lib/multinode', '/var/lib/multinode-other/x'), false, 'a sibling prefix');
  assert.equal(isInside('/var/lib/multinode', '/var/lib'), false);
  assert.equal(isInside('/var/lib/multinode', 'services/a'), false, 'relative');
  assert.equal(isInside('/var/lib/multinode', '/var/lib/multinode/a\0b'), false);
  assert.equal(isInside('/', '/x'), true);
  assert.equal(isInside('/', '/'), false);
});

test('Slurm values: nothing that can end an #SBATCH line or start an option', () => {
  for (const ok of ['gpu', 'gpu,debug', 'a_b-c.d']) assert.ok(checkSlurmValue('partition', ok).ok, ok);
  assert.ok(checkSlurmValue('account', 'proj-1').ok);
  for (const ok of ['30', '1:00:00', '2-0', '2-12:30', 'UNLIMITED'])
    assert.ok(checkSlurmValue('time', ok).ok, ok);
  for (const bad of [
    '',
    'gpu\n#SBATCH --uid=0',
    'a b',
    '-x',
    'a;b',
    'a$(id)',
    'a\u001b',
    'a,',
    'x'.repeat(257),
  ]) {
    const r = checkSlurmValue('partition', bad);
    assert.equal(r.ok, false, JSON.stringify(bad));
    if (!r.ok) assert.match(r.message, /^--partition .*; allowed: /);
  }
  assert.equal(checkSlurmValue('account', 'a,b').ok, false);
  assert.equal(checkSlurmValue('time', '1:00 ; rm').ok, false);
  const nl = checkSlurmValue('account', 'a\nb');
  assert.ok(!nl.ok && /line break/.test(nl.message));
});

/** A valid spec with one field replaced; `field` is the YAML line written under the service. */
function specWith(lines: string): string {
  return `volumes:\n  cache:\n    reference: volume://u/p/cache\nservices:\n  app:\n    script: run\n${lines}`;
}

const FIELDS: { name: string; yaml: string; path: string; line: number }[] = [
  {
    name: 'image.uri',
    yaml: '    image:\n      uri: "docker://x\\n#SBATCH --uid=0"\n',
    path: 'services.app.image.uri',
    line: 8,
  },
  { name: 'cwd', yaml: '    cwd: "/srv\\e[2J"\n', path: 'services.app.cwd', line: 7 },
  { name: 'env key', yaml: '    env: ["A\\0=1"]\n', path: 'services.app.env[0]', line: 7 },
  { name: 'env value', yaml: '    env: ["A=x\\ey"]\n', path: 'services.app.env[0]', line: 7 },
  {
    name: 'mount location',
    yaml: '    mounts:\n      cache:\n        location: "/c\\x7f"\n',
    path: 'services.app.mounts.cache.location',
    line: 9,
  },
  {
    name: 'annotation value',
    yaml: '    resource:\n      annotations:\n        nvidia.com/gpu.model: "L4\\x85"\n',
    path: 'services.app.resource.annotations["nvidia.com/gpu.model"]',
    line: 9,
  },
  {
    name: 'annotation key',
    yaml: '    resource:\n      annotations:\n        "a\\tb": x\n',
    path: 'services.app.resource.annotations["a\\tb"]',
    line: 9,
  },
  {
    name: 'endpoint name',
    yaml: '    ports: [{name: http, port: 80}]\n    endpoints:\n      - name: "w\\re"\n        port-name: http\n',
    path: 'services.app.endpoints[0].name',
    line: 9,
  },
  {
    name: 'endpoint type',
    yaml: '    ports: [{name: http, port: 80}]\n    endpoints:\n      - name: web\n        port-name: http\n        type: "sub\\tdomain"\n',
    path: 'services.app.endpoints[0].type',
    line: 11,
  },
  {
    name: 'service name (raw ESC)',
    yaml: '  "b\u001b": {script: run}\n',
    path: 'services["b\\u001b"]',
    line: 7,
  },
  { name: 'volume reference', yaml: '', path: 'volumes.cache.reference', line: 3 },
];

for (const f of FIELDS) {
  test(`control characters are rejected, located, in ${f.name}`, () => {
    const text =
      f.name === 'volume reference'
        ? specWith('    mounts: {cache: {location: /c}}\n').replace(
            'volume://u/p/cache',
            '"volume://u/p/\\0cache"',
          )
        : specWith(f.yaml);
    const r = parseSpec(text, 'c.yaml');
    assert.equal(r.ok, false);
    if (r.ok) return;
    const hit = r.issues.find((i) => i.code === 'control-character');
    assert.ok(hit, r.issues.map((i) => `${i.code} ${i.path}`).join('\n'));
    assert.equal(hit.path, f.path);
    assert.equal(hit.pos?.file, 'c.yaml');
    assert.equal(hit.pos?.line, f.line);
    assert.match(hit.message, /control character U\+[0-9A-F]{4}.*; allowed: /);
  });
}

test('scripts, commands and env values may hold TAB and LF; CRLF files are read as LF', () => {
  const ok = parseSpec(
    'services:\r\n  app:\r\n    script: |\r\n      echo "a\tb"\r\n      echo c\r\n    env: ["A=x\\ny\\tz"]\r\n',
    'ok.yaml',
  );
  assert.equal(ok.ok, true, JSON.stringify(!ok.ok && ok.issues));
  if (!ok.ok) return;
  assert.equal(ok.value.services[0]?.script, 'echo "a\tb"\necho c\n');
  assert.deepEqual(ok.value.services[0]?.env, [{ key: 'A', value: 'x\ny\tz' }]);
  const esc = parseSpec('services:\n  app:\n    script: "echo \\e[2J"\n', 'e.yaml');
  assert.ok(
    !esc.ok && esc.issues.some((i) => i.code === 'control-character' && i.path === 'services.app.script'),
  );
  const cmd = parseSpec('services:\n  app:\n    backend: {kind: vllm, command: "vllm serve\\0"}\n', 'b.yaml');
  assert.ok(!cmd.ok && cmd.issues.some((i) => i.path === 'services.app.backend.command'));
  const lone = parseSpec('services:\n  app:\n    script: run\r    cwd: /x\n', 'cr.yaml');
  assert.ok(!lone.ok && lone.issues.some((i) => i.code === 'control-character' && i.pos?.line === 3));
});

test('a raw control character is located at itself; many are summarised, not listed without end', () => {
  const r = parseSpec('services:\n  app:\n    script: run\n    cwd: /ab\u001bcd\n', 'raw.yaml');
  assert.ok(!r.ok);
  if (r.ok) return;
  assert.deepEqual(r.issues.find((i) => i.code === 'control-character')?.pos, {
    file: 'raw.yaml',
    line: 4,
    col: 13,
  });
  const many = parseSpec(`services:\n  app:\n    script: run\n${'# \u0007\n'.repeat(500)}`, 'many.yaml');
  assert.ok(
    !many.ok &&
      many.issues.length === 51 &&
      many.issues.some((i) => /more control characters than the 50 listed/.test(i.message)),
  );
});

test('an env var named __proto__ survives; a mapping key __proto__ is refused with a reason', () => {
  const env = parseSpec(
    'services:\n  app:\n    script: run\n    env: ["__proto__=x", "constructor=y"]\n',
    'p.yaml',
  );
  assert.equal(env.ok, true);
  if (env.ok) {
    assert.deepEqual(env.value.services[0]?.env, [
      { key: '__proto__', value: 'x' },
      { key: 'constructor', value: 'y' },
    ]);
  }
  const key = parseSpec(
    'services:\n  app:\n    script: run\n    resource:\n      annotations: {__proto__: x}\n',
    'k.yaml',
  );
  assert.ok(!key.ok);
  if (key.ok) return;
  const hit = key.issues.find((i) => i.code === 'reserved-key');
  assert.equal(hit?.path, 'services.app.resource.annotations.__proto__');
  assert.match(hit?.message ?? '', /would be lost/);
});
