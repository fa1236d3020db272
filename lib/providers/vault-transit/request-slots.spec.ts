import { getEventListeners } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import { RequestSlots } from './request-slots.js';

const timedOut = () => new Error('timed out');
const aborted = () => new Error('aborted');

describe('RequestSlots', () => {
  it('admits up to the limit at once (synchronously), then queues in FIFO order', async () => {
    const slots = new RequestSlots(2);
    const a = slots.enter(1_000, undefined, timedOut, aborted);
    const b = slots.enter(1_000, undefined, timedOut, aborted);
    expect(typeof a).toBe('function');
    expect(typeof b).toBe('function');
    const order: string[] = [];
    const c = (slots.enter(1_000, undefined, timedOut, aborted) as Promise<() => void>).then(
      (leave) => (order.push('c'), leave),
    );
    const d = (slots.enter(1_000, undefined, timedOut, aborted) as Promise<() => void>).then(
      (leave) => (order.push('d'), leave),
    );
    await Promise.resolve();
    expect(order).toEqual([]);
    (a as () => void)();
    const leaveC = await c;
    expect(order).toEqual(['c']);
    (b as () => void)();
    await d;
    expect(order).toEqual(['c', 'd']);
    leaveC();
  });

  it('leaving twice frees one slot only', async () => {
    const slots = new RequestSlots(1);
    const a = slots.enter(1_000, undefined, timedOut, aborted) as () => void;
    const waiting = [
      slots.enter(1_000, undefined, timedOut, aborted) as Promise<() => void>,
      slots.enter(1_000, undefined, timedOut, aborted) as Promise<() => void>,
    ];
    let admitted = 0;
    for (const w of waiting) void w.then(() => (admitted += 1));
    a();
    a();
    await new Promise((r) => setTimeout(r, 10));
    expect(admitted).toBe(1);
  });

  it('a waiter that times out gives its turn up; the next one gets the slot', async () => {
    vi.useFakeTimers();
    try {
      const slots = new RequestSlots(1);
      const a = slots.enter(1_000, undefined, timedOut, aborted) as () => void;
      const late = slots.enter(100, undefined, timedOut, aborted) as Promise<() => void>;
      const next = slots.enter(10_000, undefined, timedOut, aborted) as Promise<() => void>;
      const lateOutcome = late.catch((e: unknown) => e);
      await vi.advanceTimersByTimeAsync(150);
      expect(await lateOutcome).toEqual(timedOut());
      a();
      expect(typeof (await next)).toBe('function');
    } finally {
      vi.useRealTimers();
    }
  });

  it('a waiter whose signal aborts gives up at once and leaves no listener or timer', async () => {
    const slots = new RequestSlots(1);
    const a = slots.enter(1_000, undefined, timedOut, aborted) as () => void;
    const controller = new AbortController();
    const waiting = slots.enter(60_000, controller.signal, timedOut, aborted) as Promise<unknown>;
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    controller.abort();
    await expect(waiting).rejects.toEqual(aborted());
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    a();
    // The slot is free again: the next caller is admitted synchronously.
    expect(typeof slots.enter(1_000, undefined, timedOut, aborted)).toBe('function');
  });

  it('an admitted waiter’s timer and listener are cleared', async () => {
    const slots = new RequestSlots(1);
    const a = slots.enter(1_000, undefined, timedOut, aborted) as () => void;
    const controller = new AbortController();
    const waiting = slots.enter(60_000, controller.signal, timedOut, aborted) as Promise<
      () => void
    >;
    a();
    (await waiting)();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('a newcomer never overtakes a queue: it waits behind it even when a slot just freed', async () => {
    const slots = new RequestSlots(1);
    const a = slots.enter(1_000, undefined, timedOut, aborted) as () => void;
    const queued = slots.enter(1_000, undefined, timedOut, aborted) as Promise<() => void>;
    a(); // wakes `queued` (its promise settles later)
    const newcomer = slots.enter(1_000, undefined, timedOut, aborted);
    expect(typeof newcomer).not.toBe('function');
    (await queued)();
    expect(typeof (await newcomer)).toBe('function');
  });

  it('10,000 waiters are admitted in order, at most `limit` at a time', async () => {
    const slots = new RequestSlots(4);
    let active = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 10_000 }, async (_, i) => {
        const slot = slots.enter(60_000, undefined, timedOut, aborted);
        const leave = typeof slot === 'function' ? slot : await slot;
        active += 1;
        peak = Math.max(peak, active);
        order.push(i);
        await Promise.resolve();
        active -= 1;
        leave();
      }),
    );
    expect(peak).toBe(4);
    expect(order).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
  });
});
