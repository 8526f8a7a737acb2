/**
 * Services that use each other under Slurm (docs/guides/roles-and-dependencies.md). Pure: lines for the
 * job scripts and the submission environment.
 *
 * Slurm knows no readiness and picks the nodes at run time, so:
 * - a service that another one uses **publishes** its leader once it is ready: a background loop in its
 *   batch script (on the batch host, rank 0's node) waits for the readiness probe's port to accept a TCP
 *   connection (none: at once), then writes `HOST=`, `ADDR=` and `PORT_<NAME>=` lines (rank 0's node name,
 *   its address, the declared ports) to `<uses dir>/<job id>.env`, atomically; the file goes when the job
 *   ends;
 * - a using service is submitted with `--dependency=after:<job id>` of each used job (it is not even
 *   scheduled before they start), and its batch script waits for each published file — failing when a used
 *   job ends without one — then exports `MULTINODE_USES_<SVC>_HOST/_ADDR/_PORT_<NAME>` for the ports the use
 *   names (each line checked: a known key, a value of name characters only). The rank program keeps these
 *   over the plan's placeholders (the plan names the leader symbolically: Slurm had not placed it).
 * The uses directory must be one both batch hosts see: `$MULTINODE_SLURM_USES_DIR` (multinode sets it to a
 * directory next to its job records), else `$HOME/.multinode/slurm-uses` (home directories are usually
 * shared on a Slurm cluster). Job ids are unique per controller, so a file is never a stale one.
 * There is no network fence on Slurm: jobs share the nodes' network, so every port of a used leader is
 * reachable (as any process on the cluster's network is).
 */
import type { Plan, ServicePlan } from '../../api/plan.js';
import { ENV } from '../../api/names.js';
import { usesEnvPrefix } from '../../plan/index.js';

/** The environment variable naming the shared uses directory at run time. */
export const USES_DIR_ENV = 'MULTINODE_SLURM_USES_DIR';

/** The environment variable carrying the job id of a used service (set at submission). */
export function usesJobEnv(service: string): string {
  return `MULTINODE_SLURM_USES_JOB_${service.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

const portKey = (name: string): string => `PORT_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;

const DIR_LINE = `mn_uses_dir=\${${USES_DIR_ENV}:-$HOME/.multinode/slurm-uses}`;

/** Whether any service of the plan uses `svc`. */
export function isUsed(plan: Plan, svc: ServicePlan): boolean {
  return plan.services.some((s) => (s.uses ?? []).some((u) => u.service === svc.name));
}

/**
 * Batch-script lines before the ranks start: wait for the used services' published leaders (a using
 * service), and start publishing this one's (a used service).
 */
export function usesBatchLines(plan: Plan, svc: ServicePlan): string[] {
  const out: string[] = [];
  const uses = svc.uses ?? [];
  if (uses.length > 0 || isUsed(plan, svc))
    out.push('', '# Services that use each other (uses.ts).', DIR_LINE);
  if (uses.length > 0) {
    out.push('unset SBATCH_DEPENDENCY');
    for (const u of uses) {
      const idVar = usesJobEnv(u.service);
      const keys = ['HOST', 'ADDR', ...u.ports.map((p) => portKey(p.name))];
      const pre = usesEnvPrefix(u.service);
      out.push(
        `mn_id=\${${idVar}:-}`,
        `if [ -z "$mn_id" ]; then echo "multinode: ${u.service} is used but its job id is not known (${idVar}); submit with multinode up --target slurm" >&2; exit 1; fi`,
        `echo "multinode: waiting for ${u.service} (job $mn_id) to be ready"`,
        'until [ -f "$mn_uses_dir/$mn_id.env" ]; do',
        '  if ! scontrol -o show job "$mn_id" 2>/dev/null | grep -Eq "JobState=(PENDING|CONFIGURING|RUNNING)"; then',
        `    echo "multinode: ${u.service} (job $mn_id) ended without becoming ready" >&2`,
        '    exit 1',
        '  fi',
        '  sleep 1',
        'done',
        'while IFS== read -r mn_k mn_v; do',
        `  case $mn_k in ${keys.join('|')}) ;; *) continue ;; esac`,
        '  [[ $mn_v =~ ^[A-Za-z0-9._:-]+$ ]] || continue',
        `  export "${pre}$mn_k=$mn_v"`,
        'done < "$mn_uses_dir/$mn_id.env"',
        `echo "multinode: ${u.service} is ready at \${${pre}ADDR:-?}"`,
      );
    }
  }
  if (isUsed(plan, svc)) {
    const leader = svc.ranks[0];
    const probePort = svc.probe?.action.port;
    const bound = leader?.ports.find((p) => p.port === probePort)?.hostPort ?? probePort;
    const lines = ['printf \'HOST=%s\\nADDR=%s\\n\' "${MN_H[0]}" "${MN_A[0]}"'];
    for (const p of leader?.ports ?? []) lines.push(`printf '%s\\n' '${portKey(p.name)}=${p.hostPort}'`);
    out.push(
      'mkdir -p -m 700 "$mn_uses_dir" || exit 1',
      'mn_uses_file="$mn_uses_dir/$SLURM_JOB_ID.env"',
      '(',
      ...(bound === undefined
        ? []
        : [`  until (exec 3<>"/dev/tcp/\${MN_A[0]}/${bound}") 2>/dev/null; do sleep 0.5; done`]),
      `  { ${lines.join('; ')}; } > "$mn_uses_file.tmp" && mv -f "$mn_uses_file.tmp" "$mn_uses_file"`,
      ') &',
      'mn_uses_pub=$!',
      '# Not a job `wait` waits for (a leader that never gets ready must not hold the job).',
      'disown "$mn_uses_pub"',
    );
  }
  return out;
}

/** Batch-script lines after the ranks ended: stop publishing and remove the published file. */
export function usesEndLines(plan: Plan, svc: ServicePlan): string[] {
  if (!isUsed(plan, svc)) return [];
  return ['kill "$mn_uses_pub" 2>/dev/null', 'rm -f "$mn_uses_file" "$mn_uses_file.tmp"'];
}

/**
 * A rank program's export of a plan variable: a `MULTINODE_USES_*` one keeps what the batch script
 * exported from the published file.
 */
export function keepPublished(key: string, line: string): string {
  return key.startsWith(ENV.usesPrefix) ? `[ -n "\${${key}+x}" ] || ${line}` : line;
}

/** The submission environment of a job: the uses directory, and for a using job its dependencies. */
export function usesSubmitEnv(
  svc: ServicePlan,
  jobIds: ReadonlyMap<string, string>,
  dir: string,
): Record<string, string> {
  const env: Record<string, string> = { [USES_DIR_ENV]: dir };
  const ids: string[] = [];
  for (const u of svc.uses ?? []) {
    const id = jobIds.get(u.service);
    if (id === undefined) continue;
    env[usesJobEnv(u.service)] = id;
    ids.push(id);
  }
  if (ids.length > 0) env['SBATCH_DEPENDENCY'] = `after:${ids.join(':')}`;
  return env;
}
