import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { Test, type TestingModuleBuilder } from '@nestjs/testing';
import Database from 'better-sqlite3';
import request from 'supertest';
import { vi } from 'vitest';
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
