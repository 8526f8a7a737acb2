/** "Did you mean" for unknown keys and names: the closest candidate by edit distance, if close enough. */

/** Damerau-free Levenshtein distance, O(|a|·|b|) with one row. */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j] ?? 0;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(up + 1, (row[j - 1] ?? 0) + 1, diag + cost);
      diag = up;
    }
  }
  return row[b.length] ?? 0;
}

/**
 * The candidate nearest to `word` (case-insensitive, `_` and `-` treated alike), when within 1 edit for
 * words of up to 3 characters, 2 for up to 6, else ⌊len/3⌋; ties go to the earlier candidate.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/_/g, '-');
  const w = norm(word).slice(0, 64);
  let best: string | undefined;
  const limit = w.length <= 3 ? 1 : w.length <= 6 ? 2 : Math.floor(w.length / 3);
  let bestD = limit + 1;
  for (const c of candidates) {
    const d = editDistance(w, norm(c));
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}
