// The naive peer: an Express handler that calls Listrak inline (token + upsert), no durability,
// no ordering. Run as its own process. env: PORT, LISTRAK_* as for the service.
import express from 'express';
import { ListrakClient } from '../src/listrak/client';

const client = new ListrakClient({ authUrl: process.env.LISTRAK_AUTH_URL ?? '', apiUrl: process.env.LISTRAK_API_URL ?? '' });
const target = {
  clientId: process.env.LISTRAK_CLIENT_ID ?? '',
  clientSecret: process.env.LISTRAK_CLIENT_SECRET ?? '',
  listId: Number(process.env.LISTRAK_LIST_ID),
};
const app = express();
app.post('/webhooks/extole', express.json(), async (req, res) => {
  const event = req.body as { email: string; type: string };
  try {
    await client.upsertContact(target, {
      emailAddress: event.email,
      subscriptionState: event.type === 'opt_out' ? 'Unsubscribed' : 'Subscribed',
      segmentationFieldValues: [],
    });
    res.status(200).json({ ok: true });
  } catch (error) {
    res.status(502).json({ error: (error as Error).message });
  }
});
app.listen(Number(process.env.PORT), '127.0.0.1', () => process.stdout.write('naive peer listening\n'));
