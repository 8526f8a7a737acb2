import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lineColumn, programIndex, scanScript, sourceOffset } from '../../src/plan/shell-words.js';
import type { ShellScript } from '../../src/plan/shell-words.js';

function scan(text: string): ShellScript {
  const r = scanScript(text);
  if (!r.ok) assert.fail(`scan failed at ${r.offset}: ${r.message}`);
  return r.script;
}

const values = (s: ShellScript): string[][] => s.commands.map((c) => c.words.map((w) => w.value));

test('commands split at newline, ; && || | & ( ) and words at blanks; comments dropped', () => {
  const s = scan('a 1; b && c || d | e & f\n# g h\n(i) j # k\n\n');
  assert.deepEqual(values(s), [['a', '1'], ['b'], ['c'], ['d'], ['e'], ['f'], ['i'], ['j']]);
  assert.deepEqual(
    s.commands.map((c) => c.terminator),
    [';', '&&', '||', '|', '&', '\n', ')', '\n'],
  );
});

test('quotes, escapes and expansions stay inside one word; offsets are the raw span', () => {
  const text = `FOO=1 x 'a b' "c $d \\" e" f\\ g $(h "i j" | k) \${l:-m n} \`o p\` $((1 + 2))`;
  const [c] = scan(text).commands;
  assert.ok(c);
  assert.deepEqual(
    c.words.map((w) => w.value),
    ['FOO=1', 'x', 'a b', 'c $d " e', 'f g', '$(h "i j" | k)', '${l:-m n}', '`o p`', '$((1 + 2))'],
  );
  assert.deepEqual(
    c.words.map((w) => w.expands),
    [false, false, false, true, false, true, true, true, true],
  );
  for (const w of c.words) assert.equal(text.slice(w.start, w.end), w.raw);
  assert.equal(c.words[2]?.raw, "'a b'");
  assert.equal(programIndex(c.words), 1, 'the assignment is not the program');
});

test('backslash-newline joins lines, also inside a word and inside double quotes', () => {
  const s = scan('python -m x \\\n  --tp 8 \\\n  --port 30000\nnext "a\\\nb" c\\\nd');
  assert.deepEqual(values(s), [
    ['python', '-m', 'x', '--tp', '8', '--port', '30000'],
    ['next', 'ab', 'cd'],
  ]);
});

test('redirections and their targets are not words; IO numbers belong to the redirection', () => {
  const [c] = scan('cmd a >log 2>&1 b <in >>out 3<>f &>all').commands;
  assert.ok(c);
  assert.deepEqual(
    c.words.map((w) => w.value),
    ['cmd', 'a', 'b'],
  );
  assert.deepEqual(
    c.redirects.map((r) => [r.op, r.target?.value]),
    [
      ['>', 'log'],
      ['>&', '1'],
      ['<', 'in'],
      ['>>', 'out'],
      ['<>', 'f'],
      ['&>', 'all'],
    ],
  );
});

test('here-document bodies are skipped up to the delimiter (<<- strips tabs)', () => {
  const s = scan("cat <<'EOF' >x\npython -m sglang.launch_server\nEOF\nnext\ncat <<-E\n\tbody\n\tE\nlast");
  assert.deepEqual(values(s), [['cat'], ['next'], ['cat'], ['last']]);
});

test('sh -c / bash -lc strings are scanned again, offsets map back through the quoting', () => {
  const text = `exec bash -lc "cd /m && python -m x --a '1 2'" ; sh -e -c 'y; z' name arg`;
  const s = scan(text);
  const [outer, second] = s.commands;
  assert.ok(outer?.inner && second?.inner);
  assert.deepEqual(values(outer.inner), [
    ['cd', '/m'],
    ['python', '-m', 'x', '--a', '1 2'],
  ]);
  assert.deepEqual(values(second.inner), [['y'], ['z']]);
  const py = outer.inner.commands[1]?.words[0];
  assert.ok(py);
  // `python` starts at inner offset 9; in the outer text that is just after `cd /m && `.
  assert.equal(sourceOffset(outer.inner.word, py.start), text.indexOf('python'));
  // Not wrappers: no -c, or -c with no string.
  assert.equal(scan('bash script.sh -c x').commands[0]?.inner, undefined);
  assert.equal(scan('sh -c').commands[0]?.inner, undefined);
  // Nested wrappers.
  const nested = scan(`sh -c "bash -c 'a b'"`).commands[0]?.inner?.commands[0]?.inner;
  assert.deepEqual(nested && values(nested), [['a', 'b']]);
});

test('unterminated quotes are errors at the opening quote, also inside sh -c strings', () => {
  const a = scanScript(`echo "abc`);
  assert.deepEqual(a.ok ? undefined : [a.offset, a.message], [5, 'this double quote is never closed']);
  const b = scanScript(`x\nsh -c "echo 'abc"`);
  assert.equal(b.ok, false);
  if (!b.ok) {
    assert.equal(b.offset, 14, 'the inner quote, in the outer text');
    assert.match(b.message, /single quote is never closed/);
  }
  assert.equal(scanScript('echo $(a b').ok, false);
  assert.equal(scanScript('echo `a b').ok, false);
});

test('lineColumn is 0-based', () => {
  assert.deepEqual(lineColumn('ab\ncd\nef', 7), { line: 2, column: 1 });
  assert.deepEqual(lineColumn('ab', 0), { line: 0, column: 0 });
});
