/** Small text forms shared by the CLI and renderers: CPU lists as ranges (`0-15,32`). */

/** `[0,1,2,3,8]` → `0-3,8` (the Linux cpuset syntax). */
export function compressCpuList(cpus: readonly number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const out: string[] = [];
  let k = 0;
  while (k < sorted.length) {
    const start = sorted[k] ?? 0;
    let end = start;
    while (sorted[k + 1] === end + 1) {
      end++;
      k++;
    }
    out.push(start === end ? String(start) : `${start}-${end}`);
    k++;
  }
  return out.join(',');
}
