/**
 * Ports of one placed service. Overlay: every declared port binds as declared inside the rank's namespace,
 * sshd is on 2222, `MASTER_PORT` is 29500 and `TF_CONFIG` ports are `MASTER_PORT` + rank; nothing is taken on
 * the node. A declared port named `tf` is the rank's `TF_CONFIG` port (its bound port, in both modes).
 * Host mode: declared/pinned ports bind as given (placement already checked they are free),
 * `auto` ports, the `TF_CONFIG` ports and any default that is in use are picked from the safe range; every
 * bound port is recorded on its node so later ranks and services never get it. A user `MASTER_PORT` (or,
 * with `env-compat: [backendai]`, `BACKENDAI_DIST_MASTER_PORT`) wins.
 */
import { COMPAT_ENV, DEFAULTS, DIST_ENV } from '../api/names.js';

/** A declared port of this name is the rank's TF_CONFIG port. */
export const TF_PORT_NAME = 'tf';
import type { PortAssignment } from '../api/plan.js';
import type { ServiceSpec } from '../api/spec.js';
import { isPortFree, pickFreePort } from './allocate.js';
import type { PortPicker } from './allocate.js';
import type { ClusterState } from './cluster-state.js';

export interface PortBinding {
  readonly rankPorts: readonly PortAssignment[][];
  readonly masterPort: number | undefined;
  readonly sshPorts: readonly number[];
  /** Empty for a one-rank service. */
  readonly tfPorts: readonly number[];
}

/** Node index and what could not get a port there. */
export interface PortFailure {
  readonly failure: { readonly node: number; readonly what: string };
}

export function bindPorts(
  cluster: ClusterState,
  picker: PortPicker,
  svc: ServiceSpec,
  nodes: readonly number[],
  userEnv: ReadonlyMap<string, string>,
): PortBinding | PortFailure {
  const n = nodes.length;
  const fail = (node: number, what: string): PortFailure => ({ failure: { node, what } });
  const rankPorts: PortAssignment[][] = [];
  for (let r = 0; r < n; r++) {
    const i = nodes[r] ?? 0;
    const list: PortAssignment[] = [];
    for (const p of svc.ports) {
      // Keys in canonical (sorted) order: see planSpec.
      if (!svc.hostNetwork) {
        list.push({ auto: false, hostPort: p.port, name: p.name, port: p.port, protocol: p.protocol });
        continue;
      }
      let hostPort: number;
      if (p.hostPort === 'auto') {
        const picked = pickFreePort(cluster, i, picker, `${svc.name}/${r}/port/${p.name}`);
        if (picked === undefined) return fail(i, `port ${p.name}`);
        hostPort = picked;
      } else hostPort = p.hostPort ?? p.port;
      cluster.takePort(i, hostPort);
      list.push({ auto: p.hostPort === 'auto', hostPort, name: p.name, port: p.port, protocol: p.protocol });
    }
    rankPorts.push(list);
  }

  let masterPort: number | undefined;
  if (n > 1) {
    const userMaster =
      userEnv.get(DIST_ENV.masterPort) ??
      (svc.envCompat.includes('backendai') ? userEnv.get(COMPAT_ENV.backendaiDistMasterPort) : undefined);
    const leaderNode = nodes[0] ?? 0;
    if (userMaster !== undefined) {
      masterPort = /^\d{1,5}$/.test(userMaster) ? Number(userMaster) : undefined;
    } else {
      masterPort = DEFAULTS.masterPort;
      if (svc.hostNetwork && !isPortFree(cluster, leaderNode, picker, masterPort)) {
        const picked = pickFreePort(cluster, leaderNode, picker, `${svc.name}/0/master`);
        if (picked === undefined) return fail(leaderNode, 'MASTER_PORT');
        masterPort = picked;
      }
    }
    if (svc.hostNetwork && masterPort !== undefined) cluster.takePort(leaderNode, masterPort);
  }

  const sshPorts: number[] = [];
  const tfPorts: number[] = [];
  for (let r = 0; r < n; r++) {
    const i = nodes[r] ?? 0;
    let ssh: number = DEFAULTS.sshPort;
    if (svc.hostNetwork) {
      if (!isPortFree(cluster, i, picker, ssh)) {
        const picked = pickFreePort(cluster, i, picker, `${svc.name}/${r}/ssh`);
        if (picked === undefined) return fail(i, 'sshd');
        ssh = picked;
      }
      cluster.takePort(i, ssh);
    }
    sshPorts.push(ssh);
    if (n > 1) {
      // A declared port named `tf` is the TF_CONFIG port (its bound port, as its Service maps it).
      const declared = rankPorts[r]?.find((p) => p.name === TF_PORT_NAME);
      if (declared) tfPorts.push(declared.hostPort);
      else if (svc.hostNetwork) {
        const picked = pickFreePort(cluster, i, picker, `${svc.name}/${r}/tf`);
        if (picked === undefined) return fail(i, 'TF_CONFIG');
        cluster.takePort(i, picked);
        tfPorts.push(picked);
      } else tfPorts.push((masterPort ?? DEFAULTS.masterPort) + r);
    }
  }
  return { rankPorts, masterPort, sshPorts, tfPorts };
}
