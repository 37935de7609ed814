//! The binary format of Proof-of-Space artifacts.
//!
//! Every artifact starts with a 7-byte header: the magic `ZKSP`, the format version
//! ([`VERSION`], u16 little-endian) and a kind byte ([`Kind`]). Integers are little-endian;
//! field elements are 32 bytes, little-endian, and must be canonical (below the BN254 scalar
//! modulus); byte strings and lists carry a u32 length. Decoders read exactly the artifact:
//! trailing bytes, a wrong kind or version, or a non-canonical element are errors.

use zkml_circuits::halo2_proofs::halo2curves::bn256::Fr;
use zkml_circuits::halo2_proofs::halo2curves::ff::PrimeField;

use super::{Beacon, SpaceParams};
use crate::error::{Error, Result};

/// Magic bytes at the start of every artifact.
pub const MAGIC: [u8; 4] = *b"ZKSP";
/// Format version written and accepted.
pub const VERSION: u16 = 1;

/// What an artifact is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// [`super::SpaceParams`].
    Params = 1,
    /// [`super::Registration`].
    Registration = 2,
    /// [`super::InitProof`].
    InitProof = 3,
    /// [`super::StorageProof`].
    StorageProof = 4,
    /// [`super::CompressedProof`].
    CompressedProof = 5,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        [Kind::Params, Kind::Registration, Kind::InitProof, Kind::StorageProof, Kind::CompressedProof]
            .into_iter()
            .find(|k| *k as u8 == b)
    }

    fn name(self) -> String {
        match self {
            Kind::Params => "space parameters",
            Kind::Registration => "a registration",
            Kind::InitProof => "an initialization proof",
            Kind::StorageProof => "a storage proof",
            Kind::CompressedProof => "a compressed storage proof",
        }
        .into()
    }
}

/// Writes an artifact.
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// Starts an artifact of `kind`.
    pub fn new(kind: Kind) -> Encoder {
        let mut buf = MAGIC.to_vec();
        buf.extend_from_slice(&VERSION.to_le_bytes());
        buf.push(kind as u8);
        Encoder { buf }
    }

    /// Starts a proof of `kind` made under `params` for `beacon`: every proof names both, so
    /// one made for other parameters is refused before anything else is read.
    pub fn proof(kind: Kind, params: &SpaceParams, beacon: &Beacon) -> Encoder {
        let mut e = Encoder::new(kind);
        e.raw(&params.digest()).raw(&beacon.0);
        e
    }

    /// A byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// A u32.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A u64.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Fixed-size bytes, no length.
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(v);
        self
    }

    /// Bytes with a u32 length.
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(v.len() as u32).raw(v)
    }

    /// A field element.
    pub fn fr(&mut self, v: &Fr) -> &mut Self {
        self.raw(&v.to_repr())
    }

    /// The finished artifact.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// Reads an artifact, naming it in every error.
pub struct Decoder<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Decoder<'a> {
    /// Checks the header of an artifact of `kind` called `what` in errors.
    pub fn new(bytes: &'a [u8], kind: Kind, what: &'static str) -> Result<Decoder<'a>> {
        let mut d = Decoder { rest: bytes, what };
        if d.take(4)? != MAGIC {
            return Err(d.error("not a Proof-of-Space artifact (bad magic)"));
        }
        let version = u16::from_le_bytes(d.array()?);
        if version != VERSION {
            return Err(d.error(format!("format version {version}, this build reads version {VERSION}")));
        }
        let found = d.u8()?;
        if found != kind as u8 {
            let name = Kind::from_byte(found).map_or_else(|| format!("an unknown artifact (kind {found})"), Kind::name);
            return Err(d.error(format!("this file holds {name}, not {}", kind.name())));
        }
        Ok(d)
    }

    /// Reads the start of a proof written by [`Encoder::proof`] for `params`; returns the
    /// beacon it answers.
    pub fn proof(bytes: &'a [u8], kind: Kind, what: &'static str, params: &SpaceParams) -> Result<(Decoder<'a>, Beacon)> {
        let mut d = Decoder::new(bytes, kind, what)?;
        if d.array::<32>()? != params.digest() {
            return Err(d.error("made for other space parameters"));
        }
        let beacon = Beacon(d.array()?);
        Ok((d, beacon))
    }

    /// A decoding error about this artifact.
    pub fn error(&self, reason: impl Into<String>) -> Error {
        Error::Decode { what: self.what, reason: reason.into() }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.rest.len() < n {
            return Err(self.error("truncated"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    /// Fixed-size bytes.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("length taken"))
    }

    /// A byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    /// A u32.
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A u64.
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Bytes with a u32 length of at most `max`.
    pub fn bytes(&mut self, max: usize) -> Result<Vec<u8>> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(self.error(format!("a length of {len} bytes exceeds the limit of {max}")));
        }
        Ok(self.take(len)?.to_vec())
    }

    /// A list length of at most `max` (checked before anything is allocated).
    pub fn len(&mut self, max: usize) -> Result<usize> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(self.error(format!("a list of {len} entries exceeds the limit of {max}")));
        }
        Ok(len)
    }

    /// A canonical field element.
    pub fn fr(&mut self) -> Result<Fr> {
        let repr: [u8; 32] = self.array()?;
        Option::from(Fr::from_repr(repr)).ok_or_else(|| self.error("non-canonical field element"))
    }

    /// Ends decoding; trailing bytes are an error.
    pub fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.error(format!("{} trailing bytes", self.rest.len())))
        }
    }
}
