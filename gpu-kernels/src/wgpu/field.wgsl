// Prime-field arithmetic on 8 little-endian 32-bit limbs in Montgomery form (R = 2^256), for
// moduli below 2^254 (BN254's Fr and Fq). This file is a template: the host instantiates it
// once per field, replacing FIELD by the type name and `field_` by its prefix (`Fr`/`fr_`,
// `Fq`/`fq_`), after the constants `field_modulus`, `field_modulus2` (2p), `field_inv`
// (-p^-1 mod 2^32) and `field_one` (R mod p), which it derives from halo2curves so that they
// cannot drift. The Montgomery product (`field_mul`) comes from field_mul_u64.wgsl or
// field_mul_u32.wgsl, which the host appends to this template, and the carry chains from
// int_u64.wgsl or int_u32.wgsl.
//
// Values are reduced lazily, as in cuda/bn254.cuh (whose header gives the bounds): any
// representative in [0, 2p) (`field_modulus2` is 2p), canonical (`field_canonical`) only where
// the host reads them. The product of two such values is below 2p without a final subtraction;
// a sum loses 2p at most once, a difference that borrows gains 2p; a zero test is for 0 or p
// (`field_is_zero_mod`), except for the identity's exact zeros.

struct FIELD { l: array<u32, 8> }

// a - b modulo 2^256, and its borrow as a mask: all ones where a < b, else 0.
struct FIELDDiff { v: FIELD, borrow: u32 }

fn field_sub_raw(a: FIELD, b: FIELD) -> FIELDDiff {
    var r: FIELD;
    var borrow = 0u;
    for (var i = 0u; i < 8u; i++) {
        let d = sub_borrow(a.l[i], b.l[i], borrow);
        r.l[i] = d.x; borrow = d.y;
    }
    return FIELDDiff(r, borrow);
}

// a, unless a >= m, then a - m.
fn field_reduce_once(a: FIELD, m: FIELD) -> FIELD {
    let d = field_sub_raw(a, m);
    var r: FIELD;
    for (var i = 0u; i < 8u; i++) { r.l[i] = select(d.v.l[i], a.l[i], d.borrow != 0u); }
    return r;
}

// The canonical representative, in [0, p), of a value in [0, 2p).
fn field_canonical(a: FIELD) -> FIELD {
    return field_reduce_once(a, field_modulus);
}

// a + b modulo 2^256 (the carry out of the top limb is dropped).
fn field_add_raw(a: FIELD, b: FIELD) -> FIELD {
    var r: FIELD;
    var carry = 0u;
    for (var i = 0u; i < 8u; i++) {
        let s = add_carry(a.l[i], b.l[i], carry);
        r.l[i] = s.x; carry = s.y;
    }
    return r;
}

// Storage arrays hold elements as two vec4<u32> (limbs 0-3, then 4-7), so that a thread reads and
// writes 16 bytes at a time instead of 4.
fn field_from_halves(lo: vec4<u32>, hi: vec4<u32>) -> FIELD {
    return FIELD(array<u32, 8>(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w));
}

fn field_low_half(a: FIELD) -> vec4<u32> {
    return vec4<u32>(a.l[0], a.l[1], a.l[2], a.l[3]);
}

fn field_high_half(a: FIELD) -> vec4<u32> {
    return vec4<u32>(a.l[4], a.l[5], a.l[6], a.l[7]);
}

// Whether all limbs are zero: the exact zeros that encode the identity.
fn field_is_zero(a: FIELD) -> bool {
    var any = 0u;
    for (var i = 0u; i < 8u; i++) { any |= a.l[i]; }
    return any == 0u;
}

// Whether a value in [0, 2p) is 0 mod p: 0 or p.
fn field_is_zero_mod(a: FIELD) -> bool {
    var zero = 0u;
    var p = 0u;
    for (var i = 0u; i < 8u; i++) {
        zero |= a.l[i];
        p |= a.l[i] ^ field_modulus.l[i];
    }
    return zero == 0u || p == 0u;
}

fn field_zero() -> FIELD {
    var r: FIELD;
    for (var i = 0u; i < 8u; i++) { r.l[i] = 0u; }
    return r;
}

// a, b < 2p < 2^255, so the sum never carries out of 256 bits.
fn field_add(a: FIELD, b: FIELD) -> FIELD {
    return field_reduce_once(field_add_raw(a, b), field_modulus2);
}

fn field_dbl(a: FIELD) -> FIELD {
    return field_add(a, a);
}

// a - b, adding 2p back where it borrowed: a mask, not a branch, so that a warp's threads stay
// on one path.
fn field_sub(a: FIELD, b: FIELD) -> FIELD {
    let d = field_sub_raw(a, b);
    var p: FIELD;
    for (var i = 0u; i < 8u; i++) { p.l[i] = field_modulus2.l[i] & d.borrow; }
    return field_add_raw(d.v, p);
}

// -a; 0 stays 0 (no borrow), as the identity's y must.
fn field_neg(a: FIELD) -> FIELD {
    return field_sub(field_zero(), a);
}

fn field_sqr(a: FIELD) -> FIELD {
    return field_mul(a, a);
}

// a^(p-2) = 1/a for a != 0 (0 for 0): square and multiply over the bits of p - 2 from bit 253
// (the moduli are below 2^254), in a loop the host leaves rolled: it runs once per TABLE_BATCH
// points of a window table, not in the MSM itself.
fn field_invert(a: FIELD) -> FIELD {
    var e = field_modulus;
    e.l[0] -= 2u; // p is odd and its low limb above 2: no borrow
    var r = field_one;
    var bit = 254u;
    while (bit > 0u) {
        bit -= 1u;
        r = field_mul(r, r);
        if (((e.l[bit >> 5u] >> (bit & 31u)) & 1u) != 0u) { r = field_mul(r, a); }
    }
    return r;
}
