import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Connection } from '@temporalio/client';
import { loadConfig } from '../src/config/config';
import { changeWorkflowIdFor, createTemporalIntake } from '../src/consent/intake';
import { connectClient, connectWorker, connectionOptions, temporalClient } from '../src/temporal/connection';
import { createConsentWorker } from '../src/temporal/consent-worker';
import { createHarness, testEnv, uniqueEmail, uniqueId, workflowBundle, type Harness } from '../src/dev/harness';

// A secured cluster, as far as one machine allows: a TLS-terminating gRPC proxy in front of the
// dev server that demands a client certificate signed by its CA (mTLS) and records the
// authorization header it receives (API keys), forwarding everything else unchanged.

const dir = mkdtempSync(path.join(os.tmpdir(), 'temporal-tls-'));
const file = (name: string) => path.join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

/** A CA, a server certificate for localhost/127.0.0.1 and a client certificate, all signed by the CA. */
function makeCertificates(): void {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=consent-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  for (const [name, extensions] of [
    ['server', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE'],
    ['client', 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE'],
    ['stranger', 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE'],
  ] as const) {
    writeFileSync(file(`${name}.ext`), extensions);
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    if (name === 'stranger') {
      // Self-signed: not from the cluster's CA.
      openssl('x509', '-req', '-in', `${name}.csr`, '-signkey', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
    } else {
      openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
    }
  }
}

interface Proxy {
  address: string;
  authorizations: Set<string>;
  close(): Promise<void>;
}

/** TLS (client certificate required) on the outside, plain gRPC to the dev server inside. */
async function startTlsProxy(target: string): Promise<Proxy> {
  const upstream = http2.connect(`http://${target}`);
  const authorizations = new Set<string>();
  const server = http2.createSecureServer({
    key: readFileSync(file('server.key')),
    cert: readFileSync(file('server.pem')),
    ca: readFileSync(file('ca.pem')),
    requestCert: true,
    rejectUnauthorized: true,
  });
  // Refused handshakes and clients going away reset sockets: expected here, not test failures.
  const ignore = () => undefined;
  upstream.on('error', ignore);
  server.on('tlsClientError', ignore);
  server.on('sessionError', ignore);
  server.on('session', (session) => session.on('error', ignore));
  server.on('stream', (stream, headers) => {
    if (typeof headers.authorization === 'string') authorizations.add(headers.authorization);
    const forwarded = Object.fromEntries(Object.entries(headers).filter(([name]) => !name.startsWith(':') || [':method', ':path'].includes(name)));
    const request = upstream.request(forwarded, { endStream: false });
    stream.pipe(request);
    const open = () => !stream.destroyed && !stream.closed;
    request.on('response', (responseHeaders) => {
      if (!open()) return;
      const { ':status': status, ...rest } = responseHeaders;
      stream.respond({ ':status': status, ...rest }, { waitForTrailers: true });
      request.pipe(stream);
    });
    let trailers: http2.OutgoingHttpHeaders = {};
    request.on('trailers', (received) => (trailers = received));
    stream.on('wantTrailers', () => {
      if (open()) stream.sendTrailers(trailers);
    });
    request.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    stream.on('error', () => request.close(http2.constants.NGHTTP2_CANCEL));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `localhost:${(server.address() as AddressInfo).port}`,
    authorizations,
    close: () =>
      new Promise<void>((resolve) => {
        upstream.close();
        server.close(() => resolve());
      }),
  };
}

describe('Temporal over TLS: mTLS client certificates and API keys (TEMPORAL_TLS_*, TEMPORAL_API_KEY)', () => {
  let harness: Harness;
  let proxy: Proxy;

  before(async () => {
    makeCertificates();
    harness = await createHarness();
    proxy = await startTlsProxy(harness.env.address);
  });
  after(async () => {
    await proxy?.close();
    await harness?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const configWith = (overrides: Record<string, string>) =>
    loadConfig(
      Object.fromEntries(
        Object.entries(testEnv(harness.sandboxUrls, { TEMPORAL_ADDRESS: proxy.address, TEMPORAL_TLS_CA_PATH: file('ca.pem'), ...overrides })).filter(
          (entry): entry is [string, string] => entry[1] !== undefined,
        ),
      ),
    );

  it('with a client certificate from the cluster CA, the worker and the intake work end to end', async () => {
    const config = configWith({ TEMPORAL_TLS_CERT_PATH: file('client.pem'), TEMPORAL_TLS_KEY_PATH: file('client.key') });
    assert.ok(config.temporal.tls?.clientCertPair, 'the certificate pair was read at start-up');
    const workerConnection = await connectWorker(config);
    const worker = await createConsentWorker({ config, connection: workerConnection, workerOptions: { workflowBundle: await workflowBundle() } });
    const running = worker.run();
    const connection = await connectClient(config);
    try {
      const intake = createTemporalIntake({ client: temporalClient(config, connection), config });
      const eventId = uniqueId('tls-');
      const email = uniqueEmail('tls');
      await intake.record([{ eventId, eventTime: new Date().toISOString(), eventTimeMs: Date.now(), type: 'opt_in', environment: 'production', email, profile: {} }]);
      const handle = temporalClient(config, connection).workflow.getHandle(changeWorkflowIdFor(config, 'production', email, eventId));
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          await handle.describe();
          break;
        } catch (error) {
          if (Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
      assert.equal(((await handle.result()) as { outcome: string }).outcome, 'applied');
    } finally {
      worker.shutdown();
      await running;
      await workerConnection.close();
      await connection.close();
    }
  });

  it('without a client certificate, or with one the CA did not sign, the cluster refuses the connection', async () => {
    const connect = (overrides: Record<string, string>) =>
      Connection.connect({ ...connectionOptions(configWith(overrides)), connectTimeout: 2_000 }).then(async (connection) => {
        try {
          await connection.withDeadline(Date.now() + 3_000, () => connection.workflowService.getSystemInfo({}));
        } finally {
          await connection.close();
        }
      });
    await assert.rejects(connect({}), 'no client certificate');
    await assert.rejects(connect({ TEMPORAL_TLS_CERT_PATH: file('stranger.pem'), TEMPORAL_TLS_KEY_PATH: file('stranger.key') }), 'a certificate from another CA');
    await assert.rejects(
      connectWorker(configWith({})).then((connection) => connection.close()),
      'the worker connection is refused too',
    );
  });

  it('an API key travels as a Bearer authorization header, over TLS only, and never in clear config output', async () => {
    const config = configWith({ TEMPORAL_API_KEY: 'cloud-api-key-123', TEMPORAL_TLS_CERT_PATH: file('client.pem'), TEMPORAL_TLS_KEY_PATH: file('client.key') });
    const connection = await connectClient(config);
    await connection.workflowService.getSystemInfo({});
    await connection.close();
    assert.ok(proxy.authorizations.has('Bearer cloud-api-key-123'));
    const cloudLike = loadConfig({ TEMPORAL_API_KEY: 'k', TEMPORAL_ADDRESS: 'my-ns.a1b2c.tmprl.cloud:7233', EMAIL_HASH_KEY: 'a-long-enough-hash-key' });
    assert.deepEqual(connectionOptions(cloudLike), { address: 'my-ns.a1b2c.tmprl.cloud:7233', tls: {}, apiKey: 'k' }, 'an API key alone means TLS with the system CAs');
    assert.throws(() => loadConfig({ TEMPORAL_TLS_CERT_PATH: file('client.pem') }), /TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together/);
    assert.throws(() => loadConfig({ TEMPORAL_TLS_CA_PATH: file('missing.pem') }), /TEMPORAL_TLS_CA_PATH: cannot read/);
    assert.equal(connectionOptions(loadConfig({})).tls, undefined, 'plain by default (local dev server)');
  });
});
