/**
 * Writes docs/reference/environment.md — the one table of every variable a rank sees — from `ENV_DOCS` in
 * src/api/names.ts. `--check` exits 1 when the file is out of date (a unit test checks it too).
 *
 *   node --import tsx scripts/gen-env-table.ts [--check]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ENV_DOCS, NEVER_PRESET } from '../src/api/names.js';
import type { EnvFamily } from '../src/api/names.js';

export const ENV_DOC_PATH = 'docs/reference/environment.md';

const FAMILY_TITLES: Readonly<Record<EnvFamily, string>> = {
  multinode: 'Ours (always set)',
  distributed: 'Distributed frameworks (more than one rank)',
  ompi: 'Open MPI (`implementation: ompi` / `openmpi`)',
  mpich: 'MPICH (`implementation: mpich`)',
  gasnet: 'GASNet (`implementation: gasnet`)',
  backend: 'Backends',
  slurm: 'Slurm compatibility (`env-compat: [slurm]`)',
  skypilot: 'SkyPilot compatibility (`env-compat: [skypilot]`)',
  lws: 'LeaderWorkerSet compatibility (`env-compat: [lws]`)',
  volcano: 'Volcano compatibility (`env-compat: [volcano]`)',
  backendai: 'Backend.AI compatibility (`env-compat: [backendai]`)',
  dstack: 'dstack compatibility (`env-compat: [dstack]`)',
};

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function generateEnvironmentDoc(): string {
  const lines: string[] = [
    '<!-- Generated from ENV_DOCS in src/api/names.ts by scripts/gen-env-table.ts; edit those, not this file. -->',
    '# The rank environment',
    '',
    'Every variable a rank sees is computed by the planner (`src/plan/env.ts`) and recorded in the plan',
    '(`multinode plan FILE --env` prints them per rank). Rules:',
    '',
    '- **A value you set in `env` always wins**, for every family below (later duplicates in `env` win over',
    '  earlier ones).',
    `- ${NEVER_PRESET.map((n) => `\`${n}\``).join(', ')} are never preset: launchers such as torchrun set them per`,
    '  process, and presetting them breaks multi-GPU nodes.',
    '- `MASTER_ADDR`, `MASTER_PORT` and `TF_CONFIG` are set only when the service has more than one rank.',
    '- The implementation family follows `multinode.implementation`; `generic` adds only our variables and the',
    '  SSH wrapper. Compatibility families are emitted only when `env-compat` lists them, so scripts written',
    '  for Slurm, SkyPilot, LeaderWorkerSet, Volcano or Backend.AI run unchanged.',
    '- `backend: trtllm` also sets `OMPI_MCA_orte_keep_fqdn_hostnames=1` on every rank.',
    '',
  ];
  const families = [...new Set(ENV_DOCS.map((d) => d.family))];
  for (const family of families) {
    lines.push(
      `## ${FAMILY_TITLES[family]}`,
      '',
      '| Variable | When | Meaning | Example |',
      '|---|---|---|---|',
    );
    for (const d of ENV_DOCS.filter((x) => x.family === family)) {
      const example = d.example === '' ? '(empty)' : `\`${cell(d.example)}\``;
      lines.push(`| \`${cell(d.name)}\` | ${cell(d.when)} | ${cell(d.meaning)} | ${example} |`);
    }
    lines.push('');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

if (/gen-env-table\.ts$/.test(process.argv[1] ?? '')) {
  const doc = generateEnvironmentDoc();
  if (process.argv.includes('--check')) {
    const current = existsSync(ENV_DOC_PATH) ? readFileSync(ENV_DOC_PATH, 'utf8') : '';
    if (current !== doc) {
      console.error(`${ENV_DOC_PATH} is out of date: run \`node --import tsx scripts/gen-env-table.ts\``);
      process.exit(1);
    }
  } else {
    writeFileSync(ENV_DOC_PATH, doc);
    console.log(`wrote ${ENV_DOC_PATH} (${ENV_DOCS.length} variables)`);
  }
}
