//! The CPU backend: halo2curves' multi-threaded FFT. It is also the reference the GPU backends
//! are tested against.

use halo2curves::bn256::Fr;
use halo2curves::fft::best_fft;
use rayon::prelude::*;

use crate::backend::{log_size, powers, root_of_unity, NttBackend};
use crate::Error;

/// Transforms on the CPU.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

impl NttBackend for CpuBackend {
    fn describe(&self) -> String {
        format!("cpu ({} threads)", rayon::current_num_threads())
    }

    fn ntt(&self, values: &mut [Fr]) -> Result<(), Error> {
        let log_n = log_size(values.len())?;
        best_fft(values, root_of_unity(log_n), log_n);
        Ok(())
    }

    fn intt(&self, values: &mut [Fr]) -> Result<(), Error> {
        let log_n = log_size(values.len())?;
        best_fft(values, root_of_unity(log_n).invert().unwrap(), log_n);
        let n_inv = Fr::from(values.len() as u64).invert().unwrap();
        values.par_iter_mut().for_each(|v| *v *= n_inv);
        Ok(())
    }

    fn coset_ntt(&self, values: &mut [Fr], shift: Fr) -> Result<(), Error> {
        log_size(values.len())?;
        let factors = powers(shift, values.len());
        values.par_iter_mut().zip(factors).for_each(|(v, s)| *v *= s);
        self.ntt(values)
    }
}
