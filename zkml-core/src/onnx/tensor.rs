//! Dense tensors of any element type and the shape operators on them. The importer uses them
//! for constants (`f64`) and for computed values (affine rows), so every shape operator is
//! written once.

use crate::error::{Error, Result};

/// A row-major tensor.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Tensor<T> {
    pub shape: Vec<usize>,
    pub data: Vec<T>,
}

/// Row-major strides of `shape`.
pub(super) fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// The multi-index of flat position `i` in `shape`.
pub(super) fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d].max(1);
        i /= shape[d].max(1);
    }
    idx
}

/// Numpy broadcasting of two shapes.
pub(super) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| if i + s.len() >= rank { s[i + s.len() - rank] } else { 1 };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(Error::UnsupportedModel(format!("shapes {a:?} and {b:?} do not broadcast"))),
        })
        .collect()
}

/// Normalizes a possibly negative axis.
pub(super) fn axis(a: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if a < -r || a >= r.max(1) {
        return Err(Error::UnsupportedModel(format!("axis {a} is out of range for rank {rank}")));
    }
    Ok(if a < 0 { a + r } else { a } as usize)
}

impl<T: Clone> Tensor<T> {
    pub fn new(shape: Vec<usize>, data: Vec<T>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Self { shape, data }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Builds a tensor of `shape` whose element at each multi-index is `f(index)`.
    pub fn from_fn(shape: Vec<usize>, mut f: impl FnMut(&[usize]) -> T) -> Self {
        let n = shape.iter().product();
        let data = (0..n).map(|i| f(&unravel(i, &shape))).collect();
        Self { shape, data }
    }

    /// The element at a multi-index.
    pub fn at(&self, idx: &[usize]) -> &T {
        let s = strides(&self.shape);
        &self.data[idx.iter().zip(&s).map(|(i, s)| i * s).sum::<usize>()]
    }

    pub fn reshape(self, shape: Vec<usize>) -> Self {
        Self { shape, data: self.data }
    }

    /// This tensor broadcast to `shape` (which must be a broadcast of its shape).
    pub fn broadcast_to(&self, shape: &[usize]) -> Self {
        let offset = shape.len() - self.shape.len();
        Self::from_fn(shape.to_vec(), |idx| {
            let src: Vec<usize> =
                self.shape.iter().enumerate().map(|(d, n)| if *n == 1 { 0 } else { idx[d + offset] }).collect();
            self.at(&src).clone()
        })
    }

    pub fn transpose(&self, perm: &[usize]) -> Result<Self> {
        let mut seen = vec![false; self.shape.len()];
        if perm.len() != self.shape.len() || perm.iter().any(|p| *p >= seen.len() || std::mem::replace(&mut seen[*p], true)) {
            return Err(Error::UnsupportedModel(format!("invalid permutation {perm:?} for shape {:?}", self.shape)));
        }
        let shape = perm.iter().map(|p| self.shape[*p]).collect();
        Ok(Self::from_fn(shape, |idx| {
            let mut src = vec![0; idx.len()];
            for (d, p) in perm.iter().enumerate() {
                src[*p] = idx[d];
            }
            self.at(&src).clone()
        }))
    }

    /// Elements `start, start + step, …` (before `end`) along `axis`; `step` may be negative.
    pub fn slice(&self, axis: usize, start: i64, end: i64, step: i64) -> Result<Self> {
        if step == 0 {
            return Err(Error::UnsupportedModel("slice step 0".into()));
        }
        let n = self.shape[axis] as i64;
        let clamp = |v: i64, lo: i64, hi: i64| if v < 0 { v + n } else { v }.clamp(lo, hi);
        let picked: Vec<usize> = if step > 0 {
            let (s, e) = (clamp(start, 0, n), clamp(end, 0, n));
            (s..e).step_by(step as usize).map(|i| i as usize).collect()
        } else {
            let (s, e) = (clamp(start, -1, n - 1), clamp(end, -1, n - 1));
            let mut v = Vec::new();
            let mut i = s;
            while i > e {
                v.push(i as usize);
                i += step;
            }
            v
        };
        Ok(self.gather(axis, &picked, &[picked.len()]))
    }

    /// Picks `indices` (of shape `index_shape`) along `axis`, like ONNX `Gather`.
    pub fn gather(&self, axis: usize, indices: &[usize], index_shape: &[usize]) -> Self {
        let shape: Vec<usize> =
            self.shape[..axis].iter().chain(index_shape).chain(&self.shape[axis + 1..]).copied().collect();
        let k = index_shape.len();
        Self::from_fn(shape, |idx| {
            let flat = idx[axis..axis + k].iter().zip(strides(index_shape)).map(|(i, s)| i * s).sum::<usize>();
            let src: Vec<usize> =
                idx[..axis].iter().chain(std::iter::once(&indices[flat])).chain(&idx[axis + k..]).copied().collect();
            self.at(&src).clone()
        })
    }

    pub fn concat(parts: &[Self], axis: usize) -> Result<Self> {
        let first = &parts[0];
        let mut shape = first.shape.clone();
        shape[axis] = 0;
        for p in parts {
            let same = p.shape.len() == shape.len()
                && p.shape.iter().enumerate().all(|(d, n)| d == axis || *n == first.shape[d]);
            if !same {
                return Err(Error::UnsupportedModel(format!("cannot concatenate shapes {:?} and {:?}", first.shape, p.shape)));
            }
            shape[axis] += p.shape[axis];
        }
        let starts: Vec<usize> = parts.iter().scan(0, |acc, p| Some(std::mem::replace(acc, *acc + p.shape[axis]))).collect();
        Ok(Self::from_fn(shape, |idx| {
            let part = starts.iter().rposition(|s| *s <= idx[axis]).expect("axis index has a part");
            let mut src = idx.to_vec();
            src[axis] -= starts[part];
            parts[part].at(&src).clone()
        }))
    }

    /// Pads with `fill`: `pads` holds the begins of every axis, then the ends (ONNX order).
    pub fn pad(&self, pads: &[usize], fill: T) -> Self {
        let rank = self.shape.len();
        let shape = (0..rank).map(|d| self.shape[d] + pads[d] + pads[d + rank]).collect();
        Self::from_fn(shape, |idx| {
            let src: Option<Vec<usize>> = (0..rank)
                .map(|d| idx[d].checked_sub(pads[d]).filter(|i| *i < self.shape[d]))
                .collect();
            src.map_or_else(|| fill.clone(), |s| self.at(&s).clone())
        })
    }
}
