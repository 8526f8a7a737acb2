/**
 * The Kubernetes target's answers for the symbolic plan. Three forms:
 *
 * - container env (`literal`): values with nothing a pod must find out — text, the per-rank headless Service
 *   name of a numbered rank (`host r` → `<service>-<r>`), a numbered rank's planned port, a file path, the
 *   rank's GPUs as the container numbers them (`0…g-1`; the device plugin exposes only the pod's GPUs).
 * - file templates (`fileText`): the same, with a rank's address as `@@MULTINODE_ADDR_<r>@@` and the cluster
 *   network as `@@MULTINODE_IFACE@@`, which `entrypoint.sh` fills in.
 * - shell words (`word`) for `rank-env.sh`, ONE script per service sourced by every pod: `self` is the pod's
 *   rank (`$mn_rank`, from the Downward API), `addr r` is `$MN_ADDR_<r>` (the pod's own IP, or DNS of the
 *   rank's Service), `iface` is `$MN_IFACE` (the pod interface carrying the pod IP), a port that differs
 *   between ranks is picked from a list by rank, a list is a variable built once (statically when it names
 *   no address, else by a loop at run time).
 */
import type { ListPlan, Part, RankPlan, ServicePlan, Value } from '../../api/plan.js';
import { SSH_WRAPPER_FILE } from '../../api/plan.js';
import type { Leaves } from '../../plan/index.js';
import { resolveList, resolveValue } from '../../plan/index.js';
import { listMembers, rankPort } from '../../plan/resolve.js';
import { singleQuote } from '../../lib/shell.js';
import { ADDR_VAR, addrPlaceholder, IFACE_PLACEHOLDER } from './scripts.js';

/** The run-time variable of the pod's own rank in `rank-env.sh`. */
export const SELF_VAR = 'mn_rank';

function token(name: string): string {
  return name.replace(/[^A-Za-z0-9_]/g, '_');
}

/** Whether a part needs the pod to find something out (its rank, an address, its interface, a varying port). */
function isRuntime(p: Exclude<Part, string>, uniformPort: (name: string) => boolean): boolean {
  if ('host' in p) return p.host === 'self';
  if ('addr' in p || 'iface' in p || 'rank' in p || 'index' in p || 'list' in p) return true;
  if ('port' in p) return p.of === 'self' && !uniformPort(p.port);
  return false; // file, gpus
}

export class KubernetesValues {
  /** Numbered ranks whose address some value or file names (`MN_ADDR_<r>` must be set). */
  readonly addrRanks = new Set<number>();
  private readonly lists = new Map<string, string>();
  private readonly listOrder: string[] = [];
  private readonly ports = new Set<string>();
  private readonly files: Map<string, string>;
  private readonly fileLeaves: Leaves<number>;
  private readonly shellLeaves: Leaves<string>;

  constructor(
    private readonly svc: ServicePlan,
    private readonly gpusInPod: string,
  ) {
    this.files = new Map(svc.files.map((f) => [f.name, f.path]));
    this.files.set(SSH_WRAPPER_FILE, svc.sshWrapperPath);
    const rank = (r: number): RankPlan | undefined => svc.ranks[r];
    const host = (r: number): string => rank(r)?.hostname ?? `${svc.name}-${r}`;
    this.fileLeaves = {
      text: (s) => s,
      host,
      addr: (r) => {
        this.addrRanks.add(r);
        return addrPlaceholder(r);
      },
      port: (name, r) => String(rankPort(rank(r), name) ?? ''),
      rank: (r) => String(r),
      index: (r, from) => String(r - from),
      gpus: () => this.gpusInPod,
      iface: () => IFACE_PLACEHOLDER,
      file: (name) => this.files.get(name) ?? '',
      list: (name) => {
        const l = svc.lists[name];
        return l ? resolveList(l, listMembers(l, svc.ranks.length), this.fileLeaves) : '';
      },
    };
    const quote = (s: string): string => (s === '' ? '' : singleQuote(s));
    this.shellLeaves = {
      text: quote,
      host: (r) =>
        typeof r === 'number'
          ? quote(host(r))
          : svc.roles
            ? // Role members are named `<service>-<role>-<i>`: picked by rank from the list of names.
              `"$(mn_nth "$${r}" ${svc.ranks.map((x) => x.hostname).join(' ')})"`
            : `${quote(`${svc.name}-`)}"$${r}"`,
      addr: (r) => {
        if (typeof r !== 'number') return `"$(mn_addr "$${r}")"`;
        this.addrRanks.add(r);
        return `"$${ADDR_VAR}${r}"`;
      },
      port: (name, r) => {
        if (typeof r === 'number' || this.uniformPort(name))
          return quote(String(rankPort(rank(typeof r === 'number' ? r : 0), name) ?? ''));
        this.ports.add(name);
        return `"$(mn_nth "$${r}" $MN_P_${token(name)})"`;
      },
      rank: (self) => `"$${self}"`,
      index: (self, from) => `"$((${self} ${from < 0 ? `+ ${-from}` : `- ${from}`}))"`,
      gpus: () => quote(this.gpusInPod),
      iface: () => '"$MN_IFACE"',
      file: (name) => quote(this.files.get(name) ?? ''),
      list: (name) => {
        if (!this.lists.has(name)) {
          this.lists.set(name, `MN_L_${token(name)}`);
          this.listOrder.push(name);
        }
        return `"$${this.lists.get(name) ?? ''}"`;
      },
    };
  }

  uniformPort(name: string): boolean {
    const first = rankPort(this.svc.ranks[0], name);
    return this.svc.ranks.every((r) => rankPort(r, name) === first);
  }

  /** Whether a value can go into the container spec as it is (same text in every pod of the service). */
  isStatic(value: Value): boolean {
    return value.every((p) => typeof p === 'string' || !isRuntime(p, (n) => this.uniformPort(n)));
  }

  /** Text of a static value (see `isStatic`). */
  literal(value: Value): string {
    return resolveValue(value, 0, this.fileLeaves);
  }

  /** A service file as its ConfigMap template (addresses and the interface as placeholders). */
  fileText(value: Value): string {
    return resolveValue(value, 0, this.fileLeaves);
  }

  /**
   * A value as one shell word for `rank-env.sh` (`self` = the pod's rank). `gpusInPod` replaces the
   * service's count for a role whose pods hold another number of GPUs.
   */
  word(value: Value, self = SELF_VAR, gpusInPod?: string): string {
    const leaves: Leaves<string> =
      gpusInPod === undefined
        ? this.shellLeaves
        : { ...this.shellLeaves, gpus: () => (gpusInPod === '' ? '' : singleQuote(gpusInPod)) };
    const w = resolveValue(value, self, leaves);
    return w === '' ? "''" : w;
  }

  /**
   * Lines declaring what the words so far use: the ports that differ between ranks, then each list (static
   * text when it names no address or interface, else built by a loop over the ranks). Call last.
   */
  declarations(): string[] {
    const lines: string[] = [];
    const lists: string[] = [];
    for (let i = 0; i < this.listOrder.length; i++) {
      const name = this.listOrder[i] ?? '';
      const v = this.lists.get(name) ?? '';
      const list: ListPlan | undefined = this.svc.lists[name];
      if (!list) {
        lists.push(`${v}=''`);
      } else if (list.each.every((p) => typeof p === 'string' || !('addr' in p || 'iface' in p))) {
        lists.push(
          `${v}=${singleQuote(resolveList(list, listMembers(list, this.svc.ranks.length), this.fileLeaves))}`,
        );
      } else {
        const each = resolveValue(list.each, 'mn_i', this.shellLeaves);
        const sep = list.sep === '\n' ? "'\n'" : singleQuote(list.sep);
        const members = listMembers(list, this.svc.ranks.length);
        const from = members[0] ?? 0;
        lists.push(
          `${v}=''`,
          `mn_i=${from}`,
          `while [ "$mn_i" -lt ${from + members.length} ]; do`,
          `  if [ "$mn_i" -gt ${from} ]; then ${v}="$${v}"${sep}; fi`,
          `  ${v}="$${v}"${each || "''"}`,
          '  mn_i=$((mn_i + 1))',
          'done',
        );
      }
    }
    for (const name of [...this.ports].sort())
      lines.push(
        `MN_P_${token(name)}=${singleQuote(this.svc.ranks.map((r) => rankPort(r, name) ?? 0).join(' '))}`,
      );
    return [...lines, ...lists];
  }
}
