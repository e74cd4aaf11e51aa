import { DefaultFailureConverter } from '@temporalio/common';

// Loaded by path (workflows need it inside their sandbox): failure messages and stack traces are
// moved into an encoded payload, so the payload codec encrypts them too.
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
