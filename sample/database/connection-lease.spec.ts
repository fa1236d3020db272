import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ConnectionLease } from './connection-lease.js';
import { DatabaseBusyError } from './database-busy.error.js';

describe('ConnectionLease', () => {
  it('grants a free lease at once and frees it on release', async () => {
    const lease = new ConnectionLease();

    const release = await lease.acquire(100);
    expect(lease.held).toBe(true);
    release();

    expect(lease.held).toBe(false);
  });

  it('serves waiters in arrival order', async () => {
    const lease = new ConnectionLease();
    const order: number[] = [];
    const first = await lease.acquire(1_000);

    const waiters = [1, 2, 3].map(async (n) => {
      const release = await lease.acquire(1_000);
      order.push(n);
      await sleep(1);
      release();
    });
    expect(lease.waiting).toBe(3);
    first();
    await Promise.all(waiters);

    expect(order).toEqual([1, 2, 3]);
    expect(lease.held).toBe(false);
  });

  it('fails a waiter with DatabaseBusyError after its timeout and serves the next one', async () => {
    const lease = new ConnectionLease();
    const holder = await lease.acquire(1_000);

    const impatient = lease.acquire(20);
    const patient = lease.acquire(5_000);

    const error = await impatient.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DatabaseBusyError);
    expect(error).toMatchObject({ code: 'DATABASE_BUSY', retryable: true });
    expect((error as Error).message).toMatch(/database is busy.*retry/i);
    expect(lease.waiting).toBe(1);

    holder();
    const release = await patient;
    expect(lease.held).toBe(true);
    release();
  });

  it('ignores a second release, which must not free a later holder', async () => {
    const lease = new ConnectionLease();
    const first = await lease.acquire(100);
    const second = lease.acquire(1_000);

    first();
    const releaseSecond = await second;
    first();

    expect(lease.held).toBe(true);
    const third = lease.acquire(1_000);
    expect(lease.waiting).toBe(1);
    releaseSecond();
    (await third)();
    expect(lease.held).toBe(false);
  });

  it('rejects waiters and later acquires once closed, idempotently', async () => {
    const lease = new ConnectionLease();
    const holder = await lease.acquire(100);
    const waiter = lease.acquire(60_000);
    const reason = new Error('closed');

    lease.close(reason);
    lease.close(new Error('closed again'));

    await expect(waiter).rejects.toBe(reason);
    await expect(lease.acquire(100)).rejects.toBe(reason);
    expect(lease.waiting).toBe(0);
    holder();
  });
});
