import { expect } from 'vitest';
import { DistillError } from '../../dist/errors.js';

/** Awaits `promise`, expecting it to reject with a one-line DistillError; returns the message. */
export async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(DistillError);
    const message = (error as Error).message;
    expect(message).not.toMatch(/\n/);
    return message;
  }
  throw new Error('expected a DistillError, but the call succeeded');
}
