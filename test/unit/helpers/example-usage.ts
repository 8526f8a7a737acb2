/**
 * The usage an example documents in its header comment, as data: each `#   [sudo] ./multinode ARGS…` or
 * `#   curl -s URL` line is a command a user is told to run, and each `#     prints: TEXT` line under it is
 * text that command's output must contain. The examples tests run exactly these commands.
 */
import { readFileSync } from 'node:fs';

export interface UsageStep {
  readonly kind: 'multinode' | 'curl';
  /** Arguments after `./multinode`, or the URL for curl. */
  readonly args: readonly string[];
  readonly prints: readonly string[];
}

export function exampleUsage(path: string): UsageStep[] {
  const steps: { kind: UsageStep['kind']; args: string[]; prints: string[] }[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.startsWith('#')) break;
    const prints = /^#\s+prints: (.+)$/.exec(line);
    if (prints?.[1] !== undefined) {
      const last = steps.at(-1);
      if (last === undefined) throw new Error(`${path}: "prints:" before any command`);
      last.prints.push(prints[1]);
      continue;
    }
    const cmd = /^#\s+(?:sudo )?\.\/multinode ([^(]+?)\s*(?:\(.*\))?$/.exec(line);
    if (cmd?.[1] !== undefined) {
      steps.push({ kind: 'multinode', args: cmd[1].split(/\s+/), prints: [] });
      continue;
    }
    const curl = /^#\s+curl -s (\S+)$/.exec(line);
    if (curl?.[1] !== undefined) steps.push({ kind: 'curl', args: [curl[1]], prints: [] });
  }
  return steps;
}

/** Whether the example is run on the emulated cluster (needs root) or only planned and rendered. */
export function runsLocally(steps: readonly UsageStep[]): boolean {
  return steps.some((s) => s.kind === 'multinode' && s.args[0] === 'up');
}
