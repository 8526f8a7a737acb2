import type { Command } from 'commander';
import { MultinodeError } from '../../api/issues.js';

export function registerCluster(program: Command): void {
  program
    .command('cluster')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new MultinodeError('not-implemented', '`multinode cluster` is not implemented yet');
    });
}
