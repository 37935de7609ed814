//! The backend interface and its selection.

use halo2curves::bn256::Fr;
use halo2curves::ff::{Field, PrimeField};

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
    /// Forward transform.
    fn ntt(&self, values: &mut [Fr]) -> Result<(), Error>;
    /// Inverse transform.
    fn intt(&self, values: &mut [Fr]) -> Result<(), Error>;
    /// Forward transform on the coset `shift·⟨ω⟩`.
    fn coset_ntt(&self, values: &mut [Fr], shift: Fr) -> Result<(), Error>;
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

/// `[1, x, x^2, ..., x^(len-1)]`.
pub fn powers(x: Fr, len: usize) -> Vec<Fr> {
    let mut out = Vec::with_capacity(len);
    let mut cur = Fr::ONE;
    for _ in 0..len {
        out.push(cur);
        cur *= x;
    }
    out
}

/// Which backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendRequest {
    /// The fastest available one.
    Auto,
    /// The CPU (halo2curves).
    Cpu,
    /// A GPU through wgpu (Vulkan, Metal, DX12).
    Wgpu,
}

impl std::str::FromStr for BackendRequest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "wgpu" => Ok(Self::Wgpu),
            other => Err(Error::InvalidInput(format!("unknown backend '{other}' (expected auto, cpu or wgpu)"))),
        }
    }
}

/// Environment variable that overrides [`BackendRequest::Auto`].
pub const BACKEND_ENV: &str = "ZKML_BACKEND";

/// A chosen backend and why it was chosen.
pub struct Selection {
    /// The backend.
    pub backend: Box<dyn NttBackend>,
    /// A sentence for logs: what was chosen and why.
    pub reason: String,
}

/// Picks a backend. An explicit request that cannot be met is an error; `Auto` (after the
/// `ZKML_BACKEND` override) tries the GPU, then falls back to the CPU and says why.
pub fn select(request: BackendRequest) -> Result<Selection, Error> {
    let request = match (request, std::env::var(BACKEND_ENV)) {
        (BackendRequest::Auto, Ok(value)) => value.parse()?,
        (request, _) => request,
    };
    let cpu = || Box::new(crate::cpu::CpuBackend) as Box<dyn NttBackend>;
    match request {
        BackendRequest::Cpu => Ok(Selection { backend: cpu(), reason: "cpu: requested".into() }),
        BackendRequest::Wgpu => {
            let gpu = wgpu_backend()?;
            let reason = format!("{}: requested", gpu.describe());
            Ok(Selection { backend: gpu, reason })
        }
        BackendRequest::Auto => match wgpu_backend() {
            Ok(gpu) => {
                let reason = format!("{}: the fastest available", gpu.describe());
                Ok(Selection { backend: gpu, reason })
            }
            Err(e) => Ok(Selection { backend: cpu(), reason: format!("cpu: fallback ({e})") }),
        },
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_backend() -> Result<Box<dyn NttBackend>, Error> {
    Ok(Box::new(crate::wgpu::WgpuBackend::new()?))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_backend() -> Result<Box<dyn NttBackend>, Error> {
    Err(Error::Unavailable { backend: "wgpu", reason: "built without the `wgpu` feature".into() })
}

#[cfg(test)]
mod tests {
    use halo2curves::ff::Field;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::cpu::CpuBackend;

    /// Fresh random values each run, with the edge cases 0, 1 and p − 1 in front.
    fn inputs(n: usize) -> Vec<Fr> {
        let mut rng = ChaCha20Rng::from_entropy();
        let edges = [Fr::ZERO, Fr::ONE, -Fr::ONE];
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
    }

    /// The wgpu backend against the CPU. Without an adapter the test says why it skipped,
    /// unless `ZKML_REQUIRE_WGPU` is set (CI sets it: it installs lavapipe).
    #[cfg(feature = "wgpu")]
    #[test]
    fn wgpu_backend_matches_cpu() {
        let gpu = match crate::wgpu::WgpuBackend::new() {
            Ok(gpu) => gpu,
            Err(e) if std::env::var_os("ZKML_REQUIRE_WGPU").is_none() => {
                eprintln!("skipping the wgpu test: {e}");
                return;
            }
            Err(e) => panic!("ZKML_REQUIRE_WGPU is set but {e}"),
        };
        eprintln!("testing {}", gpu.describe());
        let shift = Fr::from(5);
        for n in [1, 2, 4, 64, 1 << 12] {
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
}
