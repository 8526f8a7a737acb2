import type { Command } from 'commander';
import { MultinodeError } from '../../api/issues.js';

export function registerExec(program: Command): void {
  program
    .command('exec')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new MultinodeError('not-implemented', '`multinode exec` is not implemented yet');
    });
}
