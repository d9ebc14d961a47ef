"""``DirectoryObjectStorage``: the ``ObjectStorage`` port on a local directory."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from forze.domain.errors import InvalidInputError, NotFoundError

__all__ = ["DirectoryObjectStorage"]

_MAX_KEY_BYTES = 1024
_MAX_SEGMENT_BYTES = 250
"""A segment's file name is it and a suffix: within every file system's 255-byte limit."""
_PARTIAL = ".partial-"
"""Names of files being written start so; they are never listed."""
_FOLDER, _OBJECT = ".d", ".o"
"""Suffixes of a key's folders and of its file: the keys ``a`` and ``a/b`` are the file
``a.o`` and the file ``b.o`` in the folder ``a.d``, so both can exist (object storage has
no folders; a file system cannot hold a file and a folder of one name)."""


def _check_key(key: object) -> str:
    """A key that names a file below the root: '/'-separated segments, none empty, '.' or
    '..', no NUL or other control character, at most 1024 UTF-8 bytes."""
    if not isinstance(key, str) or not key:
        raise InvalidInputError(f"object key {key!r}: must be a non-empty string")
    if len(key.encode("utf-8", "surrogatepass")) > _MAX_KEY_BYTES:
        raise InvalidInputError(f"object key {key[:60]!r}...: longer than {_MAX_KEY_BYTES} bytes")
    if any(ord(c) < 32 or ord(c) == 127 for c in key) or "\\" in key:
        raise InvalidInputError(f"object key {key!r}: control characters and '\\' are refused")
    segments = key.split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise InvalidInputError(
            f"object key {key!r}: segments between '/' must be non-empty, not '.' or '..'"
        )
    if any(len(s.encode("utf-8", "surrogatepass")) > _MAX_SEGMENT_BYTES for s in segments):
        raise InvalidInputError(
            f"object key {key[:60]!r}: a segment between '/' is longer than"
            f" {_MAX_SEGMENT_BYTES} bytes"
        )
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(f"object key {key!r}: not valid UTF-8") from None
    return key


class DirectoryObjectStorage:
    """Objects as files under ``root``: exports and backups on a local disk or a mounted
    volume. A key's segments are folders and a file (``exports/manifest.json`` is the file
    ``root/exports.d/manifest.json.o``), so that ``a`` and ``a/b`` can both be keys.

    ``put`` writes a temporary file beside the target, flushes it to disk and renames it
    over the target, so a reader sees the old object or the new one, never a part, and a
    crash leaves no half-written object. Keys are checked (see :meth:`put`): none can name
    a file outside ``root``. File work runs in a worker thread, off the event loop. The
    content type is not kept (a file has none); ``list`` is sorted by key.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        *folders, name = _check_key(key).split("/")
        return self.root.joinpath(*(f + _FOLDER for f in folders), name + _OBJECT)

    async def put(
        self, key: str, data: bytes, *, content_type: str = "application/octet-stream"
    ) -> None:
        """Store ``data`` under ``key`` (see the class). ``InvalidInputError`` for a key with
        an empty, ``.`` or ``..`` segment, a control character or ``\\``, more than 1024
        bytes, or a segment of more than 250."""
        path = self._path(key)
        await asyncio.to_thread(_write, path, bytes(data))

    async def get(self, key: str) -> bytes:
        """The object's bytes; ``NotFoundError`` when absent."""
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFoundError(f"object {key!r} does not exist in {str(self.root)!r}") from None

    async def delete(self, key: str) -> bool:
        """Delete the object; ``True`` when it existed."""
        path = self._path(key)
        try:
            await asyncio.to_thread(path.unlink)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return False
        return True

    async def list(self, prefix: str = "") -> list[str]:
        """Keys that start with ``prefix``, sorted."""
        return await asyncio.to_thread(_keys, self.root, prefix)


def _keys(root: Path, prefix: str) -> list[str]:
    if not root.is_dir():
        return []
    keys = []
    for folder, folders, files in os.walk(root):
        folders[:] = [f for f in folders if f.endswith(_FOLDER)]
        relative = [p.removesuffix(_FOLDER) for p in Path(folder).relative_to(root).parts]
        for name in files:
            if name.endswith(_OBJECT) and not name.startswith(_PARTIAL):
                key = "/".join((*relative, name.removesuffix(_OBJECT)))
                if key.startswith(prefix):
                    keys.append(key)
    return sorted(keys)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=_PARTIAL, dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
