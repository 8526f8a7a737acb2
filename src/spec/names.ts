/**
 * Checks for names that come from the command line or a file and then become a path, a kernel object name,
 * an identifier in rendered output or a word in a `#SBATCH` line: service, cluster and node names, Slurm job
 * ids and job record ids, and Slurm option values (`--partition`, `--account`, `--time`). Each check is an
 * allow-list (what may appear), so `.`, `..`, `/`, NUL, whitespace and control characters can never get
 * through, and the message says what is allowed. `isInside` is the second line of defence: a path built
 * from a checked name must still lie strictly inside its root. Pure string checks.
 */
import { posix } from 'node:path';
import { describeChar, findControl } from './text.js';

/** RFC 1123 label: what Kubernetes takes as a name, and what keeps a path segment harmless. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A host-like node name: letters (either case), digits, '-' and '_', starting with a letter or digit. */
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
/** A Slurm job id as sbatch prints it. */
const JOB_ID = /^[0-9]+$/;
/** A job record id: `<job id>-<tag>` today; letters, digits, '-' and '_'. */
const RECORD_ID = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

export const NAME_KINDS = ['service', 'cluster', 'node', 'job', 'record', 'volume'] as const;
export type NameKind = (typeof NAME_KINDS)[number];

export type NameCheck = { readonly ok: true } | { readonly ok: false; readonly message: string };

interface NameRule {
  readonly what: string;
  readonly pattern: RegExp;
  readonly max: number;
  readonly allowed: string;
}

const DNS_ALLOWED =
  "1–63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit (a DNS-1123 label)";

const RULES: Readonly<Record<NameKind, NameRule>> = {
  service: { what: 'service name', pattern: DNS_LABEL, max: 63, allowed: DNS_ALLOWED },
  cluster: { what: 'cluster name', pattern: DNS_LABEL, max: 63, allowed: DNS_ALLOWED },
  node: {
    what: 'node name',
    pattern: NODE_NAME,
    max: 63,
    allowed: "1–63 characters of A-Z, a-z, 0-9, '-' and '_', starting with a letter or digit",
  },
  job: { what: 'Slurm job id', pattern: JOB_ID, max: 20, allowed: '1–20 digits' },
  volume: {
    what: 'volume name',
    pattern: NODE_NAME,
    max: 63,
    allowed:
      "1–63 characters of A-Z, a-z, 0-9, '-' and '_' per '/'-separated part, starting with a letter or digit",
  },
  record: {
    what: 'job record id',
    pattern: RECORD_ID,
    max: 128,
    allowed: "1–128 characters of A-Z, a-z, 0-9, '-' and '_', starting with a letter or digit",
  },
};

/** Why `value` fails, in words, for the first thing wrong with it (the message then says what is allowed). */
function reason(value: string, rule: NameRule): string {
  if (value === '') return 'is empty';
  if (value === '.' || value === '..') return 'would name a directory, not an entry in it';
  const control = findControl(value, 'line');
  if (control >= 0) return `holds the control character ${describeChar(value.charCodeAt(control))}`;
  if (value.includes('/')) return "holds '/'";
  if (value.includes('.')) return "holds '.'";
  if (/\s/.test(value)) return 'holds white space';
  if (value.length > rule.max) return `has ${value.length} characters`;
  if (value.startsWith('-')) return "starts with '-'";
  if (rule.pattern === DNS_LABEL && /[A-Z]/.test(value)) return 'has upper-case letters';
  if (rule.pattern === DNS_LABEL && value.endsWith('-')) return "ends with '-'";
  return 'holds characters that are not allowed';
}

/** Shows a value safely in a message: quoted, control characters escaped, long values cut. */
function show(value: string): string {
  const cut = value.length > 80 ? `${value.slice(0, 80)}…` : value;
  return JSON.stringify(cut).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Checks one name of `kind`; the message names the value, what is wrong and what is allowed. */
export function checkName(kind: NameKind, value: string): NameCheck {
  const rule = RULES[kind];
  if (value.length <= rule.max && rule.pattern.test(value)) return { ok: true };
  return {
    ok: false,
    message: `${rule.what} ${show(value)} ${reason(value, rule)}; allowed: ${rule.allowed}`,
  };
}

/**
 * True when `candidate` lies strictly inside `root` (not equal to it), both absolute POSIX paths; `.`, `..`
 * and repeated slashes are resolved as strings first (symlinks are the caller's business: this is a
 * string check). False for a relative path or one holding NUL.
 */
export function isInside(root: string, candidate: string): boolean {
  if (!root.startsWith('/') || !candidate.startsWith('/')) return false;
  if (root.includes('\0') || candidate.includes('\0')) return false;
  const r = posix.normalize(root).replace(/\/+$/, '');
  const c = posix.normalize(candidate).replace(/\/+$/, '');
  if (c === r) return false;
  return c.startsWith(`${r}/`);
}

export type SlurmOption = 'partition' | 'account' | 'time' | 'qos' | 'reservation';

/** One Slurm name: letters, digits, '_', '-', '.'; not starting with '-' (it would read as an option). */
const SLURM_WORD = '[A-Za-z0-9_][A-Za-z0-9_.-]*';
const SLURM_RULES: Readonly<Record<SlurmOption, { readonly pattern: RegExp; readonly allowed: string }>> = {
  partition: {
    pattern: new RegExp(`^${SLURM_WORD}(,${SLURM_WORD})*$`),
    allowed: "partition names of A-Z, a-z, 0-9, '_', '-' and '.', not starting with '-', separated by ','",
  },
  account: {
    pattern: new RegExp(`^${SLURM_WORD}$`),
    allowed: "A-Z, a-z, 0-9, '_', '-' and '.', not starting with '-'",
  },
  qos: {
    pattern: new RegExp(`^${SLURM_WORD}(,${SLURM_WORD})*$`),
    allowed: "QOS names of A-Z, a-z, 0-9, '_', '-' and '.', not starting with '-', separated by ','",
  },
  reservation: {
    pattern: new RegExp(`^${SLURM_WORD}(,${SLURM_WORD})*$`),
    allowed: "reservation names of A-Z, a-z, 0-9, '_', '-' and '.', not starting with '-', separated by ','",
  },
  time: {
    // minutes | minutes:seconds | hours:minutes:seconds | days-hours[:minutes[:seconds]] | UNLIMITED
    pattern: /^(?:\d+(?::\d+){0,2}|\d+-\d+(?::\d+){0,2}|UNLIMITED|INFINITE)$/,
    allowed:
      'a Slurm time: MINUTES, MINUTES:SECONDS, HOURS:MINUTES:SECONDS, DAYS-HOURS[:MINUTES[:SECONDS]] or UNLIMITED',
  },
};

/**
 * Checks a value that goes into an `#SBATCH --<option>=VALUE` line (and sbatch's argv): no white space,
 * newline or control character can reach the batch script, and only the characters Slurm uses in such
 * names pass. At most 256 characters.
 */
export function checkSlurmValue(option: SlurmOption, value: string): NameCheck {
  const rule = SLURM_RULES[option];
  if (value.length > 0 && value.length <= 256 && rule.pattern.test(value)) return { ok: true };
  const why =
    value === ''
      ? 'is empty'
      : value.length > 256
        ? `has ${value.length} characters (at most 256)`
        : findControl(value, 'line') >= 0
          ? 'holds a control character or line break'
          : /\s/.test(value)
            ? 'holds white space'
            : 'holds characters that are not allowed';
  return { ok: false, message: `--${option} ${show(value)} ${why}; allowed: ${rule.allowed}` };
}
