"""``phi-pipeline keys generate PATH``: write a development key file.

The file holds a key id, an HMAC key and an encryption key (base64 of 32 random bytes each),
mode 0600; point ``PHI_KEYS__KEY_FILE`` at it. Production deployments implement
``pipeline.deid.keys.KeyProvider`` over their KMS instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``keys``."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    gen = sub.add_parser("generate", help="write a new development key file (mode 0600)")
    gen.add_argument("path", type=Path)
    gen.add_argument("--key-id", default="dev-1")
    gen.add_argument(
        "--if-missing",
        action="store_true",
        help="keep an existing file (surrogates stay consistent across restarts)",
    )


def run(args: argparse.Namespace) -> int:
    """Write the key file; refuse to overwrite one unless it is missing."""
    from pipeline.deid.keys import generate_key_file

    path: Path = args.path
    if path.exists():
        if args.if_missing:
            return 0
        print(f"{path} exists; not overwriting keys", file=sys.stderr)
        return 1
    path.parent.mkdir(parents=True, exist_ok=True)
    generate_key_file(path, key_id=args.key_id)
    print(path)
    return 0
