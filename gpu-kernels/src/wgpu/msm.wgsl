// Multi-scalar multiplication Σ k_i·P_i over G1 (curve.wgsl): the bucket method of
// cuda/msm.cu, pass for pass, so that both backends share one host plan (pippenger.rs).
//
// With window width c and W windows, every scalar is recoded into digits d_w in
// (-2^{c-1}, 2^{c-1}]; digit d != 0 puts ±P_i into bucket (w, |d|-1). Passes:
//  1. msm_digits      histogram of bucket sizes (one atomic per nonzero digit);
//  2. scan_*          exclusive prefix sum of the histogram: each bucket's range in `entries`;
//  3. msm_digits      again, writing sign << 31 | point into the bucket's range;
//  4. msm_accumulate  sums chunks of CHUNK entries: a bucket wholly inside a chunk is stored at
//                     once, runs cut by a chunk border become per-chunk partial sums;
//  5. msm_join        adds the partial sums of every bucket that crosses a chunk border;
//  6. msm_reduce_*    Σ_b (b+1)·bucket_b per window, by running sums over segments of buckets
//                     and a tree over the segments.
// The host finishes with Σ_w 2^{c·w}·window_w (W points).
//
// Unlike the CUDA kernels, an entry does not carry its bucket (found by a binary search over the
// offsets instead): at 2^24 points the 64-bit entries would take 2 GiB, more than the largest
// storage binding Vulkan drivers offer.
//
// `points` holds the buckets, then from `segments_at` the segment sums; `first` and `last` the
// chunks' partial sums (three bindings: at 2^24 points one would exceed 2 GiB). CHUNK is defined
// by the host.

struct MsmParams {
    n: u32, c: u32, windows: u32, write_entries: u32,
    n_buckets: u32, half: u32, segment_len: u32, scan_blocks: u32,
    segments_at: u32, scalars_split: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: MsmParams;
@group(0) @binding(1) var<storage, read> scalars_low: array<u32>;
@group(0) @binding(2) var<storage, read> bases: array<u32>;
@group(0) @binding(3) var<storage, read_write> slots: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> entries: array<u32>;
@group(0) @binding(5) var<storage, read> counts: array<u32>;
@group(0) @binding(6) var<storage, read_write> offsets: array<u32>;
@group(0) @binding(7) var<storage, read_write> totals: array<u32>;
@group(0) @binding(8) var<storage, read_write> points: array<u32>;
@group(0) @binding(9) var<storage, read_write> first: array<u32>;
@group(0) @binding(10) var<storage, read_write> last: array<u32>;
@group(0) @binding(11) var<storage, read> scalars_high: array<u32>;

// WGSL cannot pass storage pointers to functions, hence one accessor per buffer (the word
// conversions they share are xyzz_words / xyzz_from_words in curve.wgsl).

// Scalar i: the scalars are device-resident values of the NTT's layout, their first
// `scalars_split` in one binding and the rest in another (WgpuValues).
fn load_scalar(i: u32) -> Fr {
    var r: Fr;
    if (i < params.scalars_split) {
        for (var k = 0u; k < 8u; k++) { r.l[k] = scalars_low[8u * i + k]; }
    } else {
        let j = i - params.scalars_split;
        for (var k = 0u; k < 8u; k++) { r.l[k] = scalars_high[8u * j + k]; }
    }
    return r;
}
fn load_fq_base(word: u32) -> Fq {
    var r: Fq;
    for (var k = 0u; k < 8u; k++) { r.l[k] = bases[word + k]; }
    return r;
}

// An XYZZ point is 32 words: x, y, zz, zzz.
fn load_point(i: u32) -> Xyzz {
    var w: array<u32, 32>;
    for (var k = 0u; k < 32u; k++) { w[k] = points[32u * i + k]; }
    return xyzz_from_words(w);
}

fn store_point(i: u32, p: Xyzz) {
    let w = xyzz_words(p);
    for (var k = 0u; k < 32u; k++) { points[32u * i + k] = w[k]; }
}

fn load_first(i: u32) -> Xyzz {
    var w: array<u32, 32>;
    for (var k = 0u; k < 32u; k++) { w[k] = first[32u * i + k]; }
    return xyzz_from_words(w);
}

fn store_first(i: u32, p: Xyzz) {
    let w = xyzz_words(p);
    for (var k = 0u; k < 32u; k++) { first[32u * i + k] = w[k]; }
}

fn load_last(i: u32) -> Xyzz {
    var w: array<u32, 32>;
    for (var k = 0u; k < 32u; k++) { w[k] = last[32u * i + k]; }
    return xyzz_from_words(w);
}

fn store_last(i: u32, p: Xyzz) {
    let w = xyzz_words(p);
    for (var k = 0u; k < 32u; k++) { last[32u * i + k] = w[k]; }
}

// The base of an entry, negated when its digit was negative.
fn entry_point(entry: u32) -> Affine {
    let i = entry & 0x7fffffffu;
    let p = Affine(load_fq_base(16u * i), load_fq_base(16u * i + 8u));
    if ((entry & 0x80000000u) != 0u) { return affine_neg(p); }
    return p;
}

// The bucket holding entry `pos` (< total): the last bucket whose range starts at or before
// it. An empty bucket starts where the next one does, so that last bucket is never empty.
fn bucket_of(pos: u32) -> u32 {
    var lo = 0u;
    var hi = params.n_buckets;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (offsets[mid] <= pos) { lo = mid; } else { hi = mid; }
    }
    return lo;
}

// Every nonzero digit takes a slot in its bucket. Pass 1 (write_entries = 0) only counts them in
// `slots`; pass 3, with `slots` holding each bucket's next free position, writes the entry there.
@compute @workgroup_size(64)
fn msm_digits(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if (i >= params.n) { return; }
    // Scalars arrive in Montgomery form; digits need the integer: multiply by (integer) 1.
    var one: Fr;
    one.l[0] = 1u;
    var s = fr_mul(load_scalar(i), one);
    let c = params.c;
    let buckets = 1u << (c - 1u);
    var carry = 0u;
    for (var w = 0u; w < params.windows; w++) {
        let bit = w * c;
        let limb = bit >> 5u;
        let shift = bit & 31u;
        var bits = 0u;
        if (limb < 8u) { bits = s.l[limb] >> shift; }
        if (shift != 0u && limb + 1u < 8u) { bits |= s.l[limb + 1u] << (32u - shift); }
        let raw = (bits & ((1u << c) - 1u)) + carry;
        // Digits lie in (-2^{c-1}, 2^{c-1}]: the top window (< c - 1 bits of a 254-bit scalar)
        // then never carries out.
        var magnitude = raw;
        var negative = false;
        carry = 0u;
        if (raw > buckets) {
            carry = 1u;
            magnitude = (1u << c) - raw;
            negative = true;
        }
        if (magnitude == 0u) { continue; }
        let key = w * buckets + magnitude - 1u;
        let pos = atomicAdd(&slots[key], 1u);
        if (params.write_entries != 0u) {
            entries[pos] = select(0u, 0x80000000u, negative) | i;
        }
    }
}

// Exclusive scan of `counts` into `offsets` in three passes: per-workgroup scans with workgroup
// totals, a scan of the totals (one thread), then the workgroup offsets added back.
const SCAN_THREADS: u32 = 256u;
const SCAN_ITEMS: u32 = 8u;

var<workgroup> scan_sums: array<u32, 256>;

@compute @workgroup_size(256)
fn scan_blocks(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>) {
    let len = params.n_buckets;
    let base = (group.x * SCAN_THREADS + local.x) * SCAN_ITEMS;
    var own = 0u;
    for (var k = 0u; k < SCAN_ITEMS; k++) {
        if (base + k < len) { own += counts[base + k]; }
    }
    scan_sums[local.x] = own;
    workgroupBarrier();
    // Hillis-Steele inclusive scan of the thread sums.
    for (var off = 1u; off < SCAN_THREADS; off <<= 1u) {
        var v = 0u;
        if (local.x >= off) { v = scan_sums[local.x - off]; }
        workgroupBarrier();
        scan_sums[local.x] += v;
        workgroupBarrier();
    }
    var run = scan_sums[local.x] - own;
    for (var k = 0u; k < SCAN_ITEMS; k++) {
        if (base + k < len) {
            let v = counts[base + k];
            offsets[base + k] = run;
            run += v;
        }
    }
    if (local.x == SCAN_THREADS - 1u) { totals[group.x] = scan_sums[local.x]; }
}

// One thread scans the (few) workgroup totals in place and writes the grand total after them.
@compute @workgroup_size(1)
fn scan_totals() {
    var run = 0u;
    for (var b = 0u; b < params.scan_blocks; b++) {
        let v = totals[b];
        totals[b] = run;
        run += v;
    }
    totals[params.scan_blocks] = run;
}

@compute @workgroup_size(64)
fn scan_add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if (i >= params.n_buckets) { return; }
    offsets[i] += totals[i / (SCAN_THREADS * SCAN_ITEMS)];
}

// Chunk t covers entries [t·CHUNK, (t+1)·CHUNK) ∩ [0, total). Runs of equal bucket inside it:
// - a bucket wholly inside the chunk is written to its bucket;
// - the run at the chunk's start, of a bucket that began in an earlier chunk, to first[t];
// - the run at the chunk's end, of a bucket that began in this chunk and goes on, to last[t].
fn store_run(t: u32, key: u32, start: u32, end: u32, acc: Xyzz) {
    let bucket_start = offsets[key];
    if (bucket_start < start) {
        store_first(t, acc);
    } else if (bucket_start + counts[key] > end) {
        store_last(t, acc);
    } else {
        store_point(key, acc);
    }
}

// One loop over the chunk with one addition per iteration, a run's sum stored where its bucket
// ends: the invocations of a subgroup add in step however their chunks split into buckets (with
// a loop per run, a subgroup would wait at each run's end for its longest run).
@compute @workgroup_size(64)
fn msm_accumulate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let t = thread_index(gid, groups);
    let total = totals[params.scan_blocks];
    if (t >= (total + CHUNK - 1u) / CHUNK) { return; }
    let start = t * CHUNK;
    let end = min(start + CHUNK, total);
    var key = bucket_of(start);
    var run_end = min(offsets[key] + counts[key], end);
    var acc = xyzz_identity();
    for (var p = start; p < end; p++) {
        acc = xyzz_add_affine(acc, entry_point(entries[p]));
        if (p + 1u == run_end) {
            store_run(t, key, start, end, acc);
            acc = xyzz_identity();
            if (run_end < end) {
                // The next entry opens the next bucket that has any.
                key++;
                while (counts[key] == 0u) { key++; }
                run_end = min(offsets[key] + counts[key], end);
            }
        }
    }
}

// Buckets that cross a chunk border: last[c0] + first[c0+1] + ... + first[c1].
@compute @workgroup_size(64)
fn msm_join(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let key = thread_index(gid, groups);
    if (key >= params.n_buckets) { return; }
    let count = counts[key];
    if (count == 0u) { return; }
    let c0 = offsets[key] / CHUNK;
    let c1 = (offsets[key] + count - 1u) / CHUNK;
    if (c0 == c1) { return; }
    var acc = load_last(c0);
    for (var c = c0 + 1u; c <= c1; c++) { acc = xyzz_add(acc, load_first(c)); }
    store_point(key, acc);
}

// Thread (w, j) sums segment j of window w's buckets, weighted by digit value:
// Σ_{b in [lo, lo+len)} (b + 1)·B_b = Σ_b (b − lo + 1)·B_b + lo·Σ_b B_b, the first by a running
// sum from the top bucket, the second by double-and-add. Results are stored segment-major
// (j·windows + w), so that after the tree the window sums are the first `windows` segment points.
//
// The kernel has a single call of xyzz_add, fed by a step counter: drivers that compile on the
// CPU (lavapipe) inline every call, and their compile time grows faster than the code (with the
// three calls of cuda/msm.cu this one kernel took 43 s to compile, one call takes a seventh).
// Steps: 2·len running-sum steps (even: running += B_b; odd: acc += running); then per bit of lo
// a doubling (r + r, the equal-point case of the addition) and an addition of running or of the
// identity; then acc += r.
@compute @workgroup_size(64)
fn msm_reduce_segments(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let per_window = 1u << (params.c - 1u);
    let len = params.segment_len;
    let id = thread_index(gid, groups);
    if (id >= params.windows * (per_window / len)) { return; }
    let w = id % params.windows;
    let lo = (id / params.windows) * len;
    let bits = 32u - countLeadingZeros(lo);
    var running = xyzz_identity();
    var acc = xyzz_identity();
    var r = xyzz_identity();
    let sum_steps = 2u * len;
    let steps = sum_steps + 2u * bits + 1u;
    for (var step = 0u; step < steps; step++) {
        var x = xyzz_identity();
        var y = xyzz_identity();
        var dest = 0u; // 0: running, 1: acc, 2: r
        if (step < sum_steps) {
            if ((step & 1u) == 0u) {
                let key = w * per_window + lo + len - 1u - step / 2u;
                x = running;
                if (counts[key] != 0u) { y = load_point(key); }
            } else {
                x = acc;
                y = running;
                dest = 1u;
            }
        } else if (step < steps - 1u) {
            let k = step - sum_steps;
            x = r;
            dest = 2u;
            if ((k & 1u) == 0u) {
                y = r;
            } else if (((lo >> (bits - 1u - k / 2u)) & 1u) == 1u) {
                y = running;
            }
        } else {
            x = acc;
            y = r;
            dest = 1u;
        }
        let z = xyzz_add(x, y);
        if (dest == 0u) { running = z; } else if (dest == 1u) { acc = z; } else { r = z; }
    }
    store_point(params.segments_at + id, acc);
}

// One tree level over the segments: entry (i, w) += entry (i + half, w) for i < half.
@compute @workgroup_size(64)
fn msm_reduce_tree(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = thread_index(gid, groups);
    if (id >= params.windows * params.half) { return; }
    let a = params.segments_at + id;
    store_point(a, xyzz_add(load_point(a), load_point(a + params.half * params.windows)));
}
