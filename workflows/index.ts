// The worker bundles this module: it and everything it imports run inside Temporal's
// deterministic sandbox (no Node built-ins, no I/O, no real clocks).
export { consentLedgerWorkflow, consentChangeSignal, ledgerStateQuery, type LedgerInput } from './consent-ledger';
export { applyConsentChangeWorkflow, retrySignal, skipSignal, changeStatusQuery, type ChangeResult } from './apply-change';
export { emailHashKeyWorkflow } from './email-hash-key';
export { reconcileWorkflow, type ReconcileInput, type ReconcileResult } from './reconcile';
export { forgetPersonWorkflow, forgetProgressQuery } from './forget-person';
