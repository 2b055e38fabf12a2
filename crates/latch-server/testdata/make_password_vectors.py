#!/usr/bin/env python3
"""Writes password_vectors.jsonl: password hashes made by the reference implementations, in the
formats `latch users import` accepts, for the tests that import them and sign in.

    pip install bcrypt passlib argon2-cffi     # scrypt and PBKDF2 come from hashlib
    python3 make_password_vectors.py > password_vectors.jsonl

Each line: {"format", "email", "password", and either "password_hash" or Keycloak's "credentials"}.
Costs are kept low (the tests verify each hash in a debug build); the formats are the real ones.
"""
import base64
import hashlib
import json
import os

import argon2
import bcrypt
from passlib.hash import pbkdf2_sha256 as passlib_pbkdf2_sha256
from passlib.hash import scrypt as passlib_scrypt


def b64(raw):
    """PHC's B64: standard alphabet, no padding."""
    return base64.b64encode(raw).decode().rstrip("=")


def line(fmt, password, **hash_fields):
    email = fmt.replace("/", "-").replace("$", "") + "@import.example.com"
    return {"format": fmt, "email": email, "password": password, **hash_fields}


def keycloak(password, algorithm, digest, iterations):
    salt = os.urandom(16)
    value = hashlib.pbkdf2_hmac(digest, password.encode(), salt, iterations, dklen=64)
    # Keycloak's export: secretData and credentialData are JSON documents inside strings.
    return [{
        "type": "password",
        "secretData": json.dumps({"value": base64.b64encode(value).decode(),
                                  "salt": base64.b64encode(salt).decode(),
                                  "additionalParameters": {}}),
        "credentialData": json.dumps({"hashIterations": iterations, "algorithm": algorithm,
                                      "additionalParameters": {}}),
    }]


def main():
    pw = "correct horse battery staple"
    lines = [
        line("argon2id", pw, password_hash=argon2.PasswordHasher(
            time_cost=2, memory_cost=8192, parallelism=2).hash(pw)),
        line("argon2i", "Tr0ub4dour&3 ünïcode", password_hash=argon2.low_level.hash_secret(
            "Tr0ub4dour&3 ünïcode".encode(), os.urandom(16), time_cost=3, memory_cost=4096,
            parallelism=1, hash_len=32, type=argon2.low_level.Type.I).decode()),
        line("bcrypt-2b", pw, password_hash=bcrypt.hashpw(
            pw.encode(), bcrypt.gensalt(rounds=6, prefix=b"2b")).decode()),
        line("bcrypt-2a", "another one", password_hash=bcrypt.hashpw(
            b"another one", bcrypt.gensalt(rounds=5, prefix=b"2a")).decode()),
    ]
    # $2y$ (PHP's name for the same algorithm): python's bcrypt only writes 2a/2b, passlib's
    # pure-Python backend writes 2y.
    os.environ["PASSLIB_BUILTIN_BCRYPT"] = "enabled"
    from passlib.hash import bcrypt as passlib_bcrypt
    passlib_bcrypt.set_backend("builtin")
    lines.append(line("bcrypt-2y", "php user pw", password_hash=passlib_bcrypt.using(
        ident="2y", rounds=5).hash("php user pw")))
    lines.append(line("pbkdf2-sha256-passlib", pw,
                      password_hash=passlib_pbkdf2_sha256.using(rounds=29000).hash(pw)))
    salt = os.urandom(16)
    derived = hashlib.pbkdf2_hmac("sha256", pw.encode(), salt, 10000)
    lines.append(line("pbkdf2-sha256-phc", pw,
                      password_hash=f"$pbkdf2-sha256$i=10000,l=32${b64(salt)}${b64(derived)}"))
    lines.append(line("keycloak-pbkdf2-sha256", pw,
                      credentials=keycloak(pw, "pbkdf2-sha256", "sha256", 27500)))
    lines.append(line("keycloak-pbkdf2-sha512", "kc 512 pw",
                      credentials=keycloak("kc 512 pw", "pbkdf2-sha512", "sha512", 30000)))
    salt = os.urandom(16)
    derived = hashlib.scrypt(pw.encode(), salt=salt, n=2 ** 14, r=8, p=1, dklen=32)
    lines.append(line("scrypt-phc", pw,
                      password_hash=f"$scrypt$ln=14,r=8,p=1${b64(salt)}${b64(derived)}"))
    lines.append(line("scrypt-passlib", "scrypt two",
                      password_hash=passlib_scrypt.using(rounds=12, block_size=8,
                                                         parallelism=1).hash("scrypt two")))
    for entry in lines:
        print(json.dumps(entry, ensure_ascii=False))


if __name__ == "__main__":
    main()
