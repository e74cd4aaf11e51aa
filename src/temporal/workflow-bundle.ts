import { closeSync, openSync, readSync } from 'node:fs';
import { ConfigError, type Config } from '../config/config';

/**
 * What a prebuilt workflow bundle was built for. `npm run build:workflows` writes it as a comment
 * at the very start of the bundle (no line break: the inline source map's lines stay true), so it
 * travels with the file wherever the file is copied.
 */
export interface BundleMarker {
  /** Built with the failure converter that moves failure messages into encrypted payloads. */
  encrypted: boolean;
  /** Built with the OpenTelemetry workflow interceptors. */
  traced: boolean;
}

const PREFIX = '/* listrak-consent-sync workflow bundle ';
const SUFFIX = ' */';

export function bundleMarker(marker: BundleMarker): string {
  return `${PREFIX}${JSON.stringify(marker)}${SUFFIX}`;
}

/** The marker at the start of a bundle file, or undefined when it has none. */
export function readBundleMarker(file: string): BundleMarker | undefined {
  const head = Buffer.alloc(512);
  const fd = openSync(file, 'r');
  let length: number;
  try {
    length = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const text = head.subarray(0, length).toString('utf8');
  const end = text.indexOf(SUFFIX, PREFIX.length);
  if (!text.startsWith(PREFIX) || end < 0) return undefined;
  try {
    const parsed = JSON.parse(text.slice(PREFIX.length, end)) as Partial<BundleMarker>;
    return typeof parsed.encrypted === 'boolean' ? { encrypted: parsed.encrypted, traced: parsed.traced === true } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Refuses a prebuilt bundle (TEMPORAL_WORKFLOW_BUNDLE) that does not match the worker's payload
 * key: with a key and the plain bundle, workflow failure messages (which can name a person's
 * data) reach Temporal in clear; without a key and the encrypted bundle, every failure shows as
 * "Encoded failure" to the UI and the status answers.
 */
export function checkWorkflowBundle(config: Readonly<Config>): void {
  const file = config.temporal.workflowBundle;
  if (!file) return; // the worker bundles the workflows itself, with the matching converter
  const encrypted = config.temporal.payloadKeys !== undefined;
  const use = encrypted
    ? 'use dist/workflow-bundle-encrypted.js (`npm run build:workflows -- --encrypted`)'
    : 'use dist/workflow-bundle.js (`npm run build:workflows`)';
  let marker: BundleMarker | undefined;
  try {
    marker = readBundleMarker(file);
  } catch (error) {
    throw new ConfigError(`TEMPORAL_WORKFLOW_BUNDLE: cannot read '${file}': ${(error as Error).message}`);
  }
  if (!marker) {
    throw new ConfigError(`TEMPORAL_WORKFLOW_BUNDLE '${file}' carries no build marker (not built by this version's \`npm run build:workflows\`): rebuild it and ${use}`);
  }
  if (marker.encrypted && !encrypted) {
    throw new ConfigError(`TEMPORAL_WORKFLOW_BUNDLE '${file}' is built for payload encryption, but TEMPORAL_PAYLOAD_KEY is not set: ${use}, or set the key`);
  }
  if (!marker.encrypted && encrypted) {
    throw new ConfigError(
      `TEMPORAL_WORKFLOW_BUNDLE '${file}' is the unencrypted bundle, but TEMPORAL_PAYLOAD_KEY is set (workflow failure messages would reach Temporal in clear): ${use}`,
    );
  }
}
