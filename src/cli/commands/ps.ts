import type { Command } from 'commander';
import { MultinodeError } from '../../api/issues.js';

export function registerPs(program: Command): void {
  program
    .command('ps')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new MultinodeError('not-implemented', '`multinode ps` is not implemented yet');
    });
}
