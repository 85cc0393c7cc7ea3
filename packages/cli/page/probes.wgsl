// The benchmark's read probe: the simplest kernel that reads every byte of a buffer once, the floor any
// decode step reading that many bytes stands against. Each invocation folds what it reads with XOR into
// one word it writes, so that no read can be optimized away and no arithmetic is worth measuring.
//
// Bindings: 0 src (vec4<u32>, read), 1 sink (u32 per invocation), 2 params {n, invocations, per, base}.
//   read_chunks : invocation i reads the contiguous run base + [i·per, (i+1)·per) (what CPU threads want).
//   read_strided: invocation i reads base + i, base + i + invocations, … (coalesced across a GPU's lanes).
// Every dispatch writes the sink, so dispatches in one pass run one after the other (probe (c) chains them).

struct Params {
  n: u32,           // vec4 words in src to read
  invocations: u32, // invocations in the grid
  per: u32,         // read_chunks: words per invocation
  base: u32,        // first vec4 word read
}

override WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> sink: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

fn fold(v: vec4<u32>) -> u32 {
  return v.x ^ v.y ^ v.z ^ v.w;
}

fn invocation(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

@compute @workgroup_size(WG)
fn read_chunks(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = invocation(gid, nwg);
  if (i >= p.invocations) { return; }
  let start = i * p.per;
  let end = min(start + p.per, p.n);
  var acc = vec4<u32>();
  for (var j = start; j < end; j++) { acc ^= src[p.base + j]; }
  sink[i] = fold(acc);
}

@compute @workgroup_size(WG)
fn read_strided(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = invocation(gid, nwg);
  if (i >= p.invocations) { return; }
  var acc = vec4<u32>();
  for (var j = i; j < p.n; j += p.invocations) { acc ^= src[p.base + j]; }
  sink[i] = fold(acc);
}
