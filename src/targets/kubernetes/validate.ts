/**
 * Schema validation of rendered manifests, without an API server. Core objects (Service, ConfigMap, Secret,
 * Ingress, NetworkPolicy, PersistentVolumeClaim, and every pod template embedded in a custom resource) are
 * checked with `kubernetes-models`, which carries the Kubernetes OpenAPI schemas. Custom resources are checked with ajv against the `openAPIV3Schema` of the
 * official CRDs, shipped in `crds/*.json` (extracted by `scripts/extract-crds.ts`) and imported lazily, so
 * commands that never validate never load them.
 *
 * Structural-schema rules applied on top of plain JSON Schema: `x-kubernetes-*` keywords are accepted;
 * `x-kubernetes-int-or-string` is enforced through the `anyOf` the CRD carries; an object with `properties`
 * and no `additionalProperties`/`x-kubernetes-preserve-unknown-fields` rejects unknown fields (the API server
 * would silently prune them, which hides typos). CEL rules (`x-kubernetes-validations`) are not evaluated.
 */
import { Ajv } from 'ajv';
import type { ValidateFunction, ErrorObject } from 'ajv';
import type { Issue } from '../../api/issues.js';

export interface ManifestObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly [key: string]: unknown;
}

type CrdName =
  'leaderworkerset' | 'podcliqueset' | 'jobset' | 'volcano-podgroup' | 'network-attachment-definition';

interface CrdFile {
  readonly apiVersion: string;
  readonly kind: string;
  readonly openAPIV3Schema: unknown;
}

/** apiVersion/kind → shipped CRD schema. */
const CRDS: Readonly<Record<string, CrdName>> = {
  'leaderworkerset.x-k8s.io/v1/LeaderWorkerSet': 'leaderworkerset',
  'grove.io/v1alpha1/PodCliqueSet': 'podcliqueset',
  'jobset.x-k8s.io/v1alpha2/JobSet': 'jobset',
  'scheduling.volcano.sh/v1beta1/PodGroup': 'volcano-podgroup',
  'k8s.cni.cncf.io/v1/NetworkAttachmentDefinition': 'network-attachment-definition',
};

async function loadCrd(name: CrdName): Promise<CrdFile> {
  // Literal specifiers, so the bundler emits one lazily loaded chunk per schema.
  switch (name) {
    case 'leaderworkerset':
      return (await import('./crds/leaderworkerset.json', { with: { type: 'json' } })).default;
    case 'podcliqueset':
      return (await import('./crds/podcliqueset.json', { with: { type: 'json' } })).default;
    case 'jobset':
      return (await import('./crds/jobset.json', { with: { type: 'json' } })).default;
    case 'volcano-podgroup':
      return (await import('./crds/volcano-podgroup.json', { with: { type: 'json' } })).default;
    case 'network-attachment-definition':
      return (await import('./crds/network-attachment-definition.json', { with: { type: 'json' } })).default;
  }
}

/** Closes objects that declare their properties, as the API server's pruning would (see module doc). */
function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (schema === null || typeof schema !== 'object') return schema;
  const s = schema as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) {
    // `properties` and `x-kubernetes-*` values are maps of names, not schemas with keywords to close.
    if (k === 'properties' && v !== null && typeof v === 'object') {
      out[k] = Object.fromEntries(
        Object.entries(v as Record<string, unknown>).map(([p, ps]) => [p, closeObjects(ps)]),
      );
    } else if (k.startsWith('x-kubernetes-')) {
      out[k] = v;
    } else {
      out[k] = closeObjects(v);
    }
  }
  if (
    s['properties'] !== undefined &&
    s['additionalProperties'] === undefined &&
    s['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    out['additionalProperties'] = false;
  }
  return out;
}

let ajv: Ajv | undefined;
const compiled = new Map<CrdName, ValidateFunction>();

function getAjv(): Ajv {
  if (ajv) return ajv;
  ajv = new Ajv({ allErrors: true, strict: false, validateFormats: true });
  for (const kw of [
    'x-kubernetes-list-type',
    'x-kubernetes-list-map-keys',
    'x-kubernetes-map-type',
    'x-kubernetes-int-or-string',
    'x-kubernetes-preserve-unknown-fields',
    'x-kubernetes-validations',
    'x-kubernetes-embedded-resource',
  ]) {
    ajv.addKeyword({ keyword: kw });
  }
  ajv.addFormat('int32', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && n >= -2147483648 && n <= 2147483647,
  });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)));
  return ajv;
}

async function crdValidator(name: CrdName): Promise<ValidateFunction> {
  const have = compiled.get(name);
  if (have) return have;
  const crd = await loadCrd(name);
  const fn = getAjv().compile(closeObjects(crd.openAPIV3Schema) as object);
  compiled.set(name, fn);
  return fn;
}

function describe(obj: ManifestObject): string {
  return `${obj.kind}/${obj.metadata.name}`;
}

function ajvIssues(obj: ManifestObject, errors: readonly ErrorObject[] | null | undefined): Issue[] {
  return (errors ?? []).map((e) => {
    const extra =
      e.keyword === 'additionalProperties'
        ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})`
        : e.keyword === 'enum'
          ? ` (${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues)})`
          : '';
    return {
      code: 'k8s-schema',
      severity: 'error',
      path: `${describe(obj)}${e.instancePath.replace(/\//g, '.')}`,
      message: `${e.message ?? 'invalid'}${extra}`,
    } satisfies Issue;
  });
}

interface ModelError {
  readonly errors?: readonly ErrorObject[];
  readonly message: string;
}

async function validateCore(obj: ManifestObject, prefix = ''): Promise<Issue[]> {
  const data = obj as unknown as Record<string, unknown>;
  const run = (m: { validate(): void }): Issue[] => {
    try {
      m.validate();
      return [];
    } catch (err) {
      const e = err as ModelError;
      if (e.errors) {
        return ajvIssues(obj, e.errors).map((i) => ({ ...i, path: `${prefix}${i.path}` }));
      }
      return [
        { code: 'k8s-schema', severity: 'error', path: `${prefix}${describe(obj)}`, message: e.message },
      ];
    }
  };
  switch (`${obj.apiVersion}/${obj.kind}`) {
    case 'v1/Service': {
      const { Service } = await import('kubernetes-models/v1/Service');
      return run(new Service(data));
    }
    case 'v1/ConfigMap': {
      const { ConfigMap } = await import('kubernetes-models/v1/ConfigMap');
      return run(new ConfigMap(data));
    }
    case 'v1/Secret': {
      const { Secret } = await import('kubernetes-models/v1/Secret');
      return run(new Secret(data));
    }
    case 'networking.k8s.io/v1/Ingress': {
      const { Ingress } = await import('kubernetes-models/networking.k8s.io/v1/Ingress');
      return run(new Ingress(data));
    }
    case 'networking.k8s.io/v1/NetworkPolicy': {
      const { NetworkPolicy } = await import('kubernetes-models/networking.k8s.io/v1/NetworkPolicy');
      return run(new NetworkPolicy(data));
    }
    case 'v1/PersistentVolumeClaim': {
      const { PersistentVolumeClaim } = await import('kubernetes-models/v1/PersistentVolumeClaim');
      return run(new PersistentVolumeClaim(data));
    }
    case 'v1/PodTemplateSpec': {
      const { PodTemplateSpec } = await import('kubernetes-models/v1/PodTemplateSpec');
      return run(new PodTemplateSpec(data));
    }
    default:
      return [
        {
          code: 'k8s-unknown-kind',
          severity: 'error',
          path: describe(obj),
          message: `no schema for ${obj.apiVersion} ${obj.kind}`,
        },
      ];
  }
}

/** Pod templates inside a custom resource, as `[where, template]`. */
function embeddedPodTemplates(obj: ManifestObject): [string, Record<string, unknown>][] {
  const spec = obj['spec'] as Record<string, unknown> | undefined;
  if (!spec) return [];
  if (obj.kind === 'LeaderWorkerSet') {
    const lwt = spec['leaderWorkerTemplate'] as Record<string, unknown> | undefined;
    const out: [string, Record<string, unknown>][] = [];
    for (const k of ['leaderTemplate', 'workerTemplate']) {
      const t = lwt?.[k] as Record<string, unknown> | undefined;
      if (t) out.push([`spec.leaderWorkerTemplate.${k}`, t]);
    }
    return out;
  }
  if (obj.kind === 'PodCliqueSet') {
    const tmpl = spec['template'] as { cliques?: { spec?: { podSpec?: unknown } }[] } | undefined;
    return (tmpl?.cliques ?? []).map((c, i) => [
      `spec.template.cliques[${i}].spec.podSpec`,
      { spec: c.spec?.podSpec ?? {} },
    ]);
  }
  if (obj.kind === 'JobSet') {
    const jobs = (spec['replicatedJobs'] ?? []) as { template?: { spec?: { template?: unknown } } }[];
    return jobs.map((j, i) => [
      `spec.replicatedJobs[${i}].template.spec.template`,
      (j.template?.spec?.template ?? {}) as Record<string, unknown>,
    ]);
  }
  return [];
}

interface JobSetShape {
  readonly spec?: {
    readonly replicatedJobs?: readonly {
      readonly name?: string;
      readonly replicas?: number;
      readonly template?: {
        readonly spec?: {
          readonly completionMode?: string;
          readonly completions?: number;
          readonly parallelism?: number;
          readonly podFailurePolicy?: {
            readonly rules?: readonly {
              readonly onExitCodes?: {
                readonly containerName?: string;
                readonly operator?: string;
                readonly values?: readonly number[];
              };
            }[];
          };
          readonly template?: {
            readonly spec?: {
              readonly restartPolicy?: string;
              readonly containers?: readonly { readonly name?: string }[];
            };
          };
        };
      };
    }[];
    readonly successPolicy?: { readonly targetReplicatedJobs?: readonly string[] };
  };
}

/**
 * What the API server (Job validation) and the JobSet webhook refuse beyond the schemas: a Job pod's
 * restartPolicy, podFailurePolicy only with `Never`, exit-code lists (sorted, unique, 0–255, no 0 with `In`,
 * a container that exists), Indexed Jobs with `completions` ≥ `parallelism`, successPolicy targets that exist,
 * and pod names (`<jobset>-<job>-<jobIndex>-<podIndex>-xxxxx`) that are DNS-1035 labels.
 */
function jobSetIssues(obj: ManifestObject): Issue[] {
  const out: Issue[] = [];
  const bad = (where: string, message: string): void => {
    out.push({ code: 'k8s-jobset', severity: 'error', path: `${describe(obj)}.${where}`, message });
  };
  const spec = (obj as unknown as JobSetShape).spec ?? {};
  const jobs = spec.replicatedJobs ?? [];
  jobs.forEach((j, i) => {
    const at = `spec.replicatedJobs[${i}]`;
    const job = j.template?.spec ?? {};
    const pod = job.template?.spec ?? {};
    const restart = pod.restartPolicy;
    if (restart !== 'Never' && restart !== 'OnFailure') {
      bad(
        `${at}.template.spec.template.spec.restartPolicy`,
        `a Job's pods need Never or OnFailure, not ${String(restart)}`,
      );
    }
    if (job.podFailurePolicy !== undefined && restart !== 'Never') {
      bad(`${at}.template.spec.podFailurePolicy`, 'podFailurePolicy needs the pod restartPolicy Never');
    }
    const containers = new Set((pod.containers ?? []).map((c) => c.name));
    (job.podFailurePolicy?.rules ?? []).forEach((r, k) => {
      const codes = r.onExitCodes;
      if (!codes) return;
      const where = `${at}.template.spec.podFailurePolicy.rules[${k}].onExitCodes`;
      const v = codes.values ?? [];
      const sortedUnique = v.every((x, n) => n === 0 || x > (v[n - 1] ?? Infinity));
      if (v.length === 0 || v.length > 255 || !sortedUnique || v.some((x) => x < 0 || x > 255)) {
        bad(`${where}.values`, 'exit codes must be 1 to 255 sorted, unique values in 0–255');
      }
      if (codes.operator === 'In' && v.includes(0)) bad(`${where}.values`, '0 cannot be used with In');
      if (codes.containerName !== undefined && !containers.has(codes.containerName)) {
        bad(`${where}.containerName`, `no container named ${codes.containerName}`);
      }
    });
    if (job.completionMode === 'Indexed') {
      if (job.completions === undefined)
        bad(`${at}.template.spec.completions`, 'an Indexed Job needs completions');
      else if ((job.parallelism ?? 1) > job.completions) {
        bad(`${at}.template.spec.parallelism`, 'parallelism exceeds completions');
      }
      const podName = `${obj.metadata.name}-${j.name ?? ''}-${(j.replicas ?? 1) - 1}-${(job.completions ?? 1) - 1}-xxxxx`;
      if (podName.length > 63 || !DNS1035_LABEL.test(podName)) {
        bad(`${at}.name`, `pod name \`${podName}\` is not a DNS-1035 label of at most 63 characters`);
      }
    }
  });
  const names = new Set(jobs.map((j) => j.name));
  for (const t of spec.successPolicy?.targetReplicatedJobs ?? []) {
    if (!names.has(t)) bad('spec.successPolicy.targetReplicatedJobs', `no replicated job named ${t}`);
  }
  return out;
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const QUALIFIED_NAME =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** What the API server checks on names, labels and annotation keys (the schemas only say "string"). */
function metadataIssues(obj: ManifestObject, where: string, meta: unknown, named: boolean): Issue[] {
  const out: Issue[] = [];
  const bad = (path: string, message: string): void => {
    out.push({ code: 'k8s-metadata', severity: 'error', path: `${describe(obj)}${where}.${path}`, message });
  };
  const m = (meta ?? {}) as {
    name?: unknown;
    labels?: Record<string, unknown>;
    annotations?: Record<string, unknown>;
  };
  if (named) {
    const name = typeof m.name === 'string' ? m.name : '';
    const service = obj.kind === 'Service';
    if (name.length > (service ? 63 : 253) || !(service ? DNS1035_LABEL : DNS1123_SUBDOMAIN).test(name)) {
      bad(
        'name',
        `\`${name}\` is not a valid ${service ? 'Service name (DNS-1035 label)' : 'name (DNS-1123 subdomain)'}`,
      );
    }
  }
  for (const [k, v] of Object.entries(m.labels ?? {})) {
    if (!QUALIFIED_NAME.test(k) || (k.split('/').pop() ?? '').length > 63)
      bad(`labels`, `label key \`${k}\` is invalid`);
    if (typeof v !== 'string' || v.length > 63 || !LABEL_VALUE.test(v))
      bad(`labels.${k}`, `label value \`${String(v)}\` is invalid`);
  }
  for (const k of Object.keys(m.annotations ?? {})) {
    if (!QUALIFIED_NAME.test(k)) bad('annotations', `annotation key \`${k}\` is invalid`);
  }
  return out;
}

/**
 * Validates every object; returns one issue per violation (empty when all pass). Pure apart from loading the
 * shipped schemas on first use.
 */
export async function validateManifests(objects: readonly ManifestObject[]): Promise<Issue[]> {
  const issues: Issue[] = [];
  for (const obj of objects) {
    issues.push(...metadataIssues(obj, '.metadata', obj.metadata, true));
    for (const [where, template] of embeddedPodTemplates(obj)) {
      issues.push(...metadataIssues(obj, `.${where}.metadata`, template['metadata'], false));
    }
    const crd = CRDS[`${obj.apiVersion}/${obj.kind}`];
    if (crd === undefined) {
      issues.push(...(await validateCore(obj)));
      continue;
    }
    const fn = await crdValidator(crd);
    if (!fn(obj)) issues.push(...ajvIssues(obj, fn.errors));
    if (obj.kind === 'JobSet') issues.push(...jobSetIssues(obj));
    for (const [where, template] of embeddedPodTemplates(obj)) {
      const asObj = {
        apiVersion: 'v1',
        kind: 'PodTemplateSpec',
        metadata: { name: obj.metadata.name },
        ...template,
      } as ManifestObject;
      const found = await validateCore(asObj);
      issues.push(
        ...found.map((i) => ({
          ...i,
          path: i.path.replace(`PodTemplateSpec/${obj.metadata.name}`, `${describe(obj)}.${where}`),
        })),
      );
    }
  }
  return issues;
}
