/**
 * Small pure helpers of the Slurm target: bash double-quote escaping, Slurm-safe job and feature names.
 * How the symbolic plan becomes bash is in `resolve.ts`.
 */

const ESCAPE_IN_DQ = /[\\"$`]/g;

/** Escape literal text for use inside a bash double-quoted string. */
export function escapeDq(text: string): string {
  return text.replace(ESCAPE_IN_DQ, (c) => `\\${c}`);
}

/** Slurm feature names allow letters, digits, `_`, `.`, `-`: `NVIDIA L4` → `NVIDIA_L4`. */
export function featureName(model: string): string {
  return model.trim().replace(/[^A-Za-z0-9_.-]+/g, '_');
}

/** A Slurm-safe job name (no whitespace or commas). */
export function jobName(service: string): string {
  return service.replace(/[^A-Za-z0-9_.-]+/g, '_') || 'multinode';
}
