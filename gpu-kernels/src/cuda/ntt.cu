// Number-theoretic transforms over Fr, in place, natural order in and out.
//
// Decimation in time: the log n butterfly stages, three of them per pass, the first pass reading
// its elements in bit-reversed order. A thread of pass (s, k) owns the 2^k elements whose
// indices differ only in bits s..s+k−1, keeps them in registers through k stages, and writes them
// back once, so a 2^24 transform reads and writes the array ⌈24/3⌉ times instead of 1 + 24 (a
// separate bit-reversal pass would be one more). Consecutive threads own consecutive low
// indices, so every load and store of a warp after the first pass is one contiguous run.
//
// Stage t pairs index i (bit t clear) with i + 2^t, twiddle ω_n^{(i mod 2^t)·n/2^{t+1}}, read
// from a resident table of ω^j for j < n/2 (ω^{-1} for the inverse); a thread loads each of a
// stage's distinct twiddles once (1 + 2 + 4 loads per radix-8 pass, not 3·4).
//
// Between passes the elements stay in [0, 2p) (bn254.cuh); the pass the host marks `last` stores
// them canonical, as do the scaling kernels.

// Bit reversal in tiles, for the tiled transforms (n = 2^N, N ≥ 2·BITREV_Q): write an index as
// (a, b, c) = a·2^{N−q} + b·2^q + c with a, c < 2^q, q = BITREV_Q; it moves to (rev c, rev b,
// rev a). Block b takes the 2^q × 2^q elements with middle part b and those with middle part
// rev b (rows of 2^q consecutive elements), swaps them through shared memory and writes rows of
// consecutive elements again, so that the permutation reads and writes whole runs instead of
// scattered elements; blocks with b > rev b have nothing to do. One thread per element of a tile.
// BITREV_Q comes from the host (backend.rs).

__device__ __forceinline__ u32 reverse_bits(u32 x, u32 bits) { return bits == 0 ? 0 : __brev(x) >> (32 - bits); }

extern "C" __global__ void __launch_bounds__(1 << (2 * BITREV_Q)) fr_bit_reverse_tiles(u32 *data, u32 log_n) {
    __shared__ u32 tiles[2][8][1 << (2 * BITREV_Q)];
    const u32 q = BITREV_Q, mid_bits = log_n - 2 * q;
    u32 b = blockIdx.x, b_rev = reverse_bits(b, mid_bits);
    if (b > b_rev) return;
    u32 mids[2] = {b, b_rev};
    u32 hi = threadIdx.x >> q, lo = threadIdx.x & ((1u << q) - 1);
    for (int t = 0; t < 2; t++) {
        Field a = load_field(data, ((u64)hi << (log_n - q)) | ((u64)mids[t] << q) | lo);
#pragma unroll
        for (int w = 0; w < 8; w++) tiles[t][w][threadIdx.x] = a.v[w];
    }
    __syncthreads();
    // Position (hi, mid, lo) receives the element (rev lo, rev mid, rev hi).
    u32 from = (reverse_bits(lo, q) << q) | reverse_bits(hi, q);
    for (int t = 0; t < 2; t++) {
        Field a;
#pragma unroll
        for (int w = 0; w < 8; w++) a.v[w] = tiles[1 - t][w][from];
        store_field(data, ((u64)hi << (log_n - q)) | ((u64)mids[t] << q) | lo, a);
    }
}

// Stages s .. s+K−1 on the 2^K elements x[j] = a[base + j·2^s] held in registers, where `low`
// (< 2^s) is base's low bits: stage t = s + u pairs x[j] with x[j + 2^u] (bit u of j clear),
// twiddle ω^{((j mod 2^u)·2^s + low)·n/2^{t+1}}.
// FIRST: the stages start at 0 (s = 0, so low = 0), where the twiddle of m = j mod 2^u = 0 is
// ω^0 = 1: those butterflies skip their multiplication (all of stage 0, half of stage 1, a
// quarter of stage 2: 5 multiplications in a radix-8 pass instead of 12).
template <int K, bool FIRST>
__device__ __forceinline__ void radix_butterflies(Field x[1 << K], const u32 *twiddles, u32 log_n, u32 s, u64 low) {
#pragma unroll
    for (int u = 0; u < K; u++) {
        u32 t = s + u;
        int half = 1 << u;
        // Stage t has 2^u distinct twiddles (butterfly j takes w[j mod 2^u]): each loaded once.
        Field w[1 << (K - 1)];
#pragma unroll
        for (int m = FIRST ? 1 : 0; m < half; m++) w[m] = load_field(twiddles, ((((u64)m) << s) | low) << (log_n - t - 1));
#pragma unroll
        for (int j = 0; j < (1 << K); j++) {
            if (j & half) continue;
            int m = j & (half - 1);
            Field b = FIRST && m == 0 ? x[j + half] : f_mul<FrParams>(x[j + half], w[m]);
            x[j + half] = f_sub<FrParams>(x[j], b);
            x[j] = f_add<FrParams>(x[j], b);
        }
    }
}

// Element x of a pass's output: canonical after the last pass.
__device__ __forceinline__ Field pass_output(const Field &x, u32 last) { return last ? f_canonical<FrParams>(x) : x; }

template <int K>
__device__ __forceinline__ void ntt_pass(u32 *data, const u32 *twiddles, u32 log_n, u32 s, u32 last) {
    u64 groups = 1ull << (log_n - K);
    u64 g = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= groups) return;
    u64 low = g & ((1ull << s) - 1);
    u64 base = ((g >> s) << (s + K)) | low;
    Field x[1 << K];
#pragma unroll
    for (int j = 0; j < (1 << K); j++) x[j] = load_field(data, base + ((u64)j << s));
    radix_butterflies<K, false>(x, twiddles, log_n, s, low);
#pragma unroll
    for (int j = 0; j < (1 << K); j++) store_field(data, base + ((u64)j << s), pass_output(x[j], last));
}

// The first pass, stages 0..K−1, fused with the bit reversal: group m takes the elements
// x[j] = a[rev(m·2^K + j)] (rev over log n bits) and writes them to m·2^K + j after its stages,
// so the transform needs no separate permutation pass. The elements a group reads are not those
// it writes, so every block reads all its groups, waits at a barrier, then writes: a block must
// hold each group whose destination another of its groups reads. 256 threads, one group each.
// Where there are at most 256 groups, one block holds them all. Otherwise (K = 3, log n ≥ 12)
// write m = (A, b) with A its top 3 bits and b = (h, x, l) its low B = log n − 6 bits, h and l of
// 2 bits: group (A, b) writes the elements with middle bits b (index A·2^{n−3} + b·8 + c) and
// reads those with middle bits rev b = (rev l, rev x, rev h). So the 256 groups with x or rev x
// in the middle (8 values of A, 4 of h, 4 of l, 2 of x) are closed: block x takes them where
// x ≤ rev x, and blocks with x > rev x have nothing to do (where x = rev x, half its threads).
// A warp's loads are then runs of 8 consecutive elements (A is a thread's lowest bits), and each
// thread stores 8 consecutive elements, as the passes after it load them.
__device__ __forceinline__ bool first_pass_group(u32 log_n, u32 k, u64 *m) {
    if (log_n - k <= 8) {
        *m = threadIdx.x;
        return threadIdx.x < (1u << (log_n - k));
    }
    u32 b_bits = log_n - 6, x_bits = b_bits - 4;
    u64 x = blockIdx.x, x_rev = reverse_bits(blockIdx.x, x_bits);
    u32 t = threadIdx.x, side = t >> 7;
    u64 xs = side ? x_rev : x;
    u64 b = ((u64)((t >> 5) & 3) << (b_bits - 2)) | (xs << 2) | ((t >> 3) & 3);
    *m = ((u64)(t & 7) << b_bits) | b;
    return !(side && x == x_rev);
}

// g^i from the two tables of a coset shift's powers: powers[i mod 2^h]·powers[2^h + (i >> h)].
__device__ __forceinline__ Field coset_power(const u32 *powers, u32 h, u64 i) {
    return f_mul<FrParams>(load_field(powers, i & ((1ull << h) - 1)), load_field(powers, (1ull << h) + (i >> h)));
}

// What the first pass multiplies each element it reads by, so that it takes no pass of its own:
// `scale`, where not null, is the inverse transform's 1/n; `powers`, where not null, the two
// tables of a coset transform's g^i (coset_power, with h = powers_bits).
template <int K>
__device__ __forceinline__ void ntt_bit_reverse_pass(u32 *data, const u32 *twiddles, u32 log_n, const u32 *scale, const u32 *powers,
                                                     u32 powers_bits, u32 last) {
    if (log_n - K > 8 && blockIdx.x > reverse_bits(blockIdx.x, log_n - 10)) return;  // the whole block
    u64 m;
    bool active = first_pass_group(log_n, K, &m);
    Field x[1 << K];
    if (active) {
#pragma unroll
        for (int j = 0; j < (1 << K); j++) {
            u64 i = __brevll((m << K) | j) >> (64 - log_n);
            x[j] = load_field(data, i);
            if (scale || powers) x[j] = f_mul<FrParams>(x[j], scale ? load_field(scale, 0) : coset_power(powers, powers_bits, i));
        }
        radix_butterflies<K, true>(x, twiddles, log_n, 0, 0);
    }
    __syncthreads();  // every read of the block done before any write
    if (active) {
#pragma unroll
        for (int j = 0; j < (1 << K); j++) store_field(data, (m << K) | j, pass_output(x[j], last));
    }
}

// Resident blocks per SM the radix-8 pass is compiled for; a tuning knob like
// MSM_ACCUMULATE_MIN_BLOCKS (ZKML_NVRTC_OPTIONS=-DNTT_PASS_MIN_BLOCKS=1). At 2, ptxas caps it at
// 128 registers (sm_90; a 4-byte spill) so that two 256-thread blocks fit an SM: on an H100 the
// 2^24 transform took 8.58 ms against 9.89 ms at 1 (138 registers, one block), 2^20 0.540
// against 0.570 ms.
#ifndef NTT_PASS_MIN_BLOCKS
#define NTT_PASS_MIN_BLOCKS 2
#endif

extern "C" __global__ void fr_ntt_pass1(u32 *data, const u32 *twiddles, u32 log_n, u32 s, u32 last) {
    ntt_pass<1>(data, twiddles, log_n, s, last);
}
extern "C" __global__ void fr_ntt_pass2(u32 *data, const u32 *twiddles, u32 log_n, u32 s, u32 last) {
    ntt_pass<2>(data, twiddles, log_n, s, last);
}
extern "C" __global__ void __launch_bounds__(256, NTT_PASS_MIN_BLOCKS) fr_ntt_pass3(u32 *data, const u32 *twiddles, u32 log_n, u32 s,
                                                                                  u32 last) {
    ntt_pass<3>(data, twiddles, log_n, s, last);
}
// The first pass (stages 0..K−1 on bit-reversed reads): K = 3 from 2^3 elements on, K = log n below.
extern "C" __global__ void __launch_bounds__(256) fr_ntt_bit_reverse_pass1(u32 *data, const u32 *twiddles, u32 log_n, const u32 *scale,
                                                                  const u32 *powers, u32 powers_bits, u32 last) {
    ntt_bit_reverse_pass<1>(data, twiddles, log_n, scale, powers, powers_bits, last);
}
extern "C" __global__ void __launch_bounds__(256) fr_ntt_bit_reverse_pass2(u32 *data, const u32 *twiddles, u32 log_n, const u32 *scale,
                                                                  const u32 *powers, u32 powers_bits, u32 last) {
    ntt_bit_reverse_pass<2>(data, twiddles, log_n, scale, powers, powers_bits, last);
}
extern "C" __global__ void __launch_bounds__(256, NTT_PASS_MIN_BLOCKS) fr_ntt_bit_reverse_pass3(u32 *data, const u32 *twiddles, u32 log_n, const u32 *scale,
                                                                  const u32 *powers, u32 powers_bits, u32 last) {
    ntt_bit_reverse_pass<3>(data, twiddles, log_n, scale, powers, powers_bits, last);
}

// Tiled pass: stages s .. s+k−1 through shared memory, so that a 2^24 transform reads and writes
// the array 1 + 3 times (the tiled bit reversal, then stages 0–9, 10–17, 18–23) instead of 8. A block owns the
// 2^NTT_TILE_LOG elements hi·2^{s+k} + m·2^s + lo0 + l for m < 2^k and l < 2^L, L = NTT_TILE_LOG − k
// (runs of 2^L consecutive indices, which keep global loads coalesced; the host keeps L ≤ s).
// The tile is stored limb-major (word w of element e at tile[w][e]) so that threads touching
// consecutive elements hit distinct banks. Its stages go radix-8 at a time in registers, with a
// barrier between steps. NTT_TILE_LOG and NTT_TILE_THREADS come from the host (backend.rs).
template <int R>
__device__ __forceinline__ void tile_step(u32 (*tile)[1 << NTT_TILE_LOG], const u32 *twiddles, u32 log_n, u32 s, u32 u,
                                          u32 l_bits, u64 lo0) {
    for (u32 g = threadIdx.x; g < (1u << (NTT_TILE_LOG - R)); g += NTT_TILE_THREADS) {
        u32 l = g & ((1u << l_bits) - 1), q = g >> l_bits;
        u32 m_base = ((q >> u) << (u + R)) | (q & ((1u << u) - 1));
        Field x[1 << R];
#pragma unroll
        for (int j = 0; j < (1 << R); j++) {
            u32 e = ((m_base + ((u32)j << u)) << l_bits) | l;
#pragma unroll
            for (int w = 0; w < 8; w++) x[j].v[w] = tile[w][e];
        }
        // Index bits below stage s + u: m_base's low u bits above s, then lo. The first tile's
        // first step starts at stage 0 (low = 0), where radix_butterflies can skip ω^0.
        u64 low = ((u64)(m_base & ((1u << u) - 1)) << s) | (lo0 + l);
        if (s + u == 0) radix_butterflies<R, true>(x, twiddles, log_n, 0, 0);
        else radix_butterflies<R, false>(x, twiddles, log_n, s + u, low);
#pragma unroll
        for (int j = 0; j < (1 << R); j++) {
            u32 e = ((m_base + ((u32)j << u)) << l_bits) | l;
#pragma unroll
            for (int w = 0; w < 8; w++) tile[w][e] = x[j].v[w];
        }
    }
}

extern "C" __global__ void __launch_bounds__(NTT_TILE_THREADS) fr_ntt_tile(u32 *data, const u32 *twiddles, u32 log_n, u32 s,
                                                                          u32 k, u32 last) {
    __shared__ u32 tile[8][1 << NTT_TILE_LOG];
    u32 l_bits = NTT_TILE_LOG - k;
    u64 runs = 1ull << (s - l_bits);
    u64 lo0 = ((u64)blockIdx.x & (runs - 1)) << l_bits, hi = (u64)blockIdx.x >> (s - l_bits);
    for (u32 e = threadIdx.x; e < (1u << NTT_TILE_LOG); e += NTT_TILE_THREADS) {
        u64 i = (hi << (s + k)) | ((u64)(e >> l_bits) << s) | (lo0 + (e & ((1u << l_bits) - 1)));
        Field a = load_field(data, i);
#pragma unroll
        for (int w = 0; w < 8; w++) tile[w][e] = a.v[w];
    }
    __syncthreads();
    for (u32 u = 0; u < k; u += 3) {
        u32 r = k - u < 3 ? k - u : 3;
        if (r == 3) tile_step<3>(tile, twiddles, log_n, s, u, l_bits, lo0);
        if (r == 2) tile_step<2>(tile, twiddles, log_n, s, u, l_bits, lo0);
        if (r == 1) tile_step<1>(tile, twiddles, log_n, s, u, l_bits, lo0);
        __syncthreads();
    }
    for (u32 e = threadIdx.x; e < (1u << NTT_TILE_LOG); e += NTT_TILE_THREADS) {
        u64 i = (hi << (s + k)) | ((u64)(e >> l_bits) << s) | (lo0 + (e & ((1u << l_bits) - 1)));
        Field a;
#pragma unroll
        for (int w = 0; w < 8; w++) a.v[w] = tile[w][e];
        store_field(data, i, pass_output(a, last));
    }
}

// Elements per thread of the power kernels: one exponentiation, then a multiplication each.
#define POWERS_CHUNK 16

// data[i] = factor · base^i for i < n (data is not read), in [0, 2p): the twiddles, read only by
// the passes.
extern "C" __global__ void fr_fill_powers(u32 *data, u64 n, const u32 *base_in, const u32 *factor_in) {
    u64 start = ((u64)blockIdx.x * blockDim.x + threadIdx.x) * POWERS_CHUNK;
    if (start >= n) return;
    Field base = load_field(base_in, 0);
    Field cur = f_mul<FrParams>(f_pow<FrParams>(base, start), load_field(factor_in, 0));
    for (u64 i = start; i < n && i < start + POWERS_CHUNK; i++) {
        store_field(data, i, cur);
        cur = f_mul<FrParams>(cur, base);
    }
}

// data[i] *= base^i for i < n (the coset shift before a transform in tiled passes; canonical, as
// at n = 1 no pass follows).
extern "C" __global__ void fr_scale_by_powers(u32 *data, u64 n, const u32 *base_in) {
    u64 start = ((u64)blockIdx.x * blockDim.x + threadIdx.x) * POWERS_CHUNK;
    if (start >= n) return;
    Field base = load_field(base_in, 0);
    Field cur = f_pow<FrParams>(base, start);
    for (u64 i = start; i < n && i < start + POWERS_CHUNK; i++) {
        store_field(data, i, f_canonical<FrParams>(f_mul<FrParams>(load_field(data, i), cur)));
        cur = f_mul<FrParams>(cur, base);
    }
}

// data[i] *= factor (1/n after an inverse transform in tiled passes).
extern "C" __global__ void fr_scale(u32 *data, u64 n, const u32 *factor_in) {
    u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    store_field(data, i, f_canonical<FrParams>(f_mul<FrParams>(load_field(data, i), load_field(factor_in, 0))));
}
