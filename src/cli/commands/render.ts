import type { Command } from 'commander';
import { MultinodeError } from '../../api/issues.js';

export function registerRender(program: Command): void {
  program
    .command('render')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new MultinodeError('not-implemented', '`multinode render` is not implemented yet');
    });
}
