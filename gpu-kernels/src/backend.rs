//! The backend interface and its selection.

use halo2curves::bn256::{Fr, G1Affine, G1};
use halo2curves::ff::{Field, PrimeField};
use rayon::prelude::*;

use crate::cpu::CpuBackend;
use crate::Error;

/// Number-theoretic transforms over BN254's scalar field, in place, natural order in and out.
///
/// For `n = values.len()` (a power of two, at most `2^Fr::S`) and `ω` halo2's primitive `n`-th
/// root of unity (`Fr::ROOT_OF_UNITY` squared `S − log n` times):
/// - [`ntt`](Self::ntt): `A_i = Σ_j a_j ω^{ij}` (coefficients → evaluations);
/// - [`intt`](Self::intt): the inverse, including the factor `1/n`;
/// - [`coset_ntt`](Self::coset_ntt): `A_i = Σ_j a_j (g ω^i)^j`, evaluations on the coset `g·⟨ω⟩`.
pub trait NttBackend: Send + Sync {
    /// What runs the transforms (backend and device).
    fn describe(&self) -> String;
    /// Runs `transform` on `values` in place (a GPU backend copies them to the device and back).
    fn run(&self, values: &mut [Fr], transform: Transform) -> Result<(), Error>;
    /// Forward transform.
    fn ntt(&self, values: &mut [Fr]) -> Result<(), Error> {
        self.run(values, Transform::Forward)
    }
    /// Inverse transform.
    fn intt(&self, values: &mut [Fr]) -> Result<(), Error> {
        self.run(values, Transform::Inverse)
    }
    /// Forward transform on the coset `shift·⟨ω⟩`.
    fn coset_ntt(&self, values: &mut [Fr], shift: Fr) -> Result<(), Error> {
        self.run(values, Transform::Coset(shift))
    }
}

/// Multi-scalar multiplication over BN254's G1 with the bases uploaded once: a prover commits
/// many vectors against the same SRS, so the bases stay where the backend computes.
pub trait MsmBackend: Send + Sync {
    /// What runs the MSMs (backend and device).
    fn describe(&self) -> String;
    /// Makes `bases` resident for later [`ResidentBases::msm`] calls.
    fn load_bases(&self, bases: &[G1Affine]) -> Result<Box<dyn ResidentBases>, Error>;
}

/// A base set held by an [`MsmBackend`].
pub trait ResidentBases: Send + Sync {
    /// Number of bases.
    fn len(&self) -> usize;
    /// True when there are no bases.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `Σ scalars[i]·bases[i]` over the first `scalars.len()` bases (at most [`Self::len`]).
    fn msm(&self, scalars: &[Fr]) -> Result<G1, Error>;
}

/// log2 of a valid transform size.
pub fn log_size(n: usize) -> Result<u32, Error> {
    if !n.is_power_of_two() || n.trailing_zeros() > Fr::S {
        return Err(Error::InvalidInput(format!("transform size {n} is not a power of two up to 2^{}", Fr::S)));
    }
    Ok(n.trailing_zeros())
}

/// The primitive `2^log_n`-th root of unity halo2 uses.
pub fn root_of_unity(log_n: u32) -> Fr {
    let mut omega = Fr::ROOT_OF_UNITY;
    for _ in log_n..Fr::S {
        omega = omega.square();
    }
    omega
}

/// Which transform to run ([`NttBackend::run`], and a GPU backend's on device-resident values).
#[derive(Clone, Copy, Debug)]
pub enum Transform {
    /// Coefficients to evaluations.
    Forward,
    /// Evaluations to coefficients (including `1/n`).
    Inverse,
    /// Coefficients to evaluations on the coset `shift·⟨ω⟩`.
    Coset(Fr),
}

/// log2 of the elements a tiled NTT pass holds in a GPU block's shared memory (`NTT_TILE_LOG` in
/// cuda/ntt.cu, `TILE_LOG` in wgpu/ntt.wgsl): 2^10 elements, 32 KiB.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub(crate) const NTT_TILE_LOG: u32 = 10;

/// Threads per block of a tiled NTT pass (`NTT_TILE_THREADS` in cuda/ntt.cu, `TILE_THREADS` in
/// wgpu/ntt.wgsl): one radix-8 group of the tile each.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub(crate) const NTT_TILE_THREADS: u32 = 1 << (NTT_TILE_LOG - 3);

/// Environment variable that turns the GPU backends' tiled NTT passes on (`1`); off by default
/// until timed on a GPU against the radix-8 passes.
pub const NTT_TILES_ENV: &str = "ZKML_NTT_TILES";

/// Whether [`NTT_TILES_ENV`] asks for the tiled passes.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub(crate) fn ntt_tiles_requested() -> bool {
    std::env::var(NTT_TILES_ENV).is_ok_and(|v| v == "1")
}

/// One pass of a GPU transform.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NttPass {
    /// Stages `0 .. radix` in one thread's registers on elements read in bit-reversed order
    /// (the permutation and the first pass in one), `radix` ≤ 3; blocks of
    /// [`NTT_FIRST_PASS_THREADS`], [`ntt_first_pass_blocks`] of them.
    BitReverseRegisters { radix: u32 },
    /// The bit-reversal permutation in tiles of 2^(2·BIT_REVERSE_TILE_BITS) elements.
    BitReverseTiles,
    /// Stages `s .. s + radix` in one thread's registers, `radix` ≤ 3.
    Registers { s: u32, radix: u32 },
    /// Stages `s .. s + k` in a block's shared memory.
    Tile { s: u32, k: u32 },
}

/// log2 of the side of a tiled bit reversal's square tile (`BITREV_Q` in the kernels): a block
/// of one thread per element moves two tiles of 16 rows of 16 consecutive elements.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub(crate) const BIT_REVERSE_TILE_BITS: u32 = 4;

/// Threads per block of [`NttPass::BitReverseRegisters`], one group of 2^radix elements each: the
/// kernels' mapping of threads to groups (`first_pass_group` in cuda/ntt.cu) is written for 256.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub(crate) const NTT_FIRST_PASS_THREADS: u32 = 256;

/// Blocks of [`NttPass::BitReverseRegisters`] for 2^log_n elements: one where its 2^(log_n − radix)
/// groups fit one block, else one for each 2^(log_n − 10) middle bit patterns `x` (a block holds
/// the groups of `x` and of its reverse; those with `x` above its reverse have nothing to do).
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub(crate) fn ntt_first_pass_blocks(log_n: u32, radix: u32) -> u64 {
    if log_n - radix <= NTT_FIRST_PASS_THREADS.ilog2() {
        1
    } else {
        1 << (log_n - 10)
    }
}

/// Whether a plan's first pass reads the elements itself (radix-8, on bit-reversed reads), so
/// that it can multiply in the inverse's 1/n or the coset powers; after the tiled bit reversal
/// (or for n = 1, no pass) those are passes of their own.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub(crate) fn factors_in_first_pass(passes: &[NttPass]) -> bool {
    matches!(passes.first(), Some(NttPass::BitReverseRegisters { .. }))
}

/// The passes of a 2^log_n transform on a GPU (none for n = 1): radix-8 passes in registers, the
/// first on bit-reversed reads; or with `tiles`, the bit reversal in tiles and shared-memory
/// tiles of 2^NTT_TILE_LOG elements: the first takes stages 0 .. NTT_TILE_LOG (contiguous
/// elements), each later one up to NTT_TILE_LOG − 2 stages, so that it still reads runs of four
/// consecutive elements (128 bytes). A 2^24 transform then reads and writes the array 3 times
/// after the bit reversal, against 8 in radix-8 passes.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub(crate) fn ntt_passes(log_n: u32, tiles: bool) -> Vec<NttPass> {
    let mut passes = Vec::new();
    if log_n == 0 {
        return passes;
    }
    let mut s = 0;
    if tiles && log_n >= NTT_TILE_LOG {
        passes.push(NttPass::BitReverseTiles);
        while s < log_n {
            let k = if s == 0 { NTT_TILE_LOG } else { (NTT_TILE_LOG - 2).min(log_n - s) };
            passes.push(NttPass::Tile { s, k });
            s += k;
        }
    } else {
        s = log_n.min(3);
        passes.push(NttPass::BitReverseRegisters { radix: s });
    }
    while s < log_n {
        let radix = (log_n - s).min(3);
        passes.push(NttPass::Registers { s, radix });
        s += radix;
    }
    passes
}

/// How many times a GPU transform of 2^log_n elements reads and writes the whole array: its
/// passes, and the inverse's `1/n` or the coset's powers where the first pass does not multiply
/// them in.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub(crate) fn ntt_array_passes(log_n: u32, transform: Transform, tiles: bool) -> usize {
    let passes = ntt_passes(log_n, tiles);
    let scaling = !matches!(transform, Transform::Forward) && !factors_in_first_pass(&passes);
    passes.len() + usize::from(scaling)
}

/// Twiddle tables of a GPU backend by (log n, inverse), each made once and kept on the device.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub(crate) type TwiddleTables<B> = std::sync::Mutex<std::collections::HashMap<(u32, bool), std::sync::Arc<B>>>;

/// Time spent in one kernel while a GPU backend's `profile` ran.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelTime {
    /// The kernel's name in its `.cu` or `.wgsl` file.
    pub kernel: &'static str,
    /// How many times it was launched.
    pub dispatches: u32,
    /// Their total time: on the device between events around each launch (CUDA), or from the
    /// host with each dispatch run and waited for on its own (wgpu).
    pub seconds: f64,
}

impl KernelTime {
    /// Adds one launch of `kernel` to `times` (kept in order of first launch).
    #[cfg(any(feature = "cuda", feature = "wgpu"))]
    pub(crate) fn tally(times: &mut Vec<KernelTime>, kernel: &'static str, seconds: f64) {
        match times.iter_mut().find(|t| t.kernel == kernel) {
            Some(t) => {
                t.dispatches += 1;
                t.seconds += seconds;
            }
            None => times.push(KernelTime { kernel, dispatches: 1, seconds }),
        }
    }
}

/// `[1, x, x^2, ..., x^(len-1)]`, in parallel chunks (each starts from one exponentiation).
pub fn powers(x: Fr, len: usize) -> Vec<Fr> {
    const CHUNK: usize = 1 << 14;
    let mut out = vec![Fr::ZERO; len];
    out.par_chunks_mut(CHUNK).enumerate().for_each(|(c, chunk)| {
        let mut cur = x.pow_vartime([(c * CHUNK) as u64]);
        for v in chunk {
            *v = cur;
            cur *= x;
        }
    });
    out
}

/// The powers `g^i` (`i < 2^log_n`) of a coset transform's shift as two tables of about √n
/// entries, for the GPU kernels: `g^i = table[i mod 2^h]·table[2^h + (i >> h)]`, returned with
/// `h = ⌈log_n / 2⌉`.
#[cfg(any(feature = "cuda", feature = "wgpu"))]
pub(crate) fn coset_power_tables(g: Fr, log_n: u32) -> (Vec<Fr>, u32) {
    let h = log_n.div_ceil(2);
    let mut table = powers(g, 1 << h);
    table.extend(powers(g.pow_vartime([1u64 << h]), 1 << (log_n - h)));
    (table, h)
}

/// Which backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendRequest {
    /// The fastest available one.
    Auto,
    /// The CPU (halo2curves).
    Cpu,
    /// An NVIDIA GPU through CUDA (driver and NVRTC loaded at run time).
    Cuda,
    /// A GPU through wgpu (Vulkan, Metal, DX12).
    Wgpu,
}

impl std::str::FromStr for BackendRequest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            "wgpu" => Ok(Self::Wgpu),
            other => Err(Error::InvalidInput(format!("unknown backend '{other}' (expected auto, cpu, cuda or wgpu)"))),
        }
    }
}

/// Environment variable that overrides [`BackendRequest::Auto`].
pub const BACKEND_ENV: &str = "ZKML_BACKEND";

/// A chosen backend and why it was chosen.
pub struct Selection {
    /// What runs the transforms.
    pub ntt: Box<dyn NttBackend>,
    /// What runs the MSMs; `None` when they stay on the CPU (where the prover's own MSM works on
    /// the SRS in place, without a copy).
    pub msm: Option<Box<dyn MsmBackend>>,
    /// A sentence for logs: what was chosen and why.
    pub reason: String,
}

/// Picks a backend. An explicit request that cannot be met is an error; `Auto` (after the
/// `ZKML_BACKEND` override) picks CUDA when present, else wgpu on a discrete GPU, else the CPU,
/// and says why. wgpu on an integrated or software adapter (lavapipe) is used only on request:
/// its speed there is unmeasured or, on lavapipe, below the CPU's. On a discrete GPU (an H100)
/// its MSM is 10–50× faster than the host's 16 CPU threads and close to CUDA's (`BENCHMARKS.md`).
pub fn select(request: BackendRequest) -> Result<Selection, Error> {
    choose(request, cuda_backend, wgpu_backend)
}

/// [`select`] over backends opened on demand: `select` opens the one it needs, [`survey`]
/// hands over the ones it opened already (a GPU backend's opening loads or compiles its
/// kernels, which is worth doing once).
fn choose(
    request: BackendRequest,
    cuda_backend: impl FnOnce() -> Result<Selection, Error>,
    wgpu_backend: impl FnOnce() -> Result<Selection, Error>,
) -> Result<Selection, Error> {
    let request = match (request, std::env::var(BACKEND_ENV)) {
        (BackendRequest::Auto, Ok(value)) => value.parse()?,
        (request, _) => request,
    };
    let cpu = |reason: String| Selection { ntt: Box::new(CpuBackend), msm: None, reason };
    match request {
        BackendRequest::Cpu => Ok(cpu("cpu: requested".into())),
        BackendRequest::Cuda => Ok(with_reason(cuda_backend()?, "requested")),
        BackendRequest::Wgpu => Ok(with_reason(wgpu_backend()?, "requested")),
        BackendRequest::Auto => {
            let cuda = match cuda_backend() {
                Ok(selection) => return Ok(with_reason(selection, "the fastest available")),
                Err(e) => e,
            };
            let Some(gpu) = discrete_gpu() else {
                return Ok(cpu(format!("cpu: fallback (no CUDA: {cuda}; no discrete GPU for wgpu)")));
            };
            Ok(match wgpu_backend() {
                Ok(selection) => with_reason(selection, &format!("no CUDA ({cuda}), and {gpu} is a discrete GPU")),
                Err(wgpu) => cpu(format!("cpu: fallback (no CUDA: {cuda}; wgpu on {gpu}: {wgpu})")),
            })
        }
    }
}

/// One backend of this build on this machine: whether it runs here, and what it is or why not.
#[derive(Clone, Debug)]
pub struct BackendStatus {
    /// `cpu`, `cuda` or `wgpu`.
    pub name: &'static str,
    /// Whether it opened.
    pub available: bool,
    /// Where it opened, what it runs on (device, architecture, threads); else why it did not.
    pub note: String,
}

/// What runs on this machine: every backend of this build, and what [`select`] would choose.
#[derive(Debug)]
pub struct Survey {
    /// Every backend of this build, CPU first.
    pub backends: Vec<BackendStatus>,
    /// Why [`BackendRequest::Auto`] (after the `ZKML_BACKEND` override) picks what it picks, or
    /// why it cannot (an override naming a backend that is missing here).
    pub auto: Result<String, Error>,
}

/// Opens every backend of this build once to see whether it runs here (a GPU backend's first
/// opening on a machine compiles its kernels), and makes `auto`'s choice among them.
pub fn survey() -> Survey {
    let (cuda, wgpu) = (cuda_backend(), wgpu_backend());
    let status = |name, opened: &Result<Selection, Error>| match opened {
        Ok(selection) => BackendStatus { name, available: true, note: selection.ntt.describe() },
        Err(e) => BackendStatus { name, available: false, note: e.to_string() },
    };
    let backends = vec![
        BackendStatus { name: "cpu", available: true, note: NttBackend::describe(&CpuBackend) },
        status("cuda", &cuda),
        status("wgpu", &wgpu),
    ];
    let auto = choose(BackendRequest::Auto, || cuda, || wgpu).map(|selection| selection.reason);
    Survey { backends, auto }
}

fn with_reason(selection: Selection, why: &str) -> Selection {
    let (ntt, msm) = (selection.ntt.describe(), selection.msm.as_ref().map_or_else(|| NttBackend::describe(&CpuBackend), |m| m.describe()));
    let reason = if ntt == msm { format!("{ntt} for NTT and MSM: {why}") } else { format!("{ntt} for NTT, {msm} for MSM: {why}") };
    Selection { reason, ..selection }
}

#[cfg(feature = "cuda")]
fn cuda_backend() -> Result<Selection, Error> {
    let gpu = crate::cuda::CudaBackend::new()?;
    Ok(Selection { ntt: Box::new(gpu.clone()), msm: Some(Box::new(gpu)), reason: String::new() })
}

#[cfg(not(feature = "cuda"))]
fn cuda_backend() -> Result<Selection, Error> {
    Err(Error::Unavailable { backend: "cuda", reason: "built without the `cuda` feature".into() })
}

#[cfg(feature = "wgpu")]
fn wgpu_backend() -> Result<Selection, Error> {
    let gpu = crate::wgpu::WgpuBackend::new()?;
    Ok(Selection { ntt: Box::new(gpu.clone()), msm: Some(Box::new(gpu)), reason: String::new() })
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_backend() -> Result<Selection, Error> {
    Err(Error::Unavailable { backend: "wgpu", reason: "built without the `wgpu` feature".into() })
}

#[cfg(feature = "wgpu")]
fn discrete_gpu() -> Option<String> {
    crate::wgpu::WgpuBackend::discrete_gpu()
}

#[cfg(not(feature = "wgpu"))]
fn discrete_gpu() -> Option<String> {
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use halo2curves::ff::Field;
    use halo2curves::group::prime::PrimeCurveAffine;
    use halo2curves::group::Group;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    /// Fresh random values each run, with the edge cases in front: 0, 1, p − 1, and −1/R, which
    /// Montgomery form stores as p − 1 (the largest limbs a multiplication sees).
    fn inputs(n: usize) -> Vec<Fr> {
        let mut rng = ChaCha20Rng::from_entropy();
        let largest_limbs = -Fr::from(2).pow_vartime([256]).invert().unwrap();
        let edges = [Fr::ZERO, Fr::ONE, -Fr::ONE, largest_limbs];
        (0..n).map(|i| if i < edges.len() { edges[i] } else { Fr::random(&mut rng) }).collect()
    }

    fn naive_dft(a: &[Fr], shift: Fr) -> Vec<Fr> {
        let omega = root_of_unity(a.len().trailing_zeros());
        (0..a.len())
            .map(|i| {
                let x = shift * omega.pow_vartime([i as u64]);
                a.iter().rev().fold(Fr::ZERO, |acc, c| acc * x + c)
            })
            .collect()
    }

    #[test]
    fn cpu_backend_matches_the_definition() {
        let shift = Fr::from(7);
        for n in [1, 2, 8, 32] {
            let a = inputs(n);
            let mut b = a.clone();
            CpuBackend.ntt(&mut b).unwrap();
            assert_eq!(b, naive_dft(&a, Fr::ONE), "ntt n={n}");
            CpuBackend.intt(&mut b).unwrap();
            assert_eq!(b, a, "intt n={n}");
            let mut c = a.clone();
            CpuBackend.coset_ntt(&mut c, shift).unwrap();
            assert_eq!(c, naive_dft(&a, shift), "coset n={n}");
        }
        assert!(CpuBackend.ntt(&mut [Fr::ONE; 6]).is_err());
    }

    #[test]
    fn requests_parse_and_cpu_is_always_available() {
        assert_eq!("wgpu".parse::<BackendRequest>().unwrap(), BackendRequest::Wgpu);
        assert!("tpu".parse::<BackendRequest>().unwrap_err().to_string().contains("unknown backend"));
        let selection = select(BackendRequest::Cpu).unwrap();
        assert!(selection.reason.starts_with("cpu"));
        // A backend this machine lacks is an error naming it, never a panic.
        for request in [BackendRequest::Cuda, BackendRequest::Wgpu] {
            if let Err(e) = select(request) {
                let name = format!("{request:?}").to_lowercase();
                assert!(e.to_string().contains(&name), "{e}");
            }
        }
    }

    /// The survey names every backend, the CPU first and always available (an unavailable one
    /// says why, naming itself), and makes the choice `select` makes.
    #[test]
    fn survey_lists_every_backend() {
        let survey = survey();
        let backends = &survey.backends;
        assert_eq!(backends.iter().map(|b| b.name).collect::<Vec<_>>(), ["cpu", "cuda", "wgpu"]);
        assert!(backends[0].available && backends[0].note.starts_with("cpu"));
        for b in &backends[1..] {
            assert!(b.available || b.note.contains(&format!("backend '{}' is unavailable", b.name)), "{b:?}");
        }
        // auto's choice among them is the one select makes (both honour ZKML_BACKEND).
        match (&survey.auto, select(BackendRequest::Auto)) {
            (Ok(reason), Ok(selection)) => assert_eq!(*reason, selection.reason),
            (Err(e), Err(again)) => assert_eq!(e.to_string(), again.to_string()),
            (reason, selection) => panic!("survey: {reason:?}, select: {:?}", selection.map(|s| s.reason)),
        }
    }

    /// How often a GPU transform reads and writes its array: the passes of its plan, and one
    /// scaling pass where the first pass does not multiply in 1/n or the coset's powers.
    #[cfg(any(feature = "cuda", feature = "wgpu"))]
    #[test]
    fn array_passes_follow_the_plan() {
        let coset = Transform::Coset(Fr::from(7));
        for (log_n, tiles, transform, passes) in [
            (0, false, Transform::Forward, 0),
            (0, false, Transform::Inverse, 1),
            (7, false, Transform::Forward, 3),
            (7, false, Transform::Inverse, 3),
            (7, false, coset, 3),
            (24, false, Transform::Forward, 8),
            // Tiled: the bit reversal, then tiles of 10, 8 and 6 stages; 1/n and g^i apart.
            (24, true, Transform::Forward, 4),
            (24, true, Transform::Inverse, 5),
            (16, true, coset, 4),
        ] {
            assert_eq!(ntt_array_passes(log_n, transform, tiles), passes, "2^{log_n}, tiles {tiles}, {transform:?}");
        }
    }

    /// `auto` takes CUDA if it opens, else wgpu on a discrete GPU, else the CPU, and its reason
    /// says which (here in CI: lavapipe is a software adapter, so the CPU).
    #[test]
    fn auto_prefers_cuda_then_a_discrete_gpu_then_the_cpu() {
        if std::env::var_os(BACKEND_ENV).is_some() {
            eprintln!("skipped: {BACKEND_ENV} overrides auto");
            return;
        }
        let reason = select(BackendRequest::Auto).unwrap().reason;
        let expected = if cuda_backend().is_ok() {
            "cuda"
        } else if discrete_gpu().is_some() {
            "wgpu"
        } else {
            assert!(reason.contains("no discrete GPU"), "{reason}");
            "cpu"
        };
        assert!(reason.starts_with(expected), "expected {expected}: {reason}");
    }

    /// The wgpu backend against the CPU. Without an adapter the test says why it skipped,
    /// unless `ZKML_REQUIRE_WGPU` is set (CI sets it: it installs lavapipe).
    #[cfg(feature = "wgpu")]
    #[test]
    fn wgpu_backend_matches_cpu() {
        let Some(gpu) = open_or_skip(crate::wgpu::WgpuBackend::new(), "ZKML_REQUIRE_WGPU") else { return };
        eprintln!("testing {}", NttBackend::describe(&gpu));
        // 2^11 and 2^19 end with a pass of two and of one stage (passes do up to three); the
        // first pass of 2^11 is one workgroup, of 2^12 and 2^19 workgroups of paired middle bits.
        check_ntt(&gpu, &[1, 2, 4, 64, 1 << 11, 1 << 12, 1 << 19]);
        // Tiled passes: 2^10 is one tile, 2^13 a tile of 10 stages and one of 3, 2^19 of 10, 8, 1.
        check_ntt(&gpu.clone().with_ntt_tiles(true), &[1 << 10, 1 << 13, 1 << 19]);
        // Small sizes: lavapipe runs the kernels on the CPU, slowly. 2^13 bases get 20 window
        // tables of 13-bit windows, which the MSMs of 777 and 2^13 points use (the others run
        // over the bases alone).
        check_msm(&gpu, &[1, 2, 7, 100, 777, 1 << 13], 300);
        let (scalars, bases) = msm_inputs(1 << 10);
        let resident = gpu.load_resident(&bases).unwrap();
        assert!(resident.tables().count > 1, "2^10 bases: {:?}", resident.tables());
        assert_eq!(resident.msm(&scalars).unwrap(), naive_msm(&scalars, &bases), "over window tables");
        // A profiled transform gives the same values and times every dispatch: 2^7 is three
        // passes (3 + 3 + 1 stages; the first on bit-reversed reads, without ω^0).
        let a = inputs(1 << 7);
        let mut got = a.clone();
        let ((), times) = gpu.profile(|| gpu.ntt(&mut got)).unwrap();
        check_profiled_ntt(&a, &got, &times, &[("bit_reverse_pass", 1), ("butterfly_pass", 2)]);
        // Device-resident values: a forward then an inverse transform there, read back once.
        let mut on_device = gpu.upload(&a).unwrap();
        gpu.synchronize().unwrap();
        gpu.transform(&mut on_device, Transform::Forward).unwrap();
        gpu.transform(&mut on_device, Transform::Inverse).unwrap();
        let mut back = vec![Fr::ZERO; a.len()];
        gpu.download(&on_device, &mut back).unwrap();
        assert_eq!(back, a);
        assert!(gpu.download(&on_device, &mut back[1..]).is_err());
        // The portable kernels (no 64-bit integers) share everything but the multiply-accumulate
        // of the field product; both modules are compiled and run.
        let portable = crate::wgpu::WgpuBackend::portable().unwrap();
        eprintln!("testing {}", NttBackend::describe(&portable));
        check_ntt(&portable, &[1, 2, 64, 1 << 10]);
        check_msm(&portable, &[1, 100], 40);
    }

    /// A GPU backend for a test, or `None` after saying why the test skips; with `require_env`
    /// set in the environment (CI sets `ZKML_REQUIRE_WGPU`: it installs lavapipe) a missing
    /// backend fails the test instead.
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    fn open_or_skip<T>(opened: Result<T, Error>, require_env: &str) -> Option<T> {
        match opened {
            Ok(gpu) => Some(gpu),
            Err(e) if std::env::var_os(require_env).is_none() => {
                eprintln!("skipping: {e}");
                None
            }
            Err(e) => panic!("{require_env} is set but {e}"),
        }
    }

    /// Forward, inverse and coset transforms on `gpu` against the CPU, on fresh random inputs of
    /// each size, and a size that is not a power of two rejected.
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    fn check_ntt(gpu: &dyn NttBackend, sizes: &[usize]) {
        let shift = Fr::from(5);
        for &n in sizes {
            let a = inputs(n);
            let (mut want, mut got) = (a.clone(), a.clone());
            CpuBackend.ntt(&mut want).unwrap();
            gpu.ntt(&mut got).unwrap();
            assert_eq!(got, want, "ntt n={n}");
            gpu.intt(&mut got).unwrap();
            assert_eq!(got, a, "intt n={n}");
            let (mut want, mut got) = (a.clone(), a.clone());
            CpuBackend.coset_ntt(&mut want, shift).unwrap();
            gpu.coset_ntt(&mut got, shift).unwrap();
            assert_eq!(got, want, "coset n={n}");
        }
        assert!(gpu.ntt(&mut [Fr::ONE; 3]).is_err());
    }

    /// Σ k_i·P_i one term at a time: the definition the backends are checked against.
    pub(crate) fn naive_msm(scalars: &[Fr], bases: &[G1Affine]) -> G1 {
        scalars.iter().zip(bases).fold(G1::identity(), |acc, (k, p)| acc + *p * k)
    }

    /// MSM inputs with the edge cases up front: scalars 0, 1, p − 1, 2, p − 2; a base repeated,
    /// a base next to its negation, the point at infinity; then fresh random scalars.
    pub(crate) fn msm_inputs(n: usize) -> (Vec<Fr>, Vec<G1Affine>) {
        let mut rng = ChaCha20Rng::from_entropy();
        let mut bases = crate::sample::bases(n, Fr::random(&mut rng));
        let edge_scalars = [Fr::ZERO, Fr::ONE, -Fr::ONE, Fr::from(2), -Fr::from(2), Fr::ONE, Fr::ONE];
        let scalars = (0..n).map(|i| edge_scalars.get(i).copied().unwrap_or_else(|| Fr::random(&mut rng))).collect();
        if n >= 7 {
            bases[1] = bases[0];
            bases[2] = bases[0];
            bases[4] = -bases[3];
            bases[6] = G1Affine::identity();
        }
        (scalars, bases)
    }

    #[test]
    fn cpu_msm_matches_the_definition() {
        for n in [1, 7, 100] {
            let (scalars, bases) = msm_inputs(n);
            let resident = CpuBackend.load_bases(&bases).unwrap();
            assert_eq!(resident.msm(&scalars).unwrap(), naive_msm(&scalars, &bases), "n={n}");
            // A prefix of the bases, and too many scalars.
            assert_eq!(resident.msm(&scalars[..n / 2]).unwrap(), naive_msm(&scalars[..n / 2], &bases), "n={n}/2");
            assert!(resident.msm(&[scalars.clone(), vec![Fr::ONE]].concat()).is_err());
        }
    }

    /// The CUDA backend against the CPU, on fresh random inputs with the edge cases. Without a
    /// CUDA driver the test says why it skipped, unless `ZKML_REQUIRE_CUDA` is set.
    #[cfg(feature = "cuda")]
    #[test]
    fn cuda_backend_matches_cpu() {
        let Some(gpu) = open_or_skip(crate::cuda::CudaBackend::new(), "ZKML_REQUIRE_CUDA") else { return };
        eprintln!("testing {} (kernels {})", NttBackend::describe(&gpu), if gpu.loaded_from_cache() { "cached" } else { "compiled" });
        check_ntt(&gpu, &[1, 2, 4, 8, 16, 32, 64, 128, 1 << 10, 1 << 13, 1 << 16]);
        check_ntt(&gpu.clone().with_ntt_tiles(true), &[1 << 10, 1 << 11, 1 << 13, 1 << 16, 1 << 19]);

        // n = 1, small n (narrow windows), n not a power of two, a power of two.
        check_msm(&gpu, &[1, 2, 7, 100, 1000, 3001, 1 << 12, 1 << 16], 5000);

        // A profiled transform gives the same values and times every launch on the device: 2^7
        // (its twiddles made above) is three passes (3 + 3 + 1 stages; the first on bit-reversed
        // reads, without ω^0).
        let a = inputs(1 << 7);
        let mut got = a.clone();
        let ((), times) = gpu.profile(|| gpu.ntt(&mut got)).unwrap();
        let launches = [("fr_ntt_bit_reverse_pass3", 1), ("fr_ntt_pass3", 1), ("fr_ntt_pass1", 1)];
        check_profiled_ntt(&a, &got, &times, &launches);
    }

    /// Checks a profiled forward transform of `input`: `got` must be the CPU's transform, and
    /// `times` must name `launches` (kernel, launches) in order of first launch, each timed.
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    fn check_profiled_ntt(input: &[Fr], got: &[Fr], times: &[KernelTime], launches: &[(&str, u32)]) {
        let mut want = input.to_vec();
        CpuBackend.ntt(&mut want).unwrap();
        assert_eq!(got, want);
        let named: Vec<_> = times.iter().map(|t| (t.kernel, t.dispatches)).collect();
        assert_eq!(named, launches);
        assert!(times.iter().all(|t| t.seconds > 0.0));
    }

    /// MSMs on `gpu` against the CPU over one resident base set, on prefixes of each size of
    /// fresh random inputs with the edge cases; then `same_len` equal scalars (1: one bucket
    /// holds them all and crosses many accumulation chunks; 0; p − 1); then none, and too many.
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    fn check_msm(gpu: &dyn MsmBackend, sizes: &[usize], same_len: usize) {
        let max = sizes.iter().copied().chain([same_len]).max().unwrap();
        let (scalars, bases) = msm_inputs(max);
        let resident = gpu.load_bases(&bases).unwrap();
        let cpu = CpuBackend.load_bases(&bases).unwrap();
        for &n in sizes {
            assert_eq!(resident.msm(&scalars[..n]).unwrap(), cpu.msm(&scalars[..n]).unwrap(), "msm n={n}");
        }
        for (what, k) in [("ones", Fr::ONE), ("zeros", Fr::ZERO), ("p-1", -Fr::ONE)] {
            let same = vec![k; same_len];
            assert_eq!(resident.msm(&same).unwrap(), cpu.msm(&same).unwrap(), "msm of {what}");
        }
        assert_eq!(resident.msm(&[]).unwrap(), G1::identity(), "msm of no scalars");
        assert!(resident.msm(&vec![Fr::ONE; max + 1]).is_err());
    }
}
