/**
 * The plan of a spec file before anything runs, for the dashboard's plan page: placement, addresses, ports
 * and every rank's environment, planned for the local target against an emulated inventory sized for the
 * spec (what `multinode plan FILE` shows).
 */
import type { Issue } from '../../api/issues.js';
import { MultinodeError } from '../../api/issues.js';
import {
  compressCpuList,
  generateInventoryForSpec,
  localLeaves,
  resolveArgv,
  resolveRankEnv,
} from '../../plan/index.js';
import { localTarget } from '../../targets/local/target.js';
import { readSpecFile } from '../input.js';
import { planFor } from '../plan-for.js';
import type { DashPlan, DashPlanError } from './wire.js';

function where(i: Issue): string {
  return i.pos ? `${i.pos.file}:${i.pos.line}:${i.pos.col} ${i.path}` : i.path;
}

/** The plan of `file`, or why there is none (never throws for bad input). */
export function planView(file: string): DashPlan | DashPlanError {
  try {
    const { spec, warnings } = readSpecFile(file);
    const inventory = generateInventoryForSpec(spec);
    const planned = planFor(localTarget, spec, { inventory });
    const plan = planned.plan;
    return {
      file,
      hash: plan.hash,
      inventory: {
        name: inventory.name,
        nodes: inventory.nodes.map((n) => ({
          name: n.name,
          address: n.address,
          cores: n.numa.reduce((a, d) => a + d.cpus.length, 0),
          memoryBytes: n.memoryBytes,
          gpus: n.gpus.length,
          fabric: n.fabricNics.map((x) => ({ name: x.name, address: (x.address ?? '').split('/')[0] ?? '' })),
        })),
      },
      services: plan.services.map((svc) => {
        const leaves = localLeaves(svc);
        return {
          name: svc.name,
          implementation: svc.implementation,
          launch: svc.launch,
          network: svc.network,
          ranks: svc.ranks.map((r) => ({
            rank: r.rank,
            role: r.role,
            node: r.node,
            hostname: r.hostname,
            address: r.address,
            cpus: r.cpus.length === 0 ? '-' : compressCpuList(r.cpus),
            memoryBytes: r.memoryBytes,
            gpus: r.gpus,
            fabric: r.fabricNics.map((n) => ({
              name: n.device,
              address: (n.address ?? '').split('/')[0] ?? '',
            })),
            ports: r.ports.map((p) => ({ name: p.name, port: p.port, hostPort: p.hostPort })),
            command:
              r.command.kind === 'wait'
                ? 'wait (reachable over $MULTINODE_SSH_WRAPPER / MPI)'
                : `${r.command.kind}: ${resolveArgv(svc, r.rank, leaves).join(' ')}`,
            env: resolveRankEnv(svc, r.rank, leaves),
          })),
          endpoints: svc.endpoints.map((e) => ({
            name: e.name,
            protocol: e.protocol,
            port: e.port,
            targetAddress: e.targetAddress,
            targetPort: e.targetPort,
          })),
        };
      }),
      warnings: [...warnings, ...planned.warnings].map((w) => `${where(w)}: ${w.message}`),
    };
  } catch (e) {
    if (e instanceof MultinodeError)
      return {
        file,
        error: e.message,
        issues: e.issues.map((i) => ({ where: where(i), message: i.message })),
      };
    throw e;
  }
}
