// BN254 G1: y^2 = x^3 + 3 over Fq (the `Fq` instance of field.wgsl). Inputs are affine (the
// identity is (0, 0), as in halo2curves); sums are kept in XYZZ coordinates (x = X/ZZ,
// y = Y/ZZZ, ZZ^3 = ZZZ^2), where the identity is ZZ = 0. Formulas: "madd-2008-s", "add-2008-s"
// and "dbl-2008-s-1" of the Explicit-Formulas Database (Bernstein-Lange), with the equal-point
// and opposite-point cases handled so that repeated bases and cancelling digits are exact.
// The same formulas as cuda/bn254.cuh.

struct Affine { x: Fq, y: Fq }
struct Xyzz { x: Fq, y: Fq, zz: Fq, zzz: Fq }

fn xyzz_identity() -> Xyzz {
    return Xyzz(fq_one, fq_one, fq_zero(), fq_zero());
}

fn xyzz_is_identity(p: Xyzz) -> bool { return fq_is_zero(p.zz); }

fn affine_is_identity(p: Affine) -> bool { return fq_is_zero(p.x) && fq_is_zero(p.y); }

fn affine_neg(p: Affine) -> Affine { return Affine(p.x, fq_neg(p.y)); }

fn xyzz_from_affine(p: Affine) -> Xyzz {
    if (affine_is_identity(p)) { return xyzz_identity(); }
    return Xyzz(p.x, p.y, fq_one, fq_one);
}

fn xyzz_dbl(p: Xyzz) -> Xyzz {
    if (xyzz_is_identity(p)) { return p; }
    let u = fq_dbl(p.y);
    let v = fq_sqr(u);
    let w = fq_mul(u, v);
    let s = fq_mul(p.x, v);
    let x2 = fq_sqr(p.x);
    let m = fq_add(fq_dbl(x2), x2);
    let x = fq_sub(fq_sqr(m), fq_dbl(s));
    let y = fq_sub(fq_mul(m, fq_sub(s, x)), fq_mul(w, p.y));
    return Xyzz(x, y, fq_mul(v, p.zz), fq_mul(w, p.zzz));
}

// p + q for an affine q.
fn xyzz_add_affine(p: Xyzz, q: Affine) -> Xyzz {
    if (affine_is_identity(q)) { return p; }
    if (xyzz_is_identity(p)) { return xyzz_from_affine(q); }
    let u2 = fq_mul(q.x, p.zz);
    let s2 = fq_mul(q.y, p.zzz);
    let p_ = fq_sub(u2, p.x);
    let r = fq_sub(s2, p.y);
    if (fq_is_zero_mod(p_)) {
        if (fq_is_zero_mod(r)) { return xyzz_dbl(xyzz_from_affine(q)); }
        return xyzz_identity();
    }
    let pp = fq_sqr(p_);
    let ppp = fq_mul(p_, pp);
    let qq = fq_mul(p.x, pp);
    let x = fq_sub(fq_sub(fq_sqr(r), ppp), fq_dbl(qq));
    let y = fq_sub(fq_mul(r, fq_sub(qq, x)), fq_mul(p.y, ppp));
    return Xyzz(x, y, fq_mul(p.zz, pp), fq_mul(p.zzz, ppp));
}

fn xyzz_add(p: Xyzz, q: Xyzz) -> Xyzz {
    if (xyzz_is_identity(q)) { return p; }
    if (xyzz_is_identity(p)) { return q; }
    let u1 = fq_mul(p.x, q.zz);
    let u2 = fq_mul(q.x, p.zz);
    let s1 = fq_mul(p.y, q.zzz);
    let s2 = fq_mul(q.y, p.zzz);
    let p_ = fq_sub(u2, u1);
    let r = fq_sub(s2, s1);
    if (fq_is_zero_mod(p_)) {
        if (fq_is_zero_mod(r)) { return xyzz_dbl(p); }
        return xyzz_identity();
    }
    let pp = fq_sqr(p_);
    let ppp = fq_mul(p_, pp);
    let qq = fq_mul(u1, pp);
    let x = fq_sub(fq_sub(fq_sqr(r), ppp), fq_dbl(qq));
    let y = fq_sub(fq_mul(r, fq_sub(qq, x)), fq_mul(s1, ppp));
    return Xyzz(x, y, fq_mul(fq_mul(p.zz, q.zz), pp), fq_mul(fq_mul(p.zzz, q.zzz), ppp));
}

// Canonical coordinates, for points the host reads.
fn xyzz_canonical(p: Xyzz) -> Xyzz {
    return Xyzz(fq_canonical(p.x), fq_canonical(p.y), fq_canonical(p.zz), fq_canonical(p.zzz));
}

// A point as storage holds it, eight 16-byte words (x, y, zz, zzz; two each), and back.
fn xyzz_quads(p: Xyzz) -> array<vec4<u32>, 8> {
    return array<vec4<u32>, 8>(fq_low_half(p.x), fq_high_half(p.x), fq_low_half(p.y), fq_high_half(p.y),
                               fq_low_half(p.zz), fq_high_half(p.zz), fq_low_half(p.zzz), fq_high_half(p.zzz));
}

fn xyzz_from_quads(w: array<vec4<u32>, 8>) -> Xyzz {
    return Xyzz(fq_from_halves(w[0], w[1]), fq_from_halves(w[2], w[3]), fq_from_halves(w[4], w[5]), fq_from_halves(w[6], w[7]));
}
