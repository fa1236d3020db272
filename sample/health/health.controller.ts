import { Controller, Get, HttpStatus, Logger, Res } from '@nestjs/common';
import {
  CurrentSession,
  InjectKeyManagementService,
  type IKeyManagementService,
  type ISession,
} from '@ascetic-ddd/nestjs-kms';
import { extractConnection } from '../database/extract-connection.js';

type Status = 'up' | 'down';

/** The part of the platform's response the check uses (express, fastify alike). */
interface StatusSettable {
  status(code: number): unknown;
}

/** Readiness: 200 when both the key service and the database answer, 503 otherwise. */
@Controller('health')
export class HealthController {
  private readonly logger = new Logger('Health');

  constructor(@InjectKeyManagementService() private readonly kms: IKeyManagementService) {}

  @Get()
  async check(
    @CurrentSession() session: ISession,
    @Res({ passthrough: true }) response: StatusSettable,
  ): Promise<{ status: 'ok' | 'error'; kms: Status; database: Status }> {
    // setup(): Vault's sys/health plus a lookup of the token (sealed, down or bad token = down).
    const kms = await this.kms.setup(session).then(up, (error: unknown) => this.down('kms', error));
    const database = await extractConnection(session)
      .get('SELECT 1 AS ok')
      .then(up, (error: unknown) => this.down('database', error));
    const healthy = kms === 'up' && database === 'up';
    response.status(healthy ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return { status: healthy ? 'ok' : 'error', kms, database };
  }

  private down(what: string, error: unknown): Status {
    this.logger.warn(`${what} is down: ${error instanceof Error ? error.message : String(error)}`);
    return 'down';
  }
}

const up = (): Status => 'up';
