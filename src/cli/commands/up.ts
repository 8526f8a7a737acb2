import type { Command } from 'commander';
import { MultinodeError } from '../../api/issues.js';

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new MultinodeError('not-implemented', '`multinode up` is not implemented yet');
    });
}
