#!/usr/bin/env python3
"""Packages dist/filter.wasm with scripts/package-oci into a temporary OCI image layout and
checks it against the OCI image-layout and image-manifest specs and the Wasm OCI artifact
media types Istio's WasmPlugin pulls: every blob's digest and size, the media types, the
manifests' references, the layer holding exactly the module (or plugin.wasm in the compat tar).
Prints `N passed, N failed`."""

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WASM = os.path.join(ROOT, "dist", "filter.wasm")
checks = []


def check(name, ok, detail=""):
    checks.append((name, bool(ok), detail))


def blob(layout, desc):
    algo, _, hexd = desc["digest"].partition(":")
    path = os.path.join(layout, "blobs", algo, hexd)
    with open(path, "rb") as f:
        data = f.read()
    check(f"blob {desc['digest'][:19]} digest", algo == "sha256" and hashlib.sha256(data).hexdigest() == hexd)
    check(f"blob {desc['digest'][:19]} size", len(data) == desc["size"], f"{len(data)} != {desc['size']}")
    return data


def main():
    wasm = open(WASM, "rb").read()
    out = tempfile.mkdtemp(prefix="vigil-oci-")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "package-oci"), WASM, out, "1.2.3"], check=True, capture_output=True)
    layout = json.load(open(os.path.join(out, "oci-layout")))
    check("oci-layout version", layout == {"imageLayoutVersion": "1.0.0"})
    index = json.load(open(os.path.join(out, "index.json")))
    check("index schemaVersion", index.get("schemaVersion") == 2)
    check("index mediaType", index.get("mediaType") == "application/vnd.oci.image.index.v1+json")
    refs = {m.get("annotations", {}).get("org.opencontainers.image.ref.name"): m for m in index["manifests"]}
    check("tags", set(refs) == {"1.2.3", "1.2.3-compat"}, str(set(refs)))
    for tag, desc in refs.items():
        check(f"{tag} manifest mediaType", desc["mediaType"] == "application/vnd.oci.image.manifest.v1+json")
        m = json.loads(blob(out, desc))
        check(f"{tag} schemaVersion", m.get("schemaVersion") == 2)
        cfg = blob(out, m["config"])
        layers = m["layers"]
        check(f"{tag} one layer", len(layers) == 1)
        data = blob(out, layers[0])
        if tag == "1.2.3":
            check("wasm config mediaType", m["config"]["mediaType"] == "application/vnd.module.wasm.config.v1+json")
            check("wasm config content", json.loads(cfg).get("type") == "envoy_proxy")
            check("wasm layer mediaType", layers[0]["mediaType"] == "application/vnd.module.wasm.content.layer.v1+wasm")
            check("wasm layer is the module", data == wasm and data[:4] == b"\0asm")
        else:
            check("compat annotation", m.get("annotations", {}).get("module.wasm.image/variant") == "compat")
            check("compat layer mediaType", layers[0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip")
            raw = gzip.decompress(data)
            with tarfile.open(fileobj=io.BytesIO(raw)) as t:
                names = t.getnames()
                check("compat layer holds plugin.wasm", names == ["plugin.wasm"], str(names))
                check("compat plugin.wasm is the module", t.extractfile("plugin.wasm").read() == wasm)
            diff_ids = json.loads(cfg)["rootfs"]["diff_ids"]
            check("compat diff_id", diff_ids == ["sha256:" + hashlib.sha256(raw).hexdigest()])
    # Deterministic: packaging twice gives the same digests.
    out2 = tempfile.mkdtemp(prefix="vigil-oci-")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "package-oci"), WASM, out2, "1.2.3"], check=True, capture_output=True)
    check("reproducible", json.load(open(os.path.join(out2, "index.json"))) == index)
    failed = [c for c in checks if not c[1]]
    for name, ok, detail in checks:
        if not ok:
            print(f"FAIL {name} {detail}")
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
