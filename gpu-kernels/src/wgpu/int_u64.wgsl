// Carry chains with 64-bit integers (wgpu's SHADER_INT64: Vulkan, DX12, Metal): a carry or
// borrow is the high word of a 64-bit sum or difference. int_u32.wgsl is the portable variant.

// (sum, carry) of x + y + c, for a carry c of 0 or 1.
fn add_carry(x: u32, y: u32, c: u32) -> vec2<u32> {
    let r = u64(x) + u64(y) + u64(c);
    return vec2<u32>(u32(r), u32(r >> 32u));
}

// (difference, borrow) of x - y - borrow for a borrow given and returned as a mask (0 or all
// ones): the high word of the 64-bit difference, which the next limb adds sign-extended (one
// 64-bit addition a limb, where a borrow bit would cost a shift more).
fn sub_borrow(x: u32, y: u32, borrow: u32) -> vec2<u32> {
    let r = u64(x) - u64(y) + ((u64(borrow) << 32u) | u64(borrow));
    return vec2<u32>(u32(r), u32(r >> 32u));
}
