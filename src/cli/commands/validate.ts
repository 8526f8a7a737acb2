/** `multinode validate FILE…`: parse and check spec files; exit 0 when valid (warnings allowed), 2 when not. */
import type { Command } from 'commander';
import { EXIT, MultinodeError } from '../../api/issues.js';
import type { Issue } from '../../api/issues.js';
import { paint, printIssues, printJson, readInputText } from '../output.js';

interface ValidateOptions {
  output: 'human' | 'json';
}

interface FileReport {
  file: string;
  valid: boolean;
  issues: readonly Issue[];
  /** Why the file could not be read (it is then invalid, and the other files are still checked). */
  error?: string;
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('Check spec files: YAML, schema, and semantic rules. Exit 0 when valid, 2 when not.')
    .argument('<files...>', 'spec files (`-` reads standard input)')
    .option('-o, --output <format>', 'human or json', 'human')
    .action(async (files: string[], opts: ValidateOptions) => {
      if (opts.output !== 'human' && opts.output !== 'json') {
        throw new MultinodeError(
          'cli.bad-option',
          `--output must be human or json, got "${String(opts.output)}"`,
          {
            exitCode: EXIT.badInput,
          },
        );
      }
      // Loaded on demand so that other commands (and --help) do not pay for the spec layer.
      const { parseSpec } = await import('../../spec/index.js');
      const reports: FileReport[] = files.map((arg) => {
        const file = arg === '-' ? '<stdin>' : arg;
        let text: string;
        try {
          text = readInputText(arg, 'spec');
        } catch (e) {
          if (!(e instanceof MultinodeError)) throw e;
          return { file, valid: false, issues: [], error: e.message };
        }
        const result = parseSpec(text, file);
        return result.ok
          ? { file, valid: true, issues: result.warnings }
          : { file, valid: false, issues: result.issues };
      });
      const invalid = reports.filter((r) => !r.valid);
      if (opts.output === 'json') {
        printJson({ valid: invalid.length === 0, files: reports });
      } else {
        for (const r of reports) {
          if (r.error !== undefined) {
            process.stderr.write(`multinode: ${r.error}\n`);
            process.stdout.write(`${paint('red', 'invalid', process.stdout)}: ${r.file} (unreadable)\n`);
            continue;
          }
          printIssues(r.issues);
          const warnings = r.issues.filter((i) => i.severity === 'warning').length;
          const errors = r.issues.length - warnings;
          const counts = [
            errors > 0 ? `${errors} error${errors === 1 ? '' : 's'}` : '',
            warnings > 0 ? `${warnings} warning${warnings === 1 ? '' : 's'}` : '',
          ]
            .filter(Boolean)
            .join(', ');
          const line = r.valid
            ? `${paint('green', 'valid', process.stdout)}: ${r.file}${counts ? ` (${counts})` : ''}`
            : `${paint('red', 'invalid', process.stdout)}: ${r.file} (${counts})`;
          process.stdout.write(`${line}\n`);
        }
      }
      if (invalid.length > 0) {
        throw new MultinodeError(
          'spec.invalid',
          `${invalid.length} of ${reports.length} file${reports.length === 1 ? '' : 's'} invalid`,
          { exitCode: EXIT.badInput },
        );
      }
    });
}
