/** How the CLI shows the Slurm target's jobs (`ps --target slurm`, `down --target slurm`). */
import { describeSlurmJob, slurmDown, slurmPs } from '../../app/slurm.js';
import { paint, printJson, table } from '../output.js';

export async function printSlurmPs(output: 'text' | 'json'): Promise<void> {
  const recs = await slurmPs();
  if (output === 'json') return printJson(recs);
  if (recs.length === 0) {
    console.log('no Slurm jobs submitted by multinode');
    return;
  }
  const rows = [['JOBID', 'SERVICE', 'STATE', 'NODES', 'SUBMITTED', 'DETAIL']];
  for (const r of recs)
    rows.push([
      r.jobId,
      r.service,
      r.state,
      r.nodeList ?? '-',
      r.submittedAt.replace('T', ' ').slice(0, 19),
      describeSlurmJob(r).split(' — ').slice(1).join(' — ') || '-',
    ]);
  console.log(table(rows));
}

export async function printSlurmDown(nameOrFile: string): Promise<void> {
  const cancelled = await slurmDown(nameOrFile);
  if (cancelled.length === 0) console.log(`no running Slurm job of ${nameOrFile}`);
  for (const r of cancelled) console.log(`${paint('green', 'cancelled')} ${r.service} (job ${r.jobId})`);
}
