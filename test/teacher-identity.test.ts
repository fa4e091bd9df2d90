import { describe, expect, it } from 'vitest';
import { teacherDigest } from '../dist/teachers/fingerprint.js';
import { teacherPreprocessing } from '../dist/teachers/open-teacher.js';

// The soft-label store's key is the teacher's identity with its preprocessing: two settings that make the
// teacher compute different logits must give different keys, or a store would be reused for the wrong labels.
describe("a teacher's identity in soft-label keys", () => {
  const model = '0123456789abcdef';
  const key = (settings: Partial<Parameters<typeof teacherPreprocessing>[0]>) =>
    teacherDigest(model, teacherPreprocessing({ teacherNormalize: null, teacherLayout: null, teacherOutput: null, ...settings }));

  it('covers the output read and the input layout as well as the normalisation', () => {
    const keys = [
      key({}),
      key({ teacherNormalize: { mean: [0.5], std: [0.25] } }),
      key({ teacherOutput: 'logits' }),
      key({ teacherOutput: 'features' }),
      key({ teacherLayout: 'nchw' }),
      key({ teacherLayout: 'nhwc' }),
      key({ teacherLayout: 'nchw', teacherNormalize: { mean: [0.5], std: [0.25] } }),
    ];
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('keeps the keys of stores labelled before layout and output counted', () => {
    const normalize = { mean: [0.5], std: [0.25] };
    expect(key({})).toBe(model);
    expect(key({ teacherNormalize: normalize })).toBe(teacherDigest(model, normalize));
  });
});
