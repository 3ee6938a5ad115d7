//! Columnar encodings of metric data, as Arrow IPC streams stored in one bytes value:
//! points (blocks and chunks) and aggregate states (blocks). One bytes value costs
//! SurrealDB a fraction of what as many nested numbers would.

use std::io::Cursor;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt8Type, UInt64Type};
use arrow_array::{
    Array, ArrayRef, ArrowPrimitiveType, BooleanArray, Float64Array, Int64Array, PrimitiveArray, RecordBatch,
    StringArray, UInt8Array, UInt64Array,
};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, Schema};
use bytes::Bytes;
use cloudgrid_operators::rollup::{Agg, HistAgg};

use crate::SinkError;

/// How blocks and chunks hold their columns.
pub(crate) const ENCODING: &str = "arrow-ipc-v1";

/// A stored metric point.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    pub(crate) series: u64,
    /// Unix ns.
    pub(crate) t: i64,
    /// Start time, unix ns; 0 when unset.
    pub(crate) st: i64,
    pub(crate) value: Value,
}

/// A number, or a histogram / exponential histogram / summary as JSON text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Number(f64),
    Json(String),
}

impl Value {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Number(x) => serde_json::json!(x),
            Value::Json(text) => serde_json::from_str(text).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// (series, tier, bucket start ns).
pub(crate) type AggKey = (u64, u8, u64);

/// Where one aggregate stands after a write: its value (`None`: removed), and whether
/// storage held it before the write (so compaction knows to update, insert or delete).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AggState<A> {
    pub(crate) key: AggKey,
    pub(crate) stored: bool,
    pub(crate) agg: Option<A>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> SinkError {
    SinkError::Rejected(format!("stored {what} could not be read: {e}"))
}

fn write(schema: Schema, columns: Vec<ArrayRef>) -> Result<Bytes, SinkError> {
    let schema = Arc::new(schema);
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| corrupt("columns", e))?;
    let mut writer = StreamWriter::try_new(Vec::new(), &schema).map_err(|e| corrupt("columns", e))?;
    writer.write(&batch).map_err(|e| corrupt("columns", e))?;
    let out = writer.into_inner().map_err(|e| corrupt("columns", e))?;
    Ok(Bytes::from(out))
}

fn read(what: &str, bytes: &[u8]) -> Result<Vec<RecordBatch>, SinkError> {
    let reader = StreamReader::try_new(Cursor::new(bytes), None).map_err(|e| corrupt(what, e))?;
    reader.collect::<Result<Vec<_>, _>>().map_err(|e| corrupt(what, e))
}

fn column<'a, T: ArrowPrimitiveType>(what: &str, batch: &'a RecordBatch, name: &str) -> Result<&'a PrimitiveArray<T>, SinkError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<T>())
        .ok_or_else(|| corrupt(what, format!("column {name} missing or of another type")))
}

fn strings<'a>(what: &str, batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray, SinkError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| corrupt(what, format!("column {name} missing or of another type")))
}

fn booleans<'a>(what: &str, batch: &'a RecordBatch, name: &str) -> Result<&'a BooleanArray, SinkError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_boolean_opt())
        .ok_or_else(|| corrupt(what, format!("column {name} missing or of another type")))
}

pub(crate) fn encode_points<'a>(points: impl Iterator<Item = &'a Point>) -> Result<Bytes, SinkError> {
    let (mut series, mut t, mut st, mut v, mut h) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for p in points {
        series.push(p.series);
        t.push(p.t);
        st.push(p.st);
        match &p.value {
            Value::Number(x) => {
                v.push(Some(*x));
                h.push(None);
            }
            Value::Json(text) => {
                v.push(None);
                h.push(Some(text.as_str()));
            }
        }
    }
    let schema = Schema::new(vec![
        Field::new("series", DataType::UInt64, false),
        Field::new("t", DataType::Int64, false),
        Field::new("st", DataType::Int64, false),
        Field::new("v", DataType::Float64, true),
        Field::new("h", DataType::Utf8, true),
    ]);
    write(
        schema,
        vec![
            Arc::new(UInt64Array::from(series)),
            Arc::new(Int64Array::from(t)),
            Arc::new(Int64Array::from(st)),
            Arc::new(Float64Array::from(v)),
            Arc::new(StringArray::from(h)),
        ],
    )
}

pub(crate) fn decode_points(bytes: &[u8]) -> Result<Vec<Point>, SinkError> {
    const WHAT: &str = "points";
    let mut out = Vec::new();
    for batch in read(WHAT, bytes)? {
        let series = column::<UInt64Type>(WHAT, &batch, "series")?;
        let t = column::<Int64Type>(WHAT, &batch, "t")?;
        let st = column::<Int64Type>(WHAT, &batch, "st")?;
        let v = column::<Float64Type>(WHAT, &batch, "v")?;
        let h = strings(WHAT, &batch, "h")?;
        out.reserve(batch.num_rows());
        for i in 0..batch.num_rows() {
            let value = if v.is_valid(i) {
                Value::Number(v.value(i))
            } else if h.is_valid(i) {
                Value::Json(h.value(i).to_string())
            } else {
                return Err(corrupt(WHAT, format!("row {i} has no value")));
            };
            out.push(Point { series: series.value(i), t: t.value(i), st: st.value(i), value });
        }
    }
    Ok(out)
}

/// Aggregates that blocks can hold as columns.
pub(crate) trait AggColumns: Sized {
    fn encode(states: &[AggState<Self>]) -> Result<Bytes, SinkError>;
    fn decode(bytes: &[u8]) -> Result<Vec<AggState<Self>>, SinkError>;
}

fn key_fields() -> Vec<Field> {
    vec![
        Field::new("series", DataType::UInt64, false),
        Field::new("tier", DataType::UInt8, false),
        Field::new("bucket", DataType::UInt64, false),
        Field::new("stored", DataType::Boolean, false),
    ]
}

fn key_columns<A>(states: &[AggState<A>]) -> Vec<ArrayRef> {
    vec![
        Arc::new(UInt64Array::from_iter_values(states.iter().map(|s| s.key.0))),
        Arc::new(UInt8Array::from_iter_values(states.iter().map(|s| s.key.1))),
        Arc::new(UInt64Array::from_iter_values(states.iter().map(|s| s.key.2))),
        Arc::new(BooleanArray::from(states.iter().map(|s| s.stored).collect::<Vec<_>>())),
    ]
}

/// A batch's reader of one row's aggregate (`None` where the row says removed).
type RowReader<'b, A> = Box<dyn Fn(usize) -> Result<Option<A>, SinkError> + 'b>;

/// Reads the key columns of every batch and the aggregate of each row with the reader
/// `columns` makes for the batch (its columns looked up once per batch, not per row).
fn decode_states<A>(
    what: &str,
    bytes: &[u8],
    columns: impl for<'b> Fn(&'b RecordBatch) -> Result<RowReader<'b, A>, SinkError>,
) -> Result<Vec<AggState<A>>, SinkError> {
    let mut out = Vec::new();
    for batch in read(what, bytes)? {
        let series = column::<UInt64Type>(what, &batch, "series")?;
        let tier = column::<UInt8Type>(what, &batch, "tier")?;
        let bucket = column::<UInt64Type>(what, &batch, "bucket")?;
        let stored = booleans(what, &batch, "stored")?;
        let agg = columns(&batch)?;
        out.reserve(batch.num_rows());
        for i in 0..batch.num_rows() {
            out.push(AggState {
                key: (series.value(i), tier.value(i), bucket.value(i)),
                stored: stored.value(i),
                agg: agg(i)?,
            });
        }
    }
    Ok(out)
}

impl AggColumns for Agg {
    fn encode(states: &[AggState<Self>]) -> Result<Bytes, SinkError> {
        let mut fields = key_fields();
        fields.push(Field::new("count", DataType::UInt64, true));
        for f in ["sum", "min", "max", "last"] {
            fields.push(Field::new(f, DataType::Float64, true));
        }
        fields.push(Field::new("last_time", DataType::UInt64, true));
        let mut columns = key_columns(states);
        let aggs = || states.iter().map(|s| s.agg.as_ref());
        columns.push(Arc::new(aggs().map(|a| a.map(|a| a.count)).collect::<UInt64Array>()));
        for f in [|a: &Agg| a.sum, |a: &Agg| a.min, |a: &Agg| a.max, |a: &Agg| a.last] {
            columns.push(Arc::new(aggs().map(|a| a.map(f)).collect::<Float64Array>()));
        }
        columns.push(Arc::new(aggs().map(|a| a.map(|a| a.last_time)).collect::<UInt64Array>()));
        write(Schema::new(fields), columns)
    }

    fn decode(bytes: &[u8]) -> Result<Vec<AggState<Self>>, SinkError> {
        const WHAT: &str = "aggregates";
        decode_states(WHAT, bytes, |batch| {
            let count = column::<UInt64Type>(WHAT, batch, "count")?;
            let f = |name| column::<Float64Type>(WHAT, batch, name);
            let (sum, min, max, last) = (f("sum")?, f("min")?, f("max")?, f("last")?);
            let last_time = column::<UInt64Type>(WHAT, batch, "last_time")?;
            Ok(Box::new(move |i| {
                Ok((!count.is_null(i)).then(|| Agg {
                    count: count.value(i),
                    sum: sum.value(i),
                    min: min.value(i),
                    max: max.value(i),
                    last: last.value(i),
                    last_time: last_time.value(i),
                }))
            }))
        })
    }
}

impl AggColumns for HistAgg {
    fn encode(states: &[AggState<Self>]) -> Result<Bytes, SinkError> {
        let mut fields = key_fields();
        fields.push(Field::new("agg", DataType::Utf8, true));
        let mut columns = key_columns(states);
        let json = states
            .iter()
            .map(|s| s.agg.as_ref().map(serde_json::to_string).transpose())
            .collect::<Result<Vec<Option<String>>, _>>()
            .map_err(|e| corrupt("histogram aggregates", e))?;
        columns.push(Arc::new(StringArray::from(json)));
        write(Schema::new(fields), columns)
    }

    fn decode(bytes: &[u8]) -> Result<Vec<AggState<Self>>, SinkError> {
        const WHAT: &str = "histogram aggregates";
        decode_states(WHAT, bytes, |batch| {
            let aggs = strings(WHAT, batch, "agg")?;
            Ok(Box::new(move |i| {
                if aggs.is_null(i) {
                    return Ok(None);
                }
                serde_json::from_str(aggs.value(i)).map(Some).map_err(|e| corrupt(WHAT, e))
            }))
        })
    }
}

/// How span records hold their buckets: [`SpanCodec`]'s layout. Records written before
/// it say [`ENCODING`] and hold [`AggColumns`] states.
pub(crate) const SPAN_ENCODING: &str = "span-v1";

/// A span record's buckets in a compact binary layout, read far faster than an Arrow
/// message of the same buckets (a query reads thousands of small records, and an Arrow
/// message pays for its schema and verification each time):
///
/// `version (1) · n · n × (bucket − previous bucket · aggregate)`, counts as varints
/// and floats as 8 little-endian bytes; the first bucket is taken from 0.
pub(crate) trait SpanCodec: Sized {
    fn put(&self, bucket: u64, out: &mut Vec<u8>) -> Result<(), SinkError>;
    fn take(bucket: u64, bytes: &mut &[u8]) -> Result<Self, SinkError>;

    fn encode_span<'a>(buckets: impl ExactSizeIterator<Item = (&'a u64, &'a Self)>) -> Result<Bytes, SinkError>
    where
        Self: 'a,
    {
        let mut out = Vec::with_capacity(2 + buckets.len() * 40);
        out.push(SPAN_VERSION);
        prost::encoding::encode_varint(buckets.len() as u64, &mut out);
        let mut previous = 0;
        for (bucket, agg) in buckets {
            let delta = bucket.checked_sub(previous).ok_or_else(|| corrupt("span", "buckets out of order"))?;
            prost::encoding::encode_varint(delta, &mut out);
            agg.put(*bucket, &mut out)?;
            previous = *bucket;
        }
        Ok(Bytes::from(out))
    }

    /// Calls `each` with every bucket and its aggregate, in bucket order.
    fn decode_span(mut bytes: &[u8], mut each: impl FnMut(u64, Self)) -> Result<(), SinkError> {
        let version = take_u8(&mut bytes)?;
        if version != SPAN_VERSION {
            return Err(corrupt("span", format!("layout version {version}, this build reads {SPAN_VERSION}")));
        }
        let n = varint(&mut bytes)?;
        let mut bucket = 0u64;
        for _ in 0..n {
            bucket = bucket.checked_add(varint(&mut bytes)?).ok_or_else(|| corrupt("span", "bucket overflows"))?;
            each(bucket, Self::take(bucket, &mut bytes)?);
        }
        if !bytes.is_empty() {
            return Err(corrupt("span", format!("{} bytes after the last bucket", bytes.len())));
        }
        Ok(())
    }
}

const SPAN_VERSION: u8 = 1;

fn take_u8(bytes: &mut &[u8]) -> Result<u8, SinkError> {
    let (first, rest) = bytes.split_first().ok_or_else(|| corrupt("span", "cut short"))?;
    *bytes = rest;
    Ok(*first)
}

fn varint(bytes: &mut &[u8]) -> Result<u64, SinkError> {
    prost::encoding::decode_varint(bytes).map_err(|e| corrupt("span", e))
}

fn f64_le(bytes: &mut &[u8]) -> Result<f64, SinkError> {
    let (head, rest) = bytes.split_first_chunk::<8>().ok_or_else(|| corrupt("span", "cut short"))?;
    *bytes = rest;
    Ok(f64::from_le_bytes(*head))
}

impl SpanCodec for Agg {
    /// `count · sum · min · max · last · last_time − bucket` (the latest point's time is
    /// within its bucket, so the difference is small; zigzag-coded, so any time round-trips).
    fn put(&self, bucket: u64, out: &mut Vec<u8>) -> Result<(), SinkError> {
        prost::encoding::encode_varint(self.count, out);
        for x in [self.sum, self.min, self.max, self.last] {
            out.extend_from_slice(&x.to_le_bytes());
        }
        let offset = self.last_time.wrapping_sub(bucket) as i64;
        prost::encoding::encode_varint(((offset << 1) ^ (offset >> 63)) as u64, out);
        Ok(())
    }

    fn take(bucket: u64, bytes: &mut &[u8]) -> Result<Self, SinkError> {
        let count = varint(bytes)?;
        let (sum, min, max, last) = (f64_le(bytes)?, f64_le(bytes)?, f64_le(bytes)?, f64_le(bytes)?);
        let zigzag = varint(bytes)?;
        let offset = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        Ok(Agg { count, sum, min, max, last, last_time: bucket.wrapping_add(offset as u64) })
    }
}

impl SpanCodec for HistAgg {
    /// `length · the aggregate as JSON`.
    fn put(&self, _bucket: u64, out: &mut Vec<u8>) -> Result<(), SinkError> {
        let json = serde_json::to_vec(self).map_err(|e| corrupt("histogram aggregates", e))?;
        prost::encoding::encode_varint(json.len() as u64, out);
        out.extend_from_slice(&json);
        Ok(())
    }

    fn take(_bucket: u64, bytes: &mut &[u8]) -> Result<Self, SinkError> {
        let len = usize::try_from(varint(bytes)?).map_err(|e| corrupt("span", e))?;
        if bytes.len() < len {
            return Err(corrupt("span", "cut short"));
        }
        let (json, rest) = bytes.split_at(len);
        *bytes = rest;
        serde_json::from_slice(json).map_err(|e| corrupt("histogram aggregates", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use cloudgrid_operators::rollup::{Buckets, Explicit, Hist};

    #[test]
    fn points_round_trip_with_numbers_and_json_values() {
        let points = vec![
            Point { series: u64::MAX, t: 1, st: 0, value: Value::Number(-2.5) },
            Point { series: 7, t: i64::MAX, st: 3, value: Value::Json(r#"{"count":2}"#.into()) },
        ];
        let bytes = encode_points(points.iter()).expect("encode");
        assert_eq!(decode_points(&bytes).expect("decode"), points);
        assert!(decode_points(&bytes[..bytes.len() / 2]).is_err(), "a cut stream is an error, not fewer points");
    }

    #[test]
    fn aggregate_states_round_trip_including_removals() {
        let agg = Agg { count: 3, sum: 6.0, min: 1.0, max: 3.0, last: 3.0, last_time: 99 };
        let states = vec![
            AggState { key: (u64::MAX, 0, 60), stored: false, agg: Some(agg) },
            AggState { key: (1, 3, 0), stored: true, agg: None },
        ];
        let bytes = Agg::encode(&states).expect("encode");
        assert_eq!(Agg::decode(&bytes).expect("decode"), states);

        let hist = HistAgg {
            points: 2,
            hist: Hist {
                count: 4,
                sum: 10.0,
                min: Some(1.0),
                max: None,
                buckets: Buckets::Explicit(Explicit { bounds: vec![1.0, 5.0], counts: vec![1, 2, 1] }),
            },
        };
        let states = vec![
            AggState { key: (5, 1, 300), stored: true, agg: Some(hist) },
            AggState { key: (5, 1, 600), stored: true, agg: None },
        ];
        let bytes = HistAgg::encode(&states).expect("encode");
        assert_eq!(HistAgg::decode(&bytes).expect("decode"), states);
    }

    fn decode_all<A: SpanCodec>(bytes: &[u8]) -> Result<Vec<(u64, A)>, SinkError> {
        let mut out = Vec::new();
        A::decode_span(bytes, |b, a| out.push((b, a)))?;
        Ok(out)
    }

    #[test]
    fn spans_round_trip_and_refuse_damage() {
        let agg = |bucket: u64, x: f64| Agg {
            count: bucket % 7 + 1,
            sum: x,
            min: -x,
            max: x * 2.0,
            last: f64::NAN,
            // Any time round-trips, even one outside the bucket.
            last_time: if x > 20.0 { bucket - 1 } else { bucket + 59_000_000_000 },
        };
        let buckets: BTreeMap<u64, Agg> =
            (0..72u64).map(|i| 1_036_800_000_000_000 + i * 300_000_000_000).map(|b| (b, agg(b, (b % 97) as f64 / 3.0))).collect();
        let bytes = Agg::encode_span(buckets.iter()).expect("encode");
        let back = decode_all::<Agg>(&bytes).expect("decode");
        assert_eq!(back.len(), 72);
        for ((b1, a1), (b2, a2)) in buckets.iter().zip(&back) {
            assert_eq!(b1, b2);
            assert_eq!((a1.count, a1.sum, a1.min, a1.max, a1.last_time), (a2.count, a2.sum, a2.min, a2.max, a2.last_time));
            assert_eq!(a1.sum.to_bits(), a2.sum.to_bits());
            assert!(a2.last.is_nan(), "floats are kept bit for bit");
        }
        assert!(bytes.len() < 72 * 45, "{} bytes for 72 buckets", bytes.len());
        assert!(decode_all::<Agg>(&bytes[..bytes.len() - 1]).is_err(), "a cut record is an error, not fewer buckets");
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(decode_all::<Agg>(&longer).is_err(), "trailing bytes are an error");
        let mut other = bytes.to_vec();
        other[0] = 9;
        assert!(decode_all::<Agg>(&other).is_err(), "an unknown layout version is refused");

        let hist = HistAgg {
            points: 2,
            hist: Hist { count: 4, sum: 10.0, min: Some(1.0), max: None, buckets: Buckets::Explicit(Explicit { bounds: vec![1.0], counts: vec![1, 3] }) },
        };
        let buckets: BTreeMap<u64, HistAgg> = [(60, hist.clone()), (120, hist)].into_iter().collect();
        let bytes = HistAgg::encode_span(buckets.iter()).expect("encode");
        assert_eq!(decode_all::<HistAgg>(&bytes).expect("decode"), buckets.into_iter().collect::<Vec<_>>());
    }
}
