//! The raw points a series holds in its hot window, and how they are kept.
//!
//! Number points are packed ([`Packed`]): a few bytes a point instead of 24, which is most
//! of what an active series costs. Histogram points are kept as they are (`Vec`).
//!
//! The rollup state reads points through [`PointStore`]: it *opens* the points it needs
//! into a plain slice, changes them there, and *closes* them back; points that only
//! extend the series are appended without touching the rest.

/// A raw point: time, start time, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Raw<V> {
    pub time: u64,
    pub start: u64,
    pub value: V,
}

impl<V> Raw<V> {
    pub fn tuple(&self) -> (u64, u64, &V) {
        (self.time, self.start, &self.value)
    }
}

/// Where a series keeps its raw points: sorted by time, one per timestamp.
pub trait PointStore<V>: Default + Send + 'static {
    /// Points held.
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The time of the oldest point.
    fn first_time(&self) -> Option<u64>;

    /// The time of the newest point.
    fn last_time(&self) -> Option<u64>;

    /// The newest point.
    fn last(&self) -> Option<Raw<V>>;

    /// Puts into `view` (empty on entry) the points from the newest one before `time` on
    /// — or more: all of them where the store cannot cheaply leave older ones out — and
    /// returns how many points come before the view.
    fn open(&mut self, time: u64, view: &mut Vec<Raw<V>>) -> usize;

    /// Stores back a view opened at `offset`, then changed: its points before
    /// `changed_from` are the opened ones, untouched, and no opened point was removed.
    /// `view` is left empty.
    fn close(&mut self, offset: usize, view: &mut Vec<Raw<V>>, changed_from: usize);

    /// Appends points, sorted, that all come after the newest.
    fn append(&mut self, points: &[Raw<V>]);

    /// Moves the points before `time` into `out`, oldest first.
    fn take_before(&mut self, time: u64, out: &mut Vec<Raw<V>>);

    /// Heap held, in bytes, with `value_heap` the heap of one value.
    fn heap_bytes(&self, value_heap: fn(&V) -> usize) -> usize;

    /// Reads every cache line of the points, so that a touch soon after finds them in
    /// cache; returns something of them to keep the reads from being optimised away.
    fn warm(&self) -> u64;
}

impl<V: Clone + Send + 'static> PointStore<V> for Vec<Raw<V>> {
    fn len(&self) -> usize {
        <[Raw<V>]>::len(self)
    }

    fn first_time(&self) -> Option<u64> {
        self.first().map(|p| p.time)
    }

    fn last_time(&self) -> Option<u64> {
        <[Raw<V>]>::last(self).map(|p| p.time)
    }

    fn last(&self) -> Option<Raw<V>> {
        <[Raw<V>]>::last(self).cloned()
    }

    fn open(&mut self, _time: u64, view: &mut Vec<Raw<V>>) -> usize {
        std::mem::swap(self, view);
        0
    }

    fn close(&mut self, _offset: usize, view: &mut Vec<Raw<V>>, _changed_from: usize) {
        std::mem::swap(self, view);
        view.clear();
    }

    fn append(&mut self, points: &[Raw<V>]) {
        self.extend_from_slice(points);
    }

    fn take_before(&mut self, time: u64, out: &mut Vec<Raw<V>>) {
        let cut = self.partition_point(|p| p.time < time);
        out.extend(self.drain(..cut));
        if self.capacity() > 4 * self.len().max(4) {
            self.shrink_to_fit();
        }
    }

    fn heap_bytes(&self, value_heap: fn(&V) -> usize) -> usize {
        self.capacity() * std::mem::size_of::<Raw<V>>() + self.iter().map(|p| value_heap(&p.value)).sum::<usize>()
    }

    fn warm(&self) -> u64 {
        self.first_time().unwrap_or(0) ^ PointStore::last_time(self).unwrap_or(0)
    }
}

/// Number points packed into bit streams, after Facebook's Gorilla: a time as the change
/// of its distance to the point before (zero for points at a steady interval: one bit),
/// a start time that repeats the one before in one bit, a value as its XOR with the one
/// before (its meaningful bits only; one bit when unchanged).
///
/// Points are packed in blocks of at most [`BLOCK_POINTS`], each opening with one point
/// in full, so that a view can start at a block and points leave a block at a time.
/// A block is `count: u8, bits: u32 (LE), time, start, value bits: u64 (LE)` and then
/// `bits` bits, least significant first, for the rest of its points.
#[derive(Debug, Default, Clone)]
pub struct Packed {
    bytes: Vec<u8>,
    len: u32,
    /// Where the newest block starts; `bytes.len()` when the next point opens a block.
    last_block: u32,
    /// The encoder after the newest point.
    cursor: Cursor,
}

/// Points in one block; tests use small blocks, so views and departures cross them often.
#[cfg(not(test))]
const BLOCK_POINTS: u8 = 64;
#[cfg(test)]
const BLOCK_POINTS: u8 = 5;
/// Bytes of a block's header: count, bits, and the first point.
const HEADER: usize = 1 + 4 + 24;
/// Bytes one point can take in a block's stream, with room for an 8-byte write at its end.
const POINT_ROOM: usize = 28 + 9;

/// What encoding and decoding carry from one point to the next.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Cursor {
    time: u64,
    delta: u64,
    start: u64,
    bits: u64,
    /// The bits a value's XOR was last written with: leading zeros and length.
    lead: u8,
    meaningful: u8,
}

impl Cursor {
    fn first(p: &Raw<f64>) -> Self {
        Self { time: p.time, delta: 0, start: p.start, bits: p.value.to_bits(), lead: 0, meaningful: 0 }
    }

    fn raw(&self) -> Raw<f64> {
        Raw { time: self.time, start: self.start, value: f64::from_bits(self.bits) }
    }

    fn encode(&mut self, w: &mut BitWriter<'_>, p: &Raw<f64>) {
        debug_assert!(p.time > self.time, "points are appended in time order");
        let delta = p.time.wrapping_sub(self.time);
        let dod = delta.wrapping_sub(self.delta) as i64;
        let z = ((dod << 1) ^ (dod >> 63)) as u64;
        match z {
            0 => w.put(0, 1),
            z if z < 1 << 14 => w.put(0b01 | z << 2, 2 + 14),
            z if z < 1 << 24 => w.put(0b011 | z << 3, 3 + 24),
            z if z < 1 << 36 => w.put(0b0111 | z << 4, 4 + 36),
            z => {
                w.put(0b1111, 4);
                w.put(z, 64);
            }
        }
        self.time = p.time;
        self.delta = delta;

        if p.start == self.start {
            w.put(0, 1);
        } else {
            w.put(1, 1);
            w.put(p.start, 64);
            self.start = p.start;
        }

        let bits = p.value.to_bits();
        let x = bits ^ self.bits;
        if x == 0 {
            w.put(0, 1);
        } else {
            let (lead, trail) = (x.leading_zeros() as u8, x.trailing_zeros() as u8);
            let kept_trail = 64u8.wrapping_sub(self.lead).wrapping_sub(self.meaningful);
            if self.meaningful > 0 && lead >= self.lead && trail >= kept_trail {
                w.put(0b01, 2);
                w.put(x >> kept_trail, u32::from(self.meaningful));
            } else {
                let meaningful = 64 - lead - trail;
                w.put(0b11 | u64::from(lead) << 2 | u64::from(meaningful - 1) << 8, 2 + 6 + 6);
                w.put(x >> trail, u32::from(meaningful));
                self.lead = lead;
                self.meaningful = meaningful;
            }
            self.bits = bits;
        }
    }

    #[inline]
    fn decode(&mut self, r: &mut BitReader<'_>) -> Raw<f64> {
        // The time's control: up to four ones, then a zero unless there were four.
        let ones = (!r.peek(4) & 0b1111).trailing_zeros().min(4);
        r.skip(if ones == 4 { 4 } else { ones + 1 });
        let z = match ones {
            0 => 0,
            1 => r.get(14),
            2 => r.get(24),
            3 => r.get(36),
            _ => r.get(64),
        };
        let dod = ((z >> 1) as i64) ^ -((z & 1) as i64);
        self.delta = self.delta.wrapping_add(dod as u64);
        self.time = self.time.wrapping_add(self.delta);

        if r.get(1) == 1 {
            self.start = r.get(64);
        }

        let control = r.peek(2);
        if control & 1 == 1 {
            r.skip(2);
            if control & 2 == 2 {
                let window = r.get(12);
                self.lead = (window & 0b11_1111) as u8;
                self.meaningful = (window >> 6) as u8 + 1;
            }
            let trail = 64 - self.lead - self.meaningful;
            self.bits ^= r.get(u32::from(self.meaningful)) << trail;
        } else {
            r.skip(1);
        }
        self.raw()
    }
}

/// Writes bits into a block's stream; `bytes` has room for them (see [`POINT_ROOM`]).
struct BitWriter<'a> {
    bytes: &'a mut [u8],
    pos: u32,
}

impl BitWriter<'_> {
    /// Writes the low `n` bits of `value` (`n` at most 64).
    #[inline]
    fn put(&mut self, value: u64, n: u32) {
        if n == 0 {
            return;
        }
        let value = if n == 64 { value } else { value & ((1 << n) - 1) };
        let at = (self.pos / 8) as usize;
        let shift = self.pos % 8;
        let word = u64::from_le_bytes(self.bytes[at..at + 8].try_into().expect("8 bytes")) | value << shift;
        self.bytes[at..at + 8].copy_from_slice(&word.to_le_bytes());
        if shift + n > 64 {
            self.bytes[at + 8] |= (value >> (64 - shift)) as u8;
        }
        self.pos += n;
    }
}

/// Reads bits from a block's stream.
struct BitReader<'a> {
    bytes: &'a [u8],
    pos: u32,
}

impl BitReader<'_> {
    fn byte(&self, at: usize) -> u64 {
        self.bytes.get(at).copied().map_or(0, u64::from)
    }

    /// The next `n` bits (at most 64), without moving past them.
    #[inline]
    fn peek(&self, n: u32) -> u64 {
        let at = (self.pos / 8) as usize;
        let shift = self.pos % 8;
        let word = match self.bytes.get(at..at + 8) {
            Some(b) => u64::from_le_bytes(b.try_into().expect("8 bytes")),
            None => (0..8).fold(0, |w, i| w | self.byte(at + i) << (8 * i)),
        };
        let mut value = word >> shift;
        if shift + n > 64 {
            value |= self.byte(at + 8) << (64 - shift);
        }
        if n == 64 { value } else { value & ((1 << n) - 1) }
    }

    #[inline]
    fn skip(&mut self, n: u32) {
        self.pos += n;
    }

    /// Reads `n` bits (at most 64).
    #[inline]
    fn get(&mut self, n: u32) -> u64 {
        let value = self.peek(n);
        self.pos += n;
        value
    }
}

/// A block's header.
struct Block {
    count: usize,
    bits: u32,
    first: Raw<f64>,
}

impl Block {
    fn read(bytes: &[u8], at: usize) -> Self {
        let u64_at = |i: usize| u64::from_le_bytes(bytes[at + i..at + i + 8].try_into().expect("8 bytes"));
        Self {
            count: usize::from(bytes[at]),
            bits: u32::from_le_bytes(bytes[at + 1..at + 5].try_into().expect("4 bytes")),
            first: Raw { time: u64_at(5), start: u64_at(13), value: f64::from_bits(u64_at(21)) },
        }
    }

    /// Where the block after the one at `at` starts.
    fn end(&self, at: usize) -> usize {
        at + HEADER + self.bits.div_ceil(8) as usize
    }
}

impl Packed {
    /// The blocks in order: where each starts, its header, and the points before it.
    fn blocks(&self) -> impl Iterator<Item = (usize, Block, usize)> + '_ {
        let mut at = 0;
        let mut before = 0;
        std::iter::from_fn(move || {
            if at >= self.bytes.len() {
                return None;
            }
            let block = Block::read(&self.bytes, at);
            let (start, count) = (at, block.count);
            at = block.end(at);
            before += count;
            Some((start, block, before - count))
        })
    }

    /// Decodes the block at `at` into `out`; returns where the next block starts.
    fn decode_block(&self, at: usize, out: &mut Vec<Raw<f64>>) -> usize {
        let block = Block::read(&self.bytes, at);
        let end = block.end(at);
        let mut cursor = Cursor::first(&block.first);
        out.push(block.first);
        // Reading on into the next block's bytes is harmless (only the bits asked for are
        // kept) and lets most reads take eight bytes at once.
        let mut r = BitReader { bytes: &self.bytes[at + HEADER..], pos: 0 };
        for _ in 1..block.count {
            out.push(cursor.decode(&mut r));
        }
        end
    }

    fn push(&mut self, p: &Raw<f64>) {
        let block = self.last_block as usize;
        let opens = self.len == 0 || block >= self.bytes.len() || self.bytes[block] == BLOCK_POINTS;
        // Grow by a quarter at a time, not double: a series' bytes are its memory.
        let room = if opens { HEADER } else { POINT_ROOM };
        if self.bytes.capacity() - self.bytes.len() < room {
            self.bytes.reserve_exact(room.max(self.bytes.len() / 4));
        }
        if opens {
            self.last_block = self.bytes.len() as u32;
            self.bytes.push(1);
            self.bytes.extend_from_slice(&0u32.to_le_bytes());
            for word in [p.time, p.start, p.value.to_bits()] {
                self.bytes.extend_from_slice(&word.to_le_bytes());
            }
            self.cursor = Cursor::first(p);
        } else {
            let bits = u32::from_le_bytes(self.bytes[block + 1..block + 5].try_into().expect("4 bytes"));
            let stream = block + HEADER;
            let used = self.bytes.len();
            self.bytes.resize(used + POINT_ROOM, 0);
            let mut w = BitWriter { bytes: &mut self.bytes[stream..], pos: bits };
            self.cursor.encode(&mut w, p);
            let bits = w.pos;
            self.bytes.truncate(stream + bits.div_ceil(8) as usize);
            self.bytes[block] += 1;
            self.bytes[block + 1..block + 5].copy_from_slice(&bits.to_le_bytes());
        }
        self.len += 1;
    }
}

impl PointStore<f64> for Packed {
    fn len(&self) -> usize {
        self.len as usize
    }

    fn first_time(&self) -> Option<u64> {
        (self.len > 0).then(|| Block::read(&self.bytes, 0).first.time)
    }

    fn last_time(&self) -> Option<u64> {
        (self.len > 0).then_some(self.cursor.time)
    }

    fn last(&self) -> Option<Raw<f64>> {
        (self.len > 0).then(|| self.cursor.raw())
    }

    fn open(&mut self, time: u64, view: &mut Vec<Raw<f64>>) -> usize {
        // The last block that opens before `time` holds the newest point before it.
        let (mut at, mut offset) = (0, 0);
        for (start, block, before) in self.blocks().take_while(|_| time > 0) {
            if block.first.time >= time {
                break;
            }
            (at, offset) = (start, before);
        }
        view.reserve(self.len as usize - offset);
        while at < self.bytes.len() {
            at = self.decode_block(at, view);
        }
        offset
    }

    fn close(&mut self, offset: usize, view: &mut Vec<Raw<f64>>, changed_from: usize) {
        let opened = self.len as usize - offset;
        if changed_from >= opened {
            self.append(&view[opened..]);
        } else {
            // The blocks before the one holding the first change stay; the rest is written
            // again. (Views open at a block, so that block is in the view.)
            let changed = offset + changed_from;
            let (at, kept) = self
                .blocks()
                .take_while(|(_, _, before)| *before <= changed)
                .last()
                .map_or((0, 0), |(at, _, before)| (at, before));
            debug_assert!(kept >= offset);
            self.bytes.truncate(at);
            self.len = kept as u32;
            self.last_block = at as u32;
            self.append(&view[kept - offset..]);
        }
        view.clear();
    }

    fn append(&mut self, points: &[Raw<f64>]) {
        for p in points {
            self.push(p);
        }
    }

    fn take_before(&mut self, time: u64, out: &mut Vec<Raw<f64>>) {
        let mut at = 0;
        while at < self.bytes.len() && Block::read(&self.bytes, at).first.time < time {
            let from = out.len();
            let next = self.decode_block(at, out);
            let taken = out[from..].partition_point(|p| p.time < time);
            self.len -= taken as u32;
            if from + taken == out.len() {
                at = next;
                continue;
            }
            // The block holds points on both sides: the later ones make a block of their own.
            let mut rest = Packed::default();
            rest.append(&out[from + taken..]);
            out.truncate(from + taken);
            let head = rest.bytes.len();
            rest.bytes.extend_from_slice(&self.bytes[next..]);
            if at == self.last_block as usize {
                self.cursor = rest.cursor;
                self.last_block = rest.last_block;
            } else {
                self.last_block = (head + (self.last_block as usize - next)) as u32;
            }
            self.bytes = rest.bytes;
            return;
        }
        if at >= self.bytes.len() {
            *self = Packed::default();
            return;
        }
        self.bytes.drain(..at);
        self.last_block -= at as u32;
        if self.bytes.capacity() > 2 * self.bytes.len() + 128 {
            self.bytes.shrink_to_fit();
        }
    }

    fn heap_bytes(&self, _value_heap: fn(&f64) -> usize) -> usize {
        self.bytes.capacity()
    }

    fn warm(&self) -> u64 {
        self.bytes.iter().step_by(64).fold(0, |seen, b| seen ^ u64::from(*b))
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::rollup::tests::seed;

    /// Values as metrics have them, and the awkward ones.
    fn value(rng: &mut StdRng, prev: f64) -> f64 {
        match rng.random_range(0..10) {
            0 => prev,
            1 => prev + 1.0,
            2 => (rng.random_range(0..1000) as f64) / 4.0,
            3 => rng.random::<f64>() * 1e6,
            4 => [f64::NAN, f64::from_bits(0x7ff8_dead_beef_0001), -0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY, f64::MIN_POSITIVE][rng.random_range(0..7)],
            5 => f64::from_bits(rng.random()),
            _ => prev + rng.random_range(0.0..3.0),
        }
    }

    /// A sorted run of points at steady, jittered and wild intervals.
    fn points(rng: &mut StdRng, n: usize) -> Vec<Raw<f64>> {
        let mut time = rng.random_range(1..u64::MAX / 4);
        let mut start = time - rng.random_range(0..1_000_000_000_000);
        let step = rng.random_range(1..120_000_000_000);
        let mut value_now = 0.0;
        (0..n)
            .map(|_| {
                time += match rng.random_range(0..6) {
                    0..=2 => step,
                    3 => step + rng.random_range(0..2_000_000),
                    4 => rng.random_range(1..1 << 40),
                    _ => rng.random_range(1..1u64 << 50),
                };
                if rng.random_bool(0.05) {
                    start = if rng.random_bool(0.5) { 0 } else { time - rng.random_range(0..time) };
                }
                value_now = value(rng, value_now);
                Raw { time, start, value: value_now }
            })
            .collect()
    }

    fn same(a: &[Raw<f64>], b: &[Raw<f64>]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| x.time == y.time && x.start == y.start && x.value.to_bits() == y.value.to_bits())
    }

    fn all(store: &mut Packed) -> Vec<Raw<f64>> {
        let mut view = Vec::new();
        assert_eq!(store.open(0, &mut view), 0);
        let points = view.clone();
        store.close(0, &mut view, usize::MAX);
        points
    }

    #[test]
    fn packed_points_read_back_bit_for_bit() {
        let mut rng = StdRng::seed_from_u64(seed());
        for _ in 0..200 {
            let n = rng.random_range(0..300);
            let expected = points(&mut rng, n);
            let mut store = Packed::default();
            // Appended in pieces, as touches append them.
            let mut i = 0;
            while i < n {
                let k = rng.random_range(1..=8).min(n - i);
                store.append(&expected[i..i + k]);
                i += k;
            }
            assert_eq!(store.len(), n);
            assert!(same(&all(&mut store), &expected));
            assert_eq!(store.first_time(), expected.first().map(|p| p.time));
            assert_eq!(store.last_time(), expected.last().map(|p| p.time));
        }
    }

    #[test]
    fn steady_points_take_a_few_bits() {
        // A counter read every 10 s: its time and start repeat, its value grows a little.
        let mut store = Packed::default();
        let t0 = 1_800_000_000_000_000_000;
        let points: Vec<_> =
            (0..64u64).map(|i| Raw { time: t0 + i * 10_000_000_000, start: t0, value: (i * 3) as f64 }).collect();
        store.append(&points);
        let (mut bits, mut streamed) = (0, 0);
        for (_, block, _) in store.blocks() {
            bits += block.bits;
            streamed += block.count - 1;
        }
        // Against 192 bits unpacked; the tests' small blocks restart the time and value
        // encodings every 5 points, which costs a block's second point some 40 bits more.
        let per_point = f64::from(bits) / streamed as f64;
        assert!(per_point < 32.0, "{per_point} bits a point");
    }

    /// The store against a plain sorted list, through the operations rollups use.
    #[test]
    fn packed_store_behaves_as_a_sorted_list() {
        let mut rng = StdRng::seed_from_u64(seed());
        for _ in 0..100 {
            let pool = points(&mut rng, 400);
            let mut model: Vec<Raw<f64>> = Vec::new();
            let mut store = Packed::default();
            let mut view = Vec::new();
            let mut taken = Vec::new();
            let mut next = 0;
            for _ in 0..60 {
                match rng.random_range(0..4) {
                    // In-order points, appended.
                    0 | 1 => {
                        let k = rng.random_range(0..10).min(pool.len() - next);
                        store.append(&pool[next..next + k]);
                        model.extend_from_slice(&pool[next..next + k]);
                        next += k;
                    }
                    // A view, with a point replaced or inserted in it, or appended to it.
                    2 => {
                        let bound = model.get(rng.random_range(0..model.len().max(1))).map_or(0, |p| p.time + 1);
                        let offset = store.open(bound, &mut view);
                        assert!(same(&view, &model[offset..]), "the view is the points from offset on");
                        assert!(offset == 0 || view[0].time < bound, "the view holds the point before its bound");
                        let changed_from = match rng.random_range(0..3) {
                            0 if !view.is_empty() => {
                                let i = rng.random_range(0..view.len());
                                view[i].value = value(&mut rng, view[i].value);
                                i
                            }
                            1 if view.len() >= 2 && view[1].time - view[0].time > 1 => {
                                let p = Raw { time: view[0].time + 1, start: 7, value: 1.5 };
                                view.insert(1, p);
                                1
                            }
                            _ => {
                                let k = rng.random_range(0..10).min(pool.len() - next);
                                view.extend_from_slice(&pool[next..next + k]);
                                next += k;
                                view.len()
                            }
                        };
                        model.truncate(offset);
                        model.extend_from_slice(&view);
                        store.close(offset, &mut view, changed_from);
                        assert!(view.is_empty());
                    }
                    // The oldest points leave.
                    _ => {
                        let bound = model.get(rng.random_range(0..model.len().max(1))).map_or(0, |p| p.time + rng.random_range(0..2));
                        taken.clear();
                        store.take_before(bound, &mut taken);
                        let cut = model.partition_point(|p| p.time < bound);
                        assert!(same(&taken, &model[..cut]));
                        model.drain(..cut);
                    }
                }
                assert_eq!(store.len(), model.len());
                assert_eq!(store.first_time(), model.first().map(|p| p.time));
                assert!(store.last().as_ref().map(|p| (p.time, p.value.to_bits())) == model.last().map(|p| (p.time, p.value.to_bits())));
                assert!(same(&all(&mut store), &model));
            }
        }
    }
}
