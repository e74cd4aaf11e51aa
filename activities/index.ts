export { createListrakActivities, type ListrakActivities } from './listrak-activities';
export { createLedgerActivities, type LedgerActivities } from './ledger-activities';
export {
  createReconcileActivities,
  type LedgerList,
  type ReconcileActivities,
  type ReconcileFigures,
  type ReconcileLedgers,
  type ReconcileMode,
  type ReconcilePageInput,
  type ReconcilePageResult,
  type ReconcileSweep,
} from './reconcile-activities';
export { createForgetActivities, type ForgetActivities } from './forget-activities';
