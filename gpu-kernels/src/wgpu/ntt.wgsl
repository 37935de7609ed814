// Radix-2 NTT over Fr (the `Fr` instance of field.wgsl), one dispatch per pass.
//
// All values are in Montgomery form, as halo2curves stores them. A forward transform of n = 2^k values:
// `bit_reverse`, then k `butterfly` passes with half = 1, 2, ..., n/2. The inverse uses inverse
// twiddles and a final `scale` by 1/n; the coset transform first multiplies by the powers of the
// shift with `scale_by`. Twiddles: tw[i] = w^i for i < n/2, w a primitive n-th root of unity.

struct Params { n: u32, log_n: u32, half: u32, _pad: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> data: array<u32>;
@group(0) @binding(2) var<storage, read> twiddles: array<u32>;

// WGSL cannot pass storage pointers to functions, hence one accessor per buffer.
fn load_data(i: u32) -> Fr {
    var r: Fr;
    for (var k = 0u; k < 8u; k++) { r.l[k] = data[i * 8u + k]; }
    return r;
}

fn store_data(i: u32, v: Fr) {
    for (var k = 0u; k < 8u; k++) { data[i * 8u + k] = v.l[k]; }
}

fn load_twiddle(i: u32) -> Fr {
    var r: Fr;
    for (var k = 0u; k < 8u; k++) { r.l[k] = twiddles[i * 8u + k]; }
    return r;
}

@compute @workgroup_size(64)
fn bit_reverse(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if (i >= params.n) { return; }
    let j = reverseBits(i) >> (32u - params.log_n);
    if (i < j) {
        let a = load_data(i);
        store_data(i, load_data(j));
        store_data(j, a);
    }
}

@compute @workgroup_size(64)
fn butterfly(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    if (t >= params.n / 2u) { return; }
    let half = params.half;
    let j = t % half;
    let i0 = (t / half) * 2u * half + j;
    let i1 = i0 + half;
    let w = load_twiddle(j * (params.n / (2u * half)));
    let u = load_data(i0);
    let v = fr_mul(load_data(i1), w);
    store_data(i0, fr_add(u, v));
    store_data(i1, fr_sub(u, v));
}

// data[i] *= twiddles[0] (a single factor, e.g. 1/n).
@compute @workgroup_size(64)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if (i >= params.n) { return; }
    store_data(i, fr_mul(load_data(i), load_twiddle(0u)));
}

// data[i] *= twiddles[i] (element-wise, e.g. powers of a coset shift).
@compute @workgroup_size(64)
fn scale_by(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if (i >= params.n) { return; }
    store_data(i, fr_mul(load_data(i), load_twiddle(i)));
}
