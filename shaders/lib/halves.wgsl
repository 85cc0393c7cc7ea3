// 16-bit values packed two per word, the first in the low half: f16/bf16 elements and f16 scales.

/** Half i of an array of f16 starting at word `base`. */
fn half_at(wp: Words, base: u32, i: u32) -> f32 {
  let v = unpack2x16float((*wp)[base + (i >> 1u)]);
  return select(v.x, v.y, (i & 1u) == 1u);
}

/**
 * The words holding 16-bit elements e … e+7 of a section starting at word `base`, two per word. Rows of
 * odd length start in the middle of a word: then a five-word window shifted by 16 bits.
 */
fn halves8(wp: Words, base: u32, e: u32) -> vec4<u32> {
  let i = base + (e >> 1u);
  var v = vec4<u32>((*wp)[i], (*wp)[i + 1u], (*wp)[i + 2u], (*wp)[i + 3u]);
  if ((e & 1u) != 0u) {
    let n = (*wp)[i + 4u];
    v = (v >> vec4<u32>(16u)) | (vec4<u32>(v.yzw, n) << vec4<u32>(16u));
  }
  return v;
}
