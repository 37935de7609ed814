// BN254 arithmetic for the CUDA kernels: Montgomery fields (Fr, Fq) and G1 in XYZZ coordinates.
//
// Elements are 8 little-endian 32-bit limbs in Montgomery form (R = 2^256), the same bytes as
// halo2curves' `[u64; 4]` limbs on a little-endian host, so values cross the PCIe bus unchanged.
// The host prepends the constants (`fr_p(i)`, `fr_p2(i)` = 2p, `FR_INV`, `fr_one(i)`, `fq_p(i)`,
// ...) derived from halo2curves, so the moduli are written in one place only; they are switch
// functions so that fully unrolled loops see immediates.
//
// Values are reduced lazily: an element is any representative in [0, 2p), and only what the
// host reads (a transform's output, an MSM's sums, window tables) is made canonical
// (`f_canonical`).
// Both moduli are below R/4 (p ≈ 0.19·2^256), which is what makes this work: a sum of two
// values is below 4p < 2^256 and one conditional subtraction of 2p brings it back; a difference
// that borrows gets 2p added; and the Montgomery product of two values below 2p is
// (a·b + m·p)/R < p·(4p/R + 1) < 2p, so it needs no final subtraction at all (about 17 of a
// product's 216 SASS instructions on sm_90, ~8%). A test for zero is then a test for 0 or p
// (`f_is_zero_mod`); the identity's exact zeros (ZZ = 0, the affine (0, 0)) stay exact.
//
// Multiplication is CIOS Montgomery: each row adds a·b[i] and one reduction step. Both moduli
// are below 2^254, so the running value never needs a tenth limb: with inputs below 2p it stays
// below 3p between rows, and below 3p·2^32 < 2^288 before each division by 2^32. Additions,
// subtractions and conditional subtractions are PTX carry chains (`add.cc` / `sub.cc`), one
// instruction a limb, where C with 64-bit intermediates took about four (sm_90: `f_add` 64 SASS
// instructions with its loads and store instead of 96).

struct Field { u32 v[8]; };

// Compile-time description of one prime field: the limbs of p and 2p, −p⁻¹ mod 2^32, R mod p.
struct FrParams {
    static __device__ __forceinline__ u32 p(int i) { return fr_p(i); }
    static __device__ __forceinline__ u32 p2(int i) { return fr_p2(i); }
    static constexpr u32 inv = FR_INV;
    static __device__ __forceinline__ u32 one(int i) { return fr_one(i); }
};
struct FqParams {
    static __device__ __forceinline__ u32 p(int i) { return fq_p(i); }
    static __device__ __forceinline__ u32 p2(int i) { return fq_p2(i); }
    static constexpr u32 inv = FQ_INV;
    static __device__ __forceinline__ u32 one(int i) { return fq_one(i); }
};

template <class P> __device__ __forceinline__ Field f_zero() {
    Field r;
#pragma unroll
    for (int i = 0; i < 8; i++) r.v[i] = 0;
    return r;
}

template <class P> __device__ __forceinline__ Field f_one() {
    Field r;
#pragma unroll
    for (int i = 0; i < 8; i++) r.v[i] = P::one(i);
    return r;
}

// Whether all limbs are zero: the exact zeros that encode the identity.
__device__ __forceinline__ bool f_is_zero(const Field &a) {
    u32 acc = 0;
#pragma unroll
    for (int i = 0; i < 8; i++) acc |= a.v[i];
    return acc == 0;
}

// Whether a value in [0, 2p) is 0 mod p: 0 or p.
template <class P> __device__ __forceinline__ bool f_is_zero_mod(const Field &a) {
    u32 zero = 0, p = 0;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        zero |= a.v[i];
        p |= a.v[i] ^ P::p(i);
    }
    return zero == 0 || p == 0;
}

// 32-bit operations on the carry flag (PTX `.cc`; after a subtraction the flag is the borrow).
// NVRTC compiles them to carry-chained IMAD and IADD3; a host build (the arithmetic tests)
// emulates them with an explicit flag, one per thread.
#ifdef __CUDA_ARCH__
#define CARRY_OP(name, ptx)                                                                        \
    __device__ __forceinline__ u32 name(u32 a, u32 b, u32 c) {                                    \
        u32 r;                                                                                     \
        asm volatile(ptx " %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(c));                 \
        return r;                                                                                  \
    }
CARRY_OP(mad_lo_cc, "mad.lo.cc.u32")
CARRY_OP(madc_lo_cc, "madc.lo.cc.u32")
CARRY_OP(madc_hi_cc, "madc.hi.cc.u32")
CARRY_OP(madc_hi, "madc.hi.u32")
#undef CARRY_OP
#define CARRY_OP2(name, ptx)                                                                       \
    __device__ __forceinline__ u32 name(u32 a, u32 b) {                                           \
        u32 r;                                                                                     \
        asm volatile(ptx " %0, %1, %2;" : "=r"(r) : "r"(a), "r"(b));                              \
        return r;                                                                                  \
    }
CARRY_OP2(add_cc, "add.cc.u32")
CARRY_OP2(addc_cc, "addc.cc.u32")
CARRY_OP2(addc, "addc.u32")
CARRY_OP2(sub_cc, "sub.cc.u32")
CARRY_OP2(subc_cc, "subc.cc.u32")
CARRY_OP2(subc, "subc.u32")
#undef CARRY_OP2
#else
// The host build: one carry flag, set by the `.cc` forms and read by the `c` forms.
static thread_local u32 carry_flag;
static inline u32 set_carry(u64 sum) {
    carry_flag = (u32)(sum >> 32);
    return (u32)sum;
}
static inline u32 lo(u32 a, u32 b) { return (u32)((u64)a * b); }
static inline u32 hi(u32 a, u32 b) { return (u32)(((u64)a * b) >> 32); }
static inline u32 mad_lo_cc(u32 a, u32 b, u32 c) { return set_carry((u64)lo(a, b) + c); }
static inline u32 madc_lo_cc(u32 a, u32 b, u32 c) { return set_carry((u64)lo(a, b) + c + carry_flag); }
static inline u32 madc_hi_cc(u32 a, u32 b, u32 c) { return set_carry((u64)hi(a, b) + c + carry_flag); }
static inline u32 madc_hi(u32 a, u32 b, u32 c) { return hi(a, b) + c + carry_flag; }
static inline u32 add_cc(u32 a, u32 b) { return set_carry((u64)a + b); }
static inline u32 addc_cc(u32 a, u32 b) { return set_carry((u64)a + b + carry_flag); }
static inline u32 addc(u32 a, u32 b) { return a + b + carry_flag; }
static inline u32 set_borrow(u64 difference) {
    carry_flag = (u32)(difference >> 63);
    return (u32)difference;
}
static inline u32 sub_cc(u32 a, u32 b) { return set_borrow((u64)a - b); }
static inline u32 subc_cc(u32 a, u32 b) { return set_borrow((u64)a - b - carry_flag); }
static inline u32 subc(u32 a, u32 b) { return a - b - carry_flag; }
#endif

// r − m if r ≥ m, else r, where m is p (TWICE = false) or 2p.
template <class P, bool TWICE> __device__ __forceinline__ Field f_reduce_once(const Field &r) {
    Field s;
    s.v[0] = sub_cc(r.v[0], TWICE ? P::p2(0) : P::p(0));
#pragma unroll
    for (int i = 1; i < 8; i++) s.v[i] = subc_cc(r.v[i], TWICE ? P::p2(i) : P::p(i));
    return subc(0, 0) ? r : s;  // the borrow out: r < m
}

// The canonical representative, in [0, p), of a value in [0, 2p).
template <class P> __device__ __forceinline__ Field f_canonical(const Field &a) { return f_reduce_once<P, false>(a); }

template <class P> __device__ __forceinline__ Field f_add(const Field &a, const Field &b) {
    Field r;
    r.v[0] = add_cc(a.v[0], b.v[0]);
#pragma unroll
    for (int i = 1; i < 7; i++) r.v[i] = addc_cc(a.v[i], b.v[i]);
    r.v[7] = addc(a.v[7], b.v[7]);  // a + b < 4p < 2^256: no carry out
    return f_reduce_once<P, true>(r);
}

template <class P> __device__ __forceinline__ Field f_sub(const Field &a, const Field &b) {
    Field r;
    r.v[0] = sub_cc(a.v[0], b.v[0]);
#pragma unroll
    for (int i = 1; i < 8; i++) r.v[i] = subc_cc(a.v[i], b.v[i]);
    u32 wrapped = subc(0, 0);  // all ones where a < b: add 2p back
    r.v[0] = add_cc(r.v[0], P::p2(0) & wrapped);
#pragma unroll
    for (int i = 1; i < 7; i++) r.v[i] = addc_cc(r.v[i], P::p2(i) & wrapped);
    r.v[7] = addc(r.v[7], P::p2(7) & wrapped);
    return r;
}

// −a; 0 stays 0 (no borrow), as the identity's y must.
template <class P> __device__ __forceinline__ Field f_neg(const Field &a) { return f_sub<P>(f_zero<P>(), a); }

// Multiplication: `FIELD_MUL_PTX` picks between two forms of the same CIOS product, a tuning
// knob until both are timed on a GPU (`ZKML_NVRTC_OPTIONS=-DFIELD_MUL_PTX=0`):
// - 1 (default): PTX carry chains (`mad.lo.cc` / `madc.hi.cc`) in two independent chains per
//   row (`f_mul_chains`); ptxas fuses each lo/hi pair into one IMAD.WIDE.U32.X, so a product
//   is 216 SASS instructions on sm_90 with its loads, store and a canonical subtraction
//   (`fr_scale`);
// - 0: C with 64-bit accumulators; every 32 × 32-bit product costs one IMAD.WIDE and about
//   three additions and moves (520 instructions).
#ifndef FIELD_MUL_PTX
#define FIELD_MUL_PTX 1
#endif

template <class P> __device__ __forceinline__ Field f_mul_wide(const Field &a, const Field &b) {
    u32 t[9];
#pragma unroll
    for (int i = 0; i < 9; i++) t[i] = 0;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        // t += a · b[i]
        u64 c = 0;
#pragma unroll
        for (int j = 0; j < 8; j++) {
            c += (u64)t[j] + (u64)a.v[j] * b.v[i];
            t[j] = (u32)c;
            c >>= 32;
        }
        u64 top = (u64)t[8] + c;
        // t = (t + m·p) / 2^32 with m chosen so that the low limb vanishes.
        u32 m = t[0] * P::inv;
        c = ((u64)t[0] + (u64)m * P::p(0)) >> 32;
#pragma unroll
        for (int j = 1; j < 8; j++) {
            c += (u64)t[j] + (u64)m * P::p(j);
            t[j - 1] = (u32)c;
            c >>= 32;
        }
        top += c;
        t[7] = (u32)top;
        t[8] = (u32)(top >> 32);
    }
    Field r;
#pragma unroll
    for (int i = 0; i < 8; i++) r.v[i] = t[i];
    return r;  // below 2p: no final subtraction (see the top of this file)
}

// acc += Σ_k x[off + 2k]·y·2^{64k}: the products of every other limb of x tile the eight words of
// acc in (lo, hi) pairs, so one carry chain adds them all; its carry out stays in the flag.
__device__ __forceinline__ void mad_pairs(u32 acc[8], const Field &x, int off, u32 y) {
#pragma unroll
    for (int k = 0; k < 4; k++) {
        u32 a = x.v[off + 2 * k];
        acc[2 * k] = k == 0 ? mad_lo_cc(a, y, acc[0]) : madc_lo_cc(a, y, acc[2 * k]);
        acc[2 * k + 1] = madc_hi_cc(a, y, acc[2 * k + 1]);
    }
}

// As mad_pairs, adding to acc shifted down two words (acc[k] = acc[k + 2] + products, zeros
// shifted in), with a carry in; the chain's last carry is dropped: its sum is bounded below
// 2^256 by the caller.
__device__ __forceinline__ void mad_pairs_shifted(u32 acc[8], const Field &x, int off, u32 y) {
#pragma unroll
    for (int k = 0; k < 4; k++) {
        u32 a = x.v[off + 2 * k];
        u32 lo = k < 3 ? acc[2 * k + 2] : 0, hi = k < 3 ? acc[2 * k + 3] : 0;
        acc[2 * k] = madc_lo_cc(a, y, lo);
        acc[2 * k + 1] = k < 3 ? madc_hi_cc(a, y, hi) : madc_hi(a, y, hi);
    }
}

// One CIOS row, y·x + m·p, in split form (Emmart and Weems, "Optimizing Modular Multiplication
// for NVIDIA's Maxwell GPUs", ARITH 2016): the running value is T = A + B·2^32, A's words at
// positions 0..7 and B's at 1..8. The even limbs of x multiply into A and the odd ones into B,
// two independent carry chains that the GPU overlaps; then m·p the same way, with m chosen so
// that A's word 0 becomes zero. Dividing by 2^32 swaps the roles: the next row's A is this B
// plus this A's word 1, and its B is this A from word 2 on (`mad_pairs_shifted`).
template <class P, bool FIRST>
__device__ __forceinline__ void mul_row(u32 a[8], u32 b[8], const Field &x, u32 y, const Field &p) {
    if (FIRST) {
#pragma unroll
        for (int k = 0; k < 8; k++) a[k] = b[k] = 0;
        mad_pairs(b, x, 1, y);
        mad_pairs(a, x, 0, y);
    } else {
        // The previous A's word 1 (position 0 now) joins A's word 0; the carry, into position
        // 1, starts B's shifted chain, whose word 0 is position 1.
        a[0] = add_cc(a[0], b[1]);
        mad_pairs_shifted(b, x, 1, y);
        mad_pairs(a, x, 0, y);
        b[7] = addc(b[7], 0);  // A's carry out is position 8, B's word 7
    }
    u32 m = a[0] * P::inv;
    mad_pairs(b, p, 1, m);  // no carry out: B < 2^256, as T < 2^288
    mad_pairs(a, p, 0, m);
    b[7] = addc(b[7], 0);
}

template <class P> __device__ __forceinline__ Field f_mul_chains(const Field &x, const Field &y) {
    Field p;
#pragma unroll
    for (int i = 0; i < 8; i++) p.v[i] = P::p(i);
    u32 e[8], o[8];
    mul_row<P, true>(e, o, x, y.v[0], p);
#pragma unroll
    for (int i = 1; i < 8; i += 2) {
        mul_row<P, false>(o, e, x, y.v[i], p);
        if (i + 1 < 8) mul_row<P, false>(e, o, x, y.v[i + 1], p);
    }
    // The last row's A is `o` (row 7, odd) and B is `e`: T/2^32 = e + (o >> 32).
    Field r;
    r.v[0] = add_cc(e[0], o[1]);
#pragma unroll
    for (int k = 1; k < 7; k++) r.v[k] = addc_cc(e[k], o[k + 1]);
    r.v[7] = addc(e[7], 0);
    return r;  // below 2p: no final subtraction
}

template <class P> __device__ __forceinline__ Field f_mul(const Field &a, const Field &b) {
#if FIELD_MUL_PTX
    return f_mul_chains<P>(a, b);
#else
    return f_mul_wide<P>(a, b);
#endif
}

template <class P> __device__ __forceinline__ Field f_sqr(const Field &a) { return f_mul<P>(a, a); }

template <class P> __device__ __forceinline__ Field f_dbl(const Field &a) { return f_add<P>(a, a); }

// a^e for a small exponent (square and multiply, most significant bit first).
template <class P> __device__ __forceinline__ Field f_pow(const Field &a, u64 e) {
    Field r = f_one<P>();
    if (e == 0) return r;
    for (int bit = 63 - __clzll(e); bit >= 0; bit--) {
        r = f_sqr<P>(r);
        if ((e >> bit) & 1) r = f_mul<P>(r, a);
    }
    return r;
}

// a^{p−2} = a^{-1} for a ≠ 0 (0 for 0), by square and multiply over the bits of p − 2 from
// bit 253 (both moduli are below 2^254): about 254 squarings and 130 multiplications, in a rolled
// loop (it runs once per TABLE_BATCH points of a window table, not in the MSM itself).
template <class P> __device__ Field f_inv(const Field &a) {
    Field r = f_one<P>();
#pragma unroll 1
    for (int bit = 253; bit >= 0; bit--) {
        r = f_sqr<P>(r);
        u32 limb = bit >= 32 ? P::p(bit >> 5) : P::p(0) - 2;  // p(0) ≥ 2: no borrow
        if ((limb >> (bit & 31)) & 1) r = f_mul<P>(r, a);
    }
    return r;
}

__device__ __forceinline__ Field load_field(const u32 *base, u64 index) {
    Field r;
    const uint4 *p = reinterpret_cast<const uint4 *>(base + 8 * index);
    uint4 lo = p[0], hi = p[1];
    r.v[0] = lo.x; r.v[1] = lo.y; r.v[2] = lo.z; r.v[3] = lo.w;
    r.v[4] = hi.x; r.v[5] = hi.y; r.v[6] = hi.z; r.v[7] = hi.w;
    return r;
}

__device__ __forceinline__ void store_field(u32 *base, u64 index, const Field &a) {
    uint4 *p = reinterpret_cast<uint4 *>(base + 8 * index);
    p[0] = make_uint4(a.v[0], a.v[1], a.v[2], a.v[3]);
    p[1] = make_uint4(a.v[4], a.v[5], a.v[6], a.v[7]);
}

// ---------------------------------------------------------------------------------------------
// G1: y^2 = x^3 + 3 over Fq. Inputs are affine (the identity is (0, 0), as in halo2curves);
// sums are kept in XYZZ coordinates (x = X/ZZ, y = Y/ZZZ, ZZ^3 = ZZZ^2), where the identity is
// ZZ = 0. Formulas: "madd-2008-s", "add-2008-s" and "dbl-2008-s-1" of the Explicit-Formulas
// Database (Bernstein–Lange), each with the equal-point and opposite-point cases handled so
// that repeated bases and cancelling digits are exact.

struct Affine { Field x, y; };
struct Xyzz { Field x, y, zz, zzz; };

__device__ __forceinline__ Xyzz xyzz_identity() {
    Xyzz r;
    r.x = f_one<FqParams>();
    r.y = f_one<FqParams>();
    r.zz = f_zero<FqParams>();
    r.zzz = f_zero<FqParams>();
    return r;
}

__device__ __forceinline__ bool xyzz_is_identity(const Xyzz &p) { return f_is_zero(p.zz); }

__device__ __forceinline__ bool affine_is_identity(const Affine &p) { return f_is_zero(p.x) && f_is_zero(p.y); }

__device__ __forceinline__ Affine affine_neg(const Affine &p) {
    Affine r = p;
    r.y = f_neg<FqParams>(p.y);
    return r;
}

__device__ __forceinline__ Xyzz xyzz_from_affine(const Affine &p) {
    if (affine_is_identity(p)) return xyzz_identity();
    Xyzz r;
    r.x = p.x;
    r.y = p.y;
    r.zz = f_one<FqParams>();
    r.zzz = f_one<FqParams>();
    return r;
}

__device__ __forceinline__ Xyzz xyzz_dbl(const Xyzz &p) {
    typedef FqParams Q;
    if (xyzz_is_identity(p)) return p;
    Field u = f_dbl<Q>(p.y);
    Field v = f_sqr<Q>(u);
    Field w = f_mul<Q>(u, v);
    Field s = f_mul<Q>(p.x, v);
    Field x2 = f_sqr<Q>(p.x);
    Field m = f_add<Q>(f_dbl<Q>(x2), x2);
    Xyzz r;
    r.x = f_sub<Q>(f_sqr<Q>(m), f_dbl<Q>(s));
    r.y = f_sub<Q>(f_mul<Q>(m, f_sub<Q>(s, r.x)), f_mul<Q>(w, p.y));
    r.zz = f_mul<Q>(v, p.zz);
    r.zzz = f_mul<Q>(w, p.zzz);
    return r;
}

// p + q for an affine q.
__device__ __forceinline__ Xyzz xyzz_add_affine(const Xyzz &p, const Affine &q) {
    typedef FqParams Q;
    if (affine_is_identity(q)) return p;
    if (xyzz_is_identity(p)) return xyzz_from_affine(q);
    Field u2 = f_mul<Q>(q.x, p.zz);
    Field s2 = f_mul<Q>(q.y, p.zzz);
    Field pp_ = f_sub<Q>(u2, p.x);
    Field r_ = f_sub<Q>(s2, p.y);
    if (f_is_zero_mod<Q>(pp_)) {
        if (f_is_zero_mod<Q>(r_)) return xyzz_dbl(xyzz_from_affine(q));
        return xyzz_identity();
    }
    Field pp = f_sqr<Q>(pp_);
    Field ppp = f_mul<Q>(pp_, pp);
    Field qq = f_mul<Q>(p.x, pp);
    Xyzz r;
    r.x = f_sub<Q>(f_sub<Q>(f_sqr<Q>(r_), ppp), f_dbl<Q>(qq));
    r.y = f_sub<Q>(f_mul<Q>(r_, f_sub<Q>(qq, r.x)), f_mul<Q>(p.y, ppp));
    r.zz = f_mul<Q>(p.zz, pp);
    r.zzz = f_mul<Q>(p.zzz, ppp);
    return r;
}

__device__ __forceinline__ Xyzz xyzz_add(const Xyzz &p, const Xyzz &q) {
    typedef FqParams Q;
    if (xyzz_is_identity(q)) return p;
    if (xyzz_is_identity(p)) return q;
    Field u1 = f_mul<Q>(p.x, q.zz);
    Field u2 = f_mul<Q>(q.x, p.zz);
    Field s1 = f_mul<Q>(p.y, q.zzz);
    Field s2 = f_mul<Q>(q.y, p.zzz);
    Field pp_ = f_sub<Q>(u2, u1);
    Field r_ = f_sub<Q>(s2, s1);
    if (f_is_zero_mod<Q>(pp_)) {
        if (f_is_zero_mod<Q>(r_)) return xyzz_dbl(p);
        return xyzz_identity();
    }
    Field pp = f_sqr<Q>(pp_);
    Field ppp = f_mul<Q>(pp_, pp);
    Field qq = f_mul<Q>(u1, pp);
    Xyzz r;
    r.x = f_sub<Q>(f_sub<Q>(f_sqr<Q>(r_), ppp), f_dbl<Q>(qq));
    r.y = f_sub<Q>(f_mul<Q>(r_, f_sub<Q>(qq, r.x)), f_mul<Q>(s1, ppp));
    r.zz = f_mul<Q>(f_mul<Q>(p.zz, q.zz), pp);
    r.zzz = f_mul<Q>(f_mul<Q>(p.zzz, q.zzz), ppp);
    return r;
}

// Canonical coordinates, for points the host reads.
__device__ __forceinline__ Xyzz xyzz_canonical(const Xyzz &p) {
    typedef FqParams Q;
    Xyzz r;
    r.x = f_canonical<Q>(p.x);
    r.y = f_canonical<Q>(p.y);
    r.zz = f_canonical<Q>(p.zz);
    r.zzz = f_canonical<Q>(p.zzz);
    return r;
}

__device__ __forceinline__ Affine load_affine(const u32 *bases, u64 index) {
    Affine a;
    a.x = load_field(bases, 2 * index);
    a.y = load_field(bases, 2 * index + 1);
    return a;
}

__device__ __forceinline__ void store_affine(u32 *bases, u64 index, const Affine &a) {
    store_field(bases, 2 * index, a.x);
    store_field(bases, 2 * index + 1, a.y);
}

__device__ __forceinline__ Xyzz load_xyzz(const u32 *points, u64 index) {
    Xyzz p;
    p.x = load_field(points, 4 * index);
    p.y = load_field(points, 4 * index + 1);
    p.zz = load_field(points, 4 * index + 2);
    p.zzz = load_field(points, 4 * index + 3);
    return p;
}

__device__ __forceinline__ void store_xyzz(u32 *points, u64 index, const Xyzz &p) {
    store_field(points, 4 * index, p.x);
    store_field(points, 4 * index + 1, p.y);
    store_field(points, 4 * index + 2, p.zz);
    store_field(points, 4 * index + 3, p.zzz);
}
