#!/usr/bin/env bash
# Every offline check of the AWS deployment (infra/template.yaml, samconfig.toml, and the web ACL
# of the optional CloudFront distribution, infra/edge-waf.yaml); no AWS account, no credentials,
# no network. Called by scripts/test.sh (CI); runs on its own as well:
#
#   bash scripts/check-infra.sh                      # everything, sam build included
#   INFRA_SKIP_BUILD=1 bash scripts/check-infra.sh   # everything but sam build (seconds)
#   INFRA_ONLY_BUILD=1 bash scripts/check-infra.sh   # sam build only (scripts/test.sh runs it
#                                                     # beside the system tests)
#   INFRA_BUILD_ARCH=x86_64 bash scripts/check-infra.sh
#   INFRA_BUILD_PROFILE=release bash scripts/check-infra.sh   # the deploy's full release profile
#
# Steps:
#   1. cfn-lint of both templates (informational findings included: any finding fails)
#   2. sam validate --lint, from the repo root, so samconfig.toml is read too
#   3. consistency: samconfig.toml envs and parameters, checkov skips carry reasons, the
#      template's env vars and counted log messages still exist in the Rust sources, its HTTP
#      routes are exactly those the functions' routers serve (admin ones IAM-authorised), the
#      headers CloudFront adds for the functions are read there, the WAF's per-route limit names
#      a route of the API
#   4. SAM transform (samtranslator, as CloudFormation does) of the template
#   5. checkov on the template, on its transformed form and on edge-waf.yaml: 0 failed checks
#   6. sam build (cargo-lambda, release) of all functions, and a look at each bootstrap binary
#
# sam build: arm64 (what deploys by default) when the Rust target aarch64-unknown-linux-gnu is
# installed, else x86_64 via the template's Architecture parameter. INFRA_BUILD_ARCH overrides.
# By default the release profile is built without LTO and optimisation (INFRA_BUILD_PROFILE=check),
# which checks the whole build pipeline in a few minutes; INFRA_BUILD_PROFILE=release builds what
# a deploy builds (about 20 CPU minutes on this 2-core machine).
# Artefacts: .aws-sam/build (SAM), .aws-sam/cargo-target/<profile> (cargo; its own target dir,
# so it never waits on the lock of the workspace's target/), all git-ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

bash scripts/bootstrap.sh >/dev/null
# shellcheck disable=SC1091
. .local/env.sh
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-eu-central-1}" AWS_REGION="${AWS_REGION:-eu-central-1}"
export SAM_CLI_TELEMETRY=0 AWS_EC2_METADATA_DISABLED=true PIP_DISABLE_PIP_VERSION_CHECK=1
CHECKOV="$ROOT/.local/checkov/bin/checkov"
TEMPLATE=infra/template.yaml
EDGE_TEMPLATE=infra/edge-waf.yaml   # deployed in us-east-1 (CloudFront's web ACLs live there)
WORK="$ROOT/.aws-sam/check"
mkdir -p "$WORK"

T0=$SECONDS
step_start=$SECONDS
step() {
    local now=$SECONDS
    if [[ -n "${STEP:-}" ]]; then printf '   (%ss)\n' "$((now - step_start))"; fi
    STEP="$1"; step_start=$now
    printf '== infra: %s\n' "$1"
}

if [[ "${INFRA_ONLY_BUILD:-0}" != 1 ]]; then
step "cfn-lint"
cfn-lint -c I -- "$TEMPLATE"
cfn-lint -c I --regions us-east-1 -- "$EDGE_TEMPLATE"

step "sam validate --lint (with samconfig.toml)"
sam validate --lint

step "consistency of template, samconfig.toml and sources"
python3 - "$TEMPLATE" "$EDGE_TEMPLATE" <<'PY'
import pathlib, re, sys, tomllib
import yaml

class Loader(yaml.SafeLoader):
    pass

def tagged(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}

Loader.add_multi_constructor("!", tagged)
template_path = pathlib.Path(sys.argv[1])
tpl = yaml.load(template_path.read_text(), Loader=Loader)
resources = tpl["Resources"]
edge = yaml.load(pathlib.Path(sys.argv[2]).read_text(), Loader=Loader)
problems = []

# samconfig.toml: dev and prod exist, name their stack, region and stage, set only parameters
# the template has, and hold no account id or secret-looking value.
cfg_text = pathlib.Path("samconfig.toml").read_text()
cfg = tomllib.loads(cfg_text)
params = set(tpl["Parameters"])
for env in ("default", "dev", "prod"):
    deploy = cfg.get(env, {}).get("deploy", {}).get("parameters", {})
    glob = cfg.get(env, {}).get("global", {}).get("parameters", {})
    if not deploy.get("stack_name"):
        problems.append(f"samconfig.toml: [{env}.deploy.parameters] has no stack_name")
    if not (deploy.get("region") or glob.get("region")):
        problems.append(f"samconfig.toml: {env} names no region")
    overrides = deploy.get("parameter_overrides", "")
    overrides = " ".join(overrides) if isinstance(overrides, list) else overrides
    names = re.findall(r'(?:^|\s)([A-Za-z0-9]+)=', overrides)
    for name in names:
        if name not in params:
            problems.append(f"samconfig.toml: {env} sets {name}, which the template does not have")
    required = {p for p, d in tpl["Parameters"].items() if "Default" not in d}
    for name in sorted(required - set(names)):
        problems.append(f"samconfig.toml: {env} does not set the required parameter {name}")
stages = {env: re.search(r'Stage=(\w+)', str(cfg[env]["deploy"]["parameters"].get("parameter_overrides", "")))
          for env in ("dev", "prod")}
for env, m in stages.items():
    if not m or m.group(1) != env:
        problems.append(f"samconfig.toml: the {env} environment does not set Stage={env}")
if re.search(r"(?<![0-9])[0-9]{12}(?![0-9])", cfg_text):
    problems.append("samconfig.toml: contains a 12-digit number (an account id?)")
if re.search(r"(?i)(secret|password|aws_access_key|aws_secret|token)\s*=", cfg_text):
    problems.append("samconfig.toml: contains a secret-looking key")

# Every checkov skip says why.
for rid, res in list(resources.items()) + list(edge["Resources"].items()):
    for skip in (res.get("Metadata", {}).get("checkov", {}).get("skip", []) or []):
        if len(str(skip.get("comment", "")).strip()) < 20:
            problems.append(f"{rid}: checkov skip {skip.get('id')} has no reason")

# Sources the template depends on: shared's crates (shared/src and the domain crate,
# shared/domain/src) and the functions.
sources = "\n".join(p.read_text() for base in ("shared/src", "shared/domain/src", "functions")
                    for p in pathlib.Path(base).rglob("*.rs"))
env_names = set(tpl["Globals"]["Function"]["Environment"]["Variables"])
for res in resources.values():
    if res["Type"] == "AWS::Serverless::Function":
        env_names |= set(res["Properties"].get("Environment", {}).get("Variables", {}))
for name in sorted(env_names):
    if f'"{name}"' not in sources:
        problems.append(f"env var {name} is set by the template but read nowhere in the sources")
# Routes: the HTTP API's routes are exactly the (method, path) pairs that the router each
# function runs (its main.rs names shared::http::<x>_router) serves; routes to a function with
# ADMIN_AUTH=iam are IAM-authorised, all others are public.
# The routers live in shared/src/http/ (one file per function).
http_rs = "\n".join(p.read_text() for p in sorted(pathlib.Path("shared/src/http").glob("*.rs")))
code_routes = {}
for m in re.finditer(r"fn (\w+_router)\([^)]*\)[^{]*\{(.*?)\n\}", http_rs, re.S):
    for r in re.finditer(r'\.route\(\s*"([^"]+)"\s*,(.*?)\)\s*(?=\.(?:route|layer|with_state|fallback|nest|merge)\b)',
                         m.group(2), re.S):
        for method in re.findall(r"\b(get|post|put|delete|patch)\(", r.group(2)):
            code_routes.setdefault(m.group(1), set()).add(f"{method.upper()} {r.group(1)}")
fn_router, iam_fns = {}, set()
for rid, res in resources.items():
    if res["Type"] == "AWS::Serverless::Function":
        main = pathlib.Path("infra", res["Properties"]["CodeUri"], "src", "main.rs").resolve()
        found = re.search(r"http::(\w+_router)\b", main.read_text())
        if found:
            fn_router[rid] = found.group(1)
        if res["Properties"].get("Environment", {}).get("Variables", {}).get("ADMIN_AUTH") == "iam":
            iam_fns.add(rid)
integration_fn = {rid: res["Properties"]["IntegrationUri"]["GetAtt"].split(".")[0]
                  for rid, res in resources.items() if res["Type"] == "AWS::ApiGatewayV2::Integration"}
api_routes = {}
for rid, res in resources.items():
    if res["Type"] == "AWS::ApiGatewayV2::Route":
        fn = integration_fn[re.search(r"\$\{(\w+)\}", res["Properties"]["Target"]["Sub"]).group(1)]
        if res["Properties"]["RouteKey"] == "$default":
            # The catch-all: the router's fallback (the edge's 404 page) answers it.
            if fn in iam_fns:
                problems.append(f"{rid}: the $default route goes to {fn}, an IAM-only function")
            continue
        api_routes.setdefault(fn_router.get(fn, fn), set()).add(res["Properties"]["RouteKey"])
        auth = res["Properties"].get("AuthorizationType", "NONE")
        if (fn in iam_fns) != (auth == "AWS_IAM"):
            problems.append(f"{rid}: AuthorizationType {auth} for a route to {fn}")
for router in sorted(set(code_routes) | set(api_routes)):
    for key in sorted(code_routes.get(router, set()) - api_routes.get(router, set())):
        problems.append(f"{router} serves {key}, but the HTTP API has no such route to it")
    for key in sorted(api_routes.get(router, set()) - code_routes.get(router, set())):
        problems.append(f"the HTTP API routes {key} to {router}, which does not serve it")
# The optional CloudFront distribution: the headers it adds for the functions (its origin's
# custom headers, CloudFront's own CloudFront-* headers in its origin request policy) are read in
# the sources, or the functions would refuse (403) or miscount every request through it; and
# the WAF's per-route rate limit (edge-waf.yaml) names a route the HTTP API has.
sources_lower = sources.lower()
for rid, res in resources.items():
    props = res.get("Properties", {})
    headers = []
    if res["Type"] == "AWS::CloudFront::Distribution":
        for origin in props["DistributionConfig"]["Origins"]:
            headers += [h["HeaderName"] for h in origin.get("OriginCustomHeaders", [])]
    if res["Type"] == "AWS::CloudFront::OriginRequestPolicy":
        headers += [h for h in props["OriginRequestPolicyConfig"]["HeadersConfig"].get("Headers", [])
                    if h.lower().startswith("cloudfront-")]
    for h in headers:
        if f'"{h.lower()}"' not in sources_lower:
            problems.append(f"{rid}: CloudFront sends the header {h}, which the sources do not read")
    if res["Type"] == "AWS::CloudFront::OriginRequestPolicy":
        forwarded = {h.lower() for h in props["OriginRequestPolicyConfig"]["HeadersConfig"].get("Headers", [])}
        for h in sorted(set(re.findall(r'"(cloudfront-[a-z-]+)"', sources_lower)) - forwarded):
            problems.append(f"{rid}: the sources read the header {h}, which CloudFront does not forward")
all_route_keys = {key for keys in api_routes.values() for key in keys}
for rule in edge["Resources"]["WebAcl"]["Properties"]["Rules"]:
    scope = rule["Statement"].get("RateBasedStatement", {}).get("ScopeDownStatement", {})
    matches = {next(iter(m["ByteMatchStatement"]["FieldToMatch"])): m["ByteMatchStatement"]["SearchString"]
               for m in scope.get("AndStatement", {}).get("Statements", []) if "ByteMatchStatement" in m}
    if {"Method", "UriPath"} <= set(matches):
        key = f"{matches['Method']} {matches['UriPath']}"
        if key not in all_route_keys:
            problems.append(f"edge-waf.yaml: rule {rule['Name']} limits {key}, which the HTTP API does not route")
for rid, res in resources.items():
    if res["Type"] == "AWS::Logs::MetricFilter":
        for msg in re.findall(r'\$\.fields\.message = "([^"]+)"', res["Properties"]["FilterPattern"]):
            if f'"{msg}"' not in sources:
                problems.append(f'{rid}: the sources no longer log "{msg}"')

if problems:
    print("\n".join("   " + p for p in problems))
    sys.exit(1)
n_routes = sum(len(v) for v in code_routes.values())
print(f"   ok: samconfig envs; {len(env_names)} env vars, {n_routes} routes, the log messages and the edge's headers match the sources")
PY

step "SAM transform"
python3 - "$TEMPLATE" "$WORK/transformed.json" <<'PY'
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

tpl = yaml_parse(open(sys.argv[1]).read())
for res in tpl["Resources"].values():
    if res["Type"] == "AWS::Serverless::Function":
        res["Properties"]["CodeUri"] = "s3://placeholder/code.zip"  # what sam package puts there

class NoManagedPolicies:  # the template uses none; nothing to look up in IAM
    def load(self):
        return {}

out = transform(tpl, {}, NoManagedPolicies())
json.dump(out, open(sys.argv[2], "w"), indent=1)
kinds = sorted({r["Type"] for r in out["Resources"].values()})
print(f"   ok: {len(out['Resources'])} resources ({len(kinds)} types)")
PY

step "checkov (template, transformed template, edge-waf.yaml)"
for f in "$TEMPLATE" "$WORK/transformed.json" "$EDGE_TEMPLATE"; do
    echo "   $f"
    # Exits non-zero on any failed check; --quiet prints failures and the summary only. A file
    # it cannot parse counts as no check at all (exit 0), so that is caught here too.
    "$CHECKOV" --file "$f" --framework cloudformation --skip-download --compact --quiet \
        >"$WORK/checkov.out" 2>&1 || { cat "$WORK/checkov.out"; exit 1; }
    grep -v '^\s*$' "$WORK/checkov.out" | sed 's/^/   /'
    if grep -q 'Parsing errors: [1-9]' "$WORK/checkov.out" || grep -q 'Passed checks: 0,' "$WORK/checkov.out"; then
        echo "   checkov did not scan $f" >&2
        exit 1
    fi
done

fi

if [[ "${INFRA_SKIP_BUILD:-0}" == 1 ]]; then
    step "sam build skipped (INFRA_SKIP_BUILD=1)"
else
    if [[ -n "${INFRA_BUILD_ARCH:-}" ]]; then
        ARCH="$INFRA_BUILD_ARCH"
    elif rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
        ARCH=arm64
    else
        ARCH=x86_64
    fi
    PROFILE="${INFRA_BUILD_PROFILE:-check}"
    case "$PROFILE" in
        # Same pipeline (sam -> cargo lambda build --release -> bootstrap), cheaper codegen:
        # the workspace's release profile (fat LTO, one codegen unit) links each of the five
        # binaries for minutes on one core, too slow for CI.
        check) export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 \
                      CARGO_PROFILE_RELEASE_OPT_LEVEL=0 ;;
        release) ;;   # exactly what a deploy builds
        *) echo "INFRA_BUILD_PROFILE must be check or release" >&2; exit 2 ;;
    esac
    step "sam build ($ARCH, $PROFILE profile, cargo-lambda)"
    export CARGO_TARGET_DIR="${INFRA_CARGO_TARGET_DIR:-$ROOT/.aws-sam/cargo-target}/$PROFILE"
    rm -rf .aws-sam/build
    if ! sam build --template-file "$TEMPLATE" --build-dir .aws-sam/build --cache-dir .aws-sam/cache \
        --parameter-overrides "Architecture=$ARCH" >"$WORK/sam-build.log" 2>&1; then
        cat "$WORK/sam-build.log"
        exit 1
    fi
    grep -E '^(Building codeuri|Build Succeeded)' "$WORK/sam-build.log" | sed 's/^/   /'
    python3 - "$ARCH" "$TEMPLATE" <<'PY'
import pathlib, struct, sys
from samtranslator.yaml_helper import yaml_parse
want = {"arm64": 0xB7, "x86_64": 0x3E}[sys.argv[1]]  # ELF e_machine: EM_AARCH64, EM_X86_64
resources = yaml_parse(open(sys.argv[2]).read())["Resources"]
fns = [rid for rid, r in resources.items() if r["Type"] == "AWS::Serverless::Function"]
for fn in fns:
    path = pathlib.Path(".aws-sam/build") / fn / "bootstrap"
    head = path.read_bytes()[:20]
    assert head[:4] == b"\x7fELF", f"{path} is not an ELF binary"
    machine = struct.unpack_from("<H", head, 18)[0]
    assert machine == want, f"{path}: ELF machine {machine:#x}, expected {want:#x} ({sys.argv[1]})"
    print(f"   {fn}: {path.stat().st_size // 1024} KiB, {sys.argv[1]}")
PY
fi

printf '   (%ss)\n' "$((SECONDS - step_start))"
echo "== infra: all checks passed in $((SECONDS - T0))s"
