/**
 * Stable issue codes of the spec layer, each documented once in `CODE_DOCS` (docs/reference/errors.md is
 * generated from it by scripts/gen-docs.ts). Codes never change meaning; new ones may be added.
 */

export const CODES = {
  // Reading the YAML
  yamlSyntax: 'yaml-syntax',
  yamlDuplicateKey: 'yaml-duplicate-key',
  yamlKey: 'yaml-key',
  yamlTooDeep: 'yaml-too-deep',
  yamlTooLarge: 'yaml-too-large',
  yamlWarning: 'yaml-warning',
  notAMapping: 'not-a-mapping',
  controlCharacter: 'control-character',
  reservedKey: 'reserved-key',
  // Schema (shape and types)
  unknownKey: 'unknown-key',
  required: 'required',
  type: 'type',
  enum: 'enum',
  range: 'range',
  integer: 'integer',
  format: 'format',
  memorySize: 'memory-size',
  envEntry: 'env-entry',
  // Semantic rules
  noServices: 'no-services',
  dnsLabel: 'dns-label',
  duplicatePortName: 'duplicate-port-name',
  duplicatePortNumber: 'duplicate-port-number',
  duplicateHostPort: 'duplicate-host-port',
  duplicateEndpointName: 'duplicate-endpoint-name',
  unknownPortName: 'unknown-port-name',
  endpointProtocol: 'endpoint-protocol',
  probeAction: 'probe-action',
  probePort: 'probe-port',
  mountVolume: 'mount-volume',
  mountLocation: 'mount-location',
  duplicateMountLocation: 'duplicate-mount-location',
  reservedVolume: 'reserved-volume',
  volumeReference: 'volume-reference',
  noCommand: 'no-command',
  hostPortNeedsHostNetwork: 'host-port-needs-host-network',
  fabricConflict: 'fabric-conflict',
  fabricCount: 'fabric-count',
  deviceName: 'device-name',
  backoffRange: 'backoff-range',
  // replicas and rolling updates
  replicaName: 'replica-name',
  updateNoProgress: 'update-no-progress',
  // Roles and uses (docs/guides/roles-and-dependencies.md)
  duplicateRoleName: 'duplicate-role-name',
  roleNodes: 'role-nodes',
  roleLaunch: 'role-launch',
  unknownService: 'unknown-service',
  usesCycle: 'uses-cycle',
  usesReplicated: 'uses-replicated',
  duplicateUse: 'duplicate-use',
  // Warnings
  hostNetwork: 'host-network',
  dataNotPersisted: 'data-not-persisted',
  gpuModelWithoutGpu: 'gpu-model-without-gpu',
  duplicateEnv: 'duplicate-env',
  envPerRank: 'env-per-rank',
  unusedVolume: 'unused-volume',
} as const;

export type SpecCode = (typeof CODES)[keyof typeof CODES];

export interface CodeDoc {
  readonly code: SpecCode;
  readonly severity: 'error' | 'warning';
  readonly meaning: string;
}

export const CODE_DOCS: readonly CodeDoc[] = [
  {
    code: 'yaml-syntax',
    severity: 'error',
    meaning: 'The file is not valid YAML (or holds more than one document).',
  },
  { code: 'yaml-duplicate-key', severity: 'error', meaning: 'A key appears twice in one mapping.' },
  { code: 'yaml-key', severity: 'error', meaning: 'A mapping key is a list or mapping instead of a string.' },
  { code: 'yaml-too-deep', severity: 'error', meaning: 'Nesting deeper than 64 levels.' },
  {
    code: 'yaml-too-large',
    severity: 'error',
    meaning:
      'More than 4 MiB of text, more than 50 000 nodes (as written, or after alias expansion), more than 32 MiB of strings, keys and field paths after alias expansion, or a field path longer than 2048 characters.',
  },
  {
    code: 'yaml-warning',
    severity: 'warning',
    meaning: 'The YAML parser warns (e.g. an unknown tag); the value is read as a string.',
  },
  {
    code: 'not-a-mapping',
    severity: 'error',
    meaning: 'The document is empty or its top level is not a mapping.',
  },
  {
    code: 'control-character',
    severity: 'error',
    meaning:
      'A control character (C0 such as NUL or ESC, a lone CR, DEL, or C1) in the file; scripts, commands and env values may hold TAB and line breaks, other values none.',
  },
  {
    code: 'reserved-key',
    severity: 'error',
    meaning: 'A mapping key is `__proto__`, which programs reading the spec would lose.',
  },
  {
    code: 'unknown-key',
    severity: 'error',
    meaning: 'A key the spec does not define; the hint names the closest allowed key.',
  },
  { code: 'required', severity: 'error', meaning: 'A required field is missing.' },
  {
    code: 'type',
    severity: 'error',
    meaning: 'A value has the wrong type (e.g. a string where a number is expected).',
  },
  { code: 'enum', severity: 'error', meaning: 'A value is not one of the allowed words.' },
  { code: 'range', severity: 'error', meaning: 'A number or list length is outside its allowed range.' },
  { code: 'integer', severity: 'error', meaning: 'A number must be whole.' },
  { code: 'format', severity: 'error', meaning: 'A string does not have the required form.' },
  {
    code: 'memory-size',
    severity: 'error',
    meaning: 'A memory size is not in the unit table (`64GB`, `512Mi`, `1.5Gi`, bare bytes).',
  },
  {
    code: 'env-entry',
    severity: 'error',
    meaning: 'An `env` entry is not `KEY=VALUE` with KEY matching `[A-Za-z_][A-Za-z0-9_]*`.',
  },
  { code: 'no-services', severity: 'error', meaning: '`services` is empty.' },
  {
    code: 'dns-label',
    severity: 'error',
    meaning: 'A service, volume, port or endpoint name is not a DNS-1123 label.',
  },
  { code: 'duplicate-port-name', severity: 'error', meaning: 'Two ports of one service share a name.' },
  {
    code: 'duplicate-port-number',
    severity: 'error',
    meaning: 'Two ports of one service share a number and protocol.',
  },
  {
    code: 'duplicate-host-port',
    severity: 'error',
    meaning: 'Two ports of one service pin the same host port.',
  },
  {
    code: 'duplicate-endpoint-name',
    severity: 'error',
    meaning: 'Two endpoints of one service share a name.',
  },
  {
    code: 'unknown-port-name',
    severity: 'error',
    meaning: "An endpoint's `port-name` is not a declared port.",
  },
  {
    code: 'endpoint-protocol',
    severity: 'error',
    meaning: 'An http/https/tcp endpoint points at a udp port.',
  },
  {
    code: 'probe-action',
    severity: 'error',
    meaning: 'A readiness probe needs exactly one of `tcp-socket` and `http-get`.',
  },
  {
    code: 'probe-port',
    severity: 'error',
    meaning: "A probe's port is not one of the service's declared tcp ports.",
  },
  { code: 'mount-volume', severity: 'error', meaning: 'A mount names neither a declared volume nor `data`.' },
  { code: 'mount-location', severity: 'error', meaning: 'A mount location is not an absolute path.' },
  {
    code: 'duplicate-mount-location',
    severity: 'error',
    meaning: 'Two mounts of one service use the same location.',
  },
  {
    code: 'reserved-volume',
    severity: 'error',
    meaning: '`data` is the built-in per-service volume and cannot be declared under `volumes`.',
  },
  {
    code: 'volume-reference',
    severity: 'error',
    meaning: 'A volume reference is not a URI such as `volume://user/persistent/name`.',
  },
  { code: 'no-command', severity: 'error', meaning: 'A service has neither `script` nor `backend.command`.' },
  {
    code: 'host-port-needs-host-network',
    severity: 'error',
    meaning: '`ports[].host-port` is set but `network.host` is not true.',
  },
  {
    code: 'fabric-conflict',
    severity: 'error',
    meaning: 'Both `network.fabric-nics` and `rdma/fabricN` devices are given.',
  },
  {
    code: 'fabric-count',
    severity: 'error',
    meaning: 'An `rdma/fabricN` device count is not 0 or 1 (one rank per NIC).',
  },
  {
    code: 'device-name',
    severity: 'error',
    meaning: 'A `resource.devices` key is not `<domain>/<name>` (e.g. `nvidia.com/gpu`, `rdma/fabric0`).',
  },
  {
    code: 'backoff-range',
    severity: 'error',
    meaning: '`restart.backoff-max-seconds` is smaller than `restart.backoff-seconds`.',
  },
  { code: 'duplicate-role-name', severity: 'error', meaning: 'Two roles of one service share a name.' },
  {
    code: 'role-nodes',
    severity: 'error',
    meaning: "`multinode.nodes` is given next to `roles` and differs from the sum of the roles' `nodes`.",
  },
  {
    code: 'role-launch',
    severity: 'error',
    meaning:
      "A service with `roles` sets `multinode.launch: leader`; every role member runs its role's command.",
  },
  { code: 'unknown-service', severity: 'error', meaning: '`uses` names a service that is not in the file.' },
  {
    code: 'uses-cycle',
    severity: 'error',
    meaning: 'Services use each other in a cycle (or a service uses itself), so none could start first.',
  },
  { code: 'duplicate-use', severity: 'error', meaning: '`uses` names one service twice.' },
  {
    code: 'uses-replicated',
    severity: 'error',
    meaning:
      '`uses` names a service that declares `replicas`: the used service must be one gang, whose leader the using service is given and can reach.',
  },
  {
    code: 'replica-name',
    severity: 'error',
    meaning:
      'A replica name (`<service>-<i>`, one per replica plus one for a surge) is another service of the file, or is not a DNS-1123 label.',
  },
  {
    code: 'update-no-progress',
    severity: 'error',
    meaning:
      '`update.max-surge` and `update.max-unavailable` are both 0, so a rolling update could never start.',
  },
  {
    code: 'host-network',
    severity: 'warning',
    meaning: "`network.host: true` shares the node's network namespace and exposes its interfaces.",
  },
  {
    code: 'data-not-persisted',
    severity: 'warning',
    meaning: 'The built-in `data` volume is mounted but `persist` is not true, so it is discarded on `down`.',
  },
  {
    code: 'gpu-model-without-gpu',
    severity: 'warning',
    meaning: 'A GPU model annotation is given but no GPUs are requested.',
  },
  { code: 'duplicate-env', severity: 'warning', meaning: 'An env key is set twice; the later entry wins.' },
  { code: 'unused-volume', severity: 'warning', meaning: 'A declared volume is mounted by no service.' },
  {
    code: 'env-per-rank',
    severity: 'warning',
    meaning:
      'An env entry sets a variable the planner gives each rank its own value of (`MULTINODE_NODE_RANK`, `MULTINODE_NODE_IP`, …): the one value wins on every rank.',
  },
];
