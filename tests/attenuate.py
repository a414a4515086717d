"""Attenuates a Quire session token with biscuit-python, an independent biscuit implementation.

Usage: attenuate.py TOKEN PUBLIC_KEY DATALOG   (PUBLIC_KEY as `ed25519/<hex>`)
Verifies TOKEN against the root public key, appends a block with DATALOG, prints the new token.
"""
import sys

from biscuit_auth import Biscuit, BlockBuilder, PublicKey


def main() -> None:
    token, public_key, datalog = sys.argv[1:4]
    root = PublicKey(public_key)
    parent = Biscuit.from_base64(token, root)
    child = parent.append(BlockBuilder(datalog))
    print(child.to_base64())


if __name__ == "__main__":
    main()
