import { describe, expect, it } from 'vitest';
import { parseByteSize } from './byte-size';

describe('parseByteSize', () => {
  it('reads bytes and binary units', () => {
    expect(parseByteSize('gpu-memory', '2GiB')).toBe(2 * 1024 ** 3);
    expect(parseByteSize('gpu-memory', '1.5gb')).toBe(1.5 * 1024 ** 3);
    expect(parseByteSize('gpu-memory', '512 MiB')).toBe(512 * 1024 ** 2);
    expect(parseByteSize('gpu-memory', 4096)).toBe(4096);
  });

  it('refuses what is not a size', () => {
    for (const bad of ['', '2 TB', '-1GiB', '0', 'lots']) expect(() => parseByteSize('gpu-memory', bad)).toThrow(/--gpu-memory needs a size/);
  });
});
