// The Montgomery product a * b / R mod p of field.wgsl (same template), for devices with 64-bit
// integers: CIOS over nine limbs of 29 bits held in u64 accumulators. A limb product is below
// 2^58, so a limb adds the products of all nine rows (each a·b[i] and m·p, under 2^59 per row)
// without ever carrying: every product is one wide multiply-add and carries move once a row
// (the limb shifted out) and once at the end, where 32-bit limbs carry at every product. Rows 0
// to 7 divide by 2^29 and row 8, whose limb of b has 24 bits, by 2^24: R = 2^256 as in the
// 32-bit form, so values keep halo2curves' Montgomery form. Written the same way in CUDA C,
// ptxas (sm_90) makes it 440 SASS instructions with its loads and store (181 IMAD), against 512
// (215 IMAD) for the 32-bit CIOS with 64-bit multiply-accumulates; on lavapipe a 2^16 MSM took
// 271 ms against 356 (see README.md). field_mul_u32.wgsl is the portable variant; the host
// appends one of them.

// The 29-bit limbs of a (a < 2^256: the ninth has 24 bits).
fn field_limbs29(a: FIELD) -> array<u32, 9> {
    let m = 0x1fffffffu;
    return array<u32, 9>(
        a.l[0] & m,
        ((a.l[0] >> 29u) | (a.l[1] << 3u)) & m,
        ((a.l[1] >> 26u) | (a.l[2] << 6u)) & m,
        ((a.l[2] >> 23u) | (a.l[3] << 9u)) & m,
        ((a.l[3] >> 20u) | (a.l[4] << 12u)) & m,
        ((a.l[4] >> 17u) | (a.l[5] << 15u)) & m,
        ((a.l[5] >> 14u) | (a.l[6] << 18u)) & m,
        ((a.l[6] >> 11u) | (a.l[7] << 21u)) & m,
        a.l[7] >> 8u);
}

fn field_mul(a: FIELD, b: FIELD) -> FIELD {
    let x = field_limbs29(a);
    let y = field_limbs29(b);
    let p = field_limbs29(field_modulus); // constants once the compiler folds them
    var t: array<u64, 9>;
    for (var i = 0u; i < 9u; i++) {
        for (var j = 0u; j < 9u; j++) { t[j] += u64(x[j]) * u64(y[i]); }
        // m makes t divisible by 2^29 (2^24 in the last row): field_inv is -1/p mod 2^32.
        let m = (u32(t[0]) * field_inv) & select(0x1fffffffu, 0xffffffu, i == 8u);
        for (var j = 0u; j < 9u; j++) { t[j] += u64(m) * u64(p[j]); }
        if (i < 8u) {
            let carry = t[0] >> 29u;
            for (var j = 0u; j < 8u; j++) { t[j] = t[j + 1u]; }
            t[8] = u64(0u);
            t[0] += carry;
        }
    }
    // The limbs to 29 bits each (the ninth keeps the rest: the value is below 2p · 2^24), then
    // the value from bit 24 on as eight 32-bit limbs.
    for (var j = 0u; j < 8u; j++) {
        t[j + 1u] += t[j] >> 29u;
        t[j] &= u64(0x1fffffffu);
    }
    var out: FIELD;
    out.l[0] = (u32(t[0]) >> 24u) | (u32(t[1]) << 5u);
    out.l[1] = (u32(t[1]) >> 27u) | (u32(t[2]) << 2u) | (u32(t[3]) << 31u);
    out.l[2] = (u32(t[3]) >> 1u) | (u32(t[4]) << 28u);
    out.l[3] = (u32(t[4]) >> 4u) | (u32(t[5]) << 25u);
    out.l[4] = (u32(t[5]) >> 7u) | (u32(t[6]) << 22u);
    out.l[5] = (u32(t[6]) >> 10u) | (u32(t[7]) << 19u);
    out.l[6] = (u32(t[7]) >> 13u) | (u32(t[8]) << 16u);
    out.l[7] = u32(t[8] >> 16u);
    return out; // below 2p (field.wgsl): no final subtraction
}
