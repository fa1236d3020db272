import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { KmsConfigurationError } from '../errors/kms-configuration.error.js';
import { KmsError } from '../errors/kms.error.js';
import { messages } from '../errors/messages.js';
import type { IKeyManagementService } from '../interfaces/key-management-service.interface.js';
import { InjectKeyManagementService } from '../kms.decorators.js';
import {
  READ_VAULT_HEALTH,
  type VaultHealthReading,
} from '../providers/vault-transit/vault-health.js';
import { VaultTransitService } from '../providers/vault-transit/vault-transit.service.js';
import { RestSessionPool } from '../session/rest-session-pool.js';

/** Options of {@link VaultHealthIndicator.isHealthy}. @publicApi */
export interface VaultHealthCheckOptions {
  /**
   * Time limit of the check, in milliseconds: a Vault that has not answered `sys/health` by then
   * (hung, unreachable) is reported down, and the request is cancelled.
   * An integer from 1 to 600000. The module's `timeoutMs`/`deadlineMs` bound it too.
   * @default 3000
   */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 3_000;
const MAX_TIMEOUT_MS = 600_000;
/** Longest text taken from Vault's answer into the details (a version or cluster name). */
const MAX_DETAIL_LENGTH = 200;

/**
 * A `@nestjs/terminus` health indicator for the Vault that `KmsModule` talks to, with
 * `sys/health` semantics: the active node (200) is up; a standby (429) or performance standby
 * (473) is up too, with `standby: true` in the details — its requests reach the active node;
 * sealed (503), not initialised (501), a DR secondary (472), a standby cut off from its active
 * node (474), a node removed from its cluster (530), any other answer, no answer, or no answer
 * within `timeoutMs` are down. The details carry the node's `state`, `initialized`, `sealed`,
 * `standby`, `performanceStandby`, `version`, `clusterName` and `statusCode` as far as Vault
 * sent them — never a token.
 *
 * It sends one `GET /v1/sys/health` (never retried) to the module's `vaultAddr` through the
 * module's REST pool, so TLS and namespace settings and the transport apply as for every KMS
 * call. The request carries no token and resolves none: the check needs no token, and a failing
 * token function or login does not make it down. It checks the service registered under `KEY_MANAGEMENT_SERVICE`: when a test overrides
 * it with another implementation (e.g. `InMemoryKeyManagementService`), that one's `setup()` is
 * the check instead, within the same timeout (up with `provider` in the details). Provide it
 * next to `TerminusModule` in a module that sees `KmsModule`'s exports:
 *
 * @example
 * ```ts
 * @Module({ imports: [TerminusModule, KmsModule.forRoot(options)], providers: [VaultHealthIndicator] })
 * // in a controller:
 * @Get('health') @HealthCheck()
 * check() { return this.health.check([() => this.vault.isHealthy('vault', { timeoutMs: 2000 })]); }
 * ```
 * @publicApi
 */
@Injectable()
export class VaultHealthIndicator {
  constructor(
    private readonly healthIndicatorService: HealthIndicatorService,
    @InjectKeyManagementService() private readonly kms: IKeyManagementService,
    private readonly pool: RestSessionPool,
  ) {}

  /**
   * Asks Vault's `sys/health` and reports the result under `key`. Throws a
   * {@link KmsConfigurationError} for an invalid `timeoutMs`, before any request; never throws
   * for Vault's state (a down Vault is a `down` result).
   */
  async isHealthy<const Key extends string>(
    key: Key,
    options: VaultHealthCheckOptions = {},
  ): Promise<HealthIndicatorResult<Key>> {
    const timeoutMs = checkedTimeout(options.timeoutMs);
    const indicator = this.healthIndicatorService.check(key);
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new CheckTimedOut());
      }, timeoutMs);
    });
    const kms = this.kms;
    const reading: Promise<VaultHealthReading | string> = this.pool.session((session) =>
      kms instanceof VaultTransitService
        ? kms[READ_VAULT_HEALTH](session, { signal: controller.signal })
        : kms.setup(session, { signal: controller.signal }).then(() => kms.constructor.name),
    );
    try {
      const answer = await Promise.race([reading, timedOut]);
      if (typeof answer === 'string') return indicator.up({ provider: answer });
      const details = detailsOf(answer);
      if (answer.serving) return indicator.up(details);
      return indicator.down({
        message: answer.problem ?? `sys/health answered HTTP ${answer.status}`,
        ...details,
      });
    } catch (error) {
      if (error instanceof CheckTimedOut || controller.signal.aborted) {
        void reading.catch(() => undefined); // cancelled by the abort above
        return indicator.down({
          message: messages.healthTimedOut(timeoutMs),
          timeoutMs,
        });
      }
      // The library's messages carry no secret; anything else is not described.
      const message =
        error instanceof KmsError ? error.message : 'the sys/health request failed unexpectedly';
      return indicator.down(
        error instanceof KmsError ? { message, code: error.code } : { message },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The check's own time limit ran out. */
class CheckTimedOut extends Error {}

function checkedTimeout(timeoutMs: unknown): number {
  if (timeoutMs === undefined) return DEFAULT_TIMEOUT_MS;
  if (
    typeof timeoutMs !== 'number' ||
    !Number.isInteger(timeoutMs) ||
    timeoutMs < 1 ||
    timeoutMs > MAX_TIMEOUT_MS
  ) {
    throw new KmsConfigurationError(messages.healthTimeoutInvalid(MAX_TIMEOUT_MS));
  }
  return timeoutMs;
}

/** What the answer tells about the node, from fields of the expected types only. */
function detailsOf(reading: VaultHealthReading): Record<string, unknown> {
  const body = reading.body ?? {};
  const details: Record<string, unknown> = { statusCode: reading.status };
  if (reading.state !== undefined) details['state'] = reading.state;
  const flags = [
    ['initialized', 'initialized'],
    ['sealed', 'sealed'],
    ['standby', 'standby'],
    ['performance_standby', 'performanceStandby'],
  ] as const;
  for (const [field, name] of flags) {
    if (typeof body[field] === 'boolean') details[name] = body[field];
  }
  const texts = [
    ['version', 'version'],
    ['cluster_name', 'clusterName'],
  ] as const;
  for (const [field, name] of texts) {
    const value = body[field];
    if (typeof value === 'string') details[name] = value.slice(0, MAX_DETAIL_LENGTH);
  }
  return details;
}
