import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Module } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { readSampleSettings } from '../settings/sample-settings.js';
import { SCHEMA } from './schema.js';
import { SqliteSessionPool } from './sqlite-session-pool.js';

/** The SQLite session pool over DATABASE_PATH, schema applied; closed on shutdown. */
@Module({
  providers: [
    {
      provide: SqliteSessionPool,
      inject: [ConfigService],
      useFactory: async (config: ConfigService): Promise<SqliteSessionPool> => {
        const { databasePath } = readSampleSettings(config);
        if (databasePath !== ':memory:')
          mkdirSync(dirname(databasePath), { recursive: true, mode: 0o700 });
        const pool = new SqliteSessionPool({ path: databasePath });
        try {
          await pool.migrate(SCHEMA);
        } catch (error) {
          pool.close();
          throw error;
        }
        return pool;
      },
    },
  ],
  exports: [SqliteSessionPool],
})
export class DatabaseModule {}
