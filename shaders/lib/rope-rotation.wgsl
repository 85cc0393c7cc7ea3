// The rotation of the interleaved rotary embedding (pair i is (x[2i], x[2i+1]), turned by pos × inv_freq[i])
// at exact angles, from the table of packages/webmoe/src/model/rope.ts `ropeTable`: per pair i, the turns
// per position inv_freq[i]/2π as hi (table[2i]) + lo (table[2i+1]).
//
// Needs `table: array<f32>` (that table, a storage binding) declared by the main source.

// The rotation of pair i at position pos, as (cos, sin).
//
// pos × turns is formed without rounding: pos = ph·4096 + pl and hi = hh + hm, each part with at most
// 12 significant bits, so the four partial products are exact f32 values and dropping their whole turns
// (fract) loses nothing. lo is ~2^-24 of hi, so its product's rounding is negligible. Valid for pos < 2^24.
fn rotation(pos: u32, i: u32) -> vec2<f32> {
  let hi = table[2u * i];
  let lo = table[2u * i + 1u];
  let hh = bitcast<f32>(bitcast<u32>(hi) & 0xFFFFF000u);
  let hm = hi - hh;
  let pl = f32(pos & 0xFFFu);
  let ph = f32(pos >> 12u) * 4096.0;
  let t = fract(fract(pl * hh) + fract(pl * hm)) + fract(fract(ph * hh) + fract(ph * hm)) + f32(pos) * lo;
  return cos_sin_turns(t - round(t));
}

// (cos, sin) of r turns, |r| ≤ 1/2, to f32 precision. WGSL only promises sin/cos within 2^-11 (and
// SwiftShader is that coarse), so: quadrant by rounding, then Taylor series on |x| ≤ π/4 (truncation < 3e-9).
fn cos_sin_turns(r: f32) -> vec2<f32> {
  let q = round(4.0 * r);
  let x = (r - 0.25 * q) * 6.283185307179586;
  let x2 = x * x;
  let s = x * (1.0 + x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362880.0)))));
  let c = 1.0 + x2 * (-0.5 + x2 * (1.0 / 24.0 + x2 * (-1.0 / 720.0 + x2 * (1.0 / 40320.0 + x2 * (-1.0 / 3628800.0)))));
  // Rotate (c, s) by q quarter turns.
  switch ((i32(q) + 4) % 4) {
    case 1: { return vec2<f32>(-s, c); }
    case 2: { return vec2<f32>(-c, -s); }
    case 3: { return vec2<f32>(s, -c); }
    default: { return vec2<f32>(c, s); }
  }
}

// The inverse rotation (by −angle) is rotate(x0, x1, conj(cs)): cs with its sine negated.
fn rotate(x0: f32, x1: f32, cs: vec2<f32>) -> vec2<f32> {
  return vec2<f32>(x0 * cs.x - x1 * cs.y, x0 * cs.y + x1 * cs.x);
}
