import type { Command } from 'commander';
import { MultinodeError } from '../../api/issues.js';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new MultinodeError('not-implemented', '`multinode plan` is not implemented yet');
    });
}
