/**
 * Recent refusals at intake, kept in memory for support (`GET /changes/refused`, the live view):
 * what was refused, where in the request and why, with the email's keyed hash and never the
 * address or the payload. Per API process and lost on restart: the durable record is the log
 * line `event refused at intake` / `webhook refused` and `consent_events_refused_total`.
 */
export interface Refusal {
  at: string;
  requestId: string;
  /** The status the request was answered with: 200 when other events of it were recorded. */
  answered: number;
  /** `event`: one event of a request; `request`: the whole request (JSON syntax, size, auth …). */
  scope: 'event' | 'request';
  /** Index of the event in the request's array (0 for a single object). */
  index?: number;
  eventId?: string;
  emailHash?: string;
  /** What was wrong: one entry per field of the event (the field is empty for the whole request). */
  problems: { field: string; reason: string; message: string }[];
}

export const REFUSALS_KEPT = 500;

export interface RefusalLog {
  add(refusal: Refusal): void;
  /** Newest first. */
  recent(limit: number): Refusal[];
}

/** A bounded ring: the newest `capacity` refusals. */
export function createRefusalLog(capacity = REFUSALS_KEPT): RefusalLog {
  const ring: Refusal[] = [];
  let next = 0;
  return {
    add(refusal) {
      if (ring.length < capacity) ring.push(refusal);
      else ring[next] = refusal;
      next = (next + 1) % capacity;
    },
    recent(limit) {
      const ordered = ring.length < capacity ? [...ring] : [...ring.slice(next), ...ring.slice(0, next)];
      return ordered.reverse().slice(0, limit);
    },
  };
}
