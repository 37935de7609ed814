// The CUDA kernels built for the host, so that tests run them on machines without a GPU.
//
// Each kernel becomes a C++ function; `launch` runs a grid's blocks one after another, and a
// block's threads one after another, or as OS threads meeting at a barrier for kernels that
// call __syncthreads. `__shared__` arrays become statics (one block runs at a time). What this
// checks is each thread's arithmetic and indexing and the kernels' sequence; what it cannot is
// the GPU's concurrency (warps in lockstep, races between blocks), which the device tests do.
// Blocks, and the threads of a block that runs them one after another, go in a shuffled order
// (a fixed sequence of orders, the same every run), since a GPU promises no order: a kernel
// whose blocks read what other blocks of the same launch write (the in-place NTT passes) gives
// wrong results here unless they really are independent.
#include <barrier>
#include <cstdio>
#include <thread>
#include <vector>

#define __device__
#define __forceinline__ inline
#define __global__
#define __launch_bounds__(...)
#define __shared__ static

struct uint3 { unsigned x, y, z; };
struct uint4 { unsigned x, y, z, w; };
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }

static thread_local uint3 threadIdx, blockIdx;
static uint3 blockDim, gridDim;
static std::barrier<> *block_barrier;

static inline void __syncthreads() { block_barrier->arrive_and_wait(); }
static inline unsigned atomicAdd(unsigned *p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
static inline int __clz(unsigned x) { return x ? __builtin_clz(x) : 32; }
static inline int __clzll(unsigned long long x) { return x ? __builtin_clzll(x) : 64; }
static inline unsigned __brev(unsigned x) {
    unsigned r = 0;
    for (int i = 0; i < 32; i++, x >>= 1) r = (r << 1) | (x & 1);
    return r;
}
static inline unsigned long long __brevll(unsigned long long x) {
    unsigned long long r = 0;
    for (int i = 0; i < 64; i++, x >>= 1) r = (r << 1) | (x & 1);
    return r;
}

// 0, …, len − 1 in an order drawn from `state` (Fisher–Yates with xorshift64).
static std::vector<unsigned> shuffled(unsigned len, unsigned long long &state) {
    std::vector<unsigned> order(len);
    for (unsigned i = 0; i < len; i++) order[i] = i;
    for (unsigned i = len; i > 1; i--) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        std::swap(order[i - 1], order[state % i]);
    }
    return order;
}

// Runs `kernel()` for every thread of a grid of `blocks` × `threads`, blocks in a shuffled order.
template <class Kernel> void launch(unsigned blocks, unsigned threads, bool synchronizes, Kernel kernel) {
    static unsigned long long order_state = 0x9e3779b97f4a7c15ull;
    gridDim = uint3{blocks, 1, 1};
    blockDim = uint3{threads, 1, 1};
    for (unsigned b : shuffled(blocks, order_state)) {
        if (!synchronizes) {
            blockIdx = uint3{b, 0, 0};
            for (unsigned t : shuffled(threads, order_state)) {
                threadIdx = uint3{t, 0, 0};
                kernel();
            }
            continue;
        }
        std::barrier<> barrier((std::ptrdiff_t)threads);
        block_barrier = &barrier;
        std::vector<std::thread> block;
        for (unsigned t = 0; t < threads; t++)
            block.emplace_back([=] {
                blockIdx = uint3{b, 0, 0};
                threadIdx = uint3{t, 0, 0};
                kernel();
            });
        for (auto &thread : block) thread.join();
    }
}
