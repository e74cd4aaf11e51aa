/**
 * What the sandbox starts with: the integrations (credentials, scopes), the lists with their
 * profile fields and events, and the addresses Listrak would refuse. Tests may change a seed
 * while the sandbox runs (add a list, pause a client); the rules read it on every request.
 */

export interface SandboxClient {
  clientId: string;
  clientSecret: string;
  /** A paused integration: every request is refused, token requests included. */
  paused?: boolean;
  /** Integration scopes (Contact, Event, List, Segmentation, …); all when omitted. */
  scopes?: string[];
  /** Whether the integration may use Beta routes (the bulk profile update). */
  betaRoutes?: boolean;
  /** Listrak's integration type: `Email` (the default) reaches the Email API, `Privacy` the Privacy API only. */
  integrationType?: 'Email' | 'Privacy';
}

export interface SandboxField {
  segmentationFieldId: number;
  segmentationFieldName: string;
  maxLength: number;
  dataType?: string;
  /** Sandbox extension: a field switched off in Listrak rejects values. */
  disabled?: boolean;
}

export interface SandboxList {
  listId: number;
  listName: string;
  active?: boolean;
  /** The list's own double opt-in setting (`enableDoubleOptIn` of GET /List/{listId}); false when omitted. */
  enableDoubleOptIn?: boolean;
  segmentationFieldGroups?: { segmentationFieldGroupId: number; segmentationFieldGroupName: string; fields: SandboxField[] }[];
  events?: { eventId: number; eventName: string; eventGroupId?: number; status?: 'Active' | 'Blocked' }[];
}

export interface SandboxSeed {
  clients: SandboxClient[];
  lists: SandboxList[];
  bannedEmails?: string[];
  suppressedEmails?: string[];
  /** Addresses pending double opt-in. */
  pendingEmails?: string[];
}

const profileGroup = (offset: number) => [
  {
    segmentationFieldGroupId: 10 + offset,
    segmentationFieldGroupName: 'Referral profile',
    fields: [
      { segmentationFieldId: 101 + offset, segmentationFieldName: 'First Name', maxLength: 50, dataType: 'Text' },
      { segmentationFieldId: 102 + offset, segmentationFieldName: 'Last Name', maxLength: 50, dataType: 'Text' },
      { segmentationFieldId: 103 + offset, segmentationFieldName: 'Phone Number', maxLength: 20, dataType: 'Text' },
      { segmentationFieldId: 104 + offset, segmentationFieldName: 'Share Link', maxLength: 200, dataType: 'Text' },
      { segmentationFieldId: 105 + offset, segmentationFieldName: 'Funnel', maxLength: 20, dataType: 'Text' },
    ],
  },
];

/** What `npm start` and the tests use when no seed file is given. */
export const DEFAULT_SEED: SandboxSeed = {
  clients: [
    { clientId: 'sandbox-client', clientSecret: 'sandbox-secret', betaRoutes: true },
    { clientId: 'sandbox-staging-client', clientSecret: 'sandbox-staging-secret' },
    { clientId: 'sandbox-privacy-client', clientSecret: 'sandbox-privacy-secret', integrationType: 'Privacy' },
  ],
  lists: [
    {
      listId: 1001,
      listName: 'Marketing (sandbox production)',
      segmentationFieldGroups: profileGroup(0),
      events: [{ eventId: 501, eventName: 'Referral welcome series', eventGroupId: 50, status: 'Active' }],
    },
    {
      listId: 2002,
      listName: 'Marketing (sandbox staging)',
      segmentationFieldGroups: profileGroup(0),
      events: [{ eventId: 501, eventName: 'Referral welcome series (staging)', eventGroupId: 50, status: 'Active' }],
    },
  ],
};

export function seededClient(seed: SandboxSeed, clientId: string): SandboxClient | undefined {
  return seed.clients.find((client) => client.clientId === clientId);
}

export function seededList(seed: SandboxSeed, listId: number): SandboxList | undefined {
  return seed.lists.find((list) => list.listId === listId);
}

export function seededField(seed: SandboxSeed, listId: number, fieldId: number): SandboxField | undefined {
  for (const group of seededList(seed, listId)?.segmentationFieldGroups ?? []) {
    const found = group.fields.find((field) => field.segmentationFieldId === fieldId);
    if (found) return found;
  }
  return undefined;
}
