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
    if (fq_is_zero(p_)) {
        if (fq_is_zero(r)) { return xyzz_dbl(xyzz_from_affine(q)); }
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
    if (fq_is_zero(p_)) {
        if (fq_is_zero(r)) { return xyzz_dbl(p); }
        return xyzz_identity();
    }
    let pp = fq_sqr(p_);
    let ppp = fq_mul(p_, pp);
    let qq = fq_mul(u1, pp);
    let x = fq_sub(fq_sub(fq_sqr(r), ppp), fq_dbl(qq));
    let y = fq_sub(fq_mul(r, fq_sub(qq, x)), fq_mul(s1, ppp));
    return Xyzz(x, y, fq_mul(fq_mul(p.zz, q.zz), pp), fq_mul(fq_mul(p.zzz, q.zzz), ppp));
}

// A point as 32 words (x, y, zz, zzz; 8 limbs each) and back, for loads and stores.
fn xyzz_words(p: Xyzz) -> array<u32, 32> {
    var w: array<u32, 32>;
    for (var k = 0u; k < 8u; k++) {
        w[k] = p.x.l[k];
        w[8u + k] = p.y.l[k];
        w[16u + k] = p.zz.l[k];
        w[24u + k] = p.zzz.l[k];
    }
    return w;
}

fn xyzz_from_words(w: array<u32, 32>) -> Xyzz {
    var p: Xyzz;
    for (var k = 0u; k < 8u; k++) {
        p.x.l[k] = w[k];
        p.y.l[k] = w[8u + k];
        p.zz.l[k] = w[16u + k];
        p.zzz.l[k] = w[24u + k];
    }
    return p;
}
