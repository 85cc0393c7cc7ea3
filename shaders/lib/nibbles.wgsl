// 4-bit codes packed 8 per word, element j of a word in bits 4j … 4j+3, rows padded to whole groups of
// 32 codes (q4 and fp4): unit u of a row is its word u.

struct Nibbles {
  lo: vec4<u32>,
  hi: vec4<u32>,
  /** The unit's group of 32 in the tensor: r · groups + u / 4. */
  group: u32,
}

fn nibbles8(wp: Words, t: Tensor, cols: u32, r: u32, u: u32) -> Nibbles {
  let groups = (cols + 31u) / 32u;
  let v = vec4<u32>((*wp)[t.q + r * groups * 4u + u]);
  return Nibbles((v >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u), (v >> vec4<u32>(16u, 20u, 24u, 28u)) & vec4<u32>(15u), r * groups + (u >> 2u));
}
