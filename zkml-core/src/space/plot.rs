//! Plotting a unit to disk, and the [`Registration`] it yields (feature `plot`).
//!
//! A plot directory holds:
//! - `plot.meta`: the [`Registration`]; written last, so its presence means the plot is complete;
//! - `tree_r.bin`: the Poseidon tree over the last layer (whose leaves are the stored labels);
//! - `layers.bin` and `tree_c.bin`: every layer and the column tree, kept only until the
//!   initialization proof is made ([`Plot::discard_layers`]).
//!
//! While plotting, finished layers are appended to `layers.bin.partial` and synced, then
//! `plot.progress` (replica id, parameter digest, layers done) is replaced atomically. An
//! interrupted plot therefore resumes from its last finished layer; a directory holding another
//! replica's plot, finished or not, is refused.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use zkml_circuits::halo2_proofs::halo2curves::bn256::Fr;
use zkml_circuits::halo2_proofs::halo2curves::ff::PrimeField;

use super::identity::MAX_NODE_KEY_BYTES;
use super::labels::Labeler;
use super::tree::{self, TreeFile};
use super::registration::{column_step, Registration};
use super::{NodeIdentity, ReplicaId, SpaceParams};
use crate::artifacts::{read_file, write_atomic, write_atomic_with};
use crate::error::{Error, Result};

/// File names inside a plot directory.
pub mod files {
    /// The registration; present only when the plot is complete.
    pub const META: &str = "plot.meta";
    /// The Poseidon tree of the last layer.
    pub const TREE_R: &str = "tree_r.bin";
    /// All layers, layer by layer (until the initialization proof).
    pub const LAYERS: &str = "layers.bin";
    /// The column tree (until the initialization proof).
    pub const TREE_C: &str = "tree_c.bin";
    /// Layers finished so far, while plotting.
    pub const LAYERS_PARTIAL: &str = "layers.bin.partial";
    /// Plotting progress, while plotting.
    pub const PROGRESS: &str = "plot.progress";
}

/// Where plotting is, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotStage {
    /// Labelling layer `layer` (of `layers`); `done` of `total` nodes.
    Labels {
        /// The layer being labelled.
        layer: u32,
        /// All layers.
        layers: u32,
    },
    /// Hashing columns and building the column tree.
    ColumnTree,
    /// Building the tree over the last layer.
    ReplicaTree,
}

/// A plotted unit on disk.
#[derive(Debug)]
pub struct Plot {
    dir: PathBuf,
    registration: Registration,
}

/// Reports progress every this many nodes.
const PROGRESS_STEP: u64 = 1 << 14;

impl Plot {
    /// Plots a unit into `dir` (created if needed), resuming an interrupted plot of the same
    /// replica. Returns at once when `dir` already holds this replica's finished plot.
    /// `progress(stage, done, total)` is called as work advances.
    pub fn create(
        dir: &Path,
        params: &SpaceParams,
        identity: &NodeIdentity,
        mut progress: impl FnMut(PlotStage, u64, u64),
    ) -> Result<Plot> {
        params.validate()?;
        if identity.node_key.len() > MAX_NODE_KEY_BYTES {
            return Err(Error::InvalidParameters(format!("node key longer than {MAX_NODE_KEY_BYTES} bytes")));
        }
        fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let replica = identity.replica_id(params);
        if dir.join(files::META).exists() {
            let plot = Plot::open(dir)?;
            if plot.registration.params != *params || plot.registration.identity != *identity {
                return Err(plot_error(dir, "the directory holds the plot of another replica"));
            }
            return Ok(plot);
        }
        let nodes = params.nodes();
        let layer_bytes = nodes * 32;
        let partial_path = dir.join(files::LAYERS_PARTIAL);
        let progress_path = dir.join(files::PROGRESS);
        let mut done = match read_progress(&progress_path)? {
            Some((r, digest, done)) if r == replica.0 && digest == params.digest() => done.min(params.layers),
            Some(_) => return Err(plot_error(dir, "the directory holds an unfinished plot of another replica")),
            None => 0,
        };
        let mut layers_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&partial_path)
            .map_err(Error::io(&partial_path))?;
        let on_disk = layers_file.metadata().map_err(Error::io(&partial_path))?.len();
        if on_disk < u64::from(done) * layer_bytes {
            done = (on_disk / layer_bytes) as u32;
        }
        // Drop a half-written layer.
        layers_file.set_len(u64::from(done) * layer_bytes).map_err(Error::io(&partial_path))?;

        let labeler = Labeler::new(params, &replica);
        let mut previous = if done > 0 { Some(read_layer(&partial_path, &mut layers_file, done - 1, nodes)?) } else { None };
        for layer in done..params.layers {
            let stage = PlotStage::Labels { layer, layers: params.layers };
            progress(stage, 0, nodes);
            let labels = labeler.layer(layer, previous.as_deref(), nodes, |n| {
                if n % PROGRESS_STEP == 0 {
                    progress(stage, n, nodes)
                }
            });
            progress(stage, nodes, nodes);
            append_layer(&mut layers_file, &labels).map_err(Error::io(&partial_path))?;
            write_progress(&progress_path, &replica, params, layer + 1)?;
            previous = Some(labels);
        }

        progress(PlotStage::ColumnTree, 0, u64::from(params.layers));
        let mut columns: Vec<Fr> = Vec::new();
        for layer in 0..params.layers {
            let labels = read_layer(&partial_path, &mut layers_file, layer, nodes)?;
            if layer == 0 {
                columns = labels;
            } else {
                columns.par_iter_mut().zip(&labels).for_each(|(c, l)| *c = column_step(*c, *l));
            }
            progress(PlotStage::ColumnTree, u64::from(layer + 1), u64::from(params.layers));
        }
        let tree_c = tree::build(columns);
        let comm_c = tree_c[params.log_nodes as usize][0];
        write_atomic_with(&dir.join(files::TREE_C), |w| tree::write(&tree_c, w))?;
        drop(tree_c);

        progress(PlotStage::ReplicaTree, 0, 1);
        let last = previous.map_or_else(|| read_layer(&partial_path, &mut layers_file, params.layers - 1, nodes), Ok)?;
        let tree_r = tree::build(last);
        let comm_r = tree_r[params.log_nodes as usize][0];
        write_atomic_with(&dir.join(files::TREE_R), |w| tree::write(&tree_r, w))?;
        progress(PlotStage::ReplicaTree, 1, 1);

        drop(layers_file);
        fs::rename(&partial_path, dir.join(files::LAYERS)).map_err(Error::io(&partial_path))?;
        let registration = Registration { params: *params, identity: identity.clone(), comm_r, comm_c };
        write_atomic(&dir.join(files::META), &registration.to_bytes())?;
        fs::remove_file(&progress_path).map_err(Error::io(&progress_path))?;
        Ok(Plot { dir: dir.to_owned(), registration })
    }

    /// Opens a finished plot.
    pub fn open(dir: &Path) -> Result<Plot> {
        let meta = dir.join(files::META);
        if !meta.exists() {
            let reason = if dir.join(files::PROGRESS).exists() {
                "the plot is unfinished; run plotting again to resume it"
            } else {
                "no plot here (plot.meta is missing)"
            };
            return Err(plot_error(dir, reason));
        }
        let registration = Registration::from_bytes(&read_file(&meta)?)?;
        Ok(Plot { dir: dir.to_owned(), registration })
    }

    /// The unit's registration.
    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    /// The plot directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether all layers are still on disk (needed for the initialization proof).
    pub fn has_layers(&self) -> bool {
        self.dir.join(files::LAYERS).exists() && self.dir.join(files::TREE_C).exists()
    }

    /// Deletes every layer but the last (call after the initialization proof is made).
    pub fn discard_layers(&self) -> Result<()> {
        for name in [files::LAYERS, files::TREE_C] {
            let path = self.dir.join(name);
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io(path)(e)),
                _ => {}
            }
        }
        Ok(())
    }

    /// The tree over the last layer.
    pub(super) fn replica_tree(&self) -> Result<TreeFile> {
        TreeFile::open(&self.dir.join(files::TREE_R), self.registration.params.log_nodes)
    }

    /// The column tree and the layers file, for the initialization proof.
    pub(super) fn columns(&self) -> Result<(TreeFile, LayerFile)> {
        if !self.has_layers() {
            return Err(plot_error(&self.dir, "the layers were discarded: the initialization proof can no longer be made"));
        }
        let params = &self.registration.params;
        let tree = TreeFile::open(&self.dir.join(files::TREE_C), params.log_nodes)?;
        let path = self.dir.join(files::LAYERS);
        let file = File::open(&path).map_err(Error::io(&path))?;
        let expected = u64::from(params.layers) * params.nodes() * 32;
        if file.metadata().map_err(Error::io(&path))?.len() != expected {
            return Err(plot_error(&path, "the layers file has the wrong length: the plot is damaged"));
        }
        Ok((tree, LayerFile { file, path, params: *params }))
    }
}

/// All layers of a plot, for reading columns.
pub(super) struct LayerFile {
    file: File,
    path: PathBuf,
    params: SpaceParams,
}

impl LayerFile {
    /// Node `v`'s labels in every layer.
    pub(super) fn column(&self, v: u64) -> Result<Vec<Fr>> {
        (0..u64::from(self.params.layers))
            .map(|l| {
                let mut repr = [0u8; 32];
                let offset = (l * self.params.nodes() + v) * 32;
                tree::read_at(&self.file, &mut repr, offset).map_err(Error::io(&self.path))?;
                Option::from(Fr::from_repr(repr)).ok_or_else(|| plot_error(&self.path, "a label is not a field element"))
            })
            .collect()
    }
}

fn plot_error(path: &Path, reason: &str) -> Error {
    Error::Plot { path: path.to_owned(), reason: reason.into() }
}

fn append_layer(file: &mut File, labels: &[Fr]) -> std::io::Result<()> {
    use std::io::Seek;
    file.seek(std::io::SeekFrom::End(0))?;
    let mut w = std::io::BufWriter::new(&mut *file);
    for l in labels {
        w.write_all(&l.to_repr())?;
    }
    w.flush()?;
    drop(w);
    file.sync_data()
}

fn read_layer(path: &Path, file: &mut File, layer: u32, nodes: u64) -> Result<Vec<Fr>> {
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(u64::from(layer) * nodes * 32)).map_err(Error::io(path))?;
    let mut r = std::io::BufReader::new(&mut *file);
    let mut labels = Vec::with_capacity(nodes as usize);
    let mut repr = [0u8; 32];
    for _ in 0..nodes {
        r.read_exact(&mut repr).map_err(Error::io(path))?;
        labels.push(Option::from(Fr::from_repr(repr)).ok_or_else(|| plot_error(path, "a label is not a field element"))?);
    }
    Ok(labels)
}

fn write_progress(path: &Path, replica: &ReplicaId, params: &SpaceParams, done: u32) -> Result<()> {
    let mut bytes = replica.0.to_repr().to_vec();
    bytes.extend_from_slice(&params.digest());
    bytes.extend_from_slice(&done.to_le_bytes());
    write_atomic(path, &bytes)
}

fn read_progress(path: &Path) -> Result<Option<(Fr, [u8; 32], u32)>> {
    if !path.exists() {
        return Ok(None);
    }
    let bytes = read_file(path)?;
    let damaged = || plot_error(path, "the progress file is damaged; delete the directory and plot again");
    if bytes.len() != 68 {
        return Err(damaged());
    }
    let replica = Option::from(Fr::from_repr(bytes[..32].try_into().expect("32 bytes"))).ok_or_else(damaged)?;
    let digest = bytes[32..64].try_into().expect("32 bytes");
    let done = u32::from_le_bytes(bytes[64..].try_into().expect("4 bytes"));
    Ok(Some((replica, digest, done)))
}
