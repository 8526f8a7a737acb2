/** `multinode schema`: print the spec's JSON Schema (draft 2020-12), generated from the zod schema. */
import type { Command } from 'commander';
import { printJson } from '../output.js';

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description("Print the spec's JSON Schema (draft 2020-12), e.g. for editor completion.")
    .action(async () => {
      const { specJsonSchema } = await import('../../spec/schema.js');
      printJson(specJsonSchema());
    });
}
