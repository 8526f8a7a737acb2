/**
 * The Slurm target's answers for the symbolic plan: every value becomes the inside of a bash double-quoted
 * string that the job's rank program expands at run time, when the allocation is known.
 *
 *   host r          → `${MN_H[r]}`     (the r-th node of the job, batch host first)
 *   addr r          → `${MN_A[r]}`     (that node's NodeAddr as IPv4)
 *   self            → the bash variable holding the resolving rank (`MN_RANK`, or a list loop's index)
 *   port p of r     → the planned port when every rank has the same, else `${MN_P_<k>[r]}` (an array)
 *   gpus of self    → `${CUDA_VISIBLE_DEVICES:-}` (Slurm's gres sets it)
 *   iface           → `${MN_IFACE}`    (the interface carrying this node's address, found at run time)
 *   file f          → `${MN_DIR}/files/f`, the wrapper `${MN_DIR}/bin/multinode-ssh`
 *   list l          → `${MN_L_<k>}`    (built once by a loop over the ranks: O(N) script)
 *
 * `SlurmValues` records which port arrays and lists the values used, so the program declares only those.
 */
import type { ServicePlan, Value } from '../../api/plan.js';
import { SSH_WRAPPER_FILE } from '../../api/plan.js';
import type { Leaves } from '../../plan/index.js';
import { resolveValue } from '../../plan/index.js';
import { rankPort } from '../../plan/resolve.js';
import { escapeDq } from './template.js';

export const DIR_REF = '${MN_DIR}';
export const WRAPPER_REL = 'bin/multinode-ssh';

/** Variable names are `[A-Za-z0-9_]`: anything else becomes `_`, and a hash keeps distinct names distinct. */
function token(name: string, taken: Map<string, string>): string {
  const hit = taken.get(name);
  if (hit !== undefined) return hit;
  let t = name.replace(/[^A-Za-z0-9_]/g, '_');
  while ([...taken.values()].includes(t)) t += '_';
  taken.set(name, t);
  return t;
}

export class SlurmValues {
  private readonly portArrays = new Map<string, string>();
  private readonly listVars = new Map<string, string>();
  private readonly usedLists: string[] = [];
  readonly leaves: Leaves<string>;

  constructor(private readonly svc: ServicePlan) {
    const index = (r: number | string): string => (typeof r === 'number' ? String(r) : `$${r}`);
    this.leaves = {
      text: escapeDq,
      host: (r) => `\${MN_H[${index(r)}]}`,
      addr: (r) => `\${MN_A[${index(r)}]}`,
      port: (name, r) => {
        const ports = svc.ranks.map((x) => rankPort(x, name) ?? 0);
        if (typeof r === 'number') return String(ports[r] ?? '');
        if (ports.every((p) => p === ports[0])) return String(ports[0] ?? '');
        return `\${MN_P_${token(name, this.portArrays)}[${index(r)}]}`;
      },
      rank: (self) => `\${${self}}`,
      index: (self, from) => `$((${self} ${from < 0 ? `+ ${-from}` : `- ${from}`}))`,
      gpus: () => '${CUDA_VISIBLE_DEVICES:-}',
      iface: () => '${MN_IFACE}',
      file: (name) => (name === SSH_WRAPPER_FILE ? `${DIR_REF}/${WRAPPER_REL}` : `${DIR_REF}/files/${name}`),
      list: (name) => {
        if (!this.listVars.has(name)) this.usedLists.push(name);
        return `\${MN_L_${token(name, this.listVars)}}`;
      },
    };
  }

  /** The inside of a bash double-quoted string for `value` as rank `self` (a bash variable name) sees it. */
  dq(value: Value, self = 'MN_RANK'): string {
    return resolveValue(value, self, this.leaves);
  }

  /**
   * Bash lines declaring what the values resolved so far use: port arrays, and each list built by one loop
   * over the job's ranks (`self` = the loop index). Call after resolving everything else.
   */
  declarations(): string[] {
    const lines: string[] = [];
    // Lists first resolve their members (which may add port arrays), then the arrays are declared.
    const lists: string[] = [];
    for (let i = 0; i < this.usedLists.length; i++) {
      const name = this.usedLists[i] ?? '';
      const list = this.svc.lists[name];
      const v = `MN_L_${this.listVars.get(name) ?? ''}`;
      if (!list) {
        lists.push(`${v}=`);
        continue;
      }
      const each = resolveValue(list.each, 'mn_i', this.leaves);
      const sep = list.compress === 'hostlist' ? ',' : escapeDq(list.sep);
      // A role's list runs over that role's ranks only (plan ListPlan.from/count).
      const ranged = list.from !== undefined || list.count !== undefined;
      const from = list.from ?? 0;
      const to = from + (list.count ?? this.svc.ranks.length - from);
      lists.push(
        `${v}=`,
        ranged ? `for ((mn_i = ${from}; mn_i < ${to}; mn_i++)); do` : 'for mn_i in "${!MN_H[@]}"; do',
        ...(sep === '' ? [] : [`  [ "$mn_i" = ${from} ] || ${v}+="${sep}"`]),
        `  ${v}+="${each}"`,
        'done',
      );
      if (list.compress === 'hostlist')
        lists.push(`${v}=$(scontrol show hostlist "$${v}" 2>/dev/null || printf '%s' "$${v}")`);
    }
    for (const [name, t] of [...this.portArrays].sort((a, b) => (a[1] < b[1] ? -1 : 1))) {
      const ports = this.svc.ranks.map((x) => rankPort(x, name) ?? 0);
      lines.push(`MN_P_${t}=(${ports.join(' ')})`);
    }
    return [...lines, ...lists];
  }
}
