/**
 * zod issues → our `Issue`s: a stable code, the user's field path, a source position and a message that
 * says what was found and what is allowed. Allowed keys, bounds and descriptions are read back from the
 * schema itself, so messages cannot drift from what the schema accepts.
 */
import * as z from 'zod';
import type { core } from 'zod';
import type { Issue, SourcePos } from '../api/issues.js';
import { CODES } from './codes.js';
import { formatPath, joinPath } from './paths.js';
import { closest } from './suggest.js';
import { locate } from './locate.js';
import { MEMORY_PATTERN } from './units.js';
import { ENV_ENTRY_PATTERN } from './schema.js';

export interface IssueContext {
  readonly file: string;
  readonly positions: Readonly<Record<string, SourcePos>>;
  readonly keyPositions: Readonly<Record<string, SourcePos>>;
}

type ZodIssue = core.$ZodIssue;

/** Unwraps optional/describe wrappers to the schema that does the work. */
function unwrap(schema: core.$ZodType | undefined): core.$ZodType | undefined {
  let s = schema;
  for (let i = 0; i < 8 && s; i++) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap();
    else break;
  }
  return s;
}

/** The schema for a field path, walking objects, records, arrays and unions (first match). */
export function schemaAt(root: core.$ZodType, path: readonly PropertyKey[]): core.$ZodType | undefined {
  let s = unwrap(root);
  for (const seg of path) {
    if (!s) return undefined;
    if (s instanceof z.ZodObject) s = unwrap((s.shape as Record<string, core.$ZodType>)[String(seg)]);
    else if (s instanceof z.ZodRecord) s = unwrap(s.valueType);
    else if (s instanceof z.ZodArray) s = unwrap(s.element);
    else if (s instanceof z.ZodUnion) {
      const objectOption = (s.options as core.$ZodType[]).find(
        (o) => o instanceof z.ZodObject || o instanceof z.ZodArray || o instanceof z.ZodRecord,
      );
      s = objectOption ? schemaAt(objectOption, [seg]) : undefined;
    } else return undefined;
  }
  return s;
}

function allowedKeys(root: core.$ZodType, path: readonly PropertyKey[]): string[] {
  const s = schemaAt(root, path);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

function bounds(root: core.$ZodType, path: readonly PropertyKey[]): string {
  const s = schemaAt(root, path);
  const nums = s instanceof z.ZodUnion ? (s.options as core.$ZodType[]) : s ? [s] : [];
  for (const n of nums) {
    if (n instanceof z.ZodNumber) {
      const lo = n.minValue;
      const hi = n.maxValue;
      const whole = n.format === 'safeint' ? 'a whole number' : 'a number';
      const loText = lo !== null && Number.isFinite(lo) && lo > Number.MIN_SAFE_INTEGER ? ` >= ${lo}` : '';
      const hiText = hi !== null && Number.isFinite(hi) && hi < Number.MAX_SAFE_INTEGER ? ` <= ${hi}` : '';
      return `${whole}${loText}${loText && hiText ? ' and' : ''}${hiText}`;
    }
  }
  return 'a number';
}

/**
 * A key other YAML tools accept that this spec does not: a merge key (`<<: *anchor`, YAML 1.1 and compose).
 * Say what to write instead.
 */
function unknownKeyHint(key: string): string | undefined {
  if (key === '<<')
    return 'YAML merge keys (`<<: *anchor`) are not supported (the spec is YAML 1.2); alias a whole mapping (`resource: *common`, the anchor in an `x-` field) or repeat the fields';
  return undefined;
}

/** A short, safe rendering of a found value. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') {
    const t = v.length > 40 ? `${v.slice(0, 37)}...` : v;
    return `string ${JSON.stringify(t)}`;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
};

function expectedText(issue: ZodIssue): string {
  if (issue.code === 'invalid_type') return TYPE_WORDS[issue.expected] ?? issue.expected;
  if (issue.code === 'invalid_value') return issue.values.map((x) => JSON.stringify(x)).join(' or ');
  return 'another value';
}

function describeAllowed(issue: ZodIssue): string {
  if (issue.code !== 'invalid_union') return expectedText(issue);
  const parts = issue.errors.flatMap((branch) => (branch[0] ? [describeAllowed(branch[0])] : []));
  return [...new Set(parts)].join(' or ');
}

const MEMORY_REGEX_TEXT = new RegExp(MEMORY_PATTERN).toString();
const ENV_REGEX_TEXT = new RegExp(ENV_ENTRY_PATTERN, 's').toString();
const MEMORY_HELP =
  'use a number with an optional unit K, M, G, T, P (powers of 1000) or Ki, Mi, Gi, Ti, Pi (powers of 1024) and an optional B, e.g. 64GB, 512Mi, 1.5Gi, or bare bytes';

export function zodIssuesToIssues(
  root: core.$ZodType,
  zodIssues: readonly ZodIssue[],
  ctx: IssueContext,
): Issue[] {
  const out: Issue[] = [];
  const seen = new Set<string>();
  const push = (issue: Issue): void => {
    const key = `${issue.code}\u0000${issue.path}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push(issue);
  };
  const at = (path: string): SourcePos => locate(ctx.positions, path, ctx.file);

  for (const zi of zodIssues) {
    const path = formatPath(zi.path);
    const input = zi.input;
    switch (zi.code) {
      case 'unrecognized_keys': {
        const allowed = allowedKeys(root, zi.path);
        for (const key of zi.keys) {
          const keyPath = joinPath(path, key);
          const guess = closest(key, allowed);
          const hint = unknownKeyHint(key) ?? (guess ? `did you mean ${JSON.stringify(guess)}?` : undefined);
          push({
            code: CODES.unknownKey,
            severity: 'error',
            path: keyPath,
            pos: ctx.keyPositions[keyPath] ?? at(keyPath),
            message: `unknown key ${JSON.stringify(key)}${path ? ` in ${path}` : ''}; allowed: ${allowed.join(', ')}`,
            ...(hint ? { hint } : {}),
          });
        }
        break;
      }
      case 'invalid_type': {
        if (input === undefined) {
          push({
            code: CODES.required,
            severity: 'error',
            path,
            pos: at(path),
            message: `missing required field ${JSON.stringify(String(zi.path[zi.path.length - 1] ?? ''))}; allowed: ${zi.expected === 'int' || zi.expected === 'number' ? bounds(root, zi.path) : expectedText(zi)}`,
          });
        } else if (zi.expected === 'int' && typeof input === 'number' && Number.isFinite(input)) {
          push({
            code: Number.isInteger(input) ? CODES.range : CODES.integer,
            severity: 'error',
            path,
            pos: at(path),
            message: `found ${describeValue(input)}; allowed: ${bounds(root, zi.path)}`,
          });
        } else {
          push({
            code: path === '' ? CODES.notAMapping : CODES.type,
            severity: 'error',
            path,
            pos: at(path),
            message: `found ${describeValue(input)}; allowed: ${zi.expected === 'int' || zi.expected === 'number' ? bounds(root, zi.path) : expectedText(zi)}`,
          });
        }
        break;
      }
      case 'invalid_value': {
        const words = zi.values.map((v) => String(v));
        const guess = typeof input === 'string' ? closest(input, words) : undefined;
        push({
          code: CODES.enum,
          severity: 'error',
          path,
          pos: at(path),
          message: `found ${describeValue(input)}; allowed: ${words.join(', ')}`,
          ...(guess ? { hint: `did you mean ${JSON.stringify(guess)}?` } : {}),
        });
        break;
      }
      case 'invalid_union':
        push({
          code: CODES.type,
          severity: 'error',
          path,
          pos: at(path),
          message: `found ${describeValue(input)}; allowed: ${describeAllowed(zi)}`,
        });
        break;
      case 'too_small':
      case 'too_big': {
        if (zi.origin === 'string') {
          push({
            code: CODES.format,
            severity: 'error',
            path,
            pos: at(path),
            message: `must not be empty`,
          });
        } else if (zi.origin === 'array' && Array.isArray(input)) {
          const limit = Number(zi.code === 'too_small' ? zi.minimum : zi.maximum);
          const items = (k: number): string => `${k} item${k === 1 ? '' : 's'}`;
          push({
            code: CODES.range,
            severity: 'error',
            path,
            pos: at(path),
            message: `found ${input.length === 0 ? 'an empty list' : `a list of ${items(input.length)}`}; allowed: a list of ${zi.code === 'too_small' ? 'at least' : 'at most'} ${items(limit)}`,
            ...(zi.code === 'too_small' && input.length === 0
              ? {
                  hint: `drop "${String(zi.path[zi.path.length - 1] ?? '')}: []" or list at least ${items(limit)}`,
                }
              : {}),
          });
        } else {
          push({
            code: CODES.range,
            severity: 'error',
            path,
            pos: at(path),
            message: `found ${describeValue(input)}; allowed: ${bounds(root, zi.path)}`,
          });
        }
        break;
      }
      case 'invalid_format':
        if (zi.pattern === MEMORY_REGEX_TEXT) {
          push({
            code: CODES.memorySize,
            severity: 'error',
            path,
            pos: at(path),
            message: memoryMessage(input),
          });
        } else if (zi.pattern === ENV_REGEX_TEXT) {
          push({
            code: CODES.envEntry,
            severity: 'error',
            path,
            pos: at(path),
            message: `found ${describeValue(input)}; allowed: KEY=VALUE where KEY matches [A-Za-z_][A-Za-z0-9_]*`,
          });
        } else {
          push({
            code: CODES.format,
            severity: 'error',
            path,
            pos: at(path),
            message: `found ${describeValue(input)}; allowed: a string matching ${zi.pattern ?? zi.format}`,
          });
        }
        break;
      case 'custom': {
        const params = zi.params as { code?: unknown } | undefined;
        if (params?.code === CODES.memorySize) {
          push({
            code: CODES.memorySize,
            severity: 'error',
            path,
            pos: at(path),
            message: memoryMessage(input),
          });
        } else {
          push({ code: CODES.format, severity: 'error', path, pos: at(path), message: zi.message });
        }
        break;
      }
      default:
        push({ code: CODES.type, severity: 'error', path, pos: at(path), message: zi.message });
    }
  }
  return out;
}

function memoryMessage(input: unknown): string {
  return `found ${describeValue(input)}, which is not a memory size greater than 0 (or is too large); ${MEMORY_HELP}`;
}
