import { randomUUID } from 'node:crypto';

/** An answer a dev-server route computes; the server writes and logs it. */
export interface DevAnswer {
  readonly status: number;
  /** The JSON body, or undefined for none (204, HEAD). */
  readonly body: unknown;
}

/** Vault's success envelope (vault-transit-api §1.2). */
export function successEnvelope(
  data: unknown,
  warnings: readonly string[] | undefined,
  mountType: string,
): Record<string, unknown> {
  return {
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: warnings && warnings.length > 0 ? warnings : null,
    auth: null,
    mount_type: mountType,
  };
}
