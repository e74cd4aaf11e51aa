import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { ensureGoTool } from '../scripts/go-tools';
import { KUBERNETES_VERSION, SCHEMA_LOCATION, ensureKubernetesSchemas } from '../scripts/kubernetes-schemas';
import { ALL_SEARCH_ATTRIBUTE_KEYS } from '../src/temporal/search-attributes';
import { DEFAULT_TASK_QUEUE } from '../src/shared';
import { PROJECT_ROOT } from '../src/dev/paths';

// deploy/helm/listrak-consent-sync rendered by `helm template` and validated by kubeconform against
// the Kubernetes schemas (scripts/kubernetes-schemas.ts); the CRDs (KEDA's ScaledObject, the
// Prometheus Operator's ServiceMonitor) have no schema here and are checked field by field below.
const chart = path.join(PROJECT_ROOT, 'deploy', 'helm', 'listrak-consent-sync');
const helm = ensureGoTool('helm');
const kubeconform = ensureGoTool('kubeconform');
const schemas = ensureKubernetesSchemas();
const missing = [helm, kubeconform, schemas].map((tool) => ('reason' in tool ? tool.reason : undefined)).find(Boolean);

interface Resource {
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, any>;
  data?: Record<string, string>;
}

function render(...set: string[]): { status: number | null; stdout: string; stderr: string } {
  return renderWith(set.flatMap((value) => ['--set', value]));
}

function renderWith(extra: string[]): { status: number | null; stdout: string; stderr: string } {
  const args = ['template', 'consent', chart, '--kube-version', KUBERNETES_VERSION, '--set', 'existingSecret=consent-secrets', ...extra];
  return spawnSync(helm.path!, args, { encoding: 'utf8', timeout: 60_000 });
}

function resources(yaml: string): Resource[] {
  return parseAllDocuments(yaml)
    .map((document) => document.toJSON() as Resource | null)
    .filter((resource): resource is Resource => resource !== null);
}

function validate(yaml: string): { status: number | null; output: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'helm-'));
  try {
    const file = path.join(dir, 'rendered.yaml');
    writeFileSync(file, yaml);
    const args = ['-strict', '-summary', '-kubernetes-version', KUBERNETES_VERSION, '-schema-location', SCHEMA_LOCATION, '-ignore-missing-schemas', file];
    const result = spawnSync(kubeconform.path!, args, { encoding: 'utf8', timeout: 60_000 });
    return { status: result.status, output: result.stdout + result.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('Helm chart (deploy/helm/listrak-consent-sync)', { skip: missing ?? false }, () => {
  const rendered = render();
  const all = resources(rendered.stdout);
  const find = (kind: string, suffix: string) => all.find((resource) => resource.kind === kind && resource.metadata.name.endsWith(suffix));

  it('renders, and every Kubernetes resource is valid against the Kubernetes schemas (kubeconform -strict)', () => {
    assert.equal(rendered.status, 0, rendered.stderr);
    const result = validate(rendered.stdout);
    assert.equal(result.status, 0, result.output);
    // 9 built-in resources validated; the CRD kinds (ScaledObject, 2 ServiceMonitors) skipped.
    assert.match(result.output, /Valid: 9, Invalid: 0, Errors: 0, Skipped: 3/);
    assert.deepEqual(all.map((resource) => resource.kind).sort(), [
      'ConfigMap', 'Deployment', 'Deployment', 'HorizontalPodAutoscaler', 'Job', 'PodDisruptionBudget', 'PodDisruptionBudget', 'ScaledObject', 'Service', 'Service', 'ServiceMonitor', 'ServiceMonitor',
    ]);
  });

  it('mounts the routing file of --set-file routing.file=… in the API and the workers, with ROUTING_FILE pointing at it', () => {
    const example = path.join(PROJECT_ROOT, 'deploy', 'routing.example.yaml');
    const routed = renderWith(['--set-file', `routing.file=${example}`]);
    assert.equal(routed.status, 0, routed.stderr);
    const validation = validate(routed.stdout);
    assert.equal(validation.status, 0, validation.output);
    const objects = resources(routed.stdout);
    const named = (kind: string, suffix: string) => objects.find((resource) => resource.kind === kind && resource.metadata.name.endsWith(suffix));
    const mountPath = '/etc/listrak-consent-sync/routing.yaml';
    assert.equal(named('ConfigMap', 'listrak-consent-sync')?.data?.ROUTING_FILE, mountPath);
    assert.equal(named('ConfigMap', '-routing')?.data?.['routing.yaml'], readFileSync(example, 'utf8'));
    for (const workload of [named('Deployment', '-api'), named('Deployment', '-worker')]) {
      const pod = workload?.spec.template.spec;
      assert.ok(pod.containers[0].volumeMounts.some((mount: any) => mount.name === 'routing' && mount.mountPath === mountPath && mount.readOnly), workload?.metadata.name);
      assert.ok(pod.volumes.some((volume: any) => volume.name === 'routing' && volume.configMap.name.endsWith('-routing')), workload?.metadata.name);
    }
    // Without a routing file: no ROUTING_FILE, no mount.
    assert.equal(find('ConfigMap', 'listrak-consent-sync')?.data?.ROUTING_FILE, undefined);
    assert.ok(!rendered.stdout.includes('routing.yaml'));
  });

  it('kubeconform refuses a wrong field (the validation is not vacuous)', () => {
    const broken = rendered.stdout.replace('terminationGracePeriodSeconds: 30', 'terminationGracePeriodSeconds: "thirty"');
    assert.notEqual(broken, rendered.stdout);
    const result = validate(broken);
    assert.notEqual(result.status, 0);
    assert.match(result.output, /Invalid: 1/);
  });

  it('splits the probes: API readiness = Temporal reachable (intake), worker liveness on its /healthz', () => {
    const api = find('Deployment', '-api')!.spec.template.spec.containers[0];
    assert.equal(api.readinessProbe.httpGet.path, '/readyz?scope=intake');
    assert.equal(api.livenessProbe.httpGet.path, '/healthz');
    assert.deepEqual(api.command, ['node', 'dist/src/api.js']);
    const worker = find('Deployment', '-worker')!.spec.template.spec.containers[0];
    assert.equal(worker.livenessProbe.httpGet.path, '/healthz');
    assert.equal(worker.livenessProbe.httpGet.port, 'metrics');
    assert.equal(worker.readinessProbe, undefined);
    assert.deepEqual(worker.command, ['node', 'dist/src/worker.js']);
    assert.equal(api.image, worker.image, 'one image');
  });

  it('takes Secrets by reference only, and refuses to render without one', () => {
    for (const deployment of all.filter((resource) => resource.kind === 'Deployment')) {
      const envFrom = deployment.spec.template.spec.containers[0].envFrom as { secretRef?: { name: string } }[];
      assert.ok(envFrom.some((source) => source.secretRef?.name === 'consent-secrets'), deployment.metadata.name);
    }
    assert.ok(!all.some((resource) => resource.kind === 'Secret'), 'the chart creates no Secret');
    const values = readFileSync(path.join(chart, 'values.yaml'), 'utf8');
    assert.doesNotMatch(values, /(SECRET|TOKEN|KEY):\s*\S/, 'no credential values in values.yaml');
    const without = spawnSync(helm.path!, ['template', 'consent', chart, '--kube-version', KUBERNETES_VERSION], { encoding: 'utf8' });
    assert.notEqual(without.status, 0);
    assert.match(without.stderr, /existingSecret/);
  });

  it('has PodDisruptionBudgets for both, an HPA for the API, and KEDA scaling workers on the task-queue backlog', () => {
    assert.equal(find('PodDisruptionBudget', '-api')!.spec.minAvailable, 1);
    assert.equal(find('PodDisruptionBudget', '-worker')!.spec.maxUnavailable, 1);
    const hpa = find('HorizontalPodAutoscaler', '-api')!;
    assert.equal(hpa.spec.scaleTargetRef.name, find('Deployment', '-api')!.metadata.name);
    assert.equal(find('Deployment', '-api')!.spec.replicas, undefined, 'the HPA owns the API replica count');
    const scaled = find('ScaledObject', '-worker')!;
    assert.equal(scaled.spec.scaleTargetRef.name, find('Deployment', '-worker')!.metadata.name);
    assert.equal(find('Deployment', '-worker')!.spec.replicas, undefined, 'KEDA owns the worker replica count');
    const [trigger] = scaled.spec.triggers as { type: string; metadata: Record<string, string> }[];
    assert.equal(trigger?.type, 'temporal');
    assert.equal(trigger?.metadata.taskQueue, DEFAULT_TASK_QUEUE);
    assert.equal(trigger?.metadata.queueTypes, 'workflow,activity');
    assert.ok(Number(trigger?.metadata.targetQueueSize) > 0);
    assert.ok(Object.values(trigger?.metadata ?? {}).every((value) => typeof value === 'string'), 'KEDA trigger metadata values are strings');
    // Without KEDA: a fixed replica count instead.
    const fixed = resources(render('worker.autoscaling.keda.enabled=false').stdout);
    assert.ok(!fixed.some((resource) => resource.kind === 'ScaledObject'));
    assert.equal(fixed.find((resource) => resource.kind === 'Deployment' && resource.metadata.name.endsWith('-worker'))?.spec.replicas, 2);
  });

  it('has ServiceMonitors on the metrics ports, with the job names the alert rules use', () => {
    for (const [component, port, job] of [['api', 'http', 'consent-api'], ['worker', 'metrics', 'consent-worker']] as const) {
      const monitor = find('ServiceMonitor', `-${component}`)!;
      const service = all.find((resource) => resource.kind === 'Service' && resource.metadata.labels?.['app.kubernetes.io/component'] === component)!;
      assert.equal(monitor.spec.jobLabel, 'prometheus-job');
      assert.equal(service.metadata.labels?.['prometheus-job'], job);
      assert.deepEqual(monitor.spec.selector.matchLabels, service.spec.selector);
      assert.equal(monitor.spec.endpoints[0].port, port);
      assert.ok((service.spec.ports as { name: string }[]).some((entry) => entry.name === port));
    }
    assert.match(readFileSync(path.join(PROJECT_ROOT, 'deploy', 'prometheus', 'rules.yml'), 'utf8'), /up\{job="consent-worker"\}/);
  });

  it('registers the search attributes in a pre-install/pre-upgrade Job', () => {
    const job = find('Job', '-setup')!;
    assert.equal(job.metadata.annotations?.['helm.sh/hook'], 'pre-install,pre-upgrade');
    const container = job.spec.template.spec.containers[0];
    assert.equal(container.image, 'temporalio/admin-tools:1.32.0');
    const env = Object.fromEntries((container.env as { name: string; value: string }[]).map((entry) => [entry.name, entry.value]));
    assert.deepEqual(env.SEARCH_ATTRIBUTES?.split(' ').sort(), ALL_SEARCH_ATTRIBUTE_KEYS.map((key) => key.name).sort());
    assert.match(container.command.join('\n'), /temporal operator search-attribute create .*--type Keyword/);
  });
});
