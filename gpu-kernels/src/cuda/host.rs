//! The CUDA kernels run on the host (tests only): `host/cuda_host.h` turns the kernel source into
//! C++ that the system's compiler (`$CXX`, else `c++`) builds with `host/driver.cpp`, which
//! launches the kernels as the backend does. The tests compare the field arithmetic, the NTT and
//! the MSM with halo2curves and the CPU backend on fresh random inputs, in both forms of the
//! field multiplication, on machines without a GPU; a GPU then runs the same kernels for real
//! (`backend::tests`). Without a C++ compiler the tests say why they skipped, unless
//! `ZKML_REQUIRE_CXX` is set (CI sets it).

use std::path::PathBuf;
use std::process::Command;

use halo2curves::bn256::{Fq, Fr, G1Affine};
use halo2curves::ff::{Field, PrimeField};
use halo2curves::group::Curve;
use halo2curves::serde::SerdeObject;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::backend::tests::{msm_inputs, naive_msm};
use crate::backend::{coset_power_tables, ntt_first_pass_blocks, ntt_passes, root_of_unity, NttBackend, NttPass, NTT_TILE_LOG};
use crate::cpu::CpuBackend;
use crate::layout::{base_words, montgomery_constants};
use crate::pippenger::{combine_groups, msm_plan, reduction_levels, BaseTables, MsmPlan};

const HOST: &str = include_str!("host/cuda_host.h");
const DRIVER: &str = include_str!("host/driver.cpp");

/// The driver built for the host with `FIELD_MUL_PTX=form`, in a directory removed on drop.
struct Driver {
    dir: PathBuf,
    exe: PathBuf,
}

impl Driver {
    /// `None` (with a note) where there is no C++ compiler.
    fn build(form: u32) -> Option<Self> {
        let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
        if Command::new(&cxx).arg("--version").output().is_err() {
            assert!(std::env::var_os("ZKML_REQUIRE_CXX").is_none(), "ZKML_REQUIRE_CXX is set but there is no C++ compiler ({cxx})");
            eprintln!("skipping: no C++ compiler ({cxx})");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("zkml-cuda-host-{}-{form}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("kernels.cpp");
        std::fs::write(&src, format!("{HOST}{}{DRIVER}", super::source())).unwrap();
        let exe = dir.join("kernels");
        let built = Command::new(&cxx)
            .args(["-std=c++20", "-O1", "-pthread", &format!("-DFIELD_MUL_PTX={form}"), "-o"])
            .arg(&exe)
            .arg(&src)
            .output()
            .unwrap();
        assert!(built.status.success(), "{cxx} failed: {}", String::from_utf8_lossy(&built.stderr));
        Some(Self { dir, exe })
    }

    /// Runs the commands in `input`; the output's lines of words.
    fn run(&self, input: &str) -> Vec<Vec<u32>> {
        // From a file: through a pipe, the driver's output would fill its own pipe while the
        // input is still being written.
        let commands = self.dir.join("commands.txt");
        std::fs::write(&commands, input).unwrap();
        let out = Command::new(&self.exe).stdin(std::fs::File::open(&commands).unwrap()).output().unwrap();
        assert!(out.status.success(), "the host driver failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split_whitespace().map(|w| u32::from_str_radix(w, 16).unwrap()).collect())
            .collect()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn raw_words<F: SerdeObject>(x: &F) -> Vec<u32> {
    x.to_raw_bytes().chunks(4).map(|w| u32::from_le_bytes(w.try_into().unwrap())).collect()
}

fn push_words(input: &mut String, words: &[u32]) {
    for w in words {
        input.push_str(&format!(" {w:x}"));
    }
}

fn from_words<F: SerdeObject>(words: &[u32]) -> F {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    F::from_raw_bytes_unchecked(&bytes)
}

/// `x + y` on 8-word little-endian integers (no carry out: the sums here are below 2^256).
fn add_words(x: &[u32], y: &[u32]) -> Vec<u32> {
    let mut carry = 0u64;
    x.iter().zip(y).map(|(&a, &b)| {
        let sum = a as u64 + b as u64 + carry;
        carry = sum >> 32;
        sum as u32
    }).collect()
}

/// One `arith` command: its inputs, and what halo2curves gives for `a·b, a + b, a − b, a²`.
struct ArithCase {
    line: String,
    modulus: [u32; 8],
    want: [Vec<u32>; 4],
}

impl ArithCase {
    /// Checks the driver's 8 lines for this case: each result as the kernels leave it, in
    /// [0, 2p) and equal to halo2curves' mod p, then its canonical form, equal to it.
    fn check(&self, got: &[Vec<u32>], form: u32) {
        let below = |x: &[u32], y: &[u32]| x.iter().rev().cmp(y.iter().rev()).is_lt();
        let twice = add_words(&self.modulus, &self.modulus);
        for (k, want) in self.want.iter().enumerate() {
            let (lazy, canonical) = (&got[k], &got[4 + k]);
            let op = ["a·b", "a + b", "a − b", "a²"][k];
            assert!(below(lazy, &twice), "FIELD_MUL_PTX={form}: {op} = {lazy:x?} is not below 2p ({})", self.line);
            assert!(lazy == want || *lazy == add_words(want, &self.modulus), "FIELD_MUL_PTX={form}: {op} ({})", self.line);
            assert_eq!(canonical, want, "FIELD_MUL_PTX={form}: canonical {op} ({})", self.line);
        }
    }
}

/// `arith` cases over `F`: the edge cases 0, 1, p − 1, p − 2 and random values, each given to the
/// kernels either canonical or as its other representative in [0, 2p), `a + p`, at random; then
/// 2p − 1 with itself.
fn arith_cases<F: PrimeField + SerdeObject>(tag: char, rng: &mut ChaCha20Rng) -> Vec<ArithCase> {
    let modulus = montgomery_constants::<F>().modulus;
    let mut values: Vec<F> = vec![F::ZERO, F::ONE, -F::ONE, -F::ONE.double()];
    values.extend((0..60).map(|_| F::random(&mut *rng)));
    let mut cases = Vec::new();
    for (i, &a) in values.iter().enumerate() {
        for b in [values[(i * 7 + 3) % values.len()], -F::ONE, F::random(&mut *rng)] {
            let mut line = format!("arith {tag}");
            for x in [a, b] {
                let words = raw_words(&x);
                push_words(&mut line, &if rng.gen() { add_words(&words, &modulus) } else { words });
            }
            let want = [a * b, a + b, a - b, a.square()].map(|x| raw_words(&x));
            cases.push(ArithCase { line, modulus, want });
        }
    }
    // The largest inputs the kernels hold, 2p − 1 twice (the product's running value is then
    // at its bound).
    let m1 = -F::ONE;
    let top = add_words(&raw_words(&m1), &modulus);
    let mut line = format!("arith {tag}");
    push_words(&mut line, &top);
    push_words(&mut line, &top);
    cases.push(ArithCase { line, modulus, want: [m1 * m1, m1 + m1, F::ZERO, m1.square()].map(|x| raw_words(&x)) });
    cases
}

/// In both forms of the field multiplication, on fresh random inputs: multiplication, squaring,
/// addition and subtraction of `bn254.cuh` in both fields against halo2curves (with the edge
/// cases 0, 1, p − 1, p − 2, on inputs in [0, 2p) as the kernels keep them; results in [0, 2p)
/// and canonical); the NTT kernels (forward, inverse, coset; 2^0 to 2^13 in radix-8
/// passes, every radix, the first pass's reads in bit-reversed order from one block up to 2^11
/// and from blocks of paired middle bits above; 2^10 to 2^13 in tiled passes, with the tiled
/// bit reversal) against the
/// CPU backend; the bucket offsets' scan (up to 600 000 counts) against a prefix sum; the MSM
/// kernels (n = 1 to 8192, one to three reduction levels, with the edge-case scalars and bases of
/// `backend::tests`, and all scalars equal; over the bases alone and over window tables made by
/// `msm_table`, one group or several) against `Σ k_i·P_i`.
#[test]
fn cuda_kernels_on_the_host() {
    let mut rng = ChaCha20Rng::from_entropy();
    let mut arith = arith_cases::<Fr>('r', &mut rng);
    arith.extend(arith_cases::<Fq>('q', &mut rng));
    let arith_input: String = arith.iter().map(|case| format!("{}\n", case.line)).collect();

    let mut input = String::new();
    let mut ntt_cases = Vec::new();
    for (log_n, tiles) in (0..=13u32).map(|l| (l, false)).chain((10..=13).map(|l| (l, true))) {
        let n = 1usize << log_n;
        let values: Vec<Fr> = (0..n).map(|_| Fr::random(&mut rng)).collect();
        let shift = Fr::random(&mut rng);
        let omega = root_of_unity(log_n);
        let n_inv = Fr::from(n as u64).invert().unwrap();
        for kind in 0..3 {
            let mut want = values.clone();
            match kind {
                0 => CpuBackend.ntt(&mut want),
                1 => CpuBackend.intt(&mut want),
                _ => CpuBackend.coset_ntt(&mut want, shift),
            }
            .unwrap();
            let base = if kind == 1 { omega.invert().unwrap() } else { omega };
            let passes = ntt_passes(log_n, tiles);
            input.push_str(&format!("ntt {log_n:x} {kind:x} {:x}", passes.len()));
            for pass in passes {
                input.push_str(&match pass {
                    NttPass::Registers { s, radix } => format!(" 0 {s:x} {radix:x}"),
                    NttPass::Tile { s, k } => format!(" 1 {s:x} {k:x}"),
                    NttPass::BitReverseRegisters { radix } => format!(" 2 {:x} {radix:x}", ntt_first_pass_blocks(log_n, radix)),
                    NttPass::BitReverseTiles => " 3 0 0".into(),
                });
            }
            for x in [shift, base, Fr::ONE, n_inv] {
                push_words(&mut input, &raw_words(&x));
            }
            if kind == 2 {
                let (table, h) = coset_power_tables(shift, log_n);
                input.push_str(&format!(" {h:x}"));
                push_words(&mut input, &table.iter().flat_map(raw_words).collect::<Vec<_>>());
            }
            push_words(&mut input, &values.iter().flat_map(raw_words).collect::<Vec<_>>());
            input.push('\n');
            ntt_cases.push((log_n, tiles, kind, want));
        }
    }
    // The bucket offsets' scan: one block, a partial block, and 293 blocks (more than the
    // totals' one-block scan has threads, so its threads take two totals each).
    let mut scan_expected = Vec::new();
    for len in [1usize, 2047, 2048, 2049, 600_000] {
        let counts: Vec<u32> = (0..len).map(|_| rng.gen_range(0..40)).collect();
        input.push_str(&format!("scan {len:x}"));
        push_words(&mut input, &counts);
        input.push('\n');
        let offsets: Vec<u32> = counts.iter().scan(0, |run, &v| Some(std::mem::replace(run, *run + v))).collect();
        scan_expected.push([offsets, vec![counts.iter().sum()]].concat());
    }
    let over_bases = |n| msm_plan(n, BaseTables::NONE, u64::MAX).unwrap();
    let mut msm_cases: Vec<(Vec<Fr>, Vec<G1Affine>, MsmPlan)> = [1usize, 2, 3, 17, 100, 256, 1000, 1024, 5000, 8192]
        .into_iter()
        .map(|n| {
            let (scalars, bases) = msm_inputs(n);
            (scalars, bases, over_bases(n))
        })
        .collect();
    // All scalars equal: one bucket a window, summed by many threads and joined.
    let (_, bases) = msm_inputs(1000);
    msm_cases.push((vec![Fr::ONE; 1000], bases.clone(), over_bases(1000)));
    msm_cases.push((vec![-Fr::from(3); 1000], bases.clone(), over_bases(1000)));
    // Over window tables: a table a window (one group), and 5 tables for 32 windows (7 groups,
    // the last of 2 windows); with the edge cases' bases (the identity among them).
    let full = MsmPlan::with_tables(BaseTables { bits: 10, count: 26 });
    let grouped = MsmPlan::with_tables(BaseTables { bits: 8, count: 5 });
    assert!(full.groups == 1 && grouped.groups == 7);
    for (n, plan) in [(1000, full), (1000, grouped), (17, full)] {
        let (scalars, bases) = msm_inputs(n);
        msm_cases.push((scalars, bases, plan));
    }
    msm_cases.push((vec![Fr::ONE; 1000], bases, full));
    let mut expected_msm = Vec::new();
    for (scalars, bases, plan) in &msm_cases {
        let n = scalars.len();
        let (levels, level_points) = reduction_levels(plan.c, plan.groups);
        input.push_str(&format!(
            "msm {n:x} {:x} {:x} {:x} {:x} {level_points:x} {:x}",
            plan.c,
            plan.windows,
            plan.tables,
            plan.groups,
            levels.len()
        ));
        for l in &levels {
            input.push_str(&format!(" {:x} {:x} {:x} {:x} {:x}", l.reads_buckets as u32, l.inputs, l.segment_len, l.input_at, l.output_at));
        }
        push_words(&mut input, &base_words(bases));
        push_words(&mut input, &scalars.iter().flat_map(raw_words).collect::<Vec<_>>());
        input.push('\n');
        expected_msm.push((n, *plan, naive_msm(scalars, bases).to_affine()));
    }

    for form in [0, 1] {
        let Some(driver) = Driver::build(form) else { return };
        let got = driver.run(&arith_input);
        assert_eq!(got.len(), 8 * arith.len(), "FIELD_MUL_PTX={form}: eight lines per case");
        for (case, got) in arith.iter().zip(got.chunks(8)) {
            case.check(got, form);
        }

        let got = driver.run(&input);
        assert_eq!(got.len(), ntt_cases.len() + scan_expected.len() + expected_msm.len(), "one line per command");
        for (line, (log_n, tiles, kind, want)) in got.iter().zip(&ntt_cases) {
            let got: Vec<Fr> = line.chunks(8).map(from_words).collect();
            assert!(
                got == *want,
                "FIELD_MUL_PTX={form}: NTT 2^{log_n} (tiles: {tiles}), kind {kind} (0 forward, 1 inverse, 2 coset) differs from the CPU"
            );
        }
        let (scans, msms) = got[ntt_cases.len()..].split_at(scan_expected.len());
        for (line, want) in scans.iter().zip(&scan_expected) {
            assert!(line == want, "FIELD_MUL_PTX={form}: the exclusive scan of {} counts", want.len() - 1);
        }
        for (line, (n, plan, want)) in msms.iter().zip(&expected_msm) {
            let sum: G1Affine = combine_groups(line, plan).unwrap().to_affine();
            assert_eq!(sum, *want, "FIELD_MUL_PTX={form}: MSM of {n} points ({plan:?}) differs from Σ k_i·P_i");
        }
    }
}

/// The plans: every stage once, in order, the first pass on bit-reversed reads; with tiles, the
/// bit reversal first, then the first tile takes the contiguous stages 0..10, later tiles at most
/// 8 stages and never more index bits below them than they cover.
#[test]
fn ntt_passes_cover_every_stage_once() {
    use NttPass::{BitReverseRegisters, BitReverseTiles, Registers, Tile};
    assert_eq!(ntt_passes(24, true), [BitReverseTiles, Tile { s: 0, k: 10 }, Tile { s: 10, k: 8 }, Tile { s: 18, k: 6 }]);
    assert_eq!(ntt_passes(20, true), [BitReverseTiles, Tile { s: 0, k: 10 }, Tile { s: 10, k: 8 }, Tile { s: 18, k: 2 }]);
    assert_eq!(ntt_passes(9, true), [BitReverseRegisters { radix: 3 }, Registers { s: 3, radix: 3 }, Registers { s: 6, radix: 3 }]);
    assert_eq!(ntt_passes(4, false), [BitReverseRegisters { radix: 3 }, Registers { s: 3, radix: 1 }]);
    assert_eq!(ntt_passes(2, false), [BitReverseRegisters { radix: 2 }]);
    assert_eq!(ntt_passes(0, true), []);
    for log_n in 1..=28 {
        for tiles in [false, true] {
            let plan = ntt_passes(log_n, tiles);
            let mut next = match plan[0] {
                BitReverseRegisters { radix } => radix,
                BitReverseTiles => 0,
                _ => panic!("2^{log_n}: the bit reversal first"),
            };
            for &pass in &plan[1..] {
                let (s, k) = match pass {
                    Registers { s, radix } => (s, radix),
                    Tile { s, k } => {
                        assert!(NTT_TILE_LOG - k <= s, "2^{log_n}: tile at stage {s} with {k} stages");
                        (s, k)
                    }
                    BitReverseRegisters { .. } | BitReverseTiles => panic!("2^{log_n}: a second bit reversal"),
                };
                assert_eq!(s, next, "2^{log_n}: passes in order, no stage skipped");
                assert!(k >= 1);
                next = s + k;
            }
            assert_eq!(next, log_n);
        }
    }
}
