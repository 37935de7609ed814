//! The CPU backend: halo2curves' multi-threaded FFT and MSM. It is also the reference the GPU backends
//! are tested against.

use halo2curves::bn256::{Fr, G1Affine, G1};
use halo2curves::fft::best_fft;
use halo2curves::msm::msm_best;
use rayon::prelude::*;

use crate::backend::{log_size, powers, root_of_unity, MsmBackend, NttBackend, ResidentBases, Transform};
use crate::Error;

/// Transforms on the CPU.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

impl NttBackend for CpuBackend {
    fn describe(&self) -> String {
        format!("cpu ({} threads)", rayon::current_num_threads())
    }

    fn run(&self, values: &mut [Fr], transform: Transform) -> Result<(), Error> {
        let log_n = log_size(values.len())?;
        let omega = root_of_unity(log_n);
        match transform {
            Transform::Forward => best_fft(values, omega, log_n),
            Transform::Inverse => {
                best_fft(values, omega.invert().unwrap(), log_n);
                let n_inv = Fr::from(values.len() as u64).invert().unwrap();
                values.par_iter_mut().for_each(|v| *v *= n_inv);
            }
            Transform::Coset(shift) => {
                let factors = powers(shift, values.len());
                values.par_iter_mut().zip(factors).for_each(|(v, s)| *v *= s);
                best_fft(values, omega, log_n);
            }
        }
        Ok(())
    }
}

impl MsmBackend for CpuBackend {
    fn describe(&self) -> String {
        NttBackend::describe(self)
    }

    fn load_bases(&self, bases: &[G1Affine]) -> Result<Box<dyn ResidentBases>, Error> {
        Ok(Box::new(CpuBases(bases.to_vec())))
    }
}

/// Bases in host memory.
pub struct CpuBases(Vec<G1Affine>);

impl ResidentBases for CpuBases {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn msm(&self, scalars: &[Fr]) -> Result<G1, Error> {
        if scalars.len() > self.0.len() {
            return Err(Error::InvalidInput(format!("{} scalars for {} bases", scalars.len(), self.0.len())));
        }
        Ok(msm_best(scalars, &self.0[..scalars.len()]))
    }
}
