"""Where the tests find the real CDNOW files: ``../shared/data/cdnow`` when it is there, else the
byte-identical copy in ``tests/data/cdnow`` (MIT-licensed via ``lifetimes``; see its README), so
the real-data tests run on any clean clone."""

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cdnow"
VENDORED = Path(__file__).resolve().parent / "data" / "cdnow"


def cdnow_file(name: str) -> Path:
    """``CDNOW_master.txt`` or ``CDNOW_sample.txt``."""
    shared = SHARED / name
    return shared if shared.exists() else VENDORED / name
