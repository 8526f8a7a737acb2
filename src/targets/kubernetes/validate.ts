/**
 * Schema validation of rendered manifests, without an API server. Core objects (Service, ConfigMap, Secret,
 * and every pod template embedded in a custom resource) are checked with `kubernetes-models`, which carries the
 * Kubernetes OpenAPI schemas. Custom resources are checked with ajv against the `openAPIV3Schema` of the
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

type CrdName = 'leaderworkerset' | 'podcliqueset' | 'volcano-podgroup' | 'network-attachment-definition';

interface CrdFile {
  readonly apiVersion: string;
  readonly kind: string;
  readonly openAPIV3Schema: unknown;
}

/** apiVersion/kind → shipped CRD schema. */
const CRDS: Readonly<Record<string, CrdName>> = {
  'leaderworkerset.x-k8s.io/v1/LeaderWorkerSet': 'leaderworkerset',
  'grove.io/v1alpha1/PodCliqueSet': 'podcliqueset',
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
  return [];
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
