export { createListrakActivities, type ListrakActivities } from './listrak-activities';
export { createLedgerActivities, type LedgerActivities } from './ledger-activities';
