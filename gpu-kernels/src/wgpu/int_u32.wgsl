// 32-bit multiply-accumulate and carry chains for devices without 64-bit integers (WGSL has none
// by default): each 32 x 32-bit product is assembled from four 16 x 16-bit products, and carries
// come from comparisons. int_u64.wgsl is the variant for devices with SHADER_INT64; the host
// includes one of them.

// (lo, hi) of a * b, from four 16 x 16-bit products.
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

// (sum, carry) of x + y + c, for a carry c of 0 or 1.
fn add_carry(x: u32, y: u32, c: u32) -> vec2<u32> {
    let s = x + y;
    let r = s + c;
    return vec2<u32>(r, select(0u, 1u, s < x) | select(0u, 1u, r < c));
}

// (difference, borrow) of x - y - borrow for a borrow given and returned as a mask (0 or all
// ones).
fn sub_borrow(x: u32, y: u32, borrow: u32) -> vec2<u32> {
    let d = x - y;
    let r = d + borrow; // d - 1 when borrowing
    return vec2<u32>(r, 0u - (select(0u, 1u, x < y) | select(0u, 1u, d < (borrow & 1u))));
}
