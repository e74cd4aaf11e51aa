import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { parsePayloadKeys } from '../src/temporal/encryption';
import { changeWorkflowIdFor, ledgerKeyFor } from '../src/intake';
import { ledgerWorkflowId } from '../src/shared';
import { consentEvent, createHarness, uniqueEmail, waitForRetrying, waitForOutcome, type Harness, type Service } from './helpers/harness';

describe('payload encryption (TEMPORAL_PAYLOAD_KEY)', () => {
  let harness: Harness;
  let service: Service;
  const key = `k1:${randomBytes(32).toString('base64')}`;

  before(async () => {
    harness = await createHarness();
    service = await harness.start({ TEMPORAL_PAYLOAD_KEY: key });
  });
  after(async () => {
    await harness?.close();
  });

  it('keeps emails, profile data and failure messages out of the history the server stores', async () => {
    const email = uniqueEmail('secret-person');
    const optIn = consentEvent('opt_in', email, new Date(Date.now() - 60_000), { profile: { first_name: 'Zebulon', last_name: 'Quixote' } });
    await service.post(optIn);
    assert.equal((await waitForOutcome(service, email, String(optIn.event_id))).outcome, 'applied', 'the service reads its own encrypted state');

    harness.sandbox.script({ route: 'upsert', email, status: 400, error: 'ERROR_INVALID_PARAMETER' });
    const optOut = consentEvent('opt_out', email, new Date());
    await service.post(optOut);
    const parked = await waitForOutcome(service, email, String(optOut.event_id));
    assert.equal(parked.outcome, 'parked');

    // Read the raw history with a client that has no key: what the Temporal server holds.
    const histories = await Promise.all(
      [
        ledgerWorkflowId(ledgerKeyFor(service.config, 'production', email)),
        changeWorkflowIdFor(service.config, 'production', email, String(optIn.event_id)),
        changeWorkflowIdFor(service.config, 'production', email, String(optOut.event_id)),
      ].map(async (id) =>
        JSON.stringify(await harness.env.client.workflow.getHandle(id).fetchHistory()),
      ),
    );
    const raw = histories.join('\n');
    for (const secret of [email, 'Zebulon', 'Quixote', 'ERROR_INVALID_PARAMETER', 'LISTRAK_SEGMENTATION_FIELDS']) {
      assert.ok(!raw.includes(secret), `${secret} is not in clear in the stored history`);
      assert.ok(!raw.includes(Buffer.from(secret).toString('base64')), `${secret} is not in the stored history as base64`);
    }
    assert.ok(raw.includes(Buffer.from('binary/encrypted').toString('base64')));
  });

  it('shows support the last error of a retrying change in clear, through the status endpoint', async () => {
    const email = uniqueEmail('retrying-encrypted');
    harness.sandbox.script({ route: 'getContact', email, status: 503, times: 10_000 });
    const optIn = consentEvent('opt_in', email, new Date(Date.now() - 60_000));
    await service.post(optIn);
    try {
      const retrying = await waitForRetrying(service, email);
      assert.match(retrying.lastError, /503/);
    } finally {
      harness.sandbox.clearFaults();
    }
    assert.equal((await waitForOutcome(service, email, String(optIn.event_id))).outcome, 'applied');
  });

  it('rejects malformed keys with a message naming the format', () => {
    assert.throws(() => parsePayloadKeys('k1:short'), /keyId:<32 bytes in base64>/);
    assert.equal(parsePayloadKeys(`${key},k0:${randomBytes(32).toString('base64')}`).length, 2);
  });
});
