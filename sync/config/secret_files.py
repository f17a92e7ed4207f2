"""``{file: PATH}``: a value kept in a file of its own (a Docker secret under /run/secrets,
a systemd credential under $CREDENTIALS_DIRECTORY) instead of in the environment. The file
holds the value alone; the line break that ends it is not part of it. Problems name the
file, never what it holds."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

# A token, a URL or a PEM key is a few KiB at most; a bigger file is the wrong file.
MAX_BYTES = 64 * 1024
VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


class SecretFileError(ValueError):
    """The file cannot give a value; the message names the file and what to do."""


def secret_path(text: Any, base_dir: Path | None, env: Mapping[str, str]) -> Path:
    """The file ``{file: text}`` names: ``$NAME`` or ``${NAME}`` replaced from ``env`` (systemd
    names its credentials folder only so), then a relative path taken from ``base_dir`` (the
    mapping's folder) when known."""
    if not isinstance(text, str) or not text.strip():
        raise SecretFileError("file: expects the path of a file holding the value")
    names = [m.group(1) or m.group(2) for m in VARIABLE.finditer(text)]
    unset = next((name for name in names if not env.get(name)), None)
    if unset is not None:
        raise SecretFileError(f"the path {text} names the environment variable {unset}, which is not set")
    text = VARIABLE.sub(lambda m: env[m.group(1) or m.group(2)], text)
    try:
        path = Path(text).expanduser()
    except RuntimeError:
        raise SecretFileError("cannot expand the ~ at the start of the file's path (no such user)") from None
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def read_secret_file(path: Path) -> str:
    """The value in ``path``: its text without the line breaks that end it."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_BYTES + 1)
    except OSError as err:
        raise SecretFileError(f"cannot read the secret file {path}: {err.strerror or type(err).__name__}") from None
    if len(data) > MAX_BYTES:
        raise SecretFileError(f"the secret file {path} is over {MAX_BYTES // 1024} KiB: "
                              "it should hold the value alone")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretFileError(f"the secret file {path} is not UTF-8 text") from None
    value = text.rstrip("\r\n")
    if not value.strip():
        raise SecretFileError(f"the secret file {path} is empty")
    return value
