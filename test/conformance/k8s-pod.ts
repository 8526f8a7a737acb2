/**
 * The Kubernetes runner's pod: runs a rendered pod's real entrypoint shim (from the rendered ConfigMap)
 * with /bin/sh and lets it `exec` the rank's real command, as the container would. No API server, kubelet
 * or pod network can run here, so three things of the pod are stood in for, and only these: the Downward
 * API (pod IP, LWS worker index, JobSet completion index), `hostname` (answers the pod's name, as LWS names pods: leader `<lws>-0`,
 * worker r `<lws>-0-<r>`), and DNS (`getent hosts` answers for the per-rank headless Services the render
 * creates, nothing else). Ranks run one at a time; a scenario that needs pods to reach each other is listed
 * in the table as one this runner cannot run.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ManifestObject } from '../../src/targets/kubernetes/index.js';
import { SHIM_DIR } from '../../src/targets/kubernetes/index.js';
import { K8S_FILES_DIR } from '../../src/targets/kubernetes/options.js';
import { POD_IFACE, podIndexFor, podTemplateFor } from '../unit/helpers/k8s-plan-fixtures.js';

type Json = Record<string, unknown>;

export interface PodResult {
  readonly exitCode: number;
  readonly output: string;
}

/** Per-rank headless Service name → rank, from the rendered objects. */
export function rankServices(objects: readonly ManifestObject[]): Map<string, number> {
  const out = new Map<string, number>();
  // One replicated job per role: the role's first rank, by JobSet and job name.
  const roleFirst = new Map<string, number>();
  for (const o of objects) {
    if (o.kind !== 'JobSet') continue;
    let first = 0;
    for (const j of (o['spec'] as Json)['replicatedJobs'] as {
      name: string;
      template: { spec: { completions: number } };
    }[]) {
      roleFirst.set(`${o.metadata.name}/${j.name}`, first);
      first += j.template.spec.completions;
    }
  }
  for (const o of objects) {
    if (o.kind !== 'Service') continue;
    const spec = o['spec'] as Json;
    const sel = (spec['selector'] ?? {}) as Record<string, string>;
    if (spec['clusterIP'] !== 'None') continue;
    // LWS: the worker index is the rank. JobSet: completion index i of a replicated job is rank first + i, its
    // first rank the sum of the earlier jobs' completions (leader 0, worker 1; or one job per role).
    const lws = sel['leaderworkerset.sigs.k8s.io/worker-index'];
    const job = sel['jobset.sigs.k8s.io/replicatedjob-name'];
    const index = sel['batch.kubernetes.io/job-completion-index'];
    const first = roleFirst.get(`${sel['jobset.sigs.k8s.io/jobset-name'] ?? ''}/${job ?? ''}`);
    if (lws !== undefined) out.set(o.metadata.name, Number(lws));
    else if (first !== undefined && index !== undefined) out.set(o.metadata.name, first + Number(index));
    else if (job === 'leader') out.set(o.metadata.name, 0);
  }
  return out;
}

const podIp = (rank: number): string => `10.244.0.${rank + 10}`;

/** Runs rank `rank`'s pod of `workload` to its end; `runs` = whether its container runs the user's program. */
export function runPod(objects: readonly ManifestObject[], workload: string, rank: number): PodResult {
  const tmp = mkdtempSync(join(tmpdir(), 'mn-conf-pod-'));
  try {
    const shim = join(tmp, 'shim');
    const root = join(tmp, 'files');
    const bin = join(tmp, 'bin');
    mkdirSync(bin);
    const pod = podTemplateFor(objects, workload, rank)['spec'] as { containers: Json[]; volumes: Json[] };
    const container = pod.containers[0] ?? {};
    const vol = pod.volumes.find((v) => v['name'] === 'multinode') as
      { configMap: { name: string; items: { key: string; path: string }[] } } | undefined;
    if (!vol) throw new Error('no multinode volume');
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === vol.configMap.name);
    const data = (cm?.['data'] ?? {}) as Record<string, string>;
    const ip = podIp(rank);
    const route = join(tmp, 'route');
    const le = ip
      .split('.')
      .map((o) => Number(o).toString(16).padStart(2, '0').toUpperCase())
      .reverse()
      .join('');
    writeFileSync(
      route,
      'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n' +
        `${POD_IFACE}\t${le}\t00000000\t0001\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n`,
    );
    const relocate = (text: string): string =>
      text.split(SHIM_DIR).join(shim).split(K8S_FILES_DIR).join(root).split('/proc/net/route').join(route);
    for (const item of vol.configMap.items) {
      const p = join(shim, item.path);
      mkdirSync(dirname(p), { recursive: true });
      let text = data[item.key] ?? '';
      if (!item.key.startsWith('files.') && !item.key.startsWith('rank-')) text = relocate(text);
      // Commands chosen per rank in rank-env.sh (roles: one script per role) run plan files: relocate those.
      else if (item.key.startsWith('rank-'))
        text = text
          .split('\n')
          .map((l) => (/\bset -- '/.test(l) ? relocate(l) : l))
          .join('\n');
      writeFileSync(p, text, { mode: 0o755 });
    }
    const services = rankServices(objects);
    const answers = [...services].map(([name, r]) => `  ${name}) echo "${podIp(r)}   ${name}"; exit 0;;`);
    writeFileSync(
      join(bin, 'getent'),
      `#!/bin/sh\n[ "$1" = hosts ] || exit 2\ncase "$2" in\n${answers.join('\n')}\nesac\nexit 2\n`,
      { mode: 0o755 },
    );
    const podName = rank === 0 ? `${workload}-0` : `${workload}-0-${rank}`;
    writeFileSync(join(bin, 'hostname'), `#!/bin/sh\necho ${podName}\n`, { mode: 0o755 });
    const env: Record<string, string> = {};
    for (const e of container['env'] as Json[]) {
      const name = e['name'] as string;
      if (typeof e['value'] === 'string') env[name] = e['value'].replace(/\$\$/g, '$');
      const path = ((e['valueFrom'] as Json | undefined)?.['fieldRef'] as Json | undefined)?.['fieldPath'];
      if (path === 'status.podIP') env[name] = ip;
      else if (
        path === `metadata.annotations['batch.kubernetes.io/job-completion-index']` ||
        path === `metadata.labels['grove.io/podclique-pod-index']`
      )
        env[name] = String(podIndexFor(objects, workload, rank));
      else if (typeof path === 'string' && path.startsWith('metadata.labels[')) env[name] = String(rank);
    }
    env['PATH'] = `${bin}:${env['PATH'] ?? '/usr/bin:/bin'}`;
    const command = (container['command'] as string[]).map((c) => c.replace(/\$\$/g, '$'));
    const [sh, entry, ...args] = command;
    // `/bin/sh ENTRYPOINT ARGV…`, or (JobSet workers) `/bin/sh -c 'SCRIPT' NAME ARGV…` that execs it.
    const argv =
      sh === '/bin/sh' && entry === `${SHIM_DIR}/entrypoint.sh`
        ? [join(shim, 'entrypoint.sh'), ...args.map(relocate)]
        : sh === '/bin/sh' && entry === '-c' && args[0]?.includes(`${SHIM_DIR}/entrypoint.sh`) === true
          ? ['-c', relocate(args[0]), ...args.slice(1).map(relocate)]
          : undefined;
    if (!argv) throw new Error(`unexpected command ${command.join(' ')}`);
    const r = spawnSync('/bin/sh', argv, {
      env,
      cwd: tmp,
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { exitCode: r.status ?? -1, output: `${r.stdout}\n${r.stderr}` };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Whether rank `rank`'s container runs the user's program (not the worker's sshd of leader launch). */
export function runsProgram(objects: readonly ManifestObject[], workload: string, rank: number): boolean {
  const pod = podTemplateFor(objects, workload, rank)['spec'] as { containers: Json[] };
  const cmd = (pod.containers[0]?.['command'] ?? []) as string[];
  return !cmd.some((c) => c.endsWith('/sshd.sh'));
}
