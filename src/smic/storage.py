"""Where image files live: a local path, or a URI (``s3://bucket/key``, ``gs://bucket/key``,
``hdfs://``, ``file://``) read through pyarrow's filesystems (``pip install "smic[remote]"``).

A location is kept as a ``Path`` when local and as the URI string otherwise (``Path`` would fold
the ``//``). Object stores have no folders: a "folder" URI is a key prefix, listed recursively.
Credentials come from where pyarrow looks (the AWS / Google environment variables and files).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, unquote, urlsplit

__all__ = ["Location", "as_location", "is_dir", "is_file", "is_uri", "join", "list_files", "name_of", "open_binary"]

Location = Path | str
"""A local file (``Path``) or a URI (``str``)."""

# a scheme of two or more letters: "C:/x" is a Windows path, not a URI
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


def is_uri(location: str | os.PathLike[str]) -> bool:
    return isinstance(location, str) and _URI.match(location) is not None


def as_location(location: str | os.PathLike[str]) -> Location:
    """A URI string as it is, anything else as a ``Path``."""
    return location if isinstance(location, str) and is_uri(location) else Path(location)


def name_of(location: Location) -> str:
    """The last part of the location: the file's name."""
    return unquote(location.rstrip("/").rsplit("/", 1)[-1]) if isinstance(location, str) else location.name


def join(folder: Location, relative: str) -> Location:
    """``relative`` (a posix path, percent-encoded into a URI folder; or itself a URI) under ``folder``."""
    if is_uri(relative):
        return relative
    if isinstance(folder, str):
        return folder.rstrip("/") + "/" + quote(relative.lstrip("/"))
    return folder / relative


@lru_cache(maxsize=64)
def _filesystem(root: str) -> tuple[Any, str] | ValueError:
    """pyarrow's filesystem for ``scheme://netloc/`` and that root's path on it, or why it cannot
    be had. Kept either way: resolving an S3 bucket's region is a request (seconds where the
    network is down), made once per bucket rather than once per file."""
    try:
        from pyarrow import fs  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        return ValueError("reading URIs needs pyarrow: pip install 'smic[remote]', or use local files")
    try:
        filesystem, path = fs.FileSystem.from_uri(root)
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        return ValueError(f"cannot reach its filesystem ({_one_line(error)})")
    return filesystem, path.rstrip("/")


def _resolve(uri: str) -> tuple[Any, str]:
    """The filesystem holding ``uri`` and the path of ``uri`` on it."""
    parts = urlsplit(uri)
    found = _filesystem(f"{parts.scheme}://{parts.netloc}/")
    if isinstance(found, ValueError):
        raise ValueError(f"{uri}: {found}")
    filesystem, root = found
    return filesystem, root + unquote(parts.path)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _info(uri: str) -> Any:
    filesystem, path = _resolve(uri)
    try:
        return filesystem.get_file_info(path)
    except OSError as error:
        raise ValueError(f"{uri}: cannot be read ({_one_line(error)})") from error


def is_file(location: Location) -> bool:
    if isinstance(location, Path):
        return location.is_file()
    from pyarrow import fs

    return bool(_info(location).type == fs.FileType.File)


def is_dir(location: Location) -> bool:
    """A local folder, or a URI prefix with objects under it (object stores report those as
    directories)."""
    if isinstance(location, Path):
        return location.is_dir()
    from pyarrow import fs

    return bool(_info(location).type == fs.FileType.Directory)


def list_files(folder: Location) -> dict[str, Location]:
    """Relative posix path -> location of every file under ``folder``, recursively, sorted."""
    if isinstance(folder, Path):
        return {path.relative_to(folder).as_posix(): path for path in sorted(folder.rglob("*")) if path.is_file()}
    from pyarrow import fs

    filesystem, root = _resolve(folder)
    try:
        infos = filesystem.get_file_info(fs.FileSelector(root, recursive=True, allow_not_found=True))
    except OSError as error:
        raise ValueError(f"{folder}: cannot be listed ({_one_line(error)})") from error
    prefix = root.rstrip("/") + "/"
    return {
        info.path[len(prefix) :]: join(folder, info.path[len(prefix) :])
        for info in sorted(infos, key=lambda info: info.path)
        if info.type == fs.FileType.File and info.path.startswith(prefix)
    }


@contextmanager
def open_binary(location: Location) -> Iterator[IO[bytes]]:
    """The file opened for reading bytes, seekable (Pillow seeks). A missing file raises
    ``FileNotFoundError``; anything else ``OSError`` or a one-line ``ValueError``."""
    if isinstance(location, Path):
        with location.open("rb") as handle:
            yield handle
        return
    filesystem, path = _resolve(location)
    try:
        handle = filesystem.open_input_file(path)
    except FileNotFoundError:
        raise
    except OSError as error:
        if any(words in str(error).lower() for words in ("not found", "no such file", "does not exist")):
            raise FileNotFoundError(location) from error
        raise
    with handle:
        yield handle
