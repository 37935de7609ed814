// Radix-2 NTT over Fr (the `Fr` instance of field.wgsl).
//
// All values are in Montgomery form, as halo2curves stores them. A forward transform of n = 2^k
// values: `bit_reverse`, then the k butterfly stages (half = 1, 2, ..., n/2) in ⌈k/3⌉
// `butterfly_pass` passes of up to three stages each, done in registers. The inverse
// uses inverse twiddles and a final `scale` by 1/n; the coset transform first multiplies
// element i by g^i with `scale_by`. Twiddles: tw[i] = w^i for i < n/2, w a primitive n-th root
// of unity; they stay on the device between transforms.
//
// The values are split over two bindings, elements [0, split) in `low` and [split, n) in `high`
// (split = n/2, or 1 when n = 1): at n = 2^26 one binding would need 2 GiB, more than Vulkan
// drivers offer. The coset powers come from two short tables, g^i = g^(i mod 2^h)·(g^(2^h))^(i >> h)
// with h = coset_bits: `factors` holds g^j for j < 2^h, then (g^(2^h))^m.

struct Params { n: u32, log_n: u32, half: u32, split: u32, coset_bits: u32, stages: u32, _pad0: u32, _pad1: u32 }

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

// Stages [s, s + r) of the transform in one pass, r = params.stages <= 3, params.half = 2^s
// (the pass of cuda/ntt.cu). Those stages mix exactly the 2^r elements g_hi·2^(s+r) + j·2^s + lo
// (j < 2^r) of group g; one thread keeps its group in registers through the r stages. The
// butterfly of stage s + u on (j, j + 2^u) is the global butterfly of half 2^(s+u), twiddle
// w^(i·n/2^(s+u+1)) with i = (j mod 2^u)·2^s + lo. The loops have literal bounds, so the host
// unrolls them and every index into `x` is a constant.
@compute @workgroup_size(64)
fn butterfly_pass(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let g = thread_index(gid, groups);
    let r = params.stages;
    if (g >= (params.n >> r)) { return; }
    let s = countTrailingZeros(params.half);
    let lo = g & (params.half - 1u);
    let base = ((g >> s) << (s + r)) | lo;
    let size = 1u << r;
    var x: array<Fr, 8>;
    for (var j = 0u; j < 8u; j++) {
        if (j < size) { x[j] = load_data(base + j * params.half); }
    }
    for (var u = 0u; u < 3u; u++) {
        const half = 1u << u;
        if (u < r) {
            // Stage u has 2^u distinct twiddles: butterfly p takes w[p mod 2^u]. Each is loaded once.
            var w: array<Fr, 4>;
            for (var m = 0u; m < 4u; m++) {
                if (m < half) { w[m] = load_twiddle((m * params.half + lo) * (params.n >> (s + u + 1u))); }
            }
            // Butterfly p pairs j (bit u clear) with j + 2^u: constants once unrolled.
            for (var p = 0u; p < 4u; p++) {
                const j = ((p >> u) << (u + 1u)) | (p & (half - 1u));
                if (j + half < size) {
                    let b = fr_mul(x[j + half], w[p & (half - 1u)]);
                    x[j + half] = fr_sub(x[j], b);
                    x[j] = fr_add(x[j], b);
                }
            }
        }
    }
    for (var j = 0u; j < 8u; j++) {
        if (j < size) { store_data(base + j * params.half, x[j]); }
    }
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
