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
use crate::backend::{BIT_REVERSE_TILE_BITS, NTT_TILE_LOG, NTT_TILE_THREADS};
use crate::pippenger::{CHUNK, SCAN_ITEMS, SCAN_THREADS, TABLE_BATCH};
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

/// The whole CUDA source: the field constants and the host's sizes (`CHUNK`, the NTT tile), then
/// the arithmetic and the kernels.
pub fn source() -> String {
    let mut out = String::from("typedef unsigned int u32;\ntypedef unsigned long long u64;\n");
    out += &field_constants("fr", &montgomery_constants::<Fr>());
    out += &field_constants("fq", &montgomery_constants::<Fq>());
    out += &format!(
        "#define CHUNK {CHUNK}\n#define TABLE_BATCH {TABLE_BATCH}\n#define SCAN_THREADS {SCAN_THREADS}\n#define SCAN_ITEMS {SCAN_ITEMS}\n#define NTT_TILE_LOG {NTT_TILE_LOG}\n#define NTT_TILE_THREADS {NTT_TILE_THREADS}\n#define BITREV_Q {BIT_REVERSE_TILE_BITS}\n"
    );
    for part in [BN254, NTT, MSM] {
        out += part;
        out.push('\n');
    }
    out
}

/// `<name>_p(i)`, `<name>_p2(i)` (2p), `<name>_one(i)` (R mod p) and `<NAME>_INV` (−p⁻¹ mod 2^32).
fn field_constants(name: &str, k: &MontgomeryConstants) -> String {
    let switch = |fn_name: String, limbs: &[u32; 8]| {
        let cases: String = limbs[..7].iter().enumerate().map(|(i, l)| format!(" case {i}: return {l:#010x}u;")).collect();
        format!(
            "__device__ __forceinline__ u32 {fn_name}(int i) {{ switch (i) {{{cases} default: return {:#010x}u; }} }}\n",
            limbs[7]
        )
    };
    format!(
        "{}{}{}#define {}_INV {:#010x}u\n",
        switch(format!("{name}_p"), &k.modulus),
        switch(format!("{name}_p2"), &k.twice_modulus),
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
