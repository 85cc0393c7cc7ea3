import { describe, expect, it } from 'vitest';
import { GGUF_VALUE, GgufTruncated, checkGgufRanges, parseGgufHeader } from './gguf';
import { writeGguf } from './gguf-writer';

const f32Bytes = (v: number[]) => new Uint8Array(Float32Array.from(v).buffer);

/** Hand-assembled GGUF v3 bytes, from the format's definition, for the reader to be checked against. */
function handWritten(): Uint8Array {
  const parts: number[] = [];
  const u32 = (v: number) => parts.push(v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >>> 24) & 255);
  const u64 = (v: number) => { u32(v); u32(0); };
  const str = (s: string) => { u64(s.length); for (const ch of s) parts.push(ch.charCodeAt(0)); };
  u32(0x46554747); u32(3); u64(1); u64(2);
  str('general.architecture'); u32(8); str('deepseek2');
  str('a.list'); u32(9); u32(5); u64(3); u32(7); u32(0xffffffff); u32(1);
  str('w'); u32(2); u64(3); u64(2); u32(0); u64(0);
  while (parts.length % 32) parts.push(0);
  const out = new Uint8Array(parts.length + 32);
  out.set(parts);
  out.set(f32Bytes([1, 2, 3, 4, 5, 6]), parts.length);
  return out;
}

describe('GGUF reader', () => {
  it('reads a hand-assembled file: strings, an INT32 array, a tensor with ne = [3, 2] at the aligned data offset', () => {
    const bytes = handWritten();
    const h = parseGgufHeader(bytes);
    expect(h.version).toBe(3);
    expect(h.metadata.get('general.architecture')?.value).toBe('deepseek2');
    expect(h.metadata.get('a.list')).toEqual({ type: GGUF_VALUE.ARRAY, itemType: GGUF_VALUE.INT32, value: [7, -1, 1] });
    expect(h.tensors).toEqual([{ name: 'w', dims: [3, 2], type: 'F32', offset: 0, bytes: 24 }]);
    expect(h.dataOffset % 32).toBe(0);
    expect(new Float32Array(bytes.slice(h.dataOffset, h.dataOffset + 24).buffer)).toEqual(Float32Array.from([1, 2, 3, 4, 5, 6]));
  });

  it('asks for more bytes when given only a prefix, and succeeds with the prefix it asked for', () => {
    const bytes = handWritten();
    const full = parseGgufHeader(bytes);
    let have = 16;
    for (let tries = 0; tries < 10; tries++) {
      try {
        const h = parseGgufHeader(bytes.subarray(0, have));
        expect(h.tensors).toEqual(full.tensors);
        return;
      } catch (e) {
        expect(e).toBeInstanceOf(GgufTruncated);
        expect((e as GgufTruncated).needBytes).toBeGreaterThan(have);
        have = (e as GgufTruncated).needBytes;
      }
    }
    throw new Error('never parsed');
  });

  it('refuses bad magic, versions, types and truncated data with the field named', () => {
    const bytes = handWritten();
    const bad = bytes.slice();
    bad[0] = 0x47 + 1;
    expect(() => parseGgufHeader(bad)).toThrow(/not a GGUF file/);
    const v4 = bytes.slice();
    v4[4] = 4;
    expect(() => parseGgufHeader(v4)).toThrow(/version 4/);
    const h = parseGgufHeader(bytes);
    expect(() => checkGgufRanges(h, h.dataOffset + 20)).toThrow(/tensor "w" ends at byte/);
    const q = writeGguf({}, [{ name: 'x', dims: [32, 1], type: 'Q8_0', data: new Uint8Array(34) }]);
    const at = q.indexOf(8, 40); // the type code 8 (Q8_0) after the name and dims
    q[at] = 99;
    expect(() => parseGgufHeader(q)).toThrow(/tensor "x": ggml type 99 is not supported/);
  });
});

describe('GGUF writer → reader round trip', () => {
  it('keeps every value type, arrays, tensors and a non-default alignment', () => {
    const meta = {
      'general.architecture': 'deepseek2',
      'u8': { type: GGUF_VALUE.UINT8, value: 200 },
      'i8': { type: GGUF_VALUE.INT8, value: -100 },
      'u16': { type: GGUF_VALUE.UINT16, value: 60000 },
      'i16': { type: GGUF_VALUE.INT16, value: -30000 },
      'u32': 4000000000,
      'i32': -5,
      'f32': 0.5,
      'f64': { type: GGUF_VALUE.FLOAT64, value: 0.1 },
      'u64': 2n ** 60n,
      'i64': { type: GGUF_VALUE.INT64, value: -(2n ** 40n) },
      'b': true,
      'tokens': ['a', 'Ġb', '<｜begin▁of▁sentence｜>'],
      'scores': [0.5, -1, 2.25],
      'empty': [],
    } as const;
    const a = f32Bytes([1, 2, 3, 4, 5, 6, 7]);
    const b = new Uint8Array(34 * 3).map((_, i) => i);
    const file = writeGguf(meta, [{ name: 'a', dims: [7], type: 'F32', data: a }, { name: 'b', dims: [32, 3], type: 'Q8_0', data: b }], 64);
    const h = parseGgufHeader(file);
    expect(h.alignment).toBe(64);
    expect(h.dataOffset % 64).toBe(0);
    const v = (k: string) => h.metadata.get(k)?.value;
    expect([v('u8'), v('i8'), v('u16'), v('i16'), v('u32'), v('i32'), v('f32'), v('f64'), v('u64'), v('i64'), v('b')])
      .toEqual([200, -100, 60000, -30000, 4000000000, -5, 0.5, 0.1, 2n ** 60n, -(2n ** 40n), true]);
    expect(v('tokens')).toEqual(meta.tokens);
    expect(v('scores')).toEqual([0.5, -1, 2.25]);
    expect(v('empty')).toEqual([]);
    expect(h.tensors.map((t) => [t.name, t.dims, t.type, t.offset % 64, t.bytes])).toEqual([['a', [7], 'F32', 0, 28], ['b', [32, 3], 'Q8_0', 0, 102]]);
    checkGgufRanges(h, file.byteLength);
    const at = (i: number) => file.subarray(h.dataOffset + h.tensors[i].offset, h.dataOffset + h.tensors[i].offset + h.tensors[i].bytes);
    expect(at(0)).toEqual(a);
    expect(at(1)).toEqual(b);
  });

  it('refuses a tensor whose data does not match its type and dims, or a row of partial blocks', () => {
    expect(() => writeGguf({}, [{ name: 'x', dims: [32, 2], type: 'Q8_0', data: new Uint8Array(34) }])).toThrow(/tensor "x": 34 bytes/);
    expect(() => writeGguf({}, [{ name: 'x', dims: [100, 2], type: 'Q4_K', data: new Uint8Array(0) }])).toThrow(/multiple of 256/);
  });
});
