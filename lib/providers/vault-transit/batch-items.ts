import { types } from 'node:util';
import { classifyVaultError } from '../../errors/classify-vault-error.js';
import { KmsError } from '../../errors/kms.error.js';
import { KmsInvalidInputError } from '../../errors/kms-invalid-input.error.js';
import { KmsUnavailableError } from '../../errors/kms-unavailable.error.js';
import { messages } from '../../errors/messages.js';
import type { BatchItemResult } from '../../interfaces/key-management-service.interface.js';
import { redact } from '../../secret.js';

/**
 * Shared by both providers' batch methods (`encryptDeks`, `decryptDeks`, `rewrapDeks`): the
 * per-item validation before any I/O, and the per-item errors Vault reports.
 */

/** An item that passed validation: its input position and the text sent for it. */
export interface PendingItem {
  readonly index: number;
  /** The base64 plaintext (encrypt) or the ciphertext (decrypt, rewrap). */
  readonly text: string;
}

/** The validated input of a batch call: the slots already decided, and the items to send. */
export interface PreparedBatch {
  /** One slot per input item; invalid items hold their error, the others are filled later. */
  readonly results: (BatchItemResult<Buffer> | undefined)[];
  readonly pending: readonly PendingItem[];
}

/**
 * Checks the input is an array (else the whole call fails), then each item on its own with
 * `prepare`: an item it refuses gets its {@link KmsError} in its slot and is not sent.
 */
export function prepareBatch(
  input: unknown,
  what: 'deks' | 'encryptedDeks',
  prepare: (item: unknown) => string,
): PreparedBatch {
  if (!Array.isArray(input) || types.isProxy(input)) {
    throw new KmsInvalidInputError(messages.batchInputType(what, describe(input)));
  }
  const results: (BatchItemResult<Buffer> | undefined)[] = Array.from({ length: input.length });
  const pending: PendingItem[] = [];
  for (let index = 0; index < input.length; index += 1) {
    try {
      pending.push({ index, text: prepare(input[index]) });
    } catch (error) {
      if (!(error instanceof KmsError)) throw error;
      results[index] = { ok: false, error };
    }
  }
  return { results, pending };
}

/** Consecutive slices of at most `size` items. */
export function chunksOf<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) {
    chunks.push(items.slice(start, start + size));
  }
  return chunks;
}

/** What a failed item is, classified as a 400 answer carrying its error string would be. */
export interface ItemErrorContext {
  readonly operation: string;
  readonly keyName: string;
  readonly mount: string;
  /** Values that must never appear in an error (the chunk's base64 plaintexts). */
  readonly secrets: readonly string[];
}

/**
 * The typed error of one item Vault refused (`"cipher: message authentication failed"` →
 * `KmsDecryptionError`, …), with `status` 400 and the item's error string, scrubbed of secrets,
 * in `vaultErrors`.
 */
export function itemError(context: ItemErrorContext, text: string): KmsError {
  return classifyVaultError({
    operation: context.operation,
    method: 'POST',
    keyName: context.keyName,
    mount: context.mount,
    status: 400,
    errors: [redact(text, context.secrets)],
  });
}

/** The results of a batch call once every slot is decided. */
export function settled(
  results: readonly (BatchItemResult<Buffer> | undefined)[],
): BatchItemResult<Buffer>[] {
  return results.map((result) => {
    if (result === undefined) throw new Error('batch result slot left empty');
    return result;
  });
}

/** Zeroes the values of a batch call that is abandoned (decrypted DEKs must not linger). */
export function zeroValues(results: readonly (BatchItemResult<Buffer> | undefined)[]): void {
  for (const result of results) if (result?.ok) result.value.fill(0);
}

/** A malformed batch answer: the whole call fails, whatever the items were. */
export function malformedBatch(operation: string, detail: string): KmsUnavailableError {
  return new KmsUnavailableError(messages.badResponse(operation, detail), 'bad-response');
}

/** What a wrong input is, without reading any of its properties. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  if (types.isProxy(value)) return 'a proxy';
  if (types.isUint8Array(value)) return 'a single Uint8Array';
  return 'object';
}
