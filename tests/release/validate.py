#!/usr/bin/env python3
"""Static validation of CloudGrid's release artifacts (run through validate.sh).

Checks, one line each:
  - the workflows parse and match GitHub's workflow schema, pin actions to major tags,
    give every job a timeout, and reference only files that exist;
  - verify.yml runs .ci/run (with a cached CARGO_TARGET_DIR) on pull requests and pushes
    to main, the static validator, and an image build that pushes nothing;
  - release.yml runs on v*.*.* tags and by hand with a version, runs the tests before
    publishing anything, grants id-token/packages/attestations/contents write only to the
    jobs that sign, push, attest or publish, pushes the image with SBOM and max provenance,
    signs it by digest, and produces every file the manifest schema names;
  - the Dockerfile is multi-stage with pinned bases, builds with --locked, builds the web
    UI, runs as the chart's non-root numeric user, carries the OCI labels from build
    arguments, and exposes every port the chart uses;
  - .dockerignore keeps .git, target and node_modules out and everything the build reads in
    (derived from the Cargo manifests, build.rs files, include_bytes!/include_str! and the
    UI's tsconfig files);
  - the chart's version and appVersion are the root crate's version;
  - compose.yaml matches the Compose specification, runs NATS with JetStream
    (sync_interval: always) and SurrealDB 3 on SurrealKV, publishes on 127.0.0.1 only, and
    its CloudGrid services use settings the binary reads, credentials only where needed;
  - release_manifest.py plans from a tag, and generates from fixture inputs a manifest
    valid against the schema and release-values.yaml that renders with
    values-production-like.yaml with every image pinned by digest; it refuses a manifest
    without a digest;
  - docs/release-verification.md covers what an operator verifies; .ci/run runs this.
Then the cases that must fail are run against temporary copies of the repository files
(never the real ones): each must make its check fail.

Ends with `release: N passed, M failed`; exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable

import jsonschema
import yaml

K8S_VERSION = "1.30.0"
FIXTURE_DIGEST = "sha256:" + "7e" * 32
FIXTURE_REVISION = "0123456789abcdef0123456789abcdef01234567"
FIXTURE_REPOSITORY = "ghcr.io/example-org/cloudgrid"
CHART = Path("helm/cloudgrid")
OCI_LABELS = ("title", "description", "version", "revision", "created", "source", "licenses", "vendor")
OCI_FROM_ARGS = {"version": "VERSION", "revision": "REVISION", "created": "CREATED", "source": "SOURCE"}


# --- YAML as GitHub Actions and Compose read it -----------------------------------------
class Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: `on`, `off`, `yes`, `no` stay strings (GitHub's `on:` key)."""


Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def load_yaml(path: Path):
    return yaml.load(path.read_text(), Loader=Loader)


# --- context ------------------------------------------------------------------------------
@dataclass
class Ctx:
    root: Path
    helm: str
    work: Path
    cache: dict = field(default_factory=dict)

    def path(self, rel: str | Path) -> Path:
        return self.root / rel

    def read(self, rel: str | Path) -> str:
        return self.path(rel).read_text()

    def memo(self, key: str, make: Callable):
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def workflow(self, name: str) -> dict:
        return self.memo(f"wf:{name}", lambda: load_yaml(self.path(f".github/workflows/{name}")))

    def values(self) -> dict:
        return self.memo("values", lambda: yaml.safe_load(self.read(CHART / "values.yaml")))

    def cargo(self) -> dict:
        return self.memo("cargo", lambda: tomllib.loads(self.read("Cargo.toml")))

    def dockerfile(self) -> "Dockerfile":
        return self.memo("dockerfile", lambda: Dockerfile.parse(self.read("Dockerfile")))

    def compose(self) -> dict:
        return self.memo("compose", lambda: load_yaml(self.path("compose.yaml")))

    def helm_run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.helm, *args], capture_output=True, text=True)

    def render(self, *args: str, chart: str | None = None) -> list[dict]:
        """helm template of the chart (or a packaged one) with `args`; raises with stderr."""
        out = self.helm_run("template", "cg", chart or str(self.path(CHART)), "--namespace", "observability", "--kube-version", K8S_VERSION, *args)
        if out.returncode != 0:
            raise Problem(f"helm template {' '.join(args)} failed:\n{out.stderr.strip()}")
        return [d for d in yaml.safe_load_all(out.stdout) if d]


class Problem(Exception):
    """A check's failure message, raised from a function it calls."""


# --- the Dockerfile -------------------------------------------------------------------------
@dataclass
class Instruction:
    op: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    platform: str | None
    instructions: list[Instruction]

    def all(self, op: str) -> list[Instruction]:
        return [i for i in self.instructions if i.op == op]


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    @staticmethod
    def parse(text: str) -> "Dockerfile":
        instructions: list[Instruction] = []
        buf, start = "", 0
        for n, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not buf and (not line or line.startswith("#")):
                continue
            if buf and line.startswith("#"):
                continue  # comment lines inside a continued instruction are dropped
            if not buf:
                start = n
            if line.endswith("\\"):
                buf += line[:-1] + " "
                continue
            buf += line
            op, _, args = buf.strip().partition(" ")
            instructions.append(Instruction(op.upper(), args.strip(), start))
            buf = ""
        global_args: dict[str, str] = {}
        stages: list[Stage] = []
        for ins in instructions:
            if ins.op == "FROM":
                words = ins.args.split()
                platform = next((w.split("=", 1)[1] for w in words if w.startswith("--platform=")), None)
                words = [w for w in words if not w.startswith("--")]
                base = subst(words[0], global_args)
                name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
                stages.append(Stage(base, name, platform, []))
            elif not stages:
                if ins.op == "ARG":
                    k, _, v = ins.args.partition("=")
                    global_args[k.strip()] = v.strip().strip('"')
            else:
                stages[-1].instructions.append(ins)
        return Dockerfile(global_args, stages)

    def stage(self, ref: str) -> Stage | None:
        return next((s for s in self.stages if s.name == ref), None)


def subst(text: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), m.group(0)), text)


def kv_pairs(args: str) -> dict[str, str]:
    """KEY=VALUE pairs of ENV/LABEL/ARG (quoted values allowed)."""
    out = {}
    for word in shlex.split(args):
        k, sep, v = word.partition("=")
        if sep:
            out[k] = v
    return out


def flags(args: str) -> tuple[dict[str, str], list[str]]:
    """--flag=value words of COPY/RUN and the rest."""
    opts, rest = {}, []
    for word in shlex.split(args):
        if word.startswith("--") and not rest:
            k, _, v = word[2:].partition("=")
            opts.setdefault(k, v)
            if k == "mount":
                opts.setdefault("mounts", "")
                opts["mounts"] += v + "\n"
        else:
            rest.append(word)
    return opts, rest


def exec_form(args: str) -> list[str] | None:
    try:
        v = json.loads(args)
    except json.JSONDecodeError:
        return None
    return v if isinstance(v, list) and all(isinstance(x, str) for x in v) else None


# --- .dockerignore ----------------------------------------------------------------------
def glob_regex(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if pattern[i : i + 2] == "**":
                i += 2
                if pattern[i : i + 1] == "/":
                    out += "(?:.*/)?"
                    i += 1
                else:
                    out += ".*"
                continue
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            j = pattern.find("]", i)
            if j < 0:
                out += re.escape(c)
            else:
                cls = pattern[i + 1 : j]
                out += "[" + ("^" + cls[1:] if cls.startswith("!") else cls) + "]"
                i = j
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile("^" + out + "$")


class DockerIgnore:
    """The build context's filter: the last pattern matching a path or one of its parent
    directories decides; `!` lets back in."""

    def __init__(self, text: str):
        self.patterns: list[tuple[bool, re.Pattern, str]] = []
        for line in text.splitlines():
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            negate = s.startswith("!")
            s = s[1:].strip() if negate else s
            s = posixpath.normpath(s.lstrip("/"))
            self.patterns.append((negate, glob_regex(s), line.strip()))

    def excluded(self, path: str) -> tuple[bool, str | None]:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        verdict, why = False, None
        for negate, rx, text in self.patterns:
            if any(rx.match(p) for p in prefixes):
                verdict, why = not negate, text
        return verdict, why


# --- workflows --------------------------------------------------------------------------
def jobs(wf: dict) -> dict[str, dict]:
    return wf.get("jobs") or {}


def steps(job: dict) -> list[dict]:
    return job.get("steps") or []


def uses(step: dict) -> str:
    return str(step.get("uses") or "")


def action(step: dict) -> str:
    """owner/repo[/path] of a `uses:` step, without the version."""
    return uses(step).split("@", 1)[0]


def job_perms(wf: dict, job: dict) -> dict[str, str]:
    p = job.get("permissions", wf.get("permissions"))
    if p is None:
        return {"*": "default"}
    if isinstance(p, str):
        return {"*": p}
    return {str(k): str(v) for k, v in p.items()}


def env_of(wf: dict, job: dict, step: dict | None = None) -> dict[str, str]:
    env = {}
    for scope in (wf.get("env"), job.get("env"), (step or {}).get("env")):
        env.update({str(k): str(v) for k, v in (scope or {}).items()})
    return env


def step_text(step: dict) -> str:
    """What a step does, as text: its run script and its action inputs."""
    parts = [str(step.get("run") or "")]
    for k, v in (step.get("with") or {}).items():
        parts.append(f"{k}: {v}")
    return "\n".join(parts)


def resolved(wf: dict, job: dict, step: dict) -> str:
    """step_text with environment variables replaced by what they are set to."""
    env = env_of(wf, job, step)
    text = step_text(step)
    for _ in range(3):
        text = re.sub(r"\$\{\{\s*env\.(\w+)\s*\}\}", lambda m: env.get(m.group(1), m.group(0)), text)
        text = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), m.group(0)), text)
    return text


def needs(job: dict) -> list[str]:
    n = job.get("needs") or []
    return [n] if isinstance(n, str) else list(n)


def ancestors(wf: dict, name: str) -> set[str]:
    seen: set[str] = set()
    todo = needs(jobs(wf)[name])
    while todo:
        j = todo.pop()
        if j not in seen and j in jobs(wf):
            seen.add(j)
            todo.extend(needs(jobs(wf)[j]))
    return seen


def runs_ci(step: dict) -> bool:
    return bool(re.search(r"(^|\s)(bash\s+)?(\./)?\.ci/run(\s|$)", str(step.get("run") or "")))


def truthy(v) -> bool:
    return str(v).strip().lower() == "true"


def vendored_schema(name: str) -> dict:
    return json.loads(resources.files("check_jsonschema.builtin_schemas.vendor").joinpath(f"{name}.json").read_text())


def schema_errors(instance, schema: dict) -> list[str]:
    cls = jsonschema.validators.validator_for(schema)
    v = cls(schema, format_checker=None)
    out = []
    for e in sorted(v.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]):
        where = "/".join(map(str, e.absolute_path)) or "(top)"
        # The innermost reasons of a oneOf/anyOf say more than its summary.
        reasons = [c.message for c in (e.context or []) if c.validator not in ("oneOf", "anyOf")][:3]
        out.append(f"{where}: {e.message[:300]}" + (f" ({'; '.join(r[:160] for r in reasons)})" if reasons else ""))
    return out


# --- the checks -------------------------------------------------------------------------
CHECKS: list[tuple[str, Callable[[Ctx], list[str]]]] = []


def check(name: str):
    def register(fn):
        CHECKS.append((name, fn))
        return fn

    return register


WORKFLOWS = ("verify.yml", "release.yml")


@check("workflows: parse and match GitHub's workflow schema")
def workflows_schema(ctx: Ctx) -> list[str]:
    problems = []
    schema = vendored_schema("github-workflows")
    for name in WORKFLOWS:
        path = ctx.path(f".github/workflows/{name}")
        if not path.is_file():
            problems.append(f".github/workflows/{name} is missing")
            continue
        try:
            wf = ctx.workflow(name)
        except yaml.YAMLError as e:
            problems.append(f"{name} does not parse: {e}")
            continue
        problems += [f"{name}: {e}" for e in schema_errors(wf, schema)]
    return problems


@check("workflows: actions pinned to a major version tag, every job with a timeout, run steps in bash -eo pipefail")
def workflows_pins(ctx: Ctx) -> list[str]:
    problems = []
    for name in WORKFLOWS:
        wf = ctx.workflow(name)
        if ((wf.get("defaults") or {}).get("run") or {}).get("shell") != "bash":
            problems.append(f"{name}: no `defaults: run: shell: bash` (without it a failing command in a pipe passes)")
        for jname, job in jobs(wf).items():
            if "uses" not in job and "timeout-minutes" not in job:
                problems.append(f"{name}: job {jname} has no timeout-minutes")
            for st in steps(job):
                u = uses(st)
                if not u or u.startswith("./") or u.startswith("docker://"):
                    continue
                if not re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@v\d+", u):
                    problems.append(f"{name}: job {jname} uses `{u}`: pin an official action to its major tag (@vN)")
    return problems


PATH_RE = re.compile(r"(?<![\w./$-])((?:\.ci|\.github|tests|helm|docs|bff|src|proto)/[\w./-]*[\w-]|Dockerfile|Cargo\.lock|README\.md)(?![\w-])")


@check("workflows: every repository file they reference exists")
def workflows_files(ctx: Ctx) -> list[str]:
    problems = []
    for name in WORKFLOWS:
        wf = ctx.workflow(name)
        for jname, job in jobs(wf).items():
            for st in steps(job):
                texts = [step_text(st)]
                if action(st) == "docker/build-push-action":
                    w = st.get("with") or {}
                    texts.append(str(w.get("file") or "./Dockerfile"))
                    texts.append(str(w.get("context") or "."))
                for text in texts:
                    for m in PATH_RE.finditer(re.sub(r"\$\{\{.*?\}\}", "", text)):
                        rel = m.group(1).rstrip(".")
                        if not ctx.path(rel).exists():
                            problems.append(f"{name}: job {jname} references {rel}, which does not exist")
                    for m in re.finditer(r"hashFiles\(([^)]*)\)", text):
                        for f in re.findall(r"'([^']+)'", m.group(1)):
                            if not any(ctx.root.glob(f)):
                                problems.append(f"{name}: job {jname} hashes {f}, which does not exist")
    return problems


@check("verify.yml: runs .ci/run with a cached CARGO_TARGET_DIR on pull_request and push to main")
def verify_ci(ctx: Ctx) -> list[str]:
    wf = ctx.workflow("verify.yml")
    problems = []
    on = wf.get("on") or {}
    on = {k: None for k in on} if isinstance(on, list) else ({on: None} if isinstance(on, str) else on)
    if "pull_request" not in on:
        problems.append("verify.yml does not run on pull_request")
    push = on.get("push") or {}
    if "push" not in on or "main" not in (push.get("branches") or []):
        problems.append("verify.yml does not run on push to main")
    ci_jobs = [(n, j) for n, j in jobs(wf).items() if any(runs_ci(s) for s in steps(j))]
    if not ci_jobs:
        problems.append("no job of verify.yml runs `bash .ci/run`")
    for n, j in ci_jobs:
        target = env_of(wf, j).get("CARGO_TARGET_DIR")
        if not target:
            problems.append(f"job {n} runs .ci/run without CARGO_TARGET_DIR set")
            continue
        rel = re.sub(r"^\$\{\{\s*github\.workspace\s*\}\}/", "", target)
        cached = [str((s.get("with") or {}).get("path") or "") for s in steps(j) if action(s).startswith("actions/cache")]
        if not any(rel in p.split() for p in cached):
            problems.append(f"job {n}: CARGO_TARGET_DIR ({target}) is not a path of an actions/cache step")
    if not wf.get("concurrency"):
        problems.append("verify.yml has no concurrency group")
    return problems


@check("verify.yml: runs the static release validator and builds the image without pushing")
def verify_static_and_image(ctx: Ctx) -> list[str]:
    wf = ctx.workflow("verify.yml")
    problems = []
    if not any("tests/release/validate.sh" in str(s.get("run") or "") for j in jobs(wf).values() for s in steps(j)):
        problems.append("no step runs tests/release/validate.sh")
    builds = [(n, j, s) for n, j in jobs(wf).items() for s in steps(j) if action(s) == "docker/build-push-action"]
    if not builds:
        problems.append("no step builds the image (docker/build-push-action)")
    for n, j, s in builds:
        w = s.get("with") or {}
        if truthy(w.get("push", "false")):
            problems.append(f"job {n} pushes the image: verification builds only (push: false)")
        if not any(action(x) == "docker/setup-buildx-action" for x in steps(j)):
            problems.append(f"job {n} builds without docker/setup-buildx-action")
    for n, j in jobs(wf).items():
        for k, v in job_perms(wf, j).items():
            if v == "write" or k == "*" and v in ("write-all", "default"):
                problems.append(f"job {n} may write ({k}: {v}); verify.yml reads only")
    return problems


@check("release.yml: on tags v*.*.* and by hand with a version")
def release_triggers(ctx: Ctx) -> list[str]:
    wf = ctx.workflow("release.yml")
    on = wf.get("on") or {}
    problems = []
    tags = ((on.get("push") or {}).get("tags") or []) if isinstance(on, dict) else []
    if "v*.*.*" not in tags:
        problems.append(f"release.yml runs on tags {tags}, not v*.*.*")
    dispatch = on.get("workflow_dispatch") if isinstance(on, dict) else None
    if not isinstance(dispatch, dict) or "version" not in (dispatch.get("inputs") or {}):
        problems.append("release.yml has no workflow_dispatch with a `version` input")
    if not wf.get("concurrency"):
        problems.append("release.yml has no concurrency group")
    return problems


def publishes(st: dict) -> str | None:
    """What a step publishes or signs, if it does."""
    w = st.get("with") or {}
    run = str(st.get("run") or "")
    if action(st) == "docker/build-push-action" and truthy(w.get("push", "false")):
        return "pushes an image"
    if action(st).startswith("actions/attest"):
        return "attests"
    if re.search(r"\bcosign\s+(sign|sign-blob|attest)\b", run):
        return "signs"
    if re.search(r"\bgh\s+release\s+(create|upload)\b", run):
        return "publishes the GitHub release"
    return None


@check("release.yml: the tests (.ci/run) pass before anything is pushed, signed or published")
def release_tests_first(ctx: Ctx) -> list[str]:
    wf = ctx.workflow("release.yml")
    verify = {n for n, j in jobs(wf).items() if any(runs_ci(s) for s in steps(j))}
    if not verify:
        return ["no job of release.yml runs `bash .ci/run`"]
    problems = []
    for n, j in jobs(wf).items():
        what = next((p for p in map(publishes, steps(j)) if p), None)
        if what and not (ancestors(wf, n) & verify):
            problems.append(f"job {n} {what} without needing the tests ({', '.join(sorted(verify))})")
    return problems


def needed_permissions(job: dict) -> dict[str, str]:
    """The write permissions a release job's steps need, and why."""
    need: dict[str, str] = {}
    for st in steps(job):
        w = st.get("with") or {}
        run = str(st.get("run") or "")
        if action(st) == "docker/build-push-action" and truthy(w.get("push", "false")):
            need.setdefault("packages", "pushes the image")
        if action(st).startswith("actions/attest"):
            need.setdefault("id-token", "attests (Sigstore)")
            need.setdefault("attestations", "stores an attestation")
            if truthy(w.get("push-to-registry", "false")):
                need.setdefault("packages", "pushes an attestation to the registry")
        if re.search(r"\bcosign\s+(sign|sign-blob|attest)\b", run):
            need.setdefault("id-token", "signs keylessly")
        if re.search(r"\bcosign\s+(sign|attest)\s", run):
            need.setdefault("packages", "pushes a signature to the registry")
        if re.search(r"\bgh\s+release\s+(create|upload)\b", run):
            need.setdefault("contents", "publishes the GitHub release")
    return need


@check("release.yml: id-token, packages, attestations and contents write only where needed")
def release_permissions(ctx: Ctx) -> list[str]:
    wf = ctx.workflow("release.yml")
    problems = []
    top = wf.get("permissions")
    if top is None or isinstance(top, str) or any(v != "read" for v in (top or {}).values()):
        problems.append(f"workflow-level permissions are {top!r}: grant nothing (permissions: {{}}) or read only there")
    for n, j in jobs(wf).items():
        granted = job_perms(wf, j)
        if "*" in granted:
            problems.append(f"job {n} has permissions {granted['*']!r}: list them")
            continue
        need = needed_permissions(j)
        for scope, why in need.items():
            if granted.get(scope) != "write":
                problems.append(f"job {n} {why} but lacks {scope}: write")
        for scope, level in granted.items():
            if level == "write" and scope not in need:
                problems.append(f"job {n} has {scope}: write it does not need")
    return problems


def build_step(job: dict) -> dict | None:
    return next((s for s in steps(job) if action(s) == "docker/build-push-action" and truthy((s.get("with") or {}).get("push", "false"))), None)


@check("release.yml: image pushed to ghcr.io with SBOM and max provenance, labels from build args, signed by digest")
def release_image(ctx: Ctx) -> list[str]:
    wf = ctx.workflow("release.yml")
    pushing = [(n, j, build_step(j)) for n, j in jobs(wf).items() if build_step(j)]
    if not pushing:
        return ["no job pushes the image (docker/build-push-action with push: true)"]
    problems = []
    for n, j, st in pushing:
        w = st.get("with") or {}
        if not truthy(w.get("sbom")):
            problems.append(f"job {n}: the image is pushed without sbom: true")
        if str(w.get("provenance")) != "mode=max":
            problems.append(f"job {n}: provenance is {w.get('provenance')!r}, not mode=max")
        args = str(w.get("build-args") or "")
        for a in OCI_FROM_ARGS.values():
            if not re.search(rf"^\s*{a}=\S", args, re.M):
                problems.append(f"job {n}: build-args does not set {a} (the image's OCI label)")
        meta = [resolved(wf, j, s) for s in steps(j) if action(s) == "docker/metadata-action"]
        named = resolved(wf, j, st) + "\n".join(meta)
        if "ghcr.io" not in named and "needs.prepare.outputs.image" not in named:
            problems.append(f"job {n}: the pushed tags do not name the planned image")
        plan = ctx.memo("plan", lambda: run_plan(ctx))
        if not plan.get("image", "").startswith("ghcr.io/"):
            problems.append(f"the planned image {plan.get('image')!r} is not on ghcr.io")
        sid = st.get("id")
        signed = False
        for s in steps(j):
            text = resolved(wf, j, s)
            if re.search(r"\bcosign\s+sign\s", text) and sid and f"steps.{sid}.outputs.digest" in text and "@" in text:
                signed = True
        if not signed:
            problems.append(f"job {n}: no `cosign sign` of the image by digest (<image>@steps.{sid}.outputs.digest)")
    return problems


# Where each file the manifest schema names comes from in release.yml: the key of the
# file's name in the plan (release_manifest.py plan), and the step that makes it.
def _sbom(fmt: str):
    return lambda st: action(st) == "anchore/sbom-action" and str((st.get("with") or {}).get("format")) == fmt and "output-file" in (st.get("with") or {})


PRODUCERS: dict[str, list[tuple[str, str, Callable[[dict], bool]]]] = {
    "chart": [("chart_file", "helm package", lambda st: "helm package" in str(st.get("run") or ""))],
    "binaries": [("tarball", "tar -czf", lambda st: re.search(r"\btar\b[^\n]*\s-\w*c\w*z", str(st.get("run") or "").replace("\\\n", " ")) is not None)],
    "sboms": [
        ("sbom_spdx", "anchore/sbom-action (spdx-json)", _sbom("spdx-json")),
        ("sbom_cyclonedx", "anchore/sbom-action (cyclonedx-json)", _sbom("cyclonedx-json")),
    ],
    "vulnerabilityReports": [
        (
            "vulnerability_report",
            "a vulnerability scanner's output-file",
            lambda st: action(st) in ("anchore/scan-action", "aquasecurity/trivy-action") and any(k in (st.get("with") or {}) for k in ("output-file", "output")),
        )
    ],
    "signatures": [("provenance", "the attest-build-provenance bundle", lambda st: "bundle-path" in json.dumps(st))],
}
# Made in the publish job itself, after the files above.
MADE_LAST = {
    "releaseValues": "release_manifest.py generate",
    "checksums": "sha256sum into SHA256SUMS, signed by cosign sign-blob --bundle SHA256SUMS.sigstore.json",
}


def file_properties(schema: dict) -> list[str]:
    """The manifest's properties that name release files."""

    def deref(s: dict) -> dict:
        while "$ref" in s:
            s = schema["$defs"][s["$ref"].rsplit("/", 1)[-1]]
        return s

    out = []
    for name, sub in schema.get("properties", {}).items():
        sub = deref(sub)
        props = sub.get("properties") or deref(sub.get("items") or {}).get("properties") or {}
        if "file" in props:
            out.append(name)
    return out


def run_plan(ctx: Ctx, ref: str | None = None) -> dict[str, str]:
    version = ctx.cargo()["package"]["version"]
    out = subprocess.run(
        [sys.executable, str(ctx.path(".github/scripts/release_manifest.py")), "plan", "--ref", ref or f"refs/tags/v{version}", "--repository", "Example-Org/CloudGrid", "--root", str(ctx.root)],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise Problem(f"release_manifest.py plan failed: {out.stderr.strip()}")
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


@check("release.yml: produces every file the manifest schema names, and publishes them")
def release_artifacts(ctx: Ctx) -> list[str]:
    wf = ctx.workflow("release.yml")
    schema = json.loads(ctx.read("docs/release/release-manifest.schema.json"))
    problems = []
    props = file_properties(schema)
    for p in props:
        if p not in PRODUCERS and p not in MADE_LAST:
            problems.append(f"the schema names release files under `{p}`: teach tests/release/validate.py which step makes them")
    plan = ctx.memo("plan", lambda: run_plan(ctx))
    prepare = next((n for n, j in jobs(wf).items() for s in steps(j) if "release_manifest.py plan" in str(s.get("run") or "")), None)
    if not prepare:
        return problems + ["no job runs release_manifest.py plan"]
    outputs = jobs(wf)[prepare].get("outputs") or {}
    gen = [(n, j, s) for n, j in jobs(wf).items() for s in steps(j) if "release_manifest.py generate" in str(s.get("run") or "")]
    if len(gen) != 1:
        return problems + [f"{len(gen)} steps run release_manifest.py generate; expected one"]
    gjob_name, gjob, gstep = gen[0]
    gtext = resolved(wf, gjob, gstep)
    for prop in props:
        for key, what, is_producer in PRODUCERS.get(prop, []):
            ref = f"needs.{prepare}.outputs.{key}"
            if key not in plan:
                problems.append(f"{prop}: the plan names no `{key}` file")
            if key not in outputs:
                problems.append(f"{prop}: job {prepare} does not output `{key}`")
            if ref not in gtext:
                problems.append(f"{prop}: the manifest step is not given the {key} file ({ref})")
            made = [(n, s) for n, j in jobs(wf).items() for s in steps(j) if s is not gstep and is_producer(s) and ref in resolved(wf, j, s)]
            if not made:
                problems.append(f"{prop}: no step makes {plan.get(key, key)} ({what}, named by {ref})")
            for n, _ in made:
                if n == gjob_name:
                    continue
                j = jobs(wf)[n]
                up = [s for s in steps(j) if action(s) == "actions/upload-artifact" and str((s.get("with") or {}).get("name", "")).startswith("release-")]
                if not up:
                    problems.append(f"{prop}: job {n} makes {plan.get(key, key)} but uploads no release-* artifact")
                if n not in ancestors(wf, gjob_name):
                    problems.append(f"{prop}: job {gjob_name} does not need job {n}, which makes {plan.get(key, key)}")
    publish = steps(gjob)
    texts = [str(s.get("run") or "") for s in publish]
    after = publish[publish.index(gstep) + 1 :]
    after_text = "\n".join(str(s.get("run") or "") for s in after)
    if not any(action(s) == "actions/download-artifact" and str((s.get("with") or {}).get("pattern", "")).startswith("release-") for s in publish):
        problems.append(f"job {gjob_name} does not download the release-* artifacts")
    if not re.search(r"sha256sum[^\n]*>\s*SHA256SUMS", after_text, re.S) and "> SHA256SUMS" not in after_text:
        problems.append("no step after the manifest writes SHA256SUMS with sha256sum (it must cover the manifest)")
    if not re.search(r"cosign\s+sign-blob\b[^\n]*--bundle\s+\S*SHA256SUMS\.sigstore\.json\s+\S*SHA256SUMS\b", after_text):
        problems.append("SHA256SUMS is not signed with `cosign sign-blob --bundle ...SHA256SUMS.sigstore.json ...SHA256SUMS`")
    if not re.search(r"gh\s+release\s+create\b[^\n]*dist/\*", "\n".join(texts)):
        problems.append("no `gh release create ... dist/*` publishes every file")
    helm_pkg = [s for j in jobs(wf).values() for s in steps(j) if re.search(r"helm\s+package\s+helm/cloudgrid\b", str(s.get("run") or ""))]
    if not helm_pkg:
        problems.append("no step runs `helm package helm/cloudgrid`")
    return problems


@check("Dockerfile: multi-stage, base images pinned to a tag, builds with cargo --release --locked")
def dockerfile_build(ctx: Ctx) -> list[str]:
    df = ctx.dockerfile()
    problems = []
    if len(df.stages) < 2:
        problems.append(f"{len(df.stages)} stage(s): build and runtime must be separate stages")
    names = {s.name for s in df.stages if s.name}
    for s in df.stages:
        if s.base == "scratch" or s.base in names:
            continue
        image, _, tag = s.base.rpartition(":") if ":" in s.base.split("/")[-1] else (s.base, "", "")
        if not tag or tag == "latest" or "$" in s.base:
            problems.append(f"stage {s.name or s.base}: base image {s.base} is not pinned to a tag")
    builds = [(s, i) for s in df.stages for i in s.all("RUN") if "cargo build" in i.args]
    if not builds:
        problems.append("no RUN runs cargo build")
    for s, i in builds:
        opts, _ = flags(i.args)
        cmd = i.args[i.args.index("cargo build") :]
        for need in ("--release", "--locked", "--bin cloudgrid"):
            if need not in cmd.split("&&")[0]:
                problems.append(f"line {i.line}: cargo build without {need}")
        mounts = opts.get("mounts", "")
        if not re.search(r"type=cache\b[^\n]*target=\S*/registry", mounts):
            problems.append(f"line {i.line}: the cargo registry is not a BuildKit cache mount")
        if not re.search(r"type=cache\b[^\n]*target=\S*target\b", mounts):
            problems.append(f"line {i.line}: the target directory is not a BuildKit cache mount")
    return problems


def minor(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version)[:2])


@check("Dockerfile: Rust image of the CI toolchain (Debian bookworm), web UI built with Node.js 20+")
def dockerfile_toolchains(ctx: Ctx) -> list[str]:
    df = ctx.dockerfile()
    problems = []
    rust = [s for s in df.stages if s.base.startswith("rust:")]
    if not rust:
        return ["no stage builds FROM the official rust image"]
    tag = rust[0].base.split(":", 1)[1]
    if "bookworm" not in tag:
        problems.append(f"rust:{tag} is not Debian bookworm (the runtime's glibc)")
    floor = str(ctx.cargo().get("workspace", {}).get("package", {}).get("rust-version", "0"))
    if minor(tag) < minor(floor):
        problems.append(f"rust:{tag} is older than the workspace's rust-version {floor}")
    for name in WORKFLOWS:
        pinned = str((ctx.workflow(name).get("env") or {}).get("RUST_TOOLCHAIN", ""))
        if pinned and minor(pinned) != minor(tag):
            problems.append(f"rust:{tag} is not the toolchain {name} tests with ({pinned})")
    # The UI: npm ci and npm run build in some stage (or build.rs in the Rust stage).
    ui = [s for s in df.stages if any("npm ci" in i.args for i in s.all("RUN")) and any("npm run build" in i.args for i in s.all("RUN"))]
    if not ui:
        problems.append("no stage builds the web UI (npm ci, npm run build)")
    for s in ui:
        m = re.match(r"node:(\d+)", s.base)
        if s.base.startswith("node:") and (not m or int(m.group(1)) < 20):
            problems.append(f"stage {s.name}: {s.base} is older than Node.js 20 (bff/ui's engines)")
    return problems


@check("Dockerfile: final stage runs as the chart's non-root numeric user, serves the built UI")
def dockerfile_user(ctx: Ctx) -> list[str]:
    df = ctx.dockerfile()
    final = df.stages[-1]
    problems = []
    users = final.all("USER")
    if not users:
        return ["the final stage sets no USER (it would run as the base image's user)"]
    user = users[-1].args.strip()
    uid, _, gid = user.partition(":")
    sc = ctx.values().get("podSecurityContext") or {}
    if not uid.isdigit():
        problems.append(f"USER {user}: not a numeric uid (Kubernetes' runAsNonRoot can only check numbers)")
    elif int(uid) == 0:
        problems.append(f"USER {user}: root")
    elif int(uid) != int(sc.get("runAsUser", -1)):
        problems.append(f"USER {user}: the chart runs as {sc.get('runAsUser')} (podSecurityContext.runAsUser)")
    if gid and (not gid.isdigit() or int(gid) == 0 or int(gid) != int(sc.get("runAsGroup", -1))):
        problems.append(f"USER {user}: group {gid} is not the chart's runAsGroup {sc.get('runAsGroup')}")
    env = {}
    for i in final.all("ENV"):
        env.update(kv_pairs(i.args))
    ui_dir = env.get("CLOUDGRID_UI_DIR")
    ui_stages = {s.name for s in df.stages if any("npm run build" in i.args for i in s.all("RUN"))}
    copied = []
    for i in final.all("COPY"):
        opts, rest = flags(i.args)
        if opts.get("from") in ui_stages and rest and rest[0].rstrip("/").endswith("/dist"):
            copied.append(rest[-1].rstrip("/"))
    if not copied:
        problems.append("the final stage copies no built UI (bff/ui/dist) from the UI stage")
    elif ui_dir not in copied:
        problems.append(f"CLOUDGRID_UI_DIR is {ui_dir!r}, but the UI is copied to {copied}")
    return problems


@check("Dockerfile: OCI labels from build arguments")
def dockerfile_labels(ctx: Ctx) -> list[str]:
    df = ctx.dockerfile()
    final = df.stages[-1]
    labels: dict[str, str] = {}
    for i in final.all("LABEL"):
        labels.update(kv_pairs(i.args))
    args = {i.args.partition("=")[0].strip() for i in final.all("ARG")}
    problems = []
    for key in OCI_LABELS:
        full = f"org.opencontainers.image.{key}"
        if full not in labels:
            problems.append(f"no LABEL {full}")
            continue
        arg = OCI_FROM_ARGS.get(key)
        if arg and not re.search(rf"\$\{{?{arg}\b", labels[full]):
            problems.append(f"{full}={labels[full]!r} does not come from the build argument {arg}")
        if arg and arg not in args:
            problems.append(f"the final stage does not declare ARG {arg}")
    license_ = ctx.cargo().get("workspace", {}).get("package", {}).get("license")
    if labels.get("org.opencontainers.image.licenses") not in (None, license_):
        problems.append(f"licenses label {labels.get('org.opencontainers.image.licenses')!r} is not the workspace's {license_!r}")
    return problems


def targets(ctx: Ctx) -> set[str]:
    """The binary's subcommands (src/main.rs `enum Target`)."""
    src = ctx.read("src/main.rs")
    body = re.search(r"enum Target \{(.*?)\n\}", src, re.S)
    if not body:
        raise Problem("src/main.rs has no `enum Target`")
    out = set()
    for attrs, variant in re.findall(r"((?:\s*(?:///[^\n]*|#\[[^\n]*\])\n)*)\s*(\w+)(?:\(|,)", body.group(1)):
        out.add(re.sub(r"(?<!^)(?=[A-Z])", "-", variant).lower())
        for name in re.findall(r'(?:name|alias)\s*=\s*"([^"]+)"', attrs):
            out.add(name)
    return out


@check("Dockerfile: ENTRYPOINT the binary, CMD all, EXPOSE every port the chart uses")
def dockerfile_entrypoint(ctx: Ctx) -> list[str]:
    df = ctx.dockerfile()
    final = df.stages[-1]
    problems = []
    ep = exec_form(final.all("ENTRYPOINT")[-1].args) if final.all("ENTRYPOINT") else None
    if not ep or len(ep) != 1 or not ep[0].endswith("/cloudgrid"):
        problems.append(f"ENTRYPOINT is {ep}: the cloudgrid binary alone, exec form")
    cmd = exec_form(final.all("CMD")[-1].args) if final.all("CMD") else None
    if cmd != ["all"]:
        problems.append(f"CMD is {cmd}, not [\"all\"]")
    exposed = {int(p.split("/")[0]) for i in final.all("EXPOSE") for p in i.args.split()}
    if ctx.values().get("image", {}).get("command"):
        problems.append("the chart's image.command is set by default: the image's ENTRYPOINT would be bypassed")
    valid = targets(ctx)
    docs = ctx.render()
    for d in docs:
        if d.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        for c in d["spec"]["template"]["spec"]["containers"]:
            for p in c.get("ports") or []:
                if p["containerPort"] not in exposed:
                    problems.append(f"{d['metadata']['name']}: port {p['containerPort']} is not EXPOSEd")
            args = c.get("args") or []
            if "command" in c or not args or args[0] not in valid:
                problems.append(f"{d['metadata']['name']}: runs {c.get('command', ep)} {args}; the binary's subcommands are {sorted(valid)}")
    return problems


def build_inputs(ctx: Ctx) -> list[tuple[str, str]]:
    """Every path the image build reads, with why: (path, reason). A reason starting
    with "COPY" names a directory the Dockerfile copies: it must reach the build, not
    necessarily all of it."""
    root = ctx.root
    out: list[tuple[str, str]] = [("Cargo.toml", "the workspace"), ("Cargo.lock", "--locked")]
    cargo = ctx.cargo()
    crates = [("", cargo)]
    for member in cargo.get("workspace", {}).get("members", []):
        crates.append((member, tomllib.loads((root / member / "Cargo.toml").read_text())))
    for dir_, manifest in crates:
        pre = f"{dir_}/" if dir_ else ""
        out.append((f"{pre}Cargo.toml", "a workspace member"))
        out.append((f"{pre}src", f"the sources of {manifest.get('package', {}).get('name')}"))
        build = manifest.get("package", {}).get("build")
        if build is None and (root / pre / "build.rs").exists():
            build = "build.rs"
        if build:
            out.append((f"{pre}{build}", "a build script"))
            text = (root / pre / build).read_text()
            for lit in re.findall(r'"([\w./-]+\.proto)"', text):
                candidates = [p for p in (root / pre).rglob(lit) if p.is_file()] or [root / pre / lit]
                for c in candidates:
                    out.append((str(c.relative_to(root)), f"compiled by {pre}{build}"))
        for kind in ("lib", "bin", "test", "bench", "example"):
            entries = manifest.get(kind) or []
            for e in [entries] if isinstance(entries, dict) else entries:
                if "path" in e:
                    path = posixpath.normpath(f"{pre}{e['path']}")
                    out.append((posixpath.dirname(path) if "/" in e["path"] else path, f"[{kind}] {e.get('name', '')} of {pre}Cargo.toml"))
    # The web UI: what build.rs builds from (its SOURCES), and what its tsconfig files include.
    build_rs = ctx.read("build.rs")
    ui = re.search(r'join\("bff"\)\.join\("ui"\)', build_rs) and "bff/ui"
    sources = re.search(r"const SOURCES: &\[&str\] = &\[(.*?)\];", build_rs, re.S)
    if ui and sources:
        for s in re.findall(r'"([^"]+)"', sources.group(1)):
            out.append((f"{ui}/{s}", "listed in build.rs SOURCES"))
            if s.startswith("tsconfig") and (root / ui / s).exists():
                conf = json.loads((root / ui / s).read_text())
                for inc in conf.get("include", []):
                    out.append((f"{ui}/{inc}", f"included by {ui}/{s} (npm run build type-checks it)"))
    # Files read at compile time by the macros.
    for rel, _ in list(out):
        p = root / rel
        files = [p] if p.is_file() else (p.rglob("*.rs") if p.is_dir() else [])
        for f in files:
            if f.suffix != ".rs":
                continue
            for lit in re.findall(r'include_(?:bytes|str)!\(\s*"([^"]+)"', f.read_text()):
                target = os.path.relpath(os.path.normpath(f.parent / lit), root)
                out.append((target, f"read by include_bytes!/include_str! in {f.relative_to(root)}"))
    # What the Dockerfile copies from the context.
    for s in ctx.dockerfile().stages:
        for i in s.all("COPY") + s.all("ADD"):
            opts, rest = flags(i.args)
            if "from" in opts:
                continue
            for src in rest[:-1]:
                src = src.rstrip("/")
                if src not in (".", ""):
                    out.append((src, f"COPY at Dockerfile line {i.line}"))
    return out


@check(".dockerignore: keeps .git, target, node_modules and other outputs out")
def dockerignore_out(ctx: Ctx) -> list[str]:
    if not ctx.path(".dockerignore").is_file():
        return [".dockerignore is missing"]
    di = DockerIgnore(ctx.read(".dockerignore"))
    problems = []
    for path in (".git/HEAD", "target/release/cloudgrid", "bff/ui/node_modules/vite/package.json", "tests/oidc/node_modules/x/index.js", "bff/ui/dist/index.html", "sources/fuzz/target/x", "data/db/x"):
        if not di.excluded(path)[0]:
            problems.append(f"{path} is sent to the build (add it to .dockerignore)")
    return problems


@check(".dockerignore: keeps everything the build reads")
def dockerignore_in(ctx: Ctx) -> list[str]:
    di = DockerIgnore(ctx.read(".dockerignore"))
    problems = []
    seen = set()
    for rel, why in build_inputs(ctx):
        p = ctx.path(rel)
        if not p.exists():
            problems.append(f"{rel} ({why}) does not exist")
            continue
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
        if why.startswith("COPY") and p.is_dir():
            if all(di.excluded(str(f.relative_to(ctx.root)))[0] for f in files):
                problems.append(f"{rel}/ ({why}) reaches the build empty")
            continue
        for f in files:
            frel = str(f.relative_to(ctx.root))
            if frel in seen or "/node_modules/" in f"/{frel}" or "/target/" in f"/{frel}":
                continue
            seen.add(frel)
            gone, pattern = di.excluded(frel)
            if gone:
                problems.append(f"{frel} ({why}) is excluded by `{pattern}`")
    return problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])


@check("Chart.yaml: version and appVersion are the root crate's version (Cargo.toml)")
def chart_version(ctx: Ctx) -> list[str]:
    crate = str(ctx.cargo()["package"]["version"])
    chart = yaml.safe_load(ctx.read(CHART / "Chart.yaml"))
    return [f"Chart.yaml {k} is {chart.get(k)!r}, Cargo.toml [package] version is {crate!r}" for k in ("version", "appVersion") if str(chart.get(k)) != crate]


def interpolate(value, env: dict[str, str] | None = None):
    """Compose's ${VAR}, ${VAR:-default} and $$, with the variables unset."""
    env = env or {}
    if isinstance(value, str):
        value = re.sub(r"\$\{(\w+)(?::?[-?]([^}]*))?\}", lambda m: env.get(m.group(1), m.group(2) or ""), value)
        return value.replace("$$", "$")
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    return value


def service_env(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {str(k): str(v) for k, v in env.items()}


def published(svc: dict) -> list[tuple[str | None, str]]:
    out = []
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            out.append((p.get("host_ip"), f"{p.get('published')}:{p.get('target')}"))
        else:
            s = str(p)
            m = re.match(r"^(?:\[?([0-9a-fA-F.:]+?)\]?:)?(?:(\d+(?:-\d+)?):)?(\d+(?:-\d+)?)(?:/\w+)?$", s)
            out.append((m.group(1) if m and m.group(2) else None, s))
    return out


@check("compose.yaml: matches the Compose specification")
def compose_schema(ctx: Ctx) -> list[str]:
    if not ctx.path("compose.yaml").is_file():
        return ["compose.yaml is missing"]
    return schema_errors(interpolate(ctx.compose()), vendored_schema("compose-spec"))


def volume_mounts(svc: dict) -> list[tuple[str, str]]:
    out = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            out.append((str(v.get("source")), str(v.get("target"))))
        else:
            parts = str(v).split(":")
            if len(parts) >= 2:
                out.append((parts[0], parts[1]))
    return out


@check("compose.yaml: nats with JetStream (sync_interval: always) on a named volume, healthy, 127.0.0.1:4222")
def compose_nats(ctx: Ctx) -> list[str]:
    c = interpolate(ctx.compose())
    nats = (c.get("services") or {}).get("nats")
    if not nats:
        return ["no service `nats`"]
    problems = []
    if not re.fullmatch(r"nats:\d[\w.-]*", str(nats.get("image", ""))):
        problems.append(f"nats image {nats.get('image')!r} is not the official nats image with a version tag")
    cmd = nats.get("command") or []
    cmd = shlex.split(cmd) if isinstance(cmd, str) else cmd
    conf_path = next((cmd[i + 1] for i, w in enumerate(cmd[:-1]) if w in ("--config", "-c")), None)
    mounted = {}
    for ref in nats.get("configs") or []:
        src, target = (ref, f"/{ref}") if isinstance(ref, str) else (ref.get("source"), ref.get("target") or f"/{ref.get('source')}")
        mounted[target] = src
    conf = (c.get("configs") or {}).get(mounted.get(conf_path, ""), {})
    content = conf.get("content") if isinstance(conf, dict) else None
    if not conf_path or conf_path not in mounted:
        problems.append(f"nats is not started with --config of a mounted config (command {cmd}, configs {mounted})")
    elif not content:
        problems.append(f"config {mounted[conf_path]} has no inline `content`")
    else:
        js = re.search(r"jetstream\s*[:=]?\s*\{(.*?)\}", content, re.S)
        if not js:
            problems.append("the nats config has no jetstream block")
        else:
            if not re.search(r"^\s*sync_interval\s*[:=]\s*\"?always\"?\s*$", js.group(1), re.M):
                problems.append("jetstream has no `sync_interval: always`")
            store = re.search(r"store_dir\s*[:=]\s*\"?([^\s\"]+)", js.group(1))
            vols = volume_mounts(nats)
            named = set(c.get("volumes") or {})
            if not store or not any(store.group(1).startswith(t) and s in named for s, t in vols):
                problems.append(f"the JetStream store_dir ({store and store.group(1)}) is not on a named volume ({vols})")
    if not nats.get("healthcheck"):
        problems.append("nats has no healthcheck")
    if ("127.0.0.1", "127.0.0.1:4222:4222") not in published(nats):
        problems.append(f"nats publishes {published(nats)}, not 127.0.0.1:4222:4222")
    return problems


@check("compose.yaml: surrealdb 3 with SurrealKV on a named volume, root user from SURREAL_USER/SURREAL_PASS, 127.0.0.1:8000")
def compose_surreal(ctx: Ctx) -> list[str]:
    raw = ctx.compose()
    c = interpolate(raw)
    s = (c.get("services") or {}).get("surrealdb")
    if not s:
        return ["no service `surrealdb`"]
    problems = []
    if not re.fullmatch(r"surrealdb/surrealdb:v?3(\.[\w.-]+)?", str(s.get("image", ""))):
        problems.append(f"surrealdb image {s.get('image')!r} is not surrealdb/surrealdb with a 3.x tag")
    cmd = s.get("command") or []
    cmd = shlex.split(cmd) if isinstance(cmd, str) else cmd
    if not cmd or cmd[0] != "start":
        problems.append(f"surrealdb runs {cmd}, not `start`")
    path = next((w for w in cmd if w.startswith("surrealkv:")), None)
    named = set(c.get("volumes") or {})
    if not path:
        problems.append("surrealdb does not store on SurrealKV (surrealkv:PATH)")
    else:
        p = re.sub(r"^surrealkv:(//)?", "", path)
        if not any(p.startswith(t.rstrip("/") + "/") and src in named for src, t in volume_mounts(s)):
            problems.append(f"{path} is not on a named volume")
    env_raw = service_env(raw["services"]["surrealdb"])
    for var in ("SURREAL_USER", "SURREAL_PASS"):
        if env_raw.get(var) != f"${{{var}:-root}}":
            problems.append(f"surrealdb's {var} is {env_raw.get(var)!r}, not ${{{var}:-root}}")
    if not s.get("healthcheck"):
        problems.append("surrealdb has no healthcheck")
    if ("127.0.0.1", "127.0.0.1:8000:8000") not in published(s):
        problems.append(f"surrealdb publishes {published(s)}, not 127.0.0.1:8000:8000")
    return problems


@check("compose.yaml: every published port bound to 127.0.0.1")
def compose_loopback(ctx: Ctx) -> list[str]:
    c = interpolate(ctx.compose())
    return [f"{n} publishes {p} beyond 127.0.0.1" for n, svc in (c.get("services") or {}).items() for ip, p in published(svc) if ip != "127.0.0.1"]


def binary_env(ctx: Ctx) -> set[str]:
    """The settings the binary reads: its flags' env names and what it reads itself
    (the log filter)."""
    src = ctx.read("src/main.rs")
    return set(re.findall(r'env\s*=\s*"(CLOUDGRID_[A-Z0-9_]+)"', src)) | set(re.findall(r'from_env\("(CLOUDGRID_[A-Z0-9_]+)"\)', src))


@check("compose.yaml: CloudGrid services (profile cloudgrid) use real settings, credentials only where needed")
def compose_cloudgrid(ctx: Ctx) -> list[str]:
    c = interpolate(ctx.compose())
    services = c.get("services") or {}
    known = binary_env(ctx)
    valid = targets(ctx)
    problems = []
    mine = {n: s for n, s in services.items() if n not in ("nats", "surrealdb")}
    for n, s in mine.items():
        if s.get("profiles") != ["cloudgrid"]:
            problems.append(f"{n}: not in the `cloudgrid` profile only (it would start by default)")
        cmd = s.get("command") or []
        cmd = shlex.split(cmd) if isinstance(cmd, str) else cmd
        if not cmd or cmd[0] not in valid:
            problems.append(f"{n}: runs {cmd}; the binary's subcommands are {sorted(valid)}")
        build = s.get("build")
        if not isinstance(build, dict) or build.get("context") != "." or build.get("dockerfile", "Dockerfile") != "Dockerfile":
            problems.append(f"{n}: not built from the repository's Dockerfile")
        env = service_env(s)
        for var in env:
            if var.startswith("CLOUDGRID_") and var not in known:
                problems.append(f"{n}: {var} is not a setting of the binary (src/main.rs)")
        role = cmd[0] if cmd else n
        if role in ("bff", "collector"):
            leaked = [v for v in env if v.startswith("CLOUDGRID_SURREAL_") or (role == "bff" and v == "CLOUDGRID_NATS_URL")]
            if leaked:
                problems.append(f"{n}: holds {leaked} (the {role} calls the control plane and storage-read instead)")
        if role in ("bff", "collector", "control-plane", "storage-read") and "CLOUDGRID_SERVICE_TOKEN" not in env:
            problems.append(f"{n}: no CLOUDGRID_SERVICE_TOKEN for internal gRPC")
    return problems


@check("manifest schema: a valid JSON Schema (draft 2020-12)")
def manifest_schema(ctx: Ctx) -> list[str]:
    schema = json.loads(ctx.read("docs/release/release-manifest.schema.json"))
    if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
        return [f"$schema is {schema.get('$schema')!r}, not draft 2020-12"]
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        return [f"invalid schema: {e.message}"]
    return []


@check("release_manifest.py plan: the tag of the crate's version plans; another tag is refused")
def manifest_plan(ctx: Ctx) -> list[str]:
    problems = []
    plan = run_plan(ctx)
    version = str(ctx.cargo()["package"]["version"])
    if plan.get("version") != version or plan.get("image") != "ghcr.io/example-org/cloudgrid":
        problems.append(f"plan gave version {plan.get('version')!r}, image {plan.get('image')!r}")
    for bad in (f"refs/tags/v{version}.1", "refs/heads/main"):
        try:
            run_plan(ctx, bad)
            problems.append(f"plan accepted {bad}")
        except Problem:
            pass
    return problems


def fixture_release(ctx: Ctx, drop: str | None = None) -> tuple[Path, subprocess.CompletedProcess, dict[str, str]]:
    """A release directory as the workflow assembles it: the chart packaged by helm, the
    other files stand-ins; then release_manifest.py generate on it."""
    plan = ctx.memo("plan", lambda: run_plan(ctx))
    version = plan["version"]
    out = Path(tempfile.mkdtemp(dir=ctx.work, prefix="release-"))
    pkg = ctx.helm_run("package", str(ctx.path(CHART)), "--destination", str(out))
    if pkg.returncode != 0:
        raise Problem(f"helm package failed: {pkg.stderr.strip()}")
    for key, content in (
        ("tarball", b"binary archive\n"),
        ("sbom_spdx", b'{"spdxVersion": "SPDX-2.3"}\n'),
        ("sbom_cyclonedx", b'{"bomFormat": "CycloneDX"}\n'),
        ("vulnerability_report", b'{"matches": []}\n'),
        ("provenance", b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}\n'),
    ):
        (out / plan[key]).write_bytes(content)
    args = {
        "--version": version,
        "--revision": FIXTURE_REVISION,
        "--created": "2026-01-02T03:04:05Z",
        "--source": "https://github.com/example-org/cloudgrid",
        "--signing-issuer": "https://token.actions.githubusercontent.com",
        "--signing-identity": f"https://github.com/example-org/cloudgrid/.github/workflows/release.yml@refs/tags/v{version}",
        "--image-repository": FIXTURE_REPOSITORY,
        "--image-tag": version,
        "--image-digest": FIXTURE_DIGEST,
        "--chart": str(out / plan["chart_file"]),
        "--out-dir": str(out),
        "--schema": str(ctx.path("docs/release/release-manifest.schema.json")),
    }
    if drop:
        args.pop(drop, None)
    cmd = [sys.executable, str(ctx.path(".github/scripts/release_manifest.py")), "generate"]
    for k, v in args.items():
        cmd += [k, v]
    cmd += [
        "--image-platform", "linux/amd64",
        "--binary", f"linux/amd64={out / plan['tarball']}",
        "--sbom", f"spdx-json={out / plan['sbom_spdx']}",
        "--sbom", f"cyclonedx-json={out / plan['sbom_cyclonedx']}",
        "--vulnerability-report", f"grype:json={out / plan['vulnerability_report']}",
        "--signature", f"build-provenance={out / plan['provenance']}",
    ]
    return out, subprocess.run(cmd, capture_output=True, text=True), plan


def fixture(ctx: Ctx):
    return ctx.memo("fixture", lambda: fixture_release(ctx))


@check("release_manifest.py generate: a fixture release's manifest matches the schema, checksums right")
def manifest_generate(ctx: Ctx) -> list[str]:
    out, run, plan = fixture(ctx)
    if run.returncode != 0:
        return [f"generate failed: {run.stderr.strip()}"]
    manifest = json.loads((out / "release-manifest.json").read_text())
    schema = json.loads(ctx.read("docs/release/release-manifest.schema.json"))
    problems = schema_errors(manifest, schema)
    files = [manifest["chart"], manifest["releaseValues"], *manifest["binaries"], *manifest["sboms"], *manifest["vulnerabilityReports"], *manifest["signatures"]]
    for f in files:
        p = out / f["file"]
        if not p.is_file() or hashlib.sha256(p.read_bytes()).hexdigest() != f["sha256"]:
            problems.append(f"{f['file']}: the manifest's sha256 is not the file's")
    if manifest["image"].get("digest") != FIXTURE_DIGEST or manifest["image"].get("reference") != f"{FIXTURE_REPOSITORY}@{FIXTURE_DIGEST}":
        problems.append(f"image is {manifest['image']}, not {FIXTURE_REPOSITORY}@{FIXTURE_DIGEST}")
    version = plan["version"]
    if (manifest["chart"]["version"], manifest["chart"]["appVersion"]) != (version, version):
        problems.append(f"chart {manifest['chart']} is not version {version}")
    values = yaml.safe_load((out / "release-values.yaml").read_text())
    if values != {"image": {"repository": FIXTURE_REPOSITORY, "digest": FIXTURE_DIGEST}}:
        problems.append(f"release-values.yaml is {values}")
    return problems


def prod_secrets(ctx: Ctx) -> list[str]:
    """The Secret names tests/helm/validate.sh renders the production-like profile with."""
    text = ctx.read("tests/helm/validate.sh")
    m = re.search(r"^PROD_SECRETS=\((.*?)^\)", text, re.S | re.M)
    if not m:
        raise Problem("tests/helm/validate.sh has no PROD_SECRETS=( ... )")
    return shlex.split(m.group(1))


@check("release-values.yaml with values-production-like.yaml renders; every image pinned by the digest")
def release_values_render(ctx: Ctx) -> list[str]:
    out, run, plan = fixture(ctx)
    if run.returncode != 0:
        return [f"no fixture release: {run.stderr.strip()}"]
    chart_pkg = out / plan["chart_file"]
    with tempfile.TemporaryDirectory(dir=ctx.work) as tmp:
        # values-production-like.yaml as an operator takes it: from the chart package.
        prod = Path(tmp) / "values-production-like.yaml"
        with tarfile.open(chart_pkg, "r:gz") as tar:
            member = tar.extractfile("cloudgrid/values-production-like.yaml")
            if member is None:
                raise Problem(f"{chart_pkg.name} holds no cloudgrid/values-production-like.yaml")
            prod.write_bytes(member.read())
        docs = ctx.render("-f", str(prod), "-f", str(out / "release-values.yaml"), *prod_secrets(ctx), chart=str(chart_pkg))
    problems = []
    want = f"{FIXTURE_REPOSITORY}@{FIXTURE_DIGEST}"
    containers = 0
    for d in docs:
        pod = (((d.get("spec") or {}).get("template") or {}).get("spec")) or ((d.get("spec") or {}).get("jobTemplate") or {}).get("spec", {}).get("template", {}).get("spec")
        if not pod:
            continue
        for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
            containers += 1
            if c.get("image") != want:
                problems.append(f"{d['kind']} {d['metadata']['name']}: image {c.get('image')}, not {want}")
    if containers == 0:
        problems.append("the rendering has no containers")
    return problems


@check("a manifest without an image digest is refused (by the generator and by the schema)")
def manifest_without_digest(ctx: Ctx) -> list[str]:
    problems = []
    out, run, _ = fixture_release(ctx, drop="--image-digest")
    if run.returncode == 0 or (out / "release-manifest.json").exists():
        problems.append("generate without --image-digest succeeded")
    good, grun, _ = fixture(ctx)
    if grun.returncode != 0:
        return problems + [f"no fixture release: {grun.stderr.strip()}"]
    manifest = json.loads((good / "release-manifest.json").read_text())
    schema = json.loads(ctx.read("docs/release/release-manifest.schema.json"))
    for mutate, what in (
        (lambda m: m["image"].pop("digest"), "no image.digest"),
        (lambda m: m["image"].__setitem__("digest", "sha256:abc"), "a malformed image.digest"),
        (lambda m: m["chart"].pop("sha256"), "no chart sha256"),
        (lambda m: m.__setitem__("sboms", [s for s in m["sboms"] if s["format"] != "cyclonedx-json"]), "no CycloneDX SBOM"),
    ):
        bad = json.loads(json.dumps(manifest))
        mutate(bad)
        if not schema_errors(bad, schema):
            problems.append(f"the schema accepts a manifest with {what}")
    return problems


@check("docs/release-verification.md: checksums, signatures, attestations, SBOM, report, install")
def verification_doc(ctx: Ctx) -> list[str]:
    path = ctx.path("docs/release-verification.md")
    if not path.is_file():
        return ["docs/release-verification.md is missing"]
    text = path.read_text()
    plan = ctx.memo("plan", lambda: run_plan(ctx))
    problems = []
    for needle in (
        "sha256sum -c",
        "cosign verify-blob",
        "cosign verify ",
        "cosign verify-attestation",
        "gh attestation verify",
        "--certificate-oidc-issuer https://token.actions.githubusercontent.com",
        ".github/workflows/release.yml@refs/tags/",
        "-f values-production-like.yaml -f release-values.yaml",
        "release-manifest.json",
        "SHA256SUMS.sigstore.json",
    ):
        if needle not in text:
            problems.append(f"does not mention `{needle}`")
    version = plan["version"]
    for key in ("tarball", "chart_file", "sbom_spdx", "sbom_cyclonedx", "vulnerability_report", "provenance"):
        generic = plan[key].replace(version, "<version>")
        if generic not in text:
            problems.append(f"does not name the release file {generic}")
    return problems


@check(".ci/run runs this validator after the Helm chart's")
def ci_runs_validator(ctx: Ctx) -> list[str]:
    text = ctx.read(".ci/run")
    helm = text.find("tests/helm/validate.sh")
    mine = text.find("bash tests/release/validate.sh")
    if mine < 0:
        return [".ci/run does not run `bash tests/release/validate.sh`"]
    if helm < 0 or mine < helm:
        return [".ci/run runs the release validator before the Helm chart's"]
    return []


# --- the cases that must fail -----------------------------------------------------------
def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        raise Problem(f"{path.name} no longer contains {old!r}: update this negative case")
    path.write_text(text.replace(old, new, 1))


def drop_digest(root: Path) -> None:
    edit(root / ".github/scripts/release_manifest.py", '"digest": args.image_digest,', "")


def bump_chart(root: Path) -> None:
    chart = root / CHART / "Chart.yaml"
    text = chart.read_text()
    new = re.sub(r"^version: .*$", "version: 9.9.9", text, count=1, flags=re.M)
    if new == text:
        raise Problem("Chart.yaml has no version line")
    chart.write_text(new)


def root_user(user: str) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        text = (root / "Dockerfile").read_text()
        new = re.sub(r"^USER .*$", f"USER {user}", text, flags=re.M)
        if new == text:
            raise Problem("the Dockerfile has no USER line")
        (root / "Dockerfile").write_text(new)

    return mutate


NEGATIVE: list[tuple[str, Callable[[Path], None], list[str]]] = [
    ("Chart.yaml version 9.9.9 (not the crate's)", bump_chart, ["Chart.yaml: version and appVersion are the root crate's version (Cargo.toml)", "release_manifest.py plan: the tag of the crate's version plans; another tag is refused"]),
    ("USER root in the Dockerfile", root_user("root"), ["Dockerfile: final stage runs as the chart's non-root numeric user, serves the built UI"]),
    ("USER 0:0 in the Dockerfile", root_user("0:0"), ["Dockerfile: final stage runs as the chart's non-root numeric user, serves the built UI"]),
    ("a manifest generator that leaves out the image digest", drop_digest, ["release_manifest.py generate: a fixture release's manifest matches the schema, checksums right"]),
    ("cargo build without --locked", lambda r: edit(r / "Dockerfile", "--release --locked", "--release"), ["Dockerfile: multi-stage, base images pinned to a tag, builds with cargo --release --locked"]),
    ("a Dockerfile without the OCI revision label", lambda r: edit(r / "Dockerfile", 'org.opencontainers.image.revision="${REVISION}"', 'org.example.revision="${REVISION}"'), ["Dockerfile: OCI labels from build arguments"]),
    (".dockerignore excluding proto/", lambda r: (r / ".dockerignore").write_text((r / ".dockerignore").read_text() + "proto\n"), [".dockerignore: keeps everything the build reads"]),
    (".dockerignore letting node_modules in", lambda r: (r / ".dockerignore").write_text((r / ".dockerignore").read_text() + "!**/node_modules\n"), [".dockerignore: keeps .git, target, node_modules and other outputs out"]),
    ("nats without sync_interval: always", lambda r: edit(r / "compose.yaml", "sync_interval: always", "sync_interval: 2m"), ["compose.yaml: nats with JetStream (sync_interval: always) on a named volume, healthy, 127.0.0.1:4222"]),
    ("surrealdb published on every interface", lambda r: edit(r / "compose.yaml", '"127.0.0.1:8000:8000"', '"8000:8000"'), ["compose.yaml: every published port bound to 127.0.0.1"]),
    ("id-token: write for the whole release workflow", lambda r: edit(r / ".github/workflows/release.yml", "permissions: {}", "permissions:\n  id-token: write"), ["release.yml: id-token, packages, attestations and contents write only where needed"]),
    ("release.yml calling a manifest script that is not there", lambda r: edit(r / ".github/workflows/release.yml", "python .github/scripts/release_manifest.py generate", "python .github/scripts/release-manifest.py generate"), ["workflows: every repository file they reference exists"]),
    ("an image pushed without its SBOM", lambda r: edit(r / ".github/workflows/release.yml", "sbom: true", "sbom: false"), ["release.yml: image pushed to ghcr.io with SBOM and max provenance, labels from build args, signed by digest"]),
    ("a release without the CycloneDX SBOM", lambda r: edit(r / ".github/workflows/release.yml", "format: cyclonedx-json", "format: spdx-json"), ["release.yml: produces every file the manifest schema names, and publishes them"]),
    ("verify.yml without push to main", lambda r: edit(r / ".github/workflows/verify.yml", "branches: [main]", "branches: [release]"), ["verify.yml: runs .ci/run with a cached CARGO_TARGET_DIR on pull_request and push to main"]),
]


def copy_repo(src: Path, dest: Path) -> None:
    """The files the checks read, without build outputs, dependencies or history."""
    skip = {".git", "target", "node_modules", "dist", "test-artifacts", "images", "data", "__pycache__"}
    shutil.copytree(src, dest, ignore=lambda d, names: [n for n in names if n in skip], symlinks=True)


# --- running ----------------------------------------------------------------------------
def run_checks(ctx: Ctx, only: Iterable[str] | None = None) -> list[tuple[str, list[str]]]:
    wanted = set(only) if only is not None else None
    results = []
    for name, fn in CHECKS:
        if wanted is not None and name not in wanted:
            continue
        try:
            problems = fn(ctx)
        except Problem as e:
            problems = [str(e)]
        except Exception as e:  # a check that cannot run has failed
            problems = [f"{type(e).__name__}: {e}"]
        results.append((name, problems))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description="Static validation of CloudGrid's release artifacts.")
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2]))
    parser.add_argument("--helm", default="helm")
    parser.add_argument("--work", default=None, help="scratch directory (default: a new temporary one)")
    parser.add_argument("--no-negative", action="store_true", help="skip the cases that must fail")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="cloudgrid-release-"))
    ctx = Ctx(Path(args.root).resolve(), args.helm, work)

    passed = failed = 0
    failures = []

    def report(name: str, problems: list[str]) -> None:
        nonlocal passed, failed
        if problems:
            failed += 1
            failures.append(name)
            print(f"  FAIL  {name}")
            for p in problems:
                print("        " + p.replace("\n", "\n        "))
        else:
            passed += 1
            print(f"  ok    {name}")
        sys.stdout.flush()

    print("== release artifacts")
    for name, problems in run_checks(ctx):
        report(name, problems)

    if not args.no_negative:
        print("== cases that must fail (on copies of the files)")
        base = work / "copy"
        copy_repo(ctx.root, base)
        for n, (what, mutate, expect) in enumerate(NEGATIVE):
            dest = work / f"negative-{n}"
            shutil.copytree(base, dest, symlinks=True)
            try:
                mutate(dest)
            except Problem as e:
                report(f"negative: {what}", [str(e)])
                shutil.rmtree(dest, ignore_errors=True)
                continue
            results = dict(run_checks(Ctx(dest, args.helm, work), only=expect))
            missed = [name for name in expect if not results.get(name)]
            if missed:
                report(f"negative: {what}", [f"passed, but must fail: {name}" for name in missed])
            else:
                first = results[expect[0]][0].splitlines()[0]
                report(f"negative: {what} -> fails ({first})", [])
            shutil.rmtree(dest, ignore_errors=True)

    print()
    if failures:
        print("failed:")
        for f in failures:
            print(f"  {f}")
    print(f"release: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
