//! A tiny, strict reader for the snapshot byte form (see `docs/PROTOCOL.md`, "Snapshots").

/// Reads big-endian fields from a byte slice; every method returns `None` past the end.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Some(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.array::<4>().map(u32::from_be_bytes)
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.array::<8>().map(u64::from_be_bytes)
    }

    /// A u32-length-prefixed byte string.
    pub(crate) fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Appends a u32-length-prefixed byte string.
pub(crate) fn put_bytes(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
}

/// Appends an optional 32-byte key: a presence byte, then the key.
pub(crate) fn put_opt32(out: &mut Vec<u8>, v: Option<&[u8; 32]>) {
    match v {
        Some(k) => {
            out.push(1);
            out.extend_from_slice(k);
        }
        None => out.push(0),
    }
}

impl Reader<'_> {
    pub(crate) fn opt32(&mut self) -> Option<Option<[u8; 32]>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.array::<32>()?)),
            _ => None,
        }
    }
}
