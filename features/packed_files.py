"""Exports that arrive packed: a gzip, bzip2 or xz file, or a ZIP archive holding one export.

CRMs and shops mail large exports zipped (HubSpot, Salesforce's weekly export), and warehouses
unload ``.csv.gz``; unpacking by hand is one more step where a file gets lost or mangled. A packed
export is unpacked in memory and read as the file it holds (CSV, Parquet or a workbook), named
in messages by the packed file's path. A ZIP archive of several files is not guessed at: the
error lists them. Workbooks (.xlsx, .ods) are ZIP archives too and are read as workbooks.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from features.mapping import IngestError

#: Extra file names archives carry that are no export (macOS resource forks, hidden files),
#: in any folder of the archive.
_NOT_EXPORTS = ("__MACOSX/", "Thumbs.db")
_NOT_EXPORT_NAMES = frozenset({"Thumbs.db", "desktop.ini", "Desktop.ini"})


@dataclass(frozen=True)
class Unpacked:
    """What a file holds once unpacked: its bytes, the name its content had (the member's, or the
    file's own without ``.gz``), and how it was packed (None when it was not)."""

    raw: bytes
    name: str
    packed: str | None = None


def unpack(path: Path, raw: bytes) -> Unpacked:
    """``raw`` (the bytes of ``path``) unpacked when it is a compressed file or a ZIP archive of
    one export; as it is otherwise (workbooks included). Broken, encrypted or many-file archives
    are an :class:`IngestError` naming the file."""
    streams: tuple[tuple[bytes, str, Callable[[bytes], bytes], tuple], ...] = (
        (b"\x1f\x8b", "gzip", gzip.decompress, (gzip.BadGzipFile, EOFError, zlib.error)),
        (b"BZh", "bzip2", bz2.decompress, (OSError, EOFError, ValueError)),
        (b"\xfd7zXZ", "xz", lzma.decompress, (lzma.LZMAError, EOFError)),
    )
    name = path.name
    for magic, kind, decompress, errors in streams:
        if raw.startswith(magic):
            try:
                inner = decompress(raw)
            except errors as exc:
                raise IngestError(
                    f"{path}: a {kind}-compressed file that does not decompress ({exc}): a cut "
                    "download? fetch the export again"
                ) from exc
            name = path.stem if path.suffix.lower() in {".gz", ".bz2", ".xz"} else path.name
            return Unpacked(inner, name, kind)
    if raw.startswith(b"PK\x03\x04") and not _is_workbook(path, raw):
        member = _only_member(path, raw)
        # a ZIP of one .csv.gz (a folder of warehouse unloads zipped): the member unpacked too
        if any(member.raw.startswith(magic) for magic, *_ in streams):
            nested = unpack(Path(f"{path}:{member.name}"), member.raw)  # named in messages
            return Unpacked(nested.raw, Path(nested.name).name, f"{member.packed}, {nested.packed}")
        return member
    return Unpacked(raw, name)


def _is_workbook(path: Path, raw: bytes) -> bool:
    """Whether a ZIP archive is a workbook: named as one (a broken one is the workbook reader's
    to report), or an Office Open XML or OpenDocument file by its contents."""
    from features.workbook_source import WORKBOOK_SUFFIXES

    if path.suffix.lower() in WORKBOOK_SUFFIXES:
        return True
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        return False  # _only_member says it is not a whole archive
    return "[Content_Types].xml" in names or "mimetype" in names


def _only_member(path: Path, raw: bytes) -> Unpacked:
    """The one export in a ZIP archive (directories, ``__MACOSX/`` and hidden files aside)."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = [
                info
                for info in archive.infolist()
                if not info.is_dir()
                and not info.filename.startswith(_NOT_EXPORTS)
                and "/__MACOSX/" not in f"/{info.filename}"
                and PurePosixPath(info.filename).name not in _NOT_EXPORT_NAMES
                and not PurePosixPath(info.filename).name.startswith(".")
            ]
            for info in members:  # names without the UTF-8 flag: as Chinese Windows wrote them
                info.filename = _member_name(info)
            if len(members) != 1:
                shown = ", ".join(m.filename for m in members[:5])
                more = f", ... ({len(members)} files)" if len(members) > 5 else ""
                raise IngestError(
                    f"{path}: a ZIP archive of {len(members)} files ({shown}{more}); unzip it and "
                    "give each table its file"
                    if members
                    else f"{path}: a ZIP archive without a file in it"
                )
            member = members[0]
            if member.flag_bits & 0x1:
                raise IngestError(f"{path}: the ZIP archive is password-protected; unzip it first")
            inner = archive.read(member)
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise IngestError(
            f"{path}: not a whole ZIP archive ({exc}): a cut download? fetch the export again"
        ) from exc
    except NotImplementedError as exc:  # a compression method zipfile lacks
        raise IngestError(f"{path}: the ZIP archive uses {exc}; unzip it first") from exc
    return Unpacked(inner, PurePosixPath(member.filename).name, f"zip ({member.filename})")


def _member_name(info: zipfile.ZipInfo) -> str:
    """A member's name as written: ``zipfile`` reads a name without the UTF-8 flag as CP437,
    while zip tools write UTF-8 without the flag, or the system's code page (GBK on Chinese
    Windows: ``客户.csv`` read as ``┐═╗º.csv``)."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename
