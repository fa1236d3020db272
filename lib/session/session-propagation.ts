/**
 * What `KmsSessionHost.withSession` and `@WithSession()` do when a session is already active:
 * - `'required'` (default): join it — the work becomes part of the current unit of work and
 *   commits or rolls back with it;
 * - `'requires-new'`: open a unit of work of its own, committed when the work resolves, whatever
 *   the current one does later (a tombstone, an audit record, an outbox entry that must persist
 *   even if the request fails). With a pool that has a single connection (SQLite), start it
 *   before the current unit of work writes, or it waits for the lock the current one holds.
 * @publicApi
 */
export type SessionPropagation = 'required' | 'requires-new';

/** @publicApi */
export interface WithSessionOptions {
  /** @default 'required' */
  readonly propagation?: SessionPropagation;
}
