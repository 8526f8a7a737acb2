/** The Slurm options from argv that end up in `#SBATCH` lines, checked before anything is planned. */
import { EXIT, MultinodeError } from '../api/issues.js';
import { checkSlurmValue } from '../spec/names.js';

/**
 * Checks `--partition`, `--account` and `--time` (they go into `#SBATCH --<option>=VALUE` lines and
 * sbatch's argv): bad input (exit 2) saying what is allowed, so no newline or shell text reaches a script.
 */
export function checkSlurmOptions(opts: {
  readonly partition?: string | undefined;
  readonly account?: string | undefined;
  readonly time?: string | undefined;
}): void {
  for (const option of ['partition', 'account', 'time'] as const) {
    const value = opts[option];
    if (value === undefined) continue;
    const c = checkSlurmValue(option, value);
    if (!c.ok) throw new MultinodeError('input.bad-slurm-value', c.message, { exitCode: EXIT.badInput });
  }
}
