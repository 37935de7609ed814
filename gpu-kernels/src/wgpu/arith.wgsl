// The global thread index of a two-dimensional dispatch, shared by every WGSL kernel.

// Threads per workgroup of the element-wise kernels; a dispatch spreads its workgroups over x
// and y so that more than 65535 of them fit.
const WG: u32 = 64u;

fn thread_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WG;
}
