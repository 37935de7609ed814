// Radix-2 NTT over Fr (the `Fr` instance of field.wgsl), one dispatch per pass.
//
// All values are in Montgomery form, as halo2curves stores them. A forward transform of n = 2^k
// values: `bit_reverse`, then k `butterfly` passes with half = 1, 2, ..., n/2. The inverse uses
// inverse twiddles and a final `scale` by 1/n; the coset transform first multiplies element i by
// g^i with `scale_by`. Twiddles: tw[i] = w^i for i < n/2, w a primitive n-th root of unity; they
// stay on the device between transforms.
//
// The values are split over two bindings, elements [0, split) in `low` and [split, n) in `high`
// (split = n/2, or 1 when n = 1): at n = 2^26 one binding would need 2 GiB, more than Vulkan
// drivers offer. The coset powers come from two short tables, g^i = g^(i mod 2^h)·(g^(2^h))^(i >> h)
// with h = coset_bits: `factors` holds g^j for j < 2^h, then (g^(2^h))^m.

struct Params { n: u32, log_n: u32, half: u32, split: u32, coset_bits: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> low: array<u32>;
@group(0) @binding(2) var<storage, read_write> high: array<u32>;
@group(0) @binding(3) var<storage, read> twiddles: array<u32>;
@group(0) @binding(4) var<storage, read> factors: array<u32>;

// WGSL cannot pass storage pointers to functions, hence one accessor per buffer.
fn load_data(i: u32) -> Fr {
    var r: Fr;
    if (i < params.split) {
        for (var k = 0u; k < 8u; k++) { r.l[k] = low[i * 8u + k]; }
    } else {
        let j = i - params.split;
        for (var k = 0u; k < 8u; k++) { r.l[k] = high[j * 8u + k]; }
    }
    return r;
}

fn store_data(i: u32, v: Fr) {
    if (i < params.split) {
        for (var k = 0u; k < 8u; k++) { low[i * 8u + k] = v.l[k]; }
    } else {
        let j = i - params.split;
        for (var k = 0u; k < 8u; k++) { high[j * 8u + k] = v.l[k]; }
    }
}

fn load_twiddle(i: u32) -> Fr {
    var r: Fr;
    for (var k = 0u; k < 8u; k++) { r.l[k] = twiddles[i * 8u + k]; }
    return r;
}

fn load_factor(i: u32) -> Fr {
    var r: Fr;
    for (var k = 0u; k < 8u; k++) { r.l[k] = factors[i * 8u + k]; }
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

// data[i] *= factors[0] (a single factor, e.g. 1/n).
@compute @workgroup_size(64)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if (i >= params.n) { return; }
    store_data(i, fr_mul(load_data(i), load_factor(0u)));
}

// data[i] *= g^i from the two coset tables.
@compute @workgroup_size(64)
fn scale_by(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if (i >= params.n) { return; }
    let h = params.coset_bits;
    let g = fr_mul(load_factor(i & ((1u << h) - 1u)), load_factor((1u << h) + (i >> h)));
    store_data(i, fr_mul(load_data(i), g));
}
