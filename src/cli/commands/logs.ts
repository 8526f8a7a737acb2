import type { Command } from 'commander';
import { MultinodeError } from '../../api/issues.js';

export function registerLogs(program: Command): void {
  program
    .command('logs')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new MultinodeError('not-implemented', '`multinode logs` is not implemented yet');
    });
}
