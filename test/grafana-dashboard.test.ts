import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { ensureGoTool } from '../scripts/go-tools';
import { observeParkedChanges, registry } from '../src/observability/metrics';
import { PROJECT_ROOT } from '../src/dev/paths';

interface Panel {
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string; datasource: { uid: string } }[];
}

const dashboard = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'deploy', 'grafana', 'dashboards', 'consent-sync.json'), 'utf8')) as {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; query: string }[] };
};
const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
const expressions = panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
/** The expression with the dashboard's variables replaced by their defaults, as Grafana sends it. */
const substituted = (expr: string) => dashboard.templating.list.reduce((text, variable) => text.replaceAll(`$${variable.name}`, variable.query), expr);

describe('Grafana dashboard (deploy/grafana/dashboards/consent-sync.json)', () => {
  it('shows intake, outcomes, parked now, Listrak latency and errors by code, token refusals and the task-queue backlog', () => {
    const titles = panels.map((panel) => panel.title);
    for (const wanted of [
      'Changes accepted per second',
      'Webhook requests by answer',
      'Outcomes per minute',
      'Parked now',
      'Listrak latency p95 by operation',
      'Listrak errors by code',
      'Token refusals (1h)',
      'Task-queue backlog (Temporal server)',
    ]) {
      assert.ok(titles.includes(wanted), `a panel "${wanted}"`);
    }
    const parked = panels.find((panel) => panel.title === 'Parked now');
    assert.equal(parked?.targets?.[0]?.expr, 'max(consent_changes_parked)');
  });

  it("queries the provisioned Prometheus data source, and only metrics the service, its SDK or the Temporal server export", () => {
    const datasources = parse(readFileSync(path.join(PROJECT_ROOT, 'deploy', 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as {
      datasources: { uid: string }[];
    };
    const uid = datasources.datasources[0]?.uid;
    for (const panel of panels) {
      assert.equal(panel.datasource?.uid, uid, panel.title);
      for (const target of panel.targets ?? []) assert.equal(target.datasource.uid, uid, panel.title);
    }
    // Metric names: the service's own (this registry), the SDK's (temporal_*), the server's backlog gauge.
    observeParkedChanges(() => Promise.resolve(0)); // registered by the API process
    const own = new Set(registry.getMetricsAsArray().map((metric) => metric.name));
    const used = new Set(expressions.flatMap((expr) => [...expr.replace(/\bby \([^)]*\)/g, '').matchAll(/\b([a-z_]+)(?:_bucket|_count|_sum)?(?=\{|\[|\))/g)].map((match) => match[1]!)));
    for (const name of used) {
      if (['sum', 'rate', 'increase', 'max', 'vector', 'histogram_quantile', 'by', 'le', 'or'].includes(name)) continue;
      const base = name.replace(/_(bucket|count|sum)$/, '');
      assert.ok(own.has(base) || own.has(name) || name.startsWith('temporal_') || name === 'approximate_backlog_count', `${name} is a known metric`);
    }
    assert.ok(used.has('consent_changes_parked'));
  });

  it("groups the service's own metrics only by labels they carry (list and route included)", () => {
    const grouped = expressions.flatMap((expr) =>
      [...expr.matchAll(/by \(([^)]*)\) \((?:rate|increase)\(([a-z_]+)/g)].map((match) => ({ labels: match[1]!.split(',').map((label) => label.trim()), name: match[2]! })),
    );
    const outcomes = grouped.find((entry) => entry.name === 'consent_change_outcomes_total');
    assert.deepEqual(outcomes?.labels, ['environment', 'list', 'outcome'], 'outcomes per list');
    for (const { labels, name } of grouped) {
      const metric = registry.getSingleMetric(name) as unknown as { labelNames?: string[] } | undefined;
      if (!metric) continue; // the SDK's or the server's
      for (const label of labels) assert.ok(metric.labelNames?.includes(label), `${name} has a label ${label}`);
    }
  });

  const promtool = ensureGoTool('promtool');
  it('has PromQL that parses (every expression checked by promtool as a recording rule)', { skip: promtool.path === undefined ? `promtool: ${promtool.reason}` : false }, () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dashboard-'));
    try {
      const rules = { groups: [{ name: 'dashboard', rules: expressions.map((expr, index) => ({ record: `dashboard:expr_${index}`, expr: substituted(expr) })) }] };
      writeFileSync(path.join(dir, 'rules.yml'), stringify(rules));
      const result = spawnSync(promtool.path!, ['check', 'rules', path.join(dir, 'rules.yml')], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(result.status, 0, result.stdout + result.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
