/**
 * Helpers for the Slurm renderer tests: a hand-built Plan shaped like the planner's (used until and besides
 * the real planner), fake `srun`/`scontrol` executables so a rendered script can run under plain bash, and
 * extraction of the rank program from a rendered script.
 */
import { mkdtempSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ListPlan, Plan, RankPlan, ServicePlan, Value } from '../../src/api/plan.js';
import { SSH_WRAPPER_FILE } from '../../src/api/plan.js';
import { serviceLists, tfConfigValue } from '../../src/plan/env.js';
import { val } from '../../src/plan/resolve.js';
import type { Implementation, LaunchMode } from '../../src/api/spec.js';

export interface FixtureOptions {
  readonly name?: string;
  readonly nodes?: number;
  readonly implementation?: Implementation;
  readonly launch?: LaunchMode;
  readonly argv?: readonly string[];
  readonly workersWait?: boolean;
  readonly gpus?: number;
  readonly gpuModel?: string;
}

export function fixturePlan(o: FixtureOptions = {}): Plan {
  const name = o.name ?? 'svc';
  const n = o.nodes ?? 2;
  const files = `/var/lib/multinode/services/${name}/files`;
  const wrapper = '/var/lib/multinode/bin/multinode-ssh';
  const hosts = Array.from({ length: n }, (_, i) => `${name}-${i}`);
  const addrs = Array.from({ length: n }, (_, i) => `198.18.128.${i + 2}`);
  const slots = Math.max(1, o.gpus ?? 0);
  const cluster = val('{"hosts":[', { list: 'hosts' }, '],"version":1}');
  const self = 'self' as const;
  const env: Record<string, Value> = {
    CUDA_VISIBLE_DEVICES: val({ gpus: self }),
    MASTER_ADDR: val({ host: 0 }),
    MASTER_PORT: val('29500'),
    MULTINODE_CLUSTER_FILE: val({ file: 'cluster.json' }),
    MULTINODE_GPUS_PER_NODE: val(String(o.gpus ?? 0)),
    MULTINODE_HOSTFILE: val({ file: 'hostfile' }),
    MULTINODE_HOSTLIST: val({ list: 'hosts-slots' }),
    MULTINODE_HOSTLIST_NOSLOTS: val({ list: 'hosts' }),
    MULTINODE_LEADER_HOST: val({ host: 0 }),
    MULTINODE_LEADER_IP: val({ addr: 0 }),
    MULTINODE_NODE_HOSTNAME: val({ host: self }),
    MULTINODE_NODE_IP: val({ addr: self }),
    MULTINODE_NODE_RANK: val({ rank: self }),
    MULTINODE_NUM_NODES: val(String(n)),
    MULTINODE_PORT_HTTP: val({ port: 'http', of: self }),
    MULTINODE_SERVICE: val(name),
    MULTINODE_SSH_WRAPPER: val({ file: SSH_WRAPPER_FILE }),
    OMPI_MCA_btl_tcp_if_include: val({ iface: true }),
    TF_CONFIG: tfConfigValue(),
    USER_VAR: val('has "quotes" and $dollar and `ticks`'),
  };
  const allLists = serviceLists('ompi', slots, ['http'], n > 1);
  const lists: Record<string, ListPlan> = {};
  for (const k of ['hostfile', 'hosts', 'hosts-slots', 'tf-workers']) {
    const l = allLists[k];
    if (l) lists[k] = l;
  }
  const ranks: RankPlan[] = hosts.map((h, i) => {
    const argv =
      i > 0 && o.workersWait !== false && (o.launch ?? 'leader') === 'leader'
        ? []
        : [...(o.argv ?? ['/bin/sh', '-c', 'echo hello from $MULTINODE_NODE_RANK'])];
    return {
      rank: i,
      role: i === 0 ? 'leader' : 'worker',
      node: `node-${i + 1}`,
      nodeAddress: `198.18.0.${i + 1}`,
      hostname: h,
      address: addrs[i] ?? '',
      cpus: [0, 1],
      memoryBytes: 2 * 1024 ** 3,
      gpus: [],
      fabricNics: [],
      ports: [{ name: 'http', port: 8080, hostPort: 8080, protocol: 'tcp', auto: false }],
      sshPort: 2222,
      tfPort: 29500 + i,
      command:
        argv.length === 0 ? { kind: 'wait', argv: [] } : { kind: 'script', argv: argv.map((a) => val(a)) },
    };
  });
  const svc: ServicePlan = {
    name,
    nodes: n,
    implementation: o.implementation ?? 'generic',
    launch: o.launch ?? 'leader',
    imageUri: 'docker://example/image:1',
    cwd: '/nonexistent/multinode-cwd',
    mounts: [],
    persist: false,
    envCompat: [],
    gpusPerNode: o.gpus ?? 0,
    ...(o.gpuModel !== undefined ? { gpuModel: o.gpuModel } : {}),
    network: { mode: 'overlay', subnet: '198.18.128.0/24', vni: 4242, mtu: 1450 },
    ranks,
    endpoints: [
      {
        name: 'api',
        portName: 'http',
        protocol: 'http',
        rank: 0,
        targetAddress: addrs[0] ?? '',
        targetPort: 8080,
        port: 8080,
      },
    ],
    env,
    leaderEnv: {},
    lists,
    sshWrapperPath: wrapper,
    files: [
      { name: 'hostfile', path: `${files}/hostfile`, content: val({ list: 'hostfile' }), mode: 0o644 },
      { name: 'cluster.json', path: `${files}/cluster.json`, content: cluster, mode: 0o644 },
    ],
    masterPort: 29500,
    restart: {
      policy: 'never',
      maxRestarts: 0,
      maxStartupRestarts: 0,
      backoffSeconds: 1,
      backoffMaxSeconds: 1,
    },
  };
  return {
    apiVersion: 'multinode.dev/v1',
    kind: 'Plan',
    hash: 'fixture0hash',
    seed: 1,
    target: 'slurm',
    inventory: 'fixture',
    services: [svc],
  };
}

/** The rank program embedded in a rendered script. */
export function extractRankProgram(script: string): string {
  const m = /<<'(MULTINODE_RANK_PROGRAM_*)'\n([\s\S]*?)\n\1\n/.exec(script);
  if (!m?.[2]) throw new Error('no rank program in script');
  return m[2];
}

/**
 * A directory with fake `srun` and `scontrol` for running a rendered script under bash without Slurm.
 * `scontrol show hostnames` prints $FAKE_NODES; `scontrol -o show node` prints NodeName/NodeAddr from
 * $FAKE_NODES/$FAKE_ADDRS; `srun` runs its command once per node of `--nodelist` (or all nodes minus
 * `--exclude`) in parallel with SLURMD_NODENAME set, and logs its argv to $FAKE_LOG under a lock.
 */
export function fakeSlurmBin(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mn-render-slurm-'));
  mkdirSync(join(dir, 'bin'));
  const scontrol = `#!/bin/bash
if [ "$1" = show ] && [ "$2" = hostnames ]; then for n in $FAKE_NODES; do echo "$n"; done; exit 0; fi
if [ "$1" = -o ] && [ "$2" = show ] && [ "$3" = node ]; then
  read -r -a n <<< "$FAKE_NODES"; read -r -a a <<< "$FAKE_ADDRS"
  for i in "\${!n[@]}"; do echo "NodeName=\${n[$i]} Arch=x86_64 NodeAddr=\${a[$i]} NodeHostName=\${n[$i]} OS=Linux 6.1"; done
  exit 0
fi
echo "fake scontrol: unsupported $*" >&2; exit 1
`;
  const srun = `#!/bin/bash
# One locked write per call: concurrent steps must not interleave their (multi-line) argv in the log.
{ flock 9; printf 'srun %s\\n' "$*" >&9; } 9>> "\${FAKE_LOG:-/dev/null}"
nodes=; exclude=
while [ $# -gt 0 ]; do
  case $1 in
    --nodelist=*) nodes=\${1#--nodelist=}; shift ;;
    -w) nodes=$2; shift 2 ;;
    --exclude=*) exclude=\${1#--exclude=}; shift ;;
    -*) shift ;;
    *) break ;;
  esac
done
[ -n "$nodes" ] || for n in $FAKE_NODES; do [ "$n" = "$exclude" ] || nodes="$nodes,$n"; done
rc=0; pids=()
for n in \${nodes//,/ }; do SLURMD_NODENAME=$n "$@" & pids+=($!); done
for p in "\${pids[@]}"; do wait "$p" || rc=$?; done
exit $rc
`;
  writeFileSync(join(dir, 'bin', 'scontrol'), scontrol);
  writeFileSync(join(dir, 'bin', 'srun'), srun);
  chmodSync(join(dir, 'bin', 'scontrol'), 0o755);
  chmodSync(join(dir, 'bin', 'srun'), 0o755);
  return dir;
}
