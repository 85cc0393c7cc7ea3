// Log-probabilities for a reply's `logprobs`: of the sampled token and of the `top` most likely ones, from
// the log-softmax of the raw logits (before temperature, penalties and bias, as vLLM reports them by
// default). One workgroup; the runtime reads the few words back only when a request asks.
//
// out = [id, bits(logprob), then per rank r < top: id_r, bits(logprob_r)], ranks by logit descending and
// the lower index first among equals; NONE ids past the vocabulary.

override WG: u32 = 256;
const NONE: u32 = 0xFFFFFFFFu;

struct Params {
  vocab: u32,
  top: u32,
  id_index: u32, // the sampled id is ids[id_index]
  _pad: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;

// (w, j) ranks before (v, i): larger value, then lower index; NONE after everything.
fn ranks_before(v: f32, i: u32, w: f32, j: u32) -> bool {
  return j != NONE && (i == NONE || w > v || (w == v && j < i));
}

@compute @workgroup_size(WG)
fn logprobs(@builtin(local_invocation_index) lid: u32) {
  // f32's lowest, not -inf: a row of -inf must not make (-inf) - (-inf).
  var m = bitcast<f32>(0xff7fffffu);
  for (var i = lid; i < p.vocab; i += WG) { m = max(m, logits[i]); }
  let lmax = workgroup_max(lid, m);
  var s = 0.0;
  for (var i = lid; i < p.vocab; i += WG) { s += exp(logits[i] - lmax); }
  let lse = lmax + log(workgroup_sum(lid, s));
  if (lid == 0u) {
    let id = ids[p.id_index];
    out[0] = id;
    out[1] = bitcast<u32>(logits[id] - lse);
  }
  // Rank r: the best entry ranking after rank r-1's.
  var pv = 0.0;
  var pi = NONE;
  for (var r = 0u; r < p.top; r++) {
    var bv = 0.0;
    var bi = NONE;
    for (var i = lid; i < p.vocab; i += WG) {
      let v = logits[i];
      let eligible = r == 0u || ranks_before(v, i, pv, pi);
      if (eligible && ranks_before(bv, bi, v, i)) {
        bv = v;
        bi = i;
      }
    }
    best_v[lid] = bv;
    best_i[lid] = bi;
    workgroupBarrier();
    bv = 0.0;
    bi = NONE;
    for (var t = 0u; t < WG; t++) {
      if (ranks_before(bv, bi, best_v[t], best_i[t])) {
        bv = best_v[t];
        bi = best_i[t];
      }
    }
    workgroupBarrier();
    if (lid == 0u) {
      out[2u + 2u * r] = bi;
      out[3u + 2u * r] = bitcast<u32>(select(bv - lse, 0.0, bi == NONE));
    }
    pv = bv;
    pi = bi;
  }
}
