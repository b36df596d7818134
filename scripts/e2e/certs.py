"""Test PKI for the mTLS e2e: a CA, a server certificate and SPIFFE client certificates,
made with the openssl CLI into a temporary directory."""

import os
import subprocess


def _run(*args):
    subprocess.run(args, check=True, capture_output=True)


def make_pki(d, clients):
    """clients: {name: spiffe_uri}. Returns paths {ca, cert, key, clients: {name: (cert, key)}}."""
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=vigil-test-ca")
    out = {"ca": ca, "clients": {}}

    def leaf(name, san):
        key, csr, crt = (os.path.join(d, f"{name}.{x}") for x in ("key", "csr", "pem"))
        ext = os.path.join(d, f"{name}.ext")
        with open(ext, "w") as f:
            f.write(f"subjectAltName={san}\n")
        _run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
        _run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-out", crt, "-days", "2", "-extfile", ext)
        return crt, key

    out["cert"], out["key"] = leaf("server", "DNS:localhost,IP:127.0.0.1")
    for name, uri in clients.items():
        out["clients"][name] = leaf(name, f"URI:{uri}")
    return out
