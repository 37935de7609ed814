// Radix-2 NTT over Fr (the `Fr` instance of field.wgsl).
//
// All values are in Montgomery form, as halo2curves stores them. A forward transform of n = 2^k
// values: `bit_reverse`, then the k butterfly stages (half = 1, 2, ..., n/2) in a few
// `butterfly_block` passes of up to BLOCK_LOG stages each, done in workgroup memory. The inverse
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

// Stages [s, s + r) of the transform in one pass, r = params.stages <= BLOCK_LOG, with
// params.half = 2^s. Those stages mix exactly the 2^r elements hi·2^(s+r) + m·2^s + lo
// (m < 2^r) of each "block" (hi, lo), so a block is loaded once into workgroup memory, goes
// through r butterfly stages there, and is stored back. A workgroup holds BLOCK elements:
// 2^(BLOCK_LOG - r) blocks with consecutive lo, so that neighbouring threads touch neighbouring
// elements in global memory. The butterfly of stage s + q on block elements (m0, m0 + 2^q) is
// the global butterfly of half H = 2^(s+q) whose twiddle is w^(j·n/(2H)) with
// j = (m0 mod 2^q)·2^s + lo.
const BLOCK_LOG: u32 = 9u;
const BLOCK: u32 = 512u;

var<workgroup> block: array<Fr, BLOCK>;

@compute @workgroup_size(256)
fn butterfly_block(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                   @builtin(local_invocation_index) t: u32) {
    let s = countTrailingZeros(params.half);
    let r = params.stages;
    let size = 1u << r;
    let per_group = BLOCK >> r;
    let blocks = params.n >> r;
    let first = (wid.x + wid.y * groups.x) * per_group;
    // Element e of the workgroup is element e / per_group of block first + e % per_group.
    for (var e = t; e < BLOCK; e += 256u) {
        let b = first + e % per_group;
        if (b < blocks) {
            let lo = b & (params.half - 1u);
            block[(e % per_group) * size + e / per_group] = load_data(((b >> s) << (s + r)) + lo + (e / per_group) * params.half);
        }
    }
    workgroupBarrier();
    for (var q = 0u; q < r; q++) {
        let h = 1u << q;
        let b = first + t / (size / 2u);
        if (b < blocks) {
            let tt = t % (size / 2u);
            let j = tt % h;
            let m0 = (t / (size / 2u)) * size + (tt / h) * 2u * h + j;
            let lo = b & (params.half - 1u);
            let w = load_twiddle((j * params.half + lo) * (params.n >> (s + q + 1u)));
            let u = block[m0];
            let v = fr_mul(block[m0 + h], w);
            block[m0] = fr_add(u, v);
            block[m0 + h] = fr_sub(u, v);
        }
        workgroupBarrier();
    }
    for (var e = t; e < BLOCK; e += 256u) {
        let b = first + e % per_group;
        if (b < blocks) {
            let lo = b & (params.half - 1u);
            store_data(((b >> s) << (s + r)) + lo + (e / per_group) * params.half, block[(e % per_group) * size + e / per_group]);
        }
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
