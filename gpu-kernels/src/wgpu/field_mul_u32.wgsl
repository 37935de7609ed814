// The Montgomery product a * b / R mod p of field.wgsl (same template), for devices without
// 64-bit integers: CIOS on the 32-bit limbs, each limb product from `mac` (int_u32.wgsl).
// field_mul_u64.wgsl is the variant for devices with SHADER_INT64; the host appends one of them
// to field.wgsl. Every loop here has literal bounds, so the host unrolls them (wgpu/unroll.rs)
// and every limb index is a constant. The running value t stays below a + p < 3p < 2^256 after
// each row (a < 2p), so t + a * b[i] and t + m * p fit nine limbs and the row's result, t
// divided by 2^32, fits eight: the ninth limb (`top`) plus the last carry is its top limb, with
// no tenth limb and no carry out.
fn field_mul(a: FIELD, b: FIELD) -> FIELD {
    var t: array<u32, 8>;
    for (var i = 0u; i < 8u; i++) {
        var c = 0u;
        for (var j = 0u; j < 8u; j++) {
            let r = mac(t[j], a.l[j], b.l[i], c);
            t[j] = r.x; c = r.y;
        }
        let top = c;
        let m = t[0] * field_inv;
        var r = mac(t[0], m, field_modulus.l[0], 0u);
        c = r.y;
        for (var j = 1u; j < 8u; j++) {
            r = mac(t[j], m, field_modulus.l[j], c);
            t[j - 1u] = r.x; c = r.y;
        }
        t[7] = top + c;
    }
    var out: FIELD;
    for (var i = 0u; i < 8u; i++) { out.l[i] = t[i]; }
    return out; // below 2p (field.wgsl): no final subtraction
}
