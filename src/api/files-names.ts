/**
 * Names of files and directories that cross a boundary: the plan's files in every rank's files directory and
 * the local state directory's layout; plus the product's name and the planner's defaults.
 */

export const PRODUCT = 'multinode';

/** Files the plan puts in every rank's files directory (`PlanOptions.filesDir`). */
export const PLAN_FILES = {
  hostfile: 'hostfile',
  clusterFile: 'cluster.json',
  script: 'script',
} as const;

/** The `{service}` placeholder in `PlanOptions.filesDir`. */
export const SERVICE_PLACEHOLDER = '{service}';

export const DEFAULTS = {
  masterPort: 29500,
  sshPort: 2222,
  hostPortRange: { from: 20000, to: 29999 },
  overlayPool: '198.18.128.0/17',
  underlaySubnet: '198.18.0.0/16',
  vniRange: { from: 4096, to: 16_777_215 },
  overlayMtu: 1450,
  rayPort: 6379,
  sglangDistPort: 29500,
} as const;

/** State directory layout (local runtime). */
export const STATE = {
  envVar: 'MULTINODE_STATE_DIR',
  defaultRootDir: '/var/lib/multinode',
  clustersDir: 'clusters',
  servicesDir: 'services',
  /** `<state>/locks/`: one lock file per cluster and per service (flock(2)); never removed. */
  locksDir: 'locks',
  stateFile: 'state.json',
  /** `<state>/volumes/`: `data/<service>` (each service's built-in volume) and `named/<name>` (declared volumes). */
  volumesDir: 'volumes',
} as const;
