import { Controller, Get, Logger } from '@nestjs/common';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  type HealthCheckResult,
  type HealthIndicatorResult,
} from '@nestjs/terminus';
import { CurrentSession, type ISession } from '@ascetic-ddd/nestjs-kms';
import { VaultHealthIndicator } from '@ascetic-ddd/nestjs-kms/health';
import { extractConnection } from '../database/extract-connection.js';

/** How long Vault's sys/health may take before the check reports it down. */
const VAULT_CHECK_TIMEOUT_MS = 2_000;

/**
 * Readiness (terminus): 200 when Vault serves — its active node, or a standby whose requests
 * reach the active node — and the database answers; 503 otherwise (Vault sealed, uninitialised,
 * unreachable or hung past the timeout; the database closed), naming what is down.
 */
@Controller('health')
export class HealthController {
  private readonly logger = new Logger('Health');

  constructor(
    private readonly health: HealthCheckService,
    private readonly vault: VaultHealthIndicator,
    private readonly indicators: HealthIndicatorService,
  ) {}

  @Get()
  @HealthCheck()
  check(@CurrentSession() session: ISession): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.vault.isHealthy('vault', { timeoutMs: VAULT_CHECK_TIMEOUT_MS }),
      () => this.database(session),
    ]);
  }

  /** The request's own unit of work answers a trivial query. */
  private async database(session: ISession): Promise<HealthIndicatorResult<'database'>> {
    const indicator = this.indicators.check('database');
    try {
      await extractConnection(session).get('SELECT 1 AS ok');
      return indicator.up();
    } catch (error) {
      this.logger.warn(
        `database is down: ${error instanceof Error ? error.message : String(error)}`,
      );
      return indicator.down({ message: 'the database did not answer' });
    }
  }
}
