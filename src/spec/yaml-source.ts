/**
 * YAML → plain data with source positions. The `yaml` package parses (with a `LineCounter` for 1-based
 * line/column); we then walk its node tree ourselves instead of calling `toJS()`, so that every field path
 * gets a position, aliases are expanded under a budget (no billion-laughs), nesting depth is capped (no stack
 * overflow downstream), and anything that is not plain data (non-scalar keys, multiple documents) becomes a
 * located issue instead of an exception. Pure: text in, data + positions + issues out.
 *
 * Positions (`positions[path]`): a scalar's own position; for a collection under a key, the key's position
 * (where a reader looks for "services.vllm"); for a sequence item, the item's position. `keyPositions[path]`
 * always holds the key's position (used for unknown-key errors).
 */
import { LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseDocument } from 'yaml';
import type { Alias, Document, Node as YamlNode } from 'yaml';
import type { Issue, SourcePos } from '../api/issues.js';
import { joinPath } from './paths.js';
import { CODES } from './codes.js';

export interface YamlSource {
  /** The document as plain JSON-like data; `undefined` when the document is empty or unusable. */
  readonly data: unknown;
  readonly positions: Record<string, SourcePos>;
  readonly keyPositions: Record<string, SourcePos>;
  /** Parse problems (errors and warnings), all located. */
  readonly issues: Issue[];
  /** Position of an offset in the text, for later stages that need one. */
  readonly posAt: (offset: number) => SourcePos;
}

export interface ParseYamlOptions {
  /** Upper bound on nodes produced, counting alias expansions. Default 100 000. */
  readonly maxNodes?: number;
  /** Upper bound on nesting depth. Default 64. */
  readonly maxDepth?: number;
  /** Upper bound on input size in characters. Default 4 MiB. */
  readonly maxChars?: number;
}

class BudgetExceeded extends Error {
  constructor(
    readonly kind: 'depth' | 'nodes',
    readonly at: SourcePos | undefined,
  ) {
    super(kind);
  }
}

export function parseYamlWithPositions(
  text: string,
  file: string,
  options: ParseYamlOptions = {},
): YamlSource {
  const maxNodes = options.maxNodes ?? 100_000;
  const maxDepth = options.maxDepth ?? 64;
  const maxChars = options.maxChars ?? 4 * 1024 * 1024;
  const lineCounter = new LineCounter();
  const posAt = (offset: number): SourcePos => {
    const lp = lineCounter.linePos(Math.max(0, Math.min(offset, text.length)));
    return { file, line: lp.line, col: lp.col };
  };
  const positions: Record<string, SourcePos> = {};
  const keyPositions: Record<string, SourcePos> = {};
  const issues: Issue[] = [];
  const start: SourcePos = { file, line: 1, col: 1 };

  if (text.length > maxChars) {
    issues.push({
      code: CODES.yamlTooLarge,
      severity: 'error',
      path: '',
      pos: start,
      message: `the file has ${text.length} characters; a spec may have at most ${maxChars}`,
    });
    return { data: undefined, positions, keyPositions, issues, posAt: () => start };
  }

  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  } catch (err) {
    // The yaml parser recurses on nesting; pathological input can exhaust the stack.
    issues.push({
      code: CODES.yamlTooDeep,
      severity: 'error',
      path: '',
      pos: start,
      message: `the YAML could not be parsed (${err instanceof Error ? err.message : String(err)}); nesting deeper than ${maxDepth} levels is not allowed`,
    });
    return { data: undefined, positions, keyPositions, issues, posAt };
  }

  for (const e of doc.errors) {
    if (/call stack/i.test(e.message)) {
      // The yaml parser recurses on nesting and reports its own stack exhaustion.
      issues.push({
        code: CODES.yamlTooDeep,
        severity: 'error',
        path: '',
        pos: posAt(e.pos[0]),
        message: `the document nests too deeply to parse; nesting deeper than ${maxDepth} levels is not allowed`,
      });
      continue;
    }
    issues.push({
      code: e.code === 'DUPLICATE_KEY' ? CODES.yamlDuplicateKey : CODES.yamlSyntax,
      severity: 'error',
      path: '',
      pos: posAt(e.pos[0]),
      message:
        e.code === 'DUPLICATE_KEY'
          ? 'a key appears twice in the same mapping; each key may appear once'
          : `YAML syntax: ${firstLine(e.message)}`,
    });
  }
  for (const w of doc.warnings) {
    issues.push({
      code: CODES.yamlWarning,
      severity: 'warning',
      path: '',
      pos: posAt(w.pos[0]),
      message: `YAML: ${firstLine(w.message)}`,
    });
  }
  if (issues.some((i) => i.severity === 'error')) {
    return { data: undefined, positions, keyPositions, issues, posAt };
  }

  let count = 0;
  const nodePos = (node: YamlNode | null | undefined): SourcePos | undefined =>
    node?.range ? posAt(node.range[0]) : undefined;

  // `Alias.resolve` searches the document; resolve each alias node once.
  const aliasTargets = new Map<unknown, unknown>();
  const resolveAlias = (alias: Alias): unknown => {
    if (!aliasTargets.has(alias)) aliasTargets.set(alias, alias.resolve(doc));
    return aliasTargets.get(alias);
  };

  /** `via`: the outermost alias being expanded, where a blow-up is reported. */
  const convert = (node: unknown, path: string, depth: number, via?: SourcePos): unknown => {
    if (++count > maxNodes) throw new BudgetExceeded('nodes', via ?? nodePos(node as YamlNode));
    if (depth > maxDepth) throw new BudgetExceeded('depth', via ?? nodePos(node as YamlNode));
    if (isAlias(node)) {
      const target = resolveAlias(node);
      if (target === undefined) return null;
      return convert(target, path, depth + 1, via ?? nodePos(node));
    }
    if (isScalar(node)) {
      const v: unknown = node.value;
      if (typeof v === 'bigint') return Number(v);
      if (v instanceof Uint8Array) return `<binary ${v.length} bytes>`;
      // YAML 1.1 timestamps: keep the text as written (a spec has no date fields).
      if (v instanceof Date) return node.range ? text.slice(node.range[0], node.range[1]) : v.toISOString();
      if (v === undefined) return null;
      return v;
    }
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      for (const item of node.items) {
        if (!isPair(item)) continue;
        const k: unknown = item.key;
        let key: string;
        if (k === null || k === undefined) key = '';
        else if (isScalar(k)) key = k.value === null || k.value === undefined ? '' : scalarText(k.value);
        else {
          const p = nodePos(k as YamlNode) ?? nodePos(node) ?? start;
          issues.push({
            code: CODES.yamlKey,
            severity: 'error',
            path,
            pos: p,
            message: 'a mapping key must be a plain string, not a list or mapping',
          });
          continue;
        }
        const childPath = joinPath(path, key);
        const kp = nodePos(isScalar(k) ? k : null) ?? nodePos(node) ?? start;
        keyPositions[childPath] = kp;
        const v = item.value as YamlNode | null;
        const target = isAlias(v) ? resolveAlias(v) : v;
        positions[childPath] = isMap(target) || isSeq(target) ? kp : (nodePos(v) ?? kp);
        const value = v === null ? null : convert(v, childPath, depth + 1, via);
        Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    if (isSeq(node)) {
      const out: unknown[] = [];
      node.items.forEach((item, i) => {
        const childPath = joinPath(path, i);
        positions[childPath] = nodePos(item as YamlNode) ?? nodePos(node) ?? start;
        out.push(item === null ? null : convert(item, childPath, depth + 1, via));
      });
      return out;
    }
    return null;
  };

  let data: unknown;
  try {
    data = doc.contents === null ? undefined : convert(doc.contents, '', 0);
    positions[''] = nodePos(doc.contents) ?? start;
  } catch (err) {
    if (!(err instanceof BudgetExceeded)) throw err;
    const deep = err.kind === 'depth';
    issues.push({
      code: deep ? CODES.yamlTooDeep : CODES.yamlTooLarge,
      severity: 'error',
      path: '',
      pos: err.at ?? start,
      message: deep
        ? `the document nests deeper than ${maxDepth} levels; a spec needs far fewer`
        : `the document expands to more than ${maxNodes} nodes (counting alias expansions); a spec needs far fewer`,
    });
    data = undefined;
  }
  return { data, positions, keyPositions, issues, posAt };
}

function scalarText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v) ?? '';
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}
