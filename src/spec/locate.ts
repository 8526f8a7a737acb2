/** Finds the source position for a field path: its own, else its nearest written ancestor's. */
import type { SourcePos } from '../api/issues.js';
import { parentPath } from './paths.js';

export function locate(
  positions: Readonly<Record<string, SourcePos>>,
  path: string,
  file: string,
): SourcePos {
  let p: string | undefined = path;
  while (p !== undefined) {
    const pos = positions[p];
    if (pos) return pos;
    p = parentPath(p);
  }
  return { file, line: 1, col: 1 };
}
