/**
 * Writes the generated reference pages of docs/ from the code, so they cannot drift from it:
 *   docs/reference/cli.md          every command's `--help` (src/cli)
 *   docs/reference/spec-fields.md  every spec field from the JSON Schema (src/spec/schema.ts)
 *   docs/reference/errors.md       every issue code of the spec and the planner (src/spec/codes.ts, src/plan)
 *   docs/reference/environment.md  every variable a rank sees (src/api/env-names.ts)
 * `--check` writes nothing and exits 1 when a page is out of date (scripts/test runs it).
 *
 *   node --import tsx scripts/gen-docs.ts [--check]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { buildProgram } from '../src/cli/main.js';
import { specJsonSchema } from '../src/spec/schema.js';
import { CODE_DOCS } from '../src/spec/codes.js';
import { PLAN_CODE_DOCS } from '../src/plan/index.js';
import { ENV_DOC_PATH, generateEnvironmentDoc } from './gen-env-table.js';

const HEADER = (source: string): string =>
  `<!-- Generated from ${source} by scripts/gen-docs.ts; edit those, not this file. -->`;

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function helpOf(cmd: Command): string {
  cmd.configureHelp({ helpWidth: 110 }); // fixed width: the output must not depend on the terminal
  return cmd.helpInformation().trimEnd();
}

export async function generateCliDoc(): Promise<string> {
  const program = await buildProgram();
  const lines = [
    HEADER('the commands in src/cli'),
    '# CLI reference',
    '',
    'Every command of `multinode`, as `--help` prints it. Exit codes: 0 success, 1 failure at run time,',
    '2 bad input (a located error: `file:line:col`, the field path and what is allowed).',
    '',
    '```text',
    helpOf(program),
    '```',
    '',
  ];
  const walk = (cmd: Command, prefix: string): void => {
    for (const sub of cmd.commands) {
      const name = `${prefix} ${sub.name()}`.trim();
      lines.push(`## \`multinode ${name}\``, '', '```text', helpOf(sub), '```', '');
      walk(sub, name);
    }
  };
  walk(program, '');
  return `${lines.join('\n').trimEnd()}\n`;
}

type Json = { readonly [k: string]: unknown };

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function typeOf(s: Json): string {
  if (typeof s['const'] === 'string') return `\`${s['const']}\``;
  if (Array.isArray(s['enum'])) return s['enum'].map((e) => `\`${String(e)}\``).join(' | ');
  if (Array.isArray(s['anyOf'])) return s['anyOf'].filter(isObject).map(typeOf).join(' or ');
  const t = s['type'];
  if (t === 'array' && isObject(s['items'])) return `list of ${typeOf(s['items'])}`;
  if (t === 'object' && isObject(s['additionalProperties'])) return 'map';
  return typeof t === 'string' ? t : Array.isArray(t) ? t.join(' or ') : 'any';
}

function limits(s: Json): string {
  const out: string[] = [];
  const num = (k: string, label: string): void => {
    if (typeof s[k] === 'number' && s[k] < Number.MAX_SAFE_INTEGER) out.push(`${label} ${s[k]}`);
  };
  num('minimum', '≥');
  num('exclusiveMinimum', '>');
  num('maximum', '≤');
  num('exclusiveMaximum', '<');
  num('minLength', 'length ≥');
  num('maxLength', 'length ≤');
  num('minItems', 'items ≥');
  num('maxItems', 'items ≤');
  if (typeof s['pattern'] === 'string') out.push(`matches \`${s['pattern']}\``);
  return out.join(', ');
}

/** One row per field, depth first; `*` stands for a key the user chooses (a service or volume name). */
function fieldRows(s: Json, path: string, rows: string[][]): void {
  const props = s['properties'];
  if (isObject(props)) {
    const required = Array.isArray(s['required']) ? s['required'] : [];
    for (const [key, child] of Object.entries(props)) {
      if (!isObject(child)) continue;
      const p = path === '' ? key : `${path}.${key}`;
      const description = typeof child['description'] === 'string' ? child['description'] : '';
      rows.push([
        `\`${p}\``,
        typeOf(child),
        required.includes(key) ? 'yes' : '',
        [description, limits(child)].filter((x) => x !== '').join(' '),
      ]);
      fieldRows(child, p, rows);
    }
  }
  if (isObject(s['additionalProperties'])) fieldRows(s['additionalProperties'], `${path}.*`, rows);
  if (isObject(s['items'])) fieldRows(s['items'], `${path}[]`, rows);
  if (Array.isArray(s['anyOf'])) for (const alt of s['anyOf']) if (isObject(alt)) fieldRows(alt, path, rows);
}

export function generateSpecFieldsDoc(): string {
  const rows: string[][] = [];
  fieldRows(specJsonSchema(), '', rows);
  const seen = new Set<string>();
  const unique = rows.filter((r) => {
    const key = r.join('|');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return (
    [
      HEADER('the JSON Schema in src/spec/schema.ts'),
      '# Spec fields',
      '',
      'Every field a spec file may hold, from the JSON Schema `multinode schema` prints. `*` is a name you',
      'choose (a service, a volume, a mount). What the fields mean and the rules across fields are in',
      '[the spec](spec.md); the issue codes in [errors](errors.md).',
      '',
      '| Field | Type | Required | Meaning and limits |',
      '|---|---|---|---|',
      ...unique.map((r) => `| ${r.map(cell).join(' | ')} |`),
    ].join('\n') + '\n'
  );
}

export function generateErrorsDoc(): string {
  return (
    [
      HEADER('CODE_DOCS in src/spec/codes.ts and PLAN_CODE_DOCS in src/plan/index.ts'),
      '# Issue codes',
      '',
      'Every problem `validate`, `plan`, `up` and `render` report carries a stable code: codes never change',
      'meaning; new ones may be added. Errors stop the command (exit 2) and nothing is started; warnings do not.',
      'Each issue names the file, line and column, the field path and what is allowed:',
      '',
      '```text',
      "seed.yaml:7:15: error[enum] services.vllm.multinode.implementation: must be one of 'ompi', 'mpich', 'gasnet', 'generic'",
      '```',
      '',
      '`--json` prints the same issues as objects (`code`, `severity`, `path`, `line`, `column`, `message`, `hint`).',
      '',
      '## Spec (reading and checking a file)',
      '',
      '| Code | Severity | Meaning |',
      '|---|---|---|',
      ...CODE_DOCS.map((c) => `| \`${c.code}\` | ${c.severity} | ${cell(c.meaning)} |`),
      '',
      '## Planner (placing a valid file on a cluster)',
      '',
      '| Code | Severity | Meaning |',
      '|---|---|---|',
      ...PLAN_CODE_DOCS.map((c) => `| \`${c.code}\` | ${c.severity} | ${cell(c.meaning)} |`),
    ].join('\n') + '\n'
  );
}

export async function generatedDocs(): Promise<ReadonlyMap<string, string>> {
  return new Map([
    ['docs/reference/cli.md', await generateCliDoc()],
    ['docs/reference/spec-fields.md', generateSpecFieldsDoc()],
    ['docs/reference/errors.md', generateErrorsDoc()],
    [ENV_DOC_PATH, generateEnvironmentDoc()],
  ]);
}

if (/gen-docs\.ts$/.test(process.argv[1] ?? '')) {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const [path, text] of await generatedDocs()) {
    const current = existsSync(path) ? readFileSync(path, 'utf8') : '';
    if (current === text) continue;
    if (check) {
      console.error(`${path} is out of date: run \`node --import tsx scripts/gen-docs.ts\``);
      stale++;
    } else {
      writeFileSync(path, text);
      console.log(`wrote ${path}`);
    }
  }
  if (stale > 0) process.exit(1);
}
