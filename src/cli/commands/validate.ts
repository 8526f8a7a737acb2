import type { Command } from 'commander';
import { MultinodeError } from '../../api/issues.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new MultinodeError('not-implemented', '`multinode validate` is not implemented yet');
    });
}
