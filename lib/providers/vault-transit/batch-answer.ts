import { isRecord } from './vault-transit.client.js';
import { malformedBatch } from './batch-items.js';

/**
 * The items of `data.batch_results`, in the order of `references` (the `reference` sent with
 * each item). The answer must hold exactly one object per item sent, each naming one sent
 * reference once; a Vault older than 1.13 echoes no references at all, and its items are then
 * taken in order (Vault answers in input order). Anything else fails the whole call with a
 * `bad-response` {@link KmsUnavailableError}.
 */
export function readBatchResults(
  operation: string,
  data: Record<string, unknown> | undefined,
  references: readonly string[],
): Record<string, unknown>[] {
  const rows = data?.['batch_results'];
  if (!Array.isArray(rows) || rows.length !== references.length || !rows.every(isRecord)) {
    throw malformedBatch(
      operation,
      `data.batch_results is missing or does not hold one object per item sent (${references.length})`,
    );
  }
  if (rows.every((row) => row['reference'] === undefined)) return rows;
  const position = new Map(references.map((reference, index) => [reference, index]));
  const ordered: Record<string, unknown>[] = Array.from({ length: rows.length });
  for (const row of rows) {
    const reference = row['reference'];
    const index = typeof reference === 'string' ? position.get(reference) : undefined;
    if (index === undefined || ordered[index] !== undefined) {
      throw malformedBatch(operation, 'data.batch_results names an item that was not sent');
    }
    ordered[index] = row;
  }
  return ordered;
}

/**
 * The `error` of a batch result item: undefined when the item succeeded (Vault omits it, or
 * leaves it empty); a non-string is a malformed answer.
 */
export function readItemError(operation: string, row: Record<string, unknown>): string | undefined {
  const error = row['error'];
  if (error === undefined || error === '') return undefined;
  if (typeof error !== 'string') {
    throw malformedBatch(operation, 'data.batch_results[].error is malformed');
  }
  return error;
}
