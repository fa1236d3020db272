import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Test, type TestingModuleBuilder } from '@nestjs/testing';
import Database from 'better-sqlite3';
import request from 'supertest';
import { afterEach, beforeEach, vi } from 'vitest';
import { startTransitDevServer, type TransitDevServer } from '../../../lib/testing/index.js';
import { AppModule } from '../../../sample/app.module.js';

/** The sample's environment variables; unset ones are removed for the boot. */
export interface SampleEnv {
  VAULT_ADDR?: string;
  VAULT_TOKEN?: string;
  TRANSIT_MOUNT?: string;
  DATABASE_PATH?: string;
}

const VARIABLES = ['VAULT_ADDR', 'VAULT_TOKEN', 'TRANSIT_MOUNT', 'DATABASE_PATH'] as const;

/**
 * Boots the real sample app (AppModule, its filter, its interceptor) on an ephemeral port-less
 * HTTP server for supertest. `customize` may override providers, as users do in their tests.
 */
export async function bootSample(
  env: SampleEnv,
  customize: (builder: TestingModuleBuilder) => TestingModuleBuilder = (builder) => builder,
): Promise<INestApplication> {
  for (const name of VARIABLES) vi.stubEnv(name, env[name] ?? '');
  const moduleRef = await customize(Test.createTestingModule({ imports: [AppModule] })).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

/** A private temporary directory for database files, removed by the returned function. */
export async function temporaryDirectory(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'nestjs-kms-sample-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Reads rows straight from the sample's database file (read-only), bypassing the app. */
export function readRows<T>(databasePath: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(databasePath, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

export interface CustomerInput {
  name: string;
  email: string;
  notes?: string;
}

/** POSTs a customer and returns its id (expects 201). */
export async function createCustomer(
  app: INestApplication,
  tenant: string,
  customer: CustomerInput,
): Promise<string> {
  const response = await request(app.getHttpServer())
    .post(`/tenants/${tenant}/customers`)
    .send(customer)
    .expect(201);
  return (response.body as { id: string }).id;
}

/** What each sample test gets: a fresh database directory, a Transit dev server, the app it boots. */
export interface SampleFixture {
  readonly vault: TransitDevServer;
  readonly databasePath: string;
  /** The app booted last (closed after each test). */
  readonly app: INestApplication;
  /** The environment that points the sample at this fixture's Vault and database. */
  env(): SampleEnv;
  /** Boots the sample (closing one booted before) with `env()` or the given environment. */
  boot(
    customize?: (builder: TestingModuleBuilder) => TestingModuleBuilder,
    env?: SampleEnv,
  ): Promise<INestApplication>;
  /** Closes the booted app, if any (e.g. to edit the database file behind its back). */
  close(): Promise<void>;
}

/** Registers beforeEach/afterEach hooks that give every test a fresh {@link SampleFixture}. */
export function useSampleFixture(): SampleFixture {
  let vault: TransitDevServer | undefined;
  let directory: Awaited<ReturnType<typeof temporaryDirectory>> | undefined;
  let app: INestApplication | undefined;
  const close = async (): Promise<void> => {
    await app?.close();
    app = undefined;
  };
  const fixture: SampleFixture = {
    get vault() {
      if (!vault) throw new Error('the fixture is set up in beforeEach');
      return vault;
    },
    get databasePath() {
      if (!directory) throw new Error('the fixture is set up in beforeEach');
      return join(directory.path, 'customers.db');
    },
    get app() {
      if (!app) throw new Error('boot() the sample first');
      return app;
    },
    env: () => ({
      VAULT_ADDR: fixture.vault.address,
      VAULT_TOKEN: fixture.vault.token,
      DATABASE_PATH: fixture.databasePath,
    }),
    boot: async (customize, env) => {
      await close();
      app = await bootSample(env ?? fixture.env(), customize);
      return app;
    },
    close,
  };
  beforeEach(async () => {
    vault = await startTransitDevServer();
    directory = await temporaryDirectory();
  });
  afterEach(async () => {
    await close();
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
    await vault?.close();
    await directory?.remove();
  });
  return fixture;
}
