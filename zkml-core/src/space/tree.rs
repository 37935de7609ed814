//! Poseidon Merkle trees over field elements ([`merkle_parent`] of the storage circuit), in
//! memory and on disk.
//!
//! On disk a tree is its levels from the leaves up, each node as 32 canonical bytes: `2N − 1`
//! nodes for `N` leaves. Openings read `1 + log2 N` nodes with positioned reads.

use rayon::prelude::*;
use zkml_circuits::chips::merkle_parent;
use zkml_circuits::halo2_proofs::halo2curves::bn256::Fr;
use zkml_circuits::halo2_proofs::halo2curves::ff::PrimeField;

#[cfg(feature = "plot")]
pub use file::TreeFile;
#[cfg(feature = "plot")]
pub(in crate::space) use file::read_at;

/// Builds every level above `leaves` (a power of two), in parallel within each level.
pub fn build(leaves: Vec<Fr>) -> Vec<Vec<Fr>> {
    assert!(leaves.len().is_power_of_two());
    let mut levels = vec![leaves];
    while levels.last().expect("nonempty").len() > 1 {
        let next = levels.last().expect("nonempty").par_chunks(2).map(|p| merkle_parent(p[0], p[1])).collect();
        levels.push(next);
    }
    levels
}

/// The root a leaf's path leads to (`siblings` from the leaf level up).
pub fn root_from_path(leaf: Fr, index: u64, siblings: &[Fr]) -> Fr {
    siblings.iter().enumerate().fold(leaf, |node, (level, sib)| {
        if (index >> level) & 1 == 0 {
            merkle_parent(node, *sib)
        } else {
            merkle_parent(*sib, node)
        }
    })
}

/// Writes `levels` as a tree file (the caller makes it atomic).
pub fn write(levels: &[Vec<Fr>], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1 << 20);
    for node in levels.iter().flatten() {
        buf.extend_from_slice(&node.to_repr());
        if buf.len() >= 1 << 20 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)
}

/// Tree files (feature `plot`).
#[cfg(feature = "plot")]
mod file {
    use std::fs::File;
    use std::path::{Path, PathBuf};

    use zkml_circuits::halo2_proofs::halo2curves::bn256::Fr;
    use zkml_circuits::halo2_proofs::halo2curves::ff::PrimeField;

    use crate::error::{Error, Result};

    /// A tree file opened for reading paths.
    #[derive(Debug)]
    pub struct TreeFile {
        file: File,
        path: PathBuf,
        depth: u32,
    }

    impl TreeFile {
        /// Opens the tree of `2^depth` leaves stored at `path`, checking its length.
        pub fn open(path: &Path, depth: u32) -> Result<TreeFile> {
            let file = File::open(path).map_err(Error::io(path))?;
            let len = file.metadata().map_err(Error::io(path))?.len();
            let expected = ((2u64 << depth) - 1) * 32;
            if len != expected {
                return Err(Error::Plot {
                    path: path.to_owned(),
                    reason: format!("tree file has {len} bytes, expected {expected}: the plot is damaged"),
                });
            }
            Ok(TreeFile { file, path: path.to_owned(), depth })
        }

        fn node(&self, level: u32, index: u64) -> Result<Fr> {
            let level_start: u64 = (0..level).map(|l| 1u64 << (self.depth - l)).sum();
            let mut repr = [0u8; 32];
            read_at(&self.file, &mut repr, (level_start + index) * 32).map_err(Error::io(&self.path))?;
            Option::from(Fr::from_repr(repr)).ok_or_else(|| Error::Plot {
                path: self.path.clone(),
                reason: format!("node {index} of level {level} is not a field element: the plot is damaged"),
            })
        }

        /// The root.
        pub fn root(&self) -> Result<Fr> {
            self.node(self.depth, 0)
        }

        /// A leaf and its siblings from the leaf level up.
        pub fn open_leaf(&self, index: u64) -> Result<(Fr, Vec<Fr>)> {
            let leaf = self.node(0, index)?;
            let siblings = (0..self.depth).map(|l| self.node(l, (index >> l) ^ 1)).collect::<Result<_>>()?;
            Ok((leaf, siblings))
        }
    }

    #[cfg(unix)]
    pub(in crate::space) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }

    #[cfg(windows)]
    pub(in crate::space) fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
        use std::os::windows::fs::FileExt;
        while !buf.is_empty() {
            match file.seek_read(buf, offset)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
}
