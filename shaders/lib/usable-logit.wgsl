// Logits a sampler may draw from: anything but NaN and +inf (a broken weight or an overflow upstream).
// -inf is usable: masks, logit_bias and penalties write it. Tested on the bits, not as v != v, which a
// compiler may fold away.

fn is_usable(v: f32) -> bool {
  let b = bitcast<u32>(v);
  return (b & 0x7f800000u) != 0x7f800000u || b == 0xff800000u;
}
