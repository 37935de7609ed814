// 32-bit multiply-accumulate with 64-bit integers (wgpu's SHADER_INT64: Vulkan, DX12, Metal):
// the product is one wide multiply, as in the CUDA kernels. mac_u32.wgsl is the portable variant.

// (sum, carry) of x + y*z + c; never overflows 64 bits.
fn mac(x: u32, y: u32, z: u32, c: u32) -> vec2<u32> {
    let r = u64(y) * u64(z) + u64(x) + u64(c);
    return vec2<u32>(u32(r), u32(r >> 32u));
}
