"""A fingerprint of the library code, so a stored measurement can tell whether it is still current."""

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def code_hash() -> str:
    """SHA-256 over every ``mha_lib/**/*.py`` (sorted path, then contents); changes whenever the library does.

    >>> len(code_hash())
    64
    """
    digest = hashlib.sha256()
    for path in sorted((ROOT / "mha_lib").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
