// Test driver for the host build of the CUDA kernels (cuda_host.h): reads commands on stdin,
// runs the kernels in the order the backend launches them (cuda/mod.rs) and prints the results,
// all as hexadecimal 32-bit words, for the Rust tests to compare with halo2curves.
//
//   arith F A[8] B[8]                      F = r (Fr) or q (Fq), A and B in [0, 2p): prints a·b,
//                                          a + b, a − b, a² as computed, then each canonical
//   ntt LOG_N KIND PASSES (PASS S K)*PASSES SHIFT[8] OMEGA[8] ONE[8] N_INV[8] [H POWERS] VALUES[8n]
//                                          KIND 0 forward, 1 inverse, 2 coset (OMEGA is ω, or
//                                          ω⁻¹ for the inverse; a coset adds H and the two
//                                          tables of its shift's powers,
//                                          backend::coset_power_tables); the passes as
//                                          backend::ntt_passes plans them (PASS 0:
//                                          fr_ntt_pass<K>; 1: fr_ntt_tile;
//                                          2: fr_ntt_bit_reverse_pass<K> in S blocks, as
//                                          backend::ntt_first_pass_blocks counts them;
//                                          3: fr_bit_reverse_tiles): prints the transformed values
//   scan LEN VALUES[len]                   prints the exclusive prefix sums, then the total
//   msm N C WINDOWS TABLES GROUPS LEVEL_POINTS LEVELS
//       (READS_BUCKETS INPUTS LEN INPUT_AT OUTPUT_AT)*LEVELS
//       BASES[16n] SCALARS[8n]             an MSM as pippenger::MsmPlan plans it, over TABLES
//                                          window tables of C bits made from the bases first,
//                                          the reduction levels as pippenger::reduction_levels
//                                          plans them: prints the GROUPS group sums (XYZZ, 32
//                                          words each)
#include <cstdlib>
#include <cstring>
#include <string>

static u32 word() {
    u32 w;
    if (scanf("%x", &w) != 1) {
        fprintf(stderr, "driver: expected a hexadecimal word\n");
        exit(1);
    }
    return w;
}

static std::vector<u32> words(size_t n) {
    std::vector<u32> v(n);
    for (auto &w : v) w = word();
    return v;
}

// Scratch memory as a kernel finds it: not zeros, which would read as the identity point (ZZ = 0)
// and hide a read of something no kernel wrote. 0xa5a5a5a5 words make a value above 2p, so such
// a read gives a wrong result instead.
template <class T> static std::vector<T> poisoned(size_t n) { return std::vector<T>(n, (T)0xa5a5a5a5a5a5a5a5ull); }

static void print(const u32 *w, size_t n) {
    for (size_t i = 0; i < n; i++) printf("%x ", w[i]);
    printf("\n");
}

// The results as the kernels leave them (in [0, 2p)), then canonical.
template <class P> static void arith(const Field &a, const Field &b) {
    Field out[4] = {f_mul<P>(a, b), f_add<P>(a, b), f_sub<P>(a, b), f_sqr<P>(a)};
    for (auto &f : out) print(f.v, 8);
    for (auto &f : out) print(f_canonical<P>(f).v, 8);
}

static unsigned blocks(u64 threads, unsigned block) { return threads == 0 ? 1 : (unsigned)((threads + block - 1) / block); }

// CudaBackend::transform with its twiddle table.
static void ntt() {
    u32 log_n = word(), kind = word(), passes = word();
    std::vector<u32> plan = words(3 * passes);
    std::vector<u32> shift = words(8), omega = words(8), one = words(8), n_inv = words(8);
    u32 h = 0;
    std::vector<u32> powers;
    if (kind == 2) {
        h = word();
        powers = words(8 * ((1ull << h) + (1ull << (log_n - h))));
    }
    u64 n = 1ull << log_n;
    std::vector<u32> data = words(8 * n);
    u32 *d = data.data();
    // 1/n or the coset powers go into a first pass that reads the elements (CudaBackend::transform).
    bool in_first_pass = passes > 0 && plan[0] == 2;
    const u32 *scale = kind == 1 && in_first_pass ? n_inv.data() : nullptr;
    const u32 *coset = kind == 2 && in_first_pass ? powers.data() : nullptr;
    if (kind == 2 && !in_first_pass) launch(blocks((n + 15) / 16, 256), 256, false, [&] { fr_scale_by_powers(d, n, shift.data()); });
    if (log_n > 0) {
        u64 half = n / 2;
        std::vector<u32> table = poisoned<u32>(8 * half);
        const u32 *t = table.data();
        launch(blocks((half + 15) / 16, 256), 256, false, [&] { fr_fill_powers(table.data(), half, omega.data(), one.data()); });
        for (u32 p = 0; p < passes; p++) {
            u32 pass = plan[3 * p], s = plan[3 * p + 1], k = plan[3 * p + 2], last = p + 1 == passes;
            if (pass == 0)
                launch(blocks(n >> k, 256), 256, false, [&] {
                    if (k == 1) fr_ntt_pass1(d, t, log_n, s, last);
                    if (k == 2) fr_ntt_pass2(d, t, log_n, s, last);
                    if (k == 3) fr_ntt_pass3(d, t, log_n, s, last);
                });
            if (pass == 1) launch((unsigned)(n >> NTT_TILE_LOG), NTT_TILE_THREADS, true, [&] { fr_ntt_tile(d, t, log_n, s, k, last); });
            if (pass == 2)
                launch(s, 256, true, [&] {
                    if (k == 1) fr_ntt_bit_reverse_pass1(d, t, log_n, scale, coset, h, last);
                    if (k == 2) fr_ntt_bit_reverse_pass2(d, t, log_n, scale, coset, h, last);
                    if (k == 3) fr_ntt_bit_reverse_pass3(d, t, log_n, scale, coset, h, last);
                });
            if (pass == 3)
                launch(1u << (log_n - 2 * BITREV_Q), 1u << (2 * BITREV_Q), true, [&] { fr_bit_reverse_tiles(d, log_n); });
        }
    }
    if (kind == 1 && !in_first_pass) launch(blocks(n, 256), 256, false, [&] { fr_scale(d, n, n_inv.data()); });
    print(d, data.size());
}

// The exclusive scan of `counts` into `offsets` as CudaBases::msm_resident runs it; `totals`
// ends with the grand total.
static void exclusive_scan(const std::vector<u32> &counts, std::vector<u32> &offsets, std::vector<u32> &totals) {
    u32 len = (u32)counts.size(), n_blocks = (len + SCAN_THREADS * SCAN_ITEMS - 1) / (SCAN_THREADS * SCAN_ITEMS);
    totals.assign(n_blocks + 1, 0);
    launch(n_blocks, SCAN_THREADS, true, [&] { scan_blocks(counts.data(), offsets.data(), totals.data(), len); });
    launch(1, SCAN_THREADS, true, [&] { scan_totals(totals.data(), n_blocks); });
    launch(blocks(len, 256), 256, false, [&] { scan_add(offsets.data(), totals.data(), len); });
}

static void scan() {
    u32 len = word();
    std::vector<u32> counts = words(len), offsets(len), totals;
    exclusive_scan(counts, offsets, totals);
    offsets.push_back(totals.back());
    print(offsets.data(), offsets.size());
}

// CudaBackend::load_resident's tables, then CudaBases::msm_resident up to the group sums.
static void msm() {
    u64 n = word();
    u32 c = word(), w = word(), tables = word(), groups = word(), level_points = word(), n_levels = word();
    std::vector<u32> plan = words(5 * n_levels);
    std::vector<u32> bases = words(16 * n), scalars = words(8 * n);
    bases.resize(16 * n * tables, 0xa5a5a5a5);  // the tables, poisoned until msm_table writes them
    for (u32 j = 1; j < tables; j++)
        launch(blocks((n + TABLE_BATCH - 1) / TABLE_BATCH, 256), 256, false, [&] { msm_table(bases.data(), n, c, j); });
    u32 n_buckets = groups << (c - 1);
    u64 chunks = (n * w + CHUNK - 1) / CHUNK;
    // counts start at zero, as the backend clears them; everything else is written before it is read.
    std::vector<u32> counts(n_buckets), offsets = poisoned<u32>(n_buckets), ranks = poisoned<u32>(n * w > 0 ? n * w : 1), totals;
    std::vector<u64> entries = poisoned<u64>(n * w > 0 ? n * w : 1);
    std::vector<u32> first = poisoned<u32>(chunks * 32 + 1), last = poisoned<u32>(chunks * 32 + 1);
    std::vector<u32> buckets = poisoned<u32>(n_buckets * 32), levels = poisoned<u32>(level_points * 32);
    u32 count = 0, write = 1;
    launch(blocks(n, 256), 256, false, [&] {
        msm_digits(scalars.data(), n, c, w, tables, n, counts.data(), offsets.data(), ranks.data(), entries.data(),
                   count);
    });
    exclusive_scan(counts, offsets, totals);
    launch(blocks(n, 256), 256, false, [&] {
        msm_digits(scalars.data(), n, c, w, tables, n, counts.data(), offsets.data(), ranks.data(), entries.data(),
                   write);
    });
    const u32 *total = &totals.back();
    launch(blocks(chunks, 128), 128, false, [&] {
        msm_accumulate(entries.data(), total, offsets.data(), counts.data(), bases.data(), buckets.data(), first.data(),
                       last.data());
    });
    launch(blocks(n_buckets, 256), 256, false,
           [&] { msm_join(offsets.data(), counts.data(), n_buckets, first.data(), last.data(), buckets.data()); });
    u32 sums_at = 0;
    for (u32 l = 0; l < n_levels; l++) {
        u32 reads_buckets = plan[5 * l], inputs = plan[5 * l + 1], len = plan[5 * l + 2];
        u64 input_at = plan[5 * l + 3], output_at = plan[5 * l + 4];
        launch(blocks(groups * (inputs / len), 256), 256, false, [&] {
            msm_reduce_level(buckets.data(), counts.data(), levels.data(), reads_buckets, inputs, len, groups, input_at,
                             output_at);
        });
        sums_at = (u32)output_at;
    }
    print(levels.data() + 32 * (u64)sums_at, 32 * groups);
}

int main() {
    char command[16];
    while (scanf("%15s", command) == 1) {
        std::string cmd = command;
        if (cmd == "arith") {
            char f;
            if (scanf(" %c", &f) != 1) return 1;
            Field a, b;
            for (auto &v : a.v) v = word();
            for (auto &v : b.v) v = word();
            if (f == 'q') arith<FqParams>(a, b); else arith<FrParams>(a, b);
        } else if (cmd == "ntt") {
            ntt();
        } else if (cmd == "scan") {
            scan();
        } else if (cmd == "msm") {
            msm();
        } else {
            fprintf(stderr, "driver: unknown command %s\n", command);
            return 1;
        }
    }
    return 0;
}
