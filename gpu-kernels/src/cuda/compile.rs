//! NVRTC compilation of the kernels, once per machine: the module is cached on disk under a key
//! made of the kernel source, the device's architecture and the driver and NVRTC versions, so
//! later runs load it in milliseconds.
//!
//! The module is a CUBIN for the device's own architecture where NVRTC knows it. A device newer
//! than the NVRTC at hand (a Blackwell card with CUDA 12.4's NVRTC) gets PTX for the newest
//! architecture that NVRTC knows below it, which the driver compiles for the device when it
//! loads the module (PTX runs on every later architecture); a device older than any it knows
//! (a Volta card with CUDA 13's NVRTC, which starts at sm_75) is an error that says so.

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

/// What NVRTC makes for a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Machine code for the device's own architecture, `sm_<XY>` (compute capability X.Y).
    Cubin(u32),
    /// PTX for the virtual architecture `compute_<XY>`, older than the device's: the driver
    /// compiles it for the device when the module is loaded.
    Ptx(u32),
}

impl Target {
    fn option(self) -> String {
        match self {
            Target::Cubin(arch) => format!("--gpu-architecture=sm_{arch}"),
            Target::Ptx(arch) => format!("--gpu-architecture=compute_{arch}"),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Cubin(arch) => write!(f, "sm_{arch}"),
            Target::Ptx(arch) => write!(f, "PTX for compute_{arch}, compiled by the driver"),
        }
    }
}

/// The target for a device of architecture `device` (major·10 + minor) when NVRTC compiles for
/// `supported` (its `nvrtcGetSupportedArchs`): the device's own where NVRTC has it, else PTX for
/// the newest one below it; an error where NVRTC has none at or below the device.
pub fn target(device: u32, supported: &[u32]) -> Result<Target, Error> {
    if supported.contains(&device) {
        return Ok(Target::Cubin(device));
    }
    if let Some(&below) = supported.iter().filter(|&&a| a < device).max() {
        return Ok(Target::Ptx(below));
    }
    let range = match (supported.iter().min(), supported.iter().max()) {
        (Some(lo), Some(hi)) => format!("sm_{lo} to sm_{hi}"),
        _ => "no architecture".into(),
    };
    Err(Error::Unavailable {
        backend: "cuda",
        reason: format!(
            "the GPU is sm_{device} and this NVRTC compiles for {range}: an older CUDA release's NVRTC may support it \
             (CUDA 12's, e.g. pip's nvidia-cuda-nvrtc-cu12, compiles for sm_50 on)"
        ),
    })
}

/// A device error naming the NVRTC call that failed.
fn nvrtc_error<E: std::fmt::Debug>(what: &'static str) -> impl Fn(E) -> Error {
    move |e| Error::Device(format!("{what}: {e:?}"))
}

/// NVRTC's version, (major, minor).
fn nvrtc_version() -> Result<(i32, i32), Error> {
    let (mut major, mut minor) = (0, 0);
    unsafe { nvrtc_sys::nvrtcVersion(&mut major, &mut minor) }.result().map_err(nvrtc_error("nvrtcVersion"))?;
    Ok((major, minor))
}

/// The architectures NVRTC compiles for (major·10 + minor).
fn supported_archs() -> Result<Vec<u32>, Error> {
    let mut count = 0;
    unsafe { nvrtc_sys::nvrtcGetNumSupportedArchs(&mut count) }
        .result()
        .map_err(nvrtc_error("nvrtcGetNumSupportedArchs"))?;
    let mut archs = vec![0i32; count.max(0) as usize];
    unsafe { nvrtc_sys::nvrtcGetSupportedArchs(archs.as_mut_ptr()) }
        .result()
        .map_err(nvrtc_error("nvrtcGetSupportedArchs"))?;
    Ok(archs.into_iter().filter_map(|a| u32::try_from(a).ok()).collect())
}

/// A compiled module and whether it came from the cache.
pub struct Compiled {
    /// The module: a CUBIN, or NUL-terminated PTX text ([`Target`]); the driver loads either.
    pub image: Vec<u8>,
    /// What the image is.
    pub target: Target,
    /// True when read from the on-disk cache.
    pub cached: bool,
}

/// The module of [`source`] for a device of compute capability `arch`, from the cache or freshly
/// compiled (and then cached; a cache that cannot be written only costs the next run a
/// compilation).
pub fn module(arch: (i32, i32), driver_version: i32) -> Result<Compiled, Error> {
    let src = source();
    let extra: Vec<String> = std::env::var(NVRTC_OPTIONS_ENV).unwrap_or_default().split_whitespace().map(String::from).collect();
    let version = nvrtc_version()?;
    let device = u32::try_from(arch.0 * 10 + arch.1).map_err(|_| Error::Device(format!("compute capability {}.{}", arch.0, arch.1)))?;
    // Where NVRTC cannot list its architectures, the device's own is tried (its error says why
    // if it fails).
    let target = match supported_archs() {
        Ok(supported) => target(device, &supported)?,
        Err(_) => Target::Cubin(device),
    };
    let mut hasher = DefaultHasher::new();
    (&src, &extra, arch, driver_version, version).hash(&mut hasher);
    let key = match target {
        Target::Cubin(a) => format!("bn254-sm{a}-{:016x}.cubin", hasher.finish()),
        Target::Ptx(a) => format!("bn254-compute{a}-for-sm{device}-{:016x}.ptx", hasher.finish()),
    };
    let path = cache_dir().map(|dir| dir.join(&key));
    if let Some(image) = path.as_ref().and_then(|p| std::fs::read(p).ok()) {
        return Ok(Compiled { image, target, cached: true });
    }
    let (image, _log) = compile(&src, target, &extra)?;
    if let Some(path) = path {
        // Temp file then rename: a concurrent reader never sees half a module.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let written = path.parent().map(std::fs::create_dir_all).transpose().is_ok()
            && std::fs::write(&tmp, &image).is_ok()
            && std::fs::rename(&tmp, &path).is_ok();
        if !written {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok(Compiled { image, target, cached: false })
}

/// NVRTC's optimizer, most of a compile of these kernels, works on them in parallel with all
/// the machine's threads: on two threads 9–12 s of optimizer time instead of 18 s (NVRTC 12.9,
/// sm_90), the same registers and instruction count in every kernel. An NVRTC that does not know
/// the option compiles without it.
const SPLIT_COMPILE: &str = "--split-compile=0";

/// The module of `src` for `target` (a CUBIN, or PTX with its terminating NUL), and NVRTC's log
/// (warnings; with `--ptxas-options=-v` and a CUBIN, each kernel's registers, spills and shared
/// memory).
fn compile(src: &str, target: Target, extra: &[String]) -> Result<(Vec<u8>, String), Error> {
    let mut options = vec![target.option(), "--std=c++17".into(), "-default-device".into(), SPLIT_COMPILE.into()];
    options.extend_from_slice(extra);
    match compile_with(src, target, &options) {
        Err(CompileError::InvalidOption(_)) => {
            options.retain(|o| o != SPLIT_COMPILE);
            compile_with(src, target, &options).map_err(Error::from)
        }
        outcome => outcome.map_err(Error::from),
    }
}

/// Why [`compile_with`] failed: NVRTC refused an option (which [`compile`] may drop and
/// retry), or anything else.
enum CompileError {
    InvalidOption(Error),
    Other(Error),
}

impl From<CompileError> for Error {
    fn from(e: CompileError) -> Error {
        match e {
            CompileError::InvalidOption(e) | CompileError::Other(e) => e,
        }
    }
}

/// One NVRTC program: `src` compiled with `options`.
fn compile_with(src: &str, target: Target, options: &[String]) -> Result<(Vec<u8>, String), CompileError> {
    let source = CString::new(src).map_err(|_| CompileError::Other(Error::Device("kernel source holds a NUL byte".into())))?;
    let name = CString::new("bn254.cu").unwrap();
    let program = nvrtc::create_program(&source, Some(&name)).map_err(|e| CompileError::Other(Error::Device(format!("nvrtc: {e:?}"))))?;
    let outcome = (|| {
        let compiled = unsafe { nvrtc::compile_program(program, options) };
        let log = unsafe { nvrtc::get_program_log(program) }
            .map(|log| log.iter().take_while(|&&c| c != 0).map(|&c| c as u8 as char).collect::<String>())
            .unwrap_or_default();
        if let Err(e) = compiled {
            let error = Error::Device(format!("NVRTC could not compile the kernels for {target} ({e:?}): {log}"));
            return Err(if e.0 == nvrtc_sys::nvrtcResult::NVRTC_ERROR_INVALID_OPTION {
                CompileError::InvalidOption(error)
            } else {
                CompileError::Other(error)
            });
        }
        let what = |e| CompileError::Other(Error::Device(format!("NVRTC's output for {target}: {e:?}")));
        let mut size = 0usize;
        match target {
            Target::Cubin(_) => unsafe { nvrtc_sys::nvrtcGetCUBINSize(program, &mut size) },
            Target::Ptx(_) => unsafe { nvrtc_sys::nvrtcGetPTXSize(program, &mut size) },
        }
        .result()
        .map_err(what)?;
        let mut image = vec![0u8; size];
        match target {
            Target::Cubin(_) => unsafe { nvrtc_sys::nvrtcGetCUBIN(program, image.as_mut_ptr().cast()) },
            Target::Ptx(_) => unsafe { nvrtc_sys::nvrtcGetPTX(program, image.as_mut_ptr().cast()) },
        }
        .result()
        .map_err(what)?;
        Ok((image, log))
    })();
    let _ = unsafe { nvrtc::destroy_program(program) };
    outcome
}

#[cfg(test)]
mod tests {
    use super::{target, Target};

    /// Whether NVRTC can be loaded; where not, says why the test skips, unless
    /// `ZKML_REQUIRE_NVRTC` is set (CI sets it).
    fn nvrtc_present() -> bool {
        if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            return true;
        }
        assert!(std::env::var_os("ZKML_REQUIRE_NVRTC").is_none(), "ZKML_REQUIRE_NVRTC is set but libnvrtc cannot be loaded");
        eprintln!("skipping: no NVRTC library (libnvrtc) on this machine");
        false
    }

    /// The kernels compile to a Hopper CUBIN on any machine with NVRTC (pip's
    /// `nvidia-cuda-nvrtc-cu12` is enough; no GPU or driver needed), so a change to the CUDA
    /// sources is checked where no GPU is (about 100 s on a 2-thread development machine). It prints
    /// each kernel's registers and spills (`-- --nocapture`), which set its occupancy; extra
    /// options come from `ZKML_NVRTC_OPTIONS` as on a device, and `ZKML_CUBIN_OUT` names a file
    /// to keep the CUBIN in (`scripts/sass-stats.sh` disassembles it).
    #[test]
    fn kernels_compile_with_nvrtc() {
        if !nvrtc_present() {
            return;
        }
        let mut options: Vec<String> = std::env::var(super::NVRTC_OPTIONS_ENV).unwrap_or_default().split_whitespace().map(String::from).collect();
        options.push("--ptxas-options=-v".into());
        let (cubin, log) = super::compile(&super::source(), Target::Cubin(90), &options).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&cubin[..4], b"\x7fELF", "a CUBIN is an ELF image");
        if let Some(path) = std::env::var_os("ZKML_CUBIN_OUT") {
            std::fs::write(path, &cubin).unwrap();
        }
        eprintln!("{log}");
    }

    /// For a device newer than NVRTC knows, NVRTC's newest architecture below it is chosen and
    /// `compile` returns PTX that the driver can load: NUL-terminated text for that target. (A
    /// small kernel: the front end that makes the PTX is the one the CUBIN test runs on ours.)
    #[test]
    fn kernels_compile_to_ptx_for_newer_devices() {
        if !nvrtc_present() {
            return;
        }
        let supported = super::supported_archs().unwrap_or_else(|e| panic!("{e}"));
        assert!(supported.contains(&90), "NVRTC compiles for sm_90: {supported:?}");
        let newest = *supported.iter().max().unwrap();
        assert_eq!(target(newest + 1, &supported).unwrap(), Target::Ptx(newest));
        let src = "extern \"C\" __global__ void probe(unsigned *a) { a[threadIdx.x] += 1; }";
        let (ptx, _) = super::compile(src, Target::Ptx(90), &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ptx.last(), Some(&0), "PTX ends with its NUL");
        let text = std::str::from_utf8(&ptx[..ptx.len() - 1]).expect("PTX is text");
        assert!(text.contains(".target sm_90") && text.contains(".entry probe("), "{text}");
    }

    /// An option NVRTC does not know is told apart from other failures, which is what lets
    /// `compile` drop `--split-compile` for an NVRTC without it.
    #[test]
    fn unknown_options_are_told_apart() {
        if !nvrtc_present() {
            return;
        }
        let src = "extern \"C\" __global__ void probe(unsigned *a) { a[threadIdx.x] += 1; }";
        let unknown = super::compile_with(src, Target::Ptx(90), &[Target::Ptx(90).option(), "--no-such-option".into()]);
        assert!(matches!(unknown, Err(super::CompileError::InvalidOption(_))));
        let broken = super::compile_with("this is not CUDA", Target::Ptx(90), &[Target::Ptx(90).option()]);
        assert!(matches!(broken, Err(super::CompileError::Other(_))));
    }

    /// Which module a device gets from the architectures NVRTC supports.
    #[test]
    fn target_follows_the_architectures_nvrtc_knows() {
        let up_to_90 = [50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90];
        let from_75 = [75, 80, 86, 87, 89, 90, 100, 103, 120, 121];
        assert_eq!(target(90, &up_to_90).unwrap(), Target::Cubin(90));
        assert_eq!(target(100, &from_75).unwrap(), Target::Cubin(100));
        // Newer than NVRTC knows: PTX of the newest one below the device.
        assert_eq!(target(100, &up_to_90).unwrap(), Target::Ptx(90));
        assert_eq!(target(120, &up_to_90).unwrap(), Target::Ptx(90));
        // A minor version NVRTC lacks: PTX of the one below it.
        assert_eq!(target(101, &from_75).unwrap(), Target::Ptx(100));
        // Older than NVRTC knows: an error naming both.
        let err = target(70, &from_75).unwrap_err().to_string();
        assert!(err.contains("sm_70") && err.contains("sm_75 to sm_121"), "{err}");
        assert!(target(90, &[]).is_err());
    }
}
