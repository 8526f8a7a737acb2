import type { Command } from 'commander';
import { MultinodeError } from '../../api/issues.js';

export function registerDown(program: Command): void {
  program
    .command('down')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new MultinodeError('not-implemented', '`multinode down` is not implemented yet');
    });
}
