/**
 * The spec's shape, in zod 4: the single source of truth for what a file may contain. `parseSpec` checks
 * data against it and `multinode schema` emits its JSON Schema (draft 2020-12) for editors. Every object is
 * strict (unknown keys are errors); no field carries a default here — defaults live in `normalize.ts` only,
 * so the schema describes exactly what a user may write.
 */
import * as z from 'zod';
import { MEMORY_PATTERN, parseMemorySize } from './units.js';
import { CODES } from './codes.js';

/** `KEY=VALUE`; the key is a portable shell variable name. */
export const ENV_ENTRY_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*=';

const portNumber = z.int().min(1).max(65535);
const nonNegInt = z.int().min(0);

const memorySize = z.union([
  z
    .string()
    .regex(new RegExp(MEMORY_PATTERN))
    .refine((v) => (parseMemorySize(v) ?? 0) > 0, { params: { code: CODES.memorySize } }),
  z.int().min(1),
]);

export const VolumeSchema = z.strictObject({
  reference: z
    .string()
    .min(1)
    .describe('Where the volume lives, e.g. `volume://user/persistent/vllm-cache`.'),
});

const PortSchema = z.strictObject({
  name: z.string().describe('DNS-1123 label, unique within the service.'),
  port: portNumber.describe('Container port (1–65535), unique per protocol within the service.'),
  protocol: z.enum(['tcp', 'udp']).optional().describe('Default `tcp`.'),
  'host-port': z
    .union([z.literal('auto'), portNumber])
    .optional()
    .describe('Host networking only: `auto` picks a free port; a number pins it. Default: `port`.'),
});

const EndpointSchema = z.strictObject({
  name: z.string().describe('DNS-1123 label, unique within the service.'),
  'port-name': z.string().describe('Name of a declared port.'),
  protocol: z.enum(['http', 'https', 'tcp']).optional().describe('Default `tcp`.'),
  type: z.string().min(1).optional().describe('How the endpoint is published, e.g. `subdomain`.'),
  scope: z.string().min(1).optional().describe('Who may reach it, e.g. `group`, `public`.'),
});

const ProbeSchema = z.strictObject({
  'tcp-socket': z.strictObject({ port: portNumber }).optional(),
  'http-get': z
    .strictObject({
      path: z.string().min(1).optional().describe('Default `/`.'),
      port: portNumber,
      scheme: z.enum(['http', 'https']).optional().describe('Default `http`.'),
    })
    .optional(),
  'period-seconds': z.int().min(1).optional().describe('Default 10.'),
  'failure-threshold': z.int().min(1).optional().describe('Default 3.'),
  'success-threshold': z.int().min(1).optional().describe('Default 1.'),
  'initial-delay-seconds': nonNegInt.optional().describe('Default 0.'),
  'timeout-seconds': z.int().min(1).optional().describe('Default 1.'),
});

const ResourceSchema = z.strictObject({
  cpu: z
    .strictObject({
      cores: z.number().positive().optional().describe('Cores per node. Default 1.'),
      affinity: z.enum(['NUMA', 'none']).optional().describe('Default `none`.'),
    })
    .optional(),
  memory: z
    .strictObject({
      size: memorySize.describe('Per node: `64GB`, `512Mi`, `1.5Gi` or bare bytes. Default `1Gi`.'),
    })
    .optional(),
  devices: z
    .record(z.string(), nonNegInt)
    .optional()
    .describe('Device requests per node, e.g. `nvidia.com/gpu: 2`, `rdma/fabric0: 1`.'),
  annotations: z
    .record(z.string(), z.string())
    .optional()
    .describe('e.g. `nvidia.com/gpu.model: NVIDIA L4`.'),
});

const RestartSchema = z.strictObject({
  policy: z
    .enum(['never', 'on-failure', 'exit-code', 'recreate-group'])
    .optional()
    .describe('Default `recreate-group` when nodes > 1, else `on-failure`.'),
  'max-restarts': nonNegInt.optional().describe('Default 5.'),
  'max-startup-restarts': nonNegInt.optional().describe('Default 10.'),
  'backoff-seconds': z.number().min(0).optional().describe('Default 1.'),
  'backoff-max-seconds': z.number().min(0).optional().describe('Default 30.'),
});

const PlacementSchema = z.strictObject({
  strategy: z.enum(['spread', 'pack']).optional().describe('Default `spread`.'),
  topology: z
    .strictObject({
      key: z.string().min(1).describe('Node label all ranks should share, e.g. `block`, `rack`.'),
      mode: z.enum(['preferred', 'required']).optional().describe('Default `preferred`.'),
    })
    .optional(),
  exclusive: z.boolean().optional().describe('Default false.'),
});

// --- roles and uses (docs/guides/roles-and-dependencies.md) ----------------------------------------------

const RoleSchema = z.strictObject({
  name: z.string().describe('DNS-1123 label, unique within the service (`ps`, `worker`, `main`, `sub`).'),
  nodes: z.int().min(1).max(100_000).describe('Members of the role (one rank per node).'),
  script: z.string().optional().describe("The role's script. Default: the service's."),
  backend: z
    .strictObject({
      kind: z.enum(['vllm', 'sglang', 'trtllm']),
      command: z.string().min(1).describe('The serving command, one shell string.'),
    })
    .optional()
    .describe("The role's backend. Default: the service's."),
  restart: RestartSchema.optional().describe("The role's restart policy. Default: the service's."),
  resource: ResourceSchema.optional().describe(
    "What each member needs, as the service's `resource` (replacing it whole). Default: the service's.",
  ),
  ports: z
    .array(z.string())
    .optional()
    .describe("Names of the service's declared ports the members bind. Default: all."),
});

const UseSchema = z.union([
  z.string().describe('A service of this file; all its declared ports.'),
  z.strictObject({
    service: z.string().describe('A service of this file.'),
    ports: z
      .array(z.string())
      .optional()
      .describe('Names of its declared ports this service may reach. Default: all.'),
  }),
]);

const RolesAndUses = {
  roles: z
    .array(RoleSchema)
    .min(1)
    .optional()
    .describe(
      'Roles in declaration order; ranks are numbered across them (rank 0 = first role, first member).',
    ),
  uses: z
    .array(UseSchema)
    .optional()
    .describe('Services this one uses: it starts when they are ready and may reach their declared ports.'),
};

export const ServiceSchema = z.strictObject({
  ...RolesAndUses,
  image: z.strictObject({ uri: z.string().min(1) }).optional(),
  script: z.string().optional(),
  cwd: z.string().min(1).optional().describe("Working directory, an absolute path. Default: the image's."),
  env: z
    .array(z.string().regex(new RegExp(ENV_ENTRY_PATTERN, 's')))
    .optional()
    .describe('`KEY=VALUE` entries.'),
  mounts: z
    .record(
      z.string(),
      z.strictObject({
        location: z.string().min(1),
        'read-only': z.boolean().optional().describe('Mount the volume read-only. Default false.'),
      }),
    )
    .optional()
    .describe('Volume name (declared, or `data`) → mount location.'),
  resource: ResourceSchema.optional(),
  multinode: z
    .strictObject({
      nodes: z.int().min(1).max(100_000).optional().describe('Default 1.'),
      implementation: z
        .enum(['ompi', 'openmpi', 'mpich', 'gasnet', 'generic'])
        .optional()
        .describe('Default `generic`. `openmpi` is `ompi`.'),
      launch: z.enum(['leader', 'all']).optional().describe('Default `leader`.'),
    })
    .optional(),
  network: z
    .strictObject({
      host: z.boolean().optional().describe('Default false.'),
      'fabric-nics': nonNegInt.max(64).optional().describe('Fabric NICs per rank (`fabric0`…). Default 0.'),
    })
    .optional(),
  ports: z.array(PortSchema).optional(),
  endpoints: z.array(EndpointSchema).optional(),
  'readiness-probe': ProbeSchema.optional(),
  persist: z.boolean().optional().describe('Keep the built-in `data` volume across runs. Default false.'),
  restart: RestartSchema.optional(),
  placement: PlacementSchema.optional(),
  backend: z
    .strictObject({
      kind: z.enum(['vllm', 'sglang', 'trtllm']),
      command: z.string().min(1).describe('The serving command, one shell string.'),
    })
    .optional(),
  'env-compat': z
    .array(z.enum(['slurm', 'skypilot', 'lws', 'volcano', 'backendai', 'dstack']))
    .optional()
    .describe('Foreign environment-variable families to emit.'),
  // ---- replicas and rolling updates ----
  replicas: z
    .int()
    .min(1)
    .max(1000)
    .optional()
    .describe('Independent gangs of this service behind one endpoint. Default 1.'),
  update: z
    .strictObject({
      'max-surge': z.int().min(0).max(1000).optional().describe('Default 1.'),
      'max-unavailable': z.int().min(0).max(1000).optional().describe('Default 1.'),
    })
    .optional()
    .describe('Rolling update of replicas when `up` sees a changed file.'),
});

export const SpecSchema = z
  .strictObject({
    version: z.literal('v1').optional().describe('Workflow syntax version. Default `v1`.'),
    volumes: z.record(z.string(), VolumeSchema).optional(),
    services: z.record(z.string(), ServiceSchema),
  })
  .describe('multinode workflow spec (syntax v1)');

export type RawSpec = z.output<typeof SpecSchema>;
export type RawService = z.output<typeof ServiceSchema>;

/** Extension fields (`x-…`, as docker compose has them), allowed at the top level and in a service. */
const EXTENSIONS = { '^x-': { description: 'Extension field: ignored (a place for YAML anchors).' } };

/** The JSON Schema (draft 2020-12) of the spec file, for editors. */
export function specJsonSchema(): Record<string, unknown> {
  const generated: Record<string, unknown> = z.toJSONSchema(SpecSchema, {
    target: 'draft-2020-12',
    io: 'input',
  });
  generated['patternProperties'] = EXTENSIONS;
  const services = (generated['properties'] as Record<string, Record<string, unknown>> | undefined)?.[
    'services'
  ];
  const service = services?.['additionalProperties'];
  if (service && typeof service === 'object')
    (service as Record<string, unknown>)['patternProperties'] = EXTENSIONS;
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://multinode.dev/schema/spec-v1.json',
    title: 'multinode spec v1',
    ...generated,
  };
}
