/**
 * Slurm's compressed host-list syntax (`vllm-[0-3,5]`), as `SLURM_JOB_NODELIST` carries it: hosts that share
 * a prefix and end in a number are merged into bracketed ranges, numbers sorted, zero padding kept (`n[01-03]`);
 * a prefix with one host stays plain (`vllm-0`); groups appear in order of first appearance.
 */

interface Group {
  readonly prefix: string;
  readonly width: number;
  readonly numbers: Set<number>;
}

export function compressHostlist(hosts: readonly string[]): string {
  const groups = new Map<string, Group>();
  const out: (Group | string)[] = [];
  for (const host of hosts) {
    const m = /^(.*?)(\d+)$/.exec(host);
    if (!m) {
      if (!out.includes(host)) out.push(host);
      continue;
    }
    const prefix = m[1] ?? '';
    const digits = m[2] ?? '';
    const width = digits.length > 1 && digits.startsWith('0') ? digits.length : 0;
    const key = `${prefix}\u0000${width}`;
    let g = groups.get(key);
    if (!g) {
      g = { prefix, width, numbers: new Set() };
      groups.set(key, g);
      out.push(g);
    }
    g.numbers.add(Number(digits));
  }
  return out.map((g) => (typeof g === 'string' ? g : formatGroup(g))).join(',');
}

function formatGroup(g: Group): string {
  const nums = [...g.numbers].sort((a, b) => a - b);
  const pad = (n: number): string => String(n).padStart(g.width, '0');
  if (nums.length === 1) return `${g.prefix}${pad(nums[0] ?? 0)}`;
  const ranges: string[] = [];
  let start = nums[0] ?? 0;
  let prev = start;
  for (const n of [...nums.slice(1), NaN]) {
    if (n === prev + 1) {
      prev = n;
      continue;
    }
    ranges.push(start === prev ? pad(start) : `${pad(start)}-${pad(prev)}`);
    start = n;
    prev = n;
  }
  return `${g.prefix}[${ranges.join(',')}]`;
}

/** Slurm's `SLURM_TASKS_PER_NODE` form: `2(x3),1`. */
export function compressCounts(counts: readonly number[]): string {
  const out: string[] = [];
  let k = 0;
  while (k < counts.length) {
    const v = counts[k] ?? 0;
    let run = 1;
    while (counts[k + run] === v) run++;
    out.push(run > 1 ? `${v}(x${run})` : String(v));
    k += run;
  }
  return out.join(',');
}
