/**
 * Limits on input the spec layer reads, so that no file — however built — costs more than a bounded amount
 * of time and memory. The spec layer never does I/O: readers in the CLI read at most `SPEC_MAX_BYTES + 1`
 * bytes of a file (or of standard input, `/dev/zero` included) and hand the count to `checkInputSize`, which
 * turns "too large" into a located issue. Every bound below is far above what a real spec or inventory
 * needs (the largest example is a few KB), and each is reported with code `yaml-too-large` or
 * `yaml-too-deep`.
 */
import type { Issue } from '../api/issues.js';
import { CODES } from './codes.js';

/** Largest spec or inventory file accepted, in bytes (4 MiB). Readers read at most one byte more. */
export const SPEC_MAX_BYTES = 4 * 1024 * 1024;

export const YAML_LIMITS = {
  /** Size of the text, in bytes (UTF-8) or characters, whichever is checked. */
  maxBytes: SPEC_MAX_BYTES,
  /**
   * Nodes the YAML may write before aliases are expanded (scalars, aliases, collections, `-`/`:`/`?`
   * indicators, counted by a first pass over the tokens); also the cap on nodes after alias expansion.
   */
  maxNodes: 50_000,
  /** Nesting depth of the data (aliases count as one level). */
  maxDepth: 64,
  /**
   * Bytes the data may hold after alias expansion: every string scalar's and key's length plus the length
   * of every field path the reader records. Stops aliases that repeat a long string or a long key.
   */
  maxExpandedBytes: 32 * 1024 * 1024,
  /** Longest field path (`services.x.resource.annotations["…"]`), in characters. */
  maxPathChars: 2048,
} as const;

/**
 * The issue for an input of `byteLength` bytes when that exceeds `limit` (default `SPEC_MAX_BYTES`), else
 * undefined. A reader that stopped at `limit + 1` bytes passes `limit + 1`: the message then says "more than".
 */
export function checkInputSize(
  byteLength: number,
  file: string,
  limit: number = SPEC_MAX_BYTES,
): Issue | undefined {
  if (byteLength <= limit) return undefined;
  return {
    code: CODES.yamlTooLarge,
    severity: 'error',
    path: '',
    pos: { file, line: 1, col: 1 },
    message: `the file has ${byteLength === limit + 1 ? 'more than ' : ''}${byteLength === limit + 1 ? limit : byteLength} bytes; a spec may have at most ${limit} bytes (${formatLimit(limit)})`,
  };
}

function formatLimit(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;
}
