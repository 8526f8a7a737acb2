/**
 * Problems a user can act on. Expected outcomes are values (`Issue[]`); faults are `MultinodeError`s with a
 * stable code. One error boundary in `cli/main.ts` maps both to exit codes (2 bad input, 1 failure).
 */

/** A place in a source file, 1-based line and column. */
export interface SourcePos {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export type Severity = 'error' | 'warning';

/**
 * One problem found in user input (a spec, an inventory, a plan request). `code` is stable and documented;
 * `path` is the field path as a user writes it (`services.vllm.ports[0].port`); `message` says what was found
 * and what is allowed.
 */
export interface Issue {
  readonly code: string;
  readonly severity: Severity;
  readonly path: string;
  readonly message: string;
  readonly pos?: SourcePos;
  readonly hint?: string;
}

export type Result<T> =
  | { readonly ok: true; readonly value: T; readonly warnings: readonly Issue[] }
  | { readonly ok: false; readonly issues: readonly Issue[] };

/** Exit codes shared by every command. */
export const EXIT = { ok: 0, failure: 1, badInput: 2, bug: 70 } as const;

/** A fault (not a validation outcome): stable `code`, optional `cause`, and issues when input was at fault. */
export class MultinodeError extends Error {
  readonly code: string;
  readonly exitCode: number;
  readonly issues: readonly Issue[];
  constructor(
    code: string,
    message: string,
    options: { cause?: unknown; exitCode?: number; issues?: readonly Issue[] } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MultinodeError';
    this.code = code;
    this.exitCode = options.exitCode ?? EXIT.failure;
    this.issues = options.issues ?? [];
  }
}

export function hasErrors(issues: readonly Issue[]): boolean {
  return issues.some((i) => i.severity === 'error');
}
