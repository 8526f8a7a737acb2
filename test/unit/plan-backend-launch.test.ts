/**
 * SGLang's flags inserted by shell structure (`launch-flags.ts`): where they land in multi-line scripts,
 * `sh -c` / `bash -c` wrappers, env prefixes, redirections, comments and continuations; flags already set;
 * located refusals; the port following the planned MASTER_PORT. A few rewritten commands are run under
 * /bin/sh with a stub program on PATH that prints its argv, to prove the quoting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SGLANG_LAUNCH } from '../../src/plan/backend.js';
import { generateInventory } from '../../src/plan/index.js';
import { insertFlags } from '../../src/plan/launch-flags.js';
import { findParallelFlags } from '../../src/plan/parallelism.js';
import { buildSpec, service } from './helpers/spec-builder.js';
import { literal, mustFail, mustPlan, svcOf, withTaken } from './helpers/plan-helpers.js';

const FLAGS = ['--dist-init-addr', 'llm-0:29500', '--nnodes', '2', '--node-rank', '1'];
const ADDED = '--dist-init-addr llm-0:29500 --nnodes 2 --node-rank 1';

function rewrite(text: string, flags: readonly string[] = FLAGS): string {
  const r = insertFlags(text, SGLANG_LAUNCH, flags);
  if (!r.ok) assert.fail(`refused at ${r.line}:${r.column}: ${r.message}`);
  return r.text;
}

function refusal(text: string, flags: readonly string[] = FLAGS) {
  const r = insertFlags(text, SGLANG_LAUNCH, flags);
  if (r.ok) assert.fail(`expected a refusal, got ${r.text}`);
  return r;
}

const L = 'python -m sglang.launch_server --tp 8';

const placed: [string, string, string][] = [
  ['one line (as before)', L, `${L} ${ADDED}`],
  ['sglang serve', 'sglang serve --model-path m', `sglang serve --model-path m ${ADDED}`],
  [
    'two-line block: on the launch line, not a command of its own',
    `export HF_HOME=/cache\n${L}\n`,
    `export HF_HOME=/cache\n${L} ${ADDED}\n`,
  ],
  ['launch first, then another command', `${L}\necho stopped\n`, `${L} ${ADDED}\necho stopped\n`],
  [
    'env prefix',
    `FOO=1 /opt/venv/bin/python3 -u ${L.slice(7)}`,
    `FOO=1 /opt/venv/bin/python3 -u ${L.slice(7)} ${ADDED}`,
  ],
  ['exec and env', `exec env -u X A=1 ${L}`, `exec env -u X A=1 ${L} ${ADDED}`],
  ['redirections and a pipe stay after', `${L} >log 2>&1 | tee x`, `${L} ${ADDED} >log 2>&1 | tee x`],
  ['a comment stays after', `${L} # serve it`, `${L} ${ADDED} # serve it`],
  ['&& chains', `cd /m && ${L} && echo done`, `cd /m && ${L} ${ADDED} && echo done`],
  [
    'continuation lines: after the last word',
    'python -m sglang.launch_server \\\n  --tp 8 \\\n  --port 30000\n',
    `python -m sglang.launch_server \\\n  --tp 8 \\\n  --port 30000 ${ADDED}\n`,
  ],
  ['bash -c "…": inside the string', `bash -c "${L}"`, `bash -c "${L} ${ADDED}"`],
  ["sh -c '…': inside the string", `sh -c 'cd /m; ${L} > log'`, `sh -c 'cd /m; ${L} ${ADDED} > log'`],
  [
    'bash -lc with a multi-line string',
    `bash -lc "\n  source /env\n  ${L}\n"`,
    `bash -lc "\n  source /env\n  ${L} ${ADDED}\n"`,
  ],
  [
    'other commands after a here-document',
    `cat >cfg <<EOF\n${L}\nEOF\n${L}`,
    `cat >cfg <<EOF\n${L}\nEOF\n${L} ${ADDED}`,
  ],
  [
    'one command that is not recognised is the launch',
    './backend-stub --tp 2',
    `./backend-stub --tp 2 ${ADDED}`,
  ],
];

for (const [name, text, want] of placed)
  test(`sglang flags: ${name}`, () => {
    assert.equal(rewrite(text), want);
  });

test('sglang flags: escaped for the quoting they land in', () => {
  // shQuote gives 'a b'\''c'; inside '…' every ' of that becomes '\''.
  assert.equal(
    rewrite(`sh -c 'python -m sglang.launch_server'`, ['--x', "a b'c"]),
    String.raw`sh -c 'python -m sglang.launch_server --x '\''a b'\''\'\'''\''c'\'''`,
  );
  assert.equal(
    rewrite(`bash -c "python -m sglang.launch_server"`, ['--x', '$y']),
    String.raw`bash -c "python -m sglang.launch_server --x '\$y'"`,
  );
  assert.equal(
    rewrite(String.raw`sh -c python\ -m\ sglang.launch_server`, ['--x', 'a b']),
    String.raw`sh -c python\ -m\ sglang.launch_server\ --x\ \'a\ b\'`,
  );
});

test('sglang flags already set: a variable or the same value stays, a different literal is refused there', () => {
  assert.equal(
    rewrite(`${L} --node-rank $MULTINODE_NODE_RANK --nnodes=2`),
    `${L} --node-rank $MULTINODE_NODE_RANK --nnodes=2 --dist-init-addr llm-0:29500`,
  );
  const r = refusal(`export A=1\n${L} \\\n  --nnodes 3`);
  assert.deepEqual([r.line, r.column], [2, 2], 'at the flag');
  assert.match(r.message, /the SGLang launch sets --nnodes 3, but multinode must pass --nnodes 2 here/);
});

test('no launch among several commands, or two launches: located refusals that say what was looked for', () => {
  const none = refusal('cd /m\n./serve.sh\n');
  assert.deepEqual([none.line, none.column], [0, 0]);
  assert.match(
    none.message,
    /found no SGLang launch \(looked for `python -m sglang.launch_server …` or `sglang serve …`/,
  );
  assert.match(none.message, /has 2 commands/);
  assert.match(none.hint, /once/);
  const two = refusal(`${L}\necho x\n  bash -c "sglang serve m"`);
  assert.deepEqual([two.line, two.column], [2, 11]);
  assert.match(two.message, /SGLang is launched 2 times \(lines 1, 3 of the command\)/);
  const broken = refusal(`sh -c "${L}`);
  assert.deepEqual([broken.line, broken.column], [0, 6]);
  assert.match(broken.message, /cannot read the command as shell: this double quote is never closed/);
  assert.equal(refusal('# nothing\n').message.startsWith('the command runs nothing'), true);
});

/** Runs `text` under /bin/sh with stub `python`/`sglang` programs that print their argv, one word a line. */
function argvUnderSh(text: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'mn-launch-'));
  try {
    for (const prog of ['python', 'sglang']) {
      writeFileSync(join(dir, prog), `#!/bin/sh\nprintf '%s\\n' "$@"\n`);
      chmodSync(join(dir, prog), 0o755);
    }
    const r = spawnSync('/bin/sh', ['-c', text], {
      env: { PATH: `${dir}:/usr/bin:/bin` },
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').slice(0, -1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('rewritten commands run under /bin/sh: the flags arrive as separate argv words', () => {
  const odd = ['--dist-init-addr', 'h\'1 $x"`:2', '--nnodes', '2'];
  const want = ['-m', 'sglang.launch_server', '--tp', '8', ...odd];
  for (const text of [
    `${L}`,
    `FOO=1 ${L} 2>&1 | cat`,
    `export A=1\n${L} \\\n # c\n`,
    `bash -c "${L}"`,
    `sh -c '${L}'`,
    `sh -c "bash -c '${L}'"`,
    `sh -c ${L.replace(/ /g, '\\ ')}`,
  ]) {
    const out = rewrite(text, odd);
    assert.deepEqual(argvUnderSh(out), want, out);
  }
  assert.deepEqual(argvUnderSh(rewrite('sglang serve --model-path m', FLAGS)), [
    'serve',
    '--model-path',
    'm',
    ...FLAGS,
  ]);
});

function sglangService(command: string, over: Parameters<typeof service>[1] = {}) {
  return service('llm', { nodes: 2, script: '', backend: { kind: 'sglang', command }, ...over });
}

test('planner: every rank gets its --node-rank inside a two-line block', () => {
  const s = literal(
    svcOf(mustPlan(buildSpec([sglangService(`cd /m\n${L}\n`)]), generateInventory({ nodes: 2 }))),
  );
  s.ranks.forEach((r) =>
    assert.equal(
      r.command.argv[2],
      `cd /m\n${L} --dist-init-addr llm-0:29500 --nnodes 2 --node-rank ${r.rank}\n`,
    ),
  );
});

test('planner: host mode with 29500 taken on the leader node → --dist-init-addr names the moved MASTER_PORT', () => {
  const inv = withTaken(generateInventory({ nodes: 2 }), 'node-1', { ports: [29500] });
  const s = literal(svcOf(mustPlan(buildSpec([sglangService(L, { hostNetwork: true })]), inv)));
  assert.notEqual(s.masterPort, 29500);
  for (const r of s.ranks) {
    assert.equal(r.env['MASTER_PORT'], String(s.masterPort));
    assert.match(r.command.argv[2] ?? '', new RegExp(` --dist-init-addr llm-0:${s.masterPort} --nnodes 2 `));
  }
  const user = literal(
    svcOf(
      mustPlan(
        buildSpec([sglangService(L, { env: [{ key: 'MASTER_PORT', value: '31000' }] })]),
        generateInventory({ nodes: 2 }),
      ),
    ),
  );
  assert.match(user.ranks[1]?.command.argv[2] ?? '', / --dist-init-addr llm-0:31000 /);
});

test('planner: refusals are plan-backend-command errors at the line in the block scalar', () => {
  const bad = sglangService(`cd /m\n./a\n./b\n`);
  const spec = buildSpec([bad], { 'services.llm.backend.command': { file: 's.yaml', line: 7, col: 16 } });
  const { issues } = mustFail(spec, generateInventory({ nodes: 2 }));
  assert.equal(issues.length, 1);
  assert.equal(issues[0]?.code, 'plan-backend-command');
  assert.equal(issues[0]?.path, 'services.llm.backend.command');
  assert.deepEqual(issues[0]?.pos, { file: 's.yaml', line: 8, col: 9 });
  // A literal --node-rank is right for one rank only.
  const lit = buildSpec([sglangService(`cd /m\n${L} --node-rank 0\n`)], {
    'services.llm.backend.command': { file: 's.yaml', line: 7, col: 16 },
  });
  const [i] = mustFail(lit, generateInventory({ nodes: 2 })).issues;
  assert.match(
    i?.message ?? '',
    /^rank 1: the SGLang launch sets --node-rank 0, but multinode must pass --node-rank 1/,
  );
  assert.deepEqual(i?.pos, { file: 's.yaml', line: 9, col: 9 + L.length + 1 });
});

test('parallelism flags are read as shell words: comments and here-documents do not count, sh -c strings do', () => {
  assert.deepEqual(findParallelFlags('# was: --tp 4\nvllm serve m --tp 8 <<E\n--pp 3\nE\n'), [
    { kind: 'tp', flag: '--tp', value: 8, line: 1, column: 13 },
  ]);
  assert.deepEqual(findParallelFlags(`x\nbash -c "vllm serve m --tp='2' --pp \\"3\\""`), [
    { kind: 'tp', flag: '--tp', value: 2, line: 1, column: 22 },
    { kind: 'pp', flag: '--pp', value: 3, line: 1, column: 31 },
  ]);
  // Not shell (an unclosed quote in a Python script): searched line by line, as before.
  assert.deepEqual(
    findParallelFlags(`print('it's')\nos.system("x --tp 4")`).map((f) => [f.flag, f.value]),
    [['--tp', 4]],
  );
});
