//! Host-visible staging buffers that live as long as the device, for the large copies between
//! host and device.
//!
//! wgpu's own upload paths make a staging buffer per call (`create_buffer_init` also fills it
//! with zeros before the data goes in), and a readback needed a buffer of its own too. On a
//! discrete GPU that staging memory is pinned host memory, which is slow to allocate: on the H100
//! the wgpu uploads ran at 2.5 GB/s, where CUDA copied from pageable memory at 5.6–7.7 GB/s. Here
//! each direction keeps [`SLOTS`] buffers of [`STAGING_BYTES`], and a transfer goes through them
//! in chunks, taking them in turn, so that the host copies one chunk while the device copies the
//! one before.

use std::collections::VecDeque;
use std::sync::mpsc::{channel, Receiver, TryRecvError};
use std::sync::Mutex;

use crate::Error;

/// Bytes of one staging buffer. The tests use small ones, so that their transfers cross many
/// chunk borders.
#[cfg(not(test))]
pub(super) const STAGING_BYTES: u64 = 8 << 20;
#[cfg(test)]
pub(super) const STAGING_BYTES: u64 = 4 << 10;

/// Staging buffers per direction: one filled or drained by the host while the device copies
/// the other.
const SLOTS: usize = 2;

/// What a buffer's `map_async` reports when it completes.
type Mapping = Receiver<Result<(), wgpu::BufferAsyncError>>;

/// An upload buffer and, while the device may still be copying out of it, the submission that
/// does and the mapping requested after it.
struct UploadSlot {
    buffer: wgpu::Buffer,
    pending: Option<(wgpu::SubmissionIndex, Mapping)>,
}

/// The staging buffers of one device, made on first use. A transfer takes them out of their
/// mutex for its duration; one that fails leaves them in an unknown mapping state, so they are
/// dropped and made anew by the next.
pub(super) struct Staging {
    uploads: Mutex<Option<Vec<UploadSlot>>>,
    downloads: Mutex<Option<Vec<wgpu::Buffer>>>,
}

impl Staging {
    pub(super) fn new() -> Self {
        Staging { uploads: Mutex::new(None), downloads: Mutex::new(None) }
    }

    /// Copies `bytes` (a multiple of 4 long) into `dst` from byte `offset` on. Returns once the
    /// last chunk's copy is submitted: later submissions see the data.
    pub(super) fn upload(&self, device: &wgpu::Device, queue: &wgpu::Queue, dst: &wgpu::Buffer, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        let mut guard = self.uploads.lock().map_err(|_| Error::Device("upload staging poisoned".into()))?;
        let mut slots = guard.take().unwrap_or_else(|| {
            (0..SLOTS)
                .map(|_| UploadSlot {
                    buffer: device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("upload staging"),
                        size: STAGING_BYTES,
                        usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
                        mapped_at_creation: true,
                    }),
                    pending: None,
                })
                .collect()
        });
        for (i, chunk) in bytes.chunks(STAGING_BYTES as usize).enumerate() {
            let slot = &mut slots[i % SLOTS];
            if let Some((index, mapping)) = slot.pending.take() {
                wait(device, index, mapping, "mapping the upload staging")?;
            }
            let len = chunk.len() as u64;
            slot.buffer
                .slice(..len)
                .get_mapped_range_mut()
                .map_err(|e| Error::Device(format!("writing the upload staging: {e}")))?
                .copy_from_slice(chunk);
            slot.buffer.unmap();
            let mut encoder = device.create_command_encoder(&Default::default());
            encoder.copy_buffer_to_buffer(&slot.buffer, 0, dst, offset + i as u64 * STAGING_BYTES, len);
            let index = queue.submit([encoder.finish()]);
            // Mapped again once this copy is done, ready for the next chunk that comes here.
            slot.pending = Some((index, map(slot.buffer.slice(..), wgpu::MapMode::Write)));
        }
        *guard = Some(slots);
        Ok(())
    }

    /// Submits `encoder` with copies of the `(buffer, first byte, bytes)` regions, waits for the
    /// device, and writes the regions one after another into `out` (exactly as long as they are).
    /// With nothing to read it only submits and waits.
    pub(super) fn download(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: wgpu::CommandEncoder,
        regions: &[(&wgpu::Buffer, u64, u64)],
        out: &mut [u8],
    ) -> Result<(), Error> {
        let total: u64 = regions.iter().map(|(_, _, bytes)| bytes).sum();
        if total != out.len() as u64 {
            return Err(Error::InvalidInput(format!("reading back {total} bytes into {}", out.len())));
        }
        if total == 0 {
            queue.submit([encoder.finish()]);
            return device.poll(wgpu::PollType::wait_indefinitely()).map(drop).map_err(|e| Error::Device(format!("waiting for the device: {e}")));
        }
        let mut guard = self.downloads.lock().map_err(|_| Error::Device("download staging poisoned".into()))?;
        let slots = guard.take().unwrap_or_else(|| {
            (0..SLOTS)
                .map(|_| {
                    device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("download staging"),
                        size: STAGING_BYTES,
                        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    })
                })
                .collect::<Vec<_>>()
        });
        let chunks = regions.iter().flat_map(|&(buffer, first, bytes)| {
            (0..bytes).step_by(STAGING_BYTES as usize).map(move |at| (buffer, first + at, (bytes - at).min(STAGING_BYTES)))
        });
        // The chunks copied and not yet read: (slot, bytes, submission, mapping).
        let mut in_flight: VecDeque<(usize, u64, wgpu::SubmissionIndex, Mapping)> = VecDeque::new();
        let mut read = 0usize;
        let mut read_one = |(slot, len, index, mapping): (usize, u64, wgpu::SubmissionIndex, Mapping)| -> Result<(), Error> {
            wait(device, index, mapping, "reading back")?;
            let buffer: &wgpu::Buffer = &slots[slot];
            let mapped = buffer.slice(..len).get_mapped_range().map_err(|e| Error::Device(format!("mapping the readback: {e}")))?;
            out[read..read + len as usize].copy_from_slice(&mapped);
            drop(mapped);
            buffer.unmap();
            read += len as usize;
            Ok(())
        };
        let mut encoder = Some(encoder);
        for (i, (buffer, first, len)) in chunks.enumerate() {
            if in_flight.len() == SLOTS {
                read_one(in_flight.pop_front().unwrap())?;
            }
            let slot = i % SLOTS;
            // The first chunk's copy goes with the work that produces the values.
            let mut e = encoder.take().unwrap_or_else(|| device.create_command_encoder(&Default::default()));
            e.copy_buffer_to_buffer(buffer, first, &slots[slot], 0, len);
            let index = queue.submit([e.finish()]);
            in_flight.push_back((slot, len, index, map(slots[slot].slice(..len), wgpu::MapMode::Read)));
        }
        while let Some(chunk) = in_flight.pop_front() {
            read_one(chunk)?;
        }
        *guard = Some(slots);
        Ok(())
    }
}

/// Requests a mapping of `slice`; the receiver reports when it is done.
fn map(slice: wgpu::BufferSlice<'_>, mode: wgpu::MapMode) -> Mapping {
    let (sender, receiver) = channel();
    slice.map_async(mode, move |result| {
        let _ = sender.send(result);
    });
    receiver
}

/// Waits for submission `index` and then for `mapping` (whose callback a poll runs).
fn wait(device: &wgpu::Device, index: wgpu::SubmissionIndex, mapping: Mapping, what: &str) -> Result<(), Error> {
    let mut poll = wgpu::PollType::Wait { submission_index: Some(index), timeout: None };
    loop {
        match mapping.try_recv() {
            Ok(result) => return result.map_err(|e| Error::Device(format!("{what}: {e}"))),
            Err(TryRecvError::Disconnected) => return Err(Error::Device(format!("{what}: the mapping was dropped"))),
            Err(TryRecvError::Empty) => {
                device.poll(poll).map_err(|e| Error::Device(format!("waiting for the device: {e}")))?;
                poll = wgpu::PollType::wait_indefinitely();
            }
        }
    }
}
