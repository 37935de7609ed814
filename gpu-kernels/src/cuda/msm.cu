// Multi-scalar multiplication Σ k_i·P_i over G1: Pippenger with signed digits, buckets formed by
// a counting sort, and a chunked accumulation that stays balanced when many scalars share a digit
// (halo2's columns are full of 0s and 1s).
//
// With window width c and W windows, every scalar is recoded into digits d_w in
// (−2^{c−1}, 2^{c−1}]; digit d ≠ 0 puts ±2^{c·j}·P_i, from window table j = w mod F, into
// bucket |d|−1 of group w / F (pippenger.rs, MsmPlan; F = 1 over the bases alone, then a
// group is a window). Passes:
//  1. msm_digits     histogram of bucket sizes (one atomic per nonzero digit, whose result is
//                    the digit's rank in its bucket);
//  2. scan_*         exclusive prefix sum of the histogram: each bucket's range in `entries`;
//  3. msm_digits     again, writing (bucket << 32 | sign << 31 | point) at the bucket's offset
//                    plus the digit's rank (no atomics);
//  4. msm_accumulate sums fixed-size chunks of `entries`: a bucket inside one chunk is stored
//                    at once, the runs cut by a chunk border become per-chunk partial sums;
//  5. msm_join       adds the partial sums of every bucket that crosses a chunk border;
//  6. msm_reduce_level, a few times: Σ_b (b+1)·bucket_b per group, by running sums over
//                    segments of 16 buckets, then of 4 segments' pairs, and so on.
// The host finishes with Σ_g 2^{c·F·g}·group_g.
// The window tables themselves are made once, when the bases are loaded (msm_table).

// CHUNK, the entries per accumulation thread, is defined by the host (pippenger.rs).

// Digit w of the canonical scalar s (8 limbs) in window width c, given the incoming carry.
__device__ __forceinline__ int signed_digit(const u32 *s, u32 c, u32 w, u32 *carry) {
    u32 bit = w * c;
    u32 limb = bit >> 5, shift = bit & 31;
    u64 window = limb < 8 ? s[limb] : 0;
    if (limb + 1 < 8) window |= (u64)s[limb + 1] << 32;
    u32 raw = (u32)((window >> shift) & ((1ull << c) - 1)) + *carry;
    // Digits lie in (−2^{c−1}, 2^{c−1}]: the top window (< c − 1 bits of a 254-bit scalar) then
    // never carries out.
    if (raw > (1u << (c - 1))) {
        *carry = 1;
        return (int)raw - (int)(1u << c);
    }
    *carry = 0;
    return (int)raw;
}

// Scalars arrive in Montgomery form; digits need the canonical integer (multiply by 1: for s < p
// the product (s + m·p)/R is below (p + (R − 1)·p)/R = p, canonical without a subtraction).
__device__ __forceinline__ void canonical_scalar(const u32 *scalars, u64 i, u32 out[8]) {
    Field one;
#pragma unroll
    for (int j = 0; j < 8; j++) one.v[j] = j == 0 ? 1 : 0;
    Field s = f_mul<FrParams>(load_field(scalars, i), one);
#pragma unroll
    for (int j = 0; j < 8; j++) out[j] = s.v[j];
}

// Point i of window table j (j ≥ 1) is 2^c times point i of table j − 1 (tables: `len` points
// each, table 0 the bases). A thread makes TABLE_BATCH consecutive points: each doubled c times
// in XYZZ, its X and Y stored as they are, then one inversion of the product of their ZZZ
// (Montgomery's trick) gives every 1/ZZZ on the way back, and each point is stored affine
// (x = X/ZZ, y = Y/ZZZ, 1/ZZ = (ZZ/ZZZ)^2 as ZZ^3 = ZZZ^2).
extern "C" __global__ void msm_table(u32 *tables, u64 len, u32 c, u32 j) {
    typedef FqParams Q;
    u64 first = ((u64)blockIdx.x * blockDim.x + threadIdx.x) * TABLE_BATCH;
    if (first >= len) return;
    u32 count = len - first < TABLE_BATCH ? (u32)(len - first) : TABLE_BATCH;
    u64 from = (u64)(j - 1) * len + first, to = (u64)j * len + first;
    // Per point: ZZ, ZZZ (1 for the identity, which stays out of the product) and the product of
    // the ZZZ before it.
    Field zz[TABLE_BATCH], zzz[TABLE_BATCH], before[TABLE_BATCH];
    Field product = f_one<Q>();
    for (u32 k = 0; k < count; k++) {
        Xyzz p = xyzz_from_affine(load_affine(tables, from + k));
        for (u32 d = 0; d < c; d++) p = xyzz_dbl(p);
        bool identity = xyzz_is_identity(p);
        zz[k] = p.zz;
        zzz[k] = identity ? f_one<Q>() : p.zzz;
        before[k] = product;
        product = f_mul<Q>(product, zzz[k]);
        Affine raw;
        raw.x = p.x;
        raw.y = p.y;
        store_affine(tables, to + k, raw);
    }
    Field inv = f_inv<Q>(product);
    for (int k = (int)count - 1; k >= 0; k--) {
        Field zzz_inv = f_mul<Q>(inv, before[k]);
        inv = f_mul<Q>(inv, zzz[k]);
        Affine a = load_affine(tables, to + k);
        if (f_is_zero(zz[k])) {
            a.x = f_zero<Q>();
            a.y = f_zero<Q>();
        } else {
            a.y = f_canonical<Q>(f_mul<Q>(a.y, zzz_inv));
            a.x = f_canonical<Q>(f_mul<Q>(a.x, f_sqr<Q>(f_mul<Q>(zz[k], zzz_inv))));
        }
        store_affine(tables, to + k, a);
    }
}

// Every nonzero digit takes a slot in its bucket. Pass 1 (write_entries = 0) counts them in
// `counts` and keeps each digit's rank among its bucket's entries in `ranks` (window-major, so
// that a warp's stores are contiguous); pass 3, with the buckets' offsets scanned, writes the
// entry (bucket << 32 | sign << 31 | point) at its bucket's offset plus its rank, `point` being
// the index of 2^{c·j}·P_i among the tables (`table_len` points a table).
extern "C" __global__ void msm_digits(const u32 *scalars, u64 n, u32 c, u32 windows, u32 tables, u64 table_len,
                                      u32 *counts, const u32 *offsets, u32 *ranks, u64 *entries, u32 write_entries) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    u32 s[8];
    canonical_scalar(scalars, i, s);
    u32 buckets = 1u << (c - 1), carry = 0;
    for (u32 w = 0, group = 0, table = 0; w < windows; w++) {
        int d = signed_digit(s, c, w, &carry);
        if (d != 0) {
            u32 key = group * buckets + (u32)(d < 0 ? -d : d) - 1;
            u64 at = (u64)w * n + i;
            if (!write_entries) {
                ranks[at] = atomicAdd(&counts[key], 1u);
            } else {
                u64 point = table * table_len + i;
                entries[offsets[key] + ranks[at]] = ((u64)key << 32) | (d < 0 ? 0x80000000ull : 0) | point;
            }
        }
        if (++table == tables) {
            table = 0;
            group++;
        }
    }
}

// Exclusive scan in three passes: per-block scans with block totals, a scan of the totals (one
// block), then the block offsets added back. SCAN_ITEMS consecutive values per thread, in blocks
// of SCAN_THREADS (both defined by the host, pippenger.rs).

// Hillis–Steele inclusive scan of one value per thread of a SCAN_THREADS block: the sum of
// `own` over this thread and those before it.
__device__ __forceinline__ u32 block_scan(u32 *sums, u32 own) {
    sums[threadIdx.x] = own;
    __syncthreads();
    for (u32 off = 1; off < SCAN_THREADS; off <<= 1) {
        u32 v = threadIdx.x >= off ? sums[threadIdx.x - off] : 0;
        __syncthreads();
        sums[threadIdx.x] += v;
        __syncthreads();
    }
    return sums[threadIdx.x];
}

// Exclusive scan of `len` values from `in` to `out` (in place when they are the same) by one
// block, thread t taking `per` consecutive values from `base`; returns the thread's inclusive
// sum (the block's total for the last thread).
__device__ __forceinline__ u32 scan_run(const u32 *in, u32 *out, u32 base, u32 per, u32 len, u32 *sums) {
    u32 own = 0;
    for (u32 k = 0; k < per; k++)
        if (base + k < len) own += in[base + k];
    u32 inclusive = block_scan(sums, own);
    u32 run = inclusive - own;
    for (u32 k = 0; k < per; k++) {
        if (base + k < len) {
            u32 v = in[base + k];
            out[base + k] = run;
            run += v;
        }
    }
    return inclusive;
}

extern "C" __global__ void scan_blocks(const u32 *in, u32 *out, u32 *block_totals, u32 len) {
    __shared__ u32 sums[SCAN_THREADS];
    u32 total = scan_run(in, out, (blockIdx.x * SCAN_THREADS + threadIdx.x) * SCAN_ITEMS, SCAN_ITEMS, len, sums);
    if (threadIdx.x == SCAN_THREADS - 1) block_totals[blockIdx.x] = total;
}

// One block scans the block totals in place (3 328 of them for 13 windows of 2^19 buckets) and
// writes the grand total after them.
extern "C" __global__ void scan_totals(u32 *block_totals, u32 blocks) {
    __shared__ u32 sums[SCAN_THREADS];
    u32 per = (blocks + SCAN_THREADS - 1) / SCAN_THREADS;
    u32 total = scan_run(block_totals, block_totals, threadIdx.x * per, per, blocks, sums);
    if (threadIdx.x == SCAN_THREADS - 1) block_totals[blocks] = total;
}

extern "C" __global__ void scan_add(u32 *out, const u32 *block_offsets, u32 len) {
    u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < len) out[i] += block_offsets[i / (SCAN_THREADS * SCAN_ITEMS)];
}

__device__ __forceinline__ Affine entry_point(const u32 *bases, u64 entry) {
    Affine p = load_affine(bases, entry & 0x7fffffffull);
    return (entry & 0x80000000ull) ? affine_neg(p) : p;
}

// Threads per block of the accumulation kernel (ACCUMULATE_BLOCK in cuda/mod.rs), and the
// resident blocks per SM it is compiled for (which bounds its registers per thread; 1 leaves them
// unbounded); a tuning knob: ZKML_NVRTC_OPTIONS=-DMSM_ACCUMULATE_MIN_BLOCKS=1. At 4, ptxas fits
// it in 128 registers without spilling and with the same 7 992 instructions as unbounded (148
// registers, three blocks): 16 warps an SM instead of 12 (sm_90, NVRTC 12.9; untimed on a GPU).
#define ACCUMULATE_BLOCK 128
#ifndef MSM_ACCUMULATE_MIN_BLOCKS
#define MSM_ACCUMULATE_MIN_BLOCKS 4
#endif

// Chunk t covers entries [t·CHUNK, (t+1)·CHUNK) ∩ [0, total). Runs of equal bucket inside it:
// - a bucket wholly inside the chunk is written to `buckets`;
// - the run at the chunk's start, of a bucket that began in an earlier chunk, goes to first[t];
// - the run at the chunk's end, of a bucket that began in this chunk and goes on, to last[t].
__device__ __forceinline__ void store_run(u32 key, u64 start, u64 end, u64 t, const Xyzz &acc, const u32 *offsets,
                                          const u32 *counts, u32 *buckets, u32 *first, u32 *last) {
    u64 bucket_start = offsets[key], bucket_end = bucket_start + counts[key];
    if (bucket_start < start) {
        store_xyzz(first, t, acc);
    } else if (bucket_end > end) {
        store_xyzz(last, t, acc);
    } else {
        store_xyzz(buckets, key, acc);
    }
}

// One loop over the chunk with one addition per iteration, the run's sum stored when the next
// bucket begins: every thread of a warp adds in step however its chunk splits into buckets (with
// a loop per run, a warp would wait at each run's end for its longest run, issuing up to about
// twice the additions). The next entry's point is loaded before the current addition, so its
// memory latency overlaps arithmetic. The chunk's last entry is added after the loop: folded into
// it (one call site, as in the WGSL kernel) the code would be 4 152 instructions instead of
// 7 992, but each iteration would issue 22 more (2 244 against 2 222; sm_90).
extern "C" __global__ void __launch_bounds__(ACCUMULATE_BLOCK, MSM_ACCUMULATE_MIN_BLOCKS) msm_accumulate(const u64 *entries, const u32 *total_in, const u32 *offsets,
                                          const u32 *counts, const u32 *bases, u32 *buckets, u32 *first,
                                          u32 *last) {
    u64 t = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    u64 total = *total_in;
    u64 start = t * CHUNK;
    if (start >= total) return;
    u64 end = start + CHUNK < total ? start + CHUNK : total;
    u64 entry = entries[start];
    u32 key = (u32)(entry >> 32);
    Affine point = entry_point(bases, entry);
    Xyzz acc = xyzz_identity();
    for (u64 p = start + 1; p < end; p++) {
        u64 next_entry = entries[p];
        Affine next_point = entry_point(bases, next_entry);
        acc = xyzz_add_affine(acc, point);
        u32 next_key = (u32)(next_entry >> 32);
        if (next_key != key) {
            store_run(key, start, end, t, acc, offsets, counts, buckets, first, last);
            acc = xyzz_identity();
            key = next_key;
        }
        point = next_point;
    }
    acc = xyzz_add_affine(acc, point);
    store_run(key, start, end, t, acc, offsets, counts, buckets, first, last);
}

// Buckets that cross a chunk border: last[c0] + first[c0+1] + … + first[c1].
extern "C" __global__ void msm_join(const u32 *offsets, const u32 *counts, u32 n_buckets, const u32 *first,
                                    const u32 *last, u32 *buckets) {
    u32 key = blockIdx.x * blockDim.x + threadIdx.x;
    if (key >= n_buckets) return;
    u64 count = counts[key];
    if (count == 0) return;
    u64 c0 = offsets[key] / CHUNK, c1 = (offsets[key] + count - 1) / CHUNK;
    if (c0 == c1) return;
    Xyzz acc = load_xyzz(last, c0);
    for (u64 c = c0 + 1; c <= c1; c++) acc = xyzz_add(acc, load_xyzz(first, c));
    store_xyzz(buckets, key, acc);
}

// One level of the bucket reduction (pippenger.rs, `ReductionLevel`): thread (w, j) reduces
// segment j of bucket group w (`windows` groups), `len` inputs, from the top one down with a
// running sum:
// - the first level (reads_buckets) reads the buckets of group w, B_{jL+r}, and writes
//   T = Σ_r (r+1)·B and S = L·Σ_r B;
// - a later level reads pairs (T_e, S_e) and writes T = Σ_r (T_{jL+r} + r·S_{jL+r}) and
//   S = L·Σ_r S_{jL+r}: adding the running sum into acc *before* S_e joins it gives weight r.
// Pairs are stored from point `*_at` of `levels` as all T, then all S, segment-major
// (j·windows + w), so the last level's T are the window sums, in window order. S is scaled
// (log L doublings) and written only when a level follows (segments > 1). The last level's T
// are the group sums.
//
// All of it is one loop of steps around a single point addition (a doubling is running +
// running), each step choosing its two operands and its destination: with an addition inlined
// at each of the six places the sums take, NVRTC's optimizer spent 85 s on this kernel alone
// and ptxas made 25 000 instructions of it.
extern "C" __global__ void msm_reduce_level(const u32 *buckets, const u32 *counts, u32 *levels, u32 reads_buckets,
                                            u32 inputs, u32 len, u32 windows, u64 input_at, u64 output_at) {
    u32 segments = inputs / len;
    u32 id = blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= windows * segments) return;
    u32 w = id % windows, j = id / windows;
    // Per input, from the top one down: the first level's running += B, acc += running; a later
    // level's acc += running, running += S, acc += T. Then the doublings of running.
    u32 per_input = reads_buckets ? 2 : 3, sum_steps = per_input * len;
    u32 steps = sum_steps + (segments > 1 ? 31 - __clz(len) : 0);
    Xyzz running = xyzz_identity(), acc = xyzz_identity();
    for (u32 step = 0; step < steps; step++) {
        Xyzz x = running, y = running;
        bool into_acc = false;
        if (step < sum_steps) {
            u32 e = j * len + len - 1 - step / per_input, phase = step % per_input;
            u64 pair = input_at + (u64)e * windows + w;
            if (reads_buckets && phase == 0) {
                u32 key = w * inputs + e;
                y = counts[key] != 0 ? load_xyzz(buckets, key) : xyzz_identity();
            } else if (reads_buckets || phase == 0) {
                x = acc;
                into_acc = true;
            } else if (phase == 1) {
                y = load_xyzz(levels, pair + (u64)inputs * windows);
            } else {
                x = acc;
                y = load_xyzz(levels, pair);
                into_acc = true;
            }
        }
        Xyzz z = xyzz_add(x, y);
        if (into_acc) acc = z;
        else running = z;
    }
    // Canonical: the last level's T are what the host reads.
    store_xyzz(levels, output_at + id, xyzz_canonical(acc));
    if (segments > 1) store_xyzz(levels, output_at + (u64)segments * windows + id, running);
}
