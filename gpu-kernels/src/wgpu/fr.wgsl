// BN254 scalar field (Fr) arithmetic in WGSL: 8 little-endian 32-bit limbs, Montgomery form
// with R = 2^256. WGSL has no 64-bit integers, so 32x32-bit products are built from 16-bit
// halves (`mul_wide`). The constants P and P_INV (= -p^-1 mod 2^32) are prepended by the host,
// computed from halo2curves' modulus, so they cannot drift.

struct Fr { l: array<u32, 8> }

// (lo, hi) of a * b.
fn mul_wide(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu; let a1 = a >> 16u;
    let b0 = b & 0xffffu; let b1 = b >> 16u;
    let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
    let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    return vec2<u32>((p00 & 0xffffu) | (mid << 16u), p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}

// (sum, carry) of x + y*z + c; never overflows 64 bits.
fn mac(x: u32, y: u32, z: u32, c: u32) -> vec2<u32> {
    let w = mul_wide(y, z);
    let s1 = w.x + x;
    let c1 = select(0u, 1u, s1 < x);
    let s2 = s1 + c;
    let c2 = select(0u, 1u, s2 < c);
    return vec2<u32>(s2, w.y + c1 + c2);
}

// a >= b as 256-bit integers.
fn geq(a: Fr, b: Fr) -> bool {
    for (var i = 7; i >= 0; i--) {
        if (a.l[i] != b.l[i]) { return a.l[i] > b.l[i]; }
    }
    return true;
}

// a - b modulo 2^256.
fn sub_raw(a: Fr, b: Fr) -> Fr {
    var r: Fr;
    var borrow = 0u;
    for (var i = 0; i < 8; i++) {
        let d = a.l[i] - b.l[i];
        let b1 = select(0u, 1u, a.l[i] < b.l[i]);
        r.l[i] = d - borrow;
        let b2 = select(0u, 1u, d < borrow);
        borrow = b1 | b2;
    }
    return r;
}

// a + b as 256-bit integers (callers keep the sum below 2^256).
fn add_raw(a: Fr, b: Fr) -> Fr {
    var r: Fr;
    var carry = 0u;
    for (var i = 0; i < 8; i++) {
        let s = a.l[i] + b.l[i];
        let c1 = select(0u, 1u, s < a.l[i]);
        r.l[i] = s + carry;
        let c2 = select(0u, 1u, r.l[i] < carry);
        carry = c1 | c2;
    }
    return r;
}

// a, b < p < 2^254, so the sum never carries out of 256 bits.
fn fr_add(a: Fr, b: Fr) -> Fr {
    let r = add_raw(a, b);
    if (geq(r, P)) { return sub_raw(r, P); }
    return r;
}

fn fr_sub(a: Fr, b: Fr) -> Fr {
    let r = sub_raw(a, b);
    if (geq(a, b)) { return r; }
    return add_raw(r, P);
}

// Montgomery product a * b / R mod p (CIOS).
fn fr_mul(a: Fr, b: Fr) -> Fr {
    var t: array<u32, 10>;
    for (var i = 0; i < 8; i++) {
        var c = 0u;
        for (var j = 0; j < 8; j++) {
            let r = mac(t[j], a.l[j], b.l[i], c);
            t[j] = r.x; c = r.y;
        }
        let s = t[8] + c;
        t[9] = select(0u, 1u, s < c);
        t[8] = s;
        let m = t[0] * P_INV;
        var r = mac(t[0], m, P.l[0], 0u);
        c = r.y;
        for (var j = 1; j < 8; j++) {
            r = mac(t[j], m, P.l[j], c);
            t[j - 1] = r.x; c = r.y;
        }
        let s2 = t[8] + c;
        t[7] = s2;
        t[8] = t[9] + select(0u, 1u, s2 < c);
    }
    var out: Fr;
    for (var i = 0; i < 8; i++) { out.l[i] = t[i]; }
    if (geq(out, P)) { out = sub_raw(out, P); }
    return out;
}
