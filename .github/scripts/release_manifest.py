#!/usr/bin/env python3
"""The release's bookkeeping, for .github/workflows/release.yml.

  plan      From the pushed tag: the version, the image repository and the name of
            every release file, as KEY=VALUE lines for $GITHUB_OUTPUT. Refuses a tag
            that is not v<version> of the root crate (Cargo.toml) and of the Helm chart
            (helm/cloudgrid/Chart.yaml version and appVersion).
  generate  From what the release jobs built: release-values.yaml (Helm values pinning
            every service's image by digest) and release-manifest.json (every release
            file with its SHA-256, the image by digest, the chart, the signing identity),
            checked against docs/release/release-manifest.schema.json.

Standard library plus PyYAML and jsonschema (tests/release/requirements.txt).
Exits non-zero, saying why, on any inconsistency.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "docs" / "release" / "release-manifest.schema.json"
SCHEMA_VERSION = 1
PRODUCT = "cloudgrid"
CHART_NAME = "cloudgrid"
CHART_DIR = Path("helm") / "cloudgrid"

VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$")
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
REVISION_RE = re.compile(r"^[0-9a-f]{40}$")
CREATED_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")

MANIFEST = "release-manifest.json"
VALUES = "release-values.yaml"
CHECKSUMS = "SHA256SUMS"
CHECKSUMS_SIGNATURE = "SHA256SUMS.sigstore.json"
SBOM_KEYS = {"spdx-json": "sbom_spdx", "cyclonedx-json": "sbom_cyclonedx"}


class ReleaseError(Exception):
    """A release input that does not hold together; the message says which and why."""


def names(version: str) -> dict[str, str]:
    """The name of every release file of `version` (one place for all of them)."""
    return {
        "tarball": f"cloudgrid-{version}-linux-amd64.tar.gz",
        "tarball_sha256": f"cloudgrid-{version}-linux-amd64.tar.gz.sha256",
        "chart_file": f"{CHART_NAME}-{version}.tgz",
        "sbom_spdx": f"cloudgrid-{version}-image.spdx.json",
        "sbom_cyclonedx": f"cloudgrid-{version}-image.cdx.json",
        "vulnerability_report": f"cloudgrid-{version}-image.vulnerabilities.json",
        "provenance": f"cloudgrid-{version}-provenance.sigstore.json",
        "manifest": MANIFEST,
        "values": VALUES,
        "checksums": CHECKSUMS,
        "checksums_signature": CHECKSUMS_SIGNATURE,
    }


def need(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise ReleaseError(f"Python module `{module}` is missing: pip install -r tests/release/requirements.txt") from None


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def crate_version(root: Path) -> str:
    import tomllib

    manifest = tomllib.loads((root / "Cargo.toml").read_text())
    try:
        return str(manifest["package"]["version"])
    except KeyError:
        raise ReleaseError("Cargo.toml has no [package] version") from None


def chart_metadata(root: Path) -> dict:
    yaml = need("yaml")
    return yaml.safe_load((root / CHART_DIR / "Chart.yaml").read_text()) or {}


def check_versions(version: str, root: Path) -> None:
    """The tag's version must be the root crate's and the chart's (version and appVersion)."""
    problems = []
    crate = crate_version(root)
    if crate != version:
        problems.append(f"Cargo.toml [package] version is {crate}, the tag says {version}")
    chart = chart_metadata(root)
    for key in ("version", "appVersion"):
        if str(chart.get(key)) != version:
            problems.append(f"{CHART_DIR}/Chart.yaml {key} is {chart.get(key)}, the tag says {version}")
    if problems:
        raise ReleaseError("; ".join(problems) + " (bump them together, then tag)")


def plan(args: argparse.Namespace) -> None:
    ref = args.ref
    m = re.fullmatch(r"refs/tags/v(.+)", ref)
    if not m:
        raise ReleaseError(
            f"releases run from a tag v<version>, not {ref} "
            "(for a manual run choose the tag under 'Use workflow from')"
        )
    version = m.group(1)
    if not VERSION_RE.match(version):
        raise ReleaseError(f"tag v{version}: {version} is not a version MAJOR.MINOR.PATCH[-PRERELEASE]")
    if args.version and args.version.strip().removeprefix("v") != version:
        raise ReleaseError(f"the version asked for ({args.version}) is not the tag's ({version})")
    check_versions(version, Path(args.root))
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", args.repository):
        raise ReleaseError(f"--repository {args.repository!r} is not owner/name")
    out = {
        "version": version,
        "tag": f"v{version}",
        "prerelease": "true" if "-" in version else "false",
        # Registry paths are lowercase; GitHub names need not be.
        "image": f"{args.registry}/{args.repository.lower()}",
        **names(version),
    }
    for key, value in out.items():
        print(f"{key}={value}")


def parse_pair(value: str, what: str) -> tuple[str, str]:
    key, sep, path = value.partition("=")
    if not sep or not key or not path:
        raise ReleaseError(f"{what} {value!r}: expected KIND=PATH")
    return key, path


def release_file(path_arg: str, out_dir: Path, what: str) -> tuple[str, str]:
    """(file name, sha256) of a release file, which must lie in the output directory."""
    path = Path(path_arg)
    if not path.is_file():
        raise ReleaseError(f"{what}: {path_arg} does not exist")
    if path.resolve().parent != out_dir.resolve():
        raise ReleaseError(f"{what}: {path_arg} is not in {out_dir} (every release file is published from there)")
    return path.name, sha256(path)


def chart_from_package(path: Path) -> dict:
    yaml = need("yaml")
    with tarfile.open(path, "r:gz") as tar:
        member = next((m for m in tar.getmembers() if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")), None)
        if member is None:
            raise ReleaseError(f"{path.name} holds no <chart>/Chart.yaml: not a packaged chart")
        f = tar.extractfile(member)
        assert f is not None
        return yaml.safe_load(f.read()) or {}


def values_yaml(version: str, repository: str, digest: str, chart_file: str) -> str:
    return (
        f"# Release values of CloudGrid {version}, made by the release workflow: every service\n"
        "# runs the released image, pinned by digest. Install with\n"
        f"#   helm install cloudgrid {chart_file} -f values-production-like.yaml -f {VALUES} ...\n"
        "# (values-production-like.yaml is in the chart package; see docs/release-verification.md).\n"
        "image:\n"
        "  # -- The release's image repository.\n"
        f"  repository: {json.dumps(repository)}\n"
        "  # -- The release's image digest (release-manifest.json image.digest); the tag is unused.\n"
        f"  digest: {json.dumps(digest)}\n"
    )


def validate(manifest: dict, schema_path: Path) -> None:
    jsonschema = need("jsonschema")
    schema = json.loads(schema_path.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors]
        raise ReleaseError(f"the manifest does not match {schema_path.name}:\n" + "\n".join(lines))


def generate(args: argparse.Namespace) -> None:
    out_dir = Path(args.out_dir)
    if not out_dir.is_dir():
        raise ReleaseError(f"--out-dir {out_dir} is not a directory")
    version = args.version
    for value, regex, what in (
        (version, VERSION_RE, "--version"),
        (args.revision, REVISION_RE, "--revision (40 hex digits)"),
        (args.created, CREATED_RE, "--created (YYYY-MM-DDTHH:MM:SSZ)"),
    ):
        if not regex.match(value or ""):
            raise ReleaseError(f"{what} {value!r} is malformed")
    if not args.image_digest:
        raise ReleaseError("--image-digest is required: the release pins its image by digest")
    if not DIGEST_RE.match(args.image_digest):
        raise ReleaseError(f"--image-digest {args.image_digest!r} is not sha256:<64 lowercase hex digits>")
    if args.image_tag != version:
        raise ReleaseError(f"--image-tag {args.image_tag} is not the version {version}")

    chart_name, chart_sha = release_file(args.chart, out_dir, "--chart")
    chart = chart_from_package(Path(args.chart))
    for key in ("version", "appVersion"):
        if str(chart.get(key)) != version:
            raise ReleaseError(f"{chart_name}: chart {key} is {chart.get(key)}, the release is {version}")
    if chart.get("name") != CHART_NAME or chart_name != f"{CHART_NAME}-{version}.tgz":
        raise ReleaseError(f"{chart_name}: expected the chart {CHART_NAME} {version} as {CHART_NAME}-{version}.tgz")

    expected = names(version)

    def named(file: str, want: str, what: str) -> None:
        if file != want:
            raise ReleaseError(f"{what}: the release names this file {want}, not {file} (see `plan`)")

    binaries = []
    for value in args.binary:
        platform, path = parse_pair(value, "--binary")
        os_, _, arch = platform.partition("/")
        file, digest = release_file(path, out_dir, f"--binary {platform}")
        named(file, f"cloudgrid-{version}-{os_}-{arch}.tar.gz", f"--binary {platform}")
        binaries.append({"name": PRODUCT, "os": os_, "arch": arch, "file": file, "sha256": digest})

    sboms = []
    for value in args.sbom:
        fmt, path = parse_pair(value, "--sbom")
        file, digest = release_file(path, out_dir, f"--sbom {fmt}")
        if fmt in SBOM_KEYS:
            named(file, expected[SBOM_KEYS[fmt]], f"--sbom {fmt}")
        sboms.append({"format": fmt, "subject": "image", "file": file, "sha256": digest})

    reports = []
    for value in args.vulnerability_report:
        kind, path = parse_pair(value, "--vulnerability-report")
        scanner, _, fmt = kind.partition(":")
        file, digest = release_file(path, out_dir, f"--vulnerability-report {kind}")
        named(file, expected["vulnerability_report"], f"--vulnerability-report {kind}")
        reports.append({"scanner": scanner, "format": fmt or "json", "subject": "image", "file": file, "sha256": digest})

    signatures = []
    subjects = [b["file"] for b in binaries] + [chart_name]
    for value in args.signature:
        kind, path = parse_pair(value, "--signature")
        file, digest = release_file(path, out_dir, f"--signature {kind}")
        if kind == "build-provenance":
            named(file, expected["provenance"], f"--signature {kind}")
        signatures.append({"kind": kind, "format": "sigstore-bundle", "subjects": subjects, "file": file, "sha256": digest})

    values_path = out_dir / VALUES
    values_path.write_text(values_yaml(version, args.image_repository, args.image_digest, chart_name))

    manifest = {
        "schemaVersion": SCHEMA_VERSION,
        "product": PRODUCT,
        "version": version,
        "tag": f"v{version}",
        "git": {"repository": args.source, "revision": args.revision},
        "created": args.created,
        "signing": {"method": "sigstore-keyless", "issuer": args.signing_issuer, "identity": args.signing_identity},
        "image": {
            "repository": args.image_repository,
            "tag": args.image_tag,
            "digest": args.image_digest,
            "reference": f"{args.image_repository}@{args.image_digest}",
            "platforms": args.image_platform or ["linux/amd64"],
        },
        "chart": {
            "name": CHART_NAME,
            "version": str(chart["version"]),
            "appVersion": str(chart["appVersion"]),
            "file": chart_name,
            "sha256": chart_sha,
        },
        "binaries": binaries,
        "sboms": sboms,
        "vulnerabilityReports": reports,
        "signatures": signatures,
        "releaseValues": {"file": VALUES, "sha256": sha256(values_path)},
        "checksums": {"file": CHECKSUMS, "algorithm": "sha256", "signature": CHECKSUMS_SIGNATURE},
    }
    try:
        validate(manifest, Path(args.schema))
    except ReleaseError:
        values_path.unlink()
        raise
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {out_dir / VALUES} and {out_dir / MANIFEST} (image {manifest['image']['reference']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("plan", help="the version and the release files' names, from the tag")
    p.add_argument("--ref", required=True, help="the git ref released (GITHUB_REF), refs/tags/v<version>")
    p.add_argument("--version", default="", help="the version a manual run asked for (must be the tag's)")
    p.add_argument("--repository", required=True, help="owner/name of the GitHub repository")
    p.add_argument("--registry", default="ghcr.io", help="the image registry (default ghcr.io)")
    p.add_argument("--root", default=str(ROOT), help="the repository checkout (default: this script's)")
    p.set_defaults(run=plan)

    g = sub.add_parser("generate", help="release-values.yaml and release-manifest.json")
    g.add_argument("--version", required=True)
    g.add_argument("--revision", required=True, help="the commit released (40 hex digits)")
    g.add_argument("--created", required=True, help="build time, YYYY-MM-DDTHH:MM:SSZ")
    g.add_argument("--source", required=True, help="the repository URL")
    g.add_argument("--signing-issuer", required=True, help="OIDC issuer of the signing certificates")
    g.add_argument("--signing-identity", required=True, help="the release workflow's certificate identity")
    g.add_argument("--image-repository", required=True)
    g.add_argument("--image-tag", required=True)
    g.add_argument("--image-digest", default="", help="sha256:<64 hex>")
    g.add_argument("--image-platform", action="append", default=[], help="linux/amd64, ... (repeatable)")
    g.add_argument("--chart", required=True, help="the packaged chart (.tgz)")
    g.add_argument("--binary", action="append", default=[], help="OS/ARCH=PATH of a binary archive (repeatable)")
    g.add_argument("--sbom", action="append", default=[], help="FORMAT=PATH, FORMAT spdx-json or cyclonedx-json (repeatable)")
    g.add_argument("--vulnerability-report", action="append", default=[], help="SCANNER:FORMAT=PATH (repeatable)")
    g.add_argument("--signature", action="append", default=[], help="KIND=PATH of a Sigstore bundle, KIND build-provenance (repeatable)")
    g.add_argument("--out-dir", required=True, help="where the release files are and the two files are written")
    g.add_argument("--schema", default=str(SCHEMA), help="the manifest's JSON Schema")
    g.set_defaults(run=generate)

    args = parser.parse_args(argv)
    try:
        args.run(args)
    except ReleaseError as e:
        print(f"release_manifest.py {args.command}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
