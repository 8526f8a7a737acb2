/**
 * Generates README.md from docs/README.template.md: inlines `<!-- include: docs/x.md -->` files (a missing
 * file becomes nothing) and replaces `<!-- cli-reference -->` with every command's `--help`.
 * `--check` exits 1 when README.md is out of date (the unit suite runs it).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { buildProgram } from '../src/cli/main.js';

function helpOf(cmd: Command): string {
  cmd.configureHelp({ helpWidth: 110 }); // fixed width: the output must not depend on the terminal
  return cmd.helpInformation().trimEnd();
}

/** Included files are sections of the README: their headings move one level down (outside code fences). */
function demoteHeadings(markdown: string): string {
  let fenced = false;
  return markdown
    .split('\n')
    .map((line) => {
      if (line.startsWith('```')) fenced = !fenced;
      return !fenced && /^#{1,5} /.test(line) ? `#${line}` : line;
    })
    .join('\n');
}

export async function generateReadme(): Promise<string> {
  const template = readFileSync('docs/README.template.md', 'utf8');
  const program = await buildProgram();
  const blocks = [
    helpOf(program),
    ...program.commands.map((c) => helpOf(c)),
    ...program.commands.flatMap((c) => c.commands.map((s) => helpOf(s))),
  ];
  const cli = blocks.map((b) => '```text\n' + b + '\n```').join('\n\n');
  const out = template
    .replace(/<!-- include: (\S+) -->/g, (_m, path: string) =>
      existsSync(path) ? demoteHeadings(readFileSync(path, 'utf8').trim()) : '',
    )
    .replace('<!-- cli-reference -->', cli)
    .replace(/\n{3,}/g, '\n\n');
  return `<!-- Generated from docs/README.template.md by scripts/gen-readme.ts; edit those, not this file. -->\n${out.trimEnd()}\n`;
}

const readme = await generateReadme();
if (process.argv.includes('--check')) {
  const current = existsSync('README.md') ? readFileSync('README.md', 'utf8') : '';
  if (current !== readme) {
    console.error('README.md is out of date: run `node --import tsx scripts/gen-readme.ts`');
    process.exit(1);
  }
} else {
  writeFileSync('README.md', readme);
}
