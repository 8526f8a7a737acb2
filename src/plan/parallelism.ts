/**
 * The parallelism check: when the command that runs the model sets tensor / pipeline / data parallel sizes,
 * their product must equal the GPUs the service gets (nodes × GPUs per node).
 *
 * Flags read (space or `=` forms): tp `--tensor-parallel-size --tp-size --tp_size --tp`,
 * pp `--pipeline-parallel-size --pp-size --pp_size --pp`, dp `--data-parallel-size --dp-size --dp_size --dp`.
 * The first numeric value of each is used (a later, different value is reported too); a value that is not a
 * number (`$TP`) is not checked. Per backend (PEERS.md §5.3):
 * - vllm, trtllm, none: tp × pp × dp = nodes × GPUs per node (vLLM's tp = GPUs per node, pp = nodes and its
 *   tp = total are both covered).
 * - sglang: `--tp` is the total across nodes and data-parallel attention splits it, so tp × pp = total and
 *   dp must divide tp.
 * Skipped when the service has no GPUs. When the product is right but tp neither divides nor is a multiple
 * of the GPUs per node (tensor-parallel groups straddle nodes unevenly), the verdict carries a warning.
 */
import { lineColumn, scanScript, sourceOffset } from './shell-words.js';
import type { ShellScript } from './shell-words.js';

export interface ParallelFlag {
  readonly kind: 'tp' | 'pp' | 'dp';
  readonly flag: string;
  readonly value: number;
  /** 0-based line within the text. */
  readonly line: number;
  /** 0-based column of the `--` within that line. */
  readonly column: number;
}

const FLAGS: Readonly<Record<string, 'tp' | 'pp' | 'dp'>> = {
  'tensor-parallel-size': 'tp',
  'tp-size': 'tp',
  tp_size: 'tp',
  tp: 'tp',
  'pipeline-parallel-size': 'pp',
  'pp-size': 'pp',
  pp_size: 'pp',
  pp: 'pp',
  'data-parallel-size': 'dp',
  'dp-size': 'dp',
  dp_size: 'dp',
  dp: 'dp',
};

const FLAG_RE =
  /(?:^|[\s'"])--(tensor-parallel-size|pipeline-parallel-size|data-parallel-size|tp-size|pp-size|dp-size|tp_size|pp_size|dp_size|tp|pp|dp)(?:=|[ \t]+)["']?(\d+)?/g;

/**
 * The parallel-size flags in `text`, read as shell words (`shell-words.ts`): comments and here-document
 * bodies do not count, `sh -c` strings do, and quoted values are unquoted. Text that does not scan as shell
 * (a Python script given as `script:`) is searched line by line instead.
 */
export function findParallelFlags(text: string): ParallelFlag[] {
  const scanned = scanScript(text);
  if (!scanned.ok) return findParallelFlagsInLines(text);
  const out: ParallelFlag[] = [];
  const visit = (script: ShellScript, toTop: (offset: number) => number): void => {
    for (const c of script.commands) {
      const inner = c.inner;
      if (inner) {
        visit(inner, (o) => toTop(sourceOffset(inner.word, o)));
        continue;
      }
      c.words.forEach((w, i) => {
        const m = FLAG_WORD_RE.exec(w.value);
        const kind = FLAGS[m?.[1] ?? ''];
        if (!m || kind === undefined) return;
        const value = m[2] ?? c.words[i + 1]?.value;
        if (value === undefined || !/^\d+$/.test(value)) return;
        out.push({
          kind,
          flag: `--${m[1] ?? ''}`,
          value: Number(value),
          ...lineColumn(text, toTop(w.start)),
        });
      });
    }
  };
  visit(scanned.script, (o) => o);
  return out.sort((a, b) => a.line - b.line || a.column - b.column);
}

const FLAG_WORD_RE =
  /^--(tensor-parallel-size|pipeline-parallel-size|data-parallel-size|tp-size|pp-size|dp-size|tp_size|pp_size|dp_size|tp|pp|dp)(?:=(.*))?$/;

function findParallelFlagsInLines(text: string): ParallelFlag[] {
  const out: ParallelFlag[] = [];
  const lines = text.split('\n');
  lines.forEach((lineText, line) => {
    for (const m of lineText.matchAll(FLAG_RE)) {
      const name = m[1] ?? '';
      const kind = FLAGS[name];
      if (kind === undefined || m[2] === undefined) continue;
      const column = (m.index ?? 0) + m[0].indexOf('--');
      out.push({ kind, flag: `--${name}`, value: Number(m[2]), line, column });
    }
  });
  return out;
}

export interface ParallelismVerdict {
  readonly ok: boolean;
  /** The arithmetic, e.g. `--tensor-parallel-size 4 × pp 1 × dp 1 = 4, but 2 nodes × 1 GPU = 2`. */
  readonly message: string;
  /** Line and column (0-based) of the first flag involved. */
  readonly line: number;
  readonly column: number;
  /**
   * When the product is right but the layout is poor: a tensor-parallel group that neither fits inside a
   * node nor covers whole nodes straddles nodes unevenly (GPUStack rejects it; vLLM runs it slowly).
   */
  readonly warning?: string;
}

export function checkParallelism(
  text: string,
  backend: 'vllm' | 'sglang' | 'trtllm' | undefined,
  nodes: number,
  gpusPerNode: number,
): ParallelismVerdict | undefined {
  if (gpusPerNode <= 0) return undefined;
  const flags = findParallelFlags(text);
  if (flags.length === 0) return undefined;
  const first = (k: 'tp' | 'pp' | 'dp'): ParallelFlag | undefined => flags.find((f) => f.kind === k);
  const tp = first('tp');
  const pp = first('pp');
  const dp = first('dp');
  const total = nodes * gpusPerNode;
  const have = `${nodes} node${nodes === 1 ? '' : 's'} × ${gpusPerNode} GPU${gpusPerNode === 1 ? '' : 's'} per node = ${total}`;
  const firstFlag = [tp, pp, dp]
    .filter((f): f is ParallelFlag => f !== undefined)
    .sort((a, b) => a.line - b.line || a.column - b.column)[0];
  const line = firstFlag?.line ?? 0;
  const column = firstFlag?.column ?? 0;
  const term = (f: ParallelFlag | undefined, k: string): string => (f ? `${f.flag} ${f.value}` : `${k} 1`);
  for (const k of ['tp', 'pp', 'dp'] as const) {
    const f0 = first(k);
    const other = flags.find((f) => f.kind === k && f0 !== undefined && f.value !== f0.value);
    if (f0 && other)
      return {
        ok: false,
        line: other.line,
        column: other.column,
        message: `${f0.flag} is set to both ${f0.value} and ${other.value}; every rank must agree`,
      };
  }
  const t = tp?.value ?? 1;
  const p = pp?.value ?? 1;
  const d = dp?.value ?? 1;
  if (backend === 'sglang') {
    const product = t * p;
    if (product !== total)
      return {
        ok: false,
        line,
        column,
        message: `${term(tp, 'tp')} × ${term(pp, 'pp')} = ${product}, but the service has ${have} GPUs (SGLang's --tp counts GPUs across all nodes)`,
      };
    if (t % d !== 0)
      return {
        ok: false,
        line,
        column,
        message: `${term(dp, 'dp')} must divide ${term(tp, 'tp')} (SGLang's data-parallel attention splits the tensor-parallel group)`,
      };
    return {
      ok: true,
      line,
      column,
      message: `${term(tp, 'tp')} × ${term(pp, 'pp')} = ${product} = ${have}`,
    };
  }
  const product = t * p * d;
  if (product !== total)
    return {
      ok: false,
      line,
      column,
      message: `${term(tp, 'tp')} × ${term(pp, 'pp')} × ${term(dp, 'dp')} = ${product}, but the service has ${have} GPUs`,
    };
  const straddles = nodes > 1 && gpusPerNode % t !== 0 && t % gpusPerNode !== 0;
  return {
    ok: true,
    line,
    column,
    message: `${term(tp, 'tp')} × ${term(pp, 'pp')} × ${term(dp, 'dp')} = ${product} = ${have}`,
    ...(straddles
      ? {
          warning: `${term(tp, 'tp')} neither divides nor is a multiple of the ${gpusPerNode} GPUs per node, so tensor-parallel groups straddle nodes unevenly; prefer tp = GPUs per node and pp = nodes`,
        }
      : {}),
  };
}
