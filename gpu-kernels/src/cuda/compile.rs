//! NVRTC compilation of the kernels, once per machine: the CUBIN is cached on disk under a key
//! made of the kernel source, the device's architecture and the driver and NVRTC versions, so
//! later runs load it in milliseconds.

use std::collections::hash_map::DefaultHasher;
use std::ffi::CString;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use cudarc::nvrtc::{result as nvrtc, sys as nvrtc_sys};
use halo2curves::bn256::{Fq, Fr};

use crate::layout::{montgomery_constants, MontgomeryConstants};
use crate::pippenger::CHUNK;
use crate::Error;

const BN254: &str = include_str!("bn254.cuh");
const NTT: &str = include_str!("ntt.cu");
const MSM: &str = include_str!("msm.cu");

/// Environment variable naming the directory of compiled kernels (default: the user's cache
/// directory, `$XDG_CACHE_HOME/zkml` or `~/.cache/zkml`).
pub const CACHE_DIR_ENV: &str = "ZKML_CACHE_DIR";

/// Environment variable with extra NVRTC options (space-separated, e.g. `-DNAME=VALUE` for the
/// kernels' tuning macros); they are part of the cache key.
pub const NVRTC_OPTIONS_ENV: &str = "ZKML_NVRTC_OPTIONS";

/// The whole CUDA source: the arithmetic, then `CHUNK` and the kernels.
pub fn source() -> String {
    let mut out = arithmetic_source();
    out += &format!("#define CHUNK {CHUNK}\n");
    for part in [NTT, MSM] {
        out += part;
        out.push('\n');
    }
    out
}

/// The field constants and `bn254.cuh`: the part of the source that also compiles for the host
/// (the arithmetic tests build it with the system's C++ compiler).
fn arithmetic_source() -> String {
    let mut out = String::from("typedef unsigned int u32;\ntypedef unsigned long long u64;\n");
    out += &field_constants("fr", &montgomery_constants::<Fr>());
    out += &field_constants("fq", &montgomery_constants::<Fq>());
    out += BN254;
    out.push('\n');
    out
}

/// `<name>_p(i)`, `<name>_one(i)` (R mod p) and `<NAME>_INV` (−p⁻¹ mod 2^32).
fn field_constants(name: &str, k: &MontgomeryConstants) -> String {
    let switch = |fn_name: String, limbs: &[u32; 8]| {
        let cases: String = limbs[..7].iter().enumerate().map(|(i, l)| format!(" case {i}: return {l:#010x}u;")).collect();
        format!(
            "__device__ __forceinline__ u32 {fn_name}(int i) {{ switch (i) {{{cases} default: return {:#010x}u; }} }}\n",
            limbs[7]
        )
    };
    format!(
        "{}{}#define {}_INV {:#010x}u\n",
        switch(format!("{name}_p"), &k.modulus),
        switch(format!("{name}_one"), &k.one),
        name.to_uppercase(),
        k.inv
    )
}

fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV) {
        return Some(dir.into());
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return Some(PathBuf::from(dir).join("zkml"));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("zkml"))
}

/// A compiled module and whether it came from the cache.
pub struct Compiled {
    /// CUBIN for the device's architecture.
    pub cubin: Vec<u8>,
    /// True when read from the on-disk cache.
    pub cached: bool,
}

/// The CUBIN of [`source`] for `sm_<major><minor>`, from the cache or freshly compiled (and then
/// cached; a cache that cannot be written only costs the next run a compilation).
pub fn cubin(arch: (i32, i32), driver_version: i32) -> Result<Compiled, Error> {
    let src = source();
    let extra: Vec<String> = std::env::var(NVRTC_OPTIONS_ENV).unwrap_or_default().split_whitespace().map(String::from).collect();
    let (mut major, mut minor) = (0, 0);
    unsafe { nvrtc_sys::nvrtcVersion(&mut major, &mut minor) }
        .result()
        .map_err(|e| Error::Device(format!("nvrtcVersion: {e:?}")))?;
    let mut hasher = DefaultHasher::new();
    (&src, &extra, arch, driver_version, major, minor).hash(&mut hasher);
    let key = format!("bn254-sm{}{}-{:016x}.cubin", arch.0, arch.1, hasher.finish());
    let path = cache_dir().map(|dir| dir.join(&key));
    if let Some(cubin) = path.as_ref().and_then(|p| std::fs::read(p).ok()) {
        return Ok(Compiled { cubin, cached: true });
    }
    let (cubin, _log) = compile(&src, arch, &extra)?;
    if let Some(path) = path {
        // Temp file then rename: a concurrent reader never sees half a module.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = path.parent().map(std::fs::create_dir_all).transpose().is_ok()
            && std::fs::write(&tmp, &cubin).is_ok()
            && std::fs::rename(&tmp, &path).is_ok();
        if !written {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok(Compiled { cubin, cached: false })
}

/// The CUBIN of `src` for `sm_<major><minor>`, and NVRTC's log (warnings; with
/// `--ptxas-options=-v`, each kernel's registers, spills and shared memory).
fn compile(src: &str, arch: (i32, i32), extra: &[String]) -> Result<(Vec<u8>, String), Error> {
    let source = CString::new(src).map_err(|_| Error::Device("kernel source holds a NUL byte".into()))?;
    let name = CString::new("bn254.cu").unwrap();
    let program = nvrtc::create_program(&source, Some(&name)).map_err(|e| Error::Device(format!("nvrtc: {e:?}")))?;
    let mut options = vec![format!("--gpu-architecture=sm_{}{}", arch.0, arch.1), "--std=c++17".into(), "-default-device".into()];
    options.extend_from_slice(extra);
    let outcome = (|| {
        let compiled = unsafe { nvrtc::compile_program(program, &options) };
        let log = unsafe { nvrtc::get_program_log(program) }
            .map(|log| log.iter().take_while(|&&c| c != 0).map(|&c| c as u8 as char).collect::<String>())
            .unwrap_or_default();
        if let Err(e) = compiled {
            return Err(Error::Device(format!("NVRTC could not compile the kernels ({e:?}): {log}")));
        }
        let mut size = 0usize;
        unsafe { nvrtc_sys::nvrtcGetCUBINSize(program, &mut size) }
            .result()
            .map_err(|e| Error::Device(format!("nvrtcGetCUBINSize: {e:?}")))?;
        let mut cubin = vec![0u8; size];
        unsafe { nvrtc_sys::nvrtcGetCUBIN(program, cubin.as_mut_ptr().cast()) }
            .result()
            .map_err(|e| Error::Device(format!("nvrtcGetCUBIN: {e:?}")))?;
        Ok((cubin, log))
    })();
    let _ = unsafe { nvrtc::destroy_program(program) };
    outcome
}

#[cfg(test)]
mod tests {
    use halo2curves::bn256::{Fq, Fr};
    use halo2curves::ff::Field;
    use halo2curves::serde::SerdeObject;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// What a host build of `bn254.cuh` needs of CUDA: the qualifiers, `uint4` and `__clzll`.
    const HOST_PRELUDE: &str = "#include <cstdio>\n#define __device__\n#define __forceinline__ inline\n\
        struct uint4 { unsigned x, y, z, w; };\n\
        static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }\n\
        static inline int __clzll(unsigned long long x) { return __builtin_clzll(x); }\n";

    /// Reads lines `f a0..a7 b0..b7` (f: `r` or `q`, Montgomery words in hex) and prints
    /// `a·b, a + b, a − b, a²` as 32 hex words.
    const HOST_DRIVER: &str = r#"
template <class P> static void run(const Field &a, const Field &b) {
    Field out[4] = {f_mul<P>(a, b), f_add<P>(a, b), f_sub<P>(a, b), f_sqr<P>(a)};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 8; i++) printf("%x ", out[k].v[i]);
    printf("\n");
}
int main() {
    char f;
    Field a, b;
    while (scanf(" %c", &f) == 1) {
        for (int i = 0; i < 8; i++) if (scanf("%x", &a.v[i]) != 1) return 1;
        for (int i = 0; i < 8; i++) if (scanf("%x", &b.v[i]) != 1) return 1;
        if (f == 'q') run<FqParams>(a, b); else run<FrParams>(a, b);
    }
    return 0;
}
"#;

    fn raw_words<F: SerdeObject>(x: &F) -> Vec<u32> {
        x.to_raw_bytes().chunks(4).map(|w| u32::from_le_bytes(w.try_into().unwrap())).collect()
    }

    /// `a·b, a + b, a − b, a²` in both fields as halo2curves computes them, with the line of
    /// input the host driver reads.
    fn cases<F: Field + SerdeObject>(tag: char, rng: &mut ChaCha20Rng, input: &mut String, expected: &mut Vec<Vec<u32>>) {
        let edges = [F::ZERO, F::ONE, -F::ONE, -F::ONE.double()];
        let mut values: Vec<F> = edges.to_vec();
        values.extend((0..60).map(|_| F::random(&mut *rng)));
        for (i, &a) in values.iter().enumerate() {
            for &b in [values[(i * 7 + 3) % values.len()], -F::ONE, F::random(&mut *rng)].iter() {
                input.push(tag);
                for w in raw_words(&a).into_iter().chain(raw_words(&b)) {
                    input.push_str(&format!(" {w:x}"));
                }
                input.push('\n');
                expected.push([a * b, a + b, a - b, a.square()].iter().flat_map(raw_words).collect());
            }
        }
    }

    /// The field arithmetic of `bn254.cuh`, built for the host by the system's C++ compiler
    /// (`$CXX`, else `c++`) in both multiplication forms (`FIELD_MUL_PTX` 0 and 1; the PTX carry
    /// operations are emulated on the host), against halo2curves on fresh random inputs and the
    /// edge cases 0, 1, p − 1, p − 2. This checks the CUDA arithmetic where no GPU is; a GPU then
    /// checks the compiled kernels (`backend::tests`). Without a C++ compiler it says why it
    /// skipped, unless `ZKML_REQUIRE_CXX` is set (CI sets it).
    #[test]
    fn cuda_field_arithmetic_on_the_host() {
        use std::io::Write;
        use std::process::{Command, Stdio};
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
        if Command::new(&cxx).arg("--version").output().is_err() {
            assert!(std::env::var_os("ZKML_REQUIRE_CXX").is_none(), "ZKML_REQUIRE_CXX is set but there is no C++ compiler ({cxx})");
            eprintln!("skipping: no C++ compiler ({cxx})");
            return;
        }
        let mut rng = ChaCha20Rng::from_entropy();
        let (mut input, mut expected) = (String::new(), Vec::new());
        cases::<Fr>('r', &mut rng, &mut input, &mut expected);
        cases::<Fq>('q', &mut rng, &mut input, &mut expected);
        let dir = std::env::temp_dir().join(format!("zkml-cuda-host-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("arith.cpp");
        std::fs::write(&src, format!("{HOST_PRELUDE}{}{HOST_DRIVER}", super::arithmetic_source())).unwrap();
        for form in [0, 1] {
            let exe = dir.join(format!("arith{form}"));
            let built = Command::new(&cxx)
                .args(["-std=c++17", "-O1", &format!("-DFIELD_MUL_PTX={form}"), "-o"])
                .arg(&exe)
                .arg(&src)
                .output()
                .unwrap();
            assert!(built.status.success(), "{cxx} failed: {}", String::from_utf8_lossy(&built.stderr));
            let mut child = Command::new(&exe).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "the host driver failed");
            let lines: Vec<Vec<u32>> = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(|l| l.split_whitespace().map(|w| u32::from_str_radix(w, 16).unwrap()).collect())
                .collect();
            assert_eq!(lines.len(), expected.len(), "FIELD_MUL_PTX={form}: one output line per case");
            for (i, (got, want)) in lines.iter().zip(&expected).enumerate() {
                assert_eq!(got, want, "FIELD_MUL_PTX={form}, case {i} (input line: {})", input.lines().nth(i).unwrap());
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The kernels compile to a Hopper CUBIN on any machine with NVRTC (pip's
    /// `nvidia-cuda-nvrtc-cu12` is enough; no GPU or driver needed), so a change to the CUDA
    /// sources is checked where no GPU is (about 35 s, most of it in the assembler). It prints
    /// each kernel's registers and spills (`-- --nocapture`), which set its occupancy; extra
    /// options come from `ZKML_NVRTC_OPTIONS` as on a device, and `ZKML_CUBIN_OUT` names a file
    /// to keep the CUBIN in (`scripts/sass-stats.sh` disassembles it). Without NVRTC the test
    /// says why it skipped, unless `ZKML_REQUIRE_NVRTC` is set (CI sets it).
    #[test]
    fn kernels_compile_with_nvrtc() {
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            assert!(std::env::var_os("ZKML_REQUIRE_NVRTC").is_none(), "ZKML_REQUIRE_NVRTC is set but libnvrtc cannot be loaded");
            eprintln!("skipping: no NVRTC library (libnvrtc) on this machine");
            return;
        }
        let mut options: Vec<String> = std::env::var(super::NVRTC_OPTIONS_ENV).unwrap_or_default().split_whitespace().map(String::from).collect();
        options.push("--ptxas-options=-v".into());
        let (cubin, log) = super::compile(&super::source(), (9, 0), &options).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&cubin[..4], b"\x7fELF", "a CUBIN is an ELF image");
        if let Some(path) = std::env::var_os("ZKML_CUBIN_OUT") {
            std::fs::write(path, &cubin).unwrap();
        }
        eprintln!("{log}");
    }
}
