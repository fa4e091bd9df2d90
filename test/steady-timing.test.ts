import { describe, expect, it } from 'vitest';
import { warmUntilSteady } from '../dist/steady-timing.js';

// The calls report their own times, so these tests set each call's cost exactly and do not depend on the clock.

describe('warmUntilSteady', () => {
  it('keeps calling while each window is faster than the last, and stops once they settle', async () => {
    // Each call is cheaper than the one before until call 60, then costs the same: a thread warming up.
    let calls = 0;
    await warmUntilSteady(() => Math.max(0.2, 4 - 0.065 * calls++), { windowMs: 20, minCalls: 3, budgetMs: 5000 });
    expect(calls).toBeGreaterThanOrEqual(60);
    // Settled calls cost 0.2 ms, so a window is 100 of them: the window that straddles call 60 can still beat
    // the best, and the first all-settled one can beat that one; the next equals it and ends the warm-up.
    expect(calls).toBeLessThanOrEqual(60 + 3 * 100);
  });

  it('stops after two windows for a call that is warm from the start', async () => {
    let calls = 0;
    await warmUntilSteady(
      () => {
        calls++;
        return 1;
      },
      { windowMs: 10, minCalls: 3, budgetMs: 5000 },
    );
    expect(calls).toBe(20);
  });

  it('a window is at least minCalls calls however long each takes', async () => {
    let calls = 0;
    await warmUntilSteady(
      () => {
        calls++;
        return 100;
      },
      { windowMs: 10, minCalls: 4, budgetMs: 5000 },
    );
    expect(calls).toBe(8);
  });

  it('gives up at the budget when the calls never settle', async () => {
    let calls = 0;
    // Each call takes half the time of the one before: every window beats the last.
    await warmUntilSteady(() => 64 / 2 ** calls++, { windowMs: 1, minCalls: 1, budgetMs: 100 });
    // 64 + 32 + 16 + ... stays under 128, so the budget of 100 ms of calls ends it after a few windows.
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls).toBeLessThan(20);
  });

  it('awaits asynchronous calls', async () => {
    let finished = 0;
    await warmUntilSteady(
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        finished++;
        return 5;
      },
      { windowMs: 10, minCalls: 1 },
    );
    expect(finished).toBe(4);
  });
});
