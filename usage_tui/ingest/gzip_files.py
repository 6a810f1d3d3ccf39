"""Gzip files read as what they hold: the providers' and gateways' exports often come compressed.
Told by their first bytes, whatever their name."""

from __future__ import annotations

import gzip
import io
import os
import zlib
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
# Errors of a gzip stream that ends early or is corrupt, met while reading it.
GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


def is_gzip(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(2) == GZIP_MAGIC
    except OSError:
        return False


class _Gunzip(io.RawIOBase):
    """A gzip file's content (members one after the other, as gzip writes appended parts),
    handing out everything that decompresses before raising for a stream cut short: gzip.GzipFile
    drops the part of its last read that came before the cut (5 lines of a 20,000-line file)."""

    CHUNK = 65_536

    def __init__(self, path: str) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._inflate = zlib.decompressobj(wbits=31)
        self._out = b""
        self._ended = False
        self._delivered = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._out and not self._ended:
            if self._inflate.eof:  # a member ended: the next one, if any, starts in unused_data
                rest = self._inflate.unused_data or self._file.read(self.CHUNK)
                if not rest:
                    self._ended = True
                    break
                self._inflate = zlib.decompressobj(wbits=31)
                self._out = self._inflate.decompress(rest, self.CHUNK)
                continue
            data = self._inflate.unconsumed_tail or self._file.read(self.CHUNK)
            if not data:
                raise EOFError("compressed file ended before the end-of-stream marker was reached")
            self._out = self._inflate.decompress(data, self.CHUNK)
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        self._delivered += n
        return n

    def tell(self) -> int:
        """Bytes of content handed out (the progress of an import, against the content's size)."""
        return self._delivered

    def close(self) -> None:
        self._file.close()
        super().close()


def content_size(path: str) -> int:
    """A file's size, or a gzip file's content size (its trailer's, modulo 4 GiB: at least the
    compressed size), which the progress of reading it is measured against."""
    try:
        size = os.path.getsize(path)
        if not is_gzip(path) or size < 18:
            return size
        with open(path, "rb") as f:
            f.seek(-4, os.SEEK_END)
            return max(size, int.from_bytes(f.read(4), "little"))
    except OSError:
        return 0


def open_file(path: str, buffering: int) -> BinaryIO:
    """A file, decompressed when it is gzip (by its first bytes, whatever its name)."""
    if is_gzip(path):
        return io.BufferedReader(_Gunzip(path), buffering)
    return open(path, "rb", buffering=buffering)


