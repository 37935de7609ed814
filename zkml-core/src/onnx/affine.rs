//! Computed tensors as affine maps over the value table, and the layers they become.
//!
//! Every computed element is a [`FloatRow`]: `Σ w·v` over values already in the table. Linear
//! operators (convolution, pooling by averaging, batch normalization, matrix products with a
//! constant, sums, shape changes) only rewrite rows, so chains of them fold into the next layer
//! for free. A nonlinearity *materializes* its input rows as a layer with ReLU; `max` and
//! friends are built from ReLU (`max(a, b) = b + relu(a − b)`), so they cost one requantization
//! per comparison and no lookup table.

use zkml_circuits::quantized::{PairRow, ONE};
use zkml_circuits::Activation;

use super::tensor::Tensor;
use crate::float_model::{FloatLayer, FloatOp, FloatRow};

/// A computed tensor: one affine row per element.
pub(super) type Affine = Tensor<FloatRow>;

/// Sums `Σ c·row`, merging terms on the same value and dropping zero weights.
pub(super) fn combine<'a>(parts: impl IntoIterator<Item = (f64, &'a FloatRow)>) -> FloatRow {
    let mut terms: Vec<(u32, f64)> = parts.into_iter().flat_map(|(c, row)| row.iter().map(move |(v, w)| (*v, c * w))).collect();
    terms.sort_unstable_by_key(|(v, _)| *v);
    let mut out: FloatRow = Vec::with_capacity(terms.len());
    for (v, w) in terms {
        match out.last_mut() {
            Some(last) if last.0 == v => last.1 += w,
            _ => out.push((v, w)),
        }
    }
    out.retain(|(_, w)| *w != 0.0);
    out
}

/// The constant `c` as a row.
pub(super) fn constant(c: f64) -> FloatRow {
    if c == 0.0 {
        Vec::new()
    } else {
        vec![(ONE, c)]
    }
}

/// The layers built so far and the next free value index.
pub(super) struct Layers {
    pub layers: Vec<FloatLayer>,
    pub next: u32,
}

impl Layers {
    /// Starts after the value table's `ONE` and `input_len` inputs.
    pub fn new(input_len: usize) -> Self {
        Self { layers: Vec::new(), next: 1 + input_len as u32 }
    }

    /// The model input as identity rows.
    pub fn input(shape: Vec<usize>) -> Affine {
        let n: usize = shape.iter().product();
        Tensor::new(shape, (0..n).map(|i| vec![(1 + i as u32, 1.0)]).collect())
    }

    /// Turns `rows` into a layer with `activation`; returns rows reading its outputs.
    pub fn materialize(&mut self, name: &str, rows: Vec<FloatRow>, activation: Activation) -> Vec<FloatRow> {
        let outputs = rows.len();
        self.push(FloatLayer { name: name.into(), op: FloatOp::Affine(rows), activation }, outputs)
    }

    /// A product layer: output `o` is `Σ a·b` over `pairs[o]`; returns rows reading its outputs.
    pub fn product(&mut self, name: &str, pairs: Vec<PairRow>, activation: Activation) -> Vec<FloatRow> {
        let outputs = pairs.len();
        self.push(FloatLayer { name: name.into(), op: FloatOp::Product(pairs), activation }, outputs)
    }

    /// Appends a layer of `outputs` values; returns identity rows reading them.
    fn push(&mut self, layer: FloatLayer, outputs: usize) -> Vec<FloatRow> {
        let first = self.next;
        self.next += outputs as u32;
        self.layers.push(layer);
        (first..self.next).map(|v| vec![(v, 1.0)]).collect()
    }

    /// Every element of `x` as one value of the table and a common factor: `x = c·values`.
    /// Rows that are not all `c·v` for one `c` are materialized first (as a linear layer).
    pub fn operand(&mut self, name: &str, x: &Affine) -> (Vec<u32>, f64) {
        let single = |r: &FloatRow| match r[..] {
            [(v, c)] if v != ONE => Some((v, c)),
            _ => None,
        };
        let factor = x.data.first().and_then(single).map(|(_, c)| c);
        if let Some(c) = factor {
            if let Some(values) = x.data.iter().map(|r| single(r).filter(|(_, w)| *w == c).map(|(v, _)| v)).collect() {
                return (values, c);
            }
        }
        let rows = self.materialize(&format!("{name} (operand)"), x.data.clone(), Activation::Linear);
        (rows.iter().map(|r| r[0].0).collect(), 1.0)
    }

    /// `relu` of every element.
    pub fn relu(&mut self, name: &str, x: &Affine) -> Affine {
        Tensor::new(x.shape.clone(), self.materialize(name, x.data.clone(), Activation::Relu))
    }

    /// Prepares `x` to feed an operator that sums `fan_in` of its elements per output: rows
    /// that are already sums of several values would multiply the operator's terms, so they
    /// are materialized (as a linear layer) first.
    pub fn compact(&mut self, name: &str, x: Affine, fan_in: usize) -> Affine {
        let terms: usize = x.data.iter().map(|r| r.iter().filter(|(v, _)| *v != ONE).count()).sum();
        if fan_in <= 1 || terms * 2 <= x.len() * 3 {
            return x;
        }
        let shape = x.shape.clone();
        Tensor::new(shape, self.materialize(&format!("{name} (input)"), x.data, Activation::Linear))
    }

    /// The elementwise maximum over each output's candidates, as a tree of
    /// `max(a, b) = b + relu(a − b)`: one layer per tree level, all outputs side by side.
    pub fn max_of(&mut self, name: &str, mut candidates: Vec<Vec<FloatRow>>) -> Vec<FloatRow> {
        while candidates.iter().any(|c| c.len() > 1) {
            let diffs: Vec<FloatRow> = candidates
                .iter()
                .flat_map(|c| c.chunks_exact(2).map(|p| combine([(1.0, &p[0]), (-1.0, &p[1])])))
                .collect();
            let mut relus = self.materialize(name, diffs, Activation::Relu).into_iter();
            for c in &mut candidates {
                let odd = (c.len() % 2 == 1).then(|| c.last().cloned()).flatten();
                let mut next: Vec<FloatRow> = c
                    .chunks_exact(2)
                    .map(|p| combine([(1.0, &p[1]), (1.0, &relus.next().expect("one relu per pair"))]))
                    .collect();
                next.extend(odd);
                *c = next;
            }
        }
        candidates.into_iter().map(|mut c| c.pop().unwrap_or_default()).collect()
    }
}

/// A 2-D sliding window (convolution or pooling) over an `H × W` plane.
#[derive(Clone, Debug)]
pub(super) struct Window {
    pub input: [usize; 2],
    pub kernel: [usize; 2],
    pub strides: [usize; 2],
    pub dilations: [usize; 2],
    /// Top, left, bottom, right.
    pub pads: [usize; 4],
}

impl Window {
    /// Output height and width.
    pub fn output(&self) -> [usize; 2] {
        let dim = |d: usize| {
            let span = self.dilations[d] * (self.kernel[d] - 1) + 1;
            (self.input[d] + self.pads[d] + self.pads[d + 2]).saturating_sub(span) / self.strides[d] + 1
        };
        [dim(0), dim(1)]
    }

    /// The kernel taps of output `(oy, ox)` that fall inside the input: `(ky, kx, iy, ix)`.
    pub fn taps(&self, oy: usize, ox: usize) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        (0..self.kernel[0]).flat_map(move |ky| {
            (0..self.kernel[1]).filter_map(move |kx| {
                let iy = (oy * self.strides[0] + ky * self.dilations[0]).checked_sub(self.pads[0])?;
                let ix = (ox * self.strides[1] + kx * self.dilations[1]).checked_sub(self.pads[1])?;
                (iy < self.input[0] && ix < self.input[1]).then_some((ky, kx, iy, ix))
            })
        })
    }
}
