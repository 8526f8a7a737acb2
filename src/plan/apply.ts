/**
 * `applyPlanToInventory(inventory, plan)`: the inventory as it is after the plan's services are placed —
 * their cores, memory, GPUs, NICs and host ports taken, and their subnets and VXLAN ids recorded — so the
 * next plan sees them. Pure; the runtime records the result as its live inventory.
 */
import type { Inventory, InventoryNode, TakenResources } from '../api/inventory.js';
import type { Plan } from '../api/plan.js';

export function applyPlanToInventory(inventory: Inventory, plan: Plan): Inventory {
  const adds = new Map<
    string,
    {
      cpus: number[];
      mem: number;
      gpus: number[];
      nics: string[];
      ports: number[];
      services: Set<string>;
      exclusive: boolean;
    }
  >();
  for (const svc of plan.services) {
    for (const r of svc.ranks) {
      let a = adds.get(r.node);
      if (!a) {
        a = { cpus: [], mem: 0, gpus: [], nics: [], ports: [], services: new Set(), exclusive: false };
        adds.set(r.node, a);
      }
      a.cpus.push(...r.cpus);
      a.mem += r.memoryBytes;
      a.gpus.push(...r.gpus);
      a.nics.push(...r.fabricNics.map((f) => f.device));
      if (svc.network.mode === 'host') {
        a.ports.push(...r.ports.map((p) => p.hostPort), r.sshPort);
        if (r.tfPort !== undefined && !a.ports.includes(r.tfPort)) a.ports.push(r.tfPort);
        if (r.rank === 0 && svc.masterPort !== undefined) a.ports.push(svc.masterPort);
      }
      a.services.add(svc.name);
      if (svc.exclusive === true) a.exclusive = true;
    }
  }
  const uniq = <T extends number | string>(xs: readonly T[]): T[] =>
    [...new Set(xs)].sort((x, y) =>
      typeof x === 'number' && typeof y === 'number' ? x - y : String(x) < String(y) ? -1 : 1,
    );
  const nodes: InventoryNode[] = inventory.nodes.map((node) => {
    const a = adds.get(node.name);
    if (!a) return node;
    const t = node.taken;
    const taken: TakenResources = {
      cpus: uniq([...t.cpus, ...a.cpus]),
      memoryBytes: t.memoryBytes + a.mem,
      gpus: uniq([...t.gpus, ...a.gpus]),
      fabricNics: uniq([...t.fabricNics, ...a.nics]),
      ports: uniq([...t.ports, ...a.ports]),
      services: uniq([...t.services, ...a.services]),
      ...(t.exclusive === true || a.exclusive ? { exclusive: true } : {}),
    };
    return { ...node, taken };
  });
  const services = [
    ...inventory.services,
    ...plan.services.map((s) => ({
      name: s.name,
      ...(s.network.mode === 'overlay' ? { subnet: s.network.subnet } : {}),
      ...(s.network.vni === undefined ? {} : { vni: s.network.vni }),
    })),
  ];
  return { ...inventory, nodes, services };
}
