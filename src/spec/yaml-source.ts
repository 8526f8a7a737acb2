/**
 * YAML → plain data with source positions. The `yaml` package lexes, parses and composes (with a
 * `LineCounter` for 1-based line/column); we then walk its node tree ourselves instead of calling `toJS()`,
 * so that every field path gets a position and anything that is not plain data (non-scalar keys, multiple
 * documents, control characters) becomes a located issue instead of an exception. Pure: text in, data +
 * positions + issues out.
 *
 * Bounded work (limits in bounds.ts). Every step is linear in the input, and a first pass caps the input
 * before the expensive ones:
 *   1. size: more than `maxChars` characters is rejected before anything else;
 *   2. raw scan: control characters anywhere in the text (not even comments may hold ESC or NUL);
 *   3. token pass: the `yaml` lexer alone (cheap, streaming) counts node-making tokens and stops at
 *      `maxNodes`, so the parser and composer — whose memory is ~100 bytes per token — never see a file of
 *      a million keys or aliases;
 *   4. compose with `uniqueKeys: false` (the package's duplicate-key check compares each key with every
 *      earlier one: quadratic in keys per mapping); duplicates are found in step 5 with a Set;
 *   5. our walk: anchors resolved through a Map filled in document order (the package's `Alias.resolve`
 *      searches the document: quadratic in aliases), nodes counted after alias expansion (`maxNodes`),
 *      depth capped (`maxDepth`), and a byte budget (`maxExpandedBytes`) charged with every string, key and
 *      recorded field path, so aliases that repeat a long string or nest under a long key stop early.
 *
 * Positions (`positions[path]`): a scalar's own position; for a collection under a key, the key's position
 * (where a reader looks for "services.vllm"); for a sequence item, the item's position. `keyPositions[path]`
 * always holds the key's position (used for unknown-key errors).
 */
import { CST, Lexer, LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import type { Issue, SourcePos } from '../api/issues.js';
import { joinPath } from './paths.js';
import type { PathSegment } from './paths.js';
import { CODES } from './codes.js';
import { YAML_LIMITS } from './bounds.js';
import { TEXT_POLICY_ALLOWS, describeChar, findControl, findRawControls } from './text.js';
import type { TextPolicy } from './text.js';

export interface YamlSource {
  /** The document as plain JSON-like data; `undefined` when the document is empty or unusable. */
  readonly data: unknown;
  readonly positions: Record<string, SourcePos>;
  readonly keyPositions: Record<string, SourcePos>;
  /** Parse problems (errors and warnings), all located. */
  readonly issues: Issue[];
  /** Position of an offset in the text, for later stages that need one. */
  readonly posAt: (offset: number) => SourcePos;
  /** Work done, for tests and benchmarks that prove the bounds. */
  readonly stats: YamlStats;
}

export interface YamlStats {
  /** Node-making tokens the first pass counted (it stops one past `maxNodes`). */
  readonly nodeTokens: number;
  /** Nodes the walk produced, alias expansions included (it stops one past `maxNodes`). */
  readonly nodes: number;
  /** Bytes charged to the expansion budget (it stops past `maxExpandedBytes`). */
  readonly expandedBytes: number;
  /** Whether the `yaml` parser and composer ran (they do not when an earlier pass rejects the file). */
  readonly composed: boolean;
}

export interface ParseYamlOptions {
  /** Upper bound on nodes, written (token pass) and produced (counting alias expansions). */
  readonly maxNodes?: number;
  /** Upper bound on nesting depth. */
  readonly maxDepth?: number;
  /** Upper bound on input size in characters. */
  readonly maxChars?: number;
  /** Upper bound on string, key and field-path bytes produced, counting alias expansions. */
  readonly maxExpandedBytes?: number;
  /** Upper bound on the length of one field path. */
  readonly maxPathChars?: number;
  /**
   * Which control characters a string value at `segments` may hold (keys are always `line`).
   * Default: `line` everywhere.
   */
  readonly textPolicy?: (segments: readonly PathSegment[]) => TextPolicy;
}

/** Control-character issues reported per file before the rest are summarised in one. */
const MAX_CONTROL_ISSUES = 50;

class BudgetExceeded extends Error {
  constructor(
    readonly kind: 'depth' | 'nodes' | 'bytes' | 'path',
    readonly at: SourcePos | undefined,
  ) {
    super(kind);
  }
}

/** Lexer tokens that start a node (or stand for an implicit one): what the composer pays for. */
const NODE_TOKENS: ReadonlySet<string> = new Set([
  'scalar',
  'alias',
  'single-quoted-scalar',
  'double-quoted-scalar',
  'block-scalar-header',
  'flow-map-start',
  'flow-seq-start',
  'seq-item-ind',
  'map-value-ind',
  'explicit-key-ind',
]);

/**
 * Counts node-making tokens with the `yaml` lexer, stopping at `limit + 1`; returns the offset where the
 * limit was passed, or -1. Linear and streaming: nothing is kept.
 */
function countNodeTokens(text: string, limit: number): { count: number; overAt: number } {
  let count = 0;
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    // The lexer's mode markers are not source text.
    const marker = token === CST.SCALAR || token === CST.DOCUMENT || token === CST.FLOW_END;
    const type = CST.tokenType(token);
    if (type !== null && NODE_TOKENS.has(type) && ++count > limit) return { count, overAt: offset };
    if (!marker) offset += token.length;
  }
  return { count, overAt: -1 };
}

/** The `not-a-mapping` issue when the document's top level is not a mapping (located at the document), else none. */
export function notAMapping(src: YamlSource, file: string, message: string): Issue | undefined {
  if (typeof src.data === 'object' && src.data !== null && !Array.isArray(src.data)) return undefined;
  return {
    code: CODES.notAMapping,
    severity: 'error',
    path: '',
    pos: src.positions[''] ?? { file, line: 1, col: 1 },
    message,
  };
}

export function parseYamlWithPositions(
  text: string,
  file: string,
  options: ParseYamlOptions = {},
): YamlSource {
  const maxNodes = options.maxNodes ?? YAML_LIMITS.maxNodes;
  const maxDepth = options.maxDepth ?? YAML_LIMITS.maxDepth;
  const maxChars = options.maxChars ?? YAML_LIMITS.maxBytes;
  const maxExpandedBytes = options.maxExpandedBytes ?? YAML_LIMITS.maxExpandedBytes;
  const maxPathChars = options.maxPathChars ?? YAML_LIMITS.maxPathChars;
  const textPolicy = options.textPolicy ?? ((): TextPolicy => 'line');
  const lineCounter = new LineCounter();
  const posAt = (offset: number): SourcePos => {
    const lp = lineCounter.linePos(Math.max(0, Math.min(offset, text.length)));
    return { file, line: lp.line, col: lp.col };
  };
  const positions: Record<string, SourcePos> = {};
  const keyPositions: Record<string, SourcePos> = {};
  const issues: Issue[] = [];
  const start: SourcePos = { file, line: 1, col: 1 };
  let nodeTokens = 0;
  let count = 0;
  let bytes = 0;
  let composed = false;
  const stats = (): YamlStats => ({ nodeTokens, nodes: count, expandedBytes: bytes, composed });
  const unusable = (): YamlSource => {
    reportRawControls();
    return { data: undefined, positions, keyPositions, issues, posAt, stats: stats() };
  };
  const unusableBeforeScan = (): YamlSource => ({
    data: undefined,
    positions,
    keyPositions,
    issues,
    posAt,
    stats: stats(),
  });

  if (text.length > maxChars) {
    issues.push({
      code: CODES.yamlTooLarge,
      severity: 'error',
      path: '',
      pos: start,
      message: `the file has ${text.length} characters; a spec may have at most ${maxChars}`,
    });
    return { ...unusableBeforeScan(), posAt: () => start };
  }

  // Offsets of control characters no part of a file may hold; the walk claims those inside strings.
  const rawControls = findRawControls(text, MAX_CONTROL_ISSUES + 1);
  const claimed = new Set<number>();
  // The line counter fills only as the parser runs: before that, count lines by scanning.
  const posAtScan = (offset: number): SourcePos =>
    composed ? posAt(offset) : positionByScan(text, offset, file);
  let controlIssues = 0;
  let controlDropped = 0;
  /** Control characters outside any string (comments, anchors, tags, between tokens), and the summary. */
  const reportRawControls = (): void => {
    for (const o of rawControls) {
      if (claimed.has(o)) continue;
      if (controlIssues >= MAX_CONTROL_ISSUES) {
        controlDropped++;
        continue;
      }
      controlIssues++;
      issues.push({
        code: CODES.controlCharacter,
        severity: 'error',
        path: '',
        pos: posAtScan(o),
        message: `the file holds the control character ${describeChar(text.charCodeAt(o))} outside any value (in a comment or between tokens); a spec file may hold TAB and line breaks only`,
      });
    }
    if (controlDropped > 0) {
      issues.push({
        code: CODES.controlCharacter,
        severity: 'error',
        path: '',
        pos: start,
        message: `the file holds more control characters than the ${MAX_CONTROL_ISSUES} listed; remove them all`,
      });
    }
  };

  const tokens = countNodeTokens(text, maxNodes);
  nodeTokens = tokens.count;
  const tokenOverflow = tokens.overAt;
  if (tokenOverflow >= 0) {
    // The lexer has not filled the line counter; count lines up to the offset ourselves.
    const pos = positionByScan(text, tokenOverflow, file);
    issues.push({
      code: CODES.yamlTooLarge,
      severity: 'error',
      path: '',
      pos,
      message: `the document writes more than ${maxNodes} values, keys and aliases; a spec needs far fewer`,
    });
    return { ...unusable(), posAt: (offset) => positionByScan(text, offset, file) };
  }

  let doc: Document.Parsed;
  composed = true;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, strict: true });
  } catch (err) {
    // The yaml composer recurses on nesting; pathological input can exhaust the stack.
    issues.push({
      code: CODES.yamlTooDeep,
      severity: 'error',
      path: '',
      pos: start,
      message: `the YAML could not be parsed (${err instanceof Error ? err.message : String(err)}); nesting deeper than ${maxDepth} levels is not allowed`,
    });
    return unusable();
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
      code: CODES.yamlSyntax,
      severity: 'error',
      path: '',
      pos: posAt(e.pos[0]),
      message: `YAML syntax: ${firstLine(e.message)}`,
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
  if (issues.some((i) => i.severity === 'error')) return unusable();

  /** Set by problems that make the data unusable (duplicate keys, bad aliases); control characters do not. */
  let broken = false;
  // One position object per source node, however often aliases repeat it.
  const nodePositions = new Map<unknown, SourcePos>();
  const nodePos = (node: YamlNode | null | undefined): SourcePos | undefined => {
    if (!node?.range) return undefined;
    let p = nodePositions.get(node);
    if (p === undefined) nodePositions.set(node, (p = posAt(node.range[0])));
    return p;
  };
  // No closures per node: the walk runs up to `maxNodes` times and must stay cheap.
  const charge = (n: number, at: SourcePos | undefined): void => {
    bytes += n;
    if (bytes > maxExpandedBytes) throw new BudgetExceeded('bytes', at);
  };
  const record = (path: string, at: SourcePos | undefined): void => {
    if (path.length > maxPathChars) throw new BudgetExceeded('path', at);
    charge(path.length, at);
  };

  // Anchors in document order: an alias refers to the latest anchor of its name written before it.
  const anchors = new Map<string, YamlNode>();
  /** Nodes whose conversion is under way: an alias to one of them would expand forever. */
  const open = new Set<YamlNode>();
  /** Nodes already reported (an aliased node is reported once, not once per expansion). */
  const reported = new Set<unknown>();

  const checkText = (
    value: string,
    policy: TextPolicy,
    node: YamlNode | null,
    path: string,
    what: string,
    fallback: SourcePos,
  ): void => {
    const i = findControl(value, policy);
    if (i < 0 || reported.has(node ?? value)) return;
    reported.add(node ?? value);
    // Point at the character itself when it is written raw in the file, else at the string.
    let pos = nodePos(node) ?? fallback;
    if (node?.range) {
      const [from, to] = node.range;
      const raw = rawControls.find((o) => o >= from && o < to);
      if (raw !== undefined) pos = posAt(raw);
      for (const o of rawControls) if (o >= from && o < to) claimed.add(o);
    }
    if (controlIssues >= MAX_CONTROL_ISSUES) {
      controlDropped++;
      return;
    }
    controlIssues++;
    issues.push({
      code: CODES.controlCharacter,
      severity: 'error',
      path,
      pos,
      message: `${what} holds the control character ${describeChar(value.charCodeAt(i))}; allowed: ${TEXT_POLICY_ALLOWS[policy]}`,
    });
  };

  const segments: PathSegment[] = [];

  /** `via`: the outermost alias being expanded, where a blow-up is reported. */
  const convert = (node: YamlNode, path: string, depth: number, via?: SourcePos): unknown => {
    if (++count > maxNodes) throw new BudgetExceeded('nodes', via ?? nodePos(node));
    if (depth > maxDepth) throw new BudgetExceeded('depth', via ?? nodePos(node));
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (target === undefined || open.has(target)) {
        if (!reported.has(node)) {
          reported.add(node);
          broken = true;
          issues.push({
            code: CODES.yamlSyntax,
            severity: 'error',
            path,
            pos: nodePos(node) ?? start,
            message:
              target === undefined
                ? `the alias *${node.source} refers to no anchor &${node.source} written before it`
                : `the alias *${node.source} refers to a node that contains it; such a value would never end`,
          });
        }
        return null;
      }
      return convert(target, path, depth + 1, via ?? nodePos(node));
    }
    // Anchors are registered where they are written, never while an alias is being expanded.
    if (via === undefined && node.anchor) anchors.set(node.anchor, node);
    if (isScalar(node)) {
      const v: unknown = node.value;
      if (typeof v === 'string') {
        if (v.length > 0) charge(v.length, via ?? nodePos(node));
        checkText(v, textPolicy(segments), node, path, 'this value', start);
        return v;
      }
      if (typeof v === 'bigint') return Number(v);
      if (v instanceof Uint8Array) return `<binary ${v.length} bytes>`;
      // YAML 1.1 timestamps: keep the text as written (a spec has no date fields).
      if (v instanceof Date) return node.range ? text.slice(node.range[0], node.range[1]) : v.toISOString();
      if (v === undefined) return null;
      return v;
    }
    if (isMap(node)) {
      open.add(node);
      const out: Record<string, unknown> = {};
      const seen = new Set<string>();
      for (const item of node.items) {
        if (!isPair(item)) continue;
        const k: unknown = item.key;
        let key: string;
        if (k === null || k === undefined) key = '';
        else if (isScalar(k)) {
          key = k.value === null || k.value === undefined ? '' : scalarText(k.value);
          if (via === undefined && k.anchor) anchors.set(k.anchor, k);
        } else {
          const p = nodePos(k as YamlNode) ?? nodePos(node) ?? start;
          if (!reported.has(k)) {
            reported.add(k);
            issues.push({
              code: CODES.yamlKey,
              severity: 'error',
              path,
              pos: p,
              message: 'a mapping key must be a plain string, not a list, mapping or alias',
            });
          }
          continue;
        }
        const keyNode = isScalar(k) ? k : null;
        const kp = nodePos(keyNode) ?? nodePos(node) ?? start;
        charge(key.length, via ?? kp);
        const childPath = joinPath(path, key);
        record(childPath, via ?? kp);
        if (seen.has(key)) {
          if (!reported.has(keyNode ?? item)) {
            reported.add(keyNode ?? item);
            broken = true;
            issues.push({
              code: CODES.yamlDuplicateKey,
              severity: 'error',
              path: childPath,
              pos: kp,
              message: `the key ${JSON.stringify(key)} appears twice in the same mapping; each key may appear once`,
            });
          }
          continue;
        }
        seen.add(key);
        checkText(key, 'line', keyNode, childPath, 'this key', kp);
        if (key === '__proto__') {
          // JavaScript objects treat this key specially: it would vanish (or change the object) downstream.
          if (!reported.has(keyNode ?? item)) {
            reported.add(keyNode ?? item);
            issues.push({
              code: CODES.reservedKey,
              severity: 'error',
              path: childPath,
              pos: kp,
              message:
                'the key "__proto__" cannot be used: programs reading the spec treat it as an object\'s prototype, so it would be lost; allowed: any other key',
            });
          }
          continue;
        }
        keyPositions[childPath] = kp;
        const v = item.value as YamlNode | null;
        const target = isAlias(v) ? anchors.get(v.source) : v;
        positions[childPath] = isMap(target) || isSeq(target) ? kp : (nodePos(v) ?? kp);
        segments.push(key);
        const value = v === null ? null : convert(v, childPath, depth + 1, via);
        segments.pop();
        Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      }
      open.delete(node);
      return out;
    }
    if (isSeq(node)) {
      open.add(node);
      const out: unknown[] = [];
      for (let i = 0; i < node.items.length; i++) {
        const item = node.items[i] as YamlNode | null | undefined;
        const childPath = joinPath(path, i);
        const ip = nodePos(item) ?? nodePos(node) ?? start;
        record(childPath, via ?? ip);
        positions[childPath] = ip;
        segments.push(i);
        out.push(item === null || item === undefined ? null : convert(item, childPath, depth + 1, via));
        segments.pop();
      }
      open.delete(node);
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
    issues.push({
      code: err.kind === 'depth' ? CODES.yamlTooDeep : CODES.yamlTooLarge,
      severity: 'error',
      path: '',
      pos: err.at ?? start,
      message: budgetMessage(err.kind, { maxDepth, maxNodes, maxExpandedBytes, maxPathChars }),
    });
    broken = true;
  }

  reportRawControls();
  return { data: broken ? undefined : data, positions, keyPositions, issues, posAt, stats: stats() };
}

function budgetMessage(
  kind: BudgetExceeded['kind'],
  l: { maxDepth: number; maxNodes: number; maxExpandedBytes: number; maxPathChars: number },
): string {
  switch (kind) {
    case 'depth':
      return `the document nests deeper than ${l.maxDepth} levels; a spec needs far fewer`;
    case 'nodes':
      return `the document expands to more than ${l.maxNodes} nodes (counting alias expansions); a spec needs far fewer`;
    case 'bytes':
      return `the document expands to more than ${l.maxExpandedBytes} bytes of strings, keys and field paths (counting alias expansions); a spec needs far fewer`;
    case 'path':
      return `a field path grows longer than ${l.maxPathChars} characters (keys that long, or nested that deep); a spec needs far shorter ones`;
  }
}

/** Line and column of `offset` by counting line breaks (for use before the parser has run). */
function positionByScan(text: string, offset: number, file: string): SourcePos {
  let line = 1;
  let lineStart = 0;
  const end = Math.max(0, Math.min(offset, text.length));
  for (let i = text.indexOf('\n'); i >= 0 && i < end; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { file, line, col: end - lineStart + 1 };
}

function scalarText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v) ?? '';
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}
