/**
 * The docs hold together: generated reference pages are up to date, every relative link in README.md and
 * docs/ resolves (file and, where given, heading anchor), every planner code is documented, and the README
 * stays a landing page.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { generatedDocs } from '../../scripts/gen-docs.js';
import { PLAN_CODES, PLAN_CODE_DOCS } from '../../src/plan/index.js';

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return markdownFiles(path);
    return name.endsWith('.md') ? [path] : [];
  });
}

const pages = ['README.md', ...markdownFiles('docs')];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const counts = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = fenced ? null : /^#{1,6} (.*)$/.exec(line);
    if (!m?.[1]) continue;
    const base = m[1]
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = counts.get(base) ?? 0;
    counts.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Links outside code: `[text](target)` with a relative target. */
function relativeLinks(markdown: string): string[] {
  const text = markdown.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1] ?? '')
    .filter((t) => t !== '' && !/^[a-z]+:/i.test(t));
}

test('generated reference pages are up to date (scripts/gen-docs.ts)', async () => {
  for (const [path, text] of await generatedDocs()) {
    const current = existsSync(path) ? readFileSync(path, 'utf8') : '';
    assert.ok(current === text, `${path} is out of date: run \`node --import tsx scripts/gen-docs.ts\``);
  }
});

test('every relative link in README.md and docs/ resolves', () => {
  const broken: string[] = [];
  for (const page of pages) {
    for (const link of relativeLinks(readFileSync(page, 'utf8'))) {
      const [file = '', anchor] = link.split('#');
      const target = file === '' ? page : normalize(join(dirname(page), decodeURIComponent(file)));
      if (!existsSync(target)) {
        broken.push(`${page}: ${link} (no ${target})`);
        continue;
      }
      if (
        anchor !== undefined &&
        target.endsWith('.md') &&
        !anchorsOf(readFileSync(target, 'utf8')).has(anchor)
      )
        broken.push(`${page}: ${link} (no heading #${anchor} in ${target})`);
    }
  }
  assert.deepEqual(broken, []);
});

test('every planner code is documented once', () => {
  const documented = PLAN_CODE_DOCS.map((d) => d.code);
  assert.equal(new Set(documented).size, documented.length);
  assert.deepEqual(
    Object.values(PLAN_CODES).filter((c) => !documented.includes(c)),
    [],
  );
});

test('the README is a landing page (at most 200 lines) that links into docs/', () => {
  const readme = readFileSync('README.md', 'utf8');
  assert.ok(readme.split('\n').length <= 200, `README.md has ${readme.split('\n').length} lines`);
  for (const page of ['docs/getting-started.md', 'docs/reference/cli.md', 'docs/troubleshooting.md'])
    assert.ok(readme.includes(`(${page})`), `README.md links ${page}`);
});

test('every docs/… page named in source, tests, benches, scripts and examples exists', () => {
  const sources = ['src', 'test', 'bench', 'scripts', 'examples'].flatMap((d) =>
    sourceFiles(d).filter((f) => !f.startsWith('test/golden/')),
  );
  const missing: string[] = [];
  for (const f of sources)
    for (const m of readFileSync(f, 'utf8').matchAll(/\bdocs\/[A-Za-z0-9_./-]+\.md\b/g))
      if (!existsSync(m[0])) missing.push(`${f}: ${m[0]}`);
  assert.deepEqual(missing, []);
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'node_modules' ? [] : sourceFiles(p);
    return /\.(ts|mjs|js|py|sh|ya?ml)$/.test(name) ? [p] : [];
  });
}
