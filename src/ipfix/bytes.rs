//! Big-endian field access for the checked buffer views, and a bounds-checked
//! cursor for the variable parts of records. Network byte order throughout
//! (RFC 7011 §6.1).

use std::ops::Range;

use super::error::WireError;

/// Fails with `Truncated` unless `buf` holds at least `needed` octets.
pub(crate) fn check_len(unit: &'static str, buf: &[u8], needed: usize) -> Result<(), WireError> {
    if buf.len() < needed {
        return Err(WireError::Truncated {
            unit,
            needed,
            available: buf.len(),
        });
    }
    Ok(())
}

// SANITY: the views call these only with their `offset` ranges, on buffers
// their `new_checked` constructor measured; they cannot index out of range.

pub(crate) fn get_u16(buf: &[u8], field: Range<usize>) -> u16 {
    let b = &buf[field];
    u16::from_be_bytes([b[0], b[1]])
}

pub(crate) fn get_u32(buf: &[u8], field: Range<usize>) -> u32 {
    let b = &buf[field];
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

pub(crate) fn put_u16(buf: &mut [u8], field: Range<usize>, value: u16) {
    buf[field].copy_from_slice(&value.to_be_bytes());
}

pub(crate) fn put_u32(buf: &mut [u8], field: Range<usize>, value: u32) {
    buf[field].copy_from_slice(&value.to_be_bytes());
}

/// A read cursor that never reads past its slice.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// The next `n` octets, or `None` (cursor unmoved) if fewer remain.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_bounds() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.take(2), Some(&[1u8, 2][..]));
        assert_eq!(r.take(2), None);
        assert_eq!(r.remaining(), 1);
        assert_eq!(r.take(usize::MAX), None);
        assert_eq!(r.rest(), &[3]);
        assert_eq!(r.take(1), Some(&[3u8][..]));
        assert_eq!(r.rest(), &[] as &[u8]);
    }

    #[test]
    fn be_fields() {
        let mut b = [0u8; 6];
        put_u16(&mut b, 0..2, 0x0a0b);
        put_u32(&mut b, 2..6, 0x01020304);
        assert_eq!(b, [0x0a, 0x0b, 1, 2, 3, 4]);
        assert_eq!(get_u16(&b, 0..2), 0x0a0b);
        assert_eq!(get_u32(&b, 2..6), 0x01020304);
        assert!(check_len("x", &b, 7).is_err());
    }
}
