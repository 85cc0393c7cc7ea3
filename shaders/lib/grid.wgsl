// A grid of more workgroups than one dimension allows is folded into x and y (grid1d in gpu/pipelines.ts):
// workgroups are numbered x fastest, then y, and a kernel reads its place in the flat grid from here. The
// last row of a folded grid may run past the count; every caller checks its index against its own.

/** The workgroup's index in the flat grid. */
fn flat_group(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.y * nwg.x + wid.x;
}

/** The invocation's index in the flat grid, for workgroups of `size` invocations. */
fn flat_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, size: u32) -> u32 {
  return flat_group(wid, nwg) * size + lid;
}
