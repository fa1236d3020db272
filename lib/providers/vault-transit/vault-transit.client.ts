import type { HttpService } from '@nestjs/axios';
import { classifyVaultError } from '../../errors/classify-vault-error.js';
import { KmsUnavailableError } from '../../errors/kms-unavailable.error.js';
import { messages } from '../../errors/messages.js';
import type { ResolvedKmsOptions } from '../../kms-options.js';
import { redact } from '../../secret.js';

export type VaultMethod = 'GET' | 'POST' | 'DELETE';

export interface VaultRequest {
  /** Domain name of the call, used in error messages (e.g. `decryptDek`). */
  readonly operation: string;
  /** The key the call addresses (validated), used in error messages. */
  readonly keyName: string;
  readonly method: VaultMethod;
  /** Path under the mount (`encrypt/<key>`), or from `/v1/` when `outsideMount`. */
  readonly path: string;
  readonly body?: Record<string, unknown>;
  readonly outsideMount?: boolean;
  /** Values of the body that must never appear in an error (e.g. the base64 plaintext). */
  readonly secrets?: readonly string[];
}

export interface VaultAnswer {
  readonly status: number;
  /** The envelope's `data`, or undefined for 204 and data-less answers. */
  readonly data: Record<string, unknown> | undefined;
}

export interface VaultExchange {
  readonly status: number;
  readonly body: Record<string, unknown> | undefined;
  /** Vault's `errors`, with any echoed secret redacted. */
  readonly errors: readonly string[];
}

/**
 * All HTTP details of talking to Vault: URL, token header, timeout, JSON, and turning failures
 * into typed errors. Nothing it throws carries the token, headers or the request body: the
 * underlying axios error (which holds the config and headers) is never attached, and Vault's
 * error strings are scrubbed of the token and of the request's secrets in case a proxy echoes
 * them.
 */
export class VaultTransitClient {
  private readonly mountUrl: string;
  private readonly v1Url: string;

  constructor(private readonly options: ResolvedKmsOptions) {
    this.v1Url = `${options.vaultAddr}/v1/`;
    this.mountUrl = `${this.v1Url}${options.mount}/`;
  }

  /** Sends one request; resolves for 2xx, throws a classified {@link KmsError} otherwise. */
  async send(http: HttpService, request: VaultRequest): Promise<VaultAnswer> {
    const answer = await this.exchange(http, request);
    if (answer.status >= 200 && answer.status < 300) {
      const data = answer.body?.['data'];
      return { status: answer.status, data: isRecord(data) ? data : undefined };
    }
    throw this.classify(request, answer);
  }

  /** The typed error for a non-2xx exchange. */
  classify(request: VaultRequest, answer: VaultExchange): Error {
    return classifyVaultError({
      operation: request.operation,
      method: request.method,
      keyName: request.keyName,
      mount: this.options.mount,
      status: answer.status,
      errors: answer.errors,
    });
  }

  /** Sends one request and returns the status and parsed body whatever the status. */
  async exchange(http: HttpService, request: VaultRequest): Promise<VaultExchange> {
    const { timeoutMs } = this.options;
    const url = (request.outsideMount ? this.v1Url : this.mountUrl) + request.path;
    let status: number;
    let text: unknown;
    try {
      const response = await http.axiosRef.request<string>({
        method: request.method,
        url,
        headers: {
          'X-Vault-Token': this.options.vaultToken.reveal(),
          ...(request.body ? { 'Content-Type': 'application/json' } : {}),
        },
        ...(request.body ? { data: JSON.stringify(request.body) } : {}),
        // One deadline for the whole exchange (connect, answer, body); axios's own `timeout`
        // would be a second timer per request that only watches socket idleness.
        signal: AbortSignal.timeout(timeoutMs),
        responseType: 'text',
        transformResponse: (data: unknown) => data,
        validateStatus: () => true,
        maxRedirects: 0,
      });
      status = response.status;
      text = response.data;
    } catch (error) {
      throw transportError(request.operation, error, timeoutMs);
    }
    const body = parseJson(text);
    if (status >= 200 && status < 300) {
      if (status !== 204 && text !== '' && !body) {
        throw new KmsUnavailableError(
          messages.badResponse(request.operation, 'the body is not a JSON object'),
          'bad-response',
          { status },
        );
      }
      return { status, body, errors: [] };
    }
    const errors = body?.['errors'];
    const secrets = [this.options.vaultToken.reveal(), ...(request.secrets ?? [])];
    const vaultErrors = Array.isArray(errors)
      ? errors.filter((e): e is string => typeof e === 'string').map((e) => redact(e, secrets))
      : [`HTTP ${status} without a Vault error body`];
    return { status, body, errors: vaultErrors };
  }
}

function parseJson(text: unknown): Record<string, unknown> | undefined {
  if (typeof text !== 'string' || text === '') return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ERR_CANCELED: our deadline signal fired; the others are socket-level timeouts.
const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ERR_CANCELED']);

/**
 * A network failure or timeout as a {@link KmsUnavailableError}. Only the error code is kept:
 * the axios error holds the request config, including the token header.
 */
function transportError(operation: string, error: unknown, timeoutMs: number): KmsUnavailableError {
  const code =
    typeof (error as { code?: unknown })?.code === 'string'
      ? (error as { code: string }).code
      : 'UNKNOWN';
  const cause = Object.assign(new Error(`HTTP transport error ${code}`), { code });
  if (TIMEOUT_CODES.has(code)) {
    return new KmsUnavailableError(messages.timeout(operation, timeoutMs), 'timeout', { cause });
  }
  return new KmsUnavailableError(
    messages.unavailable(operation, `no answer (${code})`),
    'network',
    { cause },
  );
}
