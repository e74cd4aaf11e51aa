import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { SEARCH_ATTRIBUTES } from '../shared';

/** Custom search attributes. They hold a keyed hash of the email, never the address itself. */
export const emailHashKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.emailHash, SearchAttributeType.KEYWORD);
export const environmentKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.environment, SearchAttributeType.KEYWORD);
export const outcomeKey = defineSearchAttributeKey(SEARCH_ATTRIBUTES.outcome, SearchAttributeType.KEYWORD);

export const ALL_SEARCH_ATTRIBUTE_KEYS = [emailHashKey, environmentKey, outcomeKey];
