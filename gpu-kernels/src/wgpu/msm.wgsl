// Multi-scalar multiplication Σ k_i·P_i over G1 (curve.wgsl): the bucket method of
// cuda/msm.cu, pass for pass, so that both backends share one host plan (pippenger.rs).
//
// With window width c and W windows, every scalar is recoded into digits d_w in
// (-2^{c-1}, 2^{c-1}]; digit d != 0 puts ±2^{c·j}·P_i, from window table j = w mod F, into
// bucket |d|-1 of group w / F (pippenger.rs, MsmPlan; F = 1 over the bases alone, then a group
// is a window). Passes:
//  1. msm_digits      histogram of bucket sizes (one atomic per nonzero digit);
//  2. scan_*          exclusive prefix sum of the histogram: each bucket's range in `entries`;
//  3. msm_digits      again, writing sign << 31 | point at its bucket's offset plus the rank
//                     pass 1 gave it;
//  4. msm_accumulate  sums chunks of CHUNK entries: a bucket wholly inside a chunk is stored at
//                     once, runs cut by a chunk border become per-chunk partial sums;
//  5. msm_join        adds the partial sums of every bucket that crosses a chunk border;
//  6. msm_reduce_level, a few times: Σ_b (b+1)·bucket_b per group, by running sums over
//                     segments of 16 buckets, then of 4 segments' pairs, and so on.
// The host finishes with Σ_g 2^{c·F·g}·group_g. The window tables themselves are made once, when
// the bases are loaded (msm_table).
//
// Unlike the CUDA kernels, an entry does not carry its bucket (found by a binary search over the
// offsets instead): at 2^24 points the 64-bit entries would take 2 GiB, more than the largest
// storage binding Vulkan drivers offer.
//
// `points` holds the buckets, then the reduction levels' pairs; `first` and `last` the
// chunks' partial sums (three bindings: at 2^24 points one would exceed 2 GiB). CHUNK is defined
// by the host.

// The level_* fields are one reduction level's (pippenger.rs, ReductionLevel), its offsets in
// points of `points`; `tables` is the plan's window tables (windows a group), `table_len` the
// points of each, `table_index` the table msm_table makes.
struct MsmParams {
    n: u32, c: u32, windows: u32, write_entries: u32,
    n_buckets: u32, scan_blocks: u32, scalars_split: u32, level_first: u32,
    level_inputs: u32, level_len: u32, level_in: u32, level_out: u32,
    groups: u32, tables: u32, table_len: u32, table_index: u32,
}

@group(0) @binding(0) var<uniform> params: MsmParams;
@group(0) @binding(1) var<storage, read> scalars_low: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> bases: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> slots: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> entries: array<u32>;
@group(0) @binding(5) var<storage, read> counts: array<u32>;
@group(0) @binding(6) var<storage, read_write> offsets: array<u32>;
@group(0) @binding(7) var<storage, read_write> totals: array<u32>;
@group(0) @binding(8) var<storage, read_write> points: array<vec4<u32>>;
@group(0) @binding(9) var<storage, read_write> first: array<vec4<u32>>;
@group(0) @binding(10) var<storage, read_write> last: array<vec4<u32>>;
@group(0) @binding(11) var<storage, read> scalars_high: array<vec4<u32>>;
@group(0) @binding(12) var<storage, read_write> ranks: array<u32>;
// The window tables again (binding 2 is `bases`), writable for msm_table.
@group(0) @binding(13) var<storage, read_write> table_points: array<vec4<u32>>;

// WGSL cannot pass storage pointers to functions, hence one accessor per buffer (the
// conversions they share are xyzz_quads / xyzz_from_quads in curve.wgsl). Field elements,
// points and bases are bound as arrays of 16-byte words (two an element), so that a thread reads
// and writes 16 bytes at a time.

// Scalar i: the scalars are device-resident values of the NTT's layout, their first
// `scalars_split` in one binding and the rest in another (WgpuValues).
fn load_scalar(i: u32) -> Fr {
    if (i < params.scalars_split) { return fr_from_halves(scalars_low[2u * i], scalars_low[2u * i + 1u]); }
    let j = i - params.scalars_split;
    return fr_from_halves(scalars_high[2u * j], scalars_high[2u * j + 1u]);
}

// Base i (of the bases or, past them, of the window tables): x, then y.
fn load_base(i: u32) -> Affine {
    return Affine(fq_from_halves(bases[4u * i], bases[4u * i + 1u]), fq_from_halves(bases[4u * i + 2u], bases[4u * i + 3u]));
}

// An XYZZ point is 8 words: x, y, zz, zzz.
fn load_point(i: u32) -> Xyzz {
    var w: array<vec4<u32>, 8>;
    for (var k = 0u; k < 8u; k++) { w[k] = points[8u * i + k]; }
    return xyzz_from_quads(w);
}

fn store_point(i: u32, p: Xyzz) {
    let w = xyzz_quads(p);
    for (var k = 0u; k < 8u; k++) { points[8u * i + k] = w[k]; }
}

fn load_first(i: u32) -> Xyzz {
    var w: array<vec4<u32>, 8>;
    for (var k = 0u; k < 8u; k++) { w[k] = first[8u * i + k]; }
    return xyzz_from_quads(w);
}

fn store_first(i: u32, p: Xyzz) {
    let w = xyzz_quads(p);
    for (var k = 0u; k < 8u; k++) { first[8u * i + k] = w[k]; }
}

fn load_last(i: u32) -> Xyzz {
    var w: array<vec4<u32>, 8>;
    for (var k = 0u; k < 8u; k++) { w[k] = last[8u * i + k]; }
    return xyzz_from_quads(w);
}

fn store_last(i: u32, p: Xyzz) {
    let w = xyzz_quads(p);
    for (var k = 0u; k < 8u; k++) { last[8u * i + k] = w[k]; }
}

// The base of an entry, negated when its digit was negative.
fn entry_point(entry: u32) -> Affine {
    let p = load_base(entry & 0x7fffffffu);
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

fn load_table_point(i: u32) -> Affine {
    return Affine(fq_from_halves(table_points[4u * i], table_points[4u * i + 1u]),
                  fq_from_halves(table_points[4u * i + 2u], table_points[4u * i + 3u]));
}

fn store_table_point(i: u32, a: Affine) {
    table_points[4u * i] = fq_low_half(a.x);
    table_points[4u * i + 1u] = fq_high_half(a.x);
    table_points[4u * i + 2u] = fq_low_half(a.y);
    table_points[4u * i + 3u] = fq_high_half(a.y);
}

// Point i of window table j = table_index (>= 1) is 2^c times point i of table j - 1, as
// msm_table in cuda/msm.cu: an invocation makes TABLE_BATCH consecutive points, doubled c times
// in XYZZ (X and Y stored as they are), then brought to affine with one inversion of the product
// of their ZZZ (Montgomery's trick).
@compute @workgroup_size(64)
fn msm_table(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let len = params.table_len;
    let first = thread_index(gid, groups) * TABLE_BATCH;
    if (first >= len) { return; }
    let count = min(TABLE_BATCH, len - first);
    let read_at = (params.table_index - 1u) * len + first;
    let write_at = params.table_index * len + first;
    // Per point: ZZ, ZZZ (1 for the identity, which stays out of the product) and the product of
    // the ZZZ before it.
    var zz: array<Fq, TABLE_BATCH>;
    var zzz: array<Fq, TABLE_BATCH>;
    var before: array<Fq, TABLE_BATCH>;
    var product = fq_one;
    for (var k = 0u; k < count; k++) {
        var p = xyzz_from_affine(load_table_point(read_at + k));
        for (var d = 0u; d < params.c; d++) { p = xyzz_dbl(p); }
        zz[k] = p.zz;
        zzz[k] = p.zzz;
        if (xyzz_is_identity(p)) { zzz[k] = fq_one; }
        before[k] = product;
        product = fq_mul(product, zzz[k]);
        store_table_point(write_at + k, Affine(p.x, p.y));
    }
    var inv = fq_invert(product);
    var k = count;
    while (k > 0u) {
        k -= 1u;
        let zzz_inv = fq_mul(inv, before[k]);
        inv = fq_mul(inv, zzz[k]);
        var a = Affine(fq_zero(), fq_zero());
        if (!fq_is_zero(zz[k])) {
            let raw = load_table_point(write_at + k);
            a = Affine(fq_canonical(fq_mul(raw.x, fq_sqr(fq_mul(zz[k], zzz_inv)))), fq_canonical(fq_mul(raw.y, zzz_inv)));
        }
        store_table_point(write_at + k, a);
    }
}

// Every nonzero digit takes a slot in its bucket. Pass 1 (write_entries = 0) counts them in
// `slots` and keeps each digit's rank among its bucket's entries in `ranks` (window-major, one
// word a digit); pass 3, with the buckets' offsets scanned, writes each entry (sign << 31 |
// point, the index of 2^{c·j}·P_i among the tables) at its bucket's offset plus its rank,
// without atomics.
@compute @workgroup_size(64)
fn msm_digits(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = thread_index(gid, groups);
    if (i >= params.n) { return; }
    // Scalars arrive in Montgomery form; digits need the integer: multiply by (integer) 1, whose
    // product (s + m·p)/R is below p for s < p, canonical without a subtraction.
    var one: Fr;
    one.l[0] = 1u;
    var s = fr_mul(load_scalar(i), one);
    let c = params.c;
    let buckets = 1u << (c - 1u);
    var carry = 0u;
    var group = 0u;
    var table = 0u;
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
        if (magnitude != 0u) {
            let key = group * buckets + magnitude - 1u;
            let at = w * params.n + i;
            if (params.write_entries == 0u) {
                ranks[at] = atomicAdd(&slots[key], 1u);
            } else {
                entries[offsets[key] + ranks[at]] = select(0u, 0x80000000u, negative) | (table * params.table_len + i);
            }
        }
        table++;
        if (table == params.tables) {
            table = 0u;
            group++;
        }
    }
}

// Exclusive scan of `counts` into `offsets` in three passes: per-workgroup scans with workgroup
// totals, a scan of the totals (one workgroup), then the workgroup offsets added back;
// SCAN_ITEMS consecutive counts an invocation, SCAN_THREADS a workgroup (defined by the host).
var<workgroup> scan_sums: array<u32, SCAN_THREADS>;

// Hillis-Steele inclusive scan of one value per invocation of a SCAN_THREADS workgroup: the sum
// of `own` over this invocation and those before it.
fn workgroup_scan(local: u32, own: u32) -> u32 {
    scan_sums[local] = own;
    workgroupBarrier();
    for (var off = 1u; off < SCAN_THREADS; off <<= 1u) {
        var v = 0u;
        if (local >= off) { v = scan_sums[local - off]; }
        workgroupBarrier();
        scan_sums[local] += v;
        workgroupBarrier();
    }
    return scan_sums[local];
}

@compute @workgroup_size(SCAN_THREADS)
fn scan_blocks(@builtin(workgroup_id) group: vec3<u32>, @builtin(local_invocation_id) local: vec3<u32>) {
    let len = params.n_buckets;
    let base = (group.x * SCAN_THREADS + local.x) * SCAN_ITEMS;
    var own = 0u;
    for (var k = 0u; k < SCAN_ITEMS; k++) {
        if (base + k < len) { own += counts[base + k]; }
    }
    let inclusive = workgroup_scan(local.x, own);
    var run = inclusive - own;
    for (var k = 0u; k < SCAN_ITEMS; k++) {
        if (base + k < len) {
            let v = counts[base + k];
            offsets[base + k] = run;
            run += v;
        }
    }
    if (local.x == SCAN_THREADS - 1u) { totals[group.x] = inclusive; }
}

// One workgroup scans the workgroup totals in place (3 328 of them for 13 windows of 2^19
// buckets), each invocation a run of them, and writes the grand total after them: scan_blocks'
// steps on another buffer (WGSL functions cannot take storage pointers, so they stay apart).
@compute @workgroup_size(SCAN_THREADS)
fn scan_totals(@builtin(local_invocation_id) local: vec3<u32>) {
    let blocks = params.scan_blocks;
    let per = (blocks + SCAN_THREADS - 1u) / SCAN_THREADS;
    let base = local.x * per;
    var own = 0u;
    for (var k = 0u; k < per; k++) {
        if (base + k < blocks) { own += totals[base + k]; }
    }
    let inclusive = workgroup_scan(local.x, own);
    var run = inclusive - own;
    for (var k = 0u; k < per; k++) {
        if (base + k < blocks) {
            let v = totals[base + k];
            totals[base + k] = run;
            run += v;
        }
    }
    if (local.x == SCAN_THREADS - 1u) { totals[blocks] = inclusive; }
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
// a loop per run, a subgroup would wait at each run's end for its longest run). The next point
// is loaded while the current one is added, as in cuda/msm.cu, so that its latency hides behind
// the addition.
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
    var next = entry_point(entries[start]);
    for (var p = start; p < end; p++) {
        let point = next;
        if (p + 1u < end) { next = entry_point(entries[p + 1u]); }
        acc = xyzz_add_affine(acc, point);
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

// One level of the bucket reduction, as msm_reduce_level in cuda/msm.cu (pippenger.rs,
// `ReductionLevel`): thread (w, j) reduces segment j of bucket group w from its top input down.
// The first level reads buckets (group-major, from point 0) and writes T = Σ_r (r+1)·B and
// S = L·Σ_r B; a later level reads pairs (T_e, S_e) and writes T = Σ_r (T_{jL+r} + r·S_{jL+r})
// and S = L·Σ_r S_{jL+r}. Pairs lie from `level_in` / `level_out`: all T, then all S,
// segment-major (j·groups + w); S only when a level follows.
//
// The kernel has a single call of xyzz_add, fed by a step counter: drivers that compile on the
// CPU (lavapipe) inline every call, and their compile time grows faster than the code (one call
// compiles in a seventh of the time three took). Per input, first level: running += B,
// acc += running; later levels: acc += running, running += S, acc += T. Then log L doublings of
// running (r + r, the equal-point case of the addition) when a level follows.
@compute @workgroup_size(64)
fn msm_reduce_level(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let inputs = params.level_inputs;
    let len = params.level_len;
    let segments = inputs / len;
    let id = thread_index(gid, groups);
    if (id >= params.groups * segments) { return; }
    let w = id % params.groups;
    let j = id / params.groups;
    let first = params.level_first == 1u;
    var per_input = 3u;
    if (first) { per_input = 2u; }
    let sum_steps = per_input * len;
    var steps = sum_steps;
    if (segments > 1u) { steps += countTrailingZeros(len); }
    var running = xyzz_identity();
    var acc = xyzz_identity();
    for (var step = 0u; step < steps; step++) {
        var x = running;
        var y = xyzz_identity();
        var into_acc = false;
        if (step < sum_steps) {
            let e = j * len + len - 1u - step / per_input;
            let phase = step % per_input;
            let pair = params.level_in + e * params.groups + w;
            if (first && phase == 0u) {
                let key = w * inputs + e;
                if (counts[key] != 0u) { y = load_point(key); }
            } else if (first || phase == 0u) {
                x = acc;
                y = running;
                into_acc = true;
            } else if (phase == 1u) {
                y = load_point(pair + inputs * params.groups);
            } else {
                x = acc;
                y = load_point(pair);
                into_acc = true;
            }
        } else {
            y = running;
        }
        let z = xyzz_add(x, y);
        if (into_acc) { acc = z; } else { running = z; }
    }
    // Canonical: the last level's T are what the host reads.
    store_point(params.level_out + id, xyzz_canonical(acc));
    if (segments > 1u) { store_point(params.level_out + segments * params.groups + id, running); }
}
