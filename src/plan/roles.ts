/**
 * Roles within a service and services that use each other (docs/guides/roles-and-dependencies.md). Pure.
 *
 * Ranks are numbered across roles in declaration order: the first role's members are ranks 0…n₀-1, the next
 * role's follow, so rank 0 (the leader: endpoints, readiness probe, `MASTER_ADDR`) is the first role's first
 * member. A role member's host name is `<service>-<role>-<i>` (i = its index within the role), the stable
 * name every target gives it. A role's backend command is planned as if the role were a service of its own
 * (its first member leads it) and then shifted onto the role's ranks.
 */
import type { Part, PortAssignment, RankCommand, RolePlan, UsePlan, Value } from '../api/plan.js';
import type { ResourceSpec, ServiceSpec, Spec } from '../api/spec.js';
import { ENV } from '../api/names.js';
import { val } from './resolve.js';

/** The roles of a service with their first ranks, or undefined for a service of identical ranks. */
export function rolePlans(svc: ServiceSpec): RolePlan[] | undefined {
  if (!svc.roles) return undefined;
  let first = 0;
  return svc.roles.map((r) => {
    const out: RolePlan = {
      first,
      name: r.name,
      nodes: r.nodes,
      ...(r.resource ? { resource: r.resource } : {}),
      restart: r.restart,
    };
    first += r.nodes;
    return out;
  });
}

/** What each member of a role needs: its own `resource`, else the service's. */
export function roleResource(
  svc: Pick<ServiceSpec, 'resource'>,
  role: { readonly resource?: ResourceSpec },
): ResourceSpec {
  return role.resource ?? svc.resource;
}

/** A run of consecutive ranks placed together, each rank needing `resource`. */
export interface PlacementGang {
  readonly first: number;
  readonly ranks: number;
  readonly resource: ResourceSpec;
  /** The role, when the service is placed role by role. */
  readonly role?: string;
}

/**
 * The gangs a service is placed as: the whole service at once, or — when a role declares its own
 * `resource` — one role after the other, each with what its members need. Roles are placed scarcest need
 * first (GPUs, fabric NICs, cores, memory; ties in declaration order), so a role that needs no GPU does not
 * take the GPU nodes another role needs; rank numbering stays in declaration order.
 */
export function placementGangs(svc: ServiceSpec): PlacementGang[] {
  if (!svc.roles?.some((r) => r.resource)) return [{ first: 0, ranks: svc.nodes, resource: svc.resource }];
  let first = 0;
  const gangs = svc.roles.map((r) => {
    const g = { first, ranks: r.nodes, resource: roleResource(svc, r), role: r.name };
    first += r.nodes;
    return g;
  });
  const key = (g: PlacementGang): number[] => [
    g.resource.gpus,
    g.resource.fabricNics.length,
    g.resource.cpuCores,
    g.resource.memoryBytes,
  ];
  return gangs
    .map((g, i) => ({ g, i, k: key(g) }))
    .sort((a, b) => {
      for (let j = 0; j < a.k.length; j++) {
        const d = (b.k[j] ?? 0) - (a.k[j] ?? 0);
        if (d !== 0) return d;
      }
      return a.i - b.i;
    })
    .map((x) => x.g);
}

/** The role rank `r` belongs to. */
export function roleAt(roles: readonly RolePlan[], r: number): RolePlan | undefined {
  return roles.find((x) => r >= x.first && r < x.first + x.nodes);
}

/** Host names of a service with roles: `<service>-<role>-<i>`. */
export function roleHostnames(service: string, roles: readonly RolePlan[]): string[] {
  return roles.flatMap((r) => Array.from({ length: r.nodes }, (_, i) => `${service}-${r.name}-${i}`));
}

/** The plan file holding a role's own script (`script.<role>`). */
export function roleScriptFile(role: string): string {
  return `script.${role}`;
}

/**
 * A command planned for a role as a service of its own (rank 0 = the role's first member), moved onto the
 * role's ranks: rank references shift by `first`, and the rank itself becomes the index within the role.
 */
export function shiftCommand(cmd: RankCommand, first: number): RankCommand {
  if (first === 0) return cmd;
  const shift = (p: Part): Part => {
    if (typeof p === 'string') return p;
    if ('host' in p && typeof p.host === 'number') return { host: p.host + first };
    if ('addr' in p && typeof p.addr === 'number') return { addr: p.addr + first };
    if ('port' in p && typeof p.of === 'number') return { of: p.of + first, port: p.port };
    if ('rank' in p) return { from: first, index: 'self' };
    return p;
  };
  return { argv: cmd.argv.map((a) => a.map(shift)), kind: cmd.kind };
}

/** A role member binds only the ports its role names (all when the role names none). */
export function rolePorts(
  ports: readonly PortAssignment[],
  names: readonly string[] | undefined,
): readonly PortAssignment[] {
  return names ? ports.filter((p) => names.includes(p.name)) : ports;
}

/**
 * Services in the order they are planned and started: every service after the services it uses, otherwise
 * in file order (a file without `uses` keeps its order exactly). The spec layer rejects cycles; a cycle that
 * reaches here is broken at file order.
 */
export function startOrder<
  T extends { readonly name: string; readonly uses?: readonly { readonly service: string }[] },
>(services: readonly T[]): T[] {
  const byName = new Map(services.map((s) => [s.name, s]));
  const done = new Set<string>();
  const open = new Set<string>();
  const out: T[] = [];
  const visit = (s: T): void => {
    if (done.has(s.name) || open.has(s.name)) return;
    open.add(s.name);
    for (const u of s.uses ?? []) {
      const dep = byName.get(u.service);
      if (dep) visit(dep);
    }
    open.delete(s.name);
    done.add(s.name);
    out.push(s);
  };
  for (const s of services) visit(s);
  return out;
}

/** `MULTINODE_USES_<SERVICE>` (upper-cased, anything but A–Z 0–9 → `_`). */
export function usesEnvPrefix(service: string): string {
  return `${ENV.usesPrefix}${service.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_`;
}

/** What a used service offers: its leader's host name, the address to reach it at, its bound ports. */
export interface UsedService {
  readonly name: string;
  readonly leaderHost: string;
  /** The leader's address as this target names it (literal locally; a DNS name elsewhere). */
  readonly leaderAddr: string;
  readonly ports: readonly PortAssignment[];
}

/** The `uses` plan entries and the `MULTINODE_USES_*` variables of a service. */
export function usesFor(
  svc: Pick<ServiceSpec, 'uses'>,
  used: ReadonlyMap<string, UsedService>,
): { uses: UsePlan[]; env: Record<string, Value> } | undefined {
  if (!svc.uses) return undefined;
  const uses: UsePlan[] = [];
  const env: Record<string, Value> = {};
  for (const u of svc.uses) {
    const s = used.get(u.service);
    if (!s) continue;
    const ports = s.ports
      .filter((p) => u.ports === undefined || u.ports.includes(p.name))
      .map((p) => ({ name: p.name, port: p.hostPort, protocol: p.protocol }));
    uses.push({ ports, service: u.service });
    const pre = usesEnvPrefix(u.service);
    env[`${pre}HOST`] = val(s.leaderHost);
    env[`${pre}ADDR`] = val(s.leaderAddr);
    for (const p of ports)
      env[`${pre}PORT_${p.name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] = val(String(p.port));
  }
  return { uses, env };
}

/** The services of a spec in start order (see `startOrder`). */
export function specStartOrder(spec: Pick<Spec, 'services'>): ServiceSpec[] {
  return startOrder(spec.services);
}
