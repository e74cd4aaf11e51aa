import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ensureGoTool } from '../scripts/go-tools';
import { PROJECT_ROOT } from '../src/dev/paths';

// deploy/prometheus/rules.yml, checked and unit-tested by promtool (built once into .tools/ from
// its Go module by scripts/go-tools.ts; skipped, saying why, only where it cannot be built).
const dir = path.join(PROJECT_ROOT, 'deploy', 'prometheus');
const promtool = ensureGoTool('promtool');

interface Rules {
  groups: { rules: { alert?: string; expr: string }[] }[];
}

describe('Prometheus rules (deploy/prometheus/rules.yml)', { skip: promtool.path === undefined ? `promtool: ${promtool.reason}` : false }, () => {
  const run = (...args: string[]) => spawnSync(promtool.path!, args, { cwd: dir, encoding: 'utf8', timeout: 120_000 });

  it('pass `promtool check rules`, and the compose Prometheus configuration `promtool check config`', () => {
    const rules = run('check', 'rules', 'rules.yml');
    assert.equal(rules.status, 0, rules.stderr + rules.stdout);
    assert.match(rules.stdout, /SUCCESS: 7 rules found/);
    // The compose Prometheus configuration, its rule file read from here instead of compose's mount.
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'prometheus-'));
    try {
      const config = readFileSync(path.join(dir, 'prometheus.yml'), 'utf8');
      assert.ok(config.includes('- /etc/prometheus/rules.yml'));
      writeFileSync(path.join(scratch, 'prometheus.yml'), config.replace('/etc/prometheus/rules.yml', path.join(dir, 'rules.yml')));
      const checked = run('check', 'config', path.join(scratch, 'prometheus.yml'));
      assert.equal(checked.status, 0, checked.stderr + checked.stdout);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('fire every alert on synthetic series (`promtool test rules`), and every alert has a test', () => {
    const result = run('test', 'rules', 'rules.test.yml');
    assert.equal(result.status, 0, result.stderr + result.stdout);
    const alerts = (parse(readFileSync(path.join(dir, 'rules.yml'), 'utf8')) as Rules).groups.flatMap((group) => group.rules.map((rule) => rule.alert));
    const tests = parse(readFileSync(path.join(dir, 'rules.test.yml'), 'utf8')) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const fired = new Set(tests.tests.flatMap((test) => test.alert_rule_test.filter((check) => check.exp_alerts.length > 0).map((check) => check.alertname)));
    assert.deepEqual([...fired].sort(), alerts.filter((name): name is string => name !== undefined).sort());
  });

  it('fail `promtool test rules` when an alert no longer fires (the tests are not vacuous)', () => {
    const broken = readFileSync(path.join(dir, 'rules.yml'), 'utf8').replace('max(consent_changes_parked) > 0', 'max(consent_changes_parked) > 100');
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'prometheus-'));
    try {
      copyFileSync(path.join(dir, 'rules.test.yml'), path.join(scratch, 'rules.test.yml'));
      writeFileSync(path.join(scratch, 'rules.yml'), broken);
      const result = spawnSync(promtool.path!, ['test', 'rules', 'rules.test.yml'], { cwd: scratch, encoding: 'utf8', timeout: 120_000 });
      assert.notEqual(result.status, 0);
      assert.match(result.stdout + result.stderr, /ConsentChangesParked/);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
