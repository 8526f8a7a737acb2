import type { Command } from 'commander';
import { MultinodeError } from '../../api/issues.js';

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new MultinodeError('not-implemented', '`multinode schema` is not implemented yet');
    });
}
