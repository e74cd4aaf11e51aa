export { createListrakActivities, type ListrakActivities } from './listrak-activities';
