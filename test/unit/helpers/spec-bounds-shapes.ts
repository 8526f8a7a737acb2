/**
 * Worst-case YAML shapes for the input bounds (src/spec/bounds.ts), each built at a requested size in
 * bytes, plus an ordinary spec of about 4 KB as the baseline. Shared by test/unit/spec-bounds.test.ts and
 * bench/validate-bounds.ts.
 */

const HEAD = 'services:\n  app:\n    script: run\n';

/** `unit` repeated to fill `size` bytes between `pre` and `post` (ASCII only, so characters = bytes). */
function fill(size: number, pre: string, unit: string, post = ''): string {
  const n = Math.max(1, Math.floor((size - pre.length - post.length) / unit.length));
  return pre + unit.repeat(n) + post;
}

/** Like `fill`, with distinct units (keys must differ). */
function fillDistinct(size: number, pre: string, unit: (i: number) => string, post = ''): string {
  const parts: string[] = [];
  let n = pre.length + post.length;
  for (let i = 0; ; i++) {
    const u = unit(i);
    if (n + u.length > size) break;
    parts.push(u);
    n += u.length;
  }
  return pre + parts.join('') + post;
}

export const SHAPES = {
  /** Many keys in one block mapping (the `yaml` package's duplicate-key check was quadratic). */
  'many-keys': (size: number) => fillDistinct(size, `${HEAD}x:\n`, (i) => `  k${i}: 1\n`),
  /** Many keys in one flow mapping. */
  'many-flow-keys': (size: number) => fillDistinct(size, `${HEAD}x: {`, (i) => `k${i}: 1, `, 'z: 1}\n'),
  /** Many aliases of one anchor (`Alias.resolve` searched the document for each). */
  'many-aliases': (size: number) => fill(size, `${HEAD}a: &a x\nb: [`, '*a, ', '*a]\n'),
  /** Billion laughs: ten aliases per level, nested. Small file, huge expansion. */
  'nested-aliases': (size: number) => {
    let t = `${HEAD}l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n`;
    for (let i = 1; t.length < size - 200 && i < 1000; i++) {
      t += `l${i}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(', ')}]\n`;
    }
    return t;
  },
  /**
   * Aliases under one long key (an explicit `? key` — implicit keys stop at 1024 characters): every
   * expansion records a field path as long as the key.
   */
  'long-key-aliases': (size: number) => {
    const key = 'k'.repeat(Math.floor(size / 4));
    return fill(size, `${HEAD}a: &a x\n? ${key}\n: [`, '*a, ', '*a]\n');
  },
  /** A long string repeated through aliases. */
  'long-string-aliases': (size: number) => {
    const s = 'x'.repeat(Math.floor(size / 4));
    return fill(size, `${HEAD}s: &s ${s}\nb: [`, '*s, ', '*s]\n');
  },
  /** Deep flow nesting. */
  'deep-nesting': (size: number) => {
    const half = Math.floor((size - HEAD.length - 4) / 2);
    return `${HEAD}x: ${'['.repeat(half)}${']'.repeat(half)}\n`;
  },
  /** One scalar filling the file. */
  'one-scalar': (size: number) => fill(size, `${HEAD}    cwd: /`, 'y', '\n'),
  /** Control characters in many values. */
  'many-controls': (size: number) => fill(size, `${HEAD}    env:\n`, '      - "A=a\\eb"\n'),
} as const;

export type ShapeName = keyof typeof SHAPES;
export const SHAPE_NAMES = Object.keys(SHAPES) as ShapeName[];

/** An ordinary, valid spec of about `size` bytes (default 4 KB): one service, a script, env entries. */
export function ordinarySpec(size = 4096): string {
  const pre =
    'services:\n  app:\n    image:\n      uri: docker://example/app:1\n    script: |\n      echo start\n      exec sleep infinity\n    ports:\n      - name: http\n        port: 8080\n    env:\n';
  return fillDistinct(size, pre, (i) => `      - VAR_${i}=value-${i}\n`);
}
