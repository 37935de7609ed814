// Radix-2 NTT over Fr (the `Fr` instance of field.wgsl).
//
// All values are in Montgomery form, as halo2curves stores them. A forward transform of n = 2^k
// values: the k butterfly stages (half = 1, 2, ..., n/2) in ⌈k/3⌉ passes of up to three stages
// each, done in registers, the first (`bit_reverse_pass`) reading its elements in bit-reversed
// order and the others (`butterfly_pass`) in place. The inverse uses inverse twiddles and 1/n,
// the coset transform multiplies element i by g^i; the first pass multiplies either in as it
// reads (with tiled passes, `scale_by` before them and `scale` after them do). Twiddles:
// tw[i] = w^i for i < n/2, w a primitive n-th root of unity; they stay on the device between
// transforms.
//
// The values are split over two bindings, elements [0, split) in `low` and [split, n) in `high`
// (split = n/2, or 1 when n = 1): at n = 2^26 one binding would need 2 GiB, more than Vulkan
// drivers offer. The coset powers come from two short tables, g^i = g^(i mod 2^h)·(g^(2^h))^(i >> h)
// with h = coset_bits: `factors` holds g^j for j < 2^h, then (g^(2^h))^m.

// `first_factor`: what the first pass multiplies each element it reads by, so that it takes no
// dispatch of its own: 0 nothing, 1 factors[0] (the inverse's 1/n), 2 the coset power g^i.
// `last`: 1 for the transform's last pass, which stores its values canonical; the passes before
// it leave them in [0, 2p) (field.wgsl).
struct Params { n: u32, log_n: u32, half: u32, split: u32, coset_bits: u32, stages: u32, first_factor: u32, last: u32 }

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> low: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> high: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read> twiddles: array<vec4<u32>>;
@group(0) @binding(4) var<storage, read> factors: array<vec4<u32>>;

// WGSL cannot pass storage pointers to functions, hence one accessor per buffer. An element is
// two 16-byte words (fr_from_halves).
fn load_data(i: u32) -> Fr {
    if (i < params.split) { return fr_from_halves(low[2u * i], low[2u * i + 1u]); }
    let j = i - params.split;
    return fr_from_halves(high[2u * j], high[2u * j + 1u]);
}

// A pass's output element: canonical after the last pass.
fn pass_output(v: Fr) -> Fr {
    if (params.last != 0u) { return fr_canonical(v); }
    return v;
}

fn store_data(i: u32, v: Fr) {
    if (i < params.split) {
        low[2u * i] = fr_low_half(v);
        low[2u * i + 1u] = fr_high_half(v);
    } else {
        let j = i - params.split;
        high[2u * j] = fr_low_half(v);
        high[2u * j + 1u] = fr_high_half(v);
    }
}

fn load_twiddle(i: u32) -> Fr {
    return fr_from_halves(twiddles[2u * i], twiddles[2u * i + 1u]);
}

fn load_factor(i: u32) -> Fr {
    return fr_from_halves(factors[2u * i], factors[2u * i + 1u]);
}

// g^i from the two coset tables in `factors`.
fn coset_power(i: u32) -> Fr {
    let h = params.coset_bits;
    return fr_mul(load_factor(i & ((1u << h) - 1u)), load_factor((1u << h) + (i >> h)));
}

// Bit reversal in tiles (`fr_bit_reverse_tiles` of cuda/ntt.cu), for the tiled transforms
// (n = 2^N, N >= 2·BITREV_Q): index (a, b, c) = a·2^(N−q) + b·2^q + c, a, c < 2^q, q = BITREV_Q,
// moves to (rev c, rev b, rev a). Workgroup b swaps the 2^q × 2^q elements of middle part b with
// those of middle part rev b through workgroup memory (the `tile` of `tile_pass`), reading and
// writing rows of 2^q consecutive elements; workgroups with b > rev b have nothing to do.
fn reverse_bits(x: u32, bits: u32) -> u32 {
    if (bits == 0u) { return 0u; }
    return reverseBits(x) >> (32u - bits);
}

@compute @workgroup_size(1u << (2u * BITREV_Q))
fn bit_reverse_tiles(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                     @builtin(local_invocation_index) lid: u32) {
    let b = wid.x + wid.y * groups.x;
    let mid_bits = params.log_n - 2u * BITREV_Q;
    let b_rev = reverse_bits(b, mid_bits);
    // Past the last block of a dispatch spread over x and y, or the other half of a pair.
    if (b >= (1u << mid_bits) || b > b_rev) { return; }
    let side = 1u << BITREV_Q;
    let elems = side * side;
    let hi = lid >> BITREV_Q;
    let lo = lid & (side - 1u);
    let mids = array<u32, 2>(b, b_rev);
    for (var t = 0u; t < 2u; t++) {
        let a = load_data((hi << (params.log_n - BITREV_Q)) | (mids[t] << BITREV_Q) | lo);
        for (var w = 0u; w < 8u; w++) { tile[(t * 8u + w) * elems + lid] = a.l[w]; }
    }
    workgroupBarrier();
    // Position (hi, mid, lo) receives the element (rev lo, rev mid, rev hi).
    let source = (reverse_bits(lo, BITREV_Q) << BITREV_Q) | reverse_bits(hi, BITREV_Q);
    for (var t = 0u; t < 2u; t++) {
        var a: Fr;
        for (var w = 0u; w < 8u; w++) { a.l[w] = tile[((1u - t) * 8u + w) * elems + source]; }
        store_data((hi << (params.log_n - BITREV_Q)) | (mids[t] << BITREV_Q) | lo, a);
    }
}

// Stages [s, s + r) on the 2^r elements x[j] = a[base + j·2^s] (r <= 3), where `lo` (< 2^s) is
// base's low bits: stage s + u pairs x[j] (bit u of j clear) with x[j + 2^u], the global
// butterfly of half 2^(s+u), twiddle w^(i·n/2^(s+u+1)) with i = (j mod 2^u)·2^s + lo. The loops
// have literal bounds, so the host unrolls them and every index into `x` is a constant. `first`:
// s = 0 (so lo = 0), where the twiddle of p mod 2^u = 0 is w^0 = 1 and those butterflies skip
// their multiplication (5 in a radix-8 first pass instead of 12).
fn butterflies(x: ptr<function, array<Fr, 8>>, r: u32, s: u32, lo: u32, first: bool) {
    let size = 1u << r;
    for (var u = 0u; u < 3u; u++) {
        const half = 1u << u;
        if (u < r) {
            // Stage u has 2^u distinct twiddles: butterfly p takes w[p mod 2^u]. Each is loaded once.
            var w: array<Fr, 4>;
            for (var m = 0u; m < 4u; m++) {
                if (m < half && !(first && m == 0u)) { w[m] = load_twiddle(((m << s) + lo) * (params.n >> (s + u + 1u))); }
            }
            // Butterfly p pairs j (bit u clear) with j + 2^u: constants once unrolled.
            for (var p = 0u; p < 4u; p++) {
                const j = ((p >> u) << (u + 1u)) | (p & (half - 1u));
                if (j + half < size) {
                    var b = (*x)[j + half];
                    if (!(first && (p & (half - 1u)) == 0u)) { b = fr_mul(b, w[p & (half - 1u)]); }
                    (*x)[j + half] = fr_sub((*x)[j], b);
                    (*x)[j] = fr_add((*x)[j], b);
                }
            }
        }
    }
}

// Stages [s, s + r) of the transform in one pass, r = params.stages <= 3, params.half = 2^s
// (the pass of cuda/ntt.cu). Those stages mix exactly the 2^r elements g_hi·2^(s+r) + j·2^s + lo
// (j < 2^r) of group g; one thread keeps its group in registers through the r stages.
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
    butterflies(&x, r, s, lo, false);
    for (var j = 0u; j < 8u; j++) {
        if (j < size) { store_data(base + j * params.half, pass_output(x[j])); }
    }
}

// The first pass, stages [0, r) with r = params.stages, fused with the bit reversal
// (`ntt_bit_reverse_pass` of cuda/ntt.cu, which explains the grouping): group m takes the
// elements a[rev(m·2^r + j)] and writes them to m·2^r + j, without the multiplications by w^0.
// A workgroup reads all its groups before a barrier and writes after it; it holds all groups
// where there are at most 256, else (r = 3, log n >= 12) the 256 groups m = (A, h, x', l) with
// x' = x or rev x for its x, where x <= rev x.
@compute @workgroup_size(256)
fn bit_reverse_pass(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
    let block = wid.x + wid.y * groups.x;
    let r = params.stages;
    var m = lid;
    var has_group = lid < (params.n >> r);
    if (params.log_n - r > 8u) {
        let b_bits = params.log_n - 6u;
        let x_bits = b_bits - 4u;
        let x_rev = reverse_bits(block, x_bits);
        // Past the last block of a dispatch spread over x and y, or the other half of a pair.
        if (block >= (1u << x_bits) || block > x_rev) { return; }
        let side = lid >> 7u;
        let xs = select(block, x_rev, side == 1u);
        has_group = !(side == 1u && block == x_rev);
        let b = (((lid >> 5u) & 3u) << (b_bits - 2u)) | (xs << 2u) | ((lid >> 3u) & 3u);
        m = ((lid & 7u) << b_bits) | b;
    } else if (block > 0u) {
        return;
    }
    let size = 1u << r;
    var x: array<Fr, 8>;
    if (has_group) {
        for (var j = 0u; j < 8u; j++) {
            if (j < size) {
                let i = reverse_bits((m << r) | j, params.log_n);
                x[j] = load_data(i);
                if (params.first_factor != 0u) {
                    var factor: Fr;
                    if (params.first_factor == 1u) { factor = load_factor(0u); } else { factor = coset_power(i); }
                    x[j] = fr_mul(x[j], factor);
                }
            }
        }
        butterflies(&x, r, 0u, 0u, true);
    }
    // Every read of the workgroup done before any write.
    storageBarrier();
    if (has_group) {
        for (var j = 0u; j < 8u; j++) {
            if (j < size) { store_data((m << r) | j, pass_output(x[j])); }
        }
    }
}

// Tiled pass (`fr_ntt_tile` of cuda/ntt.cu): stages [s, s + k) through workgroup memory,
// params.half = 2^s, k = params.stages <= TILE_LOG. A workgroup owns the 2^TILE_LOG elements
// hi·2^(s+k) + m·2^s + lo0 + l for m < 2^k and l < 2^L, L = TILE_LOG − k (runs of 2^L consecutive
// indices; the host keeps L <= s), stored limb-major (word w of element e at
// tile[w·2^TILE_LOG + e]), and runs the stages three at a time in registers between barriers.
// TILE_LOG and TILE_THREADS come from the host (backend.rs).
var<workgroup> tile: array<u32, 8u << TILE_LOG>;

fn tile_index(hi: u32, lo0: u32, s: u32, k: u32, l_bits: u32, e: u32) -> u32 {
    return (hi << (s + k)) | ((e >> l_bits) << s) | (lo0 + (e & ((1u << l_bits) - 1u)));
}

@compute @workgroup_size(TILE_THREADS)
fn tile_pass(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let block = wid.x + wid.y * groups.x;
    // A dispatch spread over x and y can have workgroups past the last tile.
    if (block >= (params.n >> TILE_LOG)) { return; }
    let s = countTrailingZeros(params.half);
    let k = params.stages;
    let l_bits = TILE_LOG - k;
    let lo0 = (block & ((1u << (s - l_bits)) - 1u)) << l_bits;
    let hi = block >> (s - l_bits);
    for (var e = lid; e < (1u << TILE_LOG); e += TILE_THREADS) {
        let a = load_data(tile_index(hi, lo0, s, k, l_bits, e));
        for (var w = 0u; w < 8u; w++) { tile[(w << TILE_LOG) + e] = a.l[w]; }
    }
    workgroupBarrier();
    for (var u = 0u; u < k; u += 3u) {
        let r = min(3u, k - u);
        for (var g = lid; g < (1u << (TILE_LOG - r)); g += TILE_THREADS) {
            let l = g & ((1u << l_bits) - 1u);
            let q = g >> l_bits;
            let m_base = ((q >> u) << (u + r)) | (q & ((1u << u) - 1u));
            var x: array<Fr, 8>;
            for (var j = 0u; j < 8u; j++) {
                if (j < (1u << r)) {
                    let e = ((m_base + (j << u)) << l_bits) | l;
                    for (var w = 0u; w < 8u; w++) { x[j].l[w] = tile[(w << TILE_LOG) + e]; }
                }
            }
            // Index bits below stage s + u: m_base's low u bits above s, then lo0 + l (0 in the
            // first tile's first step, stage 0 on: it skips the multiplications by w^0).
            butterflies(&x, r, s + u, ((m_base & ((1u << u) - 1u)) << s) | (lo0 + l), s + u == 0u);
            for (var j = 0u; j < 8u; j++) {
                if (j < (1u << r)) {
                    let e = ((m_base + (j << u)) << l_bits) | l;
                    for (var w = 0u; w < 8u; w++) { tile[(w << TILE_LOG) + e] = x[j].l[w]; }
                }
            }
        }
        workgroupBarrier();
    }
    for (var e = lid; e < (1u << TILE_LOG); e += TILE_THREADS) {
        var a: Fr;
        for (var w = 0u; w < 8u; w++) { a.l[w] = tile[(w << TILE_LOG) + e]; }
        store_data(tile_index(hi, lo0, s, k, l_bits, e), pass_output(a));
    }
}

// data[i] *= factors[0] (a single factor, e.g. 1/n).
@compute @workgroup_size(64)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if (i >= params.n) { return; }
    store_data(i, fr_canonical(fr_mul(load_data(i), load_factor(0u))));
}

// data[i] *= g^i, before tiled passes (canonical, as at n = 1 no pass follows).
@compute @workgroup_size(64)
fn scale_by(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if (i >= params.n) { return; }
    store_data(i, fr_canonical(fr_mul(load_data(i), coset_power(i))));
}
